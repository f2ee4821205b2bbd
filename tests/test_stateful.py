"""Model-based test: random sequences of every operation, run on the MongoDB store
(mongomock behind the server-rules double) and on the in-memory reference, must
agree after every step on everything a caller can observe, and both must agree
with a third, independent model of what was written.

The sequences mix hostile JSON values (`tests/strategies.py`), ids with dots,
dollars and percent signs, steps written before their run, deletes and
re-creates, stale and current `expected_revision`s, waits completed with and
without an idempotency key, tenant views, and `created_at`s from year 1 to 9999
(ties included) for the pagination cursor.

The stores' clock is controlled (`tests/harness.py`): every rule runs at its own
instant, the same for both stores, so nothing is normalised before comparing.

After every step the invariants compare, on both stores: `get_run` and
`list_steps` of every run id, `find_wait` of every wait id, and every page of
`list_runs` (unscoped and through a tenant), and check the pages against the
model: each visible run exactly once, newest first.

`test_stores_agree_under_random_operations` is in the default run (bounded);
`test_stores_agree_soak` runs the same machine much longer (`pytest -m soak`).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import bson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from mongo_wfstore import (
    InMemoryWorkflowStore,
    TaskStatus,
    WorkflowDefinition,
    WorkflowExecutionState,
    WorkflowStep,
    WorkflowStepState,
    WorkflowStore,
)

from .harness import all_pages, controlled_clock, observable, outcome
from .strategies import json_keys, json_values, same
from .test_mongo_design import mock_store

RUN_IDS = ["run-1", "run.2", "$run3", "r%24", "\u00fc.$x"]
STEP_IDS = ["a", "b", "$c", "d.e", "%f", "t.$", "x$y", "0", "10", "2"]
WAIT_IDS = ["w1", "w.2", "$w3"]
Tenant = tuple[str, str | None] | None
TENANTS: list[Tenant] = [None, ("alice", None), ("alice", "ws"), ("bob", None)]
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
MS = timedelta(milliseconds=1)
CURRENT = "current revision"

run_ids = st.sampled_from([*RUN_IDS[:2], *RUN_IDS])  # the seeded runs more often
step_ids = st.sampled_from(STEP_IDS)
wait_ids = st.sampled_from(WAIT_IDS)
views = st.sampled_from([None, None, None, *TENANTS[1:]])
revisions = st.none() | st.integers(0, 8) | st.just(CURRENT)
created_ats = st.one_of(
    st.sampled_from([EPOCH, EPOCH + MS, EPOCH - MS]),  # ties: the id breaks them
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.just(timezone.utc),
    ),
)
objects = st.dictionaries(json_keys, json_values, max_size=4)
contexts = st.one_of(objects, objects, json_values, st.builds(lambda s: {"steps": s}, objects))
timestamps = st.none() | st.sampled_from([EPOCH, EPOCH + 7 * MS])
definitions = st.builds(
    lambda schema: WorkflowDefinition(
        id="def", steps=[WorkflowStep.checkpoint("c", "C", "ok")], input_schema=schema
    ),
    st.none() | json_values,
)
AGENTS = ["agent", "a.$gent"]
THREADS = ["thread", "t%24"]
states = st.builds(
    lambda run, user, workspace, at, input_, context, definition, entry, agent, thread: (
        WorkflowExecutionState(
            run_task_id=run,
            agent_id=agent,
            thread_id=thread,
            user_id=user,
            workspace_id=workspace,
            definition=definition,
            entry_point=entry,
            input=input_,
            context=context,
            created_at=at,
            updated_at=at,
        )
    ),
    run_ids,
    st.sampled_from(["alice", "bob"]),
    st.sampled_from([None, "ws"]),
    created_ats,
    json_values,
    contexts,
    definitions,
    st.none() | st.just("main"),
    st.sampled_from(AGENTS),
    st.sampled_from(THREADS),
)
steps = st.builds(
    WorkflowStepState,
    step_id=step_ids,
    status=st.sampled_from(TaskStatus),
    result=st.none() | json_values,
    error=st.none() | st.text(max_size=4),
    started_at=timestamps,
    completed_at=timestamps,
    wait_task_id=st.none() | wait_ids,
)
context_updates = st.none() | st.dictionaries(json_keys, json_values, max_size=3)


def view(store: WorkflowStore, tenant: Tenant) -> WorkflowStore:
    return store if tenant is None else store.scoped(*tenant)


def canonical(value: Any) -> Any:
    """`value` with object keys sorted, to compare contents whose key order a merge set."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


# ── the independent model ─────────────────────────────────────────────────


@dataclass
class Doc:
    """What the model knows of one run document."""

    state: WorkflowExecutionState | None = None
    context: Any = None
    steps: dict[str, WorkflowStepState] = field(default_factory=dict)
    revision: int = 0
    stub_owner: tuple[str | None, str | None] = (None, None)

    def owner(self) -> tuple[str | None, str | None]:
        if self.state is not None:
            return self.state.user_id, self.state.workspace_id
        return self.stub_owner

    def visible(self, tenant: Tenant) -> bool:
        if tenant is None:
            return True
        user, workspace = self.owner()
        return user == tenant[0] and (tenant[1] is None or workspace == tenant[1])


class Model:
    """Run documents as plain Python: written values kept as given, no encoding.

    It learns whether a call succeeded from the reference store, and then says
    what must be stored: steps once each, in first-insertion order, with the last
    value written; the context; the revision; which runs a listing shows.
    """

    def __init__(self) -> None:
        self.docs: dict[str, Doc] = {}

    def write(self, run: str, tenant: Tenant) -> Doc:
        doc = self.docs.get(run)
        if doc is None:
            owner = (None, None) if tenant is None else tenant
            doc = self.docs[run] = Doc(stub_owner=owner)
        doc.revision += 1
        return doc

    def put_step(self, doc: Doc, step: WorkflowStepState) -> None:
        doc.steps[step.step_id] = step.model_copy(deep=True)

    def merge(self, doc: Doc, updates: dict[str, Any], step_id: str, result: Any) -> None:
        for key, value in updates.items():
            doc.context[key] = copy.deepcopy(value)
        doc.context.setdefault("steps", {})[step_id] = copy.deepcopy(result)

    def listed(self, tenant: Tenant, **filters: Any) -> list[str]:
        runs = [
            (doc.state.created_at, run)
            for run, doc in self.docs.items()
            if doc.state is not None
            and doc.visible(tenant)
            and all(getattr(doc.state, name) == value for name, value in filters.items())
        ]
        return [run for _, run in sorted(runs, reverse=True)]


# ── the machine ───────────────────────────────────────────────────────────


class StoresAgree(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._clock_context = controlled_clock()
        self.clock = self._clock_context.__enter__()
        self.loop = asyncio.new_event_loop()
        self.reference = InMemoryWorkflowStore()
        self.mongo = mock_store()[0]
        self.model = Model()
        self.dirty = True
        """False after a rule that only reads: the invariant has nothing new to check."""

    def teardown(self) -> None:
        self.loop.close()
        self._clock_context.__exit__(None, None, None)

    def run(self, call: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(call)

    def both(
        self, tenant: Tenant, call: Callable[[WorkflowStore], Awaitable[Any]]
    ) -> tuple[Any, ...]:
        """Make the same call on both stores (at one instant); they must agree."""
        self.clock.tick()
        self.dirty = True
        expected = self.run(outcome(call(view(self.reference, tenant))))
        actual = self.run(outcome(call(view(self.mongo, tenant))))
        assert same(actual, expected), f"\nmongo:     {actual!r}\nreference: {expected!r}"
        return expected

    def stored(self) -> bytes:
        """Everything both stores hold, raw: the mock's documents, the reference's BSON."""
        docs = self.run(self.mongo.collection.find({}).sort("_id", 1).to_list(None))
        runs = [
            (
                run.run_task_id,
                run.fields,
                list(run.steps.items()),
                run.revision,
                run.owner,
                run.registry,
                run.updated_at,
            )
            for run in self.reference._runs.values()
        ]
        return bson.encode({"mongo": docs}) + repr(runs).encode()

    def read(self, tenant: Tenant, call: Callable[[WorkflowStore], Awaitable[Any]]) -> Any:
        """A call that only reads: compared like any other, and it must change
        nothing stored, so the full check after the last write still holds."""
        dirty, before = self.dirty, self.stored()
        got = self.both(tenant, call)
        assert self.stored() == before, "a read changed what is stored"
        self.dirty = dirty
        return got

    def revision(self, run: str, expected: int | str | None) -> int | None:
        if expected != CURRENT:
            return expected  # type: ignore[return-value]
        doc = self.model.docs.get(run)
        return None if doc is None else doc.revision

    @initialize(
        seeds=st.lists(
            st.tuples(states, objects, wait_ids, st.sampled_from(["a", "$c", "d.e"])),
            min_size=2,
            max_size=3,
        )
    )
    def seed(self, seeds: list[tuple[WorkflowExecutionState, Any, str, str]]) -> None:
        """Start with runs whose context is an object, and waiting steps in them."""
        for run, (state, context, wait, step_id) in zip(RUN_IDS, seeds, strict=False):
            self.create_run(None, state.model_copy(update={"run_task_id": run, "context": context}))
            self.park(None, run, step_id, wait)

    # ── run-level ──

    @rule(tenant=views, state=states)
    def create_run(self, tenant: Tenant, state: WorkflowExecutionState) -> None:
        if self.both(tenant, lambda s: s.create_run(state))[0] == "ok":
            doc = self.model.write(state.run_task_id, tenant)
            doc.state = state.model_copy(deep=True)
            doc.context = copy.deepcopy(state.context)

    @rule(tenant=views, run=run_ids)
    def get_run(self, tenant: Tenant, run: str) -> None:
        self.read(tenant, lambda s: s.get_run(run))

    @rule(tenant=views, run=run_ids, context=contexts, expected=revisions)
    def update_context(self, tenant: Tenant, run: str, context: Any, expected: Any) -> None:
        revision = self.revision(run, expected)
        got = self.both(
            tenant, lambda s: s.update_context(run, context, expected_revision=revision)
        )
        if got[0] == "ok":
            self.model.write(run, tenant).context = copy.deepcopy(context)

    @rule(tenant=views, run=run_ids)
    def delete_run(self, tenant: Tenant, run: str) -> None:
        if self.both(tenant, lambda s: s.delete_run(run))[0] == "ok":
            self.model.docs.pop(run, None)

    @rule(
        tenant=views,
        filters=st.fixed_dictionaries(
            {},
            optional={
                "agent_id": st.sampled_from(AGENTS),
                "thread_id": st.sampled_from(THREADS),
                "user_id": st.sampled_from(["alice", "bob"]),
                "workspace_id": st.just("ws"),
            },
        ),
        limit=st.integers(1, 3),
    )
    def list_runs(self, tenant: Tenant, filters: dict[str, str], limit: int) -> None:
        got = self.read(tenant, lambda s: all_pages(s, limit=limit, **filters))
        listed = [run[1]["run_task_id"] for page in got[1] for run in page[1]]
        assert listed == self.model.listed(tenant, **filters)

    # ── step-level ──

    @rule(tenant=views, run=run_ids, step=steps)
    def upsert_step(self, tenant: Tenant, run: str, step: WorkflowStepState) -> None:
        if self.both(tenant, lambda s: s.upsert_step(run, step))[0] == "ok":
            self.model.put_step(self.model.write(run, tenant), step)

    @rule(tenant=views, run=run_ids, step_id=step_ids, wait=wait_ids)
    def park(self, tenant: Tenant, run: str, step_id: str, wait: str) -> None:
        """A step that waits for input: what `complete_wait` completes."""
        step = WorkflowStepState(
            step_id=step_id, status=TaskStatus.INPUT_REQUIRED, wait_task_id=wait, started_at=EPOCH
        )
        self.upsert_step(tenant, run, step)

    @rule(tenant=views, run=run_ids, step_id=step_ids)
    def get_step(self, tenant: Tenant, run: str, step_id: str) -> None:
        self.read(tenant, lambda s: s.get_step(run, step_id))

    @rule(tenant=views, run=run_ids)
    def list_steps(self, tenant: Tenant, run: str) -> None:
        self.read(tenant, lambda s: s.list_steps(run))

    @rule(
        tenant=views,
        run=run_ids,
        step=steps,
        updates=context_updates,
        expected=revisions,
    )
    def commit_step(
        self,
        tenant: Tenant,
        run: str,
        step: WorkflowStepState,
        updates: dict[str, Any] | None,
        expected: Any,
    ) -> None:
        revision = self.revision(run, expected)
        got = self.both(
            tenant,
            lambda s: s.commit_step(run, step, context_updates=updates, expected_revision=revision),
        )
        if got[0] == "ok":
            doc = self.model.write(run, tenant)
            self.model.put_step(doc, step)
            self.model.merge(doc, updates or {}, step.step_id, step.result)

    # ── waits ──

    @rule(tenant=views, wait=wait_ids)
    def find_wait(self, tenant: Tenant, wait: str) -> None:
        self.read(tenant, lambda s: s.find_wait(wait))

    @rule(
        tenant=views,
        wait=wait_ids,
        result=json_values,
        failed=st.booleans(),
        key=st.sampled_from([None, "key-1", "key-2"]),
    )
    def complete_wait(
        self, tenant: Tenant, wait: str, result: Any, failed: bool, key: str | None
    ) -> None:
        status = TaskStatus.FAILED if failed else TaskStatus.COMPLETED
        error = "no" if failed else None
        got = self.both(
            tenant,
            lambda s: s.complete_wait(
                wait, result, status=status, error=error, idempotency_key=key
            ),
        )
        if got[0] != "ok":
            return
        run, (_, dumped) = got[1]
        doc = self.model.docs[run]
        before = doc.steps[dumped["step_id"]]
        if before.status is not TaskStatus.INPUT_REQUIRED:
            # A replay: the call with this key completed the wait earlier.
            assert dumped == before.model_dump()
            return
        completed = WorkflowStepState.model_validate(dumped)
        assert (
            completed.model_dump()
            == before.model_copy(
                update={
                    "status": status,
                    "result": result,
                    "error": error,
                    "completed_at": self.clock.now,
                }
            ).model_dump()
        )
        assert same(completed.result, result)
        self.model.write(run, tenant)
        self.model.put_step(doc, completed)
        self.model.merge(doc, {}, completed.step_id, result)

    # ── invariants ──

    @invariant()
    def both_stores_and_the_model_agree(self) -> None:
        """On every run, step list, wait and page, read once from each store.

        Skipped after a rule that only read: `read` checked that nothing stored
        changed, so what this checked after the last write still holds.
        """
        if not self.dirty:
            return
        self.dirty = False
        for run in RUN_IDS:
            expected_run = self.run(outcome(self.reference.get_run(run)))
            actual_run = self.run(outcome(self.mongo.get_run(run)))
            assert same(actual_run, expected_run), f"get_run({run!r})"
            expected_steps = self.run(outcome(self.reference.list_steps(run)))
            actual_steps = self.run(outcome(self.mongo.list_steps(run)))
            assert same(actual_steps, expected_steps), f"list_steps({run!r})"
            self.check_model(run)
        for wait in WAIT_IDS:
            expected = self.run(outcome(self.reference.find_wait(wait)))
            actual = self.run(outcome(self.mongo.find_wait(wait)))
            assert same(actual, expected), f"find_wait({wait!r}):\n{actual!r}\n{expected!r}"
        for tenant in (None, ("alice", None)):
            pages = {}
            for name, store in (("reference", self.reference), ("mongo", self.mongo)):
                pages[name] = self.run(all_pages(view(store, tenant), limit=2))
                listed = [run.run_task_id for page in pages[name] for run in page.items]
                assert listed == self.model.listed(tenant), (name, tenant)
            assert same(observable(pages["mongo"]), observable(pages["reference"]))

    def check_model(self, run: str) -> None:
        """What is stored is what was written: steps once, in order, last value."""
        doc = self.model.docs.get(run)
        stored_steps = self.run(self.reference.list_steps(run))
        got = self.run(self.reference.get_run(run))
        if doc is None:
            assert stored_steps == [] and got is None
            return
        assert [s.step_id for s in stored_steps] == list(doc.steps)
        for stored, written in zip(stored_steps, doc.steps.values(), strict=True):
            assert same(stored.model_dump(), written.model_dump()), stored.step_id
        if doc.state is None:
            assert got is None
            return
        assert got is not None and got.revision == doc.revision
        assert same(got.input, doc.state.input)
        assert same(got.definition.model_dump(), doc.state.definition.model_dump())
        assert same(canonical(got.context), canonical(doc.context))
        assert (got.created_at, got.user_id, got.workspace_id, got.entry_point) == (
            doc.state.created_at,
            doc.state.user_id,
            doc.state.workspace_id,
            doc.state.entry_point,
        )


def _run(max_examples: int, steps: int) -> None:
    run_state_machine_as_test(
        StoresAgree,
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_stores_agree_under_random_operations() -> None:
    _run(max_examples=50, steps=40)


@pytest.mark.soak
def test_stores_agree_soak() -> None:
    _run(max_examples=2000, steps=60)
