"""Fixtures: every store the contract suite runs on.

- `memory`: `InMemoryWorkflowStore`.
- `mock`: `MongoWorkflowStore` on mongomock-motor, behind `ServerRulesCollection`
  so that the server's rules (16 MiB, names, depth, int64) are enforced.
- `mongodb` and `motor`: `MongoWorkflowStore` on a real server through PyMongo's
  `AsyncMongoClient` and through Motor, when `MONGODB_URI` is set; skipped
  otherwise. Each test gets a fresh database that is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient

from mongo_wfstore import InMemoryWorkflowStore, MongoWorkflowStore, WorkflowStore

from .doubles import ServerRulesCollection

MONGODB_URI = os.environ.get("MONGODB_URI")
needs_server = pytest.mark.skipif(not MONGODB_URI, reason="MONGODB_URI is not set")

BACKENDS = [
    "memory",
    "mock",
    pytest.param("mongodb", marks=needs_server),
    pytest.param("motor", marks=needs_server),
]
MONGO_BACKENDS = [
    "mock",
    pytest.param("mongodb", marks=needs_server),
    pytest.param("motor", marks=needs_server),
]


@pytest.fixture
async def server_collection() -> AsyncIterator[Any]:
    """A collection in a fresh database on the real server (PyMongo async)."""
    if not MONGODB_URI:
        pytest.skip("MONGODB_URI is not set")
    from pymongo import AsyncMongoClient

    client: Any = AsyncMongoClient(MONGODB_URI, serverSelectionTimeoutMS=5000)
    name = f"wfstore_test_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]["workflow_runs"]
    finally:
        await client.drop_database(name)
        await client.close()


async def _motor_collection() -> tuple[Any, Any, str]:
    from motor.motor_asyncio import AsyncIOMotorClient

    client = AsyncIOMotorClient(MONGODB_URI, serverSelectionTimeoutMS=5000)
    name = f"wfstore_test_{uuid.uuid4().hex[:12]}"
    return client, client[name]["workflow_runs"], name


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowStore]:
    """Each `WorkflowStore` implementation in turn."""
    if request.param == "memory":
        yield InMemoryWorkflowStore()
        return
    async for coll in _collection_for(request, request.param):
        yield MongoWorkflowStore(coll)


@pytest.fixture(params=MONGO_BACKENDS)
async def mongo_store(request: pytest.FixtureRequest) -> AsyncIterator[MongoWorkflowStore]:
    """`MongoWorkflowStore` on each MongoDB backend; `.collection` is the raw one."""
    async for coll in _collection_for(request, request.param):
        yield MongoWorkflowStore(coll)


async def _collection_for(request: pytest.FixtureRequest, backend: str) -> AsyncIterator[Any]:
    if backend == "mock":
        yield ServerRulesCollection(AsyncMongoMockClient()["wfstore_test"]["workflow_runs"])
    elif backend == "mongodb":
        yield request.getfixturevalue("server_collection")
    else:
        client, coll, name = await _motor_collection()
        try:
            yield coll
        finally:
            await client.drop_database(name)
            client.close()
