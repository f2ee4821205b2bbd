"""Counting database commands and bytes, per store operation.

What lives here:

- `OpMeter`: what one store operation cost: commands, bytes sent and received,
  duplicate-key refusals. `metering()` makes a meter current for the task that
  runs the operation; whatever counts commands adds to the current meter.
- `CommandCounter`: a PyMongo `CommandListener` for a real server. Bytes are
  `len(bson.encode(...))` of the command the driver published (document
  sequences included) and of the server's reply: the BSON bodies of the OP_MSG
  frames, without their 21-byte headers.
- `CountingCollection`: for the embedded mock, where no driver runs. It wraps a
  mongomock-motor collection and counts each call as the command PyMongo would
  send (`update`, `find`, `getMore`, `findAndModify`, ...). Bytes are the BSON
  size of that command and of the reply a server would give: an approximation,
  without the session and cluster-time fields a server adds (about 40 to 150
  bytes a command, the same for every design). It also yields to the event loop
  before and after every call, as a network round-trip does; without that,
  mongomock runs each call to completion and concurrent writers never overlap.

Counting costs CPU (encoding a command to measure it). The time spent counting
is recorded in the meter (`overhead`) so that the workload can take it out of
the operation's latency.

What is **not** here: which operations run (`workload`) and the stores.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import bson
from bson.int64 import Int64
from pymongo import monitoring
from pymongo.errors import OperationFailure

__all__ = [
    "FIRST_BATCH_DOCUMENTS",
    "MAX_BATCH_BYTES",
    "CommandCounter",
    "CountingCollection",
    "OpMeter",
    "current_meter",
    "metering",
]

DUPLICATE_KEY = 11000

FIRST_BATCH_DOCUMENTS = 101
"""Documents a server returns in a cursor's first batch when no batch size is set."""

MAX_BATCH_BYTES = 16 * 1024 * 1024
"""A batch (first or `getMore`) holds at most this many bytes of documents."""


@dataclass
class OpMeter:
    """What one store operation cost on the wire."""

    commands: int = 0
    sent: int = 0
    received: int = 0
    duplicate_keys: int = 0
    """Writes the server refused with E11000 (a lost insert race)."""
    failures: int = 0
    """Commands that failed (E11000 included when the server reports it so)."""
    overhead: float = 0.0
    """Seconds spent counting, to take out of the operation's latency."""

    def add(self, other: OpMeter) -> None:
        """Add `other`'s counts to this meter."""
        self.commands += other.commands
        self.sent += other.sent
        self.received += other.received
        self.duplicate_keys += other.duplicate_keys
        self.failures += other.failures
        self.overhead += other.overhead


_CURRENT: ContextVar[OpMeter | None] = ContextVar("mongo_wfstore_bench_meter", default=None)


def current_meter() -> OpMeter | None:
    """The meter of the operation running in this task, if any."""
    return _CURRENT.get()


@contextmanager
def metering() -> Iterator[OpMeter]:
    """Count the commands sent by this task, until the block ends, into a new meter."""
    meter = OpMeter()
    token = _CURRENT.set(meter)
    try:
        yield meter
    finally:
        _CURRENT.reset(token)


def _size(doc: Mapping[str, Any]) -> int:
    return len(bson.encode(doc))


def _duplicate_keys(reply: Mapping[str, Any]) -> int:
    errors = reply.get("writeErrors") or []
    return sum(1 for error in errors if error.get("code") == DUPLICATE_KEY)


# ── a real server, through PyMongo's command monitoring ──────────────────


class CommandCounter(monitoring.CommandListener):
    """Counts the commands of the current operation, from PyMongo's command events.

    Register it on the client: `AsyncMongoClient(uri, event_listeners=[counter])`.
    Commands sent while no operation is metered (setup, verification) are only
    counted in `unattributed`.
    """

    def __init__(self) -> None:
        self.unattributed = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        meter = _CURRENT.get()
        if meter is None:
            self.unattributed += 1
            return
        start = time.perf_counter()
        meter.commands += 1
        meter.sent += _size(event.command)
        meter.overhead += time.perf_counter() - start

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        meter = _CURRENT.get()
        if meter is None:
            return
        start = time.perf_counter()
        meter.received += _size(event.reply)
        meter.duplicate_keys += _duplicate_keys(event.reply)
        meter.overhead += time.perf_counter() - start

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        meter = _CURRENT.get()
        if meter is None:
            return
        start = time.perf_counter()
        meter.failures += 1
        failure = event.failure
        meter.received += _size(failure)
        if failure.get("code") == DUPLICATE_KEY:
            meter.duplicate_keys += 1
        meter.overhead += time.perf_counter() - start


# ── the embedded mock, through a collection wrapper ──────────────────────


class CountingCollection:
    """A mongomock-motor collection that counts what a driver would send and receive.

    Each call is counted as the command PyMongo sends for it, and yields to the
    event loop before and after, like a network round-trip. Anything it does not
    wrap is passed through uncounted.
    """

    def __init__(self, inner: Any, database: str = "bench") -> None:
        self._inner = inner
        self._database = database

    @property
    def name(self) -> str:
        """The collection's name."""
        return str(self._inner.name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def _namespace(self) -> str:
        return f"{self._database}.{self.name}"

    # ── counting ──────────────────────────────────────────────────────────

    def _count_sent(self, command: Mapping[str, Any]) -> OpMeter | None:
        meter = _CURRENT.get()
        if meter is None:
            return None
        start = time.perf_counter()
        meter.commands += 1
        meter.sent += _size({**command, "$db": self._database})
        meter.overhead += time.perf_counter() - start
        return meter

    @staticmethod
    def _count_received(meter: OpMeter | None, reply: Mapping[str, Any]) -> None:
        if meter is None:
            return
        start = time.perf_counter()
        meter.received += _size(reply)
        meter.duplicate_keys += _duplicate_keys(reply)
        meter.overhead += time.perf_counter() - start

    async def _write(self, command: Mapping[str, Any], call: Any, reply: Any) -> Any:
        """Send a write: count it, run `call`, count the reply made by `reply(result)`.

        A write the mock refuses is counted with the reply a server gives for a
        write error (`ok: 1` and `writeErrors`), then re-raised.
        """
        meter = self._count_sent(command)
        await asyncio.sleep(0)
        try:
            result = await call()
        except OperationFailure as exc:
            await asyncio.sleep(0)
            error = {"index": 0, "code": exc.code or 0, "errmsg": str(exc)}
            self._count_received(meter, {"n": 0, "writeErrors": [error], "ok": 1.0})
            raise
        await asyncio.sleep(0)
        self._count_received(meter, reply(result))
        return result

    async def _read_one(self, command: Mapping[str, Any], call: Any) -> Any:
        meter = self._count_sent(command)
        await asyncio.sleep(0)
        doc = await call()
        await asyncio.sleep(0)
        batch = [] if doc is None else [doc]
        reply = {"cursor": {"firstBatch": batch, "id": Int64(0), "ns": self._namespace}, "ok": 1.0}
        self._count_received(meter, reply)
        return doc

    # ── reads ─────────────────────────────────────────────────────────────

    async def find_one(self, filter: Any = None, projection: Any = None, **kwargs: Any) -> Any:
        command: dict[str, Any] = {"find": self.name, "filter": filter or {}}
        if projection is not None:
            command["projection"] = projection
        command.update(limit=1, singleBatch=True)
        return await self._read_one(
            command, lambda: self._inner.find_one(filter, projection, **kwargs)
        )

    def find(self, filter: Any = None, projection: Any = None, **kwargs: Any) -> CountingCursor:
        return CountingCursor(self, filter or {}, projection, kwargs)

    def aggregate(self, pipeline: Sequence[Mapping[str, Any]], **kwargs: Any) -> CountingCursor:
        return CountingCursor(self, {}, None, kwargs, pipeline=list(pipeline))

    # ── writes ────────────────────────────────────────────────────────────

    @staticmethod
    def _update_reply(result: Any) -> dict[str, Any]:
        reply: dict[str, Any] = {"n": result.matched_count, "nModified": result.modified_count}
        if result.upserted_id is not None:
            reply["n"] = 1
            reply["upserted"] = [{"index": 0, "_id": result.upserted_id}]
        reply["ok"] = 1.0
        return reply

    async def update_one(
        self, filter: Mapping[str, Any], update: Any, upsert: bool = False, **kwargs: Any
    ) -> Any:
        command = {
            "update": self.name,
            "ordered": True,
            "updates": [{"q": filter, "u": update, "multi": False, "upsert": upsert}],
        }
        return await self._write(
            command,
            lambda: self._inner.update_one(filter, update, upsert=upsert, **kwargs),
            self._update_reply,
        )

    async def replace_one(
        self, filter: Mapping[str, Any], replacement: Any, upsert: bool = False, **kwargs: Any
    ) -> Any:
        command = {
            "update": self.name,
            "ordered": True,
            "updates": [{"q": filter, "u": replacement, "multi": False, "upsert": upsert}],
        }
        return await self._write(
            command,
            lambda: self._inner.replace_one(filter, replacement, upsert=upsert, **kwargs),
            self._update_reply,
        )

    async def insert_one(self, document: Any, **kwargs: Any) -> Any:
        command = {"insert": self.name, "ordered": True, "documents": [document]}
        return await self._write(
            command,
            lambda: self._inner.insert_one(document, **kwargs),
            lambda _: {"n": 1, "ok": 1.0},
        )

    async def insert_many(self, documents: Sequence[Any], **kwargs: Any) -> Any:
        command = {"insert": self.name, "ordered": True, "documents": list(documents)}
        return await self._write(
            command,
            lambda: self._inner.insert_many(documents, **kwargs),
            lambda result: {"n": len(result.inserted_ids), "ok": 1.0},
        )

    async def delete_one(self, filter: Mapping[str, Any], **kwargs: Any) -> Any:
        command = {"delete": self.name, "ordered": True, "deletes": [{"q": filter, "limit": 1}]}
        return await self._write(
            command,
            lambda: self._inner.delete_one(filter, **kwargs),
            lambda result: {"n": result.deleted_count, "ok": 1.0},
        )

    async def delete_many(self, filter: Mapping[str, Any], **kwargs: Any) -> Any:
        command = {"delete": self.name, "ordered": True, "deletes": [{"q": filter, "limit": 0}]}
        return await self._write(
            command,
            lambda: self._inner.delete_many(filter, **kwargs),
            lambda result: {"n": result.deleted_count, "ok": 1.0},
        )

    async def find_one_and_update(
        self,
        filter: Mapping[str, Any],
        update: Any,
        projection: Any = None,
        *,
        upsert: bool = False,
        return_document: bool = False,
        **kwargs: Any,
    ) -> Any:
        command: dict[str, Any] = {"findAndModify": self.name, "query": filter, "update": update}
        if projection is not None:
            command["fields"] = projection
        command.update(new=bool(return_document), upsert=upsert)

        def reply(doc: Any) -> dict[str, Any]:
            return {"lastErrorObject": {"n": 1}, "value": doc, "ok": 1.0}

        return await self._write(
            command,
            lambda: self._inner.find_one_and_update(
                filter,
                update,
                projection,
                upsert=upsert,
                return_document=return_document,
                **kwargs,
            ),
            reply,
        )


class CountingCursor:
    """A `find` or `aggregate` cursor whose `to_list` is counted as a server runs it.

    A server returns at most `FIRST_BATCH_DOCUMENTS` documents in the first
    batch, then `getMore` batches of up to 16 MiB; each is a command.
    """

    def __init__(
        self,
        collection: CountingCollection,
        filter: Mapping[str, Any],
        projection: Any,
        kwargs: dict[str, Any],
        *,
        pipeline: list[Mapping[str, Any]] | None = None,
    ) -> None:
        self._collection = collection
        self._filter = filter
        self._projection = projection
        self._kwargs = kwargs
        self._pipeline = pipeline
        self._sort: list[tuple[str, int]] | None = None

    def sort(self, key: str | list[tuple[str, int]], direction: int = 1) -> CountingCursor:
        """Sort by `key` (a field and `direction`, or a list of pairs)."""
        self._sort = [(key, direction)] if isinstance(key, str) else list(key)
        return self

    async def to_list(self, length: int | None = None) -> list[Any]:
        """All the documents, counting the `find`/`aggregate` and each `getMore`."""
        collection = self._collection
        inner = collection._inner
        name = collection.name
        command: dict[str, Any]
        if self._pipeline is not None:
            command = {"aggregate": name, "pipeline": self._pipeline, "cursor": {}}
        else:
            command = {"find": name, "filter": self._filter}
            if self._projection is not None:
                command["projection"] = self._projection
            if self._sort is not None:
                command["sort"] = dict(self._sort)
        meter = collection._count_sent(command)
        await asyncio.sleep(0)
        if self._pipeline is not None:
            cursor = inner.aggregate(self._pipeline, **self._kwargs)
        else:
            cursor = inner.find(self._filter, self._projection, **self._kwargs)
            if self._sort is not None:
                cursor = cursor.sort(self._sort)
        docs: list[Any] = await cursor.to_list(None)
        await asyncio.sleep(0)
        if length is not None:
            docs = docs[:length]
        if meter is None:
            return docs
        start = time.perf_counter()
        batches = _batches(docs)
        meter.overhead += time.perf_counter() - start
        for number, batch in enumerate(batches):
            last = number == len(batches) - 1
            field = "firstBatch" if number == 0 else "nextBatch"
            if number > 0:
                collection._count_sent({"getMore": Int64(1), "collection": name})
            reply = {
                "cursor": {
                    field: batch,
                    "id": Int64(0 if last else 1),
                    "ns": collection._namespace,
                },
                "ok": 1.0,
            }
            collection._count_received(meter, reply)
        return docs


def _batches(docs: list[Any]) -> list[list[Any]]:
    """`docs` cut into the batches a server returns by default; one empty batch if none."""
    batches: list[list[Any]] = [[]]
    size = 0
    for doc in docs:
        doc_size = _size(doc)
        first = len(batches) == 1
        full = (first and len(batches[0]) >= FIRST_BATCH_DOCUMENTS) or (
            batches[-1] and size + doc_size > MAX_BATCH_BYTES
        )
        if full:
            batches.append([])
            size = 0
        batches[-1].append(doc)
        size += doc_size
    return batches
