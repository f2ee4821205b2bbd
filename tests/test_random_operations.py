"""Random sequences of operations give the same results on the MongoDB store as
on the in-memory reference: same return values, same errors, same final state.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mongo_wfstore import (
    InMemoryWorkflowStore,
    TaskStatus,
    WorkflowDefinition,
    WorkflowExecutionState,
    WorkflowStep,
    WorkflowStepState,
    WorkflowStore,
)

from .strategies import json_values, same
from .test_mongo_design import mock_store

RUN_IDS = st.sampled_from(["run-1", "run.2", "$run3"])
STEP_IDS = st.sampled_from(["a", "b", "$c", "d.e", "%f"])
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
DEFINITION = WorkflowDefinition(id="d", steps=[WorkflowStep.checkpoint("c", "C", "ok")])

states = st.builds(
    lambda run, input_, context, workspace: (
        WorkflowExecutionState.new(run, "agent", "thread", "user", DEFINITION)
        .with_input(input_)
        .with_context(context)
        .with_workspace_id(workspace)
        .model_copy(update={"created_at": EPOCH, "updated_at": EPOCH})
    ),
    RUN_IDS,
    json_values,
    json_values,
    st.none() | st.just("ws"),
)
steps = st.builds(
    WorkflowStepState,
    step_id=STEP_IDS,
    status=st.sampled_from(TaskStatus),
    result=st.none() | json_values,
    error=st.none() | st.text(max_size=5),
    wait_task_id=st.none() | st.sampled_from(["w1", "w2"]),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create_run"), states),
        st.tuples(st.just("get_run"), RUN_IDS),
        st.tuples(st.just("update_context"), RUN_IDS, json_values),
        st.tuples(st.just("delete_run"), RUN_IDS),
        st.tuples(st.just("upsert_step"), RUN_IDS, steps),
        st.tuples(st.just("get_step"), RUN_IDS, STEP_IDS),
        st.tuples(st.just("list_steps"), RUN_IDS),
    ),
    max_size=25,
)


def observable(value: Any) -> Any:
    """What a caller can see of a result, with update_context's clock left out."""
    if isinstance(value, WorkflowExecutionState):
        return ("run", value.model_copy(update={"updated_at": EPOCH}).model_dump())
    if isinstance(value, WorkflowStepState):
        return ("step", value.model_dump())
    if isinstance(value, list):
        return [observable(item) for item in value]
    return value


async def run_all(store: WorkflowStore, ops: list[tuple[Any, ...]]) -> list[Any]:
    seen: list[Any] = []
    for name, *args in ops:
        try:
            seen.append(observable(await getattr(store, name)(*args)))
        except Exception as exc:
            seen.append((type(exc).__name__, str(exc)))
    for run in ["run-1", "run.2", "$run3"]:
        seen.append(observable(await store.get_run(run)))
        seen.append(observable(await store.list_steps(run)))
    return seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_mongo_store_matches_the_in_memory_reference(ops: list[tuple[Any, ...]]) -> None:
    expected = asyncio.run(run_all(InMemoryWorkflowStore(), ops))
    actual = asyncio.run(run_all(mock_store()[0], ops))
    assert same(actual, expected)
