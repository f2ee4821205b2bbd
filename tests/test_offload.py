"""Runs larger than one document: values past the threshold live in GridFS blobs.

Run on the in-memory store, on mongomock (GridFS written with plain collection
commands, read back by PyMongo's own `GridFSBucket`), and on a real server when
`MONGODB_URI` is set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo.errors import AutoReconnect

from mongo_wfstore import (
    DatabaseError,
    DatabaseUnavailableError,
    InMemoryWorkflowStore,
    InvalidInputError,
    MongoWorkflowStore,
    PayloadTooLargeError,
    RevisionConflictError,
    RunNotFoundError,
    TaskStatus,
    WaitAlreadyCompletedError,
    WorkflowStepState,
)

from .conftest import BACKENDS, _collection_for
from .doubles import ServerRulesCollection, assert_storable
from .test_contract import new_state

Store = InMemoryWorkflowStore | MongoWorkflowStore
BIG = {"text": "b" * 5000, "n": [1, 2.5, True, None], "$ref": "#/x"}  # > 1 KiB


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """Each store with a 1 KiB offload threshold."""
    if request.param == "memory":
        yield InMemoryWorkflowStore(offload_threshold=1024)
        return
    async for coll in _collection_for(request, request.param):
        yield MongoWorkflowStore(coll, offload_threshold=1024)


async def blob_count(store: Store) -> int:
    if isinstance(store, InMemoryWorkflowStore):
        return len(store.blobs.blobs)
    files = await store.blobs.files.count_documents({})  # type: ignore[attr-defined]
    chunks = await store.blobs.chunks.distinct("files_id")  # type: ignore[attr-defined]
    assert len(chunks) == files, "every file has its chunks and no chunk is orphaned"
    return int(files)


def waiting(wait: str = "w1") -> WorkflowStepState:
    return WorkflowStepState(step_id="ask", status=TaskStatus.INPUT_REQUIRED, wait_task_id=wait)


# ── round trips ───────────────────────────────────────────────────────────


async def test_large_values_round_trip_through_blobs(store: Store) -> None:
    state = new_state().with_input(BIG).with_context({"big": BIG, "steps": {"s": BIG}, "k": 1})
    await store.create_run(state)
    step = WorkflowStepState(step_id="s.1", status=TaskStatus.COMPLETED, result=BIG)
    await store.upsert_step("run-1", step)
    await store.commit_step(
        "run-1", WorkflowStepState(step_id="c", result=[BIG]), context_updates={"u": BIG}
    )
    await store.upsert_step("run-1", waiting())
    _, completed = await store.complete_wait("w1", {"answer": BIG})

    got = await store.get_run("run-1")
    assert got is not None
    assert got.input == BIG
    assert got.context == {
        "big": BIG,
        "steps": {"s": BIG, "c": [BIG], "ask": {"answer": BIG}},
        "k": 1,
        "u": BIG,
    }
    assert await store.get_step("run-1", "s.1") == step
    assert [s.result for s in await store.list_steps("run-1")] == [BIG, [BIG], {"answer": BIG}]
    assert await store.find_wait("w1") == ("run-1", completed)
    assert (await store.list_runs()).items == [got]
    # input, context.big, context.steps.s, s.1, c (step and context), u, ask (step and context)
    assert await blob_count(store) == 7


async def test_a_context_that_is_not_an_object_is_offloaded_whole(store: Store) -> None:
    await store.create_run(new_state().with_context([BIG, BIG]))
    got = await store.get_run("run-1")
    assert got is not None and got.context == [BIG, BIG]
    with pytest.raises(InvalidInputError, match="context of run 'run-1'"):
        await store.commit_step("run-1", WorkflowStepState(step_id="a"))


async def test_the_run_document_holds_references(store: Store) -> None:
    if isinstance(store, InMemoryWorkflowStore):
        pytest.skip("raw documents are MongoDB's")
    await store.create_run(new_state().with_input(BIG))
    await store.upsert_step("run-1", WorkflowStepState(step_id="s", result=BIG))
    doc = await store.collection.find_one({"_id": "run-1"})
    assert_storable(doc)
    ref = doc["input"]["%blob"]
    assert set(ref) == {"id", "size"} and ref["size"] > 1024
    assert doc["steps"][0]["result"]["%blob"]["id"] == doc["blobs"]["results"]["s"]
    assert doc["blobs"]["input"] == ref["id"]
    files = await store.blobs.files.find().to_list(None)  # type: ignore[attr-defined]
    assert {f["metadata"]["slot"] for f in files} == {"input", "results.s"}
    assert {f["metadata"]["run_task_id"] for f in files} == {"run-1"}


async def test_a_run_can_grow_past_16_mib() -> None:
    for store in (
        InMemoryWorkflowStore(),
        MongoWorkflowStore(ServerRulesCollection(AsyncMongoMockClient()["db"]["runs"])),
    ):
        await store.create_run(new_state())
        results = [c * (7 << 20) for c in "abc"]  # 21 MiB in all, with the default threshold
        for step_id, result in zip("abc", results, strict=True):
            await store.commit_step("run-1", WorkflowStepState(step_id=step_id, result=result))
        assert [s.result for s in await store.list_steps("run-1")] == results
        got = await store.get_run("run-1")
        assert got is not None and got.context == {"steps": dict(zip("abc", results, strict=True))}


# ── no orphans ────────────────────────────────────────────────────────────


async def test_replaced_and_deleted_values_take_their_blobs_along(store: Store) -> None:
    await store.create_run(new_state().with_input(BIG))
    assert await blob_count(store) == 1
    await store.create_run(new_state().with_input("small"))
    assert await blob_count(store) == 0
    await store.upsert_step("run-1", WorkflowStepState(step_id="s", result=BIG))
    await store.upsert_step("run-1", WorkflowStepState(step_id="s", result={**BIG, "v": 2}))
    assert await blob_count(store) == 1
    await store.commit_step("run-1", WorkflowStepState(step_id="s", result=BIG))
    assert await blob_count(store) == 1  # one blob for the step and context.steps.s
    await store.update_context("run-1", {"fresh": True})  # context.steps.s goes, the step keeps it
    assert await blob_count(store) == 1
    step = await store.get_step("run-1", "s")
    assert step is not None and step.result == BIG
    await store.upsert_step("run-1", WorkflowStepState(step_id="s"))
    assert await blob_count(store) == 0
    await store.update_context("run-1", {"a": BIG, "b": BIG})
    await store.upsert_step("run-1", waiting())
    await store.complete_wait("w1", BIG)
    assert await blob_count(store) == 3
    await store.delete_run("run-1")
    assert await blob_count(store) == 0


async def test_a_failed_write_leaves_no_blob(store: Store) -> None:
    with pytest.raises(RunNotFoundError):
        await store.update_context("ghost", {"a": BIG})
    with pytest.raises(RunNotFoundError):
        await store.commit_step("ghost", WorkflowStepState(step_id="a", result=BIG))
    await store.create_run(new_state())
    with pytest.raises(RevisionConflictError):
        await store.commit_step(
            "run-1", WorkflowStepState(step_id="a", result=BIG), expected_revision=99
        )
    await store.upsert_step("run-1", waiting())
    await store.complete_wait("w1", "first")
    with pytest.raises(WaitAlreadyCompletedError):
        await store.complete_wait("w1", BIG)
    assert await blob_count(store) == 0


async def test_a_write_refused_for_size_leaves_no_blob() -> None:
    inline = "x" * ((1 << 20) - 200)
    for store in (
        InMemoryWorkflowStore(),
        MongoWorkflowStore(ServerRulesCollection(AsyncMongoMockClient()["db"]["runs"])),
    ):
        await store.create_run(new_state())
        for i in range(16):
            await store.upsert_step("run-1", WorkflowStepState(step_id=f"s{i}", result=inline))
        with pytest.raises(PayloadTooLargeError):  # the blob fits, the inline update does not
            await store.commit_step(
                "run-1",
                WorkflowStepState(step_id="big", result="y" * (2 << 20)),
                context_updates={"inline": inline},
            )
        assert await blob_count(store) == 0
        assert len(await store.list_steps("run-1")) == 16


# ── faults, and the sweep ─────────────────────────────────────────────────


class _LoseTheReply:
    """Applies the next write, then raises a network error, as a lost reply does."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._inner.find_one_and_update(*args, **kwargs)
        if self.armed:
            self.armed = False
            raise AutoReconnect("connection reset after the write")
        return result


async def test_an_ambiguous_failure_keeps_the_blobs_the_run_may_reference() -> None:
    coll = _LoseTheReply(ServerRulesCollection(AsyncMongoMockClient()["db"]["runs"]))
    store = MongoWorkflowStore(coll, offload_threshold=1024)
    await store.create_run(new_state())
    await store.upsert_step("run-1", WorkflowStepState(step_id="s"))
    coll.armed = True
    with pytest.raises(DatabaseUnavailableError) as info:
        await store.upsert_step("run-1", WorkflowStepState(step_id="s", result=BIG))
    assert isinstance(info.value.__cause__, AutoReconnect)
    step = await store.get_step("run-1", "s")  # the write landed, and its blob is there
    assert step is not None and step.result == BIG
    assert await store.sweep_blobs(grace=timedelta(0)) == 0  # referenced: kept
    assert await blob_count(store) == 1


async def test_the_sweep_deletes_what_nothing_references(store: Store) -> None:
    await store.create_run(new_state().with_input(BIG))
    await store.create_run(new_state("other").with_input(BIG))
    if isinstance(store, MongoWorkflowStore):
        # A TTL index (or delete_many) removes a run behind the store's back.
        await store.collection.delete_one({"_id": "other"})  # type: ignore[attr-defined]
    else:
        del store._runs["other"]
    assert await store.sweep_blobs() == 0  # younger than the grace period: kept
    assert await store.sweep_blobs(grace=timedelta(0)) == 1
    got = await store.get_run("run-1")
    assert got is not None and got.input == BIG
    assert await blob_count(store) == 1


async def test_the_sweep_deletes_chunks_of_an_upload_cut_short() -> None:
    store = MongoWorkflowStore(AsyncMongoMockClient()["db"]["runs"], offload_threshold=1024)
    await store.create_run(new_state().with_input(BIG))
    blobs: Any = store.blobs
    cut_short = (await blobs.files.find_one())["_id"]
    await blobs.files.delete_one({"_id": cut_short})  # chunks written, files document not
    assert await store.sweep_blobs(grace=timedelta(0)) == 1
    assert await blobs.chunks.count_documents({}) == 0


async def test_a_missing_blob_is_a_clear_error(store: Store) -> None:
    await store.create_run(new_state().with_input(BIG))
    if isinstance(store, InMemoryWorkflowStore):
        store.blobs.blobs.clear()
    else:
        await store.blobs.chunks.delete_many({})  # type: ignore[attr-defined]
    with pytest.raises(DatabaseError, match="missing or incomplete"):
        await store.get_run("run-1")


@pytest.mark.parametrize("threshold", [0, 1023, "1MiB", 2.5])
def test_the_offload_threshold_is_checked(threshold: Any) -> None:
    with pytest.raises(InvalidInputError, match="offload_threshold"):
        InMemoryWorkflowStore(offload_threshold=threshold)
    with pytest.raises(InvalidInputError, match="offload_threshold"):
        MongoWorkflowStore(AsyncMongoMockClient()["db"]["runs"], offload_threshold=threshold)


# ── GridFS compatibility ──────────────────────────────────────────────────


async def test_gridfs_reads_the_blobs_the_store_writes() -> None:
    import bson
    import gridfs
    import mongomock.gridfs

    mongomock.gridfs.enable_gridfs_integration()
    store = MongoWorkflowStore(AsyncMongoMockClient()["db"]["runs"], offload_threshold=1024)
    big = "g" * (600 * 1024)  # three chunks
    await store.upsert_step("run-1", WorkflowStepState(step_id="s", result=big))
    doc = await store.collection.find_one({"_id": "run-1"})
    blob_id = doc["steps"][0]["result"]["%blob"]["id"]
    bucket = gridfs.GridFSBucket(store.collection.database.delegate, bucket_name="runs.blobs")
    data = bucket.open_download_stream(blob_id).read()
    assert bson.decode(data) == {"v": big}


@pytest.mark.skipif(
    not __import__("os").environ.get("MONGODB_URI"), reason="MONGODB_URI is not set"
)
async def test_gridfs_reads_the_blobs_on_a_real_server(server_collection: Any) -> None:
    import bson
    from gridfs import AsyncGridFSBucket

    store = MongoWorkflowStore(server_collection, offload_threshold=1024)
    big = "g" * (600 * 1024)
    await store.upsert_step("run-1", WorkflowStepState(step_id="s", result=big))
    doc = await server_collection.find_one({"_id": "run-1"})
    blob_id = doc["steps"][0]["result"]["%blob"]["id"]
    bucket = AsyncGridFSBucket(server_collection.database, bucket_name="workflow_runs.blobs")
    stream = await bucket.open_download_stream(blob_id)
    assert bson.decode(await stream.read()) == {"v": big}
