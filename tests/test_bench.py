"""The benchmark: its baselines keep the store's contract, its counters count,
and a tiny run produces every figure. No timing is asserted here: performance
claims live in the benchmark's output and the docs, not in unit tests.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bson
import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo import monitoring
from pymongo.errors import DuplicateKeyError

from mongo_wfstore import (
    InMemoryWorkflowStore,
    InvalidInputError,
    RunNotFoundError,
    TaskStatus,
    WorkflowDefinition,
    WorkflowExecutionState,
    WorkflowStep,
    WorkflowStepState,
    WorkflowStore,
)
from mongo_wfstore._bench import DESIGNS, BenchConfig, main, run_benchmark
from mongo_wfstore._bench.config import redact_uri
from mongo_wfstore._bench.designs import ReadModifyWriteStore, TwoCollectionStore
from mongo_wfstore._bench.monitor import CommandCounter, CountingCollection, metering
from mongo_wfstore._bench.results import OP_KINDS
from mongo_wfstore._bench.workload import make_store

from .conftest import MONGODB_URI, needs_server

T0 = datetime.datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)


def mock_collections(counting: bool = True) -> Callable[[str], Any]:
    """Fresh mock collections, counted (and yielding) like the benchmark's."""
    database = AsyncMongoMockClient()["bench_test"]

    def collection(name: str) -> Any:
        return CountingCollection(database[name], "bench_test") if counting else database[name]

    return collection


def definition() -> WorkflowDefinition:
    return WorkflowDefinition.new([WorkflowStep.checkpoint("c", "Checkpoint", "ok")])


def state(run_task_id: str, **changes: Any) -> WorkflowExecutionState:
    base = WorkflowExecutionState(
        run_task_id=run_task_id,
        agent_id="agent",
        thread_id="thread",
        user_id="user",
        definition=definition(),
        created_at=T0,
        updated_at=T0,
    )
    return base.model_copy(update=changes) if changes else base


def step(step_id: str, status: TaskStatus = TaskStatus.RUNNING, **fields: Any) -> WorkflowStepState:
    return WorkflowStepState(step_id=step_id, status=status, started_at=T0, **fields)


async def script(store: WorkflowStore) -> list[Any]:
    """The same operations on any store; every answer and error, in order."""
    out: list[Any] = []

    async def do(call: Any) -> None:
        try:
            out.append(await call)
        except (RunNotFoundError, InvalidInputError) as exc:
            out.append(type(exc).__name__)

    await do(store.get_run("run-1"))
    await do(store.upsert_step("run-1", step("early", result={"$ref": "#/a", "a.b": [1, 2.0]})))
    await do(store.get_run("run-1"))  # steps alone do not make a run
    await do(store.update_context("run-1", {"x": 1}))  # RunNotFoundError
    await do(store.create_run(state("run-1", workspace_id="ws", entry_point="main")))
    await do(store.list_steps("run-1"))  # the early step was kept
    for name in ("fetch", "summarize", "reply"):
        await do(store.upsert_step("run-1", step(name)))
    await do(store.upsert_step("run-1", step("fetch", TaskStatus.FAILED, error="timeout")))
    await do(
        store.upsert_step(
            "run-1",
            step("fetch", TaskStatus.COMPLETED, result={"n": 2**64 - 1}, completed_at=T0),
        )
    )  # replaces the failed step whole: its error is gone
    await do(store.get_step("run-1", "fetch"))
    await do(store.get_step("run-1", "nope"))
    await do(store.update_context("run-1", {"steps": {"fetch": [1, True, None, "é"]}}))
    await do(store.create_run(state("run-1")))  # resume: optional fields cleared, steps kept
    await do(store.list_steps("run-1"))
    await do(store.upsert_step("run-2", step("a")))
    await do(store.create_run(state("run-2", input={"q": "?"})))
    await do(store.delete_run("run-1"))
    await do(store.get_run("run-1"))
    await do(store.list_steps("run-1"))
    await do(store.get_step("run-1", "fetch"))
    await do(store.list_steps("run-2"))
    await do(store.upsert_step("run-2", step("bad", result={"x": float("nan")})))
    await do(store.delete_run("missing"))
    return out


def without_update_times(values: list[Any]) -> list[Any]:
    """`updated_at` is set by the store itself (`utc_now()`); compare the rest."""
    out = []
    for value in values:
        if isinstance(value, WorkflowExecutionState):
            value = value.model_copy(update={"updated_at": T0})
        out.append(value)
    return out


# ── the baselines keep the store's contract ─────────────────────────────


@pytest.mark.parametrize("design", DESIGNS)
async def test_every_design_answers_like_the_in_memory_store(design: str) -> None:
    expected = await script(InMemoryWorkflowStore())
    got = await script(make_store(design, mock_collections()))
    assert without_update_times(got) == without_update_times(expected)


@pytest.mark.parametrize("design", DESIGNS)
async def test_concurrent_writers_on_one_run_lose_nothing(design: str) -> None:
    store = make_store(design, mock_collections(), rmw_max_attempts=1000)
    await store.create_run(state("run-1"))

    async def writer(number: int) -> None:
        for index in range(3):
            await store.upsert_step("run-1", step(f"w{number}-{index}"))
            done = step(f"w{number}-{index}", TaskStatus.COMPLETED, result=[number, index])
            await store.upsert_step("run-1", done)

    await asyncio.gather(*(writer(number) for number in range(6)))
    steps = await store.list_steps("run-1")
    assert sorted(s.step_id for s in steps) == sorted(
        f"w{number}-{index}" for number in range(6) for index in range(3)
    )
    assert all(s.status == TaskStatus.COMPLETED for s in steps)
    assert {tuple(s.result) for s in steps if isinstance(s.result, list)} == {
        (number, index) for number in range(6) for index in range(3)
    }


async def test_read_modify_write_counts_its_conflicts() -> None:
    store = ReadModifyWriteStore(mock_collections()("runs"), max_attempts=1000)
    await store.create_run(state("run-1"))
    await asyncio.gather(*(store.upsert_step("run-1", step(f"s{n}")) for n in range(4)))
    assert store.conflicts > 0  # the writers read the same revision
    assert store.retries == store.conflicts
    assert len(await store.list_steps("run-1")) == 4


async def test_two_collection_steps_keep_first_insertion_order() -> None:
    collection = mock_collections(counting=False)
    store = TwoCollectionStore(collection("runs"), collection("steps"))
    await store.setup()
    for name in ("c", "a", "b"):
        await store.upsert_step("run-1", step(name))
    await store.upsert_step("run-1", step("a", TaskStatus.COMPLETED))
    assert [s.step_id for s in await store.list_steps("run-1")] == ["c", "a", "b"]
    with pytest.raises(DuplicateKeyError):  # the unique key the design relies on
        await collection("steps").insert_one({"run_task_id": "run-1", "step_id": "a"})


# ── the counters count ───────────────────────────────────────────────────


def size(doc: dict[str, Any]) -> int:
    return len(bson.encode(doc))


async def test_the_mock_counter_counts_commands_and_bytes() -> None:
    collection = mock_collections()("runs")
    filter = {"_id": "run-1"}
    update = {"$set": {"context": {"x": 1}}}
    with metering() as meter:
        await collection.update_one(filter, update, upsert=True)
    assert meter.commands == 1
    assert meter.sent == size(
        {
            "update": "runs",
            "ordered": True,
            "updates": [{"q": filter, "u": update, "multi": False, "upsert": True}],
            "$db": "bench_test",
        }
    )
    assert meter.received == size(
        {"n": 1, "nModified": 0, "upserted": [{"index": 0, "_id": "run-1"}], "ok": 1.0}
    )

    with metering() as meter:
        doc = await collection.find_one(filter, {"context": 1})
    assert doc == {"_id": "run-1", "context": {"x": 1}}
    assert meter.commands == 1
    reply = {"cursor": {"firstBatch": [doc], "id": bson.Int64(0), "ns": "bench_test.runs"}}
    assert meter.received == size({**reply, "ok": 1.0})

    with metering() as meter, pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": "run-1"})
    assert (meter.commands, meter.duplicate_keys) == (1, 1)


async def test_the_mock_counter_counts_a_get_more_past_the_first_batch() -> None:
    collection = mock_collections()("steps")
    await collection.insert_many([{"_id": n, "run": "r"} for n in range(150)])
    with metering() as meter:
        docs = await collection.find({"run": "r"}).sort("_id", 1).to_list(None)
    assert len(docs) == 150
    assert meter.commands == 2  # find (101 documents) + getMore
    assert meter.received > sum(size(doc) for doc in docs)


async def test_the_mock_counter_yields_so_that_writers_interleave() -> None:
    collection = mock_collections()("runs")
    order: list[str] = []

    async def write(name: str) -> None:
        order.append(f"{name} sends")
        await collection.insert_one({"_id": name})
        order.append(f"{name} done")

    await asyncio.gather(write("a"), write("b"))
    assert order.index("b sends") < order.index("a done")


def test_the_driver_listener_counts_the_events_of_the_current_operation() -> None:
    counter = CommandCounter()
    command = {"update": "runs", "updates": [{"q": {"_id": "r"}, "u": {"$set": {"a": 1}}}]}
    reply = {"n": 0, "writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000"}], "ok": 1}
    address = ("localhost", 27017)
    duration = datetime.timedelta(milliseconds=1)
    with metering() as meter:
        counter.started(monitoring.CommandStartedEvent(command, "db", 1, address, 1))
        succeeded = monitoring.CommandSucceededEvent(duration, reply, "update", 1, address, 1)
        counter.succeeded(succeeded)
        counter.started(monitoring.CommandStartedEvent({"find": "runs"}, "db", 2, address, 2))
        counter.failed(
            monitoring.CommandFailedEvent(duration, {"ok": 0, "code": 2}, "find", 2, address, 2)
        )
    assert meter.commands == 2
    assert meter.sent == size(command) + size({"find": "runs"})
    assert meter.received == size(reply) + size({"ok": 0, "code": 2})
    assert (meter.duplicate_keys, meter.failures) == (1, 1)
    counter.started(monitoring.CommandStartedEvent({"ping": 1}, "db", 3, address, 3))
    assert counter.unattributed == 1


def test_a_uri_is_shown_without_credentials_or_options() -> None:
    assert (
        redact_uri("mongodb://user:secret@h1:27017,h2/app?authSource=admin")
        == "mongodb://h1:27017,h2"
    )
    assert redact_uri("mongodb+srv://u:p%40ss@cluster0.example.net/") == (
        "mongodb+srv://cluster0.example.net"
    )


# ── a tiny run produces every figure ─────────────────────────────────────

TINY = [
    "--runs=2",
    "--steps=3",
    "--concurrency=2",
    "--result-bytes=300",
    "--scaling-steps=2,4,8",
    "--scaling-samples=2",
    "--writers=4",
    "--writer-steps=2",
    "--isolation-others=0,3",
    "--encoding-mib=0.0625",
    "--encoding-repeats=1",
    "--no-progress",
]


def finite_numbers(value: Any) -> bool:
    if isinstance(value, dict):
        return all(finite_numbers(item) for item in value.values())
    if isinstance(value, list):
        return all(finite_numbers(item) for item in value)
    return not isinstance(value, float) or math.isfinite(value)


def test_a_tiny_run_writes_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bench.json"
    assert main([*TINY, "--json", str(path), "--strict"]) == 0
    printed = capsys.readouterr().out
    assert "embedded mongomock-motor: times are Python, not MongoDB" in printed
    assert "FAIL" not in printed

    figures = json.loads(path.read_text())
    assert figures["backend"] == "mongomock"
    assert finite_numbers(figures)
    assert figures["config"]["runs"] == 2 and figures["config"]["steps"] == 3
    assert [row["design"] for row in figures["workload"]] == list(DESIGNS)
    for row in figures["workload"]:
        assert [op["kind"] for op in row["ops"]] == list(OP_KINDS)
        assert row["runs_verified"] == 2
        assert row["operations"] == 2 * (3 + 2 * 3 + 2 * 2)
        for op in row["ops"]:
            assert op["commands_per_op"] >= 1
            assert op["sent_bytes_per_op"] > 0 and op["received_bytes_per_op"] > 0
            assert op["p99_ms"] >= op["p50_ms"] >= 0
    assert {(p["design"], p["steps_in_run"]) for p in figures["scaling"]} == {
        (design, n) for design in DESIGNS for n in (2, 4, 8)
    }
    assert [row["landed"] for row in figures["contention"]] == [8, 8, 8]
    assert all(row["other_runs"] == [0, 3] for row in figures["isolation"])
    assert len(figures["encoding"]) == 3
    assert len(figures["targets"]) == 6
    assert all(target["passed"] for target in figures["targets"])


def test_this_store_costs_what_the_design_says() -> None:
    """Commands per operation, from the figures (the design doc's table)."""
    config = BenchConfig(
        runs=2,
        steps=3,
        scaling_steps=(2, 6),
        scaling_samples=1,
        writers=2,
        writer_steps=1,
        isolation_others=(0,),
        encoding=False,
    )
    result = asyncio.run(run_benchmark(config))
    ours = {op.kind: op.commands_per_op for op in result.workload[0].ops}
    assert ours == {
        "get_run_new": 1,
        "create_run": 1,
        "step_insert": 2,
        "step_update": 1,
        "get_run": 1,
        "list_steps": 1,
        "update_context": 1,
    }
    rmw = {op.kind: op.commands_per_op for op in result.workload[1].ops}
    assert rmw["step_update"] == 2 and rmw["update_context"] == 2
    two = {op.kind: op.commands_per_op for op in result.workload[2].ops}
    assert two["step_insert"] == 3 and two["step_update"] == 1


@needs_server
def test_a_tiny_run_on_a_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert MONGODB_URI
    path = tmp_path / "bench.json"
    assert main([*TINY, "--no-encoding", "--uri", MONGODB_URI, "--json", str(path)]) == 0
    figures = json.loads(path.read_text())
    assert figures["backend"] == "mongodb"
    assert "@" not in json.dumps(figures["config"])
    assert all(row["runs_verified"] == 2 for row in figures["workload"])
