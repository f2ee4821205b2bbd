"""Test doubles for the rules a real MongoDB server enforces and mongomock does not.

- `ServerRulesCollection` wraps a mongomock-motor collection and, after every
  write, checks the stored document as a server would: 16 MiB, nesting depth,
  field names, int64. A write that breaks a rule is undone and refused with the
  server's error, so "the run is left exactly as it was" can be tested.
- `assert_storable` walks a raw document for everything a server refuses.
- `CountingCollection` records every command the store sends, to prove the
  command budget of each operation.
- `YieldingCollection` yields to the event loop before and after each command,
  so concurrent tasks interleave the way they do against a real server; with a
  seeded `random.Random` it yields a random number of times, so that each seed
  gives another interleaving.
- `FaultyCollection` makes a chosen command fail with a network error, either
  before it reaches the server (not applied) or after the server applied it
  (the reply is lost: the ambiguous case).
- `UntouchableCollection` fails the test if the store calls it at all.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bson
from bson.int64 import Int64
from pymongo.errors import AutoReconnect, WriteError

MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_DEPTH = 100
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def storage_violations(doc: Any) -> list[str]:
    """Every reason a real server (any version >= 4.4) would refuse `doc`."""
    problems: list[str] = []
    try:
        size = len(bson.encode(doc))
    except Exception as exc:  # the driver itself refuses
        return [f"cannot encode: {type(exc).__name__}: {exc}"]
    if size > MAX_BSON_SIZE:
        problems.append(f"document is {size} bytes, over {MAX_BSON_SIZE}")
    _walk(doc, "", 1, problems)
    return problems


def _walk(value: Any, path: str, depth: int, problems: list[str]) -> None:
    if isinstance(value, dict):
        if depth > MAX_DEPTH:
            problems.append(f"{path or '<root>'}: nested deeper than {MAX_DEPTH}")
            return
        if "$ref" in value and "$id" in value:
            problems.append(f"{path}: looks like a DBRef")
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(f"{path}: non-string key {key!r}")
                continue
            if key.startswith("$"):
                problems.append(f"{path}.{key}: field name starts with '$'")
            if "." in key:
                problems.append(f"{path}.{key}: field name contains '.'")
            if "\x00" in key:
                problems.append(f"{path}.{key!r}: field name contains NUL")
            if key == "":
                problems.append(f"{path}: empty field name")
            _walk(item, f"{path}.{key}", depth + 1, problems)
    elif isinstance(value, list):
        if depth > MAX_DEPTH:
            problems.append(f"{path}: nested deeper than {MAX_DEPTH}")
            return
        for position, item in enumerate(value):
            _walk(item, f"{path}[{position}]", depth + 1, problems)
    elif isinstance(value, int) and not isinstance(value, bool):
        if not INT64_MIN <= value <= INT64_MAX:
            problems.append(f"{path}: integer {value} outside int64")
    elif isinstance(value, float):
        pass
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(f"{path}: string is not valid UTF-8")


def assert_storable(doc: Any) -> None:
    """Fail if a real server would refuse to store `doc`."""
    problems = storage_violations(doc)
    assert not problems, "\n".join(problems)


class _Proxy:
    """Forwards everything it does not override to the wrapped collection."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ServerRulesCollection(_Proxy):
    """A mongomock-motor collection that refuses writes a real server refuses.

    After each update or insert the stored document is checked; a violation
    restores the document as it was and raises `WriteError`, code 10334 for
    size (BSONObjectTooLarge) and 2 (BadValue) for names, depth and ints.
    """

    async def update_one(self, filter: Any, update: Any, upsert: bool = False, **kw: Any) -> Any:
        before = await self._inner.find_one({"_id": filter["_id"]})
        result = await self._inner.update_one(filter, update, upsert=upsert, **kw)
        key = filter["_id"] if result.upserted_id is None else result.upserted_id
        after = await self._inner.find_one({"_id": key})
        await self._enforce(key, before, after)
        return result

    async def find_one_and_update(self, filter: Any, update: Any, *args: Any, **kw: Any) -> Any:
        key = filter["_id"]
        before = await self._inner.find_one({"_id": key})
        result = await self._inner.find_one_and_update(filter, update, *args, **kw)
        after = await self._inner.find_one({"_id": key})
        await self._enforce(key, before, after)
        return result

    async def insert_one(self, doc: Any, **kw: Any) -> Any:
        problems = storage_violations(doc)
        if problems:
            raise WriteError(problems[0], code=_code(problems))
        return await self._inner.insert_one(doc, **kw)

    async def _enforce(self, key: Any, before: Any, after: Any) -> None:
        if after is None:
            return
        problems = storage_violations(after)
        if not problems:
            return
        if before is None:
            await self._inner.delete_one({"_id": key})
        else:
            await self._inner.replace_one({"_id": key}, before)
        raise WriteError(problems[0], code=_code(problems))


def _code(problems: list[str]) -> int:
    return 10334 if "bytes, over" in problems[0] else 2


class CountingCollection(_Proxy):
    """Records `(command, args)` for each command sent through it."""

    COMMANDS = (
        "find_one",
        "update_one",
        "delete_one",
        "delete_many",
        "insert_one",
        "insert_many",
        "replace_one",
        "find_one_and_update",
        "find_one_and_delete",
        "distinct",
    )

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name in self.COMMANDS:
            return self._recording(name, target)
        if name in ("find", "aggregate"):
            self.calls.append((name, (), {}))
        return target

    def _recording(self, name: str, target: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            # Copied: mongomock mutates the dicts it is given (projections).
            self.calls.append((name, copy.deepcopy(args), copy.deepcopy(kwargs)))
            return await target(*args, **kwargs)

        return call

    @property
    def names(self) -> list[str]:
        """The commands sent so far, by name."""
        return [name for name, _, _ in self.calls]

    def reset(self) -> None:
        """Forget the commands recorded so far."""
        self.calls.clear()


class YieldingCollection(_Proxy):
    """Yields to the event loop around every command, so that tasks interleave.

    Without `rng` it yields once before and once after each command. With a
    seeded `random.Random` it yields 0 to `max_yields` times before and after,
    drawn from `rng`: the same seed gives the same interleaving of the same tasks.
    """

    def __init__(self, inner: Any, rng: random.Random | None = None, max_yields: int = 3) -> None:
        super().__init__(inner)
        self._rng = rng
        self._max_yields = max_yields

    def _yields(self) -> int:
        return 1 if self._rng is None else self._rng.randint(0, self._max_yields)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in CountingCollection.COMMANDS:
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            for _ in range(self._yields()):
                await asyncio.sleep(0)
            result = await target(*args, **kwargs)
            if isinstance(result, dict):
                # What a server sends: a fresh document, as it was when the command
                # ran. mongomock may return references into its store (projected
                # sub-documents), which a write run during the yield below would
                # change under the caller.
                result = bson.decode(bson.encode(result))
            for _ in range(self._yields()):
                await asyncio.sleep(0)
            return result

        return call


@dataclass
class Fault:
    """A command made to fail: the `nth` command sent from when it was armed."""

    nth: int
    applied: bool
    """True: the server applies the command and the reply is lost (ambiguous).
    False: the command never reaches the server."""
    error: BaseException


class FaultyCollection(_Proxy):
    """Makes chosen commands fail with a network error, before or after applying them.

    `fail(nth, applied=...)` arms a fault on the nth command sent from now on
    (reads count too: `find_one`, `update_one`, `delete_one`, ... and `find`,
    whose cursor fails when read). `log` records each command sent and what
    happened to it.
    """

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.sent = 0
        self.log: list[tuple[str, str]] = []
        self._faults: dict[int, Fault] = {}

    def fail(
        self, nth: int = 1, *, applied: bool, error: BaseException | None = None
    ) -> BaseException:
        """Arm a fault; returns the error the store will see."""
        if error is None:
            error = AutoReconnect("connection reset (injected fault)")
        self._faults[self.sent + nth] = Fault(nth, applied, error)
        return error

    @property
    def armed(self) -> bool:
        """True while a fault has not fired yet."""
        return bool(self._faults)

    def disarm(self) -> None:
        self._faults.clear()

    def _next(self, name: str) -> Fault | None:
        self.sent += 1
        fault = self._faults.pop(self.sent, None)
        if fault is None:
            self.log.append((name, "ok"))
        else:
            self.log.append((name, "applied, reply lost" if fault.applied else "not sent"))
        return fault

    def find(self, *args: Any, **kwargs: Any) -> Any:
        fault = self._next("find")
        cursor = self._inner.find(*args, **kwargs)
        return cursor if fault is None else _FailingCursor(cursor, fault.error)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in CountingCollection.COMMANDS:
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            fault = self._next(name)
            if fault is not None and not fault.applied:
                raise fault.error
            result = await target(*args, **kwargs)
            if fault is not None:
                raise fault.error
            return result

        return call


class _FailingCursor:
    """A cursor whose results never arrive."""

    def __init__(self, inner: Any, error: BaseException) -> None:
        self._inner = inner
        self._error = error

    def sort(self, *args: Any, **kwargs: Any) -> _FailingCursor:
        self._inner = self._inner.sort(*args, **kwargs)
        return self

    def limit(self, *args: Any, **kwargs: Any) -> _FailingCursor:
        self._inner = self._inner.limit(*args, **kwargs)
        return self

    async def to_list(self, length: int | None = None) -> list[Any]:
        raise self._error


class UntouchableCollection:
    """A collection the store must not use: any attribute access fails the test."""

    name = "untouchable"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store touched the database ({name}) on bad input")


def plain(value: Any) -> Any:
    """`value` with bson's Int64 turned into int, to compare raw documents."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, Int64):
        return int(value)
    return value


class IndexCommandsCollection(_Proxy):
    """Records the index commands sent through it: `create_index`, `drop_index`
    and database commands (`collMod`).

    mongomock has no `collMod` (`NotImplementedError`); with `emulate_collmod`
    the double carries out `{collMod, index: {name, expireAfterSeconds}}` the
    way a server does (the index keeps its name, keys and other options, only
    the TTL changes), behind the store's back, so that the recorded commands
    show what the code under test sent. Against a real server it passes every
    command through.
    """

    def __init__(self, inner: Any, *, emulate_collmod: bool = False) -> None:
        super().__init__(inner)
        self.commands: list[tuple[str, Any]] = []
        self._emulate_collmod = emulate_collmod

    @property
    def names(self) -> list[str]:
        """The commands sent so far, by name."""
        return [name for name, _ in self.commands]

    async def create_index(self, keys: Any, **kwargs: Any) -> Any:
        self.commands.append(("create_index", kwargs.get("name")))
        return await self._inner.create_index(keys, **kwargs)

    async def drop_index(self, name: Any, **kwargs: Any) -> Any:
        self.commands.append(("drop_index", name))
        return await self._inner.drop_index(name, **kwargs)

    @property
    def database(self) -> Any:
        return _CommandRecordingDatabase(self)

    async def _command(self, command: Any) -> Any:
        command = copy.deepcopy(dict(command))
        self.commands.append((next(iter(command)), command))
        if not (self._emulate_collmod and "collMod" in command):
            return await self._inner.database.command(command)
        change = command["index"]
        indexes = await self._inner.list_indexes().to_list(None)
        current = next(index for index in indexes if index["name"] == change["name"])
        options = {k: v for k, v in current.items() if k not in ("key", "v", "ns")}
        old = options.get("expireAfterSeconds")
        options["expireAfterSeconds"] = change["expireAfterSeconds"]
        await self._inner.drop_index(change["name"])
        await self._inner.create_index(list(current["key"].items()), **options)
        return {
            "expireAfterSeconds_old": old,
            "expireAfterSeconds_new": change["expireAfterSeconds"],
            "ok": 1.0,
        }


class _CommandRecordingDatabase:
    """The database of an `IndexCommandsCollection`: records `command` calls."""

    def __init__(self, owner: IndexCommandsCollection) -> None:
        self._owner = owner
        self.name = owner._inner.database.name

    async def command(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        assert not args and not kwargs, "commands are sent as one document"
        return await self._owner._command(command)

    def __getitem__(self, name: str) -> Any:
        """Another collection of the database (the blob bucket's), not recorded."""
        return self._owner._inner.database[name]
