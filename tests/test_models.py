"""The models read and write the reference engine's JSON."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from mongo_wfstore import (
    CheckpointKind,
    ConditionKind,
    ExternalCheckpoint,
    InternalCheckpoint,
    TaskStatus,
    UnknownStepKind,
    WaitForInputKind,
    WorkflowDefinition,
    WorkflowExecutionState,
    WorkflowStep,
    WorkflowStepState,
)

SEED_DEFINITION = {
    "id": "d1",
    "steps": [
        {
            "id": "c",
            "label": "Checkpoint",
            "kind": {"type": "checkpoint", "message": "ok"},
            "depends_on": [],
            "execution": "sequential",
            "requires": [],
        }
    ],
    "input_schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"},
    "checkpoint": {"type": "internal"},
}

SEED_STATE = {
    "run_task_id": "run-1",
    "agent_id": "agent-1",
    "thread_id": "thread-1",
    "user_id": "user-1",
    "workspace_id": "ws-1",
    "definition": SEED_DEFINITION,
    "entry_point": "main",
    "input": {"x": 1},
    "context": {},
    "created_at": "2026-11-26T16:20:13.563791123Z",
    "updated_at": "2026-11-26T16:20:14.000000001Z",
}


# ── TaskStatus ────────────────────────────────────────────────────────────


def test_task_status_values_are_snake_case() -> None:
    assert [s.value for s in TaskStatus] == [
        "pending",
        "running",
        "input_required",
        "completed",
        "failed",
        "canceled",
    ]
    assert TaskStatus("input_required") is TaskStatus.INPUT_REQUIRED
    assert str(TaskStatus.CANCELED) == "canceled"


def test_terminal_statuses() -> None:
    terminal = {s for s in TaskStatus if s.is_terminal}
    assert terminal == {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED}


def test_an_unknown_status_is_an_error_not_a_default() -> None:
    with pytest.raises(ValidationError):
        WorkflowStepState.model_validate_json('{"step_id": "a", "status": "cancelled"}')
    assert WorkflowStepState.model_validate_json('{"step_id": "a"}').status == TaskStatus.PENDING


# ── step state ────────────────────────────────────────────────────────────


def test_step_json_leaves_out_none_optionals() -> None:
    step = WorkflowStepState(step_id="fetch", status=TaskStatus.RUNNING)
    assert json.loads(step.model_dump_json()) == {"step_id": "fetch", "status": "running"}


def test_step_json_round_trips_every_field() -> None:
    raw = {
        "step_id": "w",
        "status": "input_required",
        "result": {"a": [1, 2.5, None, True]},
        "error": "no",
        "started_at": "2026-11-26T16:20:13.563Z",
        "completed_at": "2026-11-26T16:20:14.001Z",
        "wait_task_id": "task-9",
    }
    step = WorkflowStepState.model_validate_json(json.dumps(raw))
    assert json.loads(step.model_dump_json()) == raw


def test_a_null_result_is_no_result_as_in_the_reference() -> None:
    step = WorkflowStepState.model_validate_json('{"step_id": "a", "result": null}')
    assert step.result is None
    assert "result" not in json.loads(step.model_dump_json())


def test_assignment_is_validated() -> None:
    step = WorkflowStepState(step_id="a")
    step.status = "completed"  # type: ignore[assignment]
    assert step.status is TaskStatus.COMPLETED
    with pytest.raises(ValidationError):
        step.status = "bogus"  # type: ignore[assignment]


# ── timestamps ────────────────────────────────────────────────────────────


def test_the_reference_json_with_nanosecond_timestamps_validates() -> None:
    state = WorkflowExecutionState.model_validate_json(json.dumps(SEED_STATE))
    assert state.created_at == datetime(2026, 11, 26, 16, 20, 13, 563000, tzinfo=timezone.utc)
    assert state.updated_at == datetime(2026, 11, 26, 16, 20, 14, tzinfo=timezone.utc)


def test_timestamps_are_utc_aware_at_millisecond_precision_from_construction() -> None:
    berlin = timezone(timedelta(hours=1))
    step = WorkflowStepState(
        step_id="a",
        started_at=datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=berlin),
        completed_at=datetime(2026, 1, 1, 12, 0, 0, 999999),  # naive means UTC
    )
    assert step.started_at == datetime(2026, 1, 1, 11, 0, 0, 123000, tzinfo=timezone.utc)
    assert step.started_at is not None and step.started_at.tzinfo is timezone.utc
    assert step.completed_at == datetime(2026, 1, 1, 12, 0, 0, 999000, tzinfo=timezone.utc)
    state = WorkflowExecutionState.new("r", "a", "t", "u", WorkflowDefinition.new([]))
    assert state.created_at.microsecond % 1000 == 0
    assert state.created_at.tzinfo is timezone.utc


def test_timestamps_serialize_as_rfc3339_utc_with_z() -> None:
    step = WorkflowStepState(
        step_id="a", started_at=datetime(2026, 11, 26, 16, 20, 13, 5000, tzinfo=timezone.utc)
    )
    assert json.loads(step.model_dump_json())["started_at"] == "2026-11-26T16:20:13.005Z"


# ── run state ─────────────────────────────────────────────────────────────


def test_run_state_json_has_the_reference_shape() -> None:
    state = WorkflowExecutionState.model_validate_json(json.dumps(SEED_STATE))
    dumped = json.loads(state.model_dump_json())
    assert dumped == {
        **SEED_STATE,
        "created_at": "2026-11-26T16:20:13.563Z",
        "updated_at": "2026-11-26T16:20:14.000Z",
    }


def test_none_optionals_are_left_out_but_input_and_context_are_always_written() -> None:
    state = WorkflowExecutionState.new("r", "a", "t", "u", WorkflowDefinition.new([]))
    dumped = json.loads(state.model_dump_json())
    assert "workspace_id" not in dumped and "entry_point" not in dumped
    assert dumped["input"] == {} and dumped["context"] == {}


def test_new_sets_defaults_and_equal_timestamps() -> None:
    definition = WorkflowDefinition.new([WorkflowStep.checkpoint("c", "C", "ok")])
    state = WorkflowExecutionState.new("run-1", "agent", "thread", "user", definition)
    assert state.created_at == state.updated_at
    assert (state.workspace_id, state.entry_point, state.input, state.context) == (
        None,
        None,
        {},
        {},
    )


def test_with_methods_return_new_values_and_leave_the_original() -> None:
    state = WorkflowExecutionState.new("r", "a", "t", "u", WorkflowDefinition.new([]))
    changed = (
        state.with_workspace_id("ws")
        .with_entry_point("main")
        .with_input({"x": 1})
        .with_context({"y": 2})
    )
    assert (changed.workspace_id, changed.entry_point, changed.input, changed.context) == (
        "ws",
        "main",
        {"x": 1},
        {"y": 2},
    )
    assert (state.workspace_id, state.entry_point, state.input, state.context) == (
        None,
        None,
        {},
        {},
    )
    with pytest.raises(ValidationError):
        state.with_workspace_id(42)  # type: ignore[arg-type]


def test_keyword_construction_works_without_timestamps() -> None:
    state = WorkflowExecutionState(
        run_task_id="r",
        agent_id="a",
        thread_id="t",
        user_id="u",
        definition=WorkflowDefinition(id="d"),
    )
    assert state.created_at == state.updated_at
    assert state.input == {} and state.context == {}


# ── definitions ───────────────────────────────────────────────────────────


def test_the_reference_definition_round_trips_exactly() -> None:
    definition = WorkflowDefinition.model_validate(SEED_DEFINITION)
    assert json.loads(definition.model_dump_json()) == SEED_DEFINITION
    assert isinstance(definition.steps[0].kind, CheckpointKind)
    assert isinstance(definition.checkpoint, InternalCheckpoint)


def test_checkpoint_step_and_new_definition_defaults() -> None:
    step = WorkflowStep.checkpoint("c", "Checkpoint", "ok")
    assert json.loads(step.model_dump_json()) == SEED_DEFINITION["steps"][0]  # type: ignore[index]
    definition = WorkflowDefinition.new([step])
    assert uuid.UUID(definition.id).version == 4
    assert definition.new([]).id != definition.id
    dumped = json.loads(definition.model_dump_json())
    assert dumped["checkpoint"] == {"type": "internal"}
    assert "entry_points" not in dumped and "input_schema" not in dumped


ALL_KINDS = [
    {"type": "api_call", "method": "GET", "url": "https://x", "headers": {"a": "b"}},
    {"type": "script", "command": "ls", "args": ["-l"], "timeout_secs": 5, "shell": True},
    {"type": "agent_run", "agent_id": "a", "prompt": "p", "tools": [], "skills": []},
    {"type": "tool_call", "tool_name": "t", "input": {"q": 1}},
    {
        "type": "condition",
        "expression": "x > 1",
        "if_true": {"type": "reply", "text": "yes", "buttons": []},
        "if_false": {"type": "checkpoint", "message": "no"},
    },
    {"type": "checkpoint", "message": "m"},
    {"type": "wait_for_input", "message": "m", "schema": {"$ref": "#/$defs/a"}},
    {"type": "reply", "text": "t", "buttons": [{"label": "ok"}], "buttons_from": "x"},
]


@pytest.mark.parametrize("kind", ALL_KINDS, ids=[k["type"] for k in ALL_KINDS])
def test_every_step_kind_round_trips(kind: dict[str, object]) -> None:
    step = WorkflowStep.model_validate({"id": "s", "label": "S", "kind": kind})
    assert json.loads(step.model_dump_json())["kind"] == kind
    assert not isinstance(step.kind, UnknownStepKind)


def test_unknown_kinds_and_fields_are_kept_as_written() -> None:
    raw = {
        "id": "d",
        "steps": [
            {
                "id": "s",
                "label": "S",
                "kind": {"type": "teleport", "to": "mars", "eta": None},
                "depends_on": ["x"],
                "execution": "race",
                "requires": [{"cap": 1}],
                "retry": {"max": 3},
            },
            {
                "id": "w",
                "label": "W",
                "kind": {"type": "wait_for_input", "message": "m", "timeout": 30},
                "depends_on": [],
                "execution": "parallel",
                "requires": [],
            },
        ],
        "checkpoint": {"type": "s3", "bucket": "b"},
        "entry_points": ["main"],
        "version": 2,
    }
    definition = WorkflowDefinition.model_validate(raw)
    assert isinstance(definition.steps[0].kind, UnknownStepKind)
    assert isinstance(definition.steps[1].kind, WaitForInputKind)
    assert json.loads(definition.model_dump_json()) == raw
    assert WorkflowDefinition.model_validate_json(definition.model_dump_json()) == definition


def test_condition_branches_are_typed_kinds() -> None:
    step = WorkflowStep.model_validate({"id": "s", "label": "S", "kind": ALL_KINDS[4]})
    assert isinstance(step.kind, ConditionKind)
    assert isinstance(step.kind.if_false, CheckpointKind)


def test_external_checkpoint() -> None:
    definition = WorkflowDefinition.model_validate(
        {"id": "d", "checkpoint": {"type": "external", "tool_name": "save"}}
    )
    assert definition.checkpoint == ExternalCheckpoint(tool_name="save")


def test_wait_for_input_schema_is_set_by_its_json_name() -> None:
    kind = WaitForInputKind(message="m", schema={"type": "object"})  # type: ignore[call-arg]
    assert kind.schema_ == {"type": "object"}
    assert json.loads(kind.model_dump_json()) == {
        "type": "wait_for_input",
        "message": "m",
        "schema": {"type": "object"},
    }
