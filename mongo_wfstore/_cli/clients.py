"""Open a MongoDB client for a connection string, or the in-memory one for `mock://`.

- `mongodb://...` and `mongodb+srv://...`: PyMongo's `AsyncMongoClient` with
  `w="majority"` and the command's `--timeout` as its server-selection and
  connect timeouts, closed when the command ends.
- `mock://` (or `mock://NAME`): a mongomock-motor client held for the life of
  the process, one per URI, so that every command run in the same process on
  the same `mock://NAME` sees the same data. The test suite uses it, and so
  will the in-memory default of the `demo` command. It needs the `demo` extra
  (mongomock-motor is not a dependency of the library or of the `cli` extra).

`InvalidInputError` is raised for a connection string the driver refuses or a
`mock://` URI without mongomock-motor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo.errors import ConfigurationError

from .._exceptions import InvalidInputError

__all__ = ["DEFAULT_URI", "MOCK_SCHEME", "mock_client", "open_client", "open_collection"]

DEFAULT_URI = "mongodb://localhost:27017"
"""Used when neither `--uri` nor `$MONGODB_URI` is given."""

MOCK_SCHEME = "mock://"
"""Connection strings starting with this use the in-memory mongomock-motor client."""

_mock_clients: dict[str, Any] = {}


def mock_client(uri: str = MOCK_SCHEME) -> Any:
    """The in-memory mongomock-motor client for this `mock://` URI, the same one each time."""
    if uri not in _mock_clients:
        try:
            from mongomock_motor import AsyncMongoMockClient
        except ImportError:
            raise InvalidInputError(
                f"{uri} is the in-memory database, which needs mongomock-motor: "
                "pip install 'mongo-wfstore[demo]'"
            ) from None
        _mock_clients[uri] = AsyncMongoMockClient()
    return _mock_clients[uri]


@asynccontextmanager
async def open_client(uri: str, *, timeout_ms: int) -> AsyncIterator[Any]:
    """A client for `uri`, closed on exit (the in-memory one is kept)."""
    if uri.startswith(MOCK_SCHEME):
        yield mock_client(uri)
        return
    from pymongo import AsyncMongoClient

    try:
        client: Any = AsyncMongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            w="majority",
            appname="mongo-wfstore",
        )
    except (ConfigurationError, ValueError, TypeError) as exc:
        raise InvalidInputError(f"unusable --uri: {exc}") from None
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def open_collection(
    uri: str, db: str, collection: str, *, timeout_ms: int
) -> AsyncIterator[Any]:
    """The collection `db.collection` on a client for `uri`, closed on exit."""
    if not db or not collection:
        raise InvalidInputError("--db and --collection must not be empty")
    async with open_client(uri, timeout_ms=timeout_ms) as client:
        yield client[db][collection]
