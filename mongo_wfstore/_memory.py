"""`InMemoryWorkflowStore`: the reference implementation of `WorkflowStore`.

It keeps each run as the MongoDB store would, already encoded to BSON: the
run-level fields as one encoded document and each step as another, in
first-insertion order. So it checks and refuses exactly what the MongoDB store
does (unstorable values, runs past 16 MiB), every read returns fresh copies
that a caller can change freely, and values come back through the same decoder.
Writes that merge into the context work on the stored (encoded) form, as the
server's `$set` paths do.

For tests and single-process runners; nothing survives the process.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import bson
from pydantic import JsonValue

from ._encoding import (
    JSON_MARKER,
    SCHEMA_VERSION,
    UnstorableValue,
    closed_wait,
    commit_payload,
    completed_step_document,
    context_sets_for,
    decode_run,
    decode_step,
    document_size,
    encode_value,
    escape_key,
    run_fields,
    step_document,
)
from ._exceptions import (
    MAX_DOCUMENT_SIZE,
    InvalidInputError,
    PayloadTooLargeError,
    RevisionConflictError,
    RunNotFoundError,
    WaitNotFoundError,
)
from ._models import RunPage, TaskStatus, WorkflowExecutionState, WorkflowStepState, utc_now
from ._store import (
    Tenant,
    WorkflowStore,
    check_completion,
    check_context_updates,
    check_id,
    check_list_filters,
    check_page_size,
    check_revision,
    check_state,
    check_step,
    decode_cursor,
    encode_cursor,
)

__all__ = ["InMemoryWorkflowStore"]

_LISTED_FIELDS = ("agent_id", "thread_id", "user_id", "workspace_id", "created_at")


@dataclass
class _StoredRun:
    """One run as its MongoDB document would hold it, parts encoded to BSON."""

    run_task_id: str
    fields: bytes | None = None
    """The run-level fields; None while only steps were written (a stub)."""
    steps: dict[str, bytes] = field(default_factory=dict)
    revision: int = 0
    stub_fields: dict[str, Any] = field(default_factory=dict)
    """What a stub document holds besides steps: `updated_at`, a tenant's ids."""
    listed: dict[str, Any] = field(default_factory=dict)
    """The fields `list_runs` filters and sorts on, kept decoded."""

    @property
    def is_run(self) -> bool:
        return self.fields is not None

    def size(self, *, fields: bytes | None = None, steps: dict[str, bytes] | None = None) -> int:
        """The document's BSON size, or what it would be after a write of
        `fields` or `steps` (which also bumps the revision).
        """
        writing = fields is not None or steps is not None
        fields = self.fields if fields is None else fields
        steps = self.steps if steps is None else steps
        head: dict[str, Any] = {
            "_id": self.run_task_id,
            "schema_version": SCHEMA_VERSION,
            "revision": self.revision + writing,
        }
        if fields is None:
            return document_size({**head, **self.stub_fields}, list(steps.values()))
        return document_size(head, list(steps.values()), fields)


class InMemoryWorkflowStore(WorkflowStore):
    """A `WorkflowStore` in process memory, safe to share between tasks and threads.

    >>> store = InMemoryWorkflowStore()
    >>> await store.upsert_step("run-1", WorkflowStepState(step_id="fetch"))
    """

    def __init__(self) -> None:
        self._runs: dict[str, _StoredRun] = {}
        self._lock = threading.Lock()
        self._tenant: Tenant | None = None

    def scoped(self, user_id: str, workspace_id: str | None = None) -> InMemoryWorkflowStore:
        tenant = (
            Tenant.checked(user_id, workspace_id)
            if self._tenant is None
            else self._tenant.narrowed(user_id, workspace_id)
        )
        view = InMemoryWorkflowStore.__new__(InMemoryWorkflowStore)
        view._runs, view._lock, view._tenant = self._runs, self._lock, tenant
        return view

    # ── run-level ─────────────────────────────────────────────────────────

    async def create_run(self, state: WorkflowExecutionState) -> None:
        check_state(state)
        if self._tenant is not None:
            self._tenant.check_state(state)
        run_task_id = state.run_task_id
        fields = run_fields(state)
        encoded = bson.encode(fields)
        with self._lock:
            run = self._runs.get(run_task_id)
            if run is not None and not self._visible(run):
                raise RunNotFoundError(run_task_id)
            run = run or _StoredRun(run_task_id)
            self._check_size(run, run_task_id, None, len(encoded), fields=encoded)
            run.fields = encoded
            run.listed = {name: fields.get(name) for name in _LISTED_FIELDS}
            run.revision += 1
            self._runs[run_task_id] = run

    async def get_run(self, run_task_id: str) -> WorkflowExecutionState | None:
        check_id(run_task_id, "run_task_id")
        with self._lock:
            run = self._runs.get(run_task_id)
            if run is None or run.fields is None or not self._visible(run):
                return None
            fields, revision = run.fields, run.revision
        return decode_run(run_task_id, {**bson.decode(fields), "revision": revision})

    async def update_context(
        self,
        run_task_id: str,
        context: JsonValue,
        *,
        expected_revision: int | None = None,
    ) -> None:
        check_id(run_task_id, "run_task_id")
        check_revision(expected_revision)
        try:
            stored_context = encode_value(context)
        except UnstorableValue as exc:
            raise exc.to_input_error("context", run_task_id=run_task_id) from None
        with self._lock:
            run = self._writable_run(run_task_id, expected_revision)
            fields = bson.decode(run.fields or b"")
            fields["context"] = stored_context
            fields["updated_at"] = utc_now()
            encoded = bson.encode(fields)
            size = len(bson.encode({"context": stored_context}))
            self._check_size(run, run_task_id, None, size, fields=encoded)
            run.fields = encoded
            run.revision += 1

    async def delete_run(self, run_task_id: str) -> None:
        check_id(run_task_id, "run_task_id")
        with self._lock:
            run = self._runs.get(run_task_id)
            if run is not None and self._visible(run):
                del self._runs[run_task_id]
            elif self._tenant is not None:
                raise RunNotFoundError(run_task_id)

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
        filters = check_list_filters(
            agent_id=agent_id, thread_id=thread_id, user_id=user_id, workspace_id=workspace_id
        )
        check_page_size(limit)
        after = None if cursor is None else decode_cursor(cursor)
        if self._tenant is not None and not self._tenant.admits(filters):
            return RunPage(items=[])
        with self._lock:
            matching = [
                (run.listed["created_at"], run.run_task_id, run.fields, run.revision)
                for run in self._runs.values()
                if run.fields is not None
                and self._visible(run)
                and all(run.listed.get(name) == value for name, value in filters.items())
            ]
        matching.sort(key=lambda row: (row[0], row[1]), reverse=True)
        if after is not None:
            matching = [row for row in matching if (row[0], row[1]) < after]
        page = [
            decode_run(run_task_id, {**bson.decode(fields), "revision": revision})
            for _, run_task_id, fields, revision in matching[:limit]
        ]
        more = len(matching) > limit
        next_cursor = encode_cursor(page[-1].created_at, page[-1].run_task_id) if more else None
        return RunPage(items=page, next_cursor=next_cursor)

    # ── step-level ────────────────────────────────────────────────────────

    async def upsert_step(self, run_task_id: str, step: WorkflowStepState) -> None:
        check_id(run_task_id, "run_task_id")
        check_step(run_task_id, step)
        encoded = bson.encode(step_document(run_task_id, step))
        with self._lock:
            run = self._runs.get(run_task_id)
            if run is not None and not self._visible(run):
                raise RunNotFoundError(run_task_id)
            run = run or self._new_stub(run_task_id)
            steps = {**run.steps, step.step_id: encoded}
            self._check_size(run, run_task_id, step.step_id, len(encoded), steps=steps)
            run.steps = steps
            run.revision += 1
            self._runs[run_task_id] = run

    async def get_step(self, run_task_id: str, step_id: str) -> WorkflowStepState | None:
        check_id(run_task_id, "run_task_id")
        check_id(step_id, "step_id")
        with self._lock:
            run = self._runs.get(run_task_id)
            visible = run is not None and self._visible(run)
            encoded = run.steps.get(step_id) if run is not None and visible else None
        return None if encoded is None else decode_step(bson.decode(encoded))

    async def list_steps(self, run_task_id: str) -> list[WorkflowStepState]:
        check_id(run_task_id, "run_task_id")
        with self._lock:
            run = self._runs.get(run_task_id)
            encoded = list(run.steps.values()) if run is not None and self._visible(run) else []
        return [decode_step(bson.decode(step)) for step in encoded]

    async def commit_step(
        self,
        run_task_id: str,
        step: WorkflowStepState,
        *,
        context_updates: Mapping[str, JsonValue] | None = None,
        expected_revision: int | None = None,
    ) -> None:
        check_id(run_task_id, "run_task_id")
        check_step(run_task_id, step)
        check_revision(expected_revision)
        updates = check_context_updates(run_task_id, context_updates)
        doc = step_document(run_task_id, step)
        context_sets = context_sets_for(run_task_id, step.step_id, doc.get("result"), updates)
        encoded = bson.encode(doc)
        with self._lock:
            run = self._writable_run(run_task_id, expected_revision)
            fields = bson.decode(run.fields or b"")
            _merge_into_context(fields, run_task_id, context_sets)
            encoded_fields = bson.encode(fields)
            steps = {**run.steps, step.step_id: encoded}
            size = len(bson.encode(commit_payload(doc, context_sets)))
            self._check_size(
                run, run_task_id, step.step_id, size, fields=encoded_fields, steps=steps
            )
            run.fields, run.steps = encoded_fields, steps
            run.revision += 1

    # ── waits ─────────────────────────────────────────────────────────────

    async def find_wait(self, wait_task_id: str) -> tuple[str, WorkflowStepState] | None:
        check_id(wait_task_id, "wait_task_id")
        with self._lock:
            found = self._find_wait(wait_task_id)
        if found is None:
            return None
        run, stored = found
        return run.run_task_id, decode_step(stored)

    async def complete_wait(
        self,
        wait_task_id: str,
        result: JsonValue,
        *,
        status: TaskStatus = TaskStatus.COMPLETED,
        error: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[str, WorkflowStepState]:
        check_id(wait_task_id, "wait_task_id")
        status = check_completion(wait_task_id, status, error, idempotency_key)
        stored_result = _encode_result(wait_task_id, result)
        with self._lock:
            found = self._find_wait(wait_task_id)
            if found is None:
                raise WaitNotFoundError(wait_task_id)
            run, stored = found
            step_id = stored["step_id"]
            if stored.get("status") != TaskStatus.INPUT_REQUIRED.value:
                replayed = closed_wait(wait_task_id, run.run_task_id, stored, idempotency_key)
                return run.run_task_id, replayed
            completed = completed_step_document(
                stored, status, stored_result, error, idempotency_key
            )
            context_sets = {"steps": {escape_key(step_id): stored_result}}
            fields = bson.decode(run.fields or b"")
            _merge_into_context(fields, run.run_task_id, context_sets)
            encoded_fields = bson.encode(fields)
            encoded_step = bson.encode(completed)
            steps = {**run.steps, step_id: encoded_step}
            size = len(bson.encode(commit_payload(completed, context_sets)))
            self._check_size(
                run, run.run_task_id, step_id, size, fields=encoded_fields, steps=steps
            )
            run.fields, run.steps = encoded_fields, steps
            run.revision += 1
        return run.run_task_id, decode_step(bson.decode(encoded_step))

    # ── helpers ───────────────────────────────────────────────────────────

    def _visible(self, run: _StoredRun) -> bool:
        if self._tenant is None:
            return True
        if run.fields is not None:
            owner = (run.listed.get("user_id"), run.listed.get("workspace_id"))
        else:
            owner = (run.stub_fields.get("user_id"), run.stub_fields.get("workspace_id"))
        return self._tenant.owns(*owner)

    def _new_stub(self, run_task_id: str) -> _StoredRun:
        stub: dict[str, Any] = {"updated_at": utc_now()}
        if self._tenant is not None:
            stub.update(self._tenant.fields())
        return _StoredRun(run_task_id, stub_fields=stub)

    def _writable_run(self, run_task_id: str, expected_revision: int | None) -> _StoredRun:
        """The run a write needs; `RunNotFoundError` or `RevisionConflictError`."""
        run = self._runs.get(run_task_id)
        if run is None or run.fields is None or not self._visible(run):
            raise RunNotFoundError(run_task_id)
        if expected_revision is not None and run.revision != expected_revision:
            raise RevisionConflictError(
                run_task_id, expected=expected_revision, actual=run.revision
            )
        return run

    def _find_wait(self, wait_task_id: str) -> tuple[_StoredRun, dict[str, Any]] | None:
        for run in self._runs.values():
            if run.fields is None or not self._visible(run):
                continue
            for encoded in run.steps.values():
                stored = bson.decode(encoded)
                if stored.get("wait_task_id") == wait_task_id:
                    return run, stored
        return None

    @staticmethod
    def _check_size(
        run: _StoredRun,
        run_task_id: str,
        step_id: str | None,
        size: int,
        *,
        fields: bytes | None = None,
        steps: dict[str, bytes] | None = None,
    ) -> None:
        """Refuse a write that would make the run's document exceed 16 MiB."""
        if run.size(fields=fields, steps=steps) > MAX_DOCUMENT_SIZE:
            stored = run.size() if run.fields is not None or run.steps else None
            raise PayloadTooLargeError(run_task_id, step_id=step_id, size=size, run_size=stored)


def _encode_result(wait_task_id: str, result: Any) -> Any:
    try:
        return None if result is None else encode_value(result)
    except UnstorableValue as exc:
        raise exc.to_input_error("result", wait_task_id=wait_task_id) from None


def _is_object(stored: Any) -> TypeGuard[dict[str, Any]]:
    """True if `stored` is a JSON object, not a value stored as JSON text."""
    return isinstance(stored, dict) and JSON_MARKER not in stored


def _merge_into_context(fields: dict[str, Any], run_task_id: str, sets: dict[str, Any]) -> None:
    """Apply `$set` of `context.<key>` and `context.steps.<step>` to stored fields."""
    context = fields.get("context")
    if not _is_object(context) or not _is_object(context.get("steps", {})):
        raise InvalidInputError(
            f"cannot merge a step into the context of run {run_task_id!r}: the context "
            "must be a JSON object whose 'steps', if present, is an object",
            run_task_id=run_task_id,
        )
    for key, value in sets.items():
        if key == "steps":
            context.setdefault("steps", {}).update(value)
        else:
            context[key] = value
    fields["updated_at"] = utc_now()
