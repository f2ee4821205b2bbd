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
import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import JsonValue

from ._encoding import has_lone_surrogate
from ._exceptions import InvalidInputError
from ._models import RunPage, TaskStatus, WorkflowExecutionState, WorkflowStepState

__all__ = [
    "MAX_PAGE_SIZE",
    "Tenant",
    "WorkflowStore",
    "check_completion",
    "check_context_updates",
    "check_id",
    "check_list_filters",
    "check_offload_threshold",
    "check_page_size",
    "check_revision",
    "check_state",
    "check_step",
    "decode_cursor",
    "encode_cursor",
]

MAX_PAGE_SIZE = 1000
"""The largest `limit` `list_runs` accepts."""


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

        Retrying (after `DatabaseUnavailableError`) writes the same fields again
        and leaves the steps alone, which is safe while nobody else writes the
        run. But it writes `context` too: if another writer changed the run in
        between (a worker committed a step), a blind retry puts your state's
        context back over theirs (their steps stay, their results leave the
        context). When others may write the run, call `get_run` first: a run
        there means your create landed (or the run existed); create it only if
        `get_run` returns None.
        """

    @abc.abstractmethod
    async def get_run(self, run_task_id: str) -> WorkflowExecutionState | None:
        """Load the run-level state, without its steps.

        Returns None if there is no run, including when only steps were written
        under this id.
        """

    @abc.abstractmethod
    async def update_context(
        self,
        run_task_id: str,
        context: JsonValue,
        *,
        expected_revision: int | None = None,
    ) -> None:
        """Replace the run's shared `context` and set `updated_at` to now.

        Other run-level fields are immutable for the life of the run. Raises
        `RunNotFoundError` if the run does not exist, and with `expected_revision`
        `RevisionConflictError` if the run's revision is another; in both cases
        nothing is written.

        Safe to retry when nobody else writes this run's context meanwhile: the
        retry writes the same context. With other writers, a blind retry could put
        your context back over a newer one: pass `expected_revision` instead. Then
        a retry that raises `RevisionConflictError` means a write landed, yours or
        another's: read the run and compare its context with yours.
        """

    @abc.abstractmethod
    async def list_runs(
        self,
        *,
        agent_id: str | None = None,
        thread_id: str | None = None,
        user_id: str | None = None,
        workspace_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """One page of runs matching every filter given, newest `created_at` first.

        Items carry no steps. Pages are keyset-paginated on `(created_at,
        run_task_id)`: pass `next_cursor` back as `cursor` for the next page; runs
        created meanwhile never shift a page. `limit` is 1 to 1000.

        >>> page = await store.list_runs(thread_id="thread-1", limit=20)
        >>> more = await store.list_runs(thread_id="thread-1", cursor=page.next_cursor)
        """

    @abc.abstractmethod
    async def delete_run(self, run_task_id: str) -> None:
        """Delete the run and all its steps. Does nothing if there is no run.

        Safe to retry. (Through a scoped store, which raises `RunNotFoundError`
        for a run it does not have, the retry of an applied delete raises it.)
        A retry deletes the run even if someone created it again in between.
        """

    # ── step-level ────────────────────────────────────────────────────────

    @abc.abstractmethod
    async def upsert_step(self, run_task_id: str, step: WorkflowStepState) -> None:
        """Insert a step, or replace the stored step with the same `step_id`.

        A replaced step keeps its position; a new one goes last. The run need not
        exist yet: steps written first are kept, and the id is still not a run
        for `get_run` until `create_run`.

        Safe to retry: a retry replaces the step in place or appends it once, so
        it can neither duplicate the step nor move it. (If another writer replaced
        the same step in between, the retry puts your version back.)
        """

    @abc.abstractmethod
    async def get_step(self, run_task_id: str, step_id: str) -> WorkflowStepState | None:
        """Load one step. Returns None if there is no such step."""

    @abc.abstractmethod
    async def list_steps(self, run_task_id: str) -> list[WorkflowStepState]:
        """All steps of the run in first-insertion order; empty if there are none."""

    @abc.abstractmethod
    async def commit_step(
        self,
        run_task_id: str,
        step: WorkflowStepState,
        *,
        context_updates: Mapping[str, JsonValue] | None = None,
        expected_revision: int | None = None,
    ) -> None:
        """Upsert the step and merge it into the context, in one atomic write.

        Stores the step (as `upsert_step`), sets `context.steps.<step_id>` to its
        `result` (null when it has none; any step id, dots and dollars included),
        shallow-merges `context_updates` into the context's top level, and sets
        `updated_at`. After a crash, every committed step is in the context.

        The run must exist (`RunNotFoundError`); its context must be a JSON object
        whose `steps`, if present, is one, and `context_updates` may not set `steps`
        (`InvalidInputError`); with `expected_revision`, `RevisionConflictError`
        if the run moved on. In every error case nothing is written.

        Safe to retry, as `upsert_step`: the step lands once, in its place, and the
        same context keys are set again. (If another writer changed the same step
        or keys in between, the retry puts your values back.) With
        `expected_revision`, a retry whose first attempt was applied raises
        `RevisionConflictError`: check the step with `get_step`.
        """

    # ── waits ─────────────────────────────────────────────────────────────

    @abc.abstractmethod
    async def find_wait(self, wait_task_id: str) -> tuple[str, WorkflowStepState] | None:
        """The run and the step that carry this `wait_task_id`, or None.

        Looks the step up through the index on `steps.wait_task_id`; only runs
        (not steps written before their run) are searched.
        """

    @abc.abstractmethod
    async def complete_wait(
        self,
        wait_task_id: str,
        result: JsonValue,
        *,
        status: TaskStatus = TaskStatus.COMPLETED,
        error: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[str, WorkflowStepState]:
        """Complete a waiting step, atomically, once.

        A compare-and-set: only a step still `input_required` is completed. Sets its
        `status`, `result`, `error` and `completed_at`, and `context.steps.<step_id>`
        as `commit_step` does, in one write. Returns `(run_task_id, step)` as
        written. Raises `WaitNotFoundError` if no run has this wait, and
        `WaitAlreadyCompletedError` (with the stored `step`) if it was completed
        already: of many concurrent completions exactly one succeeds. `status` may
        not be `input_required`.

        Retrying: pass an `idempotency_key` (say, the id of the request being
        answered). It is stored with the completion, and a later call with the same
        key on the completed wait returns the stored step instead of raising, so a
        caller that saw `DatabaseUnavailableError` can simply call again. Without a
        key, a retry whose first attempt was applied raises
        `WaitAlreadyCompletedError`; compare its `step` with what you sent.
        """

    # ── tenancy ───────────────────────────────────────────────────────────

    @abc.abstractmethod
    def scoped(self, user_id: str, workspace_id: str | None = None) -> WorkflowStore:
        """A view of this store for one tenant, with the same interface.

        Through it another tenant's runs do not exist: reads return None or empty,
        writes and deletes touch nothing and raise `RunNotFoundError`, `list_runs`
        and `find_wait` see only the tenant's runs, and `create_run` of a state of
        another tenant raises `InvalidInputError`. With `workspace_id` None the
        tenant is the user across all their workspaces. Steps written through the
        view before their run exists belong to the tenant. Unlike the unscoped
        store, `delete_run` of a run the tenant does not have raises.
        """


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


def check_revision(expected_revision: object) -> int | None:
    """Return `expected_revision` if it is None or a non-negative int."""
    if expected_revision is None:
        return None
    if type(expected_revision) is not int or expected_revision < 0:
        raise InvalidInputError(
            f"expected_revision must be a non-negative int or None, got {expected_revision!r}"
        )
    return expected_revision


def check_context_updates(run_task_id: str, updates: object) -> dict[str, Any]:
    """Return `updates` as a dict of top-level context keys to JSON values."""
    if updates is None:
        return {}
    if not isinstance(updates, Mapping):
        raise InvalidInputError(
            f"context_updates for run {run_task_id!r} must be a mapping, "
            f"not {type(updates).__name__}",
            run_task_id=run_task_id,
        )
    for key in updates:
        if not isinstance(key, str):
            raise InvalidInputError(
                f"context_updates for run {run_task_id!r} has a key {key!r} that is not a string",
                run_task_id=run_task_id,
            )
        if key == "steps":
            raise InvalidInputError(
                f"context_updates for run {run_task_id!r} may not set 'steps': step "
                "results are merged into context.steps by commit_step itself",
                run_task_id=run_task_id,
            )
    return dict(updates)


def check_completion(
    wait_task_id: str, status: object, error: object, idempotency_key: object
) -> TaskStatus:
    """Return the status a wait is completed with, if it and the rest are usable."""
    if idempotency_key is not None:
        check_id(idempotency_key, "idempotency_key")
    try:
        status = TaskStatus(status)
    except ValueError:
        raise InvalidInputError(
            f"cannot complete wait {wait_task_id!r} with unknown status {status!r}"
        ) from None
    if status is TaskStatus.INPUT_REQUIRED:
        raise InvalidInputError(
            f"cannot complete wait {wait_task_id!r} with status 'input_required'"
        )
    if error is not None and not isinstance(error, str):
        raise InvalidInputError(
            f"error for wait {wait_task_id!r} must be a string or None, not {type(error).__name__}"
        )
    return status


def check_offload_threshold(threshold: object) -> int | None:
    """Return `threshold` if it is None or an int of at least 1 KiB."""
    if threshold is not None and (type(threshold) is not int or threshold < 1024):
        raise InvalidInputError(
            f"offload_threshold must be None or an int of at least 1024, got {threshold!r}"
        )
    return threshold


def check_page_size(limit: object) -> int:
    """Return `limit` if it is an int from 1 to `MAX_PAGE_SIZE`."""
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"limit must be an int from 1 to {MAX_PAGE_SIZE}, got {limit!r}")
    return limit


def check_list_filters(**filters: object) -> dict[str, str]:
    """The `list_runs` filters that were given, each a usable id."""
    return {name: check_id(value, name) for name, value in filters.items() if value is not None}


@dataclass(frozen=True)
class Tenant:
    """Whose runs a scoped store sees: one user, optionally one workspace."""

    user_id: str
    workspace_id: str | None = None

    @classmethod
    def checked(cls, user_id: object, workspace_id: object) -> Tenant:
        """A tenant from arguments, or `InvalidInputError`."""
        user = check_id(user_id, "user_id")
        workspace = None if workspace_id is None else check_id(workspace_id, "workspace_id")
        return cls(user, workspace)

    def narrowed(self, user_id: object, workspace_id: object) -> Tenant:
        """This tenant scoped again: the same user, the same or a narrower workspace."""
        other = Tenant.checked(user_id, workspace_id)
        if other.user_id != self.user_id or (
            self.workspace_id is not None and other.workspace_id != self.workspace_id
        ):
            raise InvalidInputError(f"a store scoped to {self} cannot be scoped to {other}")
        return other

    def owns(self, user_id: object, workspace_id: object) -> bool:
        """True if a run with these ids belongs to this tenant."""
        return user_id == self.user_id and (
            self.workspace_id is None or workspace_id == self.workspace_id
        )

    def check_state(self, state: WorkflowExecutionState) -> None:
        """Refuse to create a run that belongs to another tenant."""
        if not self.owns(state.user_id, state.workspace_id):
            raise InvalidInputError(
                f"run {state.run_task_id!r} belongs to user {state.user_id!r} and "
                f"workspace {state.workspace_id!r}, not to this store's {self}",
                run_task_id=state.run_task_id,
            )

    def fields(self) -> dict[str, str]:
        """The tenant as document fields, for filters and for new documents."""
        fields = {"user_id": self.user_id}
        if self.workspace_id is not None:
            fields["workspace_id"] = self.workspace_id
        return fields

    def admits(self, filters: Mapping[str, str]) -> bool:
        """False if `list_runs` filters contradict the tenant (the page is empty)."""
        return all(filters.get(name, value) == value for name, value in self.fields().items())

    def __str__(self) -> str:
        if self.workspace_id is None:
            return f"tenant (user {self.user_id!r})"
        return f"tenant (user {self.user_id!r}, workspace {self.workspace_id!r})"


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MILLISECOND = timedelta(milliseconds=1)


def encode_cursor(created_at: datetime, run_task_id: str) -> str:
    """The opaque cursor of the page that starts after this run.

    Milliseconds since 1970 are computed in integers: a float timestamp is off by
    microseconds for dates far from 1970, and the next page would then repeat or
    skip runs.
    """
    millis = (created_at - _EPOCH) // _MILLISECOND
    raw = json.dumps([millis, run_task_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: object) -> tuple[datetime, str]:
    """`(created_at, run_task_id)` from a cursor made by `encode_cursor`."""
    try:
        if not isinstance(cursor, str):
            raise TypeError(type(cursor).__name__)
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        millis, run_task_id = json.loads(raw)
        if type(millis) is not int or not isinstance(run_task_id, str):
            raise ValueError("bad fields")
        created_at = _EPOCH + millis * _MILLISECOND
    except (TypeError, ValueError, binascii.Error, OverflowError, OSError):
        raise InvalidInputError(
            f"cursor {cursor!r:.60} is not a cursor returned by list_runs"
        ) from None
    return created_at, run_task_id
