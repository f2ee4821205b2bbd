"""Index setup: the indexes the store's queries need, declared once, reconciled at deploy.

What lives here:

- `INDEXES`: every index the store's queries rely on, with its name and the
  query it serves. This is the one place they are declared.
- `retention_index(days)`: the optional TTL index `wf_retention` on `updated_at`.
- `ensure_indexes(collection, ...)`: compares the collection's indexes with the
  declared ones, plans an action per index, and applies the plan unless it is a
  dry run or holds a conflict. Returns an `IndexReport`.

What is **not** here: the queries themselves (`_mongo`), and deleting old runs
on demand (`_maintenance.purge_runs`).

Why it is shaped this way:

- Indexes are reconciled by name **and** specification. A setup that checks
  only names, or calls `create_index` and trusts it, keeps an index whose
  options changed without a word: LangGraph's MongoDB checkpointer skipped its
  TTL index on existing collections exactly that way. Here a same-named index
  whose key pattern or options differ is a conflict, and a conflict changes
  nothing at all unless `force=True` (drop and rebuild that index).
- A changed TTL is applied in place with `collMod`: dropping and rebuilding a
  TTL index leaves a window without it and costs a full index build.
- Plan first, then apply, so that a dry run reports the very plan a real run
  carries out.
- Only indexes named `wf_...` are ours. Others are left alone and not
  reported, except one with the key pattern of one of ours: that is a conflict
  (the server may refuse ours, and two indexes on one key pattern make every
  write pay twice), and `force` never drops it.

The queries each index serves (key patterns in `INDEXES` below):

- `wf_wait_task_id`: `find_wait` / `complete_wait` look a waiting step up by
  `steps.wait_task_id` (multikey, partial on `$exists`, not unique);
- `wf_thread_recent`, `wf_agent_recent`, `wf_workspace_recent`: `list_runs`
  filtered by `thread_id`, `agent_id` or `workspace_id`;
- `wf_tenant_recent`: `list_runs(user_id=..., workspace_id=...)`, `scoped(...)`;
- `wf_recent`: `list_runs()` without a filter;
- `wf_retention` (optional): expiry by the server (TTL on `updated_at`) and
  the range that `purge_runs` walks.

`list_runs` sorts newest `created_at` first with `_id` as the tie-break and
pages by keyset on `(created_at, _id)`, so each `*_recent` index ends in
`created_at: -1, _id: -1`: the equality fields first, then the sort order, and
a page is a bounded walk of the index with no in-memory sort. Documents that
hold only steps (written before their run) have no `created_at`; they sit
under a null key, after every date in a newest-first walk.
"""

from __future__ import annotations

import enum
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pymongo.errors import OperationFailure

from ._driver import DRIVER_ERRORS, AdminCollectionLike, list_indexes, run_command, translate_error
from ._exceptions import InvalidInputError

__all__ = [
    "BLOB_INDEXES",
    "INDEXES",
    "MAX_TTL_SECONDS",
    "RETENTION_INDEX",
    "IndexAction",
    "IndexEntry",
    "IndexReport",
    "IndexSpec",
    "ensure_indexes",
    "plan_indexes",
    "retention_index",
    "retention_seconds",
]

logger = logging.getLogger("mongo_wfstore")

OUR_PREFIX = "wf_"
"""Indexes whose name starts with this belong to mongo_wfstore."""

RETENTION_INDEX = "wf_retention"
"""Name of the optional TTL index on `updated_at`."""

MAX_TTL_SECONDS = 2**31 - 1
"""The largest `expireAfterSeconds` a server accepts (about 68 years)."""

_INDEX_NOT_FOUND = 27
"""Server code for dropping an index that is not there (a concurrent deploy dropped it)."""


@dataclass(frozen=True)
class IndexSpec:
    """One index the store needs: name, key pattern, options and the query it serves."""

    name: str
    keys: tuple[tuple[str, int], ...]
    """The key pattern in order; the order matters."""
    serves: str
    """Which query relies on the index, for reports and documentation."""
    partial_filter: Mapping[str, Any] | None = None
    expire_after_seconds: int | None = None
    unique: bool = False

    def options(self) -> dict[str, Any]:
        """The options to create it with, `name` included, as `create_index` takes them."""
        options: dict[str, Any] = {"name": self.name}
        if self.unique:
            options["unique"] = True
        if self.partial_filter is not None:
            options["partialFilterExpression"] = _plain(self.partial_filter)
        if self.expire_after_seconds is not None:
            options["expireAfterSeconds"] = self.expire_after_seconds
        return options

    def document(self) -> dict[str, Any]:
        """The index as `listIndexes` describes it (without `v`)."""
        return {"key": dict(self.keys), **self.options()}


INDEXES: tuple[IndexSpec, ...] = (
    IndexSpec(
        "wf_wait_task_id",
        (("steps.wait_task_id", 1),),
        "find_wait / complete_wait: the waiting step with this steps.wait_task_id "
        "(multikey; partial, so steps without one cost nothing)",
        partial_filter={"steps.wait_task_id": {"$exists": True}},
    ),
    IndexSpec(
        "wf_thread_recent",
        (("thread_id", 1), ("created_at", -1), ("_id", -1)),
        "list_runs(thread_id=...): a thread's runs, newest first, keyset pages",
    ),
    IndexSpec(
        "wf_agent_recent",
        (("agent_id", 1), ("created_at", -1), ("_id", -1)),
        "list_runs(agent_id=...): an agent's runs, newest first, keyset pages",
    ),
    IndexSpec(
        "wf_tenant_recent",
        (("user_id", 1), ("workspace_id", 1), ("created_at", -1), ("_id", -1)),
        "list_runs(user_id=..., workspace_id=...) and scoped stores: a tenant's runs, newest first",
    ),
    IndexSpec(
        "wf_user_recent",
        (("user_id", 1), ("created_at", -1), ("_id", -1)),
        "list_runs(user_id=...) and stores scoped to a user: a user's runs across "
        "workspaces, newest first (wf_tenant_recent cannot: workspace_id sits before the sort)",
    ),
    IndexSpec(
        "wf_workspace_recent",
        (("workspace_id", 1), ("created_at", -1), ("_id", -1)),
        "list_runs(workspace_id=...): a workspace's runs, newest first",
    ),
    IndexSpec(
        "wf_recent",
        (("created_at", -1), ("_id", -1)),
        "list_runs() without a filter: all runs, newest first",
    ),
)
"""The indexes every deployment needs, in the order they are reported."""

BLOB_INDEXES: dict[str, tuple[IndexSpec, ...]] = {
    "blobs.chunks": (
        IndexSpec(
            "files_id_1_n_1",
            (("files_id", 1), ("n", 1)),
            "reading a blob: its chunks in order (GridFS's own index, under GridFS's name)",
            unique=True,
        ),
    ),
    "blobs.files": (
        IndexSpec(
            "wf_blob_run",
            (("metadata.run_task_id", 1),),
            "purge_runs: the blobs of the runs it deleted",
        ),
        IndexSpec(
            "wf_blob_uploaded",
            (("uploadDate", 1),),
            "sweep_blobs: blobs older than the grace period",
        ),
    ),
}
"""Indexes of the GridFS bucket that holds offloaded values, by collection suffix:
`<runs collection>.blobs.chunks` and `.blobs.files`."""


def retention_seconds(days: float) -> int:
    """`days` as a TTL in whole seconds; `InvalidInputError` unless 1 s to ~68 years.

    Zero is refused: `expireAfterSeconds: 0` is a valid TTL that would expire
    every run at once, so it cannot double as "no retention".
    """
    if (
        isinstance(days, bool)
        or not isinstance(days, int | float)
        or not math.isfinite(days)
        or days <= 0
    ):
        raise InvalidInputError(f"retention must be a positive number of days, got {days!r}")
    seconds = int(days * 86400)
    if not 1 <= seconds <= MAX_TTL_SECONDS:
        raise InvalidInputError(
            f"retention of {days!r} days is {seconds} s; the server accepts "
            f"1 to {MAX_TTL_SECONDS} s (about 68 years)"
        )
    return seconds


def retention_index(days: float) -> IndexSpec:
    """The TTL index `wf_retention`: runs expire `days` after their `updated_at`."""
    return IndexSpec(
        RETENTION_INDEX,
        (("updated_at", 1),),
        "retention: the server deletes runs and step-only documents whose updated_at "
        "is older than the TTL; purge_runs' range scan",
        expire_after_seconds=retention_seconds(days),
    )


# ── the report ────────────────────────────────────────────────────────────


class IndexAction(str, enum.Enum):
    """What `ensure_indexes` does (or, in a dry run, would do) with one index."""

    CREATE = "create"
    """Missing: created."""
    UNCHANGED = "unchanged"
    """Present with the declared specification: nothing to do."""
    UPDATE_TTL = "update_ttl"
    """Only `expireAfterSeconds` differs: changed in place with `collMod`."""
    REBUILD = "rebuild"
    """Differs and `force=True`: dropped and created again."""
    DROP = "drop"
    """`wf_retention` with `drop_retention=True`: dropped."""
    KEEP = "keep"
    """`wf_retention` present but no retention asked for: left as it is."""
    EXTRA = "extra"
    """A `wf_` index this version does not declare: left alone."""
    CONFLICT = "conflict"
    """Differs from the declared one: nothing at all is changed."""

    @property
    def changes(self) -> bool:
        """True for the actions that change the collection."""
        return self in _CHANGING

    def __str__(self) -> str:
        return self.value


_CHANGING = frozenset(
    {IndexAction.CREATE, IndexAction.UPDATE_TTL, IndexAction.REBUILD, IndexAction.DROP}
)


@dataclass(frozen=True)
class IndexEntry:
    """The plan for one index, keyed by its name.

    `desired` is the declared index and `existing` the collection's, both as
    `listIndexes` describes them (None when absent); `reasons` say why the
    action was chosen; `twins` names the other indexes with the same key
    pattern; `drops` names the indexes dropped before it is created.
    """

    name: str
    action: IndexAction
    desired: dict[str, Any] | None = None
    existing: dict[str, Any] | None = None
    reasons: tuple[str, ...] = ()
    serves: str | None = None
    twins: tuple[str, ...] = ()
    drops: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this entry."""
        return {
            "name": self.name,
            "action": self.action.value,
            "serves": self.serves,
            "desired": self.desired,
            "existing": self.existing,
            "reasons": list(self.reasons),
            "twins": list(self.twins),
            "drops": list(self.drops),
        }


@dataclass(frozen=True)
class IndexReport:
    """What `ensure_indexes` found and did: one `IndexEntry` per index, in order.

    `ok` is False when an index conflicts, and then nothing was changed.
    `applied` is True when the plan was carried out (never in a dry run).
    """

    namespace: str
    entries: tuple[IndexEntry, ...]
    dry_run: bool = False
    applied: bool = False

    @property
    def ok(self) -> bool:
        """True if no index conflicts with its declaration."""
        return not self.conflicts

    @property
    def conflicts(self) -> tuple[IndexEntry, ...]:
        """The entries in conflict; each one's `reasons` say why."""
        return tuple(e for e in self.entries if e.action is IndexAction.CONFLICT)

    @property
    def changes(self) -> tuple[IndexEntry, ...]:
        """The entries that change the collection (or would, in a dry run)."""
        return tuple(e for e in self.entries if e.action.changes)

    @property
    def changed(self) -> bool:
        """True if this call changed at least one index (never in a dry run)."""
        return self.applied and bool(self.changes)

    def by_name(self) -> dict[str, IndexEntry]:
        """The entries keyed by index name."""
        return {entry.name: entry for entry in self.entries}

    def summary(self) -> str:
        """One line: how many indexes of each action, `"2 create, 5 unchanged"`."""
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.action.value] = counts.get(entry.action.value, 0) + 1
        return ", ".join(f"{count} {action}" for action, count in counts.items())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole report."""
        return {
            "namespace": self.namespace,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "ok": self.ok,
            "changed": self.changed,
            "indexes": [entry.to_dict() for entry in self.entries],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON text (what `mongo-wfstore init-indexes --json` prints)."""
        return json.dumps(self.to_dict(), indent=indent, default=str)


# ── reconcile ─────────────────────────────────────────────────────────────


async def ensure_indexes(
    collection: AdminCollectionLike,
    *,
    retention_days: float | None = None,
    drop_retention: bool = False,
    dry_run: bool = False,
    force: bool = False,
) -> IndexReport:
    """Create the indexes the store's queries need; report what was there and what changed.

    >>> report = await ensure_indexes(client["app"]["workflow_runs"], retention_days=30)
    >>> report.ok, report.summary()
    (True, '7 create')

    Idempotent: a second call reports every index `unchanged`. Each declared
    index is compared by name and by specification (key order,
    `partialFilterExpression`, `expireAfterSeconds`, `unique`, `sparse`,
    `collation`, `hidden`, ...; `v` and `ns` are ignored):

    - missing: created;
    - same specification: unchanged;
    - only `expireAfterSeconds` differs: changed in place with `collMod`;
    - anything else differs, or another index has the same key pattern: a
      conflict. Then **nothing** is changed, `report.ok` is False and each
      conflict's `reasons` say why, unless `force=True`, which drops and
      rebuilds the conflicting `wf_` indexes. An index that is not ours is
      never dropped, even with `force`.

    `retention_days` adds the TTL index `wf_retention` on `updated_at`
    (`expireAfterSeconds = int(days * 86400)`). Without it an existing
    `wf_retention` is kept and reported (`keep`); `drop_retention=True` drops
    it. `dry_run=True` plans and reports without changing anything.
    Other `wf_` indexes that this version does not declare are reported as
    `extra` and left alone: a newer deploy may still use them.

    Works on PyMongo's `AsyncCollection`, Motor and mongomock-motor (which has
    no `collMod`). Raises `InvalidInputError` for a bad `retention_days` or
    both `retention_days` and `drop_retention`, and `DatabaseError` (its
    subclass `DatabaseUnavailableError` when the server cannot be reached) if
    the driver fails; then the message names the changes already made.
    """
    if retention_days is not None and drop_retention:
        raise InvalidInputError("retention_days and drop_retention cannot be used together")
    desired = INDEXES if retention_days is None else (*INDEXES, retention_index(retention_days))
    namespace = f"{collection.database.name}.{collection.name}"
    targets = [("", desired, drop_retention)] + [
        (suffix, specs, False) for suffix, specs in BLOB_INDEXES.items()
    ]
    plans = []
    for suffix, specs, drop in targets:
        target = collection.database[f"{collection.name}.{suffix}"] if suffix else collection
        prefix, where = (f"{suffix}/", f"{namespace}.{suffix}") if suffix else ("", namespace)
        try:
            existing = await list_indexes(target)
        except DRIVER_ERRORS as exc:
            raise translate_error(exc, f"listing the indexes of {where}") from exc
        entries = plan_indexes(existing, specs, drop_retention=drop, force=force)
        for entry in entries:
            logger.debug("index %s on %s: %s %s", entry.name, where, entry.action, entry.reasons)
        plans.append((target, prefix, where, entries))
    report = IndexReport(
        namespace,
        tuple(
            replace(entry, name=prefix + entry.name)
            for _, prefix, _, entries in plans
            for entry in entries
        ),
        dry_run=dry_run,
    )
    if dry_run or not report.ok or not report.changes:
        return report
    for target, _, where, entries in plans:
        await _apply(target, where, entries)
    return replace(report, applied=True)


def plan_indexes(
    existing: Iterable[Mapping[str, Any]],
    desired: Iterable[IndexSpec],
    *,
    drop_retention: bool = False,
    force: bool = False,
) -> tuple[IndexEntry, ...]:
    """The action for each index: the declared ones in order, then `wf_retention`
    if it is not declared, then undeclared `wf_` indexes. Changes nothing.
    """
    indexes = [_plain(index) for index in existing]
    by_name = {index["name"]: index for index in indexes if "name" in index}
    entries = [_plan_one(spec, by_name.get(spec.name), indexes, force) for spec in desired]
    declared = {spec.name for spec in desired}
    if RETENTION_INDEX not in declared:
        retention = _plan_undeclared_retention(by_name.get(RETENTION_INDEX), drop_retention)
        if retention is not None:
            entries.append(retention)
    mentioned = declared | {RETENTION_INDEX} | {name for e in entries for name in e.twins}
    for name, index in by_name.items():
        if name.startswith(OUR_PREFIX) and name not in mentioned:
            entries.append(
                IndexEntry(
                    name,
                    IndexAction.EXTRA,
                    existing=_described(index),
                    reasons=("not declared by this version of mongo_wfstore; left alone",),
                )
            )
    return tuple(entries)


def _plan_one(
    spec: IndexSpec,
    current: dict[str, Any] | None,
    indexes: list[dict[str, Any]],
    force: bool,
) -> IndexEntry:
    """The action for one declared index, given the collection's indexes."""
    desired = spec.document()
    entry = IndexEntry(
        spec.name,
        IndexAction.UNCHANGED,
        desired=desired,
        existing=None if current is None else _described(current),
        serves=spec.serves,
    )
    key = _comparable(desired)["key"]
    twins = [
        index
        for index in indexes
        if index.get("name") != spec.name and _comparable(index)["key"] == key
    ]
    if current is None and not twins:
        return replace(entry, action=IndexAction.CREATE)
    entry = replace(entry, twins=tuple(twin["name"] for twin in twins))
    twin_reasons = tuple(_twin_reason(twin, key) for twin in twins)
    differences = () if current is None else _differences(desired, current)
    if current is not None and not differences:
        duplicates = tuple(
            f"{reason}: a duplicate, every write maintains both" for reason in twin_reasons
        )
        return replace(entry, reasons=duplicates)
    if current is not None and _only_ttl_differs(desired, current):
        return replace(entry, action=IndexAction.UPDATE_TTL, reasons=differences + twin_reasons)
    reasons = differences + twin_reasons
    foreign = [twin["name"] for twin in twins if not str(twin["name"]).startswith(OUR_PREFIX)]
    if force and not foreign:
        drops = ((spec.name,) if current is not None else ()) + entry.twins
        return replace(entry, action=IndexAction.REBUILD, reasons=reasons, drops=drops)
    if foreign:
        hint = f"drop or rename {_names(foreign)} by hand: force never drops an index not ours"
    elif current is not None:
        hint = "force drops and rebuilds it; its queries scan the collection until it is built"
    else:
        hint = f"force drops {_names(entry.twins)} and creates {spec.name!r}"
    return replace(entry, action=IndexAction.CONFLICT, reasons=(*reasons, hint))


def _plan_undeclared_retention(current: dict[str, Any] | None, drop: bool) -> IndexEntry | None:
    """The entry for `wf_retention` when no retention was asked for."""
    if current is None:
        if not drop:
            return None
        return IndexEntry(
            RETENTION_INDEX, IndexAction.UNCHANGED, reasons=("no retention index: nothing to drop",)
        )
    ttl = current.get("expireAfterSeconds")
    shown = "not a TTL index" if ttl is None else f"expireAfterSeconds={ttl}, {ttl / 86400:g} days"
    if drop:
        return IndexEntry(
            RETENTION_INDEX,
            IndexAction.DROP,
            existing=_described(current),
            reasons=(f"retention dropped as asked (was {shown}): runs no longer expire",),
            drops=(RETENTION_INDEX,),
        )
    return IndexEntry(
        RETENTION_INDEX,
        IndexAction.KEEP,
        existing=_described(current),
        reasons=(
            f"no retention asked for: kept as it is ({shown}); "
            "give a retention to change it, or drop_retention to remove it",
        ),
    )


async def _apply(
    collection: AdminCollectionLike, namespace: str, entries: tuple[IndexEntry, ...]
) -> None:
    """Carry out the plan: drops, then TTL changes, then creations."""
    done: list[str] = []
    drops = list(dict.fromkeys(name for entry in entries for name in entry.drops))
    ttl_changes = [e for e in entries if e.action is IndexAction.UPDATE_TTL]
    creations = [e for e in entries if e.action in (IndexAction.CREATE, IndexAction.REBUILD)]
    try:
        for name in drops:
            await _drop(collection, name)
            done.append(f"dropped {name}")
        for entry in ttl_changes:
            assert entry.desired is not None
            ttl = entry.desired["expireAfterSeconds"]
            await run_command(
                collection,
                {
                    "collMod": collection.name,
                    "index": {"name": entry.name, "expireAfterSeconds": ttl},
                },
            )
            done.append(f"set {entry.name} expireAfterSeconds={ttl}")
        for entry in creations:
            assert entry.desired is not None
            options = {k: v for k, v in entry.desired.items() if k != "key"}
            await collection.create_index(list(entry.desired["key"].items()), **options)
            done.append(f"created {entry.name}")
    except DRIVER_ERRORS as exc:
        already = f"; already done: {', '.join(done)}" if done else "; nothing was changed"
        raise translate_error(
            exc, f"setting up the indexes of {namespace}{already}", write=True
        ) from exc


async def _drop(collection: AdminCollectionLike, name: str) -> None:
    """Drop one index; one that is already gone (a concurrent deploy) is fine."""
    try:
        await collection.drop_index(name)
    except OperationFailure as exc:
        if exc.code != _INDEX_NOT_FOUND:
            raise


# ── comparing specifications ──────────────────────────────────────────────

_IGNORED = frozenset({"v", "ns", "name", "key", "background"})
"""Parts of an index description that do not change what it does."""

_FALSE_BY_DEFAULT = frozenset({"unique", "sparse", "hidden"})
"""Options whose absence means False (servers list them either way)."""


def _plain(value: Any) -> Any:
    """`value` with SON and other mappings as dicts and numbers as int where integral."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)  # bson.Int64 → int
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the shell sends numbers as doubles: 1.0 means 1
    return value


def _described(index: Mapping[str, Any]) -> dict[str, Any]:
    """An existing index as reported: its description without `v` and `ns`."""
    return {key: value for key, value in _plain(index).items() if key not in ("v", "ns")}


def _comparable(index: Mapping[str, Any]) -> dict[str, Any]:
    """What decides how an index behaves: the ordered key pattern and its options."""
    plain = _plain(index)
    comparable: dict[str, Any] = {"key": list(plain.get("key", {}).items())}
    for option, value in plain.items():
        if option in _IGNORED or (option in _FALSE_BY_DEFAULT and not value):
            continue
        comparable[option] = value
    return comparable


def _option_differences(desired: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The names of the options (and `key`) that differ."""
    want, have = _comparable(desired), _comparable(current)
    return [name for name in dict.fromkeys([*want, *have]) if want.get(name) != have.get(name)]


def _only_ttl_differs(desired: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """True if both are TTL indexes and only their `expireAfterSeconds` differs.

    Turning a plain index into a TTL index with `collMod` needs MongoDB 5.1, so
    that case is a conflict (`force` rebuilds it) rather than a `collMod`.
    """
    both_ttl = "expireAfterSeconds" in current and "expireAfterSeconds" in desired
    return both_ttl and _option_differences(desired, current) == ["expireAfterSeconds"]


def _differences(desired: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[str, ...]:
    """One sentence per difference between the declared and the existing index."""
    want, have = _comparable(desired), _comparable(current)
    reasons = []
    for name in _option_differences(desired, current):
        if name == "key":
            reasons.append(
                f"key pattern is {_keys(have['key'])}, declared {_keys(want['key'])} "
                "(field order and direction matter)"
            )
        else:
            reasons.append(f"{name} is {_shown(have, name)}, declared {_shown(want, name)}")
    return tuple(reasons)


def _twin_reason(twin: Mapping[str, Any], key: list[tuple[str, Any]]) -> str:
    """Why another index with our key pattern is in the way."""
    name = twin["name"]
    owner = "" if str(name).startswith(OUR_PREFIX) else " (not ours)"
    return f"index {name!r}{owner} has the same key pattern {_keys(key)}"


def _keys(key: list[tuple[str, Any]]) -> str:
    return "{" + ", ".join(f"{field}: {json.dumps(value)}" for field, value in key) + "}"


def _shown(options: Mapping[str, Any], name: str) -> str:
    return json.dumps(options[name], default=str) if name in options else "absent"


def _names(names: Iterable[object]) -> str:
    return ", ".join(repr(name) for name in names)
