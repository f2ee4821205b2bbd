"""How JSON values and states become MongoDB documents, and back.

What lives here:

- `encode_value` / `decode_value`: any JSON value to a value a real server stores
  and gives back exactly, types included, and the way back.
- `escape_key` / `unescape_key`: the field-name escaping, also used to build
  update paths such as `context.steps.<step_id>`.
- `run_fields`, `step_document`, `decode_run`, `decode_step`: the document layout
  shared by both stores, so that they validate and round-trip identically.

The encoding keeps ordinary payloads as they are, readable and queryable in the
mongo shell. It changes only what a server refuses or would give back
differently:

- A field name that is empty, or contains `$`, `.`, `%`, NUL or a lone
  surrogate is percent-escaped (`$ref` is stored as `%24ref`, `a.b` as `a%2Eb`,
  `""` as `%`, a lone surrogate as `%uD800`). Dicts keep their structure, so an
  update can address any key by path (`context.steps.<step_id>`).
  Every escaped name contains `%`, and `%` itself is always escaped, so the way
  back is unambiguous; this also keeps `$ref` + `$id` from decoding as a DBRef.
- A value BSON cannot hold exactly is stored as its JSON text in a one-field
  document `{"%json": "<text>"}`: an integer outside int64, a string with a lone
  surrogate, and a container nested deeper than `MAX_NATIVE_DEPTH` (the server
  refuses documents nested past 100 levels). No escaped user key can be
  `%json`, so the marker cannot be confused with data.

What is refused with `InvalidInputError` (before anything is written): values
that are not JSON (tuples, sets, bytes, datetimes, non-string keys, NaN and
infinities) and values nested deeper than `MAX_JSON_DEPTH`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument

from ._exceptions import InvalidInputError, SchemaVersionError, WaitAlreadyCompletedError
from ._models import (
    TaskStatus,
    WorkflowDefinition,
    WorkflowExecutionState,
    WorkflowStepState,
    utc_now,
)

__all__ = [
    "JSON_MARKER",
    "MAX_JSON_DEPTH",
    "MAX_NATIVE_DEPTH",
    "SCHEMA_VERSION",
    "UnstorableValue",
    "UPGRADES",
    "COMPLETION_KEY",
    "closed_wait",
    "commit_payload",
    "completed_step_document",
    "context_paths",
    "context_sets_for",
    "decode_run",
    "decode_step",
    "decode_steps",
    "decode_value",
    "document_size",
    "encode_value",
    "escape_key",
    "has_lone_surrogate",
    "path",
    "run_fields",
    "server_field_order",
    "step_document",
    "unescape_key",
    "upgrade_document",
]

SCHEMA_VERSION = 1
"""Version of the stored document layout, written into every run document."""

MAX_NATIVE_DEPTH = 64
"""Containers nested deeper than this inside one value are stored as JSON text."""

MAX_JSON_DEPTH = 256
"""Values nested deeper than this are refused."""

JSON_MARKER = "%json"
"""Key of the one-field document that holds a value as JSON text."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED = re.compile("%(25|2E|24|00)|%u(D[89A-F][0-9A-F]{2})")
_UNESCAPES = {"25": "%", "2E": ".", "24": "$", "00": "\x00"}
_JSON_SCALARS = (str, int, float, bool, type(None))


class UnstorableValue(Exception):  # noqa: N818 - internal signal, never escapes this package
    """A value is not JSON or is too deep; carries the path where it was found."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parts: list[str] = []

    def at(self, key: object) -> UnstorableValue:
        """Record that the problem is under `key` (called innermost first)."""
        self.parts.append(_path_part(key))
        return self

    def path(self, root: str) -> str:
        """The offending location as `root.key[3].other`."""
        return root + "".join(reversed(self.parts))

    def to_input_error(
        self,
        root: str,
        *,
        run_task_id: object = None,
        step_id: object = None,
        wait_task_id: object = None,
    ) -> InvalidInputError:
        """The public error, naming the run, the step (or the wait) and the path."""
        where = f" of step {step_id!r}" if step_id is not None else ""
        run = f" in run {run_task_id!r}" if run_task_id is not None else ""
        wait = f" for wait {wait_task_id!r}" if wait_task_id is not None else ""
        path = self.path(root)
        return InvalidInputError(
            f"cannot store {path}{where}{run}{wait}: {self.reason}",
            run_task_id=run_task_id,
            step_id=step_id,
            path=path,
        )


def has_lone_surrogate(text: str) -> bool:
    """True if `text` holds a lone surrogate, which UTF-8 (and so BSON) cannot encode."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def _path_part(key: object) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f".{key}"
    return f"[{key!r}]"


# ── field names ───────────────────────────────────────────────────────────


def _key_needs_escape(key: str) -> bool:
    return (
        not key
        or "$" in key
        or "." in key
        or "%" in key
        or "\x00" in key
        or has_lone_surrogate(key)
    )


def escape_key(key: str) -> str:
    """The stored form of a JSON object key; only unusual keys change.

    >>> escape_key("$ref"), escape_key("a.b"), escape_key("plain")
    ('%24ref', 'a%2Eb', 'plain')
    """
    if not _key_needs_escape(key):
        return key
    if not key:
        return "%"
    # Every `$`, not only a leading one: then no update path built from stored
    # keys holds a `$` (only the positional `steps.$` does), which mongomock
    # would read as positional wherever it appears.
    escaped = key.replace("%", "%25").replace(".", "%2E").replace("\x00", "%00").replace("$", "%24")
    if has_lone_surrogate(escaped):
        escaped = _SURROGATE.sub(lambda match: f"%u{ord(match.group()):04X}", escaped)
    return escaped


def unescape_key(stored: str) -> str:
    """The JSON object key that `escape_key` stored as `stored`."""
    if "%" not in stored:
        return stored
    if stored == "%":
        return ""
    return _ESCAPED.sub(_unescape_match, stored)


def _unescape_match(match: re.Match[str]) -> str:
    code = match.group(1)
    return _UNESCAPES[code] if code else chr(int(match.group(2), 16))


def path(*keys: str) -> str:
    """A dotted update path to the field under these JSON keys, each escaped.

    >>> path("context", "steps", "a.b")
    'context.steps.a%2Eb'
    """
    return ".".join(escape_key(key) for key in keys)


# ── JSON values ───────────────────────────────────────────────────────────


def _as_json_text(value: Any, depth: int) -> dict[str, str]:
    """Store `value` as JSON text, after checking that it is JSON."""
    _check_json(value, depth)
    try:
        return {JSON_MARKER: json.dumps(value, ensure_ascii=True, allow_nan=False)}
    except ValueError as exc:  # an int past sys.get_int_max_str_digits(): 4300 digits
        raise UnstorableValue(f"integer too large to store ({exc})") from None


def _check_json(value: Any, depth: int) -> None:
    """Raise `UnstorableValue` unless `value` is JSON within `MAX_JSON_DEPTH`."""
    if isinstance(value, (dict, list)):
        if depth >= MAX_JSON_DEPTH:
            raise UnstorableValue(f"nested deeper than {MAX_JSON_DEPTH} levels")
        is_dict = isinstance(value, dict)
        items: Iterable[tuple[Any, Any]] = (
            value.items() if isinstance(value, dict) else enumerate(value)
        )
        for key, item in items:
            try:
                if is_dict and not isinstance(key, str):
                    raise UnstorableValue(f"object key {key!r} is not a string")
                _check_json(item, depth + 1)
            except UnstorableValue as exc:
                raise exc.at(key) from None
    elif type(value) is float:
        if not math.isfinite(value):
            raise UnstorableValue(f"{value!r} is not a JSON number")
    elif type(value) not in _JSON_SCALARS:
        _coerce_scalar(value)


def _coerce_scalar(value: Any) -> Any:
    """A subclass of a JSON type as its base type, e.g. a str enum member as str."""
    if isinstance(value, str):
        return str.__str__(value)  # str() of a str enum member is "Color.RED"
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    kind = type(value).__name__
    hint = " (use a list)" if isinstance(value, tuple) else ""
    raise UnstorableValue(f"a {kind} is not a JSON value{hint}")


def encode_value(value: Any) -> Any:
    """The stored form of a JSON value.

    Returns `value` itself when nothing needs to change, so encoding an ordinary
    payload copies nothing; otherwise only the branches that change are copied.
    Raises `UnstorableValue` when `value` is not JSON.
    """
    kind = type(value)
    if kind is dict:
        return _encode_dict(value, 0)
    if kind is list:
        return _encode_list(value, 0)
    return _encode_other(value, 0)


# Key-set caches. JSON arrays of objects repeat the same keys over and over, so the
# stored form of a dict's keys is worked out once per key set: the next dict with
# the same keys costs one tuple and one lookup, and is rebuilt (if at all) in C.
# None means "the keys stay as they are". Bounded; emptied when full.
_SAFE_KEYS: set[str] = set()
"""Keys known to need no escaping; a dict whose keys are all here is checked in C."""
_STORED_KEYS: dict[tuple[Any, ...], tuple[str, ...] | None] = {}
_ORIGINAL_KEYS: dict[tuple[str, ...], tuple[str, ...] | None] = {}
_KEYSETS_MAX = 4096
_KEYSET_MAX_SIZE = 64
_SAFE_KEY_MAX_LENGTH = 64


def _remember(
    cache: dict[tuple[Any, ...], tuple[str, ...] | None],
    keys: tuple[Any, ...],
    result: tuple[str, ...] | None,
) -> None:
    if len(keys) <= _KEYSET_MAX_SIZE:
        if len(cache) >= _KEYSETS_MAX:
            cache.clear()
        cache[keys] = result


def _stored_keys(value: dict[Any, Any]) -> tuple[str, ...] | None:
    """The stored keys of `value` in order, or None if they stay as they are.

    Raises `UnstorableValue` for a key that is not a string.
    """
    keys = tuple(value)
    try:
        return _STORED_KEYS[keys]
    except KeyError:
        pass
    stored: list[str] = []
    changed = False
    for key in keys:
        if type(key) is not str:
            if not isinstance(key, str):
                raise UnstorableValue(f"object key {key!r} is not a string").at(key)
            key, changed = str.__str__(key), True
        if _key_needs_escape(key):
            key, changed = escape_key(key), True
        stored.append(key)
    result = tuple(stored) if changed else None
    _remember(_STORED_KEYS, keys, result)
    if result is None:
        _remember_safe(keys)
    return result


def _remember_safe(keys: tuple[str, ...]) -> None:
    if len(_SAFE_KEYS) >= _KEYSETS_MAX * 4:
        _SAFE_KEYS.clear()
    _SAFE_KEYS.update(key for key in keys if len(key) <= _SAFE_KEY_MAX_LENGTH)


def _original_keys(stored: dict[str, Any]) -> tuple[str, ...] | None:
    """The keys that `_stored_keys` stored as `stored`'s, None if unchanged."""
    keys = tuple(stored)
    try:
        return _ORIGINAL_KEYS[keys]
    except KeyError:
        pass
    result = tuple(map(unescape_key, keys)) if any("%" in key for key in keys) else None
    _remember(_ORIGINAL_KEYS, keys, result)
    if result is None:
        _remember_safe(tuple(key for key in keys if not _key_needs_escape(key)))
    return result


def _encode_dict(value: dict[Any, Any], depth: int) -> Any:
    if depth >= MAX_NATIVE_DEPTH:
        return _as_json_text(value, depth)
    stored_keys = None if _SAFE_KEYS.issuperset(value) else _stored_keys(value)
    changed: dict[Any, Any] | None = None
    key: Any = None
    try:
        for key, item in value.items():
            kind = type(item)
            if kind is str:
                if item.isascii() or not _SURROGATE.search(item):
                    continue
                stored: Any = _as_json_text(item, depth + 1)
            elif kind is int:
                if _INT64_MIN <= item <= _INT64_MAX:
                    continue
                stored = _as_json_text(item, depth + 1)
            elif kind is dict:
                stored = _encode_dict(item, depth + 1)
                if stored is item:
                    continue
            elif kind is list:
                stored = _encode_list(item, depth + 1)
                if stored is item:
                    continue
            elif kind is float:
                if item - item == 0.0:  # finite
                    continue
                raise UnstorableValue(f"{item!r} is not a JSON number")
            elif kind is bool or item is None:
                continue
            else:
                stored = _encode_other(item, depth + 1)
            if changed is None:
                changed = {}
            changed[key] = stored
    except UnstorableValue as exc:
        raise exc.at(key) from None
    if changed is None:
        if stored_keys is None:
            return value
        return dict(zip(stored_keys, value.values(), strict=True))
    values = [changed.get(key, item) for key, item in value.items()]
    return dict(zip(stored_keys or value, values, strict=True))


def _encode_list(value: list[Any], depth: int) -> Any:
    # The per-item dispatch repeats `_encode_dict`'s on purpose: a shared helper
    # costs a call per JSON value (measured: +53% on a list of 400,000 scalars,
    # +2% on a list of records, whose time is spent in the dict loop).
    if depth >= MAX_NATIVE_DEPTH:
        return _as_json_text(value, depth)
    changed: list[Any] | None = None
    position = 0
    try:
        for position, item in enumerate(value):
            kind = type(item)
            if kind is str:
                if item.isascii() or not _SURROGATE.search(item):
                    continue
                stored: Any = _as_json_text(item, depth + 1)
            elif kind is int:
                if _INT64_MIN <= item <= _INT64_MAX:
                    continue
                stored = _as_json_text(item, depth + 1)
            elif kind is dict:
                stored = _encode_dict(item, depth + 1)
                if stored is item:
                    continue
            elif kind is list:
                stored = _encode_list(item, depth + 1)
                if stored is item:
                    continue
            elif kind is float:
                if item - item == 0.0:
                    continue
                raise UnstorableValue(f"{item!r} is not a JSON number")
            elif kind is bool or item is None:
                continue
            else:
                stored = _encode_other(item, depth + 1)
            if changed is None:
                changed = list(value)
            changed[position] = stored
    except UnstorableValue as exc:
        raise exc.at(position) from None
    return value if changed is None else changed


def _encode_other(value: Any, depth: int) -> Any:
    """Encode a scalar, or anything that is not exactly a JSON type."""
    kind = type(value)
    if kind is str:
        return _as_json_text(value, depth) if has_lone_surrogate(value) else value
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        return _as_json_text(value, depth)
    if kind is float:
        if value - value == 0.0:
            return value
        raise UnstorableValue(f"{value!r} is not a JSON number")
    if kind is bool or value is None:
        return value
    coerced = _coerce_scalar(value)
    if type(coerced) is dict:
        return _encode_dict(coerced, depth)
    if type(coerced) is list:
        return _encode_list(coerced, depth)
    return _encode_other(coerced, depth)


def decode_value(stored: Any) -> Any:
    """The JSON value that `encode_value` stored as `stored`.

    `stored` must be freshly decoded from BSON: its containers are reused.
    """
    kind = type(stored)
    if kind is dict:
        return _decode_dict(stored)
    if kind is list:
        return _decode_list(stored)
    if kind in _DECODED_LEAVES:
        return stored
    if isinstance(stored, int):  # bson.Int64
        return int(stored)
    if isinstance(stored, Mapping):  # a custom document_class
        return _decode_dict(dict(stored))
    return stored


_DECODED_LEAVES = frozenset({str, int, float, bool, type(None)})


def _decode_list(stored: list[Any]) -> list[Any]:
    for position, item in enumerate(stored):
        if type(item) not in _DECODED_LEAVES:
            stored[position] = decode_value(item)
    return stored


def _decode_dict(stored: dict[str, Any]) -> Any:
    if len(stored) == 1 and JSON_MARKER in stored:
        return json.loads(stored[JSON_MARKER])
    for key, item in stored.items():
        if type(item) not in _DECODED_LEAVES:
            stored[key] = decode_value(item)
    original_keys = None if _SAFE_KEYS.issuperset(stored) else _original_keys(stored)
    if original_keys is None:
        return stored
    return dict(zip(original_keys, stored.values(), strict=True))


# ── document layout ───────────────────────────────────────────────────────


def _encode_field(value: Any, root: str, run_task_id: object, step_id: object = None) -> Any:
    try:
        return encode_value(value)
    except UnstorableValue as exc:
        raise exc.to_input_error(root, run_task_id=run_task_id, step_id=step_id) from None


def _status_value(status: Any, run_task_id: object, step_id: object) -> str:
    try:
        return TaskStatus(status).value
    except ValueError:
        raise InvalidInputError(
            f"step {step_id!r} of run {run_task_id!r} has an unknown status {status!r}",
            run_task_id=run_task_id,
            step_id=step_id,
        ) from None


def _timestamp(value: Any, field: str, run_task_id: object, step_id: object = None) -> Any:
    if value is None or isinstance(value, datetime):
        return value
    owner = f"step {step_id!r} of run {run_task_id!r}" if step_id else f"run {run_task_id!r}"
    raise InvalidInputError(
        f"{field} of {owner} must be a datetime, not {type(value).__name__}",
        run_task_id=run_task_id,
        step_id=step_id,
    )


def run_fields(state: WorkflowExecutionState) -> dict[str, Any]:
    """The run-level fields of the stored document (no `_id`, no steps).

    Optional fields that are None are left out. Raises `InvalidInputError`.
    """
    run = state.run_task_id
    fields: dict[str, Any] = {
        "agent_id": state.agent_id,
        "thread_id": state.thread_id,
        "user_id": state.user_id,
    }
    if state.workspace_id is not None:
        fields["workspace_id"] = state.workspace_id
    # The encoding checks the value; pydantic's serializer would warn (an error
    # under -W error) for a part nested past its depth limit, before we refuse it.
    definition = state.definition.model_dump(warnings=False)
    fields["definition"] = _encode_field(definition, "definition", run)
    if state.entry_point is not None:
        fields["entry_point"] = state.entry_point
    fields["input"] = _encode_field(state.input, "input", run)
    fields["context"] = _encode_field(state.context, "context", run)
    fields["created_at"] = _timestamp(state.created_at, "created_at", run)
    fields["updated_at"] = _timestamp(state.updated_at, "updated_at", run)
    return fields


OPTIONAL_RUN_FIELDS = ("workspace_id", "entry_point")
"""Run-level fields left out of the document when None."""


def step_document(run_task_id: str, step: WorkflowStepState) -> dict[str, Any]:
    """The stored form of one step; None fields are left out.

    Raises `InvalidInputError` naming the run, the step and the bad path.
    """
    step_id = step.step_id
    doc: dict[str, Any] = {
        "step_id": step_id,
        "status": _status_value(step.status, run_task_id, step_id),
    }
    if step.result is not None:
        doc["result"] = _encode_field(step.result, "result", run_task_id, step_id)
    if step.error is not None:
        doc["error"] = step.error
    if step.started_at is not None:
        doc["started_at"] = _timestamp(step.started_at, "started_at", run_task_id, step_id)
    if step.completed_at is not None:
        doc["completed_at"] = _timestamp(step.completed_at, "completed_at", run_task_id, step_id)
    if step.wait_task_id is not None:
        doc["wait_task_id"] = step.wait_task_id
    return doc


UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""Layout upgrades, applied lazily on read: `UPGRADES[v]` turns a document of
`schema_version` v into v + 1. Documents may be partial (a projection) and may
hold parts already in the newer layout (a newer writer may have updated one step
of an older document), so an upgrade must leave such parts alone.
"""


def upgrade_document(run_task_id: object, doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` in the current layout. Raises `SchemaVersionError` for a newer one."""
    version = doc.get("schema_version", 1)
    if type(version) is not int or not 1 <= version <= SCHEMA_VERSION:
        raise SchemaVersionError(run_task_id, version, SCHEMA_VERSION)
    while version < SCHEMA_VERSION:
        doc = UPGRADES[version](doc)
        version += 1
    return doc


def decode_run(run_task_id: str, doc: dict[str, Any]) -> WorkflowExecutionState:
    """The run-level state stored in `doc` (a document read from the server)."""
    doc = upgrade_document(run_task_id, doc)
    revision = doc.get("revision")
    return WorkflowExecutionState(
        run_task_id=run_task_id,
        agent_id=doc["agent_id"],
        thread_id=doc["thread_id"],
        user_id=doc["user_id"],
        workspace_id=doc.get("workspace_id"),
        definition=WorkflowDefinition.model_validate(decode_value(doc["definition"])),
        entry_point=doc.get("entry_point"),
        input=decode_value(doc.get("input")),
        context=decode_value(doc.get("context")),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        revision=None if revision is None else int(revision),
    )


def decode_steps(run_task_id: object, doc: dict[str, Any] | None) -> list[WorkflowStepState]:
    """The steps held by `doc` (a run document or a projection of one)."""
    if not doc:
        return []
    doc = upgrade_document(run_task_id, doc)
    return [decode_step(step) for step in doc.get("steps") or ()]


def decode_step(doc: dict[str, Any]) -> WorkflowStepState:
    """The step state stored in `doc` (one element of a run's `steps` array)."""
    result = doc.get("result")
    return WorkflowStepState(
        step_id=doc["step_id"],
        status=doc.get("status", TaskStatus.PENDING),
        result=None if result is None else decode_value(result),
        error=doc.get("error"),
        started_at=doc.get("started_at"),
        completed_at=doc.get("completed_at"),
        wait_task_id=doc.get("wait_task_id"),
    )


COMPLETION_KEY = "completion_key"
"""Step field (not part of the model) holding the `idempotency_key` of the
`complete_wait` call that completed a wait."""


def completed_step_document(
    stored: dict[str, Any],
    status: TaskStatus,
    stored_result: Any,
    error: str | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """A stored waiting step as `complete_wait` leaves it."""
    dropped = ("result", "error", COMPLETION_KEY)
    completed = {key: value for key, value in stored.items() if key not in dropped}
    completed["status"] = status.value
    if stored_result is not None:
        completed["result"] = stored_result
    if error is not None:
        completed["error"] = error
    completed["completed_at"] = utc_now()
    if idempotency_key is not None:
        completed[COMPLETION_KEY] = idempotency_key
    return completed


def closed_wait(
    wait_task_id: str, run_task_id: str, stored: dict[str, Any], idempotency_key: str | None
) -> WorkflowStepState:
    """For a wait that is no longer open: the stored step if the call with this
    `idempotency_key` completed it (a retry), else `WaitAlreadyCompletedError`.
    """
    step = decode_step(bson.decode(bson.encode(stored)))
    if idempotency_key is not None and stored.get(COMPLETION_KEY) == idempotency_key:
        return step
    status = str(stored.get("status"))
    raise WaitAlreadyCompletedError(wait_task_id, run_task_id, step.step_id, status, step)


def context_sets_for(
    run_task_id: str, step_id: str, stored_result: Any, updates: Mapping[str, Any]
) -> dict[str, Any]:
    """What a step commit sets in the context, stored form: each escaped top-level
    key of `updates` to its encoded value, and `steps` to `{<step_id>: result}`.

    Raises `InvalidInputError` for an update that cannot be stored.
    """
    sets: dict[str, Any] = {}
    for key, value in updates.items():
        try:
            sets[escape_key(key)] = encode_value(value)
        except UnstorableValue as exc:
            raise exc.to_input_error(
                f"context_updates[{key!r}]", run_task_id=run_task_id, step_id=step_id
            ) from None
    sets["steps"] = {escape_key(step_id): stored_result}
    # In the order a server applies them, so that new keys land in the same order
    # in every store (and on mongomock, which applies them in the order sent).
    return dict(sorted(sets.items(), key=lambda item: server_field_order(item[0])))


def server_field_order(name: str) -> tuple[int, int, bytes]:
    """Sort key: the order in which MongoDB (5.0+) applies sibling paths of an update.

    A server does not apply the paths of a `$set` in the order given: strings go
    in byte order, except that names which are numbers go in numeric order ("9"
    before "10"; "02", zero-padded, is a string). New fields are appended in this
    order. (The server's `cmpPathsAndArrayIndexes`.)
    """
    raw = name.encode("utf-8", "surrogatepass")
    first = raw[:1]
    if not raw or first < b"0":
        return (0, 0, raw)
    if first > b"9":
        return (4, 0, raw)
    if first == b"0":
        return (1 if len(raw) == 1 else 2, 0, raw)
    return (3, len(raw), raw)  # numeric names: shorter first, then digit by digit


def context_paths(sets: dict[str, Any]) -> dict[str, Any]:
    """`context_sets_for`'s result as `$set` paths (`context.<key>`, `context.steps.<id>`),
    in the same order.
    """
    paths: dict[str, Any] = {}
    for key, value in sets.items():
        if key == "steps":
            paths.update({f"context.steps.{step}": result for step, result in value.items()})
        else:
            paths[f"context.{key}"] = value
    return paths


def commit_payload(step_doc: dict[str, Any], context_sets: dict[str, Any]) -> dict[str, Any]:
    """What a step commit writes, for the size named in `PayloadTooLargeError`."""
    return {"step": step_doc, "context": context_sets}


def document_size(head: dict[str, Any], steps: list[bytes], *tails: bytes) -> int:
    """The BSON size of a document made of `head`, the encoded `tails`' fields,
    and a `steps` array of the encoded step documents, without building it.
    """
    size = len(bson.encode({**head, "steps": [RawBSONDocument(step) for step in steps]}))
    return size + sum(len(tail) - 5 for tail in tails)
