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

from mongo_wfstore import WorkflowStore
from mongo_wfstore._store import decode_cursor, encode_cursor

from .test_contract import new_state

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
