"""What the store needs from a MongoDB driver, and how driver errors are mapped.

The store works on any async collection that looks like PyMongo's
`AsyncCollection`: PyMongo's own, Motor's (deprecated, still common) and
mongomock-motor's (for tests). `AsyncCollectionLike` lists what it calls; the
differences between them (`aggregate` and `list_indexes` are coroutines in
PyMongo and return a cursor in Motor) are smoothed over here.
`AdminCollectionLike` lists what the deploy-time tools (`ensure_indexes`,
`purge_runs`) call on top of that.

`translate_error` is the one place where driver and BSON errors become
`WorkflowStoreError`s, keeping the original as `__cause__`.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

from bson.errors import BSONError, InvalidDocument
from pymongo.errors import (
    ConnectionFailure,
    DocumentTooLarge,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)

from ._exceptions import (
    DatabaseError,
    DatabaseUnavailableError,
    InvalidInputError,
    WorkflowStoreError,
)

__all__ = [
    "DRIVER_ERRORS",
    "TOO_LARGE_CODES",
    "AdminCollectionLike",
    "AsyncCollectionLike",
    "aggregate",
    "is_too_large",
    "returns_fresh_documents",
    "list_indexes",
    "run_command",
    "translate_error",
]

TOO_LARGE_CODES = frozenset({10334, 17419, 17420})
"""Server codes for a document that would grow past 16 MiB (BSONObjectTooLarge)."""

DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    PyMongoError,
    BSONError,
    OverflowError,
    UnicodeEncodeError,
)
"""What a driver call can raise that the store must translate."""


class AsyncCollectionLike(Protocol):
    """The part of an async MongoDB collection the store uses."""

    @property
    def name(self) -> str: ...

    def find_one(self, filter: Any = None, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...

    def find(self, *args: Any, **kwargs: Any) -> Any: ...

    def update_one(
        self, filter: Mapping[str, Any], update: Any, upsert: bool = False, **kwargs: Any
    ) -> Awaitable[Any]: ...

    @property
    def database(self) -> Any: ...

    def find_one_and_update(
        self, filter: Mapping[str, Any], update: Any, *args: Any, **kwargs: Any
    ) -> Awaitable[Any]: ...

    def find_one_and_delete(
        self, filter: Mapping[str, Any], *args: Any, **kwargs: Any
    ) -> Awaitable[Any]: ...

    def delete_one(self, filter: Mapping[str, Any], **kwargs: Any) -> Awaitable[Any]: ...

    def delete_many(self, filter: Mapping[str, Any], **kwargs: Any) -> Awaitable[Any]: ...

    def aggregate(self, pipeline: Sequence[Mapping[str, Any]], **kwargs: Any) -> Any: ...


class AsyncDatabaseLike(Protocol):
    """The part of an async MongoDB database the deploy-time tools use."""

    @property
    def name(self) -> str: ...

    def command(self, command: Any, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...


class AdminCollectionLike(Protocol):
    """The part of an async collection that index setup and purging use."""

    @property
    def name(self) -> str: ...

    @property
    def database(self) -> Any: ...

    def list_indexes(self, *args: Any, **kwargs: Any) -> Any: ...

    def create_index(self, keys: Any, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...

    def drop_index(self, index_or_name: Any, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...

    def count_documents(self, filter: Any, *args: Any, **kwargs: Any) -> Awaitable[int]: ...

    def find(self, *args: Any, **kwargs: Any) -> Any: ...

    def delete_many(self, filter: Any, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...


async def aggregate(
    collection: AsyncCollectionLike, pipeline: Sequence[Mapping[str, Any]]
) -> list[Any]:
    """Run an aggregation and return all its documents, on PyMongo or Motor."""
    cursor = collection.aggregate(pipeline)
    if inspect.isawaitable(cursor):
        cursor = await cursor
    result: list[Any] = await cursor.to_list(None)
    return result


def returns_fresh_documents(collection: object) -> bool:
    """True for PyMongo's and Motor's collections, which decode every reply anew.

    Others (mongomock hands out references to the documents it stores, and a
    wrapper may cache) get their results copied before the store decodes them in
    place.
    """
    from pymongo.asynchronous.collection import AsyncCollection

    if isinstance(collection, AsyncCollection):
        return True
    motor_core = sys.modules.get("motor.core")
    agnostic = getattr(motor_core, "AgnosticCollection", None)
    return agnostic is not None and isinstance(collection, agnostic)


async def list_indexes(collection: AdminCollectionLike) -> list[dict[str, Any]]:
    """Every index of the collection as `listIndexes` describes it, on PyMongo or Motor.

    A collection that does not exist has no indexes (the drivers return an
    empty list rather than the server's NamespaceNotFound).
    """
    cursor = collection.list_indexes()
    if inspect.isawaitable(cursor):
        cursor = await cursor
    return [dict(index) for index in await cursor.to_list(None)]


async def run_command(collection: AdminCollectionLike, command: Mapping[str, Any]) -> Any:
    """Run a database command (`{"collMod": ...}`) on the collection's database.

    The command name must be the first key, as the server reads it.
    """
    database: AsyncDatabaseLike = collection.database
    return await database.command(dict(command))


def is_too_large(exc: BaseException) -> bool:
    """True if `exc` says a document or command exceeds the size limit."""
    if isinstance(exc, DocumentTooLarge):
        return True
    return isinstance(exc, OperationFailure) and exc.code in TOO_LARGE_CODES


def translate_error(exc: BaseException, doing: str, *, write: bool = False) -> WorkflowStoreError:
    """The `WorkflowStoreError` for a driver error raised while `doing` something.

    Network errors, timeouts and write-concern errors become
    `DatabaseUnavailableError` (for a `write`, the message says it may have been
    applied); a value the driver could not encode becomes `InvalidInputError`;
    anything else from the server becomes `DatabaseError` with its code and details.
    """
    if isinstance(exc, WorkflowStoreError):
        return exc
    if isinstance(exc, PyMongoError) and (
        isinstance(exc, ConnectionFailure | WriteConcernError) or exc.timeout
    ):
        ambiguous = ", the write may or may not have been applied" if write else ""
        return DatabaseUnavailableError(
            f"{doing}: the database is unavailable{ambiguous} ({type(exc).__name__}: {exc})",
            code=getattr(exc, "code", None),
            details=getattr(exc, "details", None),
        )
    if isinstance(exc, (InvalidDocument, OverflowError, UnicodeEncodeError)):
        return InvalidInputError(f"{doing}: the driver cannot encode the value ({exc})")
    if isinstance(exc, OperationFailure):
        return DatabaseError(f"{doing}: {exc}", code=exc.code, details=exc.details)
    return DatabaseError(f"{doing}: {type(exc).__name__}: {exc}")
