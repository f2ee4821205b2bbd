"""The benchmark itself: the same engine workload on every design, side by side.

`run_benchmark(config)` runs five sections, each on every design in turn (never
two designs at once, so they do not compete for the CPU), each in its own fresh
collections:

1. **workload**: an engine executing R runs of S steps, C runs at a time. Per
   run: `get_run` (None) then `create_run`; per step `upsert_step(running)`
   (a step insert) then `upsert_step(completed, result)` (a step update);
   `get_run` + `list_steps` where the engine resumes; `update_context` at the
   end. Every run is read back afterwards and checked step by step.
2. **scaling**: one step update, and one step insert, in a run that already
   holds 10, 100 and 1,000 steps: commands, bytes, latency.
3. **contention**: 16 writers inserting and completing their own steps in ONE
   run at the same time; then every step is checked.
4. **isolation**: bytes received reading one run as other runs are added.
5. **encoding**: the CPU cost of the encoding against plain bson.

Then `targets` checks the design's claims against the figures.

Each operation is measured alone: its latency (less the time spent counting),
and, through `monitor`, its commands and bytes. On the embedded mock the
latencies are Python's (mongomock's), not a server's.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import itertools
import math
import os
import platform
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar

import bson

from .._exceptions import ContentionError
from .._models import (
    TaskStatus,
    WorkflowDefinition,
    WorkflowExecutionState,
    WorkflowStep,
    WorkflowStepState,
    utc_now,
)
from .._mongo import MongoWorkflowStore
from .config import DESIGN_LABELS, MOCK_LABEL, BenchConfig
from .designs import EngineStore, ReadModifyWriteStore, TwoCollectionStore, embedded_document
from .encoding import records, run_encoding
from .monitor import CommandCounter, CountingCollection, OpMeter, metering
from .results import (
    BenchResult,
    ContentionResult,
    IsolationResult,
    OpStats,
    ScalingPoint,
    Target,
    WorkloadResult,
)

__all__ = ["ProgressSink", "make_store", "run_benchmark"]

T = TypeVar("T")


class ProgressSink(Protocol):
    """Where the benchmark reports progress: one section at a time."""

    def start(self, description: str, total: int) -> None:
        """A section of `total` steps begins."""

    def advance(self, amount: int = 1) -> None:
        """`amount` more steps of the current section are done."""


class _NoProgress:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass


# ── backends ──────────────────────────────────────────────────────────────


class _Backend:
    """Where the collections live, and how their commands are counted."""

    kind: str
    label: str
    environment: dict[str, Any]
    _prefixes = 0

    def new_prefix(self) -> str:
        """A fresh collection-name prefix, all of one length: a name is sent with
        every command, so names of different lengths would show up as bytes.
        """
        self._prefixes += 1
        return f"b{self._prefixes:04d}"

    def collection(self, name: str) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        """Release the backend (drop the benchmark's database on a server)."""


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


class _MockBackend(_Backend):
    """mongomock-motor in this process; each collection wrapped to be counted."""

    kind = "mongomock"
    label = MOCK_LABEL
    database = "wfstore_bench"

    def __init__(self) -> None:
        try:
            from mongomock_motor import AsyncMongoMockClient
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "the embedded backend needs mongomock-motor: "
                "pip install 'mongo-wfstore[bench]', or pass --uri"
            ) from exc
        self._db: Any = AsyncMongoMockClient()[self.database]
        self.environment = {
            "mongomock": _version("mongomock"),
            "mongomock-motor": _version("mongomock-motor"),
            "bytes": "approximate: BSON size of the command a driver sends and of "
            "the reply a server gives, without session and cluster-time fields",
        }

    def collection(self, name: str) -> Any:
        return CountingCollection(self._db[name], self.database)


class _ServerBackend(_Backend):
    """A real server through PyMongo's `AsyncMongoClient`, counted by command monitoring."""

    kind = "mongodb"

    def __init__(self, client: Any, database: str, label: str, version: str) -> None:
        self._client = client
        self._name = database
        self._db = client[database]
        self.label = label
        self.environment = {
            "server_version": version,
            "database": database,
            "bytes": "BSON size of each command and reply (PyMongo command monitoring), "
            "without the 21-byte OP_MSG headers",
        }

    @classmethod
    async def open(cls, uri: str, hosts: str | None) -> _ServerBackend:
        from pymongo import AsyncMongoClient

        client: Any = AsyncMongoClient(
            uri, event_listeners=[CommandCounter()], serverSelectionTimeoutMS=10_000
        )
        try:
            info = await client.server_info()
        except BaseException:
            await client.close()
            raise
        version = str(info.get("version", "?"))
        database = f"wfstore_bench_{uuid.uuid4().hex[:10]}"
        return cls(client, database, f"MongoDB {version} at {hosts}", version)

    def collection(self, name: str) -> Any:
        return self._db[name]

    async def close(self) -> None:
        try:
            await self._client.drop_database(self._name)
        finally:
            await self._client.close()


# ── the designs under test ────────────────────────────────────────────────


Prefill = Callable[[WorkflowExecutionState | None, str, list[WorkflowStepState]], Awaitable[None]]


@dataclass
class _Design:
    key: str
    store: EngineStore
    setup: Callable[[], Awaitable[None]]
    prefill: Prefill
    counters: Callable[[], tuple[int, int, int]] | None
    """(conflicts, retries, gave_up) as the design counts them; None for this
    store, whose only conflicts are the E11000 refusals the monitor counts.
    """


async def _nothing() -> None:
    pass


def make_store(key: str, collection: Callable[[str], Any], *, rmw_max_attempts: int = 50) -> Any:
    """The store of design `key`, on collections made by `collection(suffix)`."""
    if key == "this_store":
        return MongoWorkflowStore(collection("runs"))
    if key == "read_modify_write":
        return ReadModifyWriteStore(collection("runs"), max_attempts=rmw_max_attempts)
    if key == "two_collections":
        return TwoCollectionStore(collection("runs"), collection("steps"))
    raise ValueError(f"unknown design {key!r}")


def _make_design(backend: _Backend, key: str, config: BenchConfig) -> _Design:
    """Design `key` on fresh collections."""
    prefix = backend.new_prefix()

    def collection(suffix: str) -> Any:
        return backend.collection(f"{prefix}_{suffix}")

    if key == "this_store":
        runs = collection("runs")

        async def prefill(
            state: WorkflowExecutionState | None, run_task_id: str, steps: list[WorkflowStepState]
        ) -> None:
            await runs.insert_one(embedded_document(state, run_task_id, steps))

        return _Design(key, MongoWorkflowStore(runs), _nothing, prefill, None)
    baseline: ReadModifyWriteStore | TwoCollectionStore = make_store(
        key, collection, rmw_max_attempts=config.rmw_max_attempts
    )

    def counters() -> tuple[int, int, int]:
        return baseline.conflicts, baseline.retries, baseline.gave_up

    return _Design(key, baseline, baseline.setup, baseline.prefill, counters)


# ── what the engine writes ────────────────────────────────────────────────


class _Plan:
    """The ids and values of the workload, the same for every design."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        largest = max(
            config.steps,
            config.writer_steps,
            config.isolation_steps,
            *(n + config.scaling_samples for n in config.scaling_steps),
        )
        self.width = max(4, len(str(largest)))
        self.items = _items(config.result_bytes, config.seed)
        base = {"run": 0, "step": 0, "items": self.items, "pad": ""}
        self.pad = "x" * max(0, config.result_bytes - len(bson.encode(base)))

    def run_id(self, index: int) -> str:
        return f"run-{index:06d}"

    def step_id(self, index: int) -> str:
        return f"step-{index:0{self.width}d}"

    def definition(self, steps: int) -> WorkflowDefinition:
        return WorkflowDefinition.new(
            [WorkflowStep.checkpoint(self.step_id(i), f"Step {i}", "done") for i in range(steps)]
        )

    def state(self, run_task_id: str, index: int, steps: int) -> WorkflowExecutionState:
        return WorkflowExecutionState.new(
            run_task_id, "agent-bench", f"thread-{index:06d}", "user-bench", self.definition(steps)
        ).with_input({"question": "What changed in the last release?", "run": index})

    def result(self, run: int, step: int) -> dict[str, Any]:
        """A result of `result_bytes` BSON bytes, unique to (run, step)."""
        return {"run": run, "step": step, "items": self.items, "pad": self.pad}

    def context(self, run: int) -> dict[str, Any]:
        return {"steps_done": self.config.steps, "summary": f"run {run} finished"}

    def running(self, step_id: str) -> WorkflowStepState:
        return WorkflowStepState(step_id=step_id, status=TaskStatus.RUNNING, started_at=utc_now())

    def completed(
        self, step_id: str, result: Any, started: WorkflowStepState | None = None
    ) -> WorkflowStepState:
        now = utc_now()
        return WorkflowStepState(
            step_id=step_id,
            status=TaskStatus.COMPLETED,
            result=result,
            started_at=now if started is None else started.started_at,
            completed_at=now,
        )


def _items(result_bytes: int, seed: int) -> list[dict[str, Any]]:
    """Records (as a search or tool call returns them) filling most of a result."""
    candidates = records(max(0, result_bytes), seed=seed)
    items: list[dict[str, Any]] = []
    budget = result_bytes - len(bson.encode({"run": 0, "step": 0, "items": [], "pad": ""}))
    for item in candidates:
        if len(bson.encode({"items": [*items, item]})) - 5 > budget - 16:
            break
        items.append(item)
    return items


# ── measuring operations ──────────────────────────────────────────────────


def _percentile(sorted_values: list[float], percent: float) -> float:
    """Nearest-rank percentile of ascending values, 0.0 when there are none."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class _Recorder:
    """Runs operations one by one, recording latency and cost per kind."""

    def __init__(self, progress: ProgressSink) -> None:
        self.progress = progress
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.meters: dict[str, OpMeter] = defaultdict(OpMeter)
        self.total = OpMeter()
        self.gave_up = 0

    async def op(self, kind: str, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await `fn(*args)` as one measured operation of `kind`."""
        with metering() as meter:
            start = time.perf_counter()
            try:
                return await fn(*args)
            finally:
                elapsed = time.perf_counter() - start - meter.overhead
                self.latencies[kind].append(max(0.0, elapsed))
                self.meters[kind].add(meter)
                self.total.add(meter)
                self.progress.advance()

    async def write(self, kind: str, fn: Callable[..., Awaitable[None]], *args: Any) -> bool:
        """Like `op`; False if the store gave up (`ContentionError`)."""
        try:
            await self.op(kind, fn, *args)
        except ContentionError:
            self.gave_up += 1
            return False
        return True

    def count(self, kind: str) -> int:
        return len(self.latencies[kind])

    def stats(self, kind: str) -> OpStats:
        values = sorted(self.latencies[kind])
        count = len(values)
        meter = self.meters[kind]
        per = max(1, count)
        return OpStats(
            kind=kind,
            count=count,
            p50_ms=_percentile(values, 50) * 1000,
            p99_ms=_percentile(values, 99) * 1000,
            mean_ms=(sum(values) / per) * 1000,
            commands_per_op=meter.commands / per,
            sent_bytes_per_op=meter.sent / per,
            received_bytes_per_op=meter.received / per,
        )

    def conflicts(self, design: _Design) -> tuple[int, int, int]:
        """(conflicts, retries, gave_up) of this section."""
        if design.counters is None:
            refused = self.total.duplicate_keys
            return refused, refused, self.gave_up
        return design.counters()


# ── 1. the engine workload ────────────────────────────────────────────────


@dataclass
class _Checks:
    resume_mismatches: int = 0
    unexpected_runs: int = 0


async def _engine_run(
    store: EngineStore, plan: _Plan, index: int, rec: _Recorder, checks: _Checks
) -> None:
    """What an engine does for one run, from start to finish."""
    steps = plan.config.steps
    run_id = plan.run_id(index)
    state = plan.state(run_id, index, steps)
    if await rec.op("get_run_new", store.get_run, run_id) is not None:
        checks.unexpected_runs += 1
    await rec.op("create_run", store.create_run, state)
    resume_points = set(plan.config.resume_points())
    for step in range(steps):
        step_id = plan.step_id(step)
        running = plan.running(step_id)
        await rec.write("step_insert", store.upsert_step, run_id, running)
        done = plan.completed(step_id, plan.result(index, step), running)
        await rec.write("step_update", store.upsert_step, run_id, done)
        if step + 1 in resume_points:
            await rec.op("get_run", store.get_run, run_id)
            listed = await rec.op("list_steps", store.list_steps, run_id)
            if len(listed) != step + 1 or any(s.status != TaskStatus.COMPLETED for s in listed):
                checks.resume_mismatches += 1
    await rec.write("update_context", store.update_context, run_id, plan.context(index))


async def _verify_runs(store: EngineStore, plan: _Plan, runs: int) -> tuple[int, int, int]:
    """(runs verified, steps missing, steps wrong) after the workload."""
    verified = missing = wrong = 0
    expected_ids = [plan.step_id(i) for i in range(plan.config.steps)]
    for index in range(runs):
        run_id = plan.run_id(index)
        state = await store.get_run(run_id)
        listed = await store.list_steps(run_id)
        by_id = {step.step_id: step for step in listed}
        run_missing = sum(1 for step_id in expected_ids if step_id not in by_id)
        run_wrong = sum(
            1
            for position, step_id in enumerate(expected_ids)
            if step_id in by_id
            and (
                by_id[step_id].status != TaskStatus.COMPLETED
                or by_id[step_id].result != plan.result(index, position)
            )
        )
        run_wrong += len(listed) - len(by_id)  # duplicates
        missing += run_missing
        wrong += run_wrong
        in_order = [step.step_id for step in listed] == expected_ids
        if (
            state is not None
            and state.context == plan.context(index)
            and in_order
            and not run_missing
            and not run_wrong
        ):
            verified += 1
    return verified, missing, wrong


async def _workload(
    backend: _Backend, key: str, plan: _Plan, progress: ProgressSink
) -> WorkloadResult:
    config = plan.config
    design = _make_design(backend, key, config)
    await design.setup()
    rec = _Recorder(progress)
    checks = _Checks()
    pending = deque(range(config.runs))

    async def engine() -> None:
        while pending:
            await _engine_run(design.store, plan, pending.popleft(), rec, checks)

    start = time.perf_counter()
    await asyncio.gather(*(engine() for _ in range(min(config.concurrency, config.runs))))
    wall = max(1e-9, time.perf_counter() - start - rec.total.overhead)
    verified, missing, wrong = await _verify_runs(design.store, plan, config.runs)
    conflicts, retries, gave_up = rec.conflicts(design)
    operations = sum(len(values) for values in rec.latencies.values())
    return WorkloadResult(
        design=key,
        operations=operations,
        wall_seconds=wall,
        ops_per_second=operations / wall,
        commands=rec.total.commands,
        sent_bytes=rec.total.sent,
        received_bytes=rec.total.received,
        conflicts=conflicts,
        retries=retries,
        gave_up=gave_up,
        runs_verified=verified,
        steps_missing=missing,
        steps_wrong=wrong + checks.unexpected_runs,
        resume_mismatches=checks.resume_mismatches,
        ops=[rec.stats(kind) for kind in _WORKLOAD_KINDS if rec.count(kind)],
    )


_WORKLOAD_KINDS = (
    "get_run_new",
    "create_run",
    "step_insert",
    "step_update",
    "get_run",
    "list_steps",
    "update_context",
)


# ── 2. the cost of one step write as the run grows ────────────────────────


async def _scaling(
    backend: _Backend, key: str, plan: _Plan, progress: ProgressSink
) -> list[ScalingPoint]:
    config = plan.config
    points = []
    for size in config.scaling_steps:
        design = _make_design(backend, key, config)
        await design.setup()
        run_id = plan.run_id(size)
        state = plan.state(run_id, size, size)
        steps = [plan.completed(plan.step_id(i), plan.result(size, i)) for i in range(size)]
        await design.prefill(state, run_id, steps)
        run_bytes = len(bson.encode(embedded_document(state, run_id, steps)))
        middle = plan.step_id(size // 2)
        rec = _Recorder(progress)
        for _ in range(config.scaling_samples):
            update = plan.completed(middle, plan.result(size, size // 2))
            await rec.op("step_update", design.store.upsert_step, run_id, update)
        for sample in range(config.scaling_samples):
            running = plan.running(plan.step_id(size + sample))
            await rec.op("step_insert", design.store.upsert_step, run_id, running)
        update_stats, insert_stats = rec.stats("step_update"), rec.stats("step_insert")
        points.append(
            ScalingPoint(
                design=key,
                steps_in_run=size,
                run_bytes=run_bytes,
                samples=config.scaling_samples,
                update_commands=update_stats.commands_per_op,
                update_sent_bytes=update_stats.sent_bytes_per_op,
                update_received_bytes=update_stats.received_bytes_per_op,
                update_p50_ms=update_stats.p50_ms,
                insert_commands=insert_stats.commands_per_op,
                insert_sent_bytes=insert_stats.sent_bytes_per_op,
                insert_received_bytes=insert_stats.received_bytes_per_op,
                insert_p50_ms=insert_stats.p50_ms,
            )
        )
    return points


# ── 3. many writers on ONE run ────────────────────────────────────────────


async def _contention(
    backend: _Backend, key: str, plan: _Plan, progress: ProgressSink
) -> ContentionResult:
    config = plan.config
    design = _make_design(backend, key, config)
    await design.setup()
    store = design.store
    run_id = "shared-run"
    await store.create_run(plan.state(run_id, 0, config.writers * config.writer_steps))
    rec = _Recorder(progress)
    expected: dict[str, Any] = {}
    refused: set[str] = set()

    async def writer(number: int) -> None:
        for step in range(config.writer_steps):
            step_id = f"w{number:02d}-{plan.step_id(step)}"
            result = plan.result(number, step)
            expected[step_id] = result
            running = plan.running(step_id)
            started = await rec.write("step_insert", store.upsert_step, run_id, running)
            done = plan.completed(step_id, result, running)
            completed = await rec.write("step_update", store.upsert_step, run_id, done)
            if not (started and completed):
                refused.add(step_id)

    start = time.perf_counter()
    await asyncio.gather(*(writer(number) for number in range(config.writers)))
    wall = max(1e-9, time.perf_counter() - start - rec.total.overhead)
    listed = await store.list_steps(run_id)
    counts = Counter(step.step_id for step in listed)
    landed_ids = {
        step.step_id
        for step in listed
        if step.step_id in expected
        and step.status == TaskStatus.COMPLETED
        and step.result == expected[step.step_id]
    }
    conflicts, retries, gave_up = rec.conflicts(design)
    acknowledged = set(expected) - refused
    return ContentionResult(
        design=key,
        writers=config.writers,
        expected_steps=len(expected),
        landed=len(landed_ids),
        lost=len(acknowledged - landed_ids),
        refused=len(refused - landed_ids),
        duplicates=sum(count - 1 for count in counts.values()),
        conflicts=conflicts,
        retries=retries,
        gave_up=gave_up,
        commands=rec.total.commands,
        sent_bytes=rec.total.sent,
        received_bytes=rec.total.received,
        wall_seconds=wall,
    )


# ── 4. reading one run among many ─────────────────────────────────────────


async def _isolation(
    backend: _Backend, key: str, plan: _Plan, progress: ProgressSink
) -> IsolationResult:
    config = plan.config
    design = _make_design(backend, key, config)
    await design.setup()
    size = config.isolation_steps

    async def prefill(run_id: str, index: int) -> None:
        steps = [plan.completed(plan.step_id(i), plan.result(index, i)) for i in range(size)]
        await design.prefill(plan.state(run_id, index, size), run_id, steps)

    target = "iso-run"
    await prefill(target, 0)
    result = IsolationResult(key, [], [], [], [], [])
    written = 0
    for others in sorted(config.isolation_others):
        while written < others:
            written += 1
            # Ids that share the read run's prefix: "iso-run-00001".
            await prefill(f"{target}-{written:05d}", written)
        rec = _Recorder(progress)
        await rec.op("get_run", design.store.get_run, target)
        await rec.op("list_steps", design.store.list_steps, target)
        result.other_runs.append(others)
        result.get_run_received.append(rec.meters["get_run"].received)
        result.list_steps_received.append(rec.meters["list_steps"].received)
        result.get_run_commands.append(rec.meters["get_run"].commands)
        result.list_steps_commands.append(rec.meters["list_steps"].commands)
    return result


# ── the targets ───────────────────────────────────────────────────────────


def _flat(values: list[float], tolerance: float = 0.01) -> bool:
    """True if every value is within `tolerance` of the smallest."""
    return bool(values) and max(values) <= min(values) * (1 + tolerance)


def _fmt_bytes(value: float) -> str:
    if value >= 1 << 20:
        return f"{value / (1 << 20):.2f} MiB"
    if value >= 10 * 1024:
        return f"{value / 1024:.1f} KiB"
    return f"{value:,.0f} B"


def targets(result: BenchResult) -> list[Target]:
    """Check the design's claims against the figures of `result`.

    A claim whose section did not run (or whose design was left out) is not listed.
    """
    return [
        *_scaling_targets(result.scaling),
        *_contention_targets(result.contention),
        *_isolation_targets(result.isolation),
        *_workload_targets(result.workload, result.config["runs"]),
    ]


def _update_wire_bytes(point: ScalingPoint) -> float:
    return point.update_sent_bytes + point.update_received_bytes


def _scaling_targets(points: list[ScalingPoint]) -> list[Target]:
    out = []
    ours = [point for point in points if point.design == "this_store"]
    if len(ours) >= 2:
        commands = [point.update_commands for point in ours]
        sizes = [_update_wire_bytes(point) for point in ours]
        figures = ", ".join(
            f"{point.steps_in_run:,} steps: {point.update_commands:g} command, "
            f"{_fmt_bytes(_update_wire_bytes(point))}"
            for point in ours
        )
        out.append(
            Target(
                "step update: one command and the same bytes (within 1%) however many "
                "steps the run has",
                passed=all(count == 1 for count in commands) and _flat(sizes),
                detail=f"this store: {figures}",
            )
        )
    rmw = [point for point in points if point.design == "read_modify_write"]
    if len(rmw) >= 2:
        sizes = [_update_wire_bytes(point) for point in rmw]
        slopes = [
            (_update_wire_bytes(b) - _update_wire_bytes(a)) / (b.steps_in_run - a.steps_in_run)
            for a, b in itertools.pairwise(rmw)
        ]
        linear = min(slopes) > 0 and max(slopes) <= 2 * min(slopes)
        figures = ", ".join(
            f"{point.steps_in_run:,} steps: {point.update_commands:g} commands, "
            f"{_fmt_bytes(_update_wire_bytes(point))}"
            for point in rmw
        )
        out.append(
            Target(
                "read-modify-write step update grows linearly with the run",
                passed=linear,
                detail=f"read-modify-write: {figures} "
                f"({min(slopes):,.0f} to {max(slopes):,.0f} B more per step in the run)",
            )
        )
    return out


def _contention_targets(rows: list[ContentionResult]) -> list[Target]:
    out = []
    for row in rows:
        if row.design == "this_store":
            out.append(
                Target(
                    f"{row.writers} concurrent writers on one run: this store has zero "
                    "conflicts and loses nothing",
                    passed=row.conflicts == 0
                    and row.retries == 0
                    and row.lost == 0
                    and row.refused == 0
                    and row.duplicates == 0
                    and row.landed == row.expected_steps,
                    detail=f"{row.landed}/{row.expected_steps} steps landed, "
                    f"{row.conflicts} conflicts, {row.retries} retries",
                )
            )
    if rows:
        out.append(
            Target(
                "every design: every acknowledged write landed, no duplicates",
                passed=all(row.lost == 0 and row.duplicates == 0 for row in rows),
                detail="; ".join(
                    f"{DESIGN_LABELS[row.design]}: {row.landed}/{row.expected_steps} landed, "
                    f"{row.lost} lost, {row.refused} refused (ContentionError), "
                    f"{row.conflicts:,} conflicts, {row.retries:,} retries"
                    for row in rows
                ),
            )
        )
    return out


def _isolation_targets(rows: list[IsolationResult]) -> list[Target]:
    if not rows:
        return []
    passed = all(
        len(set(row.get_run_received)) == 1 and len(set(row.list_steps_received)) == 1
        for row in rows
    )
    others = "/".join(f"{count:,}" for count in rows[0].other_runs)
    figures = "; ".join(
        f"{DESIGN_LABELS[row.design]}: get_run "
        + "/".join(_fmt_bytes(size) for size in row.get_run_received)
        + ", list_steps "
        + "/".join(_fmt_bytes(size) for size in row.list_steps_received)
        for row in rows
    )
    return [
        Target(
            "reads of one run never transfer other runs' data",
            passed=passed,
            detail=f"bytes received with {others} other runs: {figures}",
        )
    ]


def _workload_targets(rows: list[WorkloadResult], runs: int) -> list[Target]:
    if not rows:
        return []
    return [
        Target(
            "workload: every step of every run read back as written, on every design",
            passed=all(
                row.steps_missing == 0
                and row.steps_wrong == 0
                and row.resume_mismatches == 0
                and row.runs_verified == runs
                for row in rows
            ),
            detail="; ".join(
                f"{DESIGN_LABELS[row.design]}: {row.runs_verified}/{runs} runs, "
                f"{row.steps_missing} missing, {row.steps_wrong} wrong, "
                f"{row.resume_mismatches} bad resumes"
                for row in rows
            ),
        )
    ]


# ── the whole run ─────────────────────────────────────────────────────────


def _environment() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "pymongo": _version("pymongo"),
        "mongo-wfstore": _version("mongo-wfstore"),
    }


def _notes(backend: _Backend) -> list[str]:
    notes = [
        "this store and read-modify-write share one document layout and read the same "
        "way; only their writes differ",
        "two collections: a new step takes 3 commands (update, $inc of the run's order "
        "counter, upsert); list_steps is a find sorted on an index (run_task_id, order)",
        "read-modify-write retries a conflict at once, up to rmw_max_attempts times",
    ]
    if backend.kind == "mongomock":
        notes += [
            MOCK_LABEL,
            "bytes are approximate: the BSON size of the command a driver would send and "
            "of the reply a server would give, without session and cluster-time fields",
            "commands and bytes are properties of each design and hold on a server; "
            "latencies and ops/s do not: mongomock copies whole documents, so on it even "
            "a positional update costs time in proportion to the run",
            "every mock command yields to the event loop before and after it, as a "
            "network round-trip would, so that concurrent writers interleave",
        ]
    return notes


async def _open_backend(config: BenchConfig) -> _Backend:
    if config.uri:
        return await _ServerBackend.open(config.uri, config.as_dict()["uri"])
    return _MockBackend()


async def run_benchmark(
    config: BenchConfig, *, progress: ProgressSink | None = None
) -> BenchResult:
    """Run every section on every design of `config`; return all the figures.

    >>> result = await run_benchmark(BenchConfig(runs=4, steps=5))
    >>> print(result.to_json())
    """
    sink = progress or _NoProgress()
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    backend = await _open_backend(config)
    plan = _Plan(config)
    result = BenchResult(
        backend=backend.kind,
        backend_label=backend.label,
        config=config.as_dict(),
        environment={**_environment(), **backend.environment},
        started_at=started.isoformat(timespec="seconds"),
        duration_seconds=0.0,
        notes=_notes(backend),
    )
    designs = config.designs
    per_run = 3 + 2 * config.steps + 2 * len(config.resume_points())
    try:
        for key in designs:
            sink.start(f"workload: {DESIGN_LABELS[key]}", config.runs * per_run)
            result.workload.append(await _workload(backend, key, plan, sink))
        for key in designs:
            total = 2 * config.scaling_samples * len(config.scaling_steps)
            sink.start(f"step cost vs run size: {DESIGN_LABELS[key]}", total)
            result.scaling.extend(await _scaling(backend, key, plan, sink))
        for key in designs:
            total = 2 * config.writers * config.writer_steps
            sink.start(f"{config.writers} writers on one run: {DESIGN_LABELS[key]}", total)
            result.contention.append(await _contention(backend, key, plan, sink))
        for key in designs:
            sink.start(
                f"reads among other runs: {DESIGN_LABELS[key]}", 2 * len(config.isolation_others)
            )
            result.isolation.append(await _isolation(backend, key, plan, sink))
    finally:
        await backend.close()
    if config.encoding:
        sink.start("encoding vs plain bson (CPU only)", 3 * len(config.encoding_sizes))
        result.encoding = run_encoding(
            config.encoding_sizes, config.encoding_repeats, on_row=sink.advance
        )
    result.targets = targets(result)
    result.duration_seconds = time.perf_counter() - clock
    return result
