"""The `WorkflowStore` contract, run on every implementation (see conftest).

The first five tests are the reference store's own tests, ported; the rest pin
down the edge cases its documentation states.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mongo_wfstore import (
    InvalidInputError,
    PayloadTooLargeError,
    RunNotFoundError,
    TaskStatus,
    WorkflowDefinition,
    WorkflowExecutionState,
    WorkflowStep,
    WorkflowStepState,
    WorkflowStore,
)


def sample_def() -> WorkflowDefinition:
    return WorkflowDefinition.new([WorkflowStep.checkpoint("c", "Checkpoint", "ok")])


def new_state(run_task_id: str = "run-1", **changes: Any) -> WorkflowExecutionState:
    state = WorkflowExecutionState.new(
        run_task_id, "agent-1", "thread-test", "user-test", sample_def()
    )
    return state.model_copy(update=changes) if changes else state


# ── the reference's tests ─────────────────────────────────────────────────


async def test_create_get_roundtrip(store: WorkflowStore) -> None:
    state = new_state().with_entry_point("main").with_input({"x": 1})
    await store.create_run(state)
    got = await store.get_run("run-1")
    assert got is not None
    assert got.agent_id == "agent-1"
    assert got.entry_point == "main"
    assert got.input == {"x": 1}


async def test_update_context_mutates_only_context(store: WorkflowStore) -> None:
    await store.create_run(new_state().with_input({"x": 1}))
    new_ctx = {"steps": {"c": "ok"}}
    await store.update_context("run-1", new_ctx)
    got = await store.get_run("run-1")
    assert got is not None
    assert got.context == new_ctx
    assert got.input == {"x": 1}


async def test_upsert_step_insert_then_update(store: WorkflowStore) -> None:
    await store.upsert_step("run-1", WorkflowStepState(step_id="fetch", status=TaskStatus.RUNNING))
    got = await store.get_step("run-1", "fetch")
    assert got is not None
    assert got.status == TaskStatus.RUNNING

    await store.upsert_step(
        "run-1",
        WorkflowStepState(step_id="fetch", status=TaskStatus.COMPLETED, result={"docs": []}),
    )
    got = await store.get_step("run-1", "fetch")
    assert got is not None
    assert got.status == TaskStatus.COMPLETED
    assert got.result is not None


async def test_list_steps_preserves_insertion_order_and_is_per_run(store: WorkflowStore) -> None:
    for step_id in ["a", "b", "c"]:
        await store.upsert_step("run-1", WorkflowStepState(step_id=step_id))
    await store.upsert_step("run-2", WorkflowStepState(step_id="x"))
    r1 = await store.list_steps("run-1")
    r2 = await store.list_steps("run-2")
    assert [s.step_id for s in r1] == ["a", "b", "c"]
    assert len(r2) == 1


async def test_delete_run_cascades_to_steps(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    await store.upsert_step("run-1", WorkflowStepState(step_id="s"))
    await store.delete_run("run-1")
    assert await store.get_run("run-1") is None
    assert await store.list_steps("run-1") == []


# ── run-level edge cases ──────────────────────────────────────────────────


async def test_state_read_back_equals_state_written(store: WorkflowStore) -> None:
    state = (
        new_state()
        .with_workspace_id("ws-1")
        .with_entry_point("main")
        .with_input({"q": "why", "n": 3.0, "flag": True, "none": None, "list": [1, "2", 3.5]})
        .with_context({"env": {"region": "eu"}})
    )
    await store.create_run(state)
    got = await store.get_run("run-1")
    assert got == state
    assert got is not None and got.revision == 1 and state.revision is None
    assert got.model_copy(update={"revision": None}).model_dump_json() == state.model_dump_json()


async def test_get_run_of_missing_run_is_none(store: WorkflowStore) -> None:
    assert await store.get_run("nope") is None


async def test_create_run_is_create_or_resume_and_keeps_steps(store: WorkflowStore) -> None:
    await store.create_run(new_state().with_input({"v": 1}).with_workspace_id("ws"))
    await store.upsert_step("run-1", WorkflowStepState(step_id="a", status=TaskStatus.COMPLETED))
    resumed = new_state(agent_id="agent-2").with_input({"v": 2})
    await store.create_run(resumed)
    got = await store.get_run("run-1")
    assert got == resumed
    assert got is not None and got.workspace_id is None  # overwritten, not merged
    assert [s.step_id for s in await store.list_steps("run-1")] == ["a"]


async def test_steps_written_before_the_run_do_not_make_a_run(store: WorkflowStore) -> None:
    await store.upsert_step("run-1", WorkflowStepState(step_id="early"))
    assert await store.get_run("run-1") is None
    assert [s.step_id for s in await store.list_steps("run-1")] == ["early"]
    with pytest.raises(RunNotFoundError):
        await store.update_context("run-1", {"x": 1})
    await store.create_run(new_state())
    assert await store.get_run("run-1") is not None
    assert [s.step_id for s in await store.list_steps("run-1")] == ["early"]


async def test_update_context_on_missing_run_raises_and_writes_nothing(
    store: WorkflowStore,
) -> None:
    with pytest.raises(RunNotFoundError) as info:
        await store.update_context("ghost", {"x": 1})
    assert info.value.run_task_id == "ghost"
    assert "ghost" in str(info.value)
    assert isinstance(info.value, LookupError)
    assert await store.get_run("ghost") is None
    assert await store.list_steps("ghost") == []


async def test_update_context_sets_updated_at_and_keeps_other_fields(store: WorkflowStore) -> None:
    old = datetime(2020, 1, 1, tzinfo=timezone.utc)
    state = new_state(created_at=old, updated_at=old).with_input({"x": 1})
    await store.create_run(state)
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    await store.update_context("run-1", [1, 2, 3])
    got = await store.get_run("run-1")
    assert got is not None
    assert got.context == [1, 2, 3]
    assert got.updated_at >= before
    assert got.created_at == old
    assert got.model_copy(update={"context": {}, "updated_at": old}) == state


async def test_delete_run_of_missing_run_is_silent(store: WorkflowStore) -> None:
    await store.delete_run("never-existed")


async def test_delete_run_then_create_again_starts_empty(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    await store.upsert_step("run-1", WorkflowStepState(step_id="a"))
    await store.delete_run("run-1")
    await store.create_run(new_state())
    assert await store.list_steps("run-1") == []


# ── step-level edge cases ─────────────────────────────────────────────────


async def test_updating_a_step_keeps_its_position(store: WorkflowStore) -> None:
    for step_id in ["a", "b", "c"]:
        await store.upsert_step("run-1", WorkflowStepState(step_id=step_id))
    await store.upsert_step("run-1", WorkflowStepState(step_id="b", status=TaskStatus.FAILED))
    await store.upsert_step("run-1", WorkflowStepState(step_id="d"))
    steps = await store.list_steps("run-1")
    assert [s.step_id for s in steps] == ["a", "b", "c", "d"]
    assert steps[1].status == TaskStatus.FAILED


async def test_upsert_replaces_the_whole_step(store: WorkflowStore) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    full = WorkflowStepState(
        step_id="s",
        status=TaskStatus.INPUT_REQUIRED,
        result={"partial": True},
        error="boom",
        started_at=now,
        completed_at=now,
        wait_task_id="wait-1",
    )
    await store.upsert_step("run-1", full)
    assert await store.get_step("run-1", "s") == full
    bare = WorkflowStepState(step_id="s", status=TaskStatus.RUNNING)
    await store.upsert_step("run-1", bare)
    assert await store.get_step("run-1", "s") == bare


async def test_get_step_of_missing_step_or_run_is_none(store: WorkflowStore) -> None:
    await store.upsert_step("run-1", WorkflowStepState(step_id="a"))
    assert await store.get_step("run-1", "zzz") is None
    assert await store.get_step("run-2", "a") is None


async def test_list_steps_of_missing_run_is_empty(store: WorkflowStore) -> None:
    assert await store.list_steps("nothing") == []


async def test_steps_are_per_run(store: WorkflowStore) -> None:
    await store.upsert_step("run-1", WorkflowStepState(step_id="a", result=1))
    await store.upsert_step("run-2", WorkflowStepState(step_id="a", result=2))
    one = await store.get_step("run-1", "a")
    two = await store.get_step("run-2", "a")
    assert one is not None and one.result == 1
    assert two is not None and two.result == 2


async def test_step_ids_and_run_ids_with_dots_and_dollars(store: WorkflowStore) -> None:
    run = "run.$weird.id"
    for step_id in ["$where", "a.b", "%24ref", "fetch"]:
        await store.upsert_step(run, WorkflowStepState(step_id=step_id, result={step_id: step_id}))
    steps = await store.list_steps(run)
    assert [s.step_id for s in steps] == ["$where", "a.b", "%24ref", "fetch"]
    got = await store.get_step(run, "a.b")
    assert got is not None and got.result == {"a.b": "a.b"}


async def test_step_read_back_equals_step_written(store: WorkflowStore) -> None:
    step = WorkflowStepState(
        step_id="s",
        status=TaskStatus.COMPLETED,
        result={"score": 3.0, "ok": True, "n": 1, "big": 2**62, "nested": [[{"a": None}]]},
        started_at=datetime(2026, 11, 26, 16, 20, 13, 563000, tzinfo=timezone.utc),
    )
    await store.upsert_step("run-1", step)
    got = await store.get_step("run-1", "s")
    assert got == step
    assert got is not None
    assert type(got.result["score"]) is float  # type: ignore[index]
    assert type(got.result["ok"]) is bool  # type: ignore[index]
    assert type(got.result["big"]) is int  # type: ignore[index]


# ── copies ────────────────────────────────────────────────────────────────


async def test_mutating_a_returned_value_changes_nothing_stored(store: WorkflowStore) -> None:
    await store.create_run(new_state().with_context({"k": [1]}))
    await store.upsert_step("run-1", WorkflowStepState(step_id="a", result={"r": [1]}))
    got = await store.get_run("run-1")
    assert got is not None
    got.context["k"].append(2)  # type: ignore[index, union-attr]
    step = await store.get_step("run-1", "a")
    assert step is not None
    step.result["r"].append(2)  # type: ignore[index, union-attr]
    steps = await store.list_steps("run-1")
    steps[0].status = TaskStatus.FAILED
    steps.clear()
    again = await store.get_run("run-1")
    assert again is not None and again.context == {"k": [1]}
    again_step = await store.get_step("run-1", "a")
    assert again_step is not None
    assert again_step.result == {"r": [1]}
    assert again_step.status == TaskStatus.PENDING


async def test_mutating_a_written_value_afterwards_changes_nothing_stored(
    store: WorkflowStore,
) -> None:
    state = new_state().with_context({"k": [1]})
    step = WorkflowStepState(step_id="a", result={"r": [1]})
    await store.create_run(state)
    await store.upsert_step("run-1", step)
    state.context["k"].append(2)  # type: ignore[index, union-attr]
    step.result["r"].append(2)  # type: ignore[index, union-attr]
    got = await store.get_run("run-1")
    assert got is not None and got.context == {"k": [1]}
    got_step = await store.get_step("run-1", "a")
    assert got_step is not None and got_step.result == {"r": [1]}


# ── bad input ─────────────────────────────────────────────────────────────

BAD_IDS: list[Any] = ["", None, 42, {"$ne": None}, ["run-1"], b"run-1", "\ud800"]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_bad_run_ids_are_refused_by_every_operation(store: WorkflowStore, bad: Any) -> None:
    calls = [
        store.get_run(bad),
        store.update_context(bad, {}),
        store.delete_run(bad),
        store.upsert_step(bad, WorkflowStepState(step_id="a")),
        store.get_step(bad, "a"),
        store.list_steps(bad),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match="run_task_id"):
            await call
    with pytest.raises(InvalidInputError, match="run_task_id"):
        await store.create_run(new_state().model_copy(update={"run_task_id": bad}))


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_bad_step_ids_are_refused(store: WorkflowStore, bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="step_id"):
        await store.get_step("run-1", bad)
    step = WorkflowStepState.model_construct(step_id=bad, status=TaskStatus.PENDING)
    with pytest.raises(InvalidInputError, match="step_id") as info:
        await store.upsert_step("run-1", step)
    assert "run-1" in str(info.value)
    assert await store.list_steps("run-1") == []


@pytest.mark.parametrize(
    "bad", [{"step_id": "a"}, "a", None, new_state()], ids=["dict", "str", "None", "state"]
)
async def test_a_step_that_is_not_a_step_state_is_refused(store: WorkflowStore, bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="WorkflowStepState") as info:
        await store.upsert_step("run-1", bad)
    assert "run-1" in str(info.value)
    assert await store.list_steps("run-1") == []


async def test_a_state_that_is_not_a_state_is_refused(store: WorkflowStore) -> None:
    with pytest.raises(InvalidInputError, match="WorkflowExecutionState"):
        await store.create_run({"run_task_id": "run-1"})  # type: ignore[arg-type]


UNSTORABLE: list[tuple[Any, str]] = [
    (float("nan"), "not a JSON number"),
    ({"a": [1, float("inf")]}, r"\.a\[1\]"),
    ({"t": (1, 2)}, "tuple"),
    ({"s": {1, 2}}, "set"),
    ({1: "x"}, "key 1 is not a string"),
    ({"b": b"bytes"}, "bytes"),
    ({"d": datetime(2026, 1, 1)}, "datetime"),
    ({"o": object()}, "object"),
]


@pytest.mark.parametrize(("value", "reason"), UNSTORABLE, ids=[r for _, r in UNSTORABLE])
async def test_unstorable_values_are_refused_and_nothing_is_written(
    store: WorkflowStore, value: Any, reason: str
) -> None:
    await store.create_run(new_state().with_context({"keep": 1}))
    await store.upsert_step("run-1", WorkflowStepState(step_id="a", result="kept"))

    with pytest.raises(InvalidInputError, match=reason) as info:
        await store.upsert_step("run-1", WorkflowStepState(step_id="a", result=value))
    assert "run-1" in str(info.value) and "'a'" in str(info.value)
    with pytest.raises(InvalidInputError, match=reason):
        await store.upsert_step("run-1", WorkflowStepState(step_id="new", result=value))
    with pytest.raises(InvalidInputError, match=reason):
        await store.update_context("run-1", value)
    with pytest.raises(InvalidInputError, match=reason):
        await store.create_run(new_state().with_input(value))

    got = await store.get_run("run-1")
    assert got is not None and got.context == {"keep": 1} and got.input == {}
    assert [(s.step_id, s.result) for s in await store.list_steps("run-1")] == [("a", "kept")]


# ── concurrency ───────────────────────────────────────────────────────────


async def test_concurrent_upserts_of_distinct_steps_all_land(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    ids = [f"s{i:03d}" for i in range(100)]
    await asyncio.gather(
        *(store.upsert_step("run-1", WorkflowStepState(step_id=i, result=i)) for i in ids)
    )
    steps = await store.list_steps("run-1")
    assert sorted(s.step_id for s in steps) == ids
    assert all(s.result == s.step_id for s in steps)


async def test_concurrent_upserts_of_the_same_new_step_leave_one(store: WorkflowStore) -> None:
    await asyncio.gather(
        *(
            store.upsert_step("run-1", WorkflowStepState(step_id="same", result=i))
            for i in range(50)
        )
    )
    steps = await store.list_steps("run-1")
    assert [s.step_id for s in steps] == ["same"]


async def test_concurrent_context_and_step_writes_do_not_clobber(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    writes = []
    for i in range(20):
        writes.append(store.update_context("run-1", {"n": i}))
        writes.append(store.upsert_step("run-1", WorkflowStepState(step_id=f"s{i}")))
    await asyncio.gather(*writes)
    got = await store.get_run("run-1")
    assert got is not None and got.context in [{"n": i} for i in range(20)]
    assert len(await store.list_steps("run-1")) == 20


# ── the 16 MiB document limit ─────────────────────────────────────────────
# Values past the offload threshold (1 MiB by default) go to GridFS, so a run
# reaches 16 MiB through many values below it, or fields that are not offloaded.

MIB = 1024 * 1024
INLINE = "x" * (MIB - 200)  # just under the offload threshold: stays in the document


async def fill(store: WorkflowStore, count: int = 16) -> list[WorkflowStepState]:
    steps = [WorkflowStepState(step_id=f"s{i:02d}", result=INLINE) for i in range(count)]
    for step in steps:
        await store.upsert_step("run-1", step)
    return steps


async def test_a_step_that_would_push_the_run_past_16_mib_is_refused_whole(
    store: WorkflowStore,
) -> None:
    await store.create_run(new_state())
    steps = await fill(store, 16)  # 16 MiB less a little
    with pytest.raises(PayloadTooLargeError) as info:
        await store.upsert_step("run-1", WorkflowStepState(step_id="more0", result=INLINE))
    error = info.value
    assert error.run_task_id == "run-1" and error.step_id == "more0"
    assert MIB - 200 < error.size < MIB and error.limit == 16 * MIB
    assert error.run_size is not None and error.run_size > 15 * MIB
    assert "run-1" in str(error) and "more0" in str(error) and "16,777,216" in str(error)
    assert [s.step_id for s in await store.list_steps("run-1")] == [s.step_id for s in steps]

    # Growing a stored step past the limit is refused too (errors are never offloaded).
    grown = WorkflowStepState(step_id="s00", result=INLINE, error="e" * (2 * MIB))
    with pytest.raises(PayloadTooLargeError, match="s00"):
        await store.upsert_step("run-1", grown)
    assert await store.get_step("run-1", "s00") == steps[0]


async def test_a_context_or_run_past_16_mib_is_refused_and_the_run_kept(
    store: WorkflowStore,
) -> None:
    state = new_state().with_context({"small": True})
    await store.create_run(state)
    await fill(store, 16)  # 16 MiB less a little
    with pytest.raises(PayloadTooLargeError, match="run-1"):
        await store.update_context("run-1", {"k": "y" * 50_000})
    with pytest.raises(PayloadTooLargeError, match="run-1"):
        await store.create_run(new_state().with_input("z" * 50_000))
    got = await store.get_run("run-1")
    assert got is not None and got.context == {"small": True} and got.input == {}


async def test_without_offloading_one_large_value_hits_the_limit() -> None:
    from mongo_wfstore import InMemoryWorkflowStore

    store = InMemoryWorkflowStore(offload_threshold=None)
    await store.upsert_step("run-1", WorkflowStepState(step_id="a", result="x" * (9 * MIB)))
    with pytest.raises(PayloadTooLargeError, match="step 'b' of run 'run-1'"):
        await store.upsert_step("run-1", WorkflowStepState(step_id="b", result="y" * (8 * MIB)))
