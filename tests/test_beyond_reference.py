"""What this library adds to the reference, on every implementation: atomic step
commits, safe wait completion, listing, tenant isolation, revisions.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mongo_wfstore import (
    InvalidInputError,
    PayloadTooLargeError,
    RevisionConflictError,
    RunNotFoundError,
    TaskStatus,
    WaitAlreadyCompletedError,
    WaitNotFoundError,
    WorkflowExecutionState,
    WorkflowStepState,
    WorkflowStore,
)

from .test_contract import new_state

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def state_at(run: str, minutes: int, **changes: Any) -> WorkflowExecutionState:
    at = T0 + timedelta(minutes=minutes)
    return new_state(run, created_at=at, updated_at=at, **changes)


def waiting(step_id: str = "ask", wait: str = "wait-1") -> WorkflowStepState:
    return WorkflowStepState(
        step_id=step_id, status=TaskStatus.INPUT_REQUIRED, wait_task_id=wait, started_at=T0
    )


async def context_of(store: WorkflowStore, run: str = "run-1") -> Any:
    got = await store.get_run(run)
    assert got is not None
    return got.context


# ── commit_step ───────────────────────────────────────────────────────────


async def test_commit_step_stores_the_step_and_its_result_in_the_context(
    store: WorkflowStore,
) -> None:
    await store.create_run(new_state().with_context({"env": "prod"}))
    before = await store.get_run("run-1")
    step = WorkflowStepState(step_id="fetch", status=TaskStatus.COMPLETED, result={"docs": [1]})
    await store.commit_step("run-1", step, context_updates={"last": "fetch"})
    after = await store.get_run("run-1")
    assert after is not None and before is not None
    assert after.context == {"env": "prod", "last": "fetch", "steps": {"fetch": {"docs": [1]}}}
    assert after.updated_at >= before.updated_at
    assert await store.get_step("run-1", "fetch") == step


async def test_commit_step_takes_any_step_id_and_any_update_key(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    ids = ["a.b", "$where", "%24x", "0", "x\u00e9"]
    for step_id in ids:
        await store.commit_step(
            "run-1",
            WorkflowStepState(step_id=step_id, result={"$ref": step_id}),
            context_updates={f"k.{step_id}": step_id, "$set": 1},
        )
    context = await context_of(store)
    assert context["steps"] == {i: {"$ref": i} for i in ids}
    assert context["$set"] == 1
    assert context["k.a.b"] == "a.b"


async def test_commit_step_updates_a_stored_step_in_place(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    for step_id in ["a", "b", "c"]:
        await store.commit_step("run-1", WorkflowStepState(step_id=step_id, result=step_id))
    await store.commit_step("run-1", WorkflowStepState(step_id="b", result="again"))
    assert [s.step_id for s in await store.list_steps("run-1")] == ["a", "b", "c"]
    assert (await context_of(store))["steps"] == {"a": "a", "b": "again", "c": "c"}


async def test_a_step_without_result_is_null_in_the_context(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    await store.commit_step("run-1", WorkflowStepState(step_id="skip", status=TaskStatus.CANCELED))
    assert (await context_of(store)) == {"steps": {"skip": None}}


async def test_committed_steps_survive_without_a_final_update_context(
    store: WorkflowStore,
) -> None:
    await store.create_run(new_state())
    await store.commit_step("run-1", WorkflowStepState(step_id="a", result=1))
    await store.commit_step("run-1", WorkflowStepState(step_id="b", result=2))
    # The engine "crashes" here: no update_context. A resume reads everything back.
    assert (await context_of(store))["steps"] == {"a": 1, "b": 2}
    assert [s.step_id for s in await store.list_steps("run-1")] == ["a", "b"]


async def test_commit_step_needs_the_run_and_writes_nothing_without_it(
    store: WorkflowStore,
) -> None:
    with pytest.raises(RunNotFoundError, match="ghost"):
        await store.commit_step("ghost", WorkflowStepState(step_id="a", result=1))
    assert await store.list_steps("ghost") == []
    await store.upsert_step("stub", WorkflowStepState(step_id="early"))
    with pytest.raises(RunNotFoundError):
        await store.commit_step("stub", WorkflowStepState(step_id="a", result=1))
    assert [s.step_id for s in await store.list_steps("stub")] == ["early"]


@pytest.mark.parametrize(
    "context", [None, [1, 2], "text", {"steps": [1]}, {"steps": "x"}, {"steps": None}]
)
async def test_commit_step_into_a_context_that_is_not_an_object_is_refused(
    store: WorkflowStore, context: Any
) -> None:
    await store.create_run(new_state().with_context(context))
    with pytest.raises(InvalidInputError, match="context of run 'run-1'"):
        await store.commit_step("run-1", WorkflowStepState(step_id="0", result=1))
    assert await context_of(store) == context
    assert await store.list_steps("run-1") == []


async def test_context_updates_may_not_set_steps(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    with pytest.raises(InvalidInputError, match="may not set 'steps'"):
        await store.commit_step(
            "run-1", WorkflowStepState(step_id="a"), context_updates={"steps": {}}
        )
    with pytest.raises(InvalidInputError, match="mapping"):
        await store.commit_step("run-1", WorkflowStepState(step_id="a"), context_updates=[1])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"context_updates\['bad'\]"):
        await store.commit_step(
            "run-1", WorkflowStepState(step_id="a"), context_updates={"bad": float("nan")}
        )
    assert await store.list_steps("run-1") == []
    assert await context_of(store) == {}


async def test_commit_step_past_16_mib_leaves_step_and_context_as_they_were(
    store: WorkflowStore,
) -> None:
    inline = "x" * ((1 << 20) - 200)  # below the offload threshold: stays in the document
    await store.create_run(new_state())
    for i in range(7):  # each commit stores the result twice: step and context
        await store.commit_step("run-1", WorkflowStepState(step_id=f"s{i}", result=inline))
    before = await store.get_run("run-1")
    with pytest.raises(PayloadTooLargeError, match="step 'b' of run 'run-1'"):
        await store.commit_step(
            "run-1", WorkflowStepState(step_id="b", result=inline), context_updates={"k": inline}
        )
    after = await store.get_run("run-1")
    assert after == before and after is not None and before is not None
    assert after.revision == before.revision
    assert [s.step_id for s in await store.list_steps("run-1")] == [f"s{i}" for i in range(7)]


# ── revisions ─────────────────────────────────────────────────────────────


async def test_every_write_increments_the_revision(store: WorkflowStore) -> None:
    async def revision() -> int | None:
        got = await store.get_run("run-1")
        return None if got is None else got.revision

    await store.create_run(new_state())
    assert await revision() == 1
    await store.upsert_step("run-1", waiting())
    assert await revision() == 2
    await store.update_context("run-1", {"x": 1})
    assert await revision() == 3
    await store.commit_step("run-1", WorkflowStepState(step_id="b"))
    assert await revision() == 4
    await store.complete_wait("wait-1", "yes")
    assert await revision() == 5
    await store.create_run(new_state())
    assert await revision() == 6


async def test_revision_is_store_metadata(store: WorkflowStore) -> None:
    state = new_state()
    assert state.revision is None
    assert "revision" not in state.model_dump_json()
    await store.create_run(state.model_copy(update={"revision": 99}))  # ignored on write
    got = await store.get_run("run-1")
    assert got is not None and got.revision == 1
    assert got == state  # equality compares content only
    assert '"revision":1' in got.model_dump_json()


async def test_expected_revision_guards_update_context(store: WorkflowStore) -> None:
    await store.create_run(new_state().with_context({"v": 0}))
    await store.update_context("run-1", {"v": 1}, expected_revision=1)
    with pytest.raises(RevisionConflictError, match="revision 2, not the expected 1") as info:
        await store.update_context("run-1", {"v": "stale"}, expected_revision=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert await context_of(store) == {"v": 1}
    with pytest.raises(RunNotFoundError):
        await store.update_context("ghost", {}, expected_revision=1)


async def test_expected_revision_guards_commit_step(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    await store.commit_step("run-1", WorkflowStepState(step_id="a"), expected_revision=1)
    with pytest.raises(RevisionConflictError):
        await store.commit_step("run-1", WorkflowStepState(step_id="b"), expected_revision=1)
    with pytest.raises(RevisionConflictError):
        await store.commit_step(
            "run-1", WorkflowStepState(step_id="a", result=2), expected_revision=1
        )
    assert [(s.step_id, s.result) for s in await store.list_steps("run-1")] == [("a", None)]


@pytest.mark.parametrize("bad", [-1, "1", True, 1.0])
async def test_a_bad_expected_revision_is_refused(store: WorkflowStore, bad: Any) -> None:
    await store.create_run(new_state())
    with pytest.raises(InvalidInputError, match="expected_revision"):
        await store.update_context("run-1", {}, expected_revision=bad)
    with pytest.raises(InvalidInputError, match="expected_revision"):
        await store.commit_step("run-1", WorkflowStepState(step_id="a"), expected_revision=bad)


# ── waits ─────────────────────────────────────────────────────────────────


async def test_find_wait_returns_the_run_and_the_waiting_step(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    await store.upsert_step("run-1", WorkflowStepState(step_id="before"))
    await store.upsert_step("run-1", waiting())
    assert await store.find_wait("wait-1") == ("run-1", waiting())
    assert await store.find_wait("nope") is None


async def test_find_wait_ignores_steps_written_before_their_run(store: WorkflowStore) -> None:
    await store.upsert_step("stub", waiting(wait="early"))
    assert await store.find_wait("early") is None
    with pytest.raises(WaitNotFoundError):
        await store.complete_wait("early", "x")


async def test_complete_wait_completes_the_step_and_merges_the_result(
    store: WorkflowStore,
) -> None:
    await store.create_run(new_state().with_context({"keep": True}))
    await store.upsert_step("run-1", waiting("ask.user"))
    run, step = await store.complete_wait("wait-1", {"answer": "yes"})
    assert run == "run-1"
    assert step.status == TaskStatus.COMPLETED
    assert step.result == {"answer": "yes"}
    assert step.completed_at is not None and step.started_at == T0
    assert step.wait_task_id == "wait-1"
    assert await store.get_step("run-1", "ask.user") == step
    assert await context_of(store) == {"keep": True, "steps": {"ask.user": {"answer": "yes"}}}


async def test_a_wait_is_completed_once(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    await store.upsert_step("run-1", waiting())
    _, first = await store.complete_wait("wait-1", "first")
    with pytest.raises(WaitAlreadyCompletedError, match="already completed") as info:
        await store.complete_wait("wait-1", "second")
    error = info.value
    assert (error.wait_task_id, error.run_task_id, error.step_id, error.status) == (
        "wait-1",
        "run-1",
        "ask",
        "completed",
    )
    assert await store.get_step("run-1", "ask") == first
    assert (await context_of(store))["steps"] == {"ask": "first"}


async def test_a_missing_wait_is_not_found(store: WorkflowStore) -> None:
    with pytest.raises(WaitNotFoundError, match="nope") as info:
        await store.complete_wait("nope", 1)
    assert isinstance(info.value, LookupError)


async def test_complete_wait_with_failure_and_without_result(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    previous = waiting().model_copy(update={"result": "partial", "error": "old"})
    await store.upsert_step("run-1", previous)
    _, step = await store.complete_wait("wait-1", None, status=TaskStatus.FAILED, error="timeout")
    assert (step.status, step.result, step.error) == (TaskStatus.FAILED, None, "timeout")
    assert (await context_of(store))["steps"] == {"ask": None}
    await store.upsert_step("run-1", waiting("again", "wait-2").model_copy(update={"error": "x"}))
    _, step = await store.complete_wait("wait-2", 5)
    assert step.error is None  # a completion without error clears the old one
    assert await store.get_step("run-1", "again") == step


@pytest.mark.parametrize("status", [TaskStatus.INPUT_REQUIRED, "bogus"])
async def test_complete_wait_refuses_a_status_that_does_not_complete(
    store: WorkflowStore, status: Any
) -> None:
    await store.create_run(new_state())
    await store.upsert_step("run-1", waiting())
    with pytest.raises(InvalidInputError, match="wait-1"):
        await store.complete_wait("wait-1", 1, status=status)
    with pytest.raises(InvalidInputError, match="wait-1"):
        await store.complete_wait("wait-1", {"bad": float("nan")})
    assert await store.get_step("run-1", "ask") == waiting()


async def test_complete_wait_into_a_context_that_is_not_an_object_is_refused(
    store: WorkflowStore,
) -> None:
    await store.create_run(new_state().with_context([1]))
    await store.upsert_step("run-1", waiting())
    with pytest.raises(InvalidInputError, match="context of run 'run-1'"):
        await store.complete_wait("wait-1", "x")
    assert await store.get_step("run-1", "ask") == waiting()


async def test_of_twenty_concurrent_completions_exactly_one_succeeds(
    store: WorkflowStore,
) -> None:
    await store.create_run(new_state())
    await store.upsert_step("run-1", waiting())
    outcomes = await asyncio.gather(
        *(store.complete_wait("wait-1", i) for i in range(20)), return_exceptions=True
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(o, WaitAlreadyCompletedError) for o in outcomes if o not in winners)
    (_, step) = winners[0]
    assert (await context_of(store))["steps"] == {"ask": step.result}


# ── list_runs ─────────────────────────────────────────────────────────────


async def make_runs(store: WorkflowStore) -> None:
    specs = [
        ("r1", 1, "agent-a", "t1", "u1", None),
        ("r2", 2, "agent-a", "t1", "u1", "ws1"),
        ("r3", 3, "agent-b", "t2", "u1", "ws2"),
        ("r4", 4, "agent-b", "t1", "u2", "ws1"),
        ("r5", 4, "agent-a", "t2", "u2", None),
    ]
    for run, minute, agent, thread, user, workspace in specs:
        state = state_at(run, minute, agent_id=agent, thread_id=thread, user_id=user)
        await store.create_run(state.with_workspace_id(workspace))
    await store.upsert_step("stub", WorkflowStepState(step_id="x"))


async def ids(store: WorkflowStore, **filters: Any) -> list[str]:
    page = await store.list_runs(**filters)
    return [run.run_task_id for run in page.items]


async def test_list_runs_is_newest_first_and_skips_step_only_documents(
    store: WorkflowStore,
) -> None:
    await make_runs(store)
    assert await ids(store) == ["r5", "r4", "r3", "r2", "r1"]  # r4, r5 tie: id breaks it
    page = await store.list_runs()
    assert page.next_cursor is None
    assert all(run.revision == 1 for run in page.items)


async def test_list_runs_filters_combine(store: WorkflowStore) -> None:
    await make_runs(store)
    assert await ids(store, agent_id="agent-a") == ["r5", "r2", "r1"]
    assert await ids(store, thread_id="t1") == ["r4", "r2", "r1"]
    assert await ids(store, user_id="u1") == ["r3", "r2", "r1"]
    assert await ids(store, workspace_id="ws1") == ["r4", "r2"]
    assert await ids(store, user_id="u1", workspace_id="ws1") == ["r2"]
    assert await ids(store, agent_id="agent-a", thread_id="t2") == ["r5"]
    assert await ids(store, agent_id="agent-b", user_id="u1", thread_id="t2") == ["r3"]
    assert await ids(store, agent_id="nobody") == []


async def test_list_runs_pages_with_a_cursor(store: WorkflowStore) -> None:
    await make_runs(store)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await store.list_runs(limit=2, cursor=cursor)
        seen += [run.run_task_id for run in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
        assert isinstance(cursor, str) and len(page.items) == 2
    assert seen == ["r5", "r4", "r3", "r2", "r1"]
    assert pages == 3


async def test_list_runs_pages_are_stable_while_runs_are_added(store: WorkflowStore) -> None:
    await make_runs(store)
    first = await store.list_runs(limit=2)
    await store.create_run(state_at("newer", 99))
    await store.create_run(state_at("r35", 3))  # lands between pages: after the cursor
    second = await store.list_runs(limit=2, cursor=first.next_cursor)
    assert [r.run_task_id for r in first.items] == ["r5", "r4"]
    assert [r.run_task_id for r in second.items] == ["r35", "r3"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "5"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": 5}, "cursor"),
        ({"thread_id": {"$ne": None}}, "thread_id"),
        ({"user_id": ""}, "user_id"),
    ],
)
async def test_list_runs_refuses_bad_arguments(
    store: WorkflowStore, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        await store.list_runs(**kwargs)


# ── tenants ───────────────────────────────────────────────────────────────


@pytest.fixture
async def two_tenants(store: WorkflowStore) -> tuple[WorkflowStore, WorkflowStore]:
    alice, bob = store.scoped("alice"), store.scoped("bob")
    await alice.create_run(new_state("a-run", user_id="alice").with_context({"secret": 1}))
    await alice.upsert_step("a-run", waiting())
    return alice, bob


async def test_another_tenants_run_does_not_exist(
    store: WorkflowStore, two_tenants: tuple[WorkflowStore, WorkflowStore]
) -> None:
    alice, bob = two_tenants
    assert await bob.get_run("a-run") is None
    assert await bob.get_step("a-run", "ask") is None
    assert await bob.list_steps("a-run") == []
    assert (await bob.list_runs()).items == []
    assert await bob.find_wait("wait-1") is None
    for write in [
        bob.update_context("a-run", {"secret": 2}),
        bob.upsert_step("a-run", WorkflowStepState(step_id="evil")),
        bob.commit_step("a-run", WorkflowStepState(step_id="evil")),
        bob.delete_run("a-run"),
        bob.create_run(new_state("a-run", user_id="bob")),
    ]:
        with pytest.raises(RunNotFoundError, match="a-run"):
            await write
    with pytest.raises(WaitNotFoundError):
        await bob.complete_wait("wait-1", "hijack")
    # Nothing of alice's changed.
    got = await alice.get_run("a-run")
    assert got is not None and got.context == {"secret": 1} and got.user_id == "alice"
    assert got.revision == 2
    assert await alice.list_steps("a-run") == [waiting()]
    assert await store.get_run("a-run") == got  # the unscoped store sees everything


async def test_a_tenant_cannot_create_another_tenants_run(
    two_tenants: tuple[WorkflowStore, WorkflowStore],
) -> None:
    _, bob = two_tenants
    with pytest.raises(InvalidInputError, match="belongs to user 'alice'"):
        await bob.create_run(new_state("b-run", user_id="alice"))
    assert await bob.get_run("b-run") is None


async def test_a_tenant_sees_and_writes_its_own_runs(
    two_tenants: tuple[WorkflowStore, WorkflowStore],
) -> None:
    alice, bob = two_tenants
    await bob.create_run(new_state("b-run", user_id="bob"))
    await bob.commit_step("b-run", WorkflowStepState(step_id="s", result=1))
    assert [r.run_task_id for r in (await bob.list_runs()).items] == ["b-run"]
    assert [r.run_task_id for r in (await alice.list_runs()).items] == ["a-run"]
    assert (await alice.list_runs(user_id="bob")).items == []
    assert await alice.complete_wait("wait-1", "ok") is not None
    await bob.delete_run("b-run")
    assert await bob.get_run("b-run") is None
    with pytest.raises(RunNotFoundError):
        await bob.delete_run("b-run")  # through a scope, deleting what is not there raises


async def test_steps_written_through_a_scope_before_the_run_belong_to_the_tenant(
    two_tenants: tuple[WorkflowStore, WorkflowStore],
) -> None:
    alice, bob = two_tenants
    await bob.upsert_step("b-run", WorkflowStepState(step_id="early"))
    assert await alice.list_steps("b-run") == []
    with pytest.raises(RunNotFoundError):
        await alice.upsert_step("b-run", WorkflowStepState(step_id="evil"))
    await bob.create_run(new_state("b-run", user_id="bob"))
    assert [s.step_id for s in await bob.list_steps("b-run")] == ["early"]


async def test_a_workspace_scope_is_narrower_than_its_user(store: WorkflowStore) -> None:
    await make_runs(store)
    u1 = store.scoped("u1")
    ws1 = store.scoped("u1", "ws1")
    assert [r.run_task_id for r in (await u1.list_runs()).items] == ["r3", "r2", "r1"]
    assert [r.run_task_id for r in (await ws1.list_runs()).items] == ["r2"]
    assert await ws1.get_run("r3") is None
    assert await u1.get_run("r3") is not None
    assert (await ws1.list_runs(workspace_id="ws2")).items == []
    with pytest.raises(InvalidInputError, match="workspace"):
        await ws1.create_run(state_at("new", 9, user_id="u1").with_workspace_id("ws2"))
    assert u1.scoped("u1", "ws1") is not None
    with pytest.raises(InvalidInputError, match="cannot be scoped"):
        u1.scoped("u2")
    with pytest.raises(InvalidInputError, match="cannot be scoped"):
        ws1.scoped("u1", "ws2")
    with pytest.raises(InvalidInputError, match="user_id"):
        store.scoped({"$ne": None})  # type: ignore[arg-type]


async def test_a_completion_retried_with_its_idempotency_key_replays(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    await store.upsert_step("run-1", waiting())
    run, step = await store.complete_wait("wait-1", {"ok": 1}, idempotency_key="req-7")
    revision = (await store.get_run("run-1")).revision  # type: ignore[union-attr]
    assert await store.complete_wait("wait-1", {"ok": 1}, idempotency_key="req-7") == (run, step)
    assert (await store.get_run("run-1")).revision == revision  # type: ignore[union-attr]
    for other in ("req-8", None):
        with pytest.raises(WaitAlreadyCompletedError) as info:
            await store.complete_wait("wait-1", {"ok": 1}, idempotency_key=other)
        assert info.value.step == step
    assert await store.get_step("run-1", "ask") == step


async def test_concurrent_completions_with_distinct_keys_let_one_win(store: WorkflowStore) -> None:
    await store.create_run(new_state())
    await store.upsert_step("run-1", waiting())
    outcomes = await asyncio.gather(
        *(store.complete_wait("wait-1", i, idempotency_key=f"k{i}") for i in range(20)),
        return_exceptions=True,
    )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1


@pytest.mark.parametrize("key", ["", {"$ne": None}, 5])
async def test_a_bad_idempotency_key_is_refused(store: WorkflowStore, key: Any) -> None:
    await store.create_run(new_state())
    await store.upsert_step("run-1", waiting())
    with pytest.raises(InvalidInputError, match="idempotency_key"):
        await store.complete_wait("wait-1", 1, idempotency_key=key)
    assert await store.get_step("run-1", "ask") == waiting()


async def test_every_write_sets_updated_at_so_retention_never_expires_an_active_run(
    store: WorkflowStore,
) -> None:
    old = datetime(2020, 1, 1, tzinfo=timezone.utc)
    await store.create_run(new_state(created_at=old, updated_at=old))

    async def updated_at() -> datetime:
        got = await store.get_run("run-1")
        assert got is not None
        return got.updated_at

    assert await updated_at() == old  # create_run keeps the state's timestamps
    last = old
    for write in [
        store.upsert_step("run-1", WorkflowStepState(step_id="a")),
        store.upsert_step("run-1", waiting()),
        store.commit_step("run-1", WorkflowStepState(step_id="b")),
        store.complete_wait("wait-1", 1),
        store.update_context("run-1", {}),
    ]:
        await write
        now = await updated_at()
        assert now > old and now >= last
        last = now
