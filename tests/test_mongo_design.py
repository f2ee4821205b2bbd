"""The MongoDB design: one document per run, command budgets, raw documents,
races, and the mapping of driver errors. Runs on mongomock-motor (behind the
server-rules double) and on a real server when `MONGODB_URI` is set.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo.errors import AutoReconnect, DuplicateKeyError, NetworkTimeout, OperationFailure

from mongo_wfstore import (
    ContentionError,
    DatabaseError,
    DatabaseUnavailableError,
    InMemoryWorkflowStore,
    InvalidInputError,
    MongoWorkflowStore,
    PayloadTooLargeError,
    RevisionConflictError,
    RunNotFoundError,
    TaskStatus,
    WorkflowExecutionState,
    WorkflowStepState,
    WorkflowStore,
)

from .doubles import (
    CountingCollection,
    ServerRulesCollection,
    UntouchableCollection,
    YieldingCollection,
    assert_storable,
    plain,
)
from .test_contract import new_state

HOSTILE_RESULT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:x",
    "$ref": "#/$defs/a",
    "$defs": {"a": {"$ref": "other", "$id": 7}},
    "a.b": {"c.d": ["$e"]},
    "": "empty key",
    "%24ref": "looks escaped",
    "%json": "looks like the marker",
    "nul\x00key": "x",
    "big": 2**64 - 1,
    "neg": -(2**70),
    "i64": 2**63 - 1,
    "float_int": 3.0,
    "bool": True,
    "none": None,
    "surrogate": "\ud800 lone",
    "deep": {"k": {"k": {"k": {"k": {"k": {}}}}}},
}


def mock_store(*wrappers: Any, **options: Any) -> tuple[MongoWorkflowStore, Any]:
    """A store on a fresh mongomock collection, behind the server-rules double."""
    coll: Any = ServerRulesCollection(AsyncMongoMockClient()["db"]["runs"])
    for wrapper in wrappers:
        coll = wrapper(coll)
    return MongoWorkflowStore(coll, **options), coll


# ── the stored document ───────────────────────────────────────────────────


async def test_a_run_is_one_document_with_an_embedded_steps_array(
    mongo_store: MongoWorkflowStore,
) -> None:
    state = new_state().with_workspace_id("ws").with_input({"q": 1})
    await mongo_store.create_run(state)
    for step_id in ["a", "b"]:
        await mongo_store.upsert_step("run-1", WorkflowStepState(step_id=step_id, result=step_id))
    doc = plain(await mongo_store.collection.find_one({"_id": "run-1"}))
    assert doc["_id"] == "run-1"
    assert doc["schema_version"] == 1
    assert doc["revision"] == 3
    assert doc["agent_id"] == "agent-1" and doc["workspace_id"] == "ws"
    assert doc["input"] == {"q": 1}
    assert doc["created_at"].replace(tzinfo=None) == state.created_at.replace(tzinfo=None)
    assert [s["step_id"] for s in doc["steps"]] == ["a", "b"]
    assert doc["steps"][0] == {"step_id": "a", "status": "pending", "result": "a"}
    assert "run_task_id" not in doc and "entry_point" not in doc
    assert_storable(doc)


async def test_ordinary_payloads_are_stored_as_they_are(mongo_store: MongoWorkflowStore) -> None:
    result = {"docs": [{"title": "A", "score": 0.5, "tags": ["x"]}], "count": 1, "ok": True}
    await mongo_store.upsert_step("run-1", WorkflowStepState(step_id="s", result=result))
    doc = await mongo_store.collection.find_one({"_id": "run-1"})
    assert doc["steps"][0]["result"] == result


async def test_hostile_values_are_stored_in_a_form_a_server_accepts(
    mongo_store: MongoWorkflowStore,
) -> None:
    state = new_state().with_input(HOSTILE_RESULT).with_context(HOSTILE_RESULT)
    await mongo_store.create_run(state)
    step = WorkflowStepState(step_id="$s.1", result=HOSTILE_RESULT)
    await mongo_store.upsert_step("run-1", step)
    doc = await mongo_store.collection.find_one({"_id": "run-1"})
    assert_storable(doc)
    result = doc["steps"][0]["result"]
    assert result["%24schema"] == HOSTILE_RESULT["$schema"]  # readable in the shell
    assert result["a%2Eb"] == {"c%2Ed": ["$e"]}
    assert result["big"] == {"%json": str(2**64 - 1)}
    got = await mongo_store.get_run("run-1")
    assert got is not None
    assert got.model_copy(update={"updated_at": state.updated_at}) == state  # a step write bumps it
    assert await mongo_store.get_step("run-1", "$s.1") == step


async def test_definition_json_schemas_round_trip(mongo_store: MongoWorkflowStore) -> None:
    state = new_state()
    definition = state.definition.model_copy(
        update={"input_schema": {"$schema": "s", "$ref": "#/$defs/x", "$defs": {"x": {}}}}
    )
    state = state.model_copy(update={"definition": definition})
    await mongo_store.create_run(state)
    assert_storable(await mongo_store.collection.find_one({"_id": "run-1"}))
    got = await mongo_store.get_run("run-1")
    assert got is not None and got.definition == definition


# ── command budget: no read-modify-write ──────────────────────────────────


async def test_each_operation_sends_the_commands_the_design_promises() -> None:
    store, coll = mock_store(CountingCollection)

    async def sent(call: Any) -> list[str]:
        coll.reset()
        await call
        return coll.names

    write = "find_one_and_update"  # one atomic update that also returns the blob registry
    assert await sent(store.create_run(new_state())) == [write]
    assert await sent(store.upsert_step("run-1", WorkflowStepState(step_id="a"))) == [write, write]
    done = WorkflowStepState(step_id="a", status=TaskStatus.COMPLETED, result={"x": 1})
    assert await sent(store.upsert_step("run-1", done)) == [write]
    assert await sent(store.update_context("run-1", {"c": 1})) == [write]
    assert await sent(store.get_run("run-1")) == ["find_one"]
    assert await sent(store.get_step("run-1", "a")) == ["find_one"]
    assert await sent(store.list_steps("run-1")) == ["find_one"]
    assert await sent(store.delete_run("run-1")) == ["find_one_and_delete"]
    assert await sent(store.upsert_step("run-2", WorkflowStepState(step_id="a"))) == [write, write]


async def test_reads_transfer_only_what_they_return() -> None:
    store, coll = mock_store(CountingCollection)
    await store.create_run(new_state())
    for step_id in ["a", "b", "c"]:
        await store.upsert_step("run-1", WorkflowStepState(step_id=step_id, result="x" * 1000))
    coll.reset()
    await store.get_run("run-1")
    await store.get_step("run-1", "b")
    await store.list_steps("run-1")
    (_, run_args, _), (_, step_args, _), (_, list_args, _) = coll.calls
    assert run_args[1] == {"steps": 0}
    only_b = {"_id": 0, "schema_version": 1, "steps": {"$elemMatch": {"step_id": "b"}}}
    assert step_args[1] == only_b
    assert list_args[1] == {"_id": 0, "schema_version": 1, "steps": 1}
    raw = await coll.find_one({"_id": "run-1"}, step_args[1])
    assert [s["step_id"] for s in raw["steps"]] == ["b"]


async def test_step_updates_are_positional_and_never_mix_other_set_paths() -> None:
    store, coll = mock_store(CountingCollection)
    await store.upsert_step("run-1", WorkflowStepState(step_id="a"))
    coll.reset()
    await store.upsert_step("run-1", WorkflowStepState(step_id="a", status=TaskStatus.RUNNING))
    ((name, (filter_, update), _),) = coll.calls
    assert name == "find_one_and_update"
    assert filter_ == {"_id": "run-1", "steps.step_id": "a"}
    # mongomock ignores $set paths after "steps.$": it must come last.
    assert list(update["$set"]) == ["updated_at", "steps.$"]
    assert update["$inc"] == {"revision": 1}
    assert update["$unset"] == {"blobs.results.a": ""}  # no blob for this result


async def test_bad_input_never_reaches_the_database() -> None:
    store = MongoWorkflowStore(UntouchableCollection())  # type: ignore[arg-type]
    bad_calls = [
        store.create_run("nope"),  # type: ignore[arg-type]
        store.get_run({"$ne": None}),  # type: ignore[arg-type]
        store.update_context("", {}),
        store.update_context("run-1", {"x": float("nan")}),
        store.delete_run(None),  # type: ignore[arg-type]
        store.upsert_step("run-1", {"step_id": "a"}),  # type: ignore[arg-type]
        store.upsert_step("run-1", WorkflowStepState(step_id="a", result={1: 2})),
        store.get_step("run-1", ""),
        store.list_steps(["run-1"]),  # type: ignore[arg-type]
        store.create_run(new_state().with_input({"t": (1, 2)})),
    ]
    for call in bad_calls:
        with pytest.raises(InvalidInputError):
            await call


# ── races ─────────────────────────────────────────────────────────────────


@pytest.fixture
def interleaving_store() -> MongoWorkflowStore:
    """A mock store whose commands yield, so concurrent calls really interleave."""
    return mock_store(YieldingCollection)[0]


async def test_interleaved_first_inserts_of_one_step_leave_one_entry(
    interleaving_store: MongoWorkflowStore,
) -> None:
    await asyncio.gather(
        *(
            interleaving_store.upsert_step("run-1", WorkflowStepState(step_id="s", result=i))
            for i in range(50)
        )
    )
    steps = await interleaving_store.list_steps("run-1")
    assert [s.step_id for s in steps] == ["s"]


async def test_interleaved_inserts_of_distinct_steps_all_land(
    interleaving_store: MongoWorkflowStore,
) -> None:
    ids = [f"s{i}" for i in range(100)]
    await asyncio.gather(
        *(interleaving_store.upsert_step("run-1", WorkflowStepState(step_id=i)) for i in ids)
    )
    assert sorted(s.step_id for s in await interleaving_store.list_steps("run-1")) == sorted(ids)


async def test_interleaved_context_and_step_writes_do_not_clobber(
    interleaving_store: MongoWorkflowStore,
) -> None:
    await interleaving_store.create_run(new_state())
    writes = []
    for i in range(30):
        writes.append(interleaving_store.update_context("run-1", {"n": i}))
        writes.append(interleaving_store.upsert_step("run-1", WorkflowStepState(step_id=f"s{i}")))
    await asyncio.gather(*writes)
    run = await interleaving_store.get_run("run-1")
    assert run is not None and run.context in [{"n": i} for i in range(30)]
    assert len(await interleaving_store.list_steps("run-1")) == 30
    doc = await interleaving_store.collection.find_one({"_id": "run-1"})
    assert doc["revision"] == 61


class _RaceOnce:
    """Before the store's first `$push`, another writer inserts the same step."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def find_one_and_update(self, filter: Any, update: Any, **kwargs: Any) -> Any:
        if "$push" in update and not self.raced:
            self.raced = True
            rival = {"step_id": "s", "status": "running"}
            await self._inner.update_one(
                {"_id": filter["_id"]},
                {"$push": {"steps": rival}, "$setOnInsert": {"schema_version": 1, "revision": 0}},
                upsert=True,
            )
        return await self._inner.find_one_and_update(filter, update, **kwargs)


async def test_losing_the_insert_race_turns_the_push_into_an_update() -> None:
    store, coll = mock_store(_RaceOnce)
    step = WorkflowStepState(step_id="s", status=TaskStatus.COMPLETED, result=1)
    await store.upsert_step("run-1", step)
    assert coll.raced
    assert await store.list_steps("run-1") == [step]


class _AlwaysDuplicate:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def find_one_and_update(self, filter: Any, update: Any, **kwargs: Any) -> Any:
        if kwargs.get("upsert"):
            raise DuplicateKeyError("E11000 duplicate key error", code=11000)
        return await self._inner.find_one_and_update(filter, update, **kwargs)


async def test_the_retry_on_duplicate_key_is_bounded() -> None:
    store, _ = mock_store(_AlwaysDuplicate)
    with pytest.raises(ContentionError, match=r"step 's' of run 'run-1' after 5 attempts"):
        await store.upsert_step("run-1", WorkflowStepState(step_id="s"))
    with pytest.raises(ContentionError, match="run 'run-1'"):
        await store.create_run(new_state())


# ── driver errors ─────────────────────────────────────────────────────────


class _Failing:
    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.name = "failing"

    async def _raise(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    find_one = update_one = delete_one = aggregate = _raise
    find_one_and_update = find_one_and_delete = _raise


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AutoReconnect("connection reset"), DatabaseUnavailableError),
        (NetworkTimeout("timed out"), DatabaseUnavailableError),
        (OperationFailure("unauthorized", code=13), DatabaseError),
    ],
)
async def test_driver_errors_become_store_errors_with_the_cause_kept(
    error: BaseException, expected: type[Exception]
) -> None:
    store = MongoWorkflowStore(_Failing(error))  # type: ignore[arg-type]
    calls = [
        store.create_run(new_state()),
        store.get_run("run-1"),
        store.update_context("run-1", {}),
        store.delete_run("run-1"),
        store.upsert_step("run-1", WorkflowStepState(step_id="a")),
        store.get_step("run-1", "a"),
        store.list_steps("run-1"),
    ]
    for call in calls:
        with pytest.raises(expected) as info:
            await call
        assert info.value.__cause__ is error
        assert "run-1" in str(info.value)
    if isinstance(error, OperationFailure):
        assert info.value.code == 13  # type: ignore[attr-defined]


async def test_an_unreachable_server_is_a_database_unavailable_error() -> None:
    from pymongo import AsyncMongoClient

    client: Any = AsyncMongoClient("mongodb://127.0.0.1:9", serverSelectionTimeoutMS=100)
    try:
        store = MongoWorkflowStore(client["db"]["runs"])
        with pytest.raises(DatabaseUnavailableError, match="run-1") as info:
            await store.get_run("run-1")
        assert info.value.__cause__ is not None
    finally:
        await client.close()


def test_motor_and_pymongo_collections_are_accepted() -> None:
    from motor.motor_asyncio import AsyncIOMotorClient
    from pymongo import AsyncMongoClient

    pymongo_coll = AsyncMongoClient("mongodb://127.0.0.1:9", connect=False)["db"]["runs"]
    motor_coll = AsyncIOMotorClient("mongodb://127.0.0.1:9", connect=False)["db"]["runs"]
    assert MongoWorkflowStore(pymongo_coll).collection is pymongo_coll
    assert MongoWorkflowStore(motor_coll).collection is motor_coll


async def test_a_size_refusal_from_the_driver_becomes_payload_too_large() -> None:
    from pymongo.errors import DocumentTooLarge

    store = MongoWorkflowStore(_Failing(DocumentTooLarge("too big")))  # type: ignore[arg-type]
    with pytest.raises(PayloadTooLargeError, match="step 'a' of run 'run-1'") as info:
        await store.upsert_step("run-1", WorkflowStepState(step_id="a", result="x"))
    assert isinstance(info.value.__cause__, DocumentTooLarge)


# ── both stores answer the same calls the same way ────────────────────────


async def _outcomes(store: WorkflowStore) -> list[str]:
    big = "x" * (9 * 1024 * 1024)
    calls: list[Any] = [
        lambda: store.update_context("r", {}),
        lambda: store.upsert_step("r", WorkflowStepState(step_id="a", result=big)),
        lambda: store.upsert_step("r", WorkflowStepState(step_id="b", result=big)),
        lambda: store.create_run(WorkflowExecutionState.model_validate(_STATE)),
        lambda: store.update_context("r", {"big": big}),
        lambda: store.upsert_step("r", WorkflowStepState(step_id="", result=1)),
        lambda: store.update_context("r", {"n": float("inf")}),
        lambda: store.get_run("r"),
    ]
    seen = []
    for call in calls:
        try:
            got = await call()
            seen.append(f"ok {type(got).__name__}")
        except Exception as exc:
            seen.append(f"{type(exc).__name__}: {exc}")
    return seen


_STATE = new_state("r").model_dump()


async def test_both_stores_raise_the_same_errors_for_the_same_calls() -> None:
    memory = await _outcomes(InMemoryWorkflowStore(offload_threshold=None))
    mongo = await _outcomes(mock_store(offload_threshold=None)[0])
    assert memory == mongo
    assert sum(line.startswith("PayloadTooLargeError") for line in memory) == 2
    assert any(line.startswith(RunNotFoundError.__name__) for line in memory)


# ── issue 4: commit, waits, listing, tenants, schema ─────────────────────


async def test_new_operations_send_the_commands_the_design_promises() -> None:
    store, coll = mock_store(CountingCollection)
    await store.create_run(new_state())

    async def sent(call: Any) -> list[str]:
        coll.reset()
        await call
        return coll.names

    write = "find_one_and_update"
    new_step = WorkflowStepState(step_id="a", result=1)
    assert await sent(store.commit_step("run-1", new_step)) == [write, write]
    assert await sent(store.commit_step("run-1", new_step, context_updates={"k": 1})) == [write]
    wait = WorkflowStepState(step_id="w", status=TaskStatus.INPUT_REQUIRED, wait_task_id="W")
    await store.upsert_step("run-1", wait)
    assert await sent(store.find_wait("W")) == ["find_one"]
    assert await sent(store.complete_wait("W", "ok")) == ["find_one", write]
    assert await sent(store.list_runs(thread_id="thread-test")) == ["find"]
    coll.reset()
    with pytest.raises(RevisionConflictError):
        await store.update_context("run-1", {}, expected_revision=1)
    assert coll.names == [write, "find_one"]  # the read only on failure: why?


async def test_commit_step_sets_step_and_context_in_one_update() -> None:
    store, coll = mock_store(CountingCollection)
    await store.create_run(new_state())
    await store.commit_step("run-1", WorkflowStepState(step_id="a.b", result=1))
    coll.reset()
    await store.commit_step(
        "run-1", WorkflowStepState(step_id="a.b", result=2), context_updates={"$k": 3}
    )
    ((_, (filter_, update), _),) = coll.calls
    assert list(update["$set"]) == [
        "context.%24k",
        "context.steps.a%2Eb",
        "updated_at",
        "steps.$",  # last: mongomock drops the paths after it
    ]
    assert filter_["created_at"] == {"$exists": True}
    assert filter_["context"] == {"$type": "object", "$not": {"$type": "array"}}
    doc = await coll.find_one({"_id": "run-1"})
    assert doc["context"] == {"steps": {"a%2Eb": 2}, "%24k": 3}
    assert_storable(doc)


async def test_every_command_of_a_scoped_store_filters_by_the_tenant() -> None:
    unscoped, coll = mock_store(CountingCollection)
    store = unscoped.scoped("alice", "ws")
    state = new_state(user_id="alice").with_workspace_id("ws")
    wait = WorkflowStepState(step_id="w", status=TaskStatus.INPUT_REQUIRED, wait_task_id="W")
    await store.create_run(state)
    await store.upsert_step("run-1", WorkflowStepState(step_id="a"))
    await store.upsert_step("run-1", wait)
    await store.commit_step("run-1", WorkflowStepState(step_id="b"))
    await store.update_context("run-1", {"x": 1})
    await store.get_run("run-1")
    await store.get_step("run-1", "a")
    await store.list_steps("run-1")
    await store.find_wait("W")
    await store.complete_wait("W", 1)
    await store.list_runs()
    await store.delete_run("run-1")
    filters = [args[0] for name, args, _ in coll.calls if name != "find"]
    assert filters, "no commands recorded"
    for filter_ in filters:
        assert (filter_["user_id"], filter_["workspace_id"]) == ("alice", "ws"), filter_


async def test_a_scoped_list_runs_query_carries_the_tenant() -> None:
    unscoped, _ = mock_store()
    seen: list[Any] = []
    real_find = unscoped.collection.find

    def spy(query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(dict(query))
        return real_find(query, *args, **kwargs)

    unscoped.collection.find = spy  # type: ignore[method-assign]
    await unscoped.scoped("alice").list_runs(agent_id="a")
    assert seen[0]["user_id"] == "alice" and seen[0]["agent_id"] == "a"


async def test_interleaved_completions_of_one_wait_let_exactly_one_win(
    interleaving_store: MongoWorkflowStore,
) -> None:
    await interleaving_store.create_run(new_state())
    wait = WorkflowStepState(step_id="w", status=TaskStatus.INPUT_REQUIRED, wait_task_id="W")
    await interleaving_store.upsert_step("run-1", wait)
    outcomes = await asyncio.gather(
        *(interleaving_store.complete_wait("W", i) for i in range(20)), return_exceptions=True
    )
    from mongo_wfstore import WaitAlreadyCompletedError

    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, WaitAlreadyCompletedError)]
    assert (len(winners), len(losers)) == (1, 19)
    run = await interleaving_store.get_run("run-1")
    assert run is not None and run.context == {"steps": {"w": winners[0][1].result}}
    assert run.revision == 3


async def test_interleaved_commits_of_one_new_step_leave_one_entry(
    interleaving_store: MongoWorkflowStore,
) -> None:
    await interleaving_store.create_run(new_state())
    await asyncio.gather(
        *(
            interleaving_store.commit_step("run-1", WorkflowStepState(step_id="s", result=i))
            for i in range(30)
        ),
        *(
            interleaving_store.commit_step("run-1", WorkflowStepState(step_id=f"d{i}", result=i))
            for i in range(30)
        ),
    )
    steps = await interleaving_store.list_steps("run-1")
    assert sorted(s.step_id for s in steps) == sorted(["s", *(f"d{i}" for i in range(30))])
    run = await interleaving_store.get_run("run-1")
    assert run is not None
    by_id = {s.step_id: s.result for s in steps}
    assert run.context["steps"] == by_id  # type: ignore[index]
    assert run.revision == 61


async def test_a_document_of_this_version_reads_after_the_version_moves_on(
    mongo_store: MongoWorkflowStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mongo_wfstore import _encoding

    state = new_state().with_input({"$ref": 1}).with_context({"steps": {}})
    wait = WorkflowStepState(step_id="w", status=TaskStatus.INPUT_REQUIRED, wait_task_id="W")
    await mongo_store.create_run(state)
    await mongo_store.upsert_step("run-1", wait)
    assert (await mongo_store.collection.find_one({"_id": "run-1"}))["schema_version"] == 1

    upgraded: list[int] = []

    def v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
        upgraded.append(doc.get("schema_version", 1))
        return {**doc, "schema_version": 2}

    monkeypatch.setattr(_encoding, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(_encoding.UPGRADES, 1, v1_to_v2)
    got = await mongo_store.get_run("run-1")
    assert got is not None
    assert got.model_copy(update={"updated_at": state.updated_at}) == state
    assert await mongo_store.list_steps("run-1") == [wait]
    assert await mongo_store.get_step("run-1", "w") == wait
    assert await mongo_store.find_wait("W") == ("run-1", wait)
    assert [r.run_task_id for r in (await mongo_store.list_runs()).items] == ["run-1"]
    assert len(upgraded) == 5 and set(upgraded) == {1}


async def test_a_document_from_a_newer_layout_is_refused_not_misread(
    mongo_store: MongoWorkflowStore,
) -> None:
    from mongo_wfstore import SchemaVersionError

    await mongo_store.create_run(new_state())
    await mongo_store.collection.update_one({"_id": "run-1"}, {"$set": {"schema_version": 9}})
    with pytest.raises(SchemaVersionError, match="schema_version 9"):
        await mongo_store.get_run("run-1")
    with pytest.raises(SchemaVersionError):
        await mongo_store.list_steps("run-1")


async def test_only_a_failed_write_is_said_to_be_ambiguous() -> None:
    store = MongoWorkflowStore(_Failing(AutoReconnect("reset")))  # type: ignore[arg-type]
    with pytest.raises(DatabaseUnavailableError) as read:
        await store.get_run("run-1")
    assert "may or may not have been applied" not in str(read.value)
    with pytest.raises(DatabaseUnavailableError) as write:
        await store.upsert_step("run-1", WorkflowStepState(step_id="a"))
    assert "may or may not have been applied" in str(write.value)
