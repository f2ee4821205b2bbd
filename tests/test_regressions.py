"""Regression tests: each failure the reliability tests found, shrunk to its
smallest input, kept here under a name that says what broke.

Each test names the tool that found it (model-based, fault, race, hostile corpus)
and runs on every backend the `store` / `mongo_store` fixtures provide.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mongo_wfstore import (
    InvalidInputError,
    MongoWorkflowStore,
    TaskStatus,
    WaitNotFoundError,
    WorkflowStepState,
    WorkflowStore,
)
from mongo_wfstore._store import decode_cursor, encode_cursor

from .strategies import same
from .test_contract import new_state
from .test_mongo_design import mock_store

UTC = timezone.utc

# ── found by the model-based test (tests/test_stateful.py) ──────────────────

FAR_FROM_1970 = [
    datetime(881, 1, 1, 0, 0, 0, 7000, tzinfo=UTC),  # the shrunk failing input
    datetime(1, 1, 1, 0, 0, 0, 999000, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    datetime(1500, 6, 1, 0, 0, 0, 1000, tzinfo=UTC),
]


@pytest.mark.parametrize("created_at", FAR_FROM_1970, ids=str)
async def test_paging_lists_each_run_once_when_created_at_is_far_from_1970(
    store: WorkflowStore, created_at: datetime
) -> None:
    # The cursor was decoded through a float (millis / 1000): for dates before
    # ~1697 or after ~2242 it came back microseconds off, so the next page
    # repeated the last run (or skipped the runs sharing its created_at).
    for run in ["a", "b", "c"]:
        await store.create_run(new_state(run, created_at=created_at, updated_at=created_at))
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = await store.list_runs(limit=1, cursor=cursor)
        seen += [run.run_task_id for run in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["c", "b", "a"]


@given(
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.just(UTC),
    ),
    st.text(),
)
def test_a_cursor_decodes_to_exactly_what_it_encodes(created_at: datetime, run: Any) -> None:
    created_at = created_at.replace(microsecond=created_at.microsecond // 1000 * 1000)
    assert decode_cursor(encode_cursor(created_at, run)) == (created_at, run)


# ── found by the race test (tests/test_races.py) ────────────────────────────


class _AfterAMiss:
    """Runs `action` (another writer) right after the first update that matched nothing."""

    def __init__(self, inner: Any, action: Any) -> None:
        self._inner = inner
        self._action = action

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def find_one_and_update(self, filter: Any, update: Any, **kwargs: Any) -> Any:
        before = await self._inner.find_one_and_update(filter, update, **kwargs)
        missed = before is None and not kwargs.get("upsert")
        if missed and self._action is not None:
            action, self._action = self._action, None
            await action()
        return before


@pytest.mark.parametrize("expected_revision", [None, 1])
async def test_update_context_racing_the_create_of_its_run_is_retried_not_leaked(
    expected_revision: int | None,
) -> None:
    # update_context matched nothing (no run yet); the run was created before its
    # follow-up read, which then found the run: the store raised its private
    # `_Raced` marker, which is not a WorkflowStoreError. Shrunk input: the batch
    # [update_context("r1", {"v": 0}), create_run(r1)] with seed 0.
    store, raw = mock_store()
    state = new_state("r1")
    racing = MongoWorkflowStore(_AfterAMiss(raw, lambda: store.create_run(state)))
    await racing.update_context("r1", {"v": 0}, expected_revision=expected_revision)
    got = await store.get_run("r1")
    assert got is not None and got.context == {"v": 0} and got.revision == 2


@pytest.mark.parametrize(
    ("step_id", "key"), [("t.$", "k"), ("a$b", "k"), ("a", "k$"), ("x$", "$y$"), ("$", "$$")]
)
async def test_a_dollar_inside_a_step_id_or_update_key_is_merged_like_any_other(
    store: WorkflowStore, step_id: str, key: str
) -> None:
    # Keys with a `$` that is not the first character were stored as they were,
    # so update paths such as `context.steps.t%2E$` held a `$`. mongomock (which
    # the README recommends for tests) reads any path with a `$` in it as
    # positional: KeyError, or later `$` paths written into the wrong
    # sub-document. Shrunk input: the batch [create_run(r1), commit_step(r1,
    # "t.$")]. Every `$` in a key is now escaped (`%24`); old forms still decode.
    await store.create_run(new_state("r1").with_context({"v": 0}))
    await store.commit_step("r1", WorkflowStepState(step_id=step_id, result=1))
    await store.commit_step(
        "r1", WorkflowStepState(step_id=step_id, result=2), context_updates={key: 3}
    )
    got = await store.get_run("r1")
    assert got is not None and got.context == {"v": 0, "steps": {step_id: 2}, key: 3}
    assert [(s.step_id, s.result) for s in await store.list_steps("r1")] == [(step_id, 2)]


class _BeforeTheWrite:
    """Runs `action` (another writer) right before the first update whose filter
    matches `when` (a predicate on the filter)."""

    def __init__(self, inner: Any, when: Any, action: Any) -> None:
        self._inner = inner
        self._when = when
        self._action = action

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def find_one_and_update(self, filter: Any, update: Any, **kwargs: Any) -> Any:
        if self._action is not None and self._when(filter):
            action, self._action = self._action, None
            await action()
        return await self._inner.find_one_and_update(filter, update, **kwargs)


def _completes(filter: Any) -> bool:
    return "$elemMatch" in str(filter.get("steps", ""))


def _waiting(started_at: datetime | None = None) -> WorkflowStepState:
    return WorkflowStepState(
        step_id="ask",
        status=TaskStatus.INPUT_REQUIRED,
        wait_task_id="w1",
        started_at=started_at,
    )


async def test_complete_wait_racing_a_delete_and_a_new_stub_finds_no_wait() -> None:
    # Between complete_wait's lookup and its write, the run was deleted and a
    # step written under the same id (a stub, no context). The write matched
    # nothing; the check that says why saw a document without an object context
    # and raised InvalidInputError ("the context must be a JSON object"), which
    # no serial order gives. Shrunk input: [delete_run(r1), delete_run(r1),
    # upsert_step(r1, s1), complete_wait(w1)] with seed 0.
    store, raw = mock_store()
    await store.create_run(new_state("r1").with_context({}))
    await store.upsert_step("r1", _waiting())

    async def delete_and_write_a_step() -> None:
        await store.delete_run("r1")
        await store.upsert_step("r1", WorkflowStepState(step_id="s1"))

    racing = MongoWorkflowStore(_BeforeTheWrite(raw, _completes, delete_and_write_a_step))
    with pytest.raises(WaitNotFoundError):
        await racing.complete_wait("w1", "yes")
    assert [s.step_id for s in await store.list_steps("r1")] == ["s1"]


async def test_complete_wait_returns_the_step_as_stored_when_it_was_rewritten_meanwhile() -> None:
    # Between the lookup and the write, another writer rewrote the waiting step
    # (still waiting, another started_at). The write completed the rewritten
    # step, but complete_wait returned the step built from its lookup: a
    # started_at that was never stored with this completion.
    store, raw = mock_store()
    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    await store.create_run(new_state("r1").with_context({}))
    await store.upsert_step("r1", _waiting(t0))
    racing = MongoWorkflowStore(
        _BeforeTheWrite(raw, _completes, lambda: store.upsert_step("r1", _waiting(t1)))
    )
    _, returned = await racing.complete_wait("w1", "yes")
    assert returned == await store.get_step("r1", "ask")
    assert returned.started_at == t1 and returned.result == "yes"


# ── found reading the code behind the race above ────────────────────────────


@pytest.mark.parametrize(
    "context",
    [2**64, "lone \ud800", {"steps": 2**64}, {"steps": "\udfff"}, {"steps": -(2**70)}],
    ids=repr,
)
async def test_a_context_stored_as_json_text_is_not_an_object_to_merge_into(
    store: WorkflowStore, context: Any
) -> None:
    # A context (or context.steps) that BSON cannot hold is stored as JSON text,
    # {"%json": "..."}: a BSON object. The "is the context an object" check
    # took it for one, so commit_step and complete_wait merged into it and the
    # context read back as {"%json": "...", "steps": {...}}.
    await store.create_run(new_state("r1").with_context(context))
    await store.upsert_step("r1", _waiting())
    with pytest.raises(InvalidInputError, match="context of run 'r1'"):
        await store.commit_step("r1", WorkflowStepState(step_id="a", result=1))
    with pytest.raises(InvalidInputError, match="context of run 'r1'"):
        await store.complete_wait("w1", "yes")
    got = await store.get_run("r1")
    assert got is not None and same(got.context, context)
    assert await store.list_steps("r1") == [_waiting()]


# ── found reading the server's update code (a mock cannot show it) ──────────


async def test_a_commit_adds_new_context_keys_in_the_order_a_server_applies_them(
    store: WorkflowStore,
) -> None:
    # MongoDB 5.0+ applies the paths of one $set in its own field order
    # (strings lexicographic, numeric names numerically: "9" before "10"), not
    # in the order sent, and appends new fields in that order. The in-memory
    # store and mongomock followed the order sent: a commit that adds several
    # context keys left them in another order than a real server does. Both
    # stores now apply (and send) them in the server's order.
    await store.create_run(new_state("r1").with_context({"keep": 0}))
    updates = {"z": 1, "10": 2, "9": 3, "b": 4, "keep": 5, "$x": 6, "02": 7}
    await store.commit_step("r1", WorkflowStepState(step_id="a", result=1), context_updates=updates)
    got = await store.get_run("r1")
    assert got is not None
    assert list(got.context) == ["keep", "$x", "02", "9", "10", "b", "steps", "z"]  # type: ignore[arg-type]
    assert got.context == {**updates, "steps": {"a": 1}}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("2", "10"),  # numeric names in numeric order (the documented example)
        ("9", "10"),
        ("0", "1"),
        ("02", "1"),  # zero-padded: compared as strings
        ("10", "1a0"),  # same length, starting with digits: as strings
        ("1", "a"),
        ("%24x", "0"),  # escaped keys sort by their stored form
        ("A", "a"),
        ("steps", "z"),
    ],
)
def test_fields_are_ordered_as_the_server_orders_them(first: str, second: str) -> None:
    from mongo_wfstore._encoding import server_field_order

    assert sorted([second, first], key=server_field_order) == [first, second]


# ── found by the hostile corpus (tests/test_hostile.py) ─────────────────────


async def test_an_integer_past_the_str_digit_limit_is_refused_with_the_path(
    store: WorkflowStore,
) -> None:
    # An integer outside int64 is stored as JSON text; json.dumps of one with
    # more than 4300 digits (Python's int/str conversion limit) raised a bare
    # ValueError from deep inside the encoder.
    await store.create_run(new_state("r1").with_context({}))
    with pytest.raises(InvalidInputError, match=r"context_updates\['k'\]\[1\]") as info:
        await store.commit_step(
            "r1", WorkflowStepState(step_id="a"), context_updates={"k": [1, 10**4300]}
        )
    assert "4300 digits" in str(info.value)
    with pytest.raises(InvalidInputError, match=r"result\.n"):
        await store.upsert_step("r1", WorkflowStepState(step_id="a", result={"n": -(10**5000)}))
    assert await store.list_steps("r1") == []


@pytest.mark.filterwarnings("error")
async def test_a_definition_nested_past_the_limit_is_refused_without_a_warning(
    store: WorkflowStore,
) -> None:
    # The definition is dumped by pydantic before it is encoded; past 254 levels
    # pydantic warned ("Maximum serialization depth exceeded"), an exception for
    # an application that runs with warnings as errors, before the store could
    # refuse the value (or store it, at 255 and 256 levels) itself.
    from .strategies import deep_value

    state = new_state("r1")
    for depth, refused in [(255, False), (300, True)]:
        schema = deep_value(depth)
        definition = state.definition.model_copy(update={"input_schema": schema})
        with_schema = state.model_copy(update={"definition": definition})
        if refused:
            with pytest.raises(InvalidInputError, match=r"definition\.input_schema"):
                await store.create_run(with_schema)
        else:
            await store.create_run(with_schema)
            got = await store.get_run("r1")
            assert got is not None and same(got.definition.input_schema, schema)


# ── found by the race test, in a test double ────────────────────────────────


async def test_a_yielding_collection_returns_documents_as_they_were_when_read() -> None:
    # mongomock returns projected sub-documents by reference; YieldingCollection
    # yielded after the command and before the store copied the result, so a
    # write in between changed what a read had already returned (a get_step saw
    # a completion that happened after it). Not a library bug: no server and no
    # driver leaves such a gap. Shrunk input: [create_run(r1, bob), find_wait(w1),
    # delete_run(r.2), complete_wait(w1), scoped("alice").get_step(r1, "ask")],
    # seed 1.
    import random

    from mongomock_motor import AsyncMongoMockClient

    from .doubles import YieldingCollection

    raw = AsyncMongoMockClient()["db"]["runs"]
    await raw.insert_one({"_id": "r1", "steps": [{"step_id": "ask", "status": "waiting"}]})
    coll = YieldingCollection(raw, rng=random.Random(0), max_yields=0)
    read = await coll.find_one({"_id": "r1"}, {"steps": {"$elemMatch": {"step_id": "ask"}}})
    await raw.update_one({"_id": "r1", "steps.step_id": "ask"}, {"$set": {"steps.$.status": "x"}})
    assert read["steps"][0]["status"] == "waiting"
