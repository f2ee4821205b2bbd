"""`mongo-wfstore runs ...`: list runs, look at one run, delete one run.

All go through `MongoWorkflowStore` (`list_runs`, `get_run`, `list_steps`,
`delete_run`), so they read and delete exactly what an engine would.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .._models import RunPage, TaskStatus, WorkflowExecutionState, WorkflowStepState
from .._mongo import MongoWorkflowStore
from .common import (
    DEFAULT_COLLECTION,
    DEFAULT_DB,
    DEFAULT_TIMEOUT_MS,
    CliError,
    CollectionOption,
    DbOption,
    JsonOption,
    Target,
    TimeoutOption,
    UriOption,
    clock,
    fail,
    print_json,
    run,
    stderr_console,
    stdout_console,
    timestamp,
)

__all__ = [
    "definition_table",
    "delete",
    "list_runs",
    "preview",
    "run_table",
    "show",
    "steps_table",
]

RunIdArgument = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run's run_task_id.")]

_STATUS_STYLES = {
    TaskStatus.PENDING: "dim",
    TaskStatus.RUNNING: "cyan",
    TaskStatus.INPUT_REQUIRED: "magenta",
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "bold red",
    TaskStatus.CANCELED: "yellow",
}

_PREVIEW_LENGTH = 60


def list_runs(
    thread: Annotated[str | None, typer.Option("--thread", help="Only this thread's runs.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's runs.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's runs.")] = None,
    workspace: Annotated[
        str | None, typer.Option("--workspace", help="Only this workspace's runs.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Runs per page (1 to 1000).")] = 20,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="The next_cursor of the previous page.")
    ] = None,
    json_output: JsonOption = False,
    uri: UriOption = None,
    db: DbOption = DEFAULT_DB,
    collection: CollectionOption = DEFAULT_COLLECTION,
    timeout: TimeoutOption = DEFAULT_TIMEOUT_MS,
) -> None:
    """List runs, newest first, filtered by thread, agent, user and workspace.

    One page at a time: the last line gives the --cursor of the next page.
    With --json, prints {"items": [...], "next_cursor": ...}.
    """
    target = Target(uri, db, collection, timeout)

    async def load(coll: Any) -> RunPage:
        return await MongoWorkflowStore(coll).list_runs(
            thread_id=thread,
            agent_id=agent,
            user_id=user,
            workspace_id=workspace,
            limit=limit,
            cursor=cursor,
        )

    page = run(target, load)
    if json_output:
        print_json(json.loads(page.model_dump_json()))
        return
    table = Table(title=f"Runs in {target.namespace}, newest first", title_justify="left")
    for column in ("run", "agent", "thread", "user", "workspace", "created", "updated", "rev"):
        table.add_column(column, no_wrap=column in ("created", "updated"))
    for state in page.items:
        table.add_row(
            Text(state.run_task_id),
            Text(state.agent_id),
            Text(state.thread_id),
            Text(state.user_id),
            Text(state.workspace_id or ""),
            Text(timestamp(state.created_at)),
            Text(timestamp(state.updated_at)),
            Text(str(state.revision or "")),
        )
    console = stdout_console()
    console.print(table)
    if page.next_cursor:
        console.print(Text(f"more: --cursor {page.next_cursor}"))
    else:
        console.print(Text(f"{len(page.items)} run(s), last page"))


def show(
    run_id: RunIdArgument,
    json_output: JsonOption = False,
    uri: UriOption = None,
    db: DbOption = DEFAULT_DB,
    collection: CollectionOption = DEFAULT_COLLECTION,
    timeout: TimeoutOption = DEFAULT_TIMEOUT_MS,
) -> None:
    """Show one run: its fields, a summary of its definition, and its steps.

    Exits 1 if there is no such run. With --json, prints the run and its steps
    as the reference JSON ({"run": ..., "steps": [...]}).
    """
    target = Target(uri, db, collection, timeout)

    async def load(coll: Any) -> tuple[WorkflowExecutionState | None, list[WorkflowStepState]]:
        store = MongoWorkflowStore(coll)
        return await store.get_run(run_id), await store.list_steps(run_id)

    state, steps = run(target, load)
    if state is None and not steps:
        fail(f"no run {run_id!r} in {target.namespace}", 1)
    if json_output:
        print_json(
            {
                "run": None if state is None else json.loads(state.model_dump_json()),
                "steps": [json.loads(step.model_dump_json()) for step in steps],
            }
        )
        return
    console = stdout_console()
    if state is None:
        stderr_console().print(
            Text(
                f"run {run_id!r} has steps but no run-level state: they were written "
                "before create_run (or the run was only partly created)",
                style="yellow",
            )
        )
    else:
        console.print(run_table(state))
        console.print(definition_table(state))
    console.print(steps_table(run_id, steps))


def delete(
    run_id: RunIdArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOption = False,
    uri: UriOption = None,
    db: DbOption = DEFAULT_DB,
    collection: CollectionOption = DEFAULT_COLLECTION,
    timeout: TimeoutOption = DEFAULT_TIMEOUT_MS,
) -> None:
    """Delete one run and all its steps, after confirmation unless --yes.

    Exits 1 if there is no such run or the confirmation is declined.
    """
    target = Target(uri, db, collection, timeout)

    async def delete_run(coll: Any) -> int:
        store = MongoWorkflowStore(coll)
        state, steps = await store.get_run(run_id), await store.list_steps(run_id)
        if state is None and not steps:
            raise CliError(f"no run {run_id!r} in {target.namespace}", 1)
        if not yes:
            owner = "" if state is None else f" (agent {state.agent_id!r}, user {state.user_id!r})"
            question = f"Delete run {run_id!r}{owner} and its {len(steps)} step(s)?"
            try:
                confirmed = typer.confirm(question, default=False, err=True)
            except typer.Abort:
                confirmed = False
            if not confirmed:
                raise CliError(f"run {run_id!r} not deleted (pass --yes to skip the question)", 1)
        await store.delete_run(run_id)
        return len(steps)

    deleted_steps = run(target, delete_run)
    if json_output:
        print_json({"run_task_id": run_id, "deleted": True, "steps": deleted_steps})
    else:
        typer.echo(
            f"deleted run {run_id!r} and its {deleted_steps} step(s) from {target.namespace}"
        )


# ── rendering ─────────────────────────────────────────────────────────────


def preview(value: Any, length: int = _PREVIEW_LENGTH) -> str:
    """`value` as compact JSON, cut to `length` characters with an ellipsis."""
    return _cut(json.dumps(value, ensure_ascii=False, separators=(",", ":")), length)


def _cut(text: str, length: int = _PREVIEW_LENGTH) -> str:
    """`text` on one line, cut to `length` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


def _duration(started: datetime | None, completed: datetime | None) -> str:
    """`1.234 s`, `2 min 03 s` or `1 h 02 min`; empty unless both ends are known."""
    if started is None or completed is None:
        return ""
    seconds = (completed - started).total_seconds()
    if seconds < 60:
        return f"{seconds:.3f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_table(state: WorkflowExecutionState) -> Table:
    """The run-level fields as a two-column table."""
    table = Table(title=f"Run {state.run_task_id}", title_justify="left", show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    rows = [
        ("agent", state.agent_id),
        ("thread", state.thread_id),
        ("user", state.user_id),
        ("workspace", state.workspace_id or ""),
        ("entry point", state.entry_point or ""),
        ("created", timestamp(state.created_at)),
        ("updated", timestamp(state.updated_at)),
        ("input", preview(state.input, 100)),
        ("context", preview(state.context, 100)),
    ]
    for name, value in rows:
        table.add_row(name, Text(value))
    return table


def definition_table(state: WorkflowExecutionState) -> Table:
    """The definition's steps: id, label, kind, dependencies."""
    definition = state.definition
    table = Table(
        title=f"Definition {definition.id} ({len(definition.steps)} steps)", title_justify="left"
    )
    for column in ("step", "label", "kind", "depends on"):
        table.add_column(column)
    for step in definition.steps:
        table.add_row(
            Text(step.id), Text(step.label), Text(step.kind.type), Text(", ".join(step.depends_on))
        )
    return table


def steps_table(run_id: str, steps: list[WorkflowStepState]) -> Table:
    """The stored steps in first-insertion order: status, timings (UTC), result."""
    day = next((timestamp(s.started_at)[:10] for s in steps if s.started_at is not None), "")
    title = f"Steps of {run_id} ({len(steps)})" + (f", times UTC on {day}" if day else "")
    table = Table(title=title, title_justify="left")
    table.add_column("step", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("completed", no_wrap=True)
    table.add_column("duration", no_wrap=True, justify="right")
    table.add_column("result", overflow="fold", ratio=1)
    waits = any(step.wait_task_id for step in steps)
    if waits:
        table.add_column("wait task", overflow="fold")
    for step in steps:
        status = TaskStatus(step.status)
        if step.error is not None:
            result = Text(f"error: {_cut(step.error)}", style="red")
        else:
            result = Text("" if step.result is None else preview(step.result))
        row = [
            Text(step.step_id),
            Text(status.value, style=_STATUS_STYLES.get(status, "")),
            Text(_day_or_clock(step.started_at, day)),
            Text(_day_or_clock(step.completed_at, day)),
            Text(_duration(step.started_at, step.completed_at)),
            result,
        ]
        if waits:
            row.append(Text(step.wait_task_id or ""))
        table.add_row(*row)
    return table


def _day_or_clock(value: datetime | None, day: str) -> str:
    """The time of day if `value` falls on `day`, else the full timestamp."""
    text = timestamp(value)
    return clock(value) if text[:10] == day else text
