"""Faults: a write fails with a network error, before it reaches the server or after
the server applied it (the reply is lost, so the client cannot tell the two apart).
The caller retries the same call until it succeeds, or until it raises what the
method's docstring says a retry of an applied write raises.

For every write, and for every command of the two-command paths, each fault is
injected and the outcome compared with a store where the same call succeeded
once: the same documents (field for field, `revision` aside), no duplicate step,
no lost step, no step moved, the same result. The errors that reach the caller
are `DatabaseUnavailableError`s with the driver's error as `__cause__`.

Then the cases a blind retry cannot fix, with another writer between the applied
attempt and the retry, are shown as the docstrings (and docs/reliability.md)
describe them, with what the caller must do instead.

The clock is controlled and stands still during a call and its retries, so a
retry stamps the same `updated_at` as the single call it is compared with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo.errors import AutoReconnect, NetworkTimeout

from mongo_wfstore import (
    DatabaseUnavailableError,
    MongoWorkflowStore,
    RevisionConflictError,
    RunNotFoundError,
    TaskStatus,
    WaitAlreadyCompletedError,
    WorkflowExecutionState,
    WorkflowStepState,
    WorkflowStore,
)

from .doubles import FaultyCollection, ServerRulesCollection, assert_storable, plain
from .harness import controlled_clock, observable, outcome, snapshot
from .strategies import same
from .test_contract import new_state

RUNS = ["run-1", "run.2", "stub"]
WAITS = ["wait-1"]
HOSTILE = {"$ref": "#/x", "a.b": [1, 2**64], "": None, "%24": -0.0}


def faulty_store() -> tuple[MongoWorkflowStore, FaultyCollection, Any]:
    raw = AsyncMongoMockClient()["db"]["runs"]
    faulty = FaultyCollection(ServerRulesCollection(raw))
    return MongoWorkflowStore(faulty), faulty, raw


RUN_1 = new_state("run-1").with_context({"keep": 1, "steps": {}})
RUN_2 = new_state("run.2", user_id="alice").with_context({})


async def setup(store: WorkflowStore) -> None:
    """A run with an object context, two steps and a waiting step; a stub; a
    tenant's run."""
    await store.create_run(RUN_1)
    await store.upsert_step("run-1", WorkflowStepState(step_id="a", result=1))
    await store.upsert_step("run-1", WorkflowStepState(step_id="b.$", result=HOSTILE))
    await store.upsert_step(
        "run-1",
        WorkflowStepState(step_id="ask", status=TaskStatus.INPUT_REQUIRED, wait_task_id="wait-1"),
    )
    await store.upsert_step("stub", WorkflowStepState(step_id="early"))
    alice = store.scoped("alice")
    await alice.create_run(RUN_2)
    await alice.upsert_step("run.2", WorkflowStepState(step_id="x"))


@dataclass
class Write:
    """One write call, and what a retry of it may end with once an attempt was applied."""

    name: str
    call: Callable[[WorkflowStore], Awaitable[Any]]
    retry_raises: type[Exception] | None = None
    """The error the docstring says a retry raises after an applied attempt."""


def _done(step_id: str, result: Any = None) -> WorkflowStepState:
    return WorkflowStepState(step_id=step_id, status=TaskStatus.COMPLETED, result=result)


# States are built once: each carries a random definition id and the time it was built.
RESUMED = new_state("run-1", agent_id="agent-2").with_context({"resumed": True})
NEW_RUN = new_state("run-9").with_input(HOSTILE)
OVER_STUB = new_state("stub")
ALICES = new_state("run.2", user_id="alice")

WRITES = [
    Write("create_run, new run", lambda s: s.create_run(NEW_RUN)),
    Write("create_run, resume", lambda s: s.create_run(RESUMED)),
    Write("create_run over a stub", lambda s: s.create_run(OVER_STUB)),
    Write(
        "create_run, scoped",
        lambda s: s.scoped("alice").create_run(ALICES),
    ),
    Write("update_context", lambda s: s.update_context("run-1", HOSTILE)),
    Write(
        "update_context with expected_revision",
        lambda s: s.update_context("run-1", {"v": 2}, expected_revision=4),
        retry_raises=RevisionConflictError,
    ),
    Write("delete_run", lambda s: s.delete_run("run-1")),
    Write("delete_run of a stub", lambda s: s.delete_run("stub")),
    Write(
        "delete_run, scoped",
        lambda s: s.scoped("alice").delete_run("run.2"),
        retry_raises=RunNotFoundError,
    ),
    Write("upsert_step, new step", lambda s: s.upsert_step("run-1", _done("c", HOSTILE))),
    Write("upsert_step, stored step", lambda s: s.upsert_step("run-1", _done("a", 2))),
    Write("upsert_step, new run", lambda s: s.upsert_step("run-7", _done("c"))),
    Write(
        "upsert_step, scoped new step",
        lambda s: s.scoped("alice").upsert_step("run.2", _done("y", 1)),
    ),
    Write(
        "commit_step, new step",
        lambda s: s.commit_step("run-1", _done("c.d", HOSTILE), context_updates={"$k": 1}),
    ),
    Write(
        "commit_step, stored step",
        lambda s: s.commit_step("run-1", _done("a", [3]), context_updates={"k": {"x": 1}}),
    ),
    Write(
        "commit_step, scoped",
        lambda s: s.scoped("alice").commit_step("run.2", _done("x", 5)),
    ),
    Write(
        "commit_step with expected_revision",
        lambda s: s.commit_step("run-1", _done("c", 1), expected_revision=4),
        retry_raises=RevisionConflictError,
    ),
    Write(
        "complete_wait with idempotency_key",
        lambda s: s.complete_wait("wait-1", HOSTILE, idempotency_key="req-1"),
    ),
    Write(
        "complete_wait without key",
        lambda s: s.complete_wait("wait-1", {"answer": 42}),
        retry_raises=WaitAlreadyCompletedError,
    ),
    Write(
        "complete_wait, failed, scoped",
        lambda s: s.scoped("user-test").complete_wait(
            "wait-1", None, status=TaskStatus.FAILED, error="timeout", idempotency_key="k"
        ),
    ),
]


async def documents(raw: Any) -> list[dict[str, Any]]:
    docs = [plain(doc) for doc in await raw.find({}).sort("_id", 1).to_list(None)]
    for doc in docs:
        assert_storable(doc)
    return docs


def without_revisions(value: Any) -> Any:
    """`value` with every `revision` (documents and dumped runs) set aside."""
    if isinstance(value, dict):
        return {k: without_revisions(v) for k, v in value.items() if k != "revision"}
    if isinstance(value, (list, tuple)):
        return type(value)(without_revisions(item) for item in value)
    return value


def revisions(docs: list[dict[str, Any]]) -> dict[str, int]:
    return {doc["_id"]: doc["revision"] for doc in docs}


async def single_call(write: Write) -> tuple[tuple[Any, ...], list[Any], list[Any], int]:
    """The reference: the call succeeds at once. Returns its outcome, the documents,
    the snapshot, and how many commands the call sent."""
    store, faulty, raw = faulty_store()
    with controlled_clock() as clock:
        await setup(store)
        clock.tick()
        before = faulty.sent
        result = await outcome(write.call(store))
        sent = faulty.sent - before
        assert result[0] == "ok", result
        return result, await documents(raw), await snapshot(store, RUNS, WAITS), sent


@pytest.mark.parametrize("error_type", [AutoReconnect, NetworkTimeout])
@pytest.mark.parametrize("write", WRITES, ids=[w.name for w in WRITES])
async def test_a_retried_write_ends_as_a_single_successful_call(
    write: Write, error_type: type[Exception]
) -> None:
    expected, expected_docs, expected_view, commands = await single_call(write)
    assert commands >= 1
    for nth in range(1, commands + 1):
        for applied in (False, True):
            where = f"command {nth} of {commands}, {'applied' if applied else 'not applied'}"
            store, faulty, raw = faulty_store()
            with controlled_clock() as clock:
                await setup(store)
                clock.tick()
                error = faulty.fail(nth, applied=applied, error=error_type("injected"))
                with pytest.raises(DatabaseUnavailableError) as info:
                    await write.call(store)
                assert info.value.__cause__ is error, where
                assert not faulty.armed, where

                # The caller retries the same call until it stops failing.
                retried = await outcome(write.call(store))
                if retried[0] == "error":
                    # Only the documented end of a retry whose first attempt landed.
                    assert write.retry_raises is not None, (where, retried)
                    assert retried[1] == write.retry_raises.__name__, (where, retried)
                    assert nth == commands and applied, (where, retried)
                else:
                    assert same(retried, expected), where

                docs = await documents(raw)
                assert same(without_revisions(docs), without_revisions(expected_docs)), where
                extra = {
                    run: revision - revisions(expected_docs).get(run, revision)
                    for run, revision in revisions(docs).items()
                }
                # A write applied twice (the lost attempt and the retry) counts twice.
                assert set(extra.values()) <= ({0, 1} if applied else {0}), (where, extra)
                view = await snapshot(store, RUNS, WAITS)
                assert same(without_revisions(view), without_revisions(expected_view)), where


async def test_a_retry_after_an_applied_attempt_ends_as_documented() -> None:
    """What `retry_raises` claims, spelled out for each case, with the check the
    docstring tells the caller to make."""
    with controlled_clock():
        store, faulty, _ = faulty_store()
        await setup(store)

        faulty.fail(applied=True)
        with pytest.raises(DatabaseUnavailableError):
            await store.update_context("run-1", {"v": 2}, expected_revision=4)
        with pytest.raises(RevisionConflictError) as conflict:
            await store.update_context("run-1", {"v": 2}, expected_revision=4)
        assert (conflict.value.expected, conflict.value.actual) == (4, 5)
        run = await store.get_run("run-1")
        assert run is not None and run.context == {"v": 2}  # "compare its context with yours"

        step = _done("c", 1)
        faulty.fail(2, applied=True)  # the $push of the new step
        with pytest.raises(DatabaseUnavailableError):
            await store.commit_step("run-1", step, expected_revision=5)
        with pytest.raises(RevisionConflictError):
            await store.commit_step("run-1", step, expected_revision=5)
        assert await store.get_step("run-1", "c") == step  # "check the step with get_step"

        faulty.fail(2, applied=True)  # the compare-and-set write, after the lookup
        with pytest.raises(DatabaseUnavailableError):
            await store.complete_wait("wait-1", "yes")
        with pytest.raises(WaitAlreadyCompletedError) as completed:
            await store.complete_wait("wait-1", "yes")
        assert completed.value.step is not None and completed.value.step.result == "yes"

        faulty.fail(applied=True)
        with pytest.raises(DatabaseUnavailableError):
            await store.scoped("alice").delete_run("run.2")
        with pytest.raises(RunNotFoundError):
            await store.scoped("alice").delete_run("run.2")
        assert await store.get_run("run.2") is None


# ── every operation: errors are store errors, the driver's error the cause ──

OPERATIONS: list[tuple[str, Callable[[WorkflowStore], Awaitable[Any]]]] = [
    ("create_run", lambda s: s.create_run(new_state("run-1"))),
    ("get_run", lambda s: s.get_run("run-1")),
    ("update_context", lambda s: s.update_context("run-1", {})),
    ("delete_run", lambda s: s.delete_run("run-1")),
    ("list_runs", lambda s: s.list_runs()),
    ("upsert_step", lambda s: s.upsert_step("run-1", _done("z"))),
    ("get_step", lambda s: s.get_step("run-1", "a")),
    ("list_steps", lambda s: s.list_steps("run-1")),
    ("commit_step", lambda s: s.commit_step("run-1", _done("z"))),
    ("find_wait", lambda s: s.find_wait("wait-1")),
    ("complete_wait", lambda s: s.complete_wait("wait-1", 1)),
    ("scoped list_runs", lambda s: s.scoped("alice").list_runs()),
    ("scoped delete_run", lambda s: s.scoped("alice").delete_run("run.2")),
]


@pytest.mark.parametrize("error_type", [AutoReconnect, NetworkTimeout])
@pytest.mark.parametrize(("name", "call"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
async def test_every_command_of_every_operation_fails_as_database_unavailable(
    name: str, call: Callable[[WorkflowStore], Awaitable[Any]], error_type: type[Exception]
) -> None:
    nth = 1
    while True:
        store, faulty, _ = faulty_store()
        await setup(store)
        error = faulty.fail(nth, applied=False, error=error_type("injected"))
        caught: list[DatabaseUnavailableError] = []
        try:
            await call(store)
        except DatabaseUnavailableError as exc:
            caught.append(exc)
        if not caught:
            assert faulty.armed, f"{name}: command {nth} failed and the call succeeded"
            break  # the call sends fewer than nth commands
        (exc,) = caught
        assert exc.__cause__ is error, (name, nth)
        failed_command = next(cmd for cmd, what in faulty.log if what != "ok")
        writes = ("update_one", "find_one_and_update", "find_one_and_delete", "delete_one")
        # Only a failed write is said to be ambiguous; a failed read is not.
        ambiguous = "may or may not have been applied" in str(exc)
        assert ambiguous == (failed_command in writes), (name, nth, failed_command, str(exc))
        nth += 1
    assert nth > 1


# ── another writer between the applied attempt and the retry ──────────────


async def test_a_blind_update_context_retry_can_put_an_older_context_back() -> None:
    """The hazard the docstring names: pass `expected_revision` instead."""
    store, faulty, _ = faulty_store()
    await setup(store)
    faulty.fail(applied=True)
    with pytest.raises(DatabaseUnavailableError):
        await store.update_context("run-1", {"mine": 1})
    await store.update_context("run-1", {"theirs": 2})  # another writer, later
    await store.update_context("run-1", {"mine": 1})  # the blind retry
    run = await store.get_run("run-1")
    assert run is not None and run.context == {"mine": 1}  # theirs is gone


async def test_update_context_with_expected_revision_never_puts_an_older_context_back() -> None:
    store, faulty, _ = faulty_store()
    await setup(store)
    revision = (await store.get_run("run-1")).revision  # type: ignore[union-attr]
    faulty.fail(applied=True)
    with pytest.raises(DatabaseUnavailableError):
        await store.update_context("run-1", {"mine": 1}, expected_revision=revision)
    await store.update_context("run-1", {"theirs": 2})
    with pytest.raises(RevisionConflictError):
        await store.update_context("run-1", {"mine": 1}, expected_revision=revision)
    run = await store.get_run("run-1")
    assert run is not None and run.context == {"theirs": 2}


async def test_a_blind_create_run_retry_puts_the_initial_context_back() -> None:
    """`create_run` overwrites the run-level fields, `context` included: a retry
    after another writer committed a step drops that step's result from the
    context (the step itself stays). Look with `get_run` before creating again."""
    store, faulty, _ = faulty_store()
    state = new_state("run-9")
    faulty.fail(applied=True)
    with pytest.raises(DatabaseUnavailableError):
        await store.create_run(state)
    await store.commit_step("run-9", _done("s", 1))  # a worker already started
    await store.create_run(state)  # the blind retry
    run = await store.get_run("run-9")
    assert run is not None and run.context == {}  # context.steps.s is gone
    assert [s.step_id for s in await store.list_steps("run-9")] == ["s"]

    # What the caller must do instead: if get_run finds the run, the create landed.
    store, faulty, _ = faulty_store()
    faulty.fail(applied=True)
    with pytest.raises(DatabaseUnavailableError):
        await store.create_run(state)
    await store.commit_step("run-9", _done("s", 1))
    if await store.get_run("run-9") is None:
        await store.create_run(state)
    run = await store.get_run("run-9")
    assert run is not None and run.context == {"steps": {"s": 1}}


async def test_a_retried_upsert_step_puts_its_version_back_over_a_newer_one() -> None:
    store, faulty, _ = faulty_store()
    await setup(store)
    faulty.fail(applied=True)
    with pytest.raises(DatabaseUnavailableError):
        await store.upsert_step("run-1", _done("a", "mine"))
    await store.upsert_step("run-1", _done("a", "theirs"))
    await store.upsert_step("run-1", _done("a", "mine"))
    steps = await store.list_steps("run-1")
    assert [(s.step_id, s.result) for s in steps][:2] == [("a", "mine"), ("b.$", HOSTILE)]


async def test_a_retried_delete_run_deletes_a_run_created_again_in_between() -> None:
    store, faulty, _ = faulty_store()
    await setup(store)
    faulty.fail(applied=True)
    with pytest.raises(DatabaseUnavailableError):
        await store.delete_run("run-1")
    await store.create_run(new_state("run-1"))  # someone starts the id again
    await store.delete_run("run-1")  # the retry
    assert await store.get_run("run-1") is None


async def test_a_completion_retried_with_its_key_replays_even_after_other_writes() -> None:
    store, faulty, _ = faulty_store()
    await setup(store)
    faulty.fail(2, applied=True)
    with pytest.raises(DatabaseUnavailableError):
        await store.complete_wait("wait-1", "yes", idempotency_key="req-1")
    await store.commit_step("run-1", _done("next", 1))
    run, step = await store.complete_wait("wait-1", "yes", idempotency_key="req-1")
    assert (run, step.result, step.status) == ("run-1", "yes", TaskStatus.COMPLETED)
    with pytest.raises(WaitAlreadyCompletedError):
        await store.complete_wait("wait-1", "other", idempotency_key="req-2")
    state = await store.get_run("run-1")
    assert state is not None and state.context["steps"] == {"ask": "yes", "next": 1}  # type: ignore[index]


def test_the_reference_state_is_what_a_single_call_leaves() -> None:
    """Sanity of the harness: the snapshot sees the writes of the setup."""
    assert observable(WorkflowExecutionState.new("r", "a", "t", "u", RESUMED.definition))
