"""A realistic workflow run through the store, as an engine drives it.

`run_demo` is what `mongo-wfstore demo` runs: a research-and-publish workflow of
four steps (an API call, an agent run, a wait for an editor's approval, a tool
call). The engine starts the run, writes each step twice (running, then
completed with its result, committed into the context in the same write),
parks on the wait, an external party completes the wait by its
`wait_task_id`, the engine resumes from what the store holds and finishes.
Every call is one an engine makes; each is reported to `log` as it happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ._models import (
    AgentRunKind,
    ApiCallKind,
    TaskStatus,
    ToolCallKind,
    WaitForInputKind,
    WorkflowDefinition,
    WorkflowExecutionState,
    WorkflowStep,
    WorkflowStepState,
    utc_now,
)
from ._store import WorkflowStore

__all__ = ["DemoOutcome", "demo_definition", "run_demo"]

_INPUT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:demo:research-input",
    "type": "object",
    "properties": {"topic": {"type": "string"}, "audience": {"$ref": "#/$defs/audience"}},
    "required": ["topic"],
    "$defs": {"audience": {"enum": ["general", "expert"]}},
}


def demo_definition() -> WorkflowDefinition:
    """The research-and-publish definition: fetch, summarize, approve (a wait), publish."""
    return WorkflowDefinition(
        id="research-and-publish",
        input_schema=_INPUT_SCHEMA,
        steps=[
            WorkflowStep(
                id="fetch",
                label="Fetch sources",
                kind=ApiCallKind(
                    method="GET", url="https://api.example.org/search?q={input.topic}"
                ),
            ),
            WorkflowStep(
                id="summarize",
                label="Summarize the sources",
                kind=AgentRunKind(
                    agent_id="writer",
                    prompt="Summarize {steps.fetch} for a {input.audience} audience.",
                    tools=["web.read"],
                ),
                depends_on=["fetch"],
            ),
            WorkflowStep(
                id="approve",
                label="Editor approval",
                kind=WaitForInputKind(
                    message="Publish this summary?",
                    schema={
                        "type": "object",
                        "properties": {"approved": {"type": "boolean"}, "note": {"type": "string"}},
                        "required": ["approved"],
                    },
                ),
                depends_on=["summarize"],
            ),
            WorkflowStep(
                id="publish",
                label="Publish",
                kind=ToolCallKind(tool_name="cms.publish", input={"body": "{steps.summarize}"}),
                depends_on=["approve"],
            ),
        ],
    )


@dataclass
class DemoOutcome:
    """What the demo did: the run's id, the wait it parked on, the calls it made."""

    run_task_id: str
    wait_task_id: str
    calls: list[str] = field(default_factory=list)


async def run_demo(
    store: WorkflowStore,
    run_task_id: str,
    *,
    log: Callable[[str], None] = lambda line: None,
    pause: float = 0.05,
) -> DemoOutcome:
    """Run the demo workflow on `store` under `run_task_id`.

    `pause` is how long each step "works", in seconds, so that timings show.
    Raises `AssertionError` if the store does not give back what was written.
    """
    wait_task_id = f"{run_task_id}/approve"
    outcome = DemoOutcome(run_task_id, wait_task_id)

    def did(call: str) -> None:
        outcome.calls.append(call)
        log(call)

    # The engine starts: no run yet, so it creates one.
    assert await store.get_run(run_task_id) is None, f"run {run_task_id!r} exists already"
    did(f"get_run({run_task_id!r}) -> None: a new run")
    state = (
        WorkflowExecutionState.new(
            run_task_id, "research-agent", "thread-42", "user-7", demo_definition()
        )
        .with_workspace_id("acme")
        .with_entry_point("main")
        .with_input({"topic": "why is the sky blue?", "audience": "general"})
    )
    await store.create_run(state)
    did("create_run: definition snapshot, input, empty context")

    async def work(step_id: str, result: object) -> None:
        started = utc_now()
        await store.upsert_step(
            run_task_id,
            WorkflowStepState(step_id=step_id, status=TaskStatus.RUNNING, started_at=started),
        )
        did(f"upsert_step({step_id!r}, running)")
        await asyncio.sleep(pause)
        done = WorkflowStepState(
            step_id=step_id,
            status=TaskStatus.COMPLETED,
            result=result,
            started_at=started,
            completed_at=utc_now(),
        )
        await store.commit_step(run_task_id, done)
        did(f"commit_step({step_id!r}, completed): the step and context.steps.{step_id}, one write")

    await work(
        "fetch",
        {
            "status": 200,
            "documents": [
                {
                    "title": "Rayleigh scattering",
                    "url": "https://en.wikipedia.org/wiki/Rayleigh_scattering",
                },
                {"title": "Why Is the Sky Blue?", "url": "https://spaceplace.nasa.gov/blue-sky/"},
            ],
        },
    )
    await work(
        "summarize",
        {
            "summary": "Sunlight scatters off air molecules; shorter (blue) wavelengths scatter "
            "most, so the sky looks blue.",
            "tokens": {"prompt": 812, "completion": 64},
            "model": "writer-large",
        },
    )

    # A wait for external input: one upsert, input_required, with a wait_task_id. The run parks.
    await store.upsert_step(
        run_task_id,
        WorkflowStepState(
            step_id="approve",
            status=TaskStatus.INPUT_REQUIRED,
            started_at=utc_now(),
            wait_task_id=wait_task_id,
        ),
    )
    did(f"upsert_step('approve', input_required, wait_task_id={wait_task_id!r}): the run parks")
    await asyncio.sleep(pause)

    # Later an editor answers through the API: the wait is found by its id and completed once.
    found = await store.find_wait(wait_task_id)
    assert found is not None, f"wait {wait_task_id!r} not found"
    assert found[0] == run_task_id, f"wait {wait_task_id!r} found in run {found[0]!r}"
    did(f"find_wait({wait_task_id!r}) -> run {found[0]!r}, step {found[1].step_id!r}")
    _, approved = await store.complete_wait(
        wait_task_id,
        {"approved": True, "note": "Clear and short. Ship it.", "by": "editor@acme.example"},
        idempotency_key="approval-request-1",
    )
    did(f"complete_wait({wait_task_id!r}): compare-and-set, status {approved.status.value}")

    # The engine resumes from what the store holds.
    resumed = await store.get_run(run_task_id)
    steps = await store.list_steps(run_task_id)
    assert resumed is not None, f"run {run_task_id!r} vanished"
    done = [step.step_id for step in steps if step.status is TaskStatus.COMPLETED]
    assert done == ["fetch", "summarize", "approve"], f"unexpected progress on resume: {done}"
    did(f"get_run + list_steps: resumed at revision {resumed.revision}, {len(done)} steps done")

    await work(
        "publish", {"url": "https://blog.acme.example/why-the-sky-is-blue", "published": True}
    )
    final = await store.get_run(run_task_id)
    assert final is not None
    context_steps = final.context.get("steps") if isinstance(final.context, dict) else None
    assert isinstance(context_steps, dict)
    assert sorted(context_steps) == ["approve", "fetch", "publish", "summarize"], context_steps
    did(f"done: 4 steps completed, revision {final.revision}")
    return outcome
