"""Random sequences of operations give the same results on the MongoDB store as
on the in-memory reference: same return values, same errors, same final state.
Every operation is drawn, through the unscoped store and through tenant views.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mongo_wfstore import (
    InMemoryWorkflowStore,
    RunPage,
    TaskStatus,
    WorkflowDefinition,
    WorkflowExecutionState,
    WorkflowStep,
    WorkflowStepState,
    WorkflowStore,
)

from .strategies import json_keys, same
from .strategies import json_values as small_json_values
from .test_mongo_design import mock_store

# Mostly small values, and some past the 1 KiB offload threshold of the second run.
json_values = st.one_of(
    small_json_values,
    small_json_values,
    small_json_values,
    st.builds(lambda v, n: {"pad": "p" * n, "v": v}, small_json_values, st.integers(900, 1500)),
)

RUN_IDS = ["run-1", "run.2", "$run3"]
USERS = ["alice", "bob"]
run_ids = st.sampled_from(RUN_IDS)
step_ids = st.sampled_from(["a", "b", "$c", "d.e", "%f"])
wait_ids = st.sampled_from(["w1", "w2"])
tenants = st.sampled_from([None, None, "alice", "bob"])
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
DEFINITION = WorkflowDefinition(id="d", steps=[WorkflowStep.checkpoint("c", "C", "ok")])

states = st.builds(
    lambda run, user, minute, input_, context, workspace: (
        WorkflowExecutionState.new(run, "agent", "thread", user, DEFINITION)
        .with_input(input_)
        .with_context(context)
        .with_workspace_id(workspace)
        .model_copy(update={"created_at": EPOCH.replace(minute=minute), "updated_at": EPOCH})
    ),
    run_ids,
    st.sampled_from(USERS),
    st.integers(0, 2),
    json_values,
    st.one_of(json_values, st.dictionaries(json_keys, json_values, max_size=3)),
    st.none() | st.just("ws"),
)
steps = st.builds(
    WorkflowStepState,
    step_id=step_ids,
    status=st.sampled_from(TaskStatus),
    result=st.none() | json_values,
    error=st.none() | st.text(max_size=5),
    wait_task_id=st.none() | wait_ids,
)
updates = st.none() | st.dictionaries(json_keys, json_values, max_size=3)
revisions = st.none() | st.integers(0, 6)

operations = st.lists(
    st.tuples(
        tenants,
        st.one_of(
            st.tuples(st.just("create_run"), states),
            st.tuples(st.just("get_run"), run_ids),
            st.tuples(st.just("update_context"), run_ids, json_values, revisions),
            st.tuples(st.just("delete_run"), run_ids),
            st.tuples(st.just("upsert_step"), run_ids, steps),
            st.tuples(st.just("get_step"), run_ids, step_ids),
            st.tuples(st.just("list_steps"), run_ids),
            st.tuples(st.just("commit_step"), run_ids, steps, updates, revisions),
            st.tuples(st.just("find_wait"), wait_ids),
            st.tuples(st.just("park"), run_ids, step_ids, wait_ids),
            st.tuples(st.just("park"), run_ids, step_ids, wait_ids),
            st.tuples(
                st.just("complete_wait"),
                wait_ids,
                json_values,
                st.booleans(),
                st.sampled_from([None, "key-1"]),
            ),
            st.tuples(
                st.just("complete_wait"),
                wait_ids,
                json_values,
                st.booleans(),
                st.sampled_from([None, "key-1"]),
            ),
            st.tuples(
                st.just("list_runs"),
                st.none() | st.sampled_from(USERS),
                st.none() | st.just("ws"),
                st.integers(1, 3),
            ),
        ),
    ),
    min_size=3,
    max_size=30,
)

SEED_RUNS = [("run-1", "alice", 0), ("run.2", "bob", 1), ("$run3", "alice", 2)]


def observable(value: Any) -> Any:
    """What a caller can see of a result, with the clock-set timestamps left out."""
    if isinstance(value, WorkflowExecutionState):
        return ("run", value.model_copy(update={"updated_at": EPOCH}).model_dump())
    if isinstance(value, WorkflowStepState):
        completed = None if value.completed_at is None else EPOCH
        return ("step", value.model_copy(update={"completed_at": completed}).model_dump())
    if isinstance(value, RunPage):
        return ("page", observable(value.items), value.next_cursor)
    if isinstance(value, (list, tuple)):
        return [observable(item) for item in value]
    return value


async def apply(store: WorkflowStore, name: str, args: tuple[Any, ...]) -> Any:
    if name == "update_context":
        run, context, revision = args
        return await store.update_context(run, context, expected_revision=revision)
    if name == "commit_step":
        run, step, context_updates, revision = args
        return await store.commit_step(
            run, step, context_updates=context_updates, expected_revision=revision
        )
    if name == "complete_wait":
        wait, result, failed, key = args
        status = TaskStatus.FAILED if failed else TaskStatus.COMPLETED
        error = "e" if failed else None
        return await store.complete_wait(
            wait, result, status=status, error=error, idempotency_key=key
        )
    if name == "park":
        run, step_id, wait = args
        step = WorkflowStepState(
            step_id=step_id, status=TaskStatus.INPUT_REQUIRED, wait_task_id=wait
        )
        return await store.upsert_step(run, step)
    if name == "list_runs":
        user, workspace, limit = args
        page = await store.list_runs(user_id=user, workspace_id=workspace, limit=limit)
        rest = (
            await store.list_runs(limit=1000, cursor=page.next_cursor) if page.next_cursor else None
        )
        return (page, rest)
    return await getattr(store, name)(*args)


async def run_all(store: WorkflowStore, ops: list[tuple[Any, ...]]) -> list[Any]:
    seen: list[Any] = []
    for run, user, minute in SEED_RUNS:
        state = WorkflowExecutionState.new(run, "agent", "thread", user, DEFINITION)
        await store.create_run(
            state.model_copy(update={"created_at": EPOCH.replace(minute=minute)})
        )
    for tenant, (name, *args) in ops:
        view = store if tenant is None else store.scoped(tenant)
        try:
            seen.append(observable(await apply(view, name, tuple(args))))
        except Exception as exc:
            seen.append((type(exc).__name__, str(exc)))
    for run in RUN_IDS:
        seen.append(observable(await store.get_run(run)))
        seen.append(observable(await store.list_steps(run)))
    seen.append(observable(await store.list_runs(limit=10)))
    return seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_mongo_store_matches_the_in_memory_reference(ops: list[tuple[Any, ...]]) -> None:
    expected = asyncio.run(run_all(InMemoryWorkflowStore(), ops))
    actual = asyncio.run(run_all(mock_store()[0], ops))
    assert same(actual, expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_both_stores_agree_when_values_go_to_blobs(ops: list[tuple[Any, ...]]) -> None:
    memory = InMemoryWorkflowStore(offload_threshold=1024)
    mongo = mock_store(offload_threshold=1024)[0]
    expected = asyncio.run(run_all(memory, ops))
    actual = asyncio.run(run_all(mongo, ops))
    assert same(actual, expected)
    # Nothing orphaned: every blob left is referenced by a run.
    assert asyncio.run(memory.sweep_blobs(grace=timedelta(0))) == 0
    assert asyncio.run(mongo.sweep_blobs(grace=timedelta(0))) == 0
