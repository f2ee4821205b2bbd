"""`MongoWorkflowStore`: the `WorkflowStore` on MongoDB, one document per run.

A run is one document, `_id` = `run_task_id`, holding the run-level fields and
an embedded `steps` array in first-insertion order:

```
{_id: "run-1", schema_version: 1, revision: 7,
 agent_id, thread_id, user_id, workspace_id?, definition, entry_point?,
 input, context, created_at, updated_at,
 steps: [{step_id: "fetch", status: "completed", result, error?,
          started_at?, completed_at?, wait_task_id?}, ...]}
```

Every write is one atomic update; nothing is read, changed in Python and
written back. Updating a stored step is one `$set` on `steps.$`; a new step is
appended by a `$push` whose filter requires the step to be absent, so a
concurrent insert of the same step can never duplicate it (the loser gets
E11000 and retries as an update). Reads project what they need: `get_run`
leaves the steps array on the server, `get_step` transfers one step.

A document written by `upsert_step` before `create_run` holds only steps; it
is not a run (no `created_at`) until `create_run` sets the run-level fields.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import bson
from pydantic import JsonValue
from pymongo.errors import DuplicateKeyError

from ._driver import DRIVER_ERRORS, AsyncCollectionLike, aggregate, is_too_large, translate_error
from ._encoding import (
    OPTIONAL_RUN_FIELDS,
    SCHEMA_VERSION,
    UnstorableValue,
    decode_run,
    decode_step,
    encode_value,
    run_fields,
    step_document,
)
from ._exceptions import (
    ContentionError,
    PayloadTooLargeError,
    RunNotFoundError,
)
from ._models import WorkflowExecutionState, WorkflowStepState, utc_now
from ._store import WorkflowStore, check_id, check_state, check_step

__all__ = ["MongoWorkflowStore"]

logger = logging.getLogger("mongo_wfstore")

RUN_EXISTS: dict[str, Any] = {"created_at": {"$exists": True}}
"""Filter part matching documents that are runs, not step-only stubs."""

_SIZE_QUERY_ERRORS: tuple[type[BaseException], ...] = (
    *DRIVER_ERRORS,
    NotImplementedError,
    LookupError,
    TypeError,
)

_MAX_ATTEMPTS = 5
"""How many times a write that lost a duplicate-key race is tried in all."""


class MongoWorkflowStore(WorkflowStore):
    """A `WorkflowStore` on one MongoDB collection, one document per run.

    `collection` is any async collection: PyMongo's `AsyncCollection`, Motor's
    `AsyncIOMotorCollection`, or mongomock-motor's. Writes use the collection's
    write concern; give it `w="majority"` for durability across failover.

    >>> client = AsyncMongoClient("mongodb://localhost:27017")
    >>> store = MongoWorkflowStore(client["app"]["workflow_runs"])
    >>> await store.create_run(state)
    """

    def __init__(self, collection: AsyncCollectionLike) -> None:
        self._collection = collection

    @property
    def collection(self) -> AsyncCollectionLike:
        """The collection the runs are stored in."""
        return self._collection

    # ── run-level ─────────────────────────────────────────────────────────

    async def create_run(self, state: WorkflowExecutionState) -> None:
        """Create the run, or overwrite its run-level fields; steps are kept.

        One upsert. Retrying after a network error is safe: it writes the same
        fields again.
        """
        check_state(state)
        run_task_id = state.run_task_id
        fields = run_fields(state)
        update: dict[str, Any] = {
            "$set": {"schema_version": SCHEMA_VERSION, **fields},
            "$setOnInsert": {"steps": []},
            "$inc": {"revision": 1},
        }
        unset = {name: "" for name in OPTIONAL_RUN_FIELDS if name not in fields}
        if unset:
            update["$unset"] = unset
        for _ in range(_MAX_ATTEMPTS):
            written = await self._update(
                {"_id": run_task_id}, update, upsert=True, run_task_id=run_task_id, payload=fields
            )
            if written is not None:
                return
        raise ContentionError(run_task_id, None, _MAX_ATTEMPTS)

    async def get_run(self, run_task_id: str) -> WorkflowExecutionState | None:
        """Load the run-level state; the steps array stays on the server."""
        check_id(run_task_id, "run_task_id")
        doc = await self._call(
            lambda: self._collection.find_one({"_id": run_task_id, **RUN_EXISTS}, {"steps": 0}),
            f"reading run {run_task_id!r}",
        )
        return None if doc is None else decode_run(run_task_id, doc)

    async def update_context(self, run_task_id: str, context: JsonValue) -> None:
        """Replace the run's context and set `updated_at`; one update.

        Raises `RunNotFoundError` if the run does not exist.
        """
        check_id(run_task_id, "run_task_id")
        try:
            stored = encode_value(context)
        except UnstorableValue as exc:
            raise exc.to_input_error("context", run_task_id=run_task_id) from None
        result = await self._update(
            {"_id": run_task_id, **RUN_EXISTS},
            {"$set": {"context": stored, "updated_at": utc_now()}, "$inc": {"revision": 1}},
            run_task_id=run_task_id,
            payload={"context": stored},
        )
        if result.matched_count == 0:
            raise RunNotFoundError(run_task_id)

    async def delete_run(self, run_task_id: str) -> None:
        """Delete the run document with its steps; one command, silent if missing."""
        check_id(run_task_id, "run_task_id")
        await self._call(
            lambda: self._collection.delete_one({"_id": run_task_id}),
            f"deleting run {run_task_id!r}",
        )

    # ── step-level ────────────────────────────────────────────────────────

    async def upsert_step(self, run_task_id: str, step: WorkflowStepState) -> None:
        """Replace the step in place, or append it; never duplicates it.

        A stored step is replaced by one `$set` on `steps.$`. A new step takes a
        second command: a `$push` guarded by `steps.step_id $ne`, upserting the
        document if the run does not exist yet. If a concurrent writer inserted
        the step (or the document) in between, the server refuses the push with
        E11000 and the step is written as an update instead.
        """
        check_id(run_task_id, "run_task_id")
        check_step(run_task_id, step)
        step_id = step.step_id
        doc = step_document(run_task_id, step)
        for attempt in range(_MAX_ATTEMPTS):
            replaced = await self._update(
                {"_id": run_task_id, "steps.step_id": step_id},
                {"$set": {"steps.$": doc}, "$inc": {"revision": 1}},
                run_task_id=run_task_id,
                step_id=step_id,
                payload=doc,
            )
            if replaced is not None and replaced.matched_count:
                return
            appended = await self._update(
                {"_id": run_task_id, "steps.step_id": {"$ne": step_id}},
                {
                    "$push": {"steps": doc},
                    "$inc": {"revision": 1},
                    "$setOnInsert": {"schema_version": SCHEMA_VERSION, "updated_at": utc_now()},
                },
                upsert=True,
                run_task_id=run_task_id,
                step_id=step_id,
                payload=doc,
            )
            if appended is not None:
                return
            logger.debug(
                "upsert_step %r/%r lost a race (attempt %d)", run_task_id, step_id, attempt + 1
            )
        raise ContentionError(run_task_id, step_id, _MAX_ATTEMPTS)

    async def get_step(self, run_task_id: str, step_id: str) -> WorkflowStepState | None:
        """Load one step; only that step is transferred."""
        check_id(run_task_id, "run_task_id")
        check_id(step_id, "step_id")
        doc = await self._call(
            lambda: self._collection.find_one(
                {"_id": run_task_id},
                {"_id": 0, "steps": {"$elemMatch": {"step_id": step_id}}},
            ),
            f"reading step {step_id!r} of run {run_task_id!r}",
        )
        steps = (doc or {}).get("steps") or []
        return decode_step(steps[0]) if steps else None

    async def list_steps(self, run_task_id: str) -> list[WorkflowStepState]:
        """All steps in first-insertion order; the run-level fields are not transferred."""
        check_id(run_task_id, "run_task_id")
        doc = await self._call(
            lambda: self._collection.find_one({"_id": run_task_id}, {"_id": 0, "steps": 1}),
            f"listing steps of run {run_task_id!r}",
        )
        return [decode_step(step) for step in (doc or {}).get("steps") or []]

    # ── helpers ───────────────────────────────────────────────────────────

    async def _call(self, command: Callable[[], Awaitable[Any]], doing: str) -> Any:
        """Await one driver command, translating its errors."""
        try:
            return await command()
        except DRIVER_ERRORS as exc:
            raise translate_error(exc, doing) from exc

    async def _update(
        self,
        filter: dict[str, Any],
        update: dict[str, Any],
        *,
        run_task_id: str,
        step_id: str | None = None,
        payload: dict[str, Any],
        upsert: bool = False,
    ) -> Any:
        """One `update_one`; None if an upsert lost a duplicate-key race.

        A write refused for size becomes `PayloadTooLargeError`, naming the size
        of `payload` (the value written) and of the stored run.
        """
        try:
            return await self._collection.update_one(filter, update, upsert=upsert)
        except DRIVER_ERRORS as exc:
            if upsert and isinstance(exc, DuplicateKeyError):
                return None
            if is_too_large(exc):
                raise PayloadTooLargeError(
                    run_task_id,
                    step_id=step_id,
                    size=len(bson.encode(payload)),
                    run_size=await self._stored_size(run_task_id),
                ) from exc
            what = f"step {step_id!r} of run {run_task_id!r}" if step_id else f"run {run_task_id!r}"
            raise translate_error(exc, f"writing {what}") from exc

    async def _stored_size(self, run_task_id: str) -> int | None:
        """The BSON size of the stored run, for an error message; None if unknown."""
        try:
            rows = await aggregate(
                self._collection,
                [
                    {"$match": {"_id": run_task_id}},
                    {"$project": {"_id": 0, "size": {"$bsonSize": "$$ROOT"}}},
                ],
            )
            return int(rows[0]["size"]) if rows else None
        except _SIZE_QUERY_ERRORS:
            pass  # $bsonSize needs MongoDB 4.4; a mock may not know it: fall back
        try:
            doc = await self._collection.find_one({"_id": run_task_id})
        except DRIVER_ERRORS:
            return None
        return None if doc is None else len(bson.encode(doc))
