"""Purging: `purge_runs` deletes what was last updated before the cutoff, in batches,
and keeps what a writer touched meanwhile. On mongomock-motor and, when
`MONGODB_URI` is set, a real server (PyMongo and Motor).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from mongo_wfstore import (
    DatabaseUnavailableError,
    InvalidInputError,
    MongoWorkflowStore,
    TaskStatus,
    WorkflowStepState,
    purge_runs,
    utc_now,
)

from .conftest import MONGO_BACKENDS, _collection_for
from .doubles import CountingCollection, UntouchableCollection, _Proxy
from .test_contract import new_state

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=MONGO_BACKENDS)
async def collection(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A fresh, empty runs collection on each MongoDB backend."""
    async for coll in _collection_for(request, request.param):
        yield coll


async def seed(collection: Any, ages_in_days: dict[str, float]) -> None:
    """One run per id, its `updated_at` that many days before NOW, with a step."""
    store = MongoWorkflowStore(collection)
    for run_id, age in ages_in_days.items():
        when = NOW - timedelta(days=age)
        state = new_state(run_id).model_copy(update={"created_at": when, "updated_at": when})
        await store.upsert_step(run_id, WorkflowStepState(step_id="s", status=TaskStatus.COMPLETED))
        await store.create_run(state)  # last: it writes the state's updated_at


async def ids(collection: Any) -> set[str]:
    return {doc["_id"] async for doc in collection.find({}, {"_id": 1})}


async def test_runs_older_than_the_cutoff_are_deleted_and_the_rest_kept(collection: Any) -> None:
    await seed(collection, {"old-1": 40, "old-2": 31, "new-1": 29, "new-2": 0})
    result = await purge_runs(collection, older_than=timedelta(days=30), now=NOW)
    assert (result.matched, result.deleted, result.batches) == (2, 2, 1)
    assert result.cutoff == NOW - timedelta(days=30)
    assert not result.dry_run
    assert await ids(collection) == {"new-1", "new-2"}


async def test_step_only_documents_are_purged_by_their_updated_at(collection: Any) -> None:
    store = MongoWorkflowStore(collection)
    await store.upsert_step("stub", WorkflowStepState(step_id="s"))  # updated_at = now
    assert (await collection.find_one({"_id": "stub"})).get("created_at") is None
    assert (await purge_runs(collection, older_than=timedelta(days=1))).matched == 0
    later = utc_now() + timedelta(days=2)
    result = await purge_runs(collection, older_than=timedelta(days=1), now=later)
    assert result.deleted == 1
    assert await ids(collection) == set()


async def test_a_dry_run_only_counts(collection: Any) -> None:
    await seed(collection, {"old": 40, "new": 1})
    result = await purge_runs(collection, older_than=timedelta(days=30), dry_run=True, now=NOW)
    assert (result.matched, result.deleted, result.batches, result.dry_run) == (1, 0, 0, True)
    assert await ids(collection) == {"old", "new"}


async def test_deletes_go_in_batches_of_the_given_size_with_progress(collection: Any) -> None:
    await seed(collection, {f"old-{i}": 40 + i for i in range(7)} | {"new": 1})
    counting = CountingCollection(collection)
    seen: list[tuple[int, int]] = []
    result = await purge_runs(
        counting,
        older_than=timedelta(days=30),
        batch_size=3,
        now=NOW,
        progress=lambda deleted, matched: seen.append((deleted, matched)),
    )
    assert (result.matched, result.deleted, result.batches) == (7, 7, 3)
    assert seen == [(0, 7), (3, 7), (6, 7), (7, 7)]
    deletes = [args for name, args, _ in counting.calls if name == "delete_many"]
    assert [len(filter["_id"]["$in"]) for (filter,) in deletes] == [3, 3, 1]
    for (filter,) in deletes:
        assert filter["updated_at"] == {"$lt": NOW - timedelta(days=30)}
    assert await ids(collection) == {"new"}


class _TouchesARunBeforeDeleting(_Proxy):
    """Updates run `touched` just before the first batch is deleted, as a writer would."""

    def __init__(self, inner: Any, touched: str) -> None:
        super().__init__(inner)
        self._touched = touched

    async def delete_many(self, filter: Any, **kwargs: Any) -> Any:
        if self._touched:
            await self._inner.update_one({"_id": self._touched}, {"$set": {"updated_at": NOW}})
            self._touched = ""
        return await self._inner.delete_many(filter, **kwargs)


async def test_a_run_written_to_during_the_purge_is_kept(collection: Any) -> None:
    await seed(collection, {"old-1": 40, "old-2": 41})
    racing = _TouchesARunBeforeDeleting(collection, touched="old-1")
    result = await purge_runs(racing, older_than=timedelta(days=30), now=NOW)
    assert (result.matched, result.deleted) == (2, 1)
    assert await ids(collection) == {"old-1"}


async def test_documents_whose_updated_at_is_not_a_date_are_never_matched(
    collection: Any,
) -> None:
    await collection.insert_one({"_id": "odd", "updated_at": "2001-01-01T00:00:00Z"})
    await collection.insert_one({"_id": "none"})
    result = await purge_runs(collection, older_than=timedelta(days=1), now=NOW)
    assert result.matched == 0
    assert await ids(collection) == {"odd", "none"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"older_than": timedelta(0)}, "older_than"),
        ({"older_than": timedelta(days=-1)}, "older_than"),
        ({"older_than": 30}, "older_than"),
        ({"older_than": timedelta(days=1), "batch_size": 0}, "batch_size"),
        ({"older_than": timedelta(days=1), "batch_size": 100_001}, "batch_size"),
        ({"older_than": timedelta(days=1), "batch_size": 2.5}, "batch_size"),
    ],
)
async def test_bad_arguments_are_refused_before_any_database_call(
    kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        await purge_runs(UntouchableCollection(), **kwargs)  # type: ignore[arg-type]


async def test_an_unreachable_server_is_a_database_unavailable_error() -> None:
    class Unreachable:
        async def count_documents(self, filter: Any) -> int:
            raise AutoReconnect("connection refused")

    with pytest.raises(DatabaseUnavailableError, match="purging runs last updated before"):
        await purge_runs(Unreachable(), older_than=timedelta(days=1))  # type: ignore[arg-type]


def test_the_result_is_json() -> None:
    from mongo_wfstore import PurgeResult

    result = PurgeResult(NOW, matched=3, deleted=2, batches=1)
    assert result.to_dict() == {
        "cutoff": "2025-06-01T12:00:00Z",
        "matched": 3,
        "deleted": 2,
        "batches": 1,
        "dry_run": False,
        "blobs_deleted": 0,
    }


async def test_a_purge_deletes_the_blobs_of_the_runs_it_deletes() -> None:
    from mongomock_motor import AsyncMongoMockClient

    collection = AsyncMongoMockClient()["db"]["runs"]
    store = MongoWorkflowStore(collection, offload_threshold=1024)
    old, new = NOW - timedelta(days=40), NOW - timedelta(days=1)
    big = {"text": "b" * 5000}
    for run_id, when in (("old", old), ("new", new)):
        await store.upsert_step(run_id, WorkflowStepState(step_id="s", result=big))
        state = new_state(run_id).model_copy(update={"created_at": when, "updated_at": when})
        await store.create_run(state.with_input(big))
    assert await store.blobs.files.count_documents({}) == 4  # type: ignore[attr-defined]
    result = await purge_runs(collection, older_than=timedelta(days=30), now=NOW)
    assert (result.deleted, result.blobs_deleted) == (1, 2)
    assert await store.blobs.files.count_documents({}) == 2  # type: ignore[attr-defined]
    assert await store.blobs.chunks.count_documents({}) == 2  # type: ignore[attr-defined]
    got = await store.get_run("new")
    assert got is not None and got.input == big
