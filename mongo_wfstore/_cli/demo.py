"""`mongo-wfstore demo`: the main job, a realistic workflow run through the store.

With no `--uri` and no `$MONGODB_URI` it runs on the embedded in-memory
database (mongomock-motor, the `demo` extra) and says so; with one, on that
server, and leaves the run there to look at (`mongo-wfstore runs show`). The
workflow itself is `mongo_wfstore._demo.run_demo`.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer
from rich.text import Text

from .._demo import DemoOutcome, run_demo
from .._models import WorkflowExecutionState, WorkflowStepState
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
    print_json,
    run,
    stdout_console,
)
from .runs import definition_table, run_table, steps_table

__all__ = ["EMBEDDED_URI", "demo"]

EMBEDDED_URI = "mock://demo"
"""The embedded database the demo uses without `--uri` or `$MONGODB_URI`."""


def demo(
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", help="The run's id (default: demo-<random>)."),
    ] = None,
    json_output: JsonOption = False,
    uri: UriOption = None,
    db: DbOption = DEFAULT_DB,
    collection: CollectionOption = DEFAULT_COLLECTION,
    timeout: TimeoutOption = DEFAULT_TIMEOUT_MS,
) -> None:
    """Run a realistic four-step workflow through the store, then show the run.

    The engine creates the run, writes each step as it starts and as it
    completes, parks on a wait for an editor's approval, an external party
    completes the wait by its id, and the engine resumes and finishes. Without
    --uri or $MONGODB_URI it runs on an embedded in-memory database.
    """
    embedded = uri is None
    target = Target(uri or EMBEDDED_URI, db, collection, timeout)
    run_task_id = run_id or f"demo-{uuid.uuid4().hex[:8]}"
    console = stdout_console()
    log = (lambda line: None) if json_output else (lambda line: console.print(Text(f"  {line}")))
    if not json_output:
        if embedded:
            console.print(
                "Running on the embedded in-memory database (mongomock-motor); "
                "pass --uri or set MONGODB_URI to run on a MongoDB server."
            )
        else:
            console.print(f"Running on {target.where}, collection {target.namespace}.")

    async def go(coll: Any) -> tuple[DemoOutcome, WorkflowExecutionState, list[WorkflowStepState]]:
        store = MongoWorkflowStore(coll)
        try:
            outcome = await run_demo(store, run_task_id, log=log)
        except AssertionError as exc:
            raise CliError(f"the demo run {run_task_id!r} went wrong: {exc}", 1) from None
        state = await store.get_run(run_task_id)
        assert state is not None
        return outcome, state, await store.list_steps(run_task_id)

    outcome, state, steps = run(target, go)
    if json_output:
        print_json(
            {
                "backend": "embedded mongomock-motor" if embedded else target.where,
                "namespace": target.namespace,
                "calls": outcome.calls,
                "run": json.loads(state.model_dump_json()),
                "steps": [json.loads(step.model_dump_json()) for step in steps],
            }
        )
        return
    console.print(run_table(state))
    console.print(definition_table(state))
    console.print(steps_table(run_task_id, steps))
    if not embedded:
        console.print(
            f"The run is still in {target.namespace}: "
            f"mongo-wfstore runs show {run_task_id} --uri ... --db {db} --collection {collection}"
        )
