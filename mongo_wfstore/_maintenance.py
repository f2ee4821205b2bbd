"""Maintenance of the runs collection: purging runs not updated for a while.

What lives here: `purge_runs`, which deletes runs (and step-only documents)
whose `updated_at` is older than a cutoff, in batches, and its `PurgeResult`.

What is **not** here: the automatic expiry by the server, which is the TTL
index `wf_retention` (`_indexes`); `purge_runs` is for a one-off clean-up, for
deployments that prefer a scheduled job to a TTL index, or before creating a
TTL index on a large collection (so that the first TTL pass is not one huge
delete).

Why in batches: one `delete_many` over millions of documents is one long
operation that replicates as millions of oplog entries at once and cannot
report progress. Here a single cursor walks the `_id`s of the old documents
(`{updated_at: {$lt: cutoff}}`, the range `wf_retention` indexes), and each
batch is one `delete_many({_id: {$in: batch}, updated_at: {$lt: cutoff}})`.
The repeated `updated_at` condition makes the delete safe against writers:
a run written to after the cursor saw it is no longer older than the cutoff
and is kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ._blobs import GridFSBlobStore
from ._driver import DRIVER_ERRORS, AdminCollectionLike, translate_error
from ._exceptions import InvalidInputError
from ._models import utc_now

__all__ = ["MAX_BATCH_SIZE", "PurgeResult", "purge_runs"]

logger = logging.getLogger("mongo_wfstore")

MAX_BATCH_SIZE = 100_000
"""The largest batch `purge_runs` accepts: a batch's `_id`s travel in one `$in`."""


@dataclass(frozen=True)
class PurgeResult:
    """What `purge_runs` found and deleted.

    `matched` counts the documents older than `cutoff` when the purge started
    (runs and step-only documents alike); `deleted` those deleted, in
    `batches` commands; `blobs_deleted` the GridFS blobs of the deleted runs
    (values past the offload threshold). In a dry run nothing is deleted.
    """

    cutoff: datetime
    matched: int
    deleted: int = 0
    batches: int = 0
    dry_run: bool = False
    blobs_deleted: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `cutoff` as ISO 8601 UTC text."""
        return {
            "cutoff": self.cutoff.isoformat().replace("+00:00", "Z"),
            "matched": self.matched,
            "deleted": self.deleted,
            "batches": self.batches,
            "dry_run": self.dry_run,
            "blobs_deleted": self.blobs_deleted,
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The result as JSON text (what `mongo-wfstore purge --json` prints)."""
        return json.dumps(self.to_dict(), indent=indent)


async def purge_runs(
    collection: AdminCollectionLike,
    *,
    older_than: timedelta,
    batch_size: int = 1000,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> PurgeResult:
    """Delete the runs whose `updated_at` is older than `older_than`, in batches.

    >>> result = await purge_runs(collection, older_than=timedelta(days=90))
    >>> result.deleted
    1234

    Step-only documents (steps written before their run) carry `updated_at`
    too and are purged the same way. Documents whose `updated_at` is not a
    date are never matched. The cutoff is `now - older_than`, `now` defaulting
    to the current UTC time. `dry_run=True` only counts. `progress`, if
    given, is called after the count and after each batch with
    `(deleted so far, matched)`. Safe to run while writers are active and to
    run again after an interruption.

    Raises `InvalidInputError` for a non-positive `older_than` or a
    `batch_size` outside 1 to 100,000, and `DatabaseError` (or
    `DatabaseUnavailableError`) if the driver fails: the batches already
    deleted stay deleted.
    """
    if not isinstance(older_than, timedelta) or older_than <= timedelta(0):
        raise InvalidInputError(f"older_than must be a positive timedelta, got {older_than!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise InvalidInputError(f"batch_size must be an int, got {batch_size!r}")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidInputError(f"batch_size must be 1 to {MAX_BATCH_SIZE:,}, got {batch_size}")
    cutoff = (now or utc_now()) - older_than
    old = {"updated_at": {"$lt": cutoff}}
    deleted = batches = blobs_deleted = 0
    doing = f"purging runs last updated before {cutoff.isoformat(timespec='milliseconds')}"
    try:
        matched = await collection.count_documents(old)
        if progress is not None:
            progress(0, matched)
        if dry_run or not matched:
            return PurgeResult(cutoff, matched, dry_run=dry_run)
        batch: list[Any] = []
        async for doc in collection.find(old, {"_id": 1}, batch_size=batch_size):
            batch.append(doc["_id"])
            if len(batch) == batch_size:
                count, gone = await _delete(collection, batch, cutoff)
                deleted += count
                blobs_deleted += await _delete_blobs(collection, gone)
                batches += 1
                batch = []
                if progress is not None:
                    progress(deleted, matched)
        if batch:
            count, gone = await _delete(collection, batch, cutoff)
            deleted += count
            blobs_deleted += await _delete_blobs(collection, gone)
            batches += 1
            if progress is not None:
                progress(deleted, matched)
    except DRIVER_ERRORS as exc:
        raise translate_error(exc, f"{doing} ({deleted} deleted so far)", write=True) from exc
    logger.debug("%s: %d of %d deleted in %d batches", doing, deleted, matched, batches)
    return PurgeResult(cutoff, matched, deleted, batches, blobs_deleted=blobs_deleted)


async def _delete(
    collection: AdminCollectionLike, ids: list[Any], cutoff: datetime
) -> tuple[int, list[Any]]:
    """Delete one batch, each document only if it is still older than the cutoff;
    returns how many were deleted and which ids are gone (their blobs go too).
    """
    result = await collection.delete_many({"_id": {"$in": ids}, "updated_at": {"$lt": cutoff}})
    if not result.deleted_count:
        return 0, []
    kept = {doc["_id"] async for doc in collection.find({"_id": {"$in": ids}}, {"_id": 1})}
    return int(result.deleted_count), [run_id for run_id in ids if run_id not in kept]


async def _delete_blobs(collection: AdminCollectionLike, run_task_ids: list[Any]) -> int:
    """Delete the GridFS blobs of runs that are gone; returns how many."""
    if not run_task_ids:
        return 0
    blobs = GridFSBlobStore(collection.database, f"{collection.name}.blobs")
    return await blobs.delete_for_runs(run_task_ids)
