"""Where large values go: blobs in GridFS, next to the runs.

What lives here:

- `BlobStore`: put, get, delete and sweep blobs (opaque byte strings, each the
  BSON of one offloaded JSON value), keyed by `ObjectId`.
- `GridFSBlobStore`: blobs in the GridFS bucket `<runs collection>.blobs` of the
  same database (`.files` and `.chunks` collections, the GridFS layout, so
  `mongofiles` and `GridFSBucket` read them). It is written with plain
  collection commands, which PyMongo, Motor and mongomock all run; a test reads
  what it writes back through PyMongo's own `GridFSBucket`.
- `MemoryBlobStore`: the same in process memory, for `InMemoryWorkflowStore`.

What is **not** here: deciding what to offload and keeping run documents and
blobs consistent (`_offload` and the stores).

Every file records `metadata.run_task_id`, so that blobs can be found by run
and swept when nothing references them any more.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import Binary, ObjectId

from ._driver import DRIVER_ERRORS, translate_error
from ._exceptions import DatabaseError, DatabaseUnavailableError, WorkflowStoreError
from ._models import utc_now

__all__ = [
    "CHUNK_SIZE",
    "Blob",
    "BlobStore",
    "GridFSBlobStore",
    "MemoryBlobStore",
    "NothingWritten",
    "grace_cutoff",
    "nothing_written",
]

logger = logging.getLogger("mongo_wfstore")

CHUNK_SIZE = 255 * 1024
"""Bytes per GridFS chunk: the GridFS default, so one chunk stays well under 16 MiB."""


@dataclass(frozen=True)
class Blob:
    """One offloaded value: its id, its bytes, and where it belongs."""

    id: ObjectId
    data: bytes
    run_task_id: str
    slot: str
    """Where in the run the value sits, e.g. `results.fetch` (for people reading)."""


class BlobStore(abc.ABC):
    """Storage for blobs, keyed by `ObjectId`."""

    @abc.abstractmethod
    async def put(self, blobs: Iterable[Blob]) -> None:
        """Store blobs; each is complete (all its chunks) once this returns."""

    @abc.abstractmethod
    async def get(self, sizes: Mapping[ObjectId, int]) -> dict[ObjectId, bytes]:
        """The bytes of each blob, checked against its expected size.

        Raises `DatabaseError` if a blob is missing or incomplete.
        """

    @abc.abstractmethod
    async def delete(self, ids: Iterable[ObjectId]) -> None:
        """Delete blobs; ids that do not exist are ignored."""

    @abc.abstractmethod
    async def candidates(self, older_than: datetime) -> dict[str, list[ObjectId]]:
        """Blobs stored at or before `older_than`, by run: what a sweep may delete."""

    async def delete_quietly(self, ids: Iterable[ObjectId]) -> bool:
        """Delete blobs, logging instead of raising; False if it failed.

        Used to clean up after a failed or superseding write, where the caller
        must see the write's own outcome; a blob left behind is swept later.
        """
        ids = list(ids)
        if not ids:
            return True
        try:
            await self.delete(ids)
        except Exception as exc:  # the sweep removes what is left behind
            logger.warning("could not delete %d blob(s), left for the sweep: %s", len(ids), exc)
            return False
        return True


class GridFSBlobStore(BlobStore):
    """Blobs in the GridFS bucket `<bucket>` of a database (`<bucket>.files`, `.chunks`)."""

    def __init__(self, database: Any, bucket: str) -> None:
        self.files = database[f"{bucket}.files"]
        self.chunks = database[f"{bucket}.chunks"]
        self.bucket = bucket

    async def put(self, blobs: Iterable[Blob]) -> None:
        for blob in blobs:
            chunks = [
                {"files_id": blob.id, "n": n, "data": Binary(blob.data[start : start + CHUNK_SIZE])}
                for n, start in enumerate(range(0, max(len(blob.data), 1), CHUNK_SIZE))
            ]
            try:
                await self.chunks.insert_many(chunks, ordered=True)
                # The files document last: GridFS readers see a file only when complete.
                await self.files.insert_one(
                    {
                        "_id": blob.id,
                        "length": len(blob.data),
                        "chunkSize": CHUNK_SIZE,
                        "uploadDate": utc_now(),
                        "filename": f"{blob.run_task_id}/{blob.slot}",
                        "metadata": {"run_task_id": blob.run_task_id, "slot": blob.slot},
                    }
                )
            except DRIVER_ERRORS as exc:
                raise translate_error(
                    exc, f"storing blob {blob.slot!r} of run {blob.run_task_id!r}", write=True
                ) from exc

    async def get(self, sizes: Mapping[ObjectId, int]) -> dict[ObjectId, bytes]:
        if not sizes:
            return {}
        parts: dict[ObjectId, list[bytes]] = {blob_id: [] for blob_id in sizes}
        try:
            cursor = self.chunks.find({"files_id": {"$in": list(sizes)}}, {"_id": 0})
            rows = await cursor.sort([("files_id", 1), ("n", 1)]).to_list(None)
        except DRIVER_ERRORS as exc:
            raise translate_error(exc, f"reading {len(sizes)} blob(s)") from exc
        for row in rows:
            chunks = parts.get(row["files_id"])
            if chunks is not None and row["n"] == len(chunks):
                chunks.append(bytes(row["data"]))
        found = {blob_id: b"".join(chunks) for blob_id, chunks in parts.items()}
        for blob_id, size in sizes.items():
            if len(found[blob_id]) != size:
                raise DatabaseError(
                    f"blob {blob_id} in {self.bucket!r} is missing or incomplete: "
                    f"{len(found[blob_id])} of {size} bytes"
                )
        return found

    async def delete(self, ids: Iterable[ObjectId]) -> None:
        ids = list(ids)
        try:
            # The files document first: a reader never sees a file without its chunks.
            await self.files.delete_many({"_id": {"$in": ids}})
            await self.chunks.delete_many({"files_id": {"$in": ids}})
        except DRIVER_ERRORS as exc:
            raise translate_error(exc, f"deleting {len(ids)} blob(s)", write=True) from exc

    async def candidates(self, older_than: datetime) -> dict[str, list[ObjectId]]:
        try:
            cursor = self.files.find(
                {"uploadDate": {"$lte": older_than}}, {"_id": 1, "metadata.run_task_id": 1}
            )
            rows = await cursor.to_list(None)
        except DRIVER_ERRORS as exc:
            raise translate_error(exc, "listing blobs") from exc
        by_run: dict[str, list[ObjectId]] = {}
        for row in rows:
            run_task_id = (row.get("metadata") or {}).get("run_task_id")
            by_run.setdefault(str(run_task_id), []).append(row["_id"])
        return by_run

    async def delete_for_runs(self, run_task_ids: list[Any]) -> int:
        """Delete every blob of these runs (which must be gone); returns how many."""
        try:
            rows = await self.files.find(
                {"metadata.run_task_id": {"$in": run_task_ids}}, {"_id": 1}
            ).to_list(None)
        except DRIVER_ERRORS as exc:
            raise translate_error(exc, f"listing the blobs of {len(run_task_ids)} run(s)") from exc
        ids = [row["_id"] for row in rows]
        if ids:
            await self.delete(ids)
        return len(ids)

    async def orphaned_chunks(self) -> list[ObjectId]:
        """Ids that have chunks but no files document (an upload cut short)."""
        try:
            chunk_ids = await self.chunks.distinct("files_id")
            file_ids = set(await self.files.distinct("_id", {"_id": {"$in": chunk_ids}}))
        except DRIVER_ERRORS as exc:
            raise translate_error(exc, "listing blob chunks") from exc
        return [blob_id for blob_id in chunk_ids if blob_id not in file_ids]


class MemoryBlobStore(BlobStore):
    """Blobs in a dict, for the in-memory store."""

    def __init__(self) -> None:
        self.blobs: dict[ObjectId, tuple[bytes, str, datetime]] = {}

    async def put(self, blobs: Iterable[Blob]) -> None:
        for blob in blobs:
            self.blobs[blob.id] = (blob.data, blob.run_task_id, utc_now())

    async def get(self, sizes: Mapping[ObjectId, int]) -> dict[ObjectId, bytes]:
        found = {}
        for blob_id, size in sizes.items():
            data = self.blobs.get(blob_id, (b"", "", utc_now()))[0]
            if len(data) != size:
                raise DatabaseError(f"blob {blob_id} is missing or incomplete")
            found[blob_id] = data
        return found

    async def delete(self, ids: Iterable[ObjectId]) -> None:
        for blob_id in ids:
            self.blobs.pop(blob_id, None)

    async def candidates(self, older_than: datetime) -> dict[str, list[ObjectId]]:
        by_run: dict[str, list[ObjectId]] = {}
        for blob_id, (_, run_task_id, stored_at) in list(self.blobs.items()):
            if stored_at <= older_than:
                by_run.setdefault(run_task_id, []).append(blob_id)
        return by_run


class NothingWritten(Exception):  # noqa: N818 - a verdict, raised to unwind a write
    """Base of the stores' internal signals that a write matched nothing."""


def nothing_written(exc: BaseException) -> bool:
    """True if a write that raised `exc` certainly wrote nothing.

    A store error says so, except `DatabaseUnavailableError`: a write whose
    reply was lost may have been applied. Anything else (a cancelled task, an
    unexpected error) is treated as possibly applied too.
    """
    if isinstance(exc, NothingWritten):
        return True
    return isinstance(exc, WorkflowStoreError) and not isinstance(exc, DatabaseUnavailableError)


def grace_cutoff(grace: timedelta) -> datetime:
    """The upload time before which an unreferenced blob may be swept."""
    return utc_now() - grace
