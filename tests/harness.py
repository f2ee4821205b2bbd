"""Shared machinery of the reliability tests: a controlled clock, what a caller can
observe of a store, and how a call turned out.

- `controlled_clock()` replaces the stores' clock (`utc_now` in the modules that
  stamp `updated_at` and `completed_at`) with one the test sets. Both stores then
  stamp the same instants, so their states compare exactly, with nothing
  normalised away.
- `observable(value)` is what a caller sees of a result: models as their dumps
  (`revision` included), pages as items and cursor.
- `outcome(call)` awaits a call and returns `("ok", observable result)` or
  `("error", type name, message)`.
- `snapshot(store, ...)` reads everything observable about some runs and waits.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest import mock

from mongo_wfstore import (
    RunPage,
    WorkflowExecutionState,
    WorkflowStepState,
    WorkflowStore,
    _blobs,
    _encoding,
    _memory,
    _mongo,
)

CLOCK_START = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)

CLOCKED_MODULES = (_mongo, _memory, _encoding, _blobs)
"""The modules that call `utc_now` to stamp what they write."""


class Clock:
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime = CLOCK_START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, milliseconds: int = 1) -> None:
        self.now += timedelta(milliseconds=milliseconds)


@contextmanager
def controlled_clock(start: datetime = CLOCK_START) -> Iterator[Clock]:
    """Make every store stamp writes with `clock.now` while the block runs."""
    clock = Clock(start)
    with ExitStack() as stack:
        for module in CLOCKED_MODULES:
            stack.enter_context(mock.patch.object(module, "utc_now", clock))
        yield clock


def observable(value: Any) -> Any:
    """What a caller can see of a result, as plain data (types kept)."""
    if isinstance(value, (WorkflowExecutionState, WorkflowStepState)):
        return (type(value).__name__, value.model_dump(warnings=False))
    if isinstance(value, RunPage):
        return ("page", observable(value.items), value.next_cursor)
    if isinstance(value, (list, tuple)):
        return [observable(item) for item in value]
    return copy.deepcopy(value)


async def outcome(call: Awaitable[Any]) -> tuple[Any, ...]:
    """How a call turned out: its observable result, or its error's type and message."""
    try:
        return ("ok", observable(await call))
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


async def all_pages(store: WorkflowStore, *, limit: int, **filters: Any) -> list[RunPage]:
    """Every page of `list_runs`, following `next_cursor` to the end."""
    pages = [await store.list_runs(limit=limit, **filters)]
    while pages[-1].next_cursor is not None:
        pages.append(await store.list_runs(limit=limit, cursor=pages[-1].next_cursor, **filters))
        assert len(pages) <= 10_000, "list_runs never ends"
    return pages


async def snapshot(
    store: WorkflowStore, run_ids: Sequence[str], wait_ids: Sequence[str] = ()
) -> list[Any]:
    """Everything observable about these runs and waits, through `store`."""
    seen: list[Any] = []
    for run_task_id in run_ids:
        seen.append(await outcome(store.get_run(run_task_id)))
        seen.append(await outcome(store.list_steps(run_task_id)))
    for wait_task_id in wait_ids:
        seen.append(await outcome(store.find_wait(wait_task_id)))
    seen.append(await outcome(store.list_runs(limit=1000)))
    return seen
