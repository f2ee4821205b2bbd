"""The two designs the benchmark compares `MongoWorkflowStore` with.

Both implement the reference operations (`EngineStore`: what an engine calls per
run, the `WorkflowStore` operations of the reference trait) with the same semantics as
`InMemoryWorkflowStore` (create-or-resume keeps steps, steps before the run,
first-insertion order, cascade delete), check their arguments the same way and
store values through the library's encoding (`_encoding`), so the three designs
hold the same data. They are honest versions of what other designs do, with no
deliberate handicap; they are not part of the library's API.

- `ReadModifyWriteStore`: the same one-document-per-run layout as this store,
  written the way an ODM with optimistic locking writes it: read the document,
  change it in Python, `replace_one({_id, revision: n}, doc with revision n+1)`,
  and on a conflict read again and retry (bounded, then `ContentionError`). Its
  reads project exactly as this store's do, so only the writes differ.
- `TwoCollectionStore`: relational style. One document per run in `runs`, one
  document per step in `steps`, keyed by a unique index on
  `(run_task_id, step_id)`; first-insertion order is an `order` field taken from
  a per-run counter (`$inc` on the run document, as a SERIAL column would be),
  and `list_steps` is a `find` sorted by `(run_task_id, order)` on its index.

Each keeps `conflicts` (writes refused because another writer got there first),
`retries` and `gave_up` counters for the benchmark.

`embedded_document` and `prefill` build a run with many steps directly in each
layout, so the benchmark can measure a run of 1,000 steps without writing it
step by step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import bson
from pydantic import JsonValue
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from .._driver import DRIVER_ERRORS, is_too_large, translate_error
from .._encoding import (
    OPTIONAL_RUN_FIELDS,
    SCHEMA_VERSION,
    UnstorableValue,
    decode_run,
    decode_step,
    encode_value,
    run_fields,
    step_document,
)
from .._exceptions import ContentionError, PayloadTooLargeError, RunNotFoundError
from .._models import WorkflowExecutionState, WorkflowStepState, utc_now
from .._store import check_id, check_state, check_step

__all__ = [
    "OPTIONAL_STEP_FIELDS",
    "EngineStore",
    "ReadModifyWriteStore",
    "TwoCollectionStore",
    "embedded_document",
]

OPTIONAL_STEP_FIELDS = ("result", "error", "started_at", "completed_at", "wait_task_id")
"""Step fields left out of the stored step when None."""

RUN_EXISTS: dict[str, Any] = {"created_at": {"$exists": True}}


def embedded_document(
    state: WorkflowExecutionState | None,
    run_task_id: str,
    steps: Sequence[WorkflowStepState],
    *,
    revision: int = 1,
) -> dict[str, Any]:
    """The run document of this store's layout (shared by `ReadModifyWriteStore`).

    With `state` None the document is a step-only stub, as `upsert_step` writes
    before `create_run`.
    """
    doc: dict[str, Any] = {"_id": run_task_id, "schema_version": SCHEMA_VERSION}
    doc["revision"] = revision
    if state is None:
        doc["updated_at"] = utc_now()
    else:
        doc.update(run_fields(state))
    doc["steps"] = [step_document(run_task_id, step) for step in steps]
    return doc


async def _call(command: Any, doing: str) -> Any:
    try:
        return await command
    except DRIVER_ERRORS as exc:
        raise translate_error(exc, doing) from exc


# ── read-modify-write with optimistic locking ─────────────────────────────


class EngineStore(Protocol):
    """The operations of the reference store, which the workload drives."""

    async def create_run(self, state: WorkflowExecutionState) -> None: ...

    async def get_run(self, run_task_id: str) -> WorkflowExecutionState | None: ...

    async def update_context(self, run_task_id: str, context: JsonValue) -> None: ...

    async def delete_run(self, run_task_id: str) -> None: ...

    async def upsert_step(self, run_task_id: str, step: WorkflowStepState) -> None: ...

    async def get_step(self, run_task_id: str, step_id: str) -> WorkflowStepState | None: ...

    async def list_steps(self, run_task_id: str) -> list[WorkflowStepState]: ...


class ReadModifyWriteStore:
    """One document per run, every write a read, a change in Python and a
    revision-checked `replace_one`, retried on conflict.
    """

    def __init__(self, collection: Any, *, max_attempts: int = 50) -> None:
        self._collection = collection
        self.max_attempts = max_attempts
        self.conflicts = 0
        self.retries = 0
        self.gave_up = 0

    async def setup(self) -> None:
        """Nothing to create: `_id` is the only index it needs."""

    async def prefill(
        self, state: WorkflowExecutionState | None, run_task_id: str, steps: list[Any]
    ) -> None:
        """Store a run with `steps` in one insert (benchmark setup)."""
        await self._collection.insert_one(embedded_document(state, run_task_id, steps))

    # ── writes ────────────────────────────────────────────────────────────

    async def _write(
        self,
        run_task_id: str,
        step_id: str | None,
        change: Any,
        *,
        need_run: bool = False,
        payload_size: int = 0,
    ) -> None:
        """Read the document, let `change(doc)` edit it in place (doc is None if
        there is none: return the new document), and write it back only if no
        one else wrote it in between; retry on conflict.
        """
        what = f"step {step_id!r} of run {run_task_id!r}" if step_id else f"run {run_task_id!r}"
        for attempt in range(self.max_attempts):
            if attempt:
                self.retries += 1
            query: dict[str, Any] = {"_id": run_task_id}
            doc = await _call(self._collection.find_one(query), f"reading {what}")
            if need_run and (doc is None or "created_at" not in doc):
                raise RunNotFoundError(run_task_id)
            try:
                if doc is None:
                    new = change(None)
                    new["revision"] = 1
                    await self._collection.insert_one(new)
                    return
                revision = doc.get("revision", 0)
                change(doc)
                doc["revision"] = revision + 1
                result = await self._collection.replace_one(
                    {"_id": run_task_id, "revision": revision}, doc
                )
            except DuplicateKeyError:
                self.conflicts += 1  # another writer created the document first
                continue
            except DRIVER_ERRORS as exc:
                if is_too_large(exc):
                    size = len(bson.encode(doc or {}))
                    raise PayloadTooLargeError(
                        run_task_id, step_id=step_id, size=payload_size, run_size=size
                    ) from exc
                raise translate_error(exc, f"writing {what}") from exc
            if result.matched_count:
                return
            self.conflicts += 1  # the revision moved on: someone else wrote
        self.gave_up += 1
        raise ContentionError(run_task_id, step_id, self.max_attempts)

    async def create_run(self, state: WorkflowExecutionState) -> None:
        check_state(state)
        fields = run_fields(state)

        def change(doc: dict[str, Any] | None) -> dict[str, Any]:
            if doc is None:
                return {"_id": state.run_task_id, "schema_version": SCHEMA_VERSION, **fields}
            for name in OPTIONAL_RUN_FIELDS:
                doc.pop(name, None)
            doc["schema_version"] = SCHEMA_VERSION
            doc.update(fields)
            doc.setdefault("steps", [])
            return doc

        await self._write(state.run_task_id, None, change)

    async def update_context(self, run_task_id: str, context: JsonValue) -> None:
        check_id(run_task_id, "run_task_id")
        try:
            stored = encode_value(context)
        except UnstorableValue as exc:
            raise exc.to_input_error("context", run_task_id=run_task_id) from None

        def change(doc: dict[str, Any] | None) -> dict[str, Any]:
            assert doc is not None  # need_run
            doc["context"] = stored
            doc["updated_at"] = utc_now()
            return doc

        await self._write(run_task_id, None, change, need_run=True)

    async def delete_run(self, run_task_id: str) -> None:
        check_id(run_task_id, "run_task_id")
        await _call(
            self._collection.delete_one({"_id": run_task_id}), f"deleting run {run_task_id!r}"
        )

    async def upsert_step(self, run_task_id: str, step: WorkflowStepState) -> None:
        check_id(run_task_id, "run_task_id")
        check_step(run_task_id, step)
        stored = step_document(run_task_id, step)

        def change(doc: dict[str, Any] | None) -> dict[str, Any]:
            if doc is None:
                return {
                    "_id": run_task_id,
                    "schema_version": SCHEMA_VERSION,
                    "updated_at": utc_now(),
                    "steps": [stored],
                }
            steps = doc.setdefault("steps", [])
            for position, existing in enumerate(steps):
                if existing.get("step_id") == step.step_id:
                    steps[position] = stored
                    break
            else:
                steps.append(stored)
            return doc

        await self._write(run_task_id, step.step_id, change)

    # ── reads: projected exactly as `MongoWorkflowStore` projects them ────

    async def get_run(self, run_task_id: str) -> WorkflowExecutionState | None:
        check_id(run_task_id, "run_task_id")
        doc = await _call(
            self._collection.find_one({"_id": run_task_id, **RUN_EXISTS}, {"steps": 0}),
            f"reading run {run_task_id!r}",
        )
        return None if doc is None else decode_run(run_task_id, doc)

    async def get_step(self, run_task_id: str, step_id: str) -> WorkflowStepState | None:
        check_id(run_task_id, "run_task_id")
        check_id(step_id, "step_id")
        doc = await _call(
            self._collection.find_one(
                {"_id": run_task_id}, {"_id": 0, "steps": {"$elemMatch": {"step_id": step_id}}}
            ),
            f"reading step {step_id!r} of run {run_task_id!r}",
        )
        steps = (doc or {}).get("steps") or []
        return decode_step(steps[0]) if steps else None

    async def list_steps(self, run_task_id: str) -> list[WorkflowStepState]:
        check_id(run_task_id, "run_task_id")
        doc = await _call(
            self._collection.find_one({"_id": run_task_id}, {"_id": 0, "steps": 1}),
            f"listing steps of run {run_task_id!r}",
        )
        return [decode_step(step) for step in (doc or {}).get("steps") or []]


# ── two collections: runs and steps ───────────────────────────────────────


_STEP_PROJECTION: dict[str, Any] = {"_id": 0, "run_task_id": 0, "order": 0}


class TwoCollectionStore:
    """One document per run and one per step, in two collections."""

    def __init__(self, runs: Any, steps: Any, *, max_attempts: int = 5) -> None:
        self._runs = runs
        self._steps = steps
        self.max_attempts = max_attempts
        self.conflicts = 0
        self.retries = 0
        self.gave_up = 0

    async def setup(self) -> None:
        """Create the unique step key and the index `list_steps` sorts on."""
        await self._steps.create_index(
            [("run_task_id", ASCENDING), ("step_id", ASCENDING)], unique=True
        )
        await self._steps.create_index([("run_task_id", ASCENDING), ("order", ASCENDING)])

    async def prefill(
        self, state: WorkflowExecutionState | None, run_task_id: str, steps: list[Any]
    ) -> None:
        """Store a run with `steps` in two inserts (benchmark setup)."""
        run: dict[str, Any] = {"_id": run_task_id, "schema_version": SCHEMA_VERSION}
        if state is None:
            run["updated_at"] = utc_now()
        else:
            run.update(run_fields(state))
        run["next_order"] = len(steps)
        await self._runs.insert_one(run)
        if steps:
            await self._steps.insert_many(
                [
                    self._step_row(run_task_id, step, order)
                    for order, step in enumerate(steps, start=1)
                ]
            )

    @staticmethod
    def _step_row(run_task_id: str, step: WorkflowStepState, order: int) -> dict[str, Any]:
        return {"run_task_id": run_task_id, **step_document(run_task_id, step), "order": order}

    # ── run-level ─────────────────────────────────────────────────────────

    async def create_run(self, state: WorkflowExecutionState) -> None:
        check_state(state)
        run_task_id = state.run_task_id
        fields = run_fields(state)
        update: dict[str, Any] = {
            "$set": {"schema_version": SCHEMA_VERSION, **fields},
            "$setOnInsert": {"next_order": 0},
        }
        unset = {name: "" for name in OPTIONAL_RUN_FIELDS if name not in fields}
        if unset:
            update["$unset"] = unset
        for attempt in range(self.max_attempts):
            if attempt:
                self.retries += 1
            try:
                await self._runs.update_one({"_id": run_task_id}, update, upsert=True)
                return
            except DuplicateKeyError:
                self.conflicts += 1  # two upserts raced to insert the run
            except DRIVER_ERRORS as exc:
                raise translate_error(exc, f"writing run {run_task_id!r}") from exc
        self.gave_up += 1
        raise ContentionError(run_task_id, None, self.max_attempts)

    async def get_run(self, run_task_id: str) -> WorkflowExecutionState | None:
        check_id(run_task_id, "run_task_id")
        doc = await _call(
            self._runs.find_one({"_id": run_task_id, **RUN_EXISTS}, {"next_order": 0}),
            f"reading run {run_task_id!r}",
        )
        return None if doc is None else decode_run(run_task_id, doc)

    async def update_context(self, run_task_id: str, context: JsonValue) -> None:
        check_id(run_task_id, "run_task_id")
        try:
            stored = encode_value(context)
        except UnstorableValue as exc:
            raise exc.to_input_error("context", run_task_id=run_task_id) from None
        result = await _call(
            self._runs.update_one(
                {"_id": run_task_id, **RUN_EXISTS},
                {"$set": {"context": stored, "updated_at": utc_now()}},
            ),
            f"writing run {run_task_id!r}",
        )
        if result.matched_count == 0:
            raise RunNotFoundError(run_task_id)

    async def delete_run(self, run_task_id: str) -> None:
        """Delete the run, then its steps (two commands, not one atomic write)."""
        check_id(run_task_id, "run_task_id")
        doing = f"deleting run {run_task_id!r}"
        await _call(self._runs.delete_one({"_id": run_task_id}), doing)
        await _call(self._steps.delete_many({"run_task_id": run_task_id}), doing)

    # ── step-level ────────────────────────────────────────────────────────

    async def upsert_step(self, run_task_id: str, step: WorkflowStepState) -> None:
        """Update the step's row; if there is none, take the next order number
        from the run's counter and insert it (3 commands).
        """
        check_id(run_task_id, "run_task_id")
        check_step(run_task_id, step)
        step_id = step.step_id
        doc = step_document(run_task_id, step)
        fields = {name: value for name, value in doc.items() if name != "step_id"}
        update: dict[str, Any] = {"$set": fields}
        unset = {name: "" for name in OPTIONAL_STEP_FIELDS if name not in fields}
        if unset:
            update["$unset"] = unset
        key = {"run_task_id": run_task_id, "step_id": step_id}
        doing = f"writing step {step_id!r} of run {run_task_id!r}"
        for attempt in range(self.max_attempts):
            if attempt:
                self.retries += 1
            result = await _call(self._steps.update_one(key, update), doing)
            if result.matched_count:
                return
            counter = await _call(
                self._runs.find_one_and_update(
                    {"_id": run_task_id},
                    {
                        "$inc": {"next_order": 1},
                        "$setOnInsert": {"schema_version": SCHEMA_VERSION, "updated_at": utc_now()},
                    },
                    {"_id": 0, "next_order": 1},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                ),
                doing,
            )
            insert = {**update, "$setOnInsert": {"order": counter["next_order"]}}
            try:
                await self._steps.update_one(key, insert, upsert=True)
                return
            except DuplicateKeyError:
                self.conflicts += 1  # a concurrent writer inserted the same step
            except DRIVER_ERRORS as exc:
                raise translate_error(exc, doing) from exc
        self.gave_up += 1
        raise ContentionError(run_task_id, step_id, self.max_attempts)

    async def get_step(self, run_task_id: str, step_id: str) -> WorkflowStepState | None:
        check_id(run_task_id, "run_task_id")
        check_id(step_id, "step_id")
        doc = await _call(
            self._steps.find_one(
                {"run_task_id": run_task_id, "step_id": step_id}, _STEP_PROJECTION
            ),
            f"reading step {step_id!r} of run {run_task_id!r}",
        )
        return None if doc is None else decode_step(doc)

    async def list_steps(self, run_task_id: str) -> list[WorkflowStepState]:
        check_id(run_task_id, "run_task_id")
        cursor = self._steps.find({"run_task_id": run_task_id}, _STEP_PROJECTION).sort(
            [("order", ASCENDING)]
        )
        docs = await _call(cursor.to_list(None), f"listing steps of run {run_task_id!r}")
        return [decode_step(doc) for doc in docs]
