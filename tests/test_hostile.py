"""Every case of the hostile corpus, through both stores and every field that holds
JSON: it round-trips exactly (types included), with the raw stored document one
a server accepts, or it is refused with `InvalidInputError` naming the path, and
nothing is written.

The fields: a run's `input` and `context` (`create_run`), `update_context`, a
step's `result` (`upsert_step`), `commit_step`'s result (stored in the step and
at `context.steps.<id>`), a `context_updates` value and, for objects, its keys
(each becomes a context key, so an update path), `complete_wait`'s result (step
and context), and the definition's `input_schema`. Keys of object cases are also
tried as step ids (each becomes part of the path `context.steps.<id>`).

Warnings are errors here: a value must not make the stack warn (pydantic does,
past its serialization depth) on its way in or out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mongo_wfstore import (
    InMemoryWorkflowStore,
    InvalidInputError,
    TaskStatus,
    WorkflowExecutionState,
    WorkflowStepState,
    WorkflowStore,
)
from mongo_wfstore._encoding import has_lone_surrogate

from .doubles import assert_storable
from .hostile_corpus import CORPUS, Case
from .strategies import same
from .test_contract import new_state
from .test_mongo_design import mock_store

pytestmark = pytest.mark.filterwarnings("error")

BASE = new_state("base").with_context({"keep": True})
WAITING = WorkflowStepState(
    step_id="ask", status=TaskStatus.INPUT_REQUIRED, wait_task_id="wait-base"
)


class Stores:
    """One store of each kind, and the raw collection behind the MongoDB one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "memory":
            self.store: WorkflowStore = InMemoryWorkflowStore()
            self.raw: Any = None
        else:
            self.store, self.raw = mock_store()

    async def check_raw(self, run: str) -> None:
        if self.raw is not None:
            doc = await self.raw.find_one({"_id": run})
            if doc is not None:
                assert_storable(doc)


Write = Callable[[WorkflowStore, str, Any], Awaitable[Any]]
Read = Callable[[WorkflowStore, str, Any], Awaitable[list[tuple[str, Any]]]]


async def _context(store: WorkflowStore, run: str) -> Any:
    got = await store.get_run(run)
    assert got is not None
    return got.context


async def _step_result(store: WorkflowStore, run: str, step_id: str = "s") -> Any:
    step = await store.get_step(run, step_id)
    assert step is not None
    listed = [s for s in await store.list_steps(run) if s.step_id == step_id]
    assert len(listed) == 1 and same(listed[0].result, step.result)
    return step.result


def _with_schema(state: WorkflowExecutionState, schema: Any) -> WorkflowExecutionState:
    definition = state.definition.model_copy(update={"input_schema": schema})
    return state.model_copy(update={"definition": definition})


async def _read_input(store: WorkflowStore, run: str) -> Any:
    got = await store.get_run(run)
    assert got is not None
    return got.input


async def _read_schema(store: WorkflowStore, run: str) -> Any:
    got = await store.get_run(run)
    assert got is not None
    return got.definition.input_schema


async def _complete(store: WorkflowStore, run: str, value: Any) -> Any:
    _, step = await store.complete_wait(f"wait-{run}", value)
    return step.result


async def _completed_result(store: WorkflowStore, run: str) -> Any:
    context_result = (await _context(store, run))["steps"]["ask"]
    step_result = await _step_result(store, run, "ask")
    assert same(context_result, step_result)
    return step_result


async def _committed_result(store: WorkflowStore, run: str) -> Any:
    context_result = (await _context(store, run))["steps"]["s"]
    step_result = await _step_result(store, run)
    assert same(context_result, step_result)
    return step_result


# (field, path named when refused, write, read back)
FIELDS: list[tuple[str, str, Write, Callable[[WorkflowStore, str], Awaitable[Any]]]] = [
    (
        "input",
        "input",
        lambda s, run, v: s.create_run(BASE.model_copy(update={"run_task_id": run, "input": v})),
        _read_input,
    ),
    (
        "context (create_run)",
        "context",
        lambda s, run, v: s.create_run(BASE.model_copy(update={"run_task_id": run, "context": v})),
        _context,
    ),
    ("context (update_context)", "context", lambda s, run, v: s.update_context(run, v), _context),
    (
        "step result",
        "result",
        lambda s, run, v: s.upsert_step(run, WorkflowStepState(step_id="s", result=v)),
        _step_result,
    ),
    (
        "commit_step result",
        "result",
        lambda s, run, v: s.commit_step(run, WorkflowStepState(step_id="s", result=v)),
        _committed_result,
    ),
    (
        "context_updates value",
        "context_updates['k']",
        lambda s, run, v: s.commit_step(
            run, WorkflowStepState(step_id="s"), context_updates={"k": v}
        ),
        lambda s, run: _context_key(s, run, "k"),
    ),
    ("complete_wait result", "result", _complete, _completed_result),
    (
        "definition input_schema",
        "definition.input_schema",
        lambda s, run, v: s.create_run(
            _with_schema(BASE.model_copy(update={"run_task_id": run}), v)
        ),
        _read_schema,
    ),
]


async def _context_key(store: WorkflowStore, run: str, key: str) -> Any:
    return (await _context(store, run))[key]


async def _prepare(stores: Stores, run: str) -> None:
    await stores.store.create_run(BASE.model_copy(update={"run_task_id": run}))
    await stores.store.upsert_step(run, WAITING.model_copy(update={"wait_task_id": f"wait-{run}"}))


async def _everything(store: WorkflowStore, run: str) -> Any:
    got = await store.get_run(run)
    steps = await store.list_steps(run)
    return (
        None if got is None else got.model_dump(warnings=False),
        [s.model_dump(warnings=False) for s in steps],
    )


def _cases(*, big: bool) -> list[Any]:
    return [pytest.param(case, id=case.name) for case in CORPUS if case.big == big]


@pytest.mark.parametrize("kind", ["memory", "mock"])
@pytest.mark.parametrize("case", _cases(big=False) + _cases(big=True))
async def test_a_hostile_value_round_trips_or_is_refused_in_every_json_field(
    case: Case, kind: str
) -> None:
    value = case.value()
    stores = Stores(kind)
    for field, root, write, read in FIELDS:
        run = f"run {field}"
        await _prepare(stores, run)
        before = await _everything(stores.store, run)
        if case.refused is None:
            await write(stores.store, run, value)
            await stores.check_raw(run)
            back = await read(stores.store, run)
            assert same(back, value), f"{case.name}: {field} did not round-trip"
        else:
            with pytest.raises(InvalidInputError, match=case.refused) as info:
                await write(stores.store, run, value)
            assert info.value.path is not None and info.value.path.startswith(root), (
                field,
                info.value.path,
            )
            assert info.value.path in str(info.value)
            assert await _everything(stores.store, run) == before, f"{field}: something written"
        if case.big:
            await stores.store.delete_run(run)  # keep memory use flat


@pytest.mark.parametrize("kind", ["memory", "mock"])
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.name)
        for c in CORPUS
        if not c.big and c.refused is None and isinstance(c.value(), dict)
    ],
)
async def test_hostile_keys_work_as_context_update_keys_and_step_ids(case: Case, kind: str) -> None:
    value = case.value()
    stores = Stores(kind)
    await _prepare(stores, "run")
    await stores.store.commit_step("run", WorkflowStepState(step_id="s"), context_updates=value)
    context = await _context(stores.store, "run")
    assert same({k: context[k] for k in value}, value)
    ids = [key for key in value if key and not has_lone_surrogate(key)]
    for step_id in ids:
        await stores.store.commit_step(
            "run", WorkflowStepState(step_id=step_id, result={step_id: step_id})
        )
    await stores.check_raw("run")
    context = await _context(stores.store, "run")
    assert same({i: context["steps"][i] for i in ids}, {i: {i: i} for i in ids})
    steps = await stores.store.list_steps("run")
    assert [s.step_id for s in steps] == ["ask", "s", *ids]


def test_every_case_says_why_it_is_hostile() -> None:
    names = [case.name for case in CORPUS]
    assert len(names) == len(set(names))
    assert all(case.why for case in CORPUS)
