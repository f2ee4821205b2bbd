"""The values the store keeps: run-level state, step-level state, definitions.

What lives here:

- `TaskStatus`: a step's status, serialized as the reference engine does.
- `WorkflowDefinition`, `WorkflowStep` and the step kinds: the definition
  snapshot stored with every run. Parts this library does not know (new kinds,
  new fields) are kept as they were written, so a snapshot always reads back equal.
- `WorkflowExecutionState`: run-level state, keyed by `run_task_id`.
- `WorkflowStepState`: step-level state, keyed by `(run_task_id, step_id)`.

What is **not** here: how these are stored (`_encoding`), and the run's own
status and task tree, which live in the engine's task store.

JSON values (`input`, `context`, `result`, ...) are not validated when a model
is built, because walking a large result twice is slow: the store checks them
when they are written and raises `InvalidInputError` naming the offending path.
Timestamps are UTC-aware and kept at millisecond precision from construction on,
the precision of a BSON date, so a state read back compares equal to the state
written.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    PlainSerializer,
    SkipValidation,
    Tag,
    model_validator,
)

__all__ = [
    "AgentRunKind",
    "ApiCallKind",
    "CheckpointKind",
    "ConditionKind",
    "ExternalCheckpoint",
    "InternalCheckpoint",
    "Json",
    "ReplyKind",
    "RunPage",
    "ScriptKind",
    "StepKind",
    "TaskStatus",
    "ToolCallKind",
    "UnknownCheckpoint",
    "UnknownStepKind",
    "WaitForInputKind",
    "WorkflowDefinition",
    "WorkflowExecutionState",
    "WorkflowStep",
    "WorkflowStepState",
    "utc_now",
]


# ── scalars ───────────────────────────────────────────────────────────────


class TaskStatus(str, enum.Enum):
    """Status of a step, serialized in snake_case; an unknown string is an error."""

    PENDING = "pending"
    RUNNING = "running"
    INPUT_REQUIRED = "input_required"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        """True for `completed`, `failed` and `canceled`."""
        return self in _TERMINAL_STATUSES

    def __str__(self) -> str:
        return self.value


_TERMINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED})


def _to_utc_millis(value: datetime) -> datetime:
    """Make a timestamp UTC-aware (naive means UTC) and cut it to milliseconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    elif value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a `Z` suffix."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


UtcTimestamp = Annotated[
    datetime,
    AfterValidator(_to_utc_millis),
    PlainSerializer(_format_timestamp, return_type=str, when_used="json"),
]
"""A datetime kept UTC-aware at millisecond precision, serialized as `...123Z`."""

Json = Annotated[JsonValue, SkipValidation]
"""Any JSON value; checked when written to a store, not when a model is built."""


def utc_now() -> datetime:
    """The current time, UTC-aware, at millisecond precision."""
    return _to_utc_millis(datetime.now(timezone.utc))


def _omit_if_none(value: object) -> bool:
    return value is None


def _omit_if_empty(value: object) -> bool:
    return not value


def _optional(default: Any = None) -> Any:
    """A field left out of the JSON when it is None, as the reference does."""
    return Field(default=default, exclude_if=_omit_if_none)


# ── the definition snapshot ───────────────────────────────────────────────


class _DefinitionPart(BaseModel):
    """Base of the definition models: unknown fields are kept and written back."""

    model_config = ConfigDict(
        extra="allow",
        validate_assignment=True,
        validate_by_name=True,
        serialize_by_alias=True,
    )


class ApiCallKind(_DefinitionPart):
    """An HTTP call."""

    type: Literal["api_call"] = "api_call"
    method: str
    url: str
    body: Json | None = _optional()
    headers: Json | None = _optional()


class ScriptKind(_DefinitionPart):
    """A command run as a subprocess."""

    type: Literal["script"] = "script"
    command: str
    args: list[Json] = Field(default_factory=list)
    cwd: str | None = _optional()
    env: Json | None = _optional()
    timeout_secs: int | None = _optional()
    output_format: Json | None = _optional()
    shell: Json | None = _optional()


class AgentRunKind(_DefinitionPart):
    """A run of an agent with a prompt."""

    type: Literal["agent_run"] = "agent_run"
    agent_id: str
    prompt: str
    tools: list[Json] = Field(default_factory=list)
    skills: list[Json] = Field(default_factory=list)
    model: Json | None = _optional()
    max_iterations: int | None = _optional()


class ToolCallKind(_DefinitionPart):
    """A direct call of one tool."""

    type: Literal["tool_call"] = "tool_call"
    tool_name: str
    input: Json = None
    agent_id: str | None = _optional()


class ConditionKind(_DefinitionPart):
    """A branch: `if_true` when `expression` holds, else `if_false`."""

    type: Literal["condition"] = "condition"
    expression: str
    if_true: StepKind
    if_false: StepKind | None = _optional()


class CheckpointKind(_DefinitionPart):
    """A checkpoint that records a message."""

    type: Literal["checkpoint"] = "checkpoint"
    message: str


class WaitForInputKind(_DefinitionPart):
    """A wait for external input; the run parks until it is completed."""

    type: Literal["wait_for_input"] = "wait_for_input"
    message: str
    schema_: Json | None = Field(default=None, alias="schema", exclude_if=_omit_if_none)
    """The JSON Schema the input must match (`schema` in JSON)."""


class ReplyKind(_DefinitionPart):
    """A reply to the user, possibly with buttons."""

    type: Literal["reply"] = "reply"
    text: str
    buttons: list[Json] = Field(default_factory=list)
    buttons_from: Json | None = _optional()
    button_template: Json | None = _optional()


class UnknownStepKind(_DefinitionPart):
    """A kind this library does not know (written by a newer engine), kept as is."""

    type: str


_KNOWN_KINDS: dict[str, type[_DefinitionPart]] = {
    "api_call": ApiCallKind,
    "script": ScriptKind,
    "agent_run": AgentRunKind,
    "tool_call": ToolCallKind,
    "condition": ConditionKind,
    "checkpoint": CheckpointKind,
    "wait_for_input": WaitForInputKind,
    "reply": ReplyKind,
}


def _kind_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if isinstance(value, UnknownStepKind) or kind not in _KNOWN_KINDS:
        return "unknown"
    return str(kind)


StepKind = Annotated[
    Annotated[ApiCallKind, Tag("api_call")]
    | Annotated[ScriptKind, Tag("script")]
    | Annotated[AgentRunKind, Tag("agent_run")]
    | Annotated[ToolCallKind, Tag("tool_call")]
    | Annotated[ConditionKind, Tag("condition")]
    | Annotated[CheckpointKind, Tag("checkpoint")]
    | Annotated[WaitForInputKind, Tag("wait_for_input")]
    | Annotated[ReplyKind, Tag("reply")]
    | Annotated[UnknownStepKind, Tag("unknown")],
    Discriminator(_kind_tag),
]
"""What a step does, tagged by `type`; unknown types become `UnknownStepKind`."""

ConditionKind.model_rebuild()


class InternalCheckpoint(_DefinitionPart):
    """Checkpoints kept by the engine itself, optionally expiring."""

    type: Literal["internal"] = "internal"
    ttl_secs: int | None = _optional()


class ExternalCheckpoint(_DefinitionPart):
    """Checkpoints handed to an external tool."""

    type: Literal["external"] = "external"
    tool_name: str


class UnknownCheckpoint(_DefinitionPart):
    """A checkpoint type this library does not know, kept as is."""

    type: str


def _checkpoint_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if isinstance(value, UnknownCheckpoint) or kind not in ("internal", "external"):
        return "unknown"
    return str(kind)


CheckpointConfig = Annotated[
    Annotated[InternalCheckpoint, Tag("internal")]
    | Annotated[ExternalCheckpoint, Tag("external")]
    | Annotated[UnknownCheckpoint, Tag("unknown")],
    Discriminator(_checkpoint_tag),
]


class WorkflowStep(_DefinitionPart):
    """One step of a definition: what it does (`kind`) and when it may run."""

    id: str
    label: str
    kind: StepKind
    depends_on: list[str] = Field(default_factory=list)
    execution: str = "sequential"
    """`"sequential"` (the default) or `"parallel"`; other values are kept as written."""
    requires: list[Json] = Field(default_factory=list)
    input: Json | None = _optional()
    skip_if: str | None = _optional()

    @classmethod
    def checkpoint(cls, id: str, label: str, message: str) -> WorkflowStep:
        """A checkpoint step with the default settings.

        >>> WorkflowStep.checkpoint("c", "Checkpoint", "ok").kind.type
        'checkpoint'
        """
        return cls(id=id, label=label, kind=CheckpointKind(message=message))


class WorkflowDefinition(_DefinitionPart):
    """The workflow definition snapshotted at run start.

    Later edits to the agent's configuration cannot change an in-flight run.
    """

    id: str
    steps: list[WorkflowStep] = Field(default_factory=list)
    input_schema: Json | None = _optional()
    """Usually a JSON Schema: keys such as `$schema`, `$ref` and `$defs` are normal."""
    checkpoint: CheckpointConfig = Field(default_factory=InternalCheckpoint)
    entry_points: list[Json] = Field(default_factory=list, exclude_if=_omit_if_empty)

    @classmethod
    def new(cls, steps: list[WorkflowStep]) -> WorkflowDefinition:
        """A definition with these steps and a random UUID v4 as its id."""
        return cls(id=str(uuid.uuid4()), steps=steps)


# ── run and step state ────────────────────────────────────────────────────


class WorkflowStepState(BaseModel):
    """Per-step state, keyed by `(run_task_id, step_id)`.

    `step_id` is the definition-level identifier (`"fetch"`, `"summarize"`).
    `wait_task_id` is set only for wait-style steps that park the run until an
    external party completes them; regular steps leave it None.
    """

    model_config = ConfigDict(validate_assignment=True)

    step_id: str
    status: TaskStatus = TaskStatus.PENDING
    result: Json | None = _optional()
    error: str | None = _optional()
    started_at: UtcTimestamp | None = _optional()
    completed_at: UtcTimestamp | None = _optional()
    wait_task_id: str | None = _optional()


class WorkflowExecutionState(BaseModel):
    """Run-level state of one workflow execution, keyed by `run_task_id`.

    `thread_id`, `user_id` and `workspace_id` are snapshotted at run start so
    that a resume can rebuild its context without another lookup. Only
    `context` (and `updated_at`) change during the life of a run.
    """

    model_config = ConfigDict(validate_assignment=True)

    run_task_id: str
    agent_id: str
    thread_id: str
    user_id: str
    workspace_id: str | None = _optional()
    definition: WorkflowDefinition
    entry_point: str | None = _optional()
    input: Json = Field(default_factory=dict)
    context: Json = Field(default_factory=dict)
    """The shared bag steps accumulate results into (`{steps.X}`, `{input.Y}`)."""
    created_at: UtcTimestamp
    updated_at: UtcTimestamp
    revision: int | None = _optional()
    """The run's write counter in the store: set on a state read from a store (every
    write to the run increments it), None otherwise. Store metadata, not content:
    ignored by `==` and by `create_run`, left out of the JSON when None.
    """

    def __eq__(self, other: object) -> bool:
        """Equal content; `revision`, store metadata, is not compared."""
        if not isinstance(other, WorkflowExecutionState):
            return NotImplemented
        if self.revision == other.revision:
            return super().__eq__(other)
        return super().__eq__(other.model_copy(update={"revision": self.revision}))

    __hash__ = None  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _default_timestamps(cls, data: Any) -> Any:
        """Let keyword construction leave out the timestamps: both become now."""
        if isinstance(data, dict) and ("created_at" not in data or "updated_at" not in data):
            now = utc_now()
            data = {"created_at": now, "updated_at": now, **data}
        return data

    @classmethod
    def new(
        cls,
        run_task_id: str,
        agent_id: str,
        thread_id: str,
        user_id: str,
        definition: WorkflowDefinition,
    ) -> WorkflowExecutionState:
        """A new run: empty input and context, `created_at == updated_at == now`."""
        now = utc_now()
        return cls(
            run_task_id=run_task_id,
            agent_id=agent_id,
            thread_id=thread_id,
            user_id=user_id,
            definition=definition,
            created_at=now,
            updated_at=now,
        )

    def _with(self, field: str, value: Any) -> WorkflowExecutionState:
        copy = self.model_copy()
        setattr(copy, field, value)
        return copy

    def with_workspace_id(self, workspace_id: str | None) -> WorkflowExecutionState:
        """A copy with this workspace id (JSON values are shared, not copied)."""
        return self._with("workspace_id", workspace_id)

    def with_entry_point(self, entry_point: str | None) -> WorkflowExecutionState:
        """A copy with this entry point."""
        return self._with("entry_point", entry_point)

    def with_input(self, input: JsonValue) -> WorkflowExecutionState:
        """A copy with this input."""
        return self._with("input", input)

    def with_context(self, context: JsonValue) -> WorkflowExecutionState:
        """A copy with this context."""
        return self._with("context", context)


class RunPage(BaseModel):
    """One page of `list_runs`: runs newest first, and the cursor of the next page.

    `next_cursor` is None on the last page; pass it back as `cursor=` to continue.
    """

    items: list[WorkflowExecutionState]
    next_cursor: str | None = None
