"""Load: 100,000 step writes across 1,000 runs from 64 concurrent tasks, then every
run checked against what was written. Not in the default run:

    .venv/bin/pytest -m soak -s tests/test_soak.py

On the real server when `MONGODB_URI` is set (a fresh database, dropped after),
else on plain mongomock-motor behind a `YieldingCollection` (seeded random
yields, so the 64 tasks interleave between commands as they would against a
server). The output says which.

Each run: `create_run` and `update_context` (2 writes), then 20 steps written 5
times each (100 writes): `upsert_step` pending, `upsert_step` running,
`commit_step` with a `context_updates` key, `upsert_step`, and a final
`commit_step` with a result full of `$`/`.` keys. The queue is ordered run by
run, so the 64 tasks write the steps of a few runs at once: concurrent appends
to one document, and concurrent updates of its steps.

Checked for every run: each step present once, with its last value; the order
of the steps agrees with real time (a step whose first write returned before
another's first write began comes first); the context holds the update_context
fields, every step's last committed result and every `context_updates` key; the
revision is the number of writes (102).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
import uuid
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient

from mongo_wfstore import (
    ContentionError,
    MongoWorkflowStore,
    TaskStatus,
    WorkflowDefinition,
    WorkflowExecutionState,
    WorkflowStep,
    WorkflowStepState,
)

from .doubles import YieldingCollection

RUNS = 1000
STEPS = 20
TASKS = 64
STEP_WRITES = 5  # per step: 1000 x 20 x 5 = 100,000
RUN_WRITES = 2 + STEPS * STEP_WRITES
DEFINITION = WorkflowDefinition(id="soak", steps=[WorkflowStep.checkpoint("c", "C", "ok")])


def final_result(run: str, step: str) -> Any:
    return {"run": run, "step": step, "$ref": f"#/{step}", "a.b": [step, 2**64, 3.0]}


def step_writes(run: str, step: str) -> list[tuple[str, WorkflowStepState, Any]]:
    """The five writes of one step, in order: (method, step, context_updates)."""
    return [
        ("upsert_step", WorkflowStepState(step_id=step), None),
        ("upsert_step", WorkflowStepState(step_id=step, status=TaskStatus.RUNNING), None),
        (
            "commit_step",
            WorkflowStepState(step_id=step, status=TaskStatus.RUNNING, result={"v": 2}),
            {f"seen.{step}": 2},
        ),
        (
            "upsert_step",
            WorkflowStepState(step_id=step, status=TaskStatus.RUNNING, result={"v": 3}),
            None,
        ),
        (
            "commit_step",
            WorkflowStepState(
                step_id=step, status=TaskStatus.COMPLETED, result=final_result(run, step)
            ),
            None,
        ),
    ]


class Soak:
    def __init__(self, store: MongoWorkflowStore) -> None:
        self.store = store
        self.clock = itertools.count()  # a logical clock: before/after each first write
        self.first_write: dict[tuple[str, str], tuple[int, int]] = {}
        self.writes = 0
        self.contention_retries = 0

    async def write(self, call: Any) -> None:
        """One write; retried if it gave up after losing races (ContentionError)."""
        for _ in range(20):
            try:
                await call()
                self.writes += 1
                return
            except ContentionError:
                self.contention_retries += 1
        raise AssertionError("a write lost 20 x 5 races in a row")

    async def start_run(self, index: int) -> None:
        run = f"run.{index:04d}"
        state = WorkflowExecutionState.new(run, "agent", f"thread-{index % 7}", "user", DEFINITION)
        await self.write(lambda: self.store.create_run(state))
        await self.write(lambda: self.store.update_context(run, {"owner": run, "n": index}))

    async def write_step(self, run: str, step: str) -> None:
        for version, (method, state, updates) in enumerate(step_writes(run, step)):
            if method == "commit_step":
                call: Any = lambda: self.store.commit_step(run, state, context_updates=updates)  # noqa: E731, B023
            else:
                call = lambda: self.store.upsert_step(run, state)  # noqa: E731, B023
            if version == 0:
                began = next(self.clock)
                await self.write(call)
                self.first_write[(run, step)] = (began, next(self.clock))
            else:
                await self.write(call)

    async def drain(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await job()

    async def run_jobs(self, jobs: list[Any]) -> None:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)
        await asyncio.gather(*(self.drain(queue) for _ in range(TASKS)))

    async def verify(self, run: str, index: int) -> int:
        """Check one run against what was written; returns the steps checked."""
        got = await self.store.get_run(run)
        assert got is not None, run
        assert got.revision == RUN_WRITES, (run, got.revision)
        steps = await self.store.list_steps(run)
        ids = [s.step_id for s in steps]
        expected_ids = {f"s.{n:02d}" for n in range(STEPS)}
        assert len(ids) == STEPS and set(ids) == expected_ids, (run, ids)
        for step in steps:
            assert step.status is TaskStatus.COMPLETED, (run, step)
            assert step.result == final_result(run, step.step_id), (run, step)
        position = {step_id: i for i, step_id in enumerate(ids)}
        for a, b in itertools.permutations(ids, 2):
            if self.first_write[(run, a)][1] < self.first_write[(run, b)][0]:
                assert position[a] < position[b], (run, a, b, ids)
        expected_context: dict[str, Any] = {"owner": run, "n": index}
        expected_context.update({f"seen.{step_id}": 2 for step_id in sorted(expected_ids)})
        expected_context["steps"] = {s.step_id: final_result(run, s.step_id) for s in steps}
        assert got.context == expected_context, run
        return len(steps)


async def _backend() -> tuple[str, Any, Any]:
    uri = os.environ.get("MONGODB_URI")
    if uri:
        from pymongo import AsyncMongoClient

        client: Any = AsyncMongoClient(uri, serverSelectionTimeoutMS=5000, w="majority")
        name = f"wfstore_soak_{uuid.uuid4().hex[:12]}"

        async def cleanup() -> None:
            await client.drop_database(name)
            await client.close()

        return "MongoDB server (MONGODB_URI), PyMongo async", client[name]["runs"], cleanup

    collection = YieldingCollection(
        AsyncMongoMockClient()["soak"]["runs"], rng=random.Random(20260101), max_yields=2
    )

    async def nothing() -> None:
        return None

    return "mongomock-motor (no server; YieldingCollection, seed 20260101)", collection, nothing


@pytest.mark.soak
async def test_soak_100k_step_writes_across_1000_runs_lose_nothing() -> None:
    backend, collection, cleanup = await _backend()
    soak = Soak(MongoWorkflowStore(collection))
    try:
        started = time.perf_counter()
        await soak.run_jobs([lambda i=i: soak.start_run(i) for i in range(RUNS)])
        jobs = []
        rng = random.Random(7)
        for i in range(RUNS):
            steps = [f"s.{n:02d}" for n in range(STEPS)]
            rng.shuffle(steps)
            jobs += [lambda r=f"run.{i:04d}", s=s: soak.write_step(r, s) for s in steps]
        await soak.run_jobs(jobs)
        wrote = time.perf_counter() - started

        checked_steps = 0
        for i in range(RUNS):
            checked_steps += await soak.verify(f"run.{i:04d}", i)
        elapsed = time.perf_counter() - started
    finally:
        await cleanup()

    step_writes_done = soak.writes - 2 * RUNS
    assert step_writes_done == RUNS * STEPS * STEP_WRITES
    print(
        f"\nsoak on {backend}:\n"
        f"  {RUNS} runs, {TASKS} concurrent tasks\n"
        f"  {soak.writes:,} writes ({step_writes_done:,} step writes, {2 * RUNS:,} run writes)"
        f" in {wrote:.1f} s ({soak.writes / wrote:,.0f} writes/s)\n"
        f"  writes retried after ContentionError: {soak.contention_retries}\n"
        f"  verified: {RUNS} runs (revision, context), {checked_steps:,} steps "
        f"(once each, last value, real-time order)\n"
        f"  total {elapsed:.1f} s"
    )
