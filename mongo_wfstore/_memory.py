"""`InMemoryWorkflowStore`: the reference implementation of `WorkflowStore`.

It keeps each run as the MongoDB store would, already encoded to BSON: the
run-level fields as one encoded document and each step as another, in
first-insertion order. So it checks and refuses exactly what the MongoDB store
does (unstorable values, runs past 16 MiB), every read returns fresh copies
that a caller can change freely, and values come back through the same decoder.

For tests and single-process runners; nothing survives the process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import bson
from pydantic import JsonValue

from ._encoding import (
    SCHEMA_VERSION,
    UnstorableValue,
    decode_run,
    decode_step,
    document_size,
    encode_value,
    run_fields,
    step_document,
)
from ._exceptions import MAX_DOCUMENT_SIZE, PayloadTooLargeError, RunNotFoundError
from ._models import WorkflowExecutionState, WorkflowStepState, utc_now
from ._store import WorkflowStore, check_id, check_state, check_step

__all__ = ["InMemoryWorkflowStore"]


@dataclass
class _StoredRun:
    """One run as its MongoDB document would hold it, parts encoded to BSON."""

    run_task_id: str
    fields: bytes | None = None
    """The run-level fields; None while only steps were written (a stub)."""
    steps: dict[str, bytes] = field(default_factory=dict)
    revision: int = 0
    stub_updated_at: datetime = field(default_factory=utc_now)

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
            head["updated_at"] = self.stub_updated_at
            return document_size(head, list(steps.values()))
        return document_size(head, list(steps.values()), fields)


class InMemoryWorkflowStore(WorkflowStore):
    """A `WorkflowStore` in process memory, safe to share between tasks and threads.

    >>> store = InMemoryWorkflowStore()
    >>> await store.upsert_step("run-1", WorkflowStepState(step_id="fetch"))
    """

    def __init__(self) -> None:
        self._runs: dict[str, _StoredRun] = {}
        self._lock = threading.Lock()

    # ── run-level ─────────────────────────────────────────────────────────

    async def create_run(self, state: WorkflowExecutionState) -> None:
        check_state(state)
        run_task_id = state.run_task_id
        encoded = bson.encode(run_fields(state))
        with self._lock:
            run = self._runs.get(run_task_id) or _StoredRun(run_task_id)
            self._check_size(run, run_task_id, None, len(encoded), fields=encoded)
            run.fields = encoded
            run.revision += 1
            self._runs[run_task_id] = run

    async def get_run(self, run_task_id: str) -> WorkflowExecutionState | None:
        check_id(run_task_id, "run_task_id")
        with self._lock:
            run = self._runs.get(run_task_id)
            fields = None if run is None else run.fields
        if fields is None:
            return None
        return decode_run(run_task_id, bson.decode(fields))

    async def update_context(self, run_task_id: str, context: JsonValue) -> None:
        check_id(run_task_id, "run_task_id")
        try:
            stored_context = encode_value(context)
        except UnstorableValue as exc:
            raise exc.to_input_error("context", run_task_id=run_task_id) from None
        with self._lock:
            run = self._runs.get(run_task_id)
            if run is None or run.fields is None:
                raise RunNotFoundError(run_task_id)
            fields = bson.decode(run.fields)
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
            self._runs.pop(run_task_id, None)

    # ── step-level ────────────────────────────────────────────────────────

    async def upsert_step(self, run_task_id: str, step: WorkflowStepState) -> None:
        check_id(run_task_id, "run_task_id")
        check_step(run_task_id, step)
        encoded = bson.encode(step_document(run_task_id, step))
        with self._lock:
            run = self._runs.get(run_task_id) or _StoredRun(run_task_id)
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
            encoded = None if run is None else run.steps.get(step_id)
        return None if encoded is None else decode_step(bson.decode(encoded))

    async def list_steps(self, run_task_id: str) -> list[WorkflowStepState]:
        check_id(run_task_id, "run_task_id")
        with self._lock:
            run = self._runs.get(run_task_id)
            encoded = [] if run is None else list(run.steps.values())
        return [decode_step(bson.decode(step)) for step in encoded]

    # ── helpers ───────────────────────────────────────────────────────────

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
