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
E11000, or matches nothing, and retries as an update). `commit_step` and
`complete_wait` set the step and `context.steps.<step_id>` in the same update.
Every write also does `$inc: {revision: 1}`. Reads project what they need:
`get_run` leaves the steps array on the server, `get_step` transfers one step.

A document written by `upsert_step` before `create_run` holds only steps; it
is not a run (no `created_at`) until `create_run` sets the run-level fields.
A scoped store adds its tenant's `user_id` (and `workspace_id`) to every filter
it sends, so another tenant's documents never match.

Failure paths (no document matched) cost one extra read to say why: run
missing, revision moved, context not an object, wait completed.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

import bson
from pydantic import JsonValue
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ._blobs import BlobStore, GridFSBlobStore, NothingWritten, grace_cutoff, nothing_written
from ._driver import (
    DRIVER_ERRORS,
    AsyncCollectionLike,
    aggregate,
    is_too_large,
    returns_fresh_documents,
    translate_error,
)
from ._encoding import (
    COMPLETION_KEY,
    JSON_MARKER,
    OPTIONAL_RUN_FIELDS,
    SCHEMA_VERSION,
    UnstorableValue,
    closed_wait,
    commit_payload,
    completed_step_document,
    context_paths,
    context_sets_for,
    decode_run,
    decode_step,
    decode_steps,
    encode_value,
    escape_key,
    run_fields,
    step_document,
)
from ._exceptions import (
    ContentionError,
    InvalidInputError,
    PayloadTooLargeError,
    RevisionConflictError,
    RunNotFoundError,
    WaitNotFoundError,
)
from ._models import RunPage, TaskStatus, WorkflowExecutionState, WorkflowStepState, utc_now
from ._offload import (
    BLOB_MARKER,
    DEFAULT_OFFLOAD_THRESHOLD,
    Offloader,
    WritePlan,
    context_step_path,
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

__all__ = ["MongoWorkflowStore"]

logger = logging.getLogger("mongo_wfstore")

RUN_EXISTS: dict[str, Any] = {"created_at": {"$exists": True}}
"""Filter part matching documents that are runs, not step-only stubs."""

_OBJECT = {"$type": "object", "$not": {"$type": "array"}}
CONTEXT_MERGEABLE: dict[str, Any] = {
    "context": _OBJECT,
    "$or": [{"context.steps": {"$exists": False}}, {"context.steps": _OBJECT}],
    **{
        f"{field}.{marker}": {"$exists": False}
        for field in ("context", "context.steps")
        for marker in (JSON_MARKER, BLOB_MARKER)
    },
}
"""Filter part: `context` is an object and `context.steps` is absent or one —
not an array, and not a stored stand-in (`%json`, `%blob`) for another value —
so that `$set` of `context.steps.<id>` can neither fail nor write into them.
"""


class _Outcome(enum.Enum):
    """What `_write` says when it has no registry to return."""

    MISSED = "nothing matched the filter"
    DUPLICATE = "an upsert lost a duplicate-key race"


_REGISTRY = {"_id": 0, "schema_version": 1, "revision": 1, "blobs": 1}
"""Projection returned by every write: the blob registry as it was before.

Leaving `_id` out and `schema_version`/`revision` (always present) in matters
for mongomock, whose findAndModify re-filters by `_id` when the projection has
it (losing the array match `steps.$` needs) and treats an empty projection as no
match. A server gives the same answer either way.
"""

_SIZE_QUERY_ERRORS: tuple[type[BaseException], ...] = (
    *DRIVER_ERRORS,
    NotImplementedError,
    LookupError,
    TypeError,
)

_MAX_ATTEMPTS = 5
"""How many times a write that lost a race is tried in all."""

_OWNER = {"_id": 1, "created_at": 1, "revision": 1, "user_id": 1, "workspace_id": 1}


def _context_shape_error(run_task_id: str) -> InvalidInputError:
    return InvalidInputError(
        f"cannot merge a step into the context of run {run_task_id!r}: the context "
        "must be a JSON object whose 'steps', if present, is an object",
        run_task_id=run_task_id,
    )


class MongoWorkflowStore(WorkflowStore):
    """A `WorkflowStore` on one MongoDB collection, one document per run.

    `collection` is any async collection: PyMongo's `AsyncCollection`, Motor's
    `AsyncIOMotorCollection`, or mongomock-motor's. Writes use the collection's
    write concern; give it `w="majority"` for durability across failover. Create
    the indexes with `mongo-wfstore init-indexes` (or `ensure_indexes`).

    >>> client = AsyncMongoClient("mongodb://localhost:27017")
    >>> store = MongoWorkflowStore(client["app"]["workflow_runs"])
    >>> await store.create_run(state)
    """

    def __init__(
        self,
        collection: AsyncCollectionLike,
        *,
        offload_threshold: int | None = DEFAULT_OFFLOAD_THRESHOLD,
    ) -> None:
        """`offload_threshold`: values whose BSON is larger go to GridFS (default
        1 MiB); None never offloads (values past 16 MiB then raise
        `PayloadTooLargeError`).
        """
        self._collection = collection
        self._copy_results = not returns_fresh_documents(collection)
        self._offloader = Offloader(check_offload_threshold(offload_threshold))
        self._tenant: Tenant | None = None
        self._tenant_fields: dict[str, str] = {}

    @property
    def collection(self) -> AsyncCollectionLike:
        """The collection the runs are stored in."""
        return self._collection

    @property
    def offload_threshold(self) -> int | None:
        """Values whose BSON is larger than this go to GridFS; None: never."""
        return self._offloader.threshold

    @functools.cached_property
    def blobs(self) -> BlobStore:
        """Where offloaded values live: the GridFS bucket `<collection>.blobs`."""
        return GridFSBlobStore(self._collection.database, f"{self._collection.name}.blobs")

    def scoped(self, user_id: str, workspace_id: str | None = None) -> MongoWorkflowStore:
        tenant = (
            Tenant.checked(user_id, workspace_id)
            if self._tenant is None
            else self._tenant.narrowed(user_id, workspace_id)
        )
        view = MongoWorkflowStore(self._collection, offload_threshold=self.offload_threshold)
        view._tenant, view._tenant_fields = tenant, tenant.fields()
        if "blobs" in self.__dict__:
            view.__dict__["blobs"] = self.__dict__["blobs"]
        return view

    # ── run-level ─────────────────────────────────────────────────────────

    async def create_run(self, state: WorkflowExecutionState) -> None:
        """Create the run, or overwrite its run-level fields; steps are kept.

        One upsert (plus GridFS uploads for values past the offload threshold). A
        retry after a network error writes the same fields again, `context`
        included (see `WorkflowStore.create_run`).
        """
        check_state(state)
        if self._tenant is not None:
            self._tenant.check_state(state)
        run_task_id = state.run_task_id
        fields = run_fields(state)
        plan = WritePlan(run_task_id)
        fields["input"] = self._offloader.slot(plan, "blobs.input", fields["input"])
        fields["context"] = self._offloader.context(plan, fields["context"])
        update: dict[str, Any] = {
            "$set": {"schema_version": SCHEMA_VERSION, **fields},
            "$setOnInsert": {"steps": []},
            "$inc": {"revision": 1},
        }
        unset = {name: "" for name in OPTIONAL_RUN_FIELDS if name not in fields}
        if unset:
            update["$unset"] = unset
        update = plan.update(update)

        async def write() -> dict[str, Any]:
            for _ in range(_MAX_ATTEMPTS):
                outcome = await self._write(
                    self._match(run_task_id),
                    update,
                    upsert=True,
                    run_task_id=run_task_id,
                    payload=fields,
                )
                if outcome is not _Outcome.DUPLICATE:
                    return self._registry(outcome)
                await self._refuse_foreign(run_task_id)
            raise ContentionError(run_task_id, None, _MAX_ATTEMPTS)

        await self._with_blobs(plan, write)

    async def get_run(self, run_task_id: str) -> WorkflowExecutionState | None:
        """Load the run-level state; the steps array stays on the server."""
        check_id(run_task_id, "run_task_id")
        doc = await self._find_one(
            {**self._match(run_task_id), **RUN_EXISTS},
            {"steps": 0},
            f"reading run {run_task_id!r}",
        )
        if doc is None:
            return None
        await self._resolve([doc])
        return decode_run(run_task_id, doc)

    async def update_context(
        self,
        run_task_id: str,
        context: JsonValue,
        *,
        expected_revision: int | None = None,
    ) -> None:
        """Replace the run's context and set `updated_at`; one update."""
        check_id(run_task_id, "run_task_id")
        check_revision(expected_revision)
        try:
            stored = encode_value(context)
        except UnstorableValue as exc:
            raise exc.to_input_error("context", run_task_id=run_task_id) from None
        plan = WritePlan(run_task_id)
        stored = self._offloader.context(plan, stored)
        update = plan.update(
            {"$set": {"context": stored, "updated_at": utc_now()}, "$inc": {"revision": 1}}
        )

        async def write() -> dict[str, Any]:
            for attempt in range(_MAX_ATTEMPTS):
                outcome = await self._write(
                    self._run_match(run_task_id, expected_revision),
                    update,
                    run_task_id=run_task_id,
                    payload={"context": stored},
                )
                if outcome is not _Outcome.MISSED:
                    return self._registry(outcome)
                # Matched nothing; the run may have been created (or moved to the
                # expected revision) before the read that says why: then try again.
                error = await self._why_not_written(run_task_id, expected_revision)
                if not isinstance(error, _Raced):
                    raise error
                logger.debug("update_context %r lost a race (attempt %d)", run_task_id, attempt + 1)
            raise ContentionError(run_task_id, None, _MAX_ATTEMPTS)

        await self._with_blobs(plan, write)

    async def delete_run(self, run_task_id: str) -> None:
        """Delete the run document with its steps and blobs; one command for the run.

        Silent if there is no run, except through a scoped store, where a run
        the tenant does not have raises `RunNotFoundError`.
        """
        check_id(run_task_id, "run_task_id")
        deleted = await self._call(
            lambda: self._collection.find_one_and_delete(
                self._match(run_task_id), projection=_REGISTRY
            ),
            f"deleting run {run_task_id!r}",
            write=True,
        )
        if deleted is None:
            if self._tenant is not None:
                raise RunNotFoundError(run_task_id)
            return
        await self.blobs.delete_quietly(registry_ids(deleted.get("blobs")))

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
        """One page of runs, newest first; one query served by an index."""
        filters = check_list_filters(
            agent_id=agent_id, thread_id=thread_id, user_id=user_id, workspace_id=workspace_id
        )
        check_page_size(limit)
        after = None if cursor is None else decode_cursor(cursor)
        if self._tenant is not None and not self._tenant.admits(filters):
            return RunPage(items=[])
        query: dict[str, Any] = {**filters, **self._tenant_fields}
        if after is None:
            query["created_at"] = {"$type": "date"}
        else:
            created_at, last_id = after
            query["$or"] = [
                {"created_at": {"$lt": created_at}},
                {"created_at": created_at, "_id": {"$lt": last_id}},
            ]

        async def fetch() -> list[Any]:
            found = self._collection.find(query, {"steps": 0})
            found = found.sort([("created_at", -1), ("_id", -1)]).limit(limit + 1)
            docs: list[Any] = await found.to_list(None)
            return docs

        docs = [self._own(doc) for doc in await self._call(fetch, "listing runs")][: limit + 1]
        await self._resolve(docs[:limit])
        items = [decode_run(doc["_id"], doc) for doc in docs[:limit]]
        more = len(docs) > limit
        next_cursor = encode_cursor(items[-1].created_at, items[-1].run_task_id) if more else None
        return RunPage(items=items, next_cursor=next_cursor)

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
        plan = WritePlan(run_task_id)
        self._offloader.step_result(plan, doc, [results_path(step_id)])
        match = self._match(run_task_id)
        now = utc_now()
        # "steps.$" last: mongomock drops $set paths that follow it.
        replace = plan.update(
            {"$set": {"updated_at": now, "steps.$": doc}, "$inc": {"revision": 1}}
        )
        append = plan.update(
            {
                "$set": {"updated_at": now},
                "$push": {"steps": doc},
                "$inc": {"revision": 1},
                "$setOnInsert": {"schema_version": SCHEMA_VERSION},
            }
        )

        async def write() -> dict[str, Any]:
            for attempt in range(_MAX_ATTEMPTS):
                outcome = await self._write(
                    {**match, "steps.step_id": step_id},
                    replace,
                    run_task_id=run_task_id,
                    step_id=step_id,
                    payload=doc,
                )
                if outcome is not _Outcome.MISSED:
                    return self._registry(outcome)
                outcome = await self._write(
                    {**match, "steps.step_id": {"$ne": step_id}},
                    append,
                    upsert=True,
                    run_task_id=run_task_id,
                    step_id=step_id,
                    payload=doc,
                )
                if outcome is not _Outcome.DUPLICATE:
                    return self._registry(outcome)
                await self._refuse_foreign(run_task_id)
                logger.debug(
                    "upsert_step %r/%r lost a race (attempt %d)", run_task_id, step_id, attempt + 1
                )
            raise ContentionError(run_task_id, step_id, _MAX_ATTEMPTS)

        await self._with_blobs(plan, write)

    async def get_step(self, run_task_id: str, step_id: str) -> WorkflowStepState | None:
        """Load one step; only that step is transferred."""
        check_id(run_task_id, "run_task_id")
        check_id(step_id, "step_id")
        doc = await self._find_one(
            self._match(run_task_id),
            {"_id": 0, "schema_version": 1, "steps": {"$elemMatch": {"step_id": step_id}}},
            f"reading step {step_id!r} of run {run_task_id!r}",
        )
        if doc is not None:
            await self._resolve([doc])
        steps = decode_steps(run_task_id, doc)
        return steps[0] if steps else None

    async def list_steps(self, run_task_id: str) -> list[WorkflowStepState]:
        """All steps in first-insertion order; the run-level fields are not transferred."""
        check_id(run_task_id, "run_task_id")
        doc = await self._find_one(
            self._match(run_task_id),
            {"_id": 0, "schema_version": 1, "steps": 1},
            f"listing steps of run {run_task_id!r}",
        )
        if doc is not None:
            await self._resolve([doc])
        return decode_steps(run_task_id, doc)

    async def commit_step(
        self,
        run_task_id: str,
        step: WorkflowStepState,
        *,
        context_updates: Mapping[str, JsonValue] | None = None,
        expected_revision: int | None = None,
    ) -> None:
        """Upsert the step and merge it into the context in one update.

        One command when the step is stored, two when it is new (the positional
        update matches nothing, then a guarded `$push` appends it), each an
        atomic write of the step, `context.steps.<step_id>`, the
        `context_updates` and `updated_at`.
        """
        check_id(run_task_id, "run_task_id")
        check_step(run_task_id, step)
        check_revision(expected_revision)
        updates = check_context_updates(run_task_id, context_updates)
        step_id = step.step_id
        doc = step_document(run_task_id, step)
        sets = context_sets_for(run_task_id, step_id, doc.get("result"), updates)
        payload = commit_payload(doc, sets)
        plan = WritePlan(run_task_id)
        self._offloader.commit(plan, step_id, doc, sets)
        match = {**self._run_match(run_task_id, expected_revision), **CONTEXT_MERGEABLE}

        async def write() -> dict[str, Any]:
            for attempt in range(_MAX_ATTEMPTS):
                paths = {**context_paths(sets), "updated_at": utc_now()}
                outcome = await self._write(
                    {**match, "steps.step_id": step_id},
                    # "steps.$" last: mongomock drops $set paths that follow it.
                    plan.update({"$set": {**paths, "steps.$": doc}, "$inc": {"revision": 1}}),
                    run_task_id=run_task_id,
                    step_id=step_id,
                    payload=payload,
                )
                if outcome is not _Outcome.MISSED:
                    return self._registry(outcome)
                outcome = await self._write(
                    {**match, "steps.step_id": {"$ne": step_id}},
                    plan.update({"$set": paths, "$push": {"steps": doc}, "$inc": {"revision": 1}}),
                    run_task_id=run_task_id,
                    step_id=step_id,
                    payload=payload,
                )
                if outcome is not _Outcome.MISSED:
                    return self._registry(outcome)
                error = await self._why_not_written(run_task_id, expected_revision, merge=True)
                if not isinstance(error, _Raced):
                    raise error
                logger.debug(
                    "commit_step %r/%r lost a race (attempt %d)", run_task_id, step_id, attempt + 1
                )
            raise ContentionError(run_task_id, step_id, _MAX_ATTEMPTS)

        await self._with_blobs(plan, write)

    # ── waits ─────────────────────────────────────────────────────────────

    async def find_wait(self, wait_task_id: str) -> tuple[str, WorkflowStepState] | None:
        """The run and step with this wait; one query on `steps.wait_task_id`."""
        check_id(wait_task_id, "wait_task_id")
        doc = await self._find_wait(wait_task_id)
        if doc is None:
            return None
        await self._resolve([doc])
        return doc["_id"], decode_steps(doc["_id"], doc)[0]

    async def complete_wait(
        self,
        wait_task_id: str,
        result: JsonValue,
        *,
        status: TaskStatus = TaskStatus.COMPLETED,
        error: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[str, WorkflowStepState]:
        """Complete a waiting step once: an indexed lookup, then one atomic write.

        The write is a compare-and-set: its filter requires the step to still be
        `input_required`, so of concurrent completions exactly one matches. It
        sets the step's fields and `context.steps.<step_id>` together. (The
        lookup is needed because the update path names the step, which the
        caller does not know.)
        """
        check_id(wait_task_id, "wait_task_id")
        status = check_completion(wait_task_id, status, error, idempotency_key)
        try:
            stored_result = None if result is None else encode_value(result)
        except UnstorableValue as exc:
            raise exc.to_input_error("result", wait_task_id=wait_task_id) from None
        for _ in range(_MAX_ATTEMPTS):
            run_task_id, waiting = await self._waiting_step(wait_task_id)
            if waiting.get("status") != TaskStatus.INPUT_REQUIRED.value:
                return run_task_id, closed_wait(wait_task_id, run_task_id, waiting, idempotency_key)
            step_id = waiting["step_id"]
            completed = completed_step_document(
                waiting, status, stored_result, error, idempotency_key
            )
            plan = WritePlan(run_task_id)
            stored = self._offloader.step_result(
                plan, completed, [results_path(step_id), context_step_path(step_id)]
            )
            sets = {"steps": {escape_key(step_id): stored}}
            update: dict[str, Any] = {
                "$set": {
                    **context_paths(sets),
                    "updated_at": utc_now(),
                    "steps.$.status": status.value,
                    "steps.$.completed_at": completed["completed_at"],
                },
                "$inc": {"revision": 1},
            }
            unset = {}
            for name in ("result", "error", COMPLETION_KEY):
                if name in completed:
                    update["$set"][f"steps.$.{name}"] = completed[name]
                else:
                    unset[f"steps.$.{name}"] = ""
            update["$unset"] = unset
            # The fields the completion keeps (and returns) must still be as looked
            # up, or the step returned would not be the step stored. (None matches
            # a missing field.)
            still_waiting: dict[str, Any] = {
                **self._match(run_task_id),
                **RUN_EXISTS,
                "steps": {
                    "$elemMatch": {
                        "step_id": step_id,
                        "wait_task_id": wait_task_id,
                        "status": TaskStatus.INPUT_REQUIRED.value,
                        "started_at": waiting.get("started_at"),
                    }
                },
            }
            write = functools.partial(
                self._write_or_race,
                {**still_waiting, **CONTEXT_MERGEABLE},
                plan.update(update),
                run_task_id=run_task_id,
                step_id=step_id,
                payload=commit_payload(completed, sets),
            )
            try:
                await self._with_blobs(plan, write)
            except _Raced:
                # Matched nothing. The context is to blame only if the step still
                # waits in this run; else the wait moved on (completed, deleted,
                # rewritten): look it up again.
                if await self._find_one(
                    {**still_waiting, "$nor": [CONTEXT_MERGEABLE]},
                    {"_id": 1},
                    f"checking the context of run {run_task_id!r}",
                ):
                    raise _context_shape_error(run_task_id) from None
                continue
            if stored_result is not None:
                completed["result"] = stored_result
            return run_task_id, decode_step(bson.decode(bson.encode(completed)))
        raise ContentionError(wait_task_id, None, _MAX_ATTEMPTS)

    async def sweep_blobs(
        self, *, grace: timedelta = timedelta(hours=1), dry_run: bool = False
    ) -> int:
        """Delete blobs no run references any more; returns how many (`dry_run`: only count).

        Removes what a crash left behind (an upload whose write never landed, a
        replaced blob not yet deleted) and the blobs of runs deleted without the
        store (a TTL index, `delete_many`). Blobs younger than `grace` are kept:
        they may belong to a write in flight. Run it periodically when a TTL
        index expires runs (`mongo-wfstore gc`).
        """
        cutoff = grace_cutoff(grace)
        candidates = await self.blobs.candidates(cutoff)
        doomed: list[Any] = []
        runs = list(candidates)
        for start in range(0, len(runs), 500):
            batch = runs[start : start + 500]
            rows = await self._find_all({"_id": {"$in": batch}}, _REGISTRY)
            referenced = set().union(*(registry_ids(row.get("blobs")) for row in rows))
            doomed += [
                blob_id
                for run_task_id in batch
                for blob_id in candidates[run_task_id]
                if blob_id not in referenced
            ]
        if isinstance(self.blobs, GridFSBlobStore):
            doomed += [
                blob_id
                for blob_id in await self.blobs.orphaned_chunks()
                if blob_id.generation_time <= cutoff
            ]
        if doomed and not dry_run:
            await self.blobs.delete(doomed)
        return len(set(doomed))

    # ── helpers ───────────────────────────────────────────────────────────

    def _match(self, run_task_id: str) -> dict[str, Any]:
        """The filter of one run document, within the tenant if scoped."""
        return {"_id": run_task_id, **self._tenant_fields}

    def _run_match(self, run_task_id: str, expected_revision: int | None) -> dict[str, Any]:
        """The filter of one run (not a stub), at the expected revision if given."""
        match = {**self._match(run_task_id), **RUN_EXISTS}
        if expected_revision is not None:
            match["revision"] = expected_revision
        return match

    async def _find_wait(self, wait_task_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._find_one(
            {"steps.wait_task_id": wait_task_id, **RUN_EXISTS, **self._tenant_fields},
            {
                "_id": 1,
                "schema_version": 1,
                "steps": {"$elemMatch": {"wait_task_id": wait_task_id}},
            },
            f"looking up wait {wait_task_id!r}",
        )
        return doc if doc and doc.get("steps") else None

    async def _waiting_step(self, wait_task_id: str) -> tuple[str, dict[str, Any]]:
        """The run and the stored step of a wait, or `WaitNotFoundError`."""
        doc = await self._find_wait(wait_task_id)
        if doc is None:
            raise WaitNotFoundError(wait_task_id)
        step: dict[str, Any] = doc["steps"][0]
        return doc["_id"], step

    async def _why_not_written(
        self, run_task_id: str, expected_revision: int | None, *, merge: bool = False
    ) -> Exception:
        """Why a write to a run matched nothing: the error to raise, or `_Raced`."""
        doc = await self._find_one({"_id": run_task_id}, _OWNER, f"reading run {run_task_id!r}")
        if doc is None or "created_at" not in doc or not self._owns(doc):
            return RunNotFoundError(run_task_id)
        revision = int(doc.get("revision", 0))
        if expected_revision is not None and revision != expected_revision:
            return RevisionConflictError(run_task_id, expected=expected_revision, actual=revision)
        if merge and not await self._context_mergeable(run_task_id):
            return _context_shape_error(run_task_id)
        return _Raced()

    async def _refuse_foreign(self, run_task_id: str) -> None:
        """After E11000 in a scoped store: raise if the document is another tenant's."""
        if self._tenant is None:
            return
        doc = await self._find_one({"_id": run_task_id}, _OWNER, f"reading run {run_task_id!r}")
        if doc is not None and not self._owns(doc):
            raise RunNotFoundError(run_task_id)

    def _owns(self, doc: dict[str, Any]) -> bool:
        return self._tenant is None or self._tenant.owns(
            doc.get("user_id"), doc.get("workspace_id")
        )

    async def _find_one(
        self, filter: dict[str, Any], projection: dict[str, Any], doing: str
    ) -> Any:
        doc = await self._call(lambda: self._collection.find_one(filter, projection), doing)
        return None if doc is None else self._own(doc)

    async def _find_all(self, filter: dict[str, Any], projection: dict[str, Any]) -> list[Any]:
        """Every document matching `filter`, projected."""

        async def fetch() -> list[Any]:
            rows: list[Any] = await self._collection.find(filter, projection).to_list(None)
            return rows

        rows: list[Any] = await self._call(fetch, "reading runs")
        return rows

    def _own(self, doc: Any) -> Any:
        """`doc`, copied as a server would send it if the driver may share it."""
        return bson.decode(bson.encode(doc)) if self._copy_results else doc

    async def _call(
        self, command: Callable[[], Awaitable[Any]], doing: str, *, write: bool = False
    ) -> Any:
        """Await one driver command, translating its errors."""
        try:
            return await command()
        except DRIVER_ERRORS as exc:
            raise translate_error(exc, doing, write=write) from exc

    async def _write(
        self,
        filter: dict[str, Any],
        update: dict[str, Any],
        *,
        run_task_id: str,
        step_id: str | None = None,
        payload: dict[str, Any],
        upsert: bool = False,
    ) -> dict[str, Any] | _Outcome:
        """One `find_one_and_update`, returning the blob registry as it was before.

        `_Outcome.MISSED` if nothing matched, `_Outcome.DUPLICATE` if an upsert
        lost a duplicate-key race. A write refused for size becomes
        `PayloadTooLargeError`, naming the size of `payload` (the value written)
        and of the stored run.
        """
        try:
            before = await self._collection.find_one_and_update(
                filter,
                update,
                projection=_REGISTRY,
                upsert=upsert,
                return_document=ReturnDocument.BEFORE,
            )
        except DRIVER_ERRORS as exc:
            if upsert and isinstance(exc, DuplicateKeyError):
                return _Outcome.DUPLICATE
            if is_too_large(exc):
                raise PayloadTooLargeError(
                    run_task_id,
                    step_id=step_id,
                    size=len(bson.encode(payload)),
                    run_size=await self._stored_size(run_task_id),
                ) from exc
            what = f"step {step_id!r} of run {run_task_id!r}" if step_id else f"run {run_task_id!r}"
            raise translate_error(exc, f"writing {what}", write=True) from exc
        if before is None:
            return {} if upsert else _Outcome.MISSED  # an upsert that inserted
        return dict(before)

    async def _write_or_race(
        self, filter: dict[str, Any], update: dict[str, Any], **kwargs: Any
    ) -> dict[str, Any]:
        """`_write` that raises `_Raced` when nothing matched."""
        outcome = await self._write(filter, update, **kwargs)
        if outcome is _Outcome.MISSED:
            raise _Raced()
        return self._registry(outcome)

    @staticmethod
    def _registry(outcome: dict[str, Any] | _Outcome) -> dict[str, Any]:
        """The blob registry from a successful `_write`."""
        assert not isinstance(outcome, _Outcome), outcome
        registry: dict[str, Any] = outcome.get("blobs") or {}
        return registry

    async def _with_blobs(
        self, plan: WritePlan, write: Callable[[], Awaitable[dict[str, Any]]]
    ) -> None:
        """Upload the plan's blobs, run the write, then delete what it replaced;
        if the write fails, delete what was uploaded instead.
        """
        if plan.blobs:
            await self.blobs.put(plan.blobs)
        try:
            before = await write()
        except BaseException as exc:
            if plan.blobs and nothing_written(exc):
                await self.blobs.delete_quietly(plan.new_ids())
            # Otherwise the write may have landed and may reference the blobs:
            # they stay, and the sweep deletes them if nothing does.
            raise
        replaced = plan.replaced(before)
        if replaced:
            await self.blobs.delete_quietly(replaced)

    async def _resolve(self, docs: list[dict[str, Any]]) -> None:
        """Replace blob references in stored documents by their values."""
        await resolve_blobs(docs, self.blobs)

    async def _context_mergeable(self, run_task_id: str) -> bool:
        """False if the run exists and its context cannot take `context.steps.<id>`."""
        match = self._match(run_task_id)
        mergeable = await self._find_one(
            {**match, **CONTEXT_MERGEABLE}, {"_id": 1}, f"checking run {run_task_id!r}"
        )
        exists = await self._find_one(match, {"_id": 1}, f"reading run {run_task_id!r}")
        return mergeable is not None or exists is None

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


class _Raced(NothingWritten):
    """The write matched nothing because a concurrent write changed the run: retry."""
