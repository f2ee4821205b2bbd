"""Races: concurrent calls must end as SOME serial order of the same calls would.

`test_concurrent_calls_end_as_some_serial_order` is a linearizability check for
small batches. Hypothesis draws a few calls that set a state up (run one after
the other) and a batch of 2 to 5 calls mixing every operation on two runs and
one wait: creates racing step writes, deletes racing upserts, commits racing
completions, reads among them. The batch runs concurrently on the MongoDB store
(mongomock behind the server-rules double, behind a `YieldingCollection` that
yields a seeded random number of times around each command, so every seed is
another interleaving). Then every permutation of the batch runs serially on a
fresh `InMemoryWorkflowStore`. The concurrent outcome (what each call returned,
or the type of error it raised, and everything observable afterwards) must equal
the outcome of at least one permutation.

The other tests put many writers on one run and on many runs, check what
readers see while they write, and check that the bounded retries on lost races
end in `ContentionError` with nothing written.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mongomock_motor import AsyncMongoMockClient

from mongo_wfstore import (
    ContentionError,
    InMemoryWorkflowStore,
    MongoWorkflowStore,
    TaskStatus,
    WorkflowStepState,
    WorkflowStore,
)

from .doubles import ServerRulesCollection, YieldingCollection, assert_storable
from .harness import controlled_clock, observable, snapshot
from .strategies import same
from .test_contract import new_state

RUNS = ["r1", "r.2"]
WAITS = ["w1"]
T0 = new_state("x").created_at.replace(year=2001, microsecond=0)

# Built once: a state carries a random definition id and its creation time.
STATES = {
    (run, variant, user): new_state(
        run,
        user_id=user,
        created_at=T0.replace(second=variant),
        updated_at=T0,
    ).with_context({"v": variant})
    for run in RUNS
    for variant in (0, 1)
    for user in ("alice", "bob")
}
for key, state in STATES.items():
    STATES[key] = state.model_copy(update={"definition": STATES[("r1", 0, "alice")].definition})

STEPS = {
    "s1": WorkflowStepState(step_id="s", status=TaskStatus.RUNNING, result=1),
    "s2": WorkflowStepState(step_id="s", status=TaskStatus.COMPLETED, result={"$ref": 2}),
    "t": WorkflowStepState(step_id="t.$", result=[3]),
    "wait": WorkflowStepState(
        step_id="ask", status=TaskStatus.INPUT_REQUIRED, wait_task_id="w1", started_at=T0
    ),
    "wait again": WorkflowStepState(
        step_id="ask", status=TaskStatus.INPUT_REQUIRED, wait_task_id="w1", started_at=None
    ),
}

Call = tuple[Any, ...]
runs = st.sampled_from(RUNS)
steps = st.sampled_from(sorted(STEPS))
tenants = st.sampled_from([None, None, None, "alice"])
revisions = st.none() | st.integers(1, 6)

writes = st.one_of(
    st.tuples(
        st.just("create_run"), tenants, runs, st.integers(0, 1), st.sampled_from(["alice", "bob"])
    ),
    st.tuples(st.just("update_context"), tenants, runs, st.integers(0, 3), revisions),
    st.tuples(st.just("delete_run"), tenants, runs),
    st.tuples(st.just("upsert_step"), tenants, runs, steps),
    st.tuples(
        st.just("commit_step"), tenants, runs, steps, st.none() | st.integers(0, 2), revisions
    ),
    st.tuples(
        st.just("complete_wait"),
        tenants,
        st.integers(0, 2),
        st.sampled_from([None, "k1", "k2"]),
    ),
)
reads = st.one_of(
    st.tuples(st.just("get_run"), tenants, runs),
    st.tuples(st.just("list_steps"), tenants, runs),
    st.tuples(st.just("get_step"), tenants, runs, st.sampled_from(["s", "ask"])),
    st.tuples(st.just("find_wait"), tenants),
    st.tuples(st.just("list_runs"), tenants),
)
calls = st.one_of(writes, writes, writes, reads)

BASE: list[Call] = [
    ("create_run", None, "r1", 0, "alice"),
    ("upsert_step", None, "r1", "s1"),
    ("upsert_step", None, "r1", "wait"),
]
"""Every setup starts here: a run with a step and a waiting step."""


async def apply(store: WorkflowStore, call: Call) -> Any:
    name, tenant, *args = call
    store = store if tenant is None else store.scoped(tenant)
    if name == "create_run":
        run, variant, user = args
        return await store.create_run(STATES[(run, variant, user)])
    if name == "update_context":
        run, value, revision = args
        return await store.update_context(run, {"v": value}, expected_revision=revision)
    if name in ("upsert_step", "get_step"):
        run, step = args
        return await getattr(store, name)(run, STEPS[step] if name == "upsert_step" else step)
    if name == "commit_step":
        run, step, update, revision = args
        updates = None if update is None else {"k": update}
        return await store.commit_step(
            run, STEPS[step], context_updates=updates, expected_revision=revision
        )
    if name == "complete_wait":
        result, key = args
        return await store.complete_wait("w1", result, idempotency_key=key)
    if name == "find_wait":
        return await store.find_wait("w1")
    if name == "list_runs":
        return await store.list_runs(limit=1000)
    return await getattr(store, name)(*args)


async def result_of(call: Awaitable[Any]) -> tuple[Any, ...]:
    """A call's result, or the type of its error (messages may name later states)."""
    try:
        return ("ok", observable(await call))
    except Exception as exc:
        return ("error", type(exc).__name__)


def mongo_store(rng: random.Random) -> MongoWorkflowStore:
    raw = ServerRulesCollection(AsyncMongoMockClient()["db"]["runs"])
    return MongoWorkflowStore(YieldingCollection(raw, rng=rng, max_yields=3))


async def run_concurrently(setup: list[Call], batch: list[Call], seed: int) -> tuple[Any, Any]:
    store = mongo_store(random.Random(seed))
    for call in BASE + setup:
        await result_of(apply(store, call))
    results = await asyncio.gather(*(result_of(apply(store, call)) for call in batch))
    for doc in await store.collection.find({}).to_list(None):
        assert_storable(doc)
    return list(results), await snapshot(store, RUNS, WAITS)


async def run_serially(setup: list[Call], batch: list[Call], order: tuple[int, ...]) -> Any:
    store = InMemoryWorkflowStore()
    for call in BASE + setup:
        await result_of(apply(store, call))
    results: list[Any] = [None] * len(batch)
    for index in order:
        results[index] = await result_of(apply(store, batch[index]))
    return results, await snapshot(store, RUNS, WAITS)


async def check_linearizable(setup: list[Call], batch: list[Call], seed: int) -> None:
    concurrent = await run_concurrently(setup, batch, seed)
    serial_outcomes = []
    for order in itertools.permutations(range(len(batch))):
        serial = await run_serially(setup, batch, order)
        if same(concurrent, serial):
            return
        serial_outcomes.append((order, serial))
    lines = [f"concurrent: {concurrent[0]}\n  {concurrent[1]}"]
    lines += [f"{order}: {got[0]}\n  {got[1]}" for order, got in serial_outcomes[:6]]
    raise AssertionError("no serial order explains the concurrent outcome:\n" + "\n".join(lines))


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    setup=st.lists(writes, max_size=4),
    batch=st.lists(calls, min_size=2, max_size=5),
    seed=st.integers(0, 2**32 - 1),
)
def test_concurrent_calls_end_as_some_serial_order(
    setup: list[Call], batch: list[Call], seed: int
) -> None:
    with controlled_clock():
        asyncio.run(check_linearizable(setup, batch, seed))


CONFLICTING: list[Call] = [
    ("complete_wait", None, 0, None),
    ("complete_wait", None, 1, "k1"),
    ("complete_wait", None, 2, "k1"),  # the same key, another result
    ("complete_wait", "alice", 1, "k2"),
    ("upsert_step", None, "r1", "wait again"),  # the wait, rewritten
    ("upsert_step", None, "r1", "s2"),
    ("commit_step", None, "r1", "s2", 1, None),
    ("commit_step", None, "r1", "wait", None, None),
    ("commit_step", None, "r1", "t", 2, 3),  # BASE leaves r1 at revision 3
    ("delete_run", None, "r1"),
    ("create_run", None, "r1", 1, "alice"),
    ("update_context", None, "r1", 2, None),
    ("update_context", None, "r1", 3, 3),
    ("find_wait", None),
    ("get_step", None, "r1", "ask"),
    ("get_run", None, "r1"),
]
"""Calls that all touch run r1 and its wait: every batch of them conflicts."""


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.lists(st.sampled_from(CONFLICTING), min_size=2, max_size=5),
    seed=st.integers(0, 2**32 - 1),
)
def test_conflicting_calls_on_one_run_end_as_some_serial_order(
    batch: list[Call], seed: int
) -> None:
    with controlled_clock():
        asyncio.run(check_linearizable([], batch, seed))


# ── many writers ──────────────────────────────────────────────────────────


def interleaving_store(seed: int = 0) -> MongoWorkflowStore:
    return mongo_store(random.Random(seed))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_many_writers_on_one_run_lose_nothing_and_readers_never_see_steps_move(
    seed: int,
) -> None:
    store = interleaving_store(seed)
    await store.create_run(new_state("run-1").with_context({}))
    writers, steps_each = 24, 3
    stop = asyncio.Event()
    seen_orders: list[list[str]] = []

    async def writer(w: int) -> int:
        writes = 0
        for n in range(steps_each):
            step_id = f"w{w}.{n}"
            await store.upsert_step("run-1", WorkflowStepState(step_id=step_id))
            await store.commit_step(
                "run-1",
                WorkflowStepState(step_id=step_id, status=TaskStatus.RUNNING, result=0),
                context_updates={f"last.{w}": n},
            )
            await store.commit_step(
                "run-1",
                WorkflowStepState(step_id=step_id, status=TaskStatus.COMPLETED, result=[w, n]),
            )
            writes += 3
        return writes

    async def reader() -> None:
        last_revision = 0
        while not stop.is_set():
            ids = [s.step_id for s in await store.list_steps("run-1")]
            seen_orders.append(ids)
            run = await store.get_run("run-1")
            assert run is not None and run.revision is not None
            assert run.revision >= last_revision  # revisions never go back
            last_revision = run.revision

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    writes = sum(await asyncio.gather(*(writer(w) for w in range(writers))))
    stop.set()
    await asyncio.gather(*readers)

    final = [s.step_id for s in await store.list_steps("run-1")]
    assert len(final) == len(set(final)) == writers * steps_each
    for ids in seen_orders:  # every list a reader saw is a prefix of the final order
        assert ids == final[: len(ids)]
    for w in range(writers):  # each writer's steps in the order it created them
        mine = [i for i in final if i.startswith(f"w{w}.")]
        assert mine == [f"w{w}.{n}" for n in range(steps_each)]
    steps = await store.list_steps("run-1")
    assert all(s.status is TaskStatus.COMPLETED for s in steps)
    run = await store.get_run("run-1")
    assert run is not None and run.revision == 1 + writes
    assert run.context["steps"] == {s.step_id: s.result for s in steps}  # type: ignore[index]
    assert {k: v for k, v in run.context.items() if k != "steps"} == {  # type: ignore[union-attr]
        f"last.{w}": steps_each - 1 for w in range(writers)
    }


async def test_many_writers_on_many_runs_with_creates_and_deletes_racing_step_writes() -> None:
    store = interleaving_store(7)
    runs = [f"run.{i}" for i in range(12)]
    deleted = set(runs[::4])

    async def life(run: str, worker: int) -> None:
        # Steps may land before the run: create_run races them and keeps them.
        for n in range(4):
            await store.upsert_step(run, WorkflowStepState(step_id=f"{worker}.{n}", result=n))
            if worker == 0 and n == 1:
                await store.create_run(new_state(run).with_context({}))

    async def deleter(run: str) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        await store.delete_run(run)

    await asyncio.gather(
        *(life(run, w) for run in runs for w in range(3)),
        *(deleter(run) for run in deleted),
    )
    for run in runs:
        ids = [s.step_id for s in await store.list_steps(run)]
        assert len(ids) == len(set(ids)), (run, ids)
        for w in range(3):  # a worker's steps stay in its order, with no gap after a delete
            mine = [int(i.split(".")[1]) for i in ids if i.startswith(f"{w}.")]
            assert mine == list(range(4 - len(mine), 4)), (run, ids)
        if run not in deleted:
            assert sorted(ids) == sorted(f"{w}.{n}" for w in range(3) for n in range(4))
    for doc in await store.collection.find({}).to_list(None):
        assert_storable(doc)


# ── the bounded retries on lost races ─────────────────────────────────────


class _AlwaysRaced:
    """Every conditional write matches nothing, as if a rival always wrote first."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def find_one_and_update(self, filter: Any, update: Any, **kwargs: Any) -> Any:
        kwargs.pop("upsert", None)
        return await self._inner.find_one_and_update(
            {**filter, "_id": {"$in": []}}, update, **kwargs
        )


LOSERS: list[tuple[str, Callable[[WorkflowStore], Awaitable[Any]]]] = [
    ("commit_step", lambda s: s.commit_step("run-1", WorkflowStepState(step_id="a", result=1))),
    ("complete_wait", lambda s: s.complete_wait("wait-1", "yes")),
    ("update_context", lambda s: s.update_context("run-1", {"x": 1})),
]


@pytest.mark.parametrize(("name", "call"), LOSERS, ids=[name for name, _ in LOSERS])
async def test_a_write_that_always_loses_gives_up_with_contention_error(
    name: str, call: Callable[[WorkflowStore], Awaitable[Any]]
) -> None:
    raw = ServerRulesCollection(AsyncMongoMockClient()["db"]["runs"])
    setup_store = MongoWorkflowStore(raw)
    await setup_store.create_run(new_state("run-1").with_context({}))
    await setup_store.upsert_step(
        "run-1",
        WorkflowStepState(step_id="ask", status=TaskStatus.INPUT_REQUIRED, wait_task_id="wait-1"),
    )
    before = await raw.find_one({"_id": "run-1"})
    store = MongoWorkflowStore(_AlwaysRaced(raw))
    with pytest.raises(ContentionError, match="after 5 attempts"):
        await call(store)
    assert await raw.find_one({"_id": "run-1"}) == before
