"""`InMemoryWorkflowStore`: the reference implementation of `WorkflowStore`.

It keeps each run as the MongoDB store would, already encoded to BSON: the
run-level fields as one encoded document and each step as another, in
first-insertion order, values past the offload threshold in a blob store with a
registry of them. So it checks and refuses exactly what the MongoDB store does
(unstorable values, documents past 16 MiB, computed on the same layout), every
read returns fresh copies that a caller can change freely, and values come back
through the same decoder. Writes that merge into the context work on the stored
(encoded) form, as the server's `$set` paths do.

For tests and single-process runners; nothing survives the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import bson
from pydantic import JsonValue

from ._blobs import MemoryBlobStore, NothingWritten, grace_cutoff, nothing_written
from ._encoding import (
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
from ._offload import (
    DEFAULT_OFFLOAD_THRESHOLD,
    Offloader,
    WritePlan,
    apply_changes,
    context_step_path,
    is_marker,
    registry_ids,
    resolve_blobs,
    results_path,
)
from ._store import (
    Tenant,
    WorkflowStore,
    check_completion,
    check_context_updates,
    check_id,
    check_list_filters,
    check_offload_threshold,
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
    updated_at: datetime
    fields: bytes | None = None
    """The run-level fields but `updated_at`; None while only steps were written."""
    steps: dict[str, bytes] = field(default_factory=dict)
    revision: int = 0
    owner: dict[str, str] = field(default_factory=dict)
    """The tenant ids a step-only document was created with."""
    registry: dict[str, Any] | None = None
    """The `blobs` field: every blob the document references."""
    listed: dict[str, Any] = field(default_factory=dict)
    """The fields `list_runs` filters and sorts on, kept decoded."""

    def size(
        self,
        *,
        fields: bytes | None = None,
        steps: dict[str, bytes] | None = None,
        registry: dict[str, Any] | None = None,
    ) -> int:
        """The document's BSON size, or what it would be after a write of these
        parts (which also bumps the revision).
        """
        writing = fields is not None or steps is not None
        fields = self.fields if fields is None else fields
        steps = self.steps if steps is None else steps
        registry = self.registry if registry is None else registry
        head: dict[str, Any] = {
            "_id": self.run_task_id,
            "schema_version": SCHEMA_VERSION,
            "revision": self.revision + writing,
            "updated_at": self.updated_at,
        }
        if registry is not None:
            head["blobs"] = registry
        if fields is None:
            return document_size({**head, **self.owner}, list(steps.values()))
        return document_size(head, list(steps.values()), fields)

    def stored_fields(self) -> dict[str, Any]:
        """The run-level fields as stored (blob references unresolved)."""
        return {**bson.decode(self.fields or b""), "updated_at": self.updated_at}


class InMemoryWorkflowStore(WorkflowStore):
    """A `WorkflowStore` in process memory, safe to share between tasks and threads.

    `offload_threshold` works as `MongoWorkflowStore`'s: values whose BSON is
    larger are kept in a blob store beside the run (default 1 MiB; None never).

    >>> store = InMemoryWorkflowStore()
    >>> await store.upsert_step("run-1", WorkflowStepState(step_id="fetch"))
    """

    def __init__(self, *, offload_threshold: int | None = DEFAULT_OFFLOAD_THRESHOLD) -> None:
        self._offloader = Offloader(check_offload_threshold(offload_threshold))
        self._runs: dict[str, _StoredRun] = {}
        self._lock = threading.Lock()
        self._tenant: Tenant | None = None
        self.blobs = MemoryBlobStore()
        """The blobs of offloaded values."""

    @property
    def offload_threshold(self) -> int | None:
        """Values whose BSON is larger than this go to the blob store; None: never."""
        return self._offloader.threshold

    def scoped(self, user_id: str, workspace_id: str | None = None) -> InMemoryWorkflowStore:
        tenant = (
            Tenant.checked(user_id, workspace_id)
            if self._tenant is None
            else self._tenant.narrowed(user_id, workspace_id)
        )
        view = InMemoryWorkflowStore.__new__(InMemoryWorkflowStore)
        view.__dict__.update(self.__dict__)
        view._tenant = tenant
        return view

    # ── run-level ─────────────────────────────────────────────────────────

    async def create_run(self, state: WorkflowExecutionState) -> None:
        check_state(state)
        if self._tenant is not None:
            self._tenant.check_state(state)
        run_task_id = state.run_task_id
        fields = run_fields(state)
        plan = WritePlan(run_task_id)
        fields["input"] = self._offloader.slot(plan, "blobs.input", fields["input"])
        fields["context"] = self._offloader.context(plan, fields["context"])
        updated_at = fields.pop("updated_at")
        encoded = bson.encode(fields)

        def apply() -> dict[str, Any] | None:
            run = self._runs.get(run_task_id)
            if run is not None and not self._visible(run):
                raise RunNotFoundError(run_task_id)
            run = run or _StoredRun(run_task_id, updated_at)
            registry = self._check_size(run, run_task_id, None, len(encoded), plan, fields=encoded)
            before = run.registry
            run.fields, run.updated_at, run.registry = encoded, updated_at, registry
            run.listed = {name: fields.get(name) for name in _LISTED_FIELDS}
            run.listed["created_at"] = state.created_at
            run.revision += 1
            self._runs[run_task_id] = run
            return before

        await self._write(plan, apply)

    async def get_run(self, run_task_id: str) -> WorkflowExecutionState | None:
        check_id(run_task_id, "run_task_id")
        with self._lock:
            run = self._runs.get(run_task_id)
            if run is None or run.fields is None or not self._visible(run):
                return None
            doc = {**run.stored_fields(), "revision": run.revision}
        await resolve_blobs([doc], self.blobs)
        return decode_run(run_task_id, doc)

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
        plan = WritePlan(run_task_id)
        stored_context = self._offloader.context(plan, stored_context)

        def apply() -> dict[str, Any] | None:
            run = self._writable_run(run_task_id, expected_revision)
            fields = bson.decode(run.fields or b"")
            fields["context"] = stored_context
            encoded = bson.encode(fields)
            size = len(bson.encode({"context": stored_context}))
            registry = self._check_size(run, run_task_id, None, size, plan, fields=encoded)
            return self._commit(run, plan, registry, fields=encoded)

        await self._write(plan, apply)

    async def delete_run(self, run_task_id: str) -> None:
        check_id(run_task_id, "run_task_id")
        with self._lock:
            run = self._runs.get(run_task_id)
            if run is None or not self._visible(run):
                if self._tenant is not None:
                    raise RunNotFoundError(run_task_id)
                return
            del self._runs[run_task_id]
        await self.blobs.delete_quietly(registry_ids(run.registry))

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
                (run.listed["created_at"], run.run_task_id, run)
                for run in self._runs.values()
                if run.fields is not None
                and self._visible(run)
                and all(run.listed.get(name) == value for name, value in filters.items())
            ]
            matching.sort(key=lambda row: (row[0], row[1]), reverse=True)
            if after is not None:
                matching = [row for row in matching if (row[0], row[1]) < after]
            docs = [
                {**run.stored_fields(), "revision": run.revision} for _, _, run in matching[:limit]
            ]
        await resolve_blobs(docs, self.blobs)
        page = [
            decode_run(run_task_id, doc)
            for (_, run_task_id, _), doc in zip(matching[:limit], docs, strict=True)
        ]
        more = len(matching) > limit
        next_cursor = encode_cursor(page[-1].created_at, page[-1].run_task_id) if more else None
        return RunPage(items=page, next_cursor=next_cursor)

    # ── step-level ────────────────────────────────────────────────────────

    async def upsert_step(self, run_task_id: str, step: WorkflowStepState) -> None:
        check_id(run_task_id, "run_task_id")
        check_step(run_task_id, step)
        doc = step_document(run_task_id, step)
        plan = WritePlan(run_task_id)
        self._offloader.step_result(plan, doc, [results_path(step.step_id)])
        encoded = bson.encode(doc)

        def apply() -> dict[str, Any] | None:
            run = self._runs.get(run_task_id)
            if run is not None and not self._visible(run):
                raise RunNotFoundError(run_task_id)
            if run is None:
                run = _StoredRun(run_task_id, utc_now())
                run.owner = self._tenant.fields() if self._tenant is not None else {}
                self._runs[run_task_id] = run
            steps = {**run.steps, step.step_id: encoded}
            try:
                registry = self._check_size(
                    run, run_task_id, step.step_id, len(encoded), plan, steps=steps
                )
            except PayloadTooLargeError:
                if not run.steps and run.fields is None and run.revision == 0:
                    del self._runs[run_task_id]  # nothing was written: no document either
                raise
            return self._commit(run, plan, registry, steps=steps)

        await self._write(plan, apply)

    async def get_step(self, run_task_id: str, step_id: str) -> WorkflowStepState | None:
        check_id(run_task_id, "run_task_id")
        check_id(step_id, "step_id")
        with self._lock:
            run = self._runs.get(run_task_id)
            visible = run is not None and self._visible(run)
            encoded = run.steps.get(step_id) if run is not None and visible else None
        if encoded is None:
            return None
        return (await self._decode_steps([encoded]))[0]

    async def list_steps(self, run_task_id: str) -> list[WorkflowStepState]:
        check_id(run_task_id, "run_task_id")
        with self._lock:
            run = self._runs.get(run_task_id)
            encoded = list(run.steps.values()) if run is not None and self._visible(run) else []
        return await self._decode_steps(encoded)

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
        step_id = step.step_id
        doc = step_document(run_task_id, step)
        context_sets = context_sets_for(run_task_id, step_id, doc.get("result"), updates)
        plan = WritePlan(run_task_id)
        self._offloader.commit(plan, step_id, doc, context_sets)
        payload_size = len(bson.encode(commit_payload(doc, context_sets)))
        encoded = bson.encode(doc)

        def apply() -> dict[str, Any] | None:
            run = self._writable_run(run_task_id, expected_revision)
            return self._commit_step(run, plan, step_id, encoded, context_sets, payload_size)

        await self._write(plan, apply)

    # ── waits ─────────────────────────────────────────────────────────────

    async def find_wait(self, wait_task_id: str) -> tuple[str, WorkflowStepState] | None:
        check_id(wait_task_id, "wait_task_id")
        with self._lock:
            found = self._find_wait(wait_task_id)
        if found is None:
            return None
        run, stored = found
        return run.run_task_id, (await self._decode_steps([bson.encode(stored)]))[0]

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
        try:
            stored_result = None if result is None else encode_value(result)
        except UnstorableValue as exc:
            raise exc.to_input_error("result", wait_task_id=wait_task_id) from None
        with self._lock:
            found = self._find_wait(wait_task_id)
        if found is None:
            raise WaitNotFoundError(wait_task_id)
        run, stored = found
        run_task_id, step_id = run.run_task_id, stored["step_id"]
        if stored.get("status") != TaskStatus.INPUT_REQUIRED.value:
            return run_task_id, closed_wait(wait_task_id, run_task_id, stored, idempotency_key)
        completed = completed_step_document(stored, status, stored_result, error, idempotency_key)
        written = dict(completed)
        plan = WritePlan(run_task_id)
        in_context = self._offloader.step_result(
            plan, written, [results_path(step_id), context_step_path(step_id)]
        )
        context_sets = {"steps": {escape_key(step_id): in_context}}
        payload_size = len(bson.encode(commit_payload(written, context_sets)))
        encoded = bson.encode(written)

        def apply() -> dict[str, Any] | None:
            current = self._find_wait(wait_task_id)
            if current is None or current[0] is not run or current[1] != stored:
                raise _Changed()
            return self._commit_step(run, plan, step_id, encoded, context_sets, payload_size)

        try:
            await self._write(plan, apply)
        except _Changed:  # a concurrent writer got there first: look again
            return await self.complete_wait(
                wait_task_id,
                result,
                status=status,
                error=error,
                idempotency_key=idempotency_key,
            )
        return run_task_id, decode_step(bson.decode(bson.encode(completed)))

    # ── maintenance ───────────────────────────────────────────────────────

    async def sweep_blobs(
        self, *, grace: timedelta = timedelta(hours=1), dry_run: bool = False
    ) -> int:
        """Delete blobs no run references any more (see `MongoWorkflowStore`)."""
        candidates = await self.blobs.candidates(grace_cutoff(grace))
        with self._lock:
            referenced = set().union(*(registry_ids(run.registry) for run in self._runs.values()))
        doomed = [blob for blobs in candidates.values() for blob in blobs if blob not in referenced]
        if not dry_run:
            await self.blobs.delete(doomed)
        return len(doomed)

    # ── helpers ───────────────────────────────────────────────────────────

    async def _write(self, plan: WritePlan, apply: Callable[[], dict[str, Any] | None]) -> None:
        """Store the plan's blobs, apply the write under the lock, then delete the
        blobs it replaced; if it fails, delete the blobs it stored instead.
        """
        await self.blobs.put(plan.blobs)
        try:
            with self._lock:
                before = apply()
        except BaseException as exc:
            if nothing_written(exc):
                await self.blobs.delete_quietly(plan.new_ids())
            raise
        await self.blobs.delete_quietly(plan.replaced(before))

    def _commit_step(
        self,
        run: _StoredRun,
        plan: WritePlan,
        step_id: str,
        encoded_step: bytes,
        context_sets: dict[str, Any],
        payload_size: int,
    ) -> dict[str, Any] | None:
        """Write a step and merge it into the context, as one checked write."""
        fields = bson.decode(run.fields or b"")
        _merge_into_context(fields, run.run_task_id, context_sets)
        encoded_fields = bson.encode(fields)
        steps = {**run.steps, step_id: encoded_step}
        registry = self._check_size(
            run, run.run_task_id, step_id, payload_size, plan, fields=encoded_fields, steps=steps
        )
        return self._commit(run, plan, registry, fields=encoded_fields, steps=steps)

    def _commit(
        self,
        run: _StoredRun,
        plan: WritePlan,
        registry: dict[str, Any] | None,
        *,
        fields: bytes | None = None,
        steps: dict[str, bytes] | None = None,
    ) -> dict[str, Any] | None:
        """Apply a checked write to `run`; returns the registry as it was before."""
        before = run.registry
        if fields is not None:
            run.fields = fields
        if steps is not None:
            run.steps = steps
        run.registry = registry
        run.updated_at = utc_now()
        run.revision += 1
        return before

    async def _decode_steps(self, encoded: list[bytes]) -> list[WorkflowStepState]:
        doc = {"steps": [bson.decode(step) for step in encoded]}
        await resolve_blobs([doc], self.blobs)
        return [decode_step(step) for step in doc["steps"]]

    def _visible(self, run: _StoredRun) -> bool:
        if self._tenant is None:
            return True
        owner = run.listed if run.fields is not None else run.owner
        return self._tenant.owns(owner.get("user_id"), owner.get("workspace_id"))

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
        plan: WritePlan,
        *,
        fields: bytes | None = None,
        steps: dict[str, bytes] | None = None,
    ) -> dict[str, Any] | None:
        """Refuse a write that would make the run's document exceed 16 MiB;
        returns the blob registry the write leaves.
        """
        registry = run.registry
        if registry is not None or plan.sets:
            registry = apply_changes(registry, plan.sets, plan.unsets)
        if run.size(fields=fields, steps=steps, registry=registry) > MAX_DOCUMENT_SIZE:
            stored = run.size() if run.fields is not None or run.steps else None
            raise PayloadTooLargeError(run_task_id, step_id=step_id, size=size, run_size=stored)
        return registry


class _Changed(NothingWritten):
    """The waiting step changed between the lookup and the write."""


def _merge_into_context(fields: dict[str, Any], run_task_id: str, sets: dict[str, Any]) -> None:
    """Apply `$set` of `context.<key>` and `context.steps.<step>` to stored fields."""
    context = fields.get("context")
    if (
        not isinstance(context, dict)
        or is_marker(context)
        or not isinstance(context.get("steps", {}), dict)
        or is_marker(context.get("steps"))
    ):
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
