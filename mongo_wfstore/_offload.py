"""Runs larger than one document: which values go to blobs, and the bookkeeping.

A JSON value in a *slot* — the run's `input`, each top-level value of its
`context` (the whole context if it is not an object), each entry of
`context.steps`, each step's `result` — whose BSON is larger than the store's
`offload_threshold` is kept out of the run document: its bytes go to the blob
store (GridFS) and the slot holds a reference, `{"%blob": {"id": ObjectId,
"size": n}}`. Readers resolve references transparently.

Every run document also carries a registry of the blobs it references,
mirroring the slots:

```
blobs: {input: id, context: {whole: id, keys: {<key>: id}, steps: {<step>: id}},
        results: {<step>: id}}
```

A write sets or unsets the registry entries of the slots it writes, in the same
update, and asks for the registry as it was before (`find_one_and_update`,
still one command). What the old registry referenced and the new one does not
is exactly what the write replaced: those blobs are deleted after the write.
On failure, the blobs the write uploaded are deleted instead. So a write leaves
neither a half-updated run nor an orphaned blob; what a crash leaves behind
(between upload and update, or update and delete) the sweep removes.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import bson
from bson import ObjectId

from ._blobs import Blob, BlobStore
from ._encoding import JSON_MARKER, escape_key

__all__ = [
    "BLOB_MARKER",
    "DEFAULT_OFFLOAD_THRESHOLD",
    "Offloader",
    "WritePlan",
    "is_marker",
    "registry_ids",
    "context_key_path",
    "context_step_path",
    "resolve_blobs",
    "results_path",
]

BLOB_MARKER = "%blob"
"""Key of the one-field document that refers to an offloaded value."""

DEFAULT_OFFLOAD_THRESHOLD = 1024 * 1024
"""Values larger than this (BSON bytes) go to GridFS unless the store says otherwise."""


def is_marker(stored: object) -> bool:
    """True for a stored value that stands for another (`%json` or `%blob`)."""
    if type(stored) is not dict or len(stored) != 1:
        return False
    return JSON_MARKER in stored or BLOB_MARKER in stored


def _is_blob(stored: object) -> bool:
    return type(stored) is dict and len(stored) == 1 and BLOB_MARKER in stored


@dataclass
class WritePlan:
    """What one write does besides its own fields: blobs to upload, registry changes."""

    run_task_id: str
    blobs: list[Blob] = field(default_factory=list)
    sets: dict[str, Any] = field(default_factory=dict)
    """Registry paths (`blobs.results.<step>`) to set, to an id or a sub-registry."""
    unsets: list[str] = field(default_factory=list)

    def update(self, update: dict[str, Any]) -> dict[str, Any]:
        """`update` with the registry changes merged in (before any `steps.$`)."""
        merged = dict(update)
        if self.sets:
            merged["$set"] = {**self.sets, **update.get("$set", {})}
        if self.unsets:
            merged["$unset"] = {**dict.fromkeys(self.unsets, ""), **update.get("$unset", {})}
        return merged

    def new_ids(self) -> list[ObjectId]:
        """The blobs this write uploads."""
        return [blob.id for blob in self.blobs]

    def replaced(self, before: dict[str, Any] | None) -> set[ObjectId]:
        """Blobs the registry `before` this write referenced and no longer does."""
        old = registry_ids(before)
        if not old:
            return set()
        after = apply_changes(before, self.sets, self.unsets)
        return old - registry_ids(after)


def apply_changes(
    registry: dict[str, Any] | None, sets: dict[str, Any], unsets: list[str]
) -> dict[str, Any]:
    """`registry` after `$set` of `sets` and `$unset` of `unsets` (paths under `blobs.`)."""
    after: dict[str, Any] = copy.deepcopy(registry) if registry else {}
    for path, value in [*((p, v) for p, v in sets.items()), *((p, None) for p in unsets)]:
        parts = path.split(".")[1:]
        node = after
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                if value is None:
                    break
                child = node[part] = {}
            node = child
        else:
            if value is None:
                node.pop(parts[-1], None)
            else:
                node[parts[-1]] = copy.deepcopy(value)
    return after


def registry_ids(registry: object) -> set[ObjectId]:
    """Every blob id a registry (or part of one) references."""
    if isinstance(registry, ObjectId):
        return {registry}
    if isinstance(registry, dict):
        return set().union(*(registry_ids(value) for value in registry.values()))
    return set()


class Offloader:
    """Decides which values of a write go to blobs, and records it in a `WritePlan`."""

    def __init__(self, threshold: int | None) -> None:
        self.threshold = threshold

    def slot(self, plan: WritePlan, path: str, stored: Any) -> Any:
        """The value to store at the registry slot `path` (`blobs.results.<step>`):
        `stored` itself, or a reference to a new blob holding it.
        """
        blob_id = self._offload(plan, path, stored)
        if blob_id is None:
            plan.unsets.append(path)
            return stored
        plan.sets[path] = blob_id
        return self._marker(plan, blob_id)

    def shared_slot(self, plan: WritePlan, paths: list[str], stored: Any) -> Any:
        """Like `slot`, for one value stored at several places (one blob for all)."""
        blob_id = self._offload(plan, paths[0], stored)
        for path in paths:
            if blob_id is None:
                plan.unsets.append(path)
            else:
                plan.sets[path] = blob_id
        return stored if blob_id is None else self._marker(plan, blob_id)

    def step_result(self, plan: WritePlan, step: dict[str, Any], paths: list[str]) -> Any:
        """Offload a stored step's `result` if large (registered at `paths`), in
        place; returns what the step now holds there (None: no result).
        """
        if "result" not in step:
            plan.unsets.extend(paths)
            return None
        step["result"] = self.shared_slot(plan, paths, step["result"])
        return step["result"]

    def commit(
        self, plan: WritePlan, step_id: str, step: dict[str, Any], sets: dict[str, Any]
    ) -> None:
        """Offload, in place, what a step commit writes: the step's result (one blob
        for the step and `context.steps.<step_id>`) and each context update.
        """
        sets["steps"][escape_key(step_id)] = self.step_result(
            plan, step, [results_path(step_id), context_step_path(step_id)]
        )
        for key in list(sets):
            if key != "steps":
                sets[key] = self.slot(plan, context_key_path(key), sets[key])

    def context(self, plan: WritePlan, stored: Any) -> Any:
        """A whole context to store, offloading its slots; replaces the context registry."""
        registry: dict[str, Any] = {}
        if type(stored) is dict and not is_marker(stored):
            stored = dict(stored)
            for key, value in stored.items():
                if key == "steps" and type(value) is dict and not is_marker(value):
                    stored[key] = {
                        step: self._context_slot(plan, registry, "steps", step, result)
                        for step, result in value.items()
                    }
                else:
                    stored[key] = self._context_slot(plan, registry, "keys", key, value)
        else:
            blob_id = self._offload(plan, "blobs.context", stored)
            if blob_id is not None:
                registry["whole"] = blob_id
                stored = self._marker(plan, blob_id)
        plan.sets["blobs.context"] = registry
        return stored

    def _context_slot(
        self, plan: WritePlan, registry: dict[str, Any], section: str, key: str, value: Any
    ) -> Any:
        blob_id = self._offload(plan, f"blobs.context.{section}.{key}", value)
        if blob_id is None:
            return value
        registry.setdefault(section, {})[key] = blob_id
        return self._marker(plan, blob_id)

    def _offload(self, plan: WritePlan, path: str, stored: Any) -> ObjectId | None:
        if self.threshold is None or stored is None or type(stored) in (bool, int, float):
            return None
        if type(stored) is str and len(stored) * 4 + 16 <= self.threshold:
            return None
        data = bson.encode({"v": stored})
        if len(data) <= self.threshold:
            return None
        blob = Blob(ObjectId(), data, plan.run_task_id, path.removeprefix("blobs."))
        plan.blobs.append(blob)
        return blob.id

    @staticmethod
    def _marker(plan: WritePlan, blob_id: ObjectId) -> dict[str, Any]:
        blob = next(blob for blob in plan.blobs if blob.id == blob_id)
        return {BLOB_MARKER: {"id": blob_id, "size": len(blob.data)}}


def results_path(step_id: str) -> str:
    """The registry path of a step's result."""
    return f"blobs.results.{escape_key(step_id)}"


def context_step_path(step_id: str) -> str:
    """The registry path of `context.steps.<step_id>`."""
    return f"blobs.context.steps.{escape_key(step_id)}"


def context_key_path(stored_key: str) -> str:
    """The registry path of a top-level context value (`stored_key` already escaped)."""
    return f"blobs.context.keys.{stored_key}"


# ── reading ───────────────────────────────────────────────────────────────


def _slots(doc: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """`(container, key)` of every slot of a stored run document (or projection)."""
    if "input" in doc:
        yield doc, "input"
    context = doc.get("context")
    if "context" in doc:
        yield doc, "context"
    if type(context) is dict and not is_marker(context):
        for key, value in context.items():
            yield context, key
            if key == "steps" and type(value) is dict and not is_marker(value):
                for step in value:
                    yield value, step
    for step in doc.get("steps") or ():
        if type(step) is dict and "result" in step:
            yield step, "result"


async def resolve_blobs(docs: list[dict[str, Any]], blobs: BlobStore) -> None:
    """Replace, in place, every blob reference in these stored documents by its value."""
    found: list[tuple[Any, Any, ObjectId]] = []
    sizes: dict[ObjectId, int] = {}
    for doc in docs:
        for container, key in _slots(doc):
            stored = container[key]
            if _is_blob(stored):
                ref = stored[BLOB_MARKER]
                found.append((container, key, ref["id"]))
                sizes[ref["id"]] = int(ref["size"])
    if not found:
        return
    data = await blobs.get(sizes)
    values = {blob_id: bson.decode(raw)["v"] for blob_id, raw in data.items()}
    uses = Counter(blob_id for _, _, blob_id in found)
    for container, key, blob_id in found:
        value = values[blob_id]
        # Decoding works in place: a value used twice gets its own copy.
        container[key] = copy.deepcopy(value) if uses[blob_id] > 1 else value
