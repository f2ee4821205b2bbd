"""The store interface, and the argument checks every implementation shares.

`WorkflowStore` is the one surface a workflow engine talks to: run-level and
step-level operations on a run keyed by `run_task_id`. `InMemoryWorkflowStore`
(in `_memory`) is its reference implementation and `MongoWorkflowStore` (in
`_mongo`) the production one; the contract tests hold both to the same
semantics, errors included.

What is **not** here: the run's status and task tree (the engine's task store),
and how a run is laid out in a document (`_encoding`).
"""

from __future__ import annotations

import abc

from pydantic import JsonValue

from ._encoding import has_lone_surrogate
from ._exceptions import InvalidInputError
from ._models import WorkflowExecutionState, WorkflowStepState

__all__ = ["WorkflowStore", "check_id", "check_state", "check_step"]


class WorkflowStore(abc.ABC):
    """Persist and load workflow execution state: one run, its steps.

    Every method checks its arguments before touching storage and raises
    `InvalidInputError` for an empty or non-string id or an object of the wrong
    type, so a bad call never writes anything.
    """

    # ── run-level ─────────────────────────────────────────────────────────

    @abc.abstractmethod
    async def create_run(self, state: WorkflowExecutionState) -> None:
        """Create the run, or overwrite its run-level fields (create-or-resume).

        Steps already stored under `state.run_task_id`, even ones written before
        the run existed, are left alone.

        >>> await store.create_run(WorkflowExecutionState.new("run-1", "agent", "t", "u", d))

        Raises `InvalidInputError` for a value that cannot be stored and
        `PayloadTooLargeError` when the run would exceed 16 MiB.
        """

    @abc.abstractmethod
    async def get_run(self, run_task_id: str) -> WorkflowExecutionState | None:
        """Load the run-level state, without its steps.

        Returns None if there is no run, including when only steps were written
        under this id.
        """

    @abc.abstractmethod
    async def update_context(self, run_task_id: str, context: JsonValue) -> None:
        """Replace the run's shared `context` and set `updated_at` to now.

        Other run-level fields are immutable for the life of the run. Raises
        `RunNotFoundError` if the run does not exist (nothing is written).
        """

    @abc.abstractmethod
    async def delete_run(self, run_task_id: str) -> None:
        """Delete the run and all its steps. Does nothing if there is no run."""

    # ── step-level ────────────────────────────────────────────────────────

    @abc.abstractmethod
    async def upsert_step(self, run_task_id: str, step: WorkflowStepState) -> None:
        """Insert a step, or replace the stored step with the same `step_id`.

        A replaced step keeps its position; a new one goes last. The run need not
        exist yet: steps written first are kept, and the id is still not a run
        for `get_run` until `create_run`.
        """

    @abc.abstractmethod
    async def get_step(self, run_task_id: str, step_id: str) -> WorkflowStepState | None:
        """Load one step. Returns None if there is no such step."""

    @abc.abstractmethod
    async def list_steps(self, run_task_id: str) -> list[WorkflowStepState]:
        """All steps of the run in first-insertion order; empty if there are none."""


# ── argument checks shared by the implementations ─────────────────────────


def check_id(value: object, name: str) -> str:
    """Return `value` if it is a usable id, else raise `InvalidInputError`.

    An id must be a non-empty string that UTF-8 can encode. A dict such as
    `{"$ne": None}` in place of an id is an injection attempt and is refused.
    """
    if not isinstance(value, str) or not value:
        shown = (
            repr(value) if isinstance(value, str) else f"a {type(value).__name__} ({value!r:.80})"
        )
        raise InvalidInputError(f"{name} must be a non-empty string, got {shown}")
    if has_lone_surrogate(value):
        raise InvalidInputError(f"{name} {value!r} is not valid Unicode (a lone surrogate)")
    return value


def check_step(run_task_id: str, step: object) -> WorkflowStepState:
    """Return `step` if it is a `WorkflowStepState` with a usable `step_id`."""
    if not isinstance(step, WorkflowStepState):
        raise InvalidInputError(
            f"step for run {run_task_id!r} must be a WorkflowStepState, not {type(step).__name__}",
            run_task_id=run_task_id,
        )
    try:
        check_id(step.step_id, "step_id")
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"{exc} (step of run {run_task_id!r})", run_task_id=run_task_id
        ) from None
    return step


def check_state(state: object) -> WorkflowExecutionState:
    """Return `state` if it is a `WorkflowExecutionState` with usable ids."""
    if not isinstance(state, WorkflowExecutionState):
        raise InvalidInputError(
            f"state must be a WorkflowExecutionState, not {type(state).__name__}"
        )
    run_task_id = check_id(state.run_task_id, "run_task_id")
    for name in ("agent_id", "thread_id", "user_id"):
        value = getattr(state, name)
        if not isinstance(value, str):
            raise InvalidInputError(
                f"{name} of run {run_task_id!r} must be a string, not {type(value).__name__}",
                run_task_id=run_task_id,
            )
    for name in ("workspace_id", "entry_point"):
        value = getattr(state, name)
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(
                f"{name} of run {run_task_id!r} must be a string or None, "
                f"not {type(value).__name__}",
                run_task_id=run_task_id,
            )
    return state
