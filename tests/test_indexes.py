"""Index setup: `ensure_indexes` creates, checks and reconciles the declared indexes.

Runs on mongomock-motor and, when `MONGODB_URI` is set, on a real server
through PyMongo and Motor. mongomock has no `collMod`: the TTL-change tests
wrap the collection in `IndexCommandsCollection`, which records every index
command sent and, on the mock only, carries out the `collMod` as a server
would, so "changed in place, never dropped" is proven by the commands sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import pytest
from bson.int64 import Int64
from bson.son import SON
from pymongo.errors import AutoReconnect, OperationFailure

from mongo_wfstore import (
    DatabaseError,
    DatabaseUnavailableError,
    IndexAction,
    InvalidInputError,
    ensure_indexes,
)
from mongo_wfstore._driver import list_indexes
from mongo_wfstore._indexes import (
    BLOB_INDEXES,
    INDEXES,
    IndexSpec,
    plan_indexes,
    retention_index,
)

from .conftest import MONGO_BACKENDS, _collection_for, needs_server
from .doubles import IndexCommandsCollection, ServerRulesCollection, UntouchableCollection

BLOBS = [f"{suffix}/{spec.name}" for suffix, specs in BLOB_INDEXES.items() for spec in specs]
DECLARED = [*(spec.name for spec in INDEXES), *BLOBS]
ALL = [*DECLARED, "wf_retention"]


@pytest.fixture(params=MONGO_BACKENDS)
async def collection(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A fresh, empty runs collection on each MongoDB backend."""
    async for coll in _collection_for(request, request.param):
        yield coll


async def indexes_of(collection: Any) -> dict[str, dict[str, Any]]:
    """The collection's indexes by name, without `v` and `ns`."""
    found = await list_indexes(collection)
    return {
        index["name"]: {k: v for k, v in index.items() if k not in ("v", "ns")} for index in found
    }


def actions(report: Any) -> dict[str, str]:
    return {entry.name: entry.action.value for entry in report.entries}


# ── the declaration ───────────────────────────────────────────────────────


def test_the_declared_indexes_are_exactly_these() -> None:
    # The store's queries rely on these names and key patterns: changing one
    # is a migration, not a refactoring.
    assert [(spec.name, spec.keys) for spec in INDEXES] == [
        ("wf_wait_task_id", (("steps.wait_task_id", 1),)),
        ("wf_thread_recent", (("thread_id", 1), ("created_at", -1), ("_id", -1))),
        ("wf_agent_recent", (("agent_id", 1), ("created_at", -1), ("_id", -1))),
        (
            "wf_tenant_recent",
            (("user_id", 1), ("workspace_id", 1), ("created_at", -1), ("_id", -1)),
        ),
        ("wf_user_recent", (("user_id", 1), ("created_at", -1), ("_id", -1))),
        ("wf_workspace_recent", (("workspace_id", 1), ("created_at", -1), ("_id", -1))),
        ("wf_recent", (("created_at", -1), ("_id", -1))),
    ]
    wait = INDEXES[0]
    assert wait.options() == {
        "name": "wf_wait_task_id",
        "partialFilterExpression": {"steps.wait_task_id": {"$exists": True}},
    }
    assert all(spec.expire_after_seconds is None for spec in INDEXES)
    assert all(spec.serves for spec in INDEXES)


def test_the_retention_index_is_a_ttl_on_updated_at_in_whole_seconds() -> None:
    spec = retention_index(30)
    assert spec.name == "wf_retention"
    assert spec.keys == (("updated_at", 1),)
    assert spec.options() == {"name": "wf_retention", "expireAfterSeconds": 30 * 86400}
    assert retention_index(0.5).expire_after_seconds == 43200
    assert retention_index(1 / 86400).expire_after_seconds == 1


@pytest.mark.parametrize("days", [0, -1, 0.000001, math.nan, math.inf, True, "30", 30_000])
async def test_a_bad_retention_is_refused_before_any_database_call(days: Any) -> None:
    with pytest.raises(InvalidInputError, match="retention"):
        await ensure_indexes(UntouchableCollection(), retention_days=days)  # type: ignore[arg-type]


async def test_retention_and_drop_retention_together_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="together"):
        await ensure_indexes(UntouchableCollection(), retention_days=7, drop_retention=True)  # type: ignore[arg-type]


# ── creating and checking ─────────────────────────────────────────────────


async def test_a_new_collection_gets_every_declared_index(collection: Any) -> None:
    report = await ensure_indexes(collection)
    assert actions(report) == dict.fromkeys(DECLARED, "create")
    assert report.ok and report.applied and report.changed
    stored = await indexes_of(collection)
    for spec in INDEXES:
        assert stored[spec.name] == spec.document()
        assert list(stored[spec.name]["key"].items()) == list(spec.keys)  # order kept
    assert "wf_retention" not in stored


async def test_a_second_run_reports_every_index_unchanged_and_changes_nothing(
    collection: Any,
) -> None:
    await ensure_indexes(collection, retention_days=30)
    before = await indexes_of(collection)
    watched = IndexCommandsCollection(collection)
    report = await ensure_indexes(watched, retention_days=30)
    assert actions(report) == dict.fromkeys(ALL, "unchanged")
    assert report.ok and not report.changes and not report.changed and not report.applied
    assert watched.commands == []
    assert await indexes_of(collection) == before


async def test_a_dry_run_reports_the_plan_and_changes_nothing(collection: Any) -> None:
    await collection.create_index([("created_at", 1), ("_id", 1)], name="wf_recent")
    before = await indexes_of(collection)
    watched = IndexCommandsCollection(collection)
    dry = await ensure_indexes(watched, retention_days=7, force=True, dry_run=True)
    assert watched.commands == []
    assert await indexes_of(collection) == before
    assert dry.dry_run and not dry.applied and not dry.changed
    assert dry.by_name()["wf_recent"].action is IndexAction.REBUILD
    real = await ensure_indexes(collection, retention_days=7, force=True)
    assert [(e.name, e.action, e.reasons) for e in real.entries] == [
        (e.name, e.action, e.reasons) for e in dry.entries
    ]
    assert real.applied


async def test_a_ttl_index_is_created_with_the_retention(collection: Any) -> None:
    report = await ensure_indexes(collection, retention_days=30)
    assert report.by_name()["wf_retention"].action is IndexAction.CREATE
    stored = await indexes_of(collection)
    assert stored["wf_retention"] == {
        "key": {"updated_at": 1},
        "name": "wf_retention",
        "expireAfterSeconds": 2592000,
    }


# ── conflicts ─────────────────────────────────────────────────────────────


async def test_a_same_named_index_with_another_key_order_is_a_conflict_and_nothing_changes(
    collection: Any,
) -> None:
    await collection.create_index([("_id", -1), ("created_at", -1)], name="wf_recent")
    before = await indexes_of(collection)
    watched = IndexCommandsCollection(collection)
    report = await ensure_indexes(watched, retention_days=30)
    assert not report.ok and not report.applied and not report.changed
    conflict = report.by_name()["wf_recent"]
    assert conflict.action is IndexAction.CONFLICT
    assert "key pattern is {_id: -1, created_at: -1}" in conflict.reasons[0]
    assert conflict.existing == {"key": {"_id": -1, "created_at": -1}, "name": "wf_recent"}
    # The other indexes would have been created: none was.
    assert report.by_name()["wf_thread_recent"].action is IndexAction.CREATE
    assert watched.commands == []
    assert await indexes_of(collection) == before


async def test_force_drops_and_rebuilds_a_conflicting_index(collection: Any) -> None:
    await collection.create_index(
        [("steps.wait_task_id", 1)], name="wf_wait_task_id"
    )  # no partial filter
    watched = IndexCommandsCollection(collection)
    report = await ensure_indexes(watched, force=True)
    entry = report.by_name()["wf_wait_task_id"]
    assert entry.action is IndexAction.REBUILD
    assert entry.drops == ("wf_wait_task_id",)
    assert any("partialFilterExpression is absent" in reason for reason in entry.reasons)
    assert report.ok and report.changed
    assert watched.names[0] == "drop_index"
    stored = await indexes_of(collection)
    assert stored["wf_wait_task_id"] == INDEXES[0].document()
    assert (await ensure_indexes(collection)).changes == ()


async def test_another_index_with_our_key_pattern_is_a_conflict(collection: Any) -> None:
    await collection.create_index([("thread_id", 1), ("created_at", -1), ("_id", -1)])
    report = await ensure_indexes(collection, force=True)  # force does not drop it
    entry = report.by_name()["wf_thread_recent"]
    assert entry.action is IndexAction.CONFLICT
    assert entry.twins == ("thread_id_1_created_at_-1__id_-1",)
    assert "(not ours) has the same key pattern" in entry.reasons[0]
    assert "force never drops an index not ours" in entry.reasons[-1]
    assert not report.ok
    stored = await indexes_of(collection)
    assert "thread_id_1_created_at_-1__id_-1" in stored
    assert "wf_thread_recent" not in stored and "wf_recent" not in stored


async def test_force_replaces_an_old_wf_index_with_our_key_pattern(collection: Any) -> None:
    await collection.create_index([("agent_id", 1), ("created_at", -1), ("_id", -1)], name="wf_a")
    report = await ensure_indexes(collection)
    assert report.by_name()["wf_agent_recent"].action is IndexAction.CONFLICT
    assert "wf_a" not in report.by_name()  # reported in the conflict, not as extra
    report = await ensure_indexes(collection, force=True)
    entry = report.by_name()["wf_agent_recent"]
    assert (entry.action, entry.drops) == (IndexAction.REBUILD, ("wf_a",))
    stored = await indexes_of(collection)
    assert "wf_a" not in stored and "wf_agent_recent" in stored


async def test_a_plain_index_named_wf_retention_is_a_conflict_not_a_collmod(
    collection: Any,
) -> None:
    await collection.create_index([("updated_at", 1)], name="wf_retention")
    watched = IndexCommandsCollection(collection)
    report = await ensure_indexes(watched, retention_days=30)
    entry = report.by_name()["wf_retention"]
    assert entry.action is IndexAction.CONFLICT
    assert entry.reasons[0] == "expireAfterSeconds is absent, declared 2592000"
    assert watched.commands == []


# ── retention ─────────────────────────────────────────────────────────────


async def test_a_changed_ttl_is_applied_with_collmod_not_a_drop(collection: Any) -> None:
    await ensure_indexes(collection, retention_days=30)
    is_mock = isinstance(collection, ServerRulesCollection)
    watched = IndexCommandsCollection(collection, emulate_collmod=is_mock)
    report = await ensure_indexes(watched, retention_days=7)
    entry = report.by_name()["wf_retention"]
    assert entry.action is IndexAction.UPDATE_TTL
    assert entry.reasons == ("expireAfterSeconds is 2592000, declared 604800",)
    assert report.changed
    assert watched.commands == [
        (
            "collMod",
            {
                "collMod": collection.name,
                "index": {"name": "wf_retention", "expireAfterSeconds": 604800},
            },
        )
    ]
    stored = await indexes_of(collection)
    assert stored["wf_retention"]["expireAfterSeconds"] == 604800
    assert (await ensure_indexes(collection, retention_days=7)).changes == ()


async def test_without_a_retention_an_existing_ttl_index_is_kept_and_reported(
    collection: Any,
) -> None:
    await ensure_indexes(collection, retention_days=30)
    watched = IndexCommandsCollection(collection)
    report = await ensure_indexes(watched)
    entry = report.by_name()["wf_retention"]
    assert entry.action is IndexAction.KEEP
    assert "expireAfterSeconds=2592000, 30 days" in entry.reasons[0]
    assert report.ok and not report.changes and watched.commands == []


async def test_drop_retention_drops_the_ttl_index(collection: Any) -> None:
    await ensure_indexes(collection, retention_days=30)
    report = await ensure_indexes(collection, drop_retention=True)
    assert report.by_name()["wf_retention"].action is IndexAction.DROP
    assert "wf_retention" not in await indexes_of(collection)
    again = await ensure_indexes(collection, drop_retention=True)
    assert again.by_name()["wf_retention"].action is IndexAction.UNCHANGED
    assert again.changes == ()


# ── indexes that are not declared ─────────────────────────────────────────


async def test_unknown_wf_indexes_are_reported_and_left_alone(collection: Any) -> None:
    await collection.create_index([("x", 1)], name="wf_from_a_newer_version")
    report = await ensure_indexes(collection, force=True)
    entry = report.by_name()["wf_from_a_newer_version"]
    assert entry.action is IndexAction.EXTRA
    assert report.ok
    assert "wf_from_a_newer_version" in await indexes_of(collection)


async def test_indexes_not_ours_are_neither_touched_nor_reported(collection: Any) -> None:
    await collection.create_index([("custom", 1)], name="app_custom", unique=True)
    report = await ensure_indexes(collection, force=True)
    assert set(report.by_name()) == set(DECLARED)
    assert report.ok
    stored = await indexes_of(collection)
    assert stored["app_custom"]["unique"] is True


# ── comparing specifications (no database) ────────────────────────────────


def listed(spec: IndexSpec, **changes: Any) -> dict[str, Any]:
    """`spec` as a server lists it, with `changes` applied (None removes)."""
    index: dict[str, Any] = {"v": 2, **spec.document()}
    for name, value in changes.items():
        if value is None:
            index.pop(name, None)
        else:
            index[name] = value
    return index


def test_what_servers_add_to_a_listed_index_does_not_count_as_a_difference() -> None:
    existing = []
    for spec in INDEXES:
        keys = SON(
            (field, float(order) if i % 2 else Int64(order))
            for i, (field, order) in enumerate(spec.keys)
        )
        existing.append(
            listed(
                spec,
                key=keys,
                ns="db.workflow_runs",
                background=True,
                unique=False,
                sparse=False,
                hidden=False,
            )
        )
    retention = retention_index(30)
    existing.append(listed(retention, expireAfterSeconds=float(30 * 86400)))
    entries = plan_indexes(existing, [*INDEXES, retention])
    runs_collection = [name for name in ALL if name not in BLOBS]
    assert {e.name: e.action for e in entries} == dict.fromkeys(
        runs_collection, IndexAction.UNCHANGED
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"partialFilterExpression": None}, "partialFilterExpression is absent, declared"),
        (
            {"partialFilterExpression": {"steps.wait_task_id": {"$type": "string"}}},
            "partialFilterExpression is {",
        ),
        ({"unique": True}, "unique is true, declared absent"),
        ({"sparse": True}, "sparse is true, declared absent"),
        ({"hidden": True}, "hidden is true, declared absent"),
        ({"collation": {"locale": "fr"}}, "collation is {"),
        ({"expireAfterSeconds": 60}, "expireAfterSeconds is 60, declared absent"),
        ({"key": {"steps.wait_task_id": -1}}, "key pattern is {steps.wait_task_id: -1}"),
    ],
)
def test_every_option_that_changes_an_index_is_a_conflict(
    changes: dict[str, Any], reason: str
) -> None:
    (entry,) = plan_indexes([listed(INDEXES[0], **changes)], [INDEXES[0]])
    assert entry.action is IndexAction.CONFLICT
    assert entry.reasons[0].startswith(reason)
    (forced,) = plan_indexes([listed(INDEXES[0], **changes)], [INDEXES[0]], force=True)
    assert (forced.action, forced.drops) == (IndexAction.REBUILD, ("wf_wait_task_id",))


def test_a_ttl_change_with_another_difference_is_a_conflict() -> None:
    retention = retention_index(7)
    existing = listed(retention_index(30), sparse=True)
    (entry,) = plan_indexes([existing], [retention])
    assert entry.action is IndexAction.CONFLICT


def test_the_report_is_json() -> None:
    wf_recent = next(spec for spec in INDEXES if spec.name == "wf_recent")
    existing = [listed(wf_recent, key={"_id": -1, "created_at": -1})]
    entries = plan_indexes(existing, INDEXES)
    from mongo_wfstore import IndexReport

    report = IndexReport("db.workflow_runs", entries, dry_run=True)
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["dry_run"] is True and data["changed"] is False
    recent = next(index for index in data["indexes"] if index["name"] == "wf_recent")
    assert recent["action"] == "conflict"
    assert recent["existing"]["key"] == {"_id": -1, "created_at": -1}
    assert recent["desired"]["key"] == {"created_at": -1, "_id": -1}
    assert report.summary() == f"{len(INDEXES) - 1} create, 1 conflict"


# ── driver errors ─────────────────────────────────────────────────────────


class _FailingCollection:
    name = "workflow_runs"

    def __init__(self, error: Exception, *, on: str = "list_indexes", inner: Any = None) -> None:
        self._error, self._on, self._inner = error, on, inner

    @property
    def database(self) -> Any:
        return self._inner.database if self._inner else type("Db", (), {"name": "db"})()

    def list_indexes(self) -> Any:
        if self._on == "list_indexes":
            raise self._error
        return self._inner.list_indexes()

    async def create_index(self, keys: Any, **kwargs: Any) -> Any:
        if kwargs["name"] == self._on:
            raise self._error
        return await self._inner.create_index(keys, **kwargs)


async def test_an_unreachable_server_is_a_database_unavailable_error() -> None:
    with pytest.raises(DatabaseUnavailableError, match=r"listing the indexes of db\.workflow_runs"):
        await ensure_indexes(_FailingCollection(AutoReconnect("connection refused")))  # type: ignore[arg-type]


async def test_a_failure_half_way_names_what_was_already_done() -> None:
    from mongomock_motor import AsyncMongoMockClient

    inner = AsyncMongoMockClient()["db"]["workflow_runs"]
    failing = _FailingCollection(
        OperationFailure("not authorized", code=13), on="wf_agent_recent", inner=inner
    )
    with pytest.raises(DatabaseError) as raised:
        await ensure_indexes(failing)  # type: ignore[arg-type]
    assert raised.value.code == 13
    assert "already done: created wf_wait_task_id, created wf_thread_recent" in str(raised.value)


# ── the indexes serve the queries (real server only: the mock has no planner) ──


async def _winning_plan(cursor: Any) -> str:
    explained = await cursor.explain()
    return json.dumps(explained["queryPlanner"]["winningPlan"], default=str)


@needs_server
async def test_on_a_server_each_list_query_walks_its_index_without_sorting(
    server_collection: Any,
) -> None:
    await ensure_indexes(server_collection, retention_days=30)
    newest = [("created_at", -1), ("_id", -1)]
    queries = {
        "wf_thread_recent": {"thread_id": "t", "created_at": {"$exists": True}},
        "wf_agent_recent": {"agent_id": "a"},
        "wf_tenant_recent": {"user_id": "u", "workspace_id": "w"},
        "wf_workspace_recent": {"workspace_id": "w"},
    }
    for name, query in queries.items():
        # Several indexes may fit a query; the point is that this one serves it
        # as a bounded walk, with no blocking sort.
        plan = await _winning_plan(server_collection.find(query).sort(newest).limit(50).hint(name))
        assert name in plan and '"SORT"' not in plan, (name, plan)
    plan = await _winning_plan(server_collection.find({"steps.wait_task_id": "w-1"}))
    assert "wf_wait_task_id" in plan, plan
    cutoff = datetime.now(timezone.utc)
    plan = await _winning_plan(server_collection.find({"updated_at": {"$lt": cutoff}}, {"_id": 1}))
    assert "wf_retention" in plan, plan
