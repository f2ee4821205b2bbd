"""The demo workflow runs on every store and leaves the run an engine expects."""

from __future__ import annotations

from mongo_wfstore import TaskStatus, WorkflowStore
from mongo_wfstore._demo import demo_definition, run_demo


async def test_the_demo_workflow_runs_on_every_store(store: WorkflowStore) -> None:
    lines: list[str] = []
    outcome = await run_demo(store, "demo-1", log=lines.append, pause=0)
    assert lines == outcome.calls
    assert outcome.wait_task_id == "demo-1/approve"
    steps = await store.list_steps("demo-1")
    assert [s.step_id for s in steps] == ["fetch", "summarize", "approve", "publish"]
    assert all(s.status is TaskStatus.COMPLETED for s in steps)
    assert steps[2].wait_task_id == "demo-1/approve"
    run = await store.get_run("demo-1")
    assert run is not None
    assert run.definition == demo_definition()
    assert run.context["steps"]["approve"]["approved"] is True  # type: ignore[index]
    assert run.revision == 9
    assert await store.find_wait("demo-1/approve") == ("demo-1", steps[2])
