"""The README's examples run as written (the client swapped for the in-process mock)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pymongo
import pytest
from mongomock_motor import AsyncMongoMockClient

README = Path(__file__).resolve().parents[1] / "README.md"


class _MockClient:
    """Stands in for `AsyncMongoClient`: same constructor, mongomock behind it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._client = AsyncMongoMockClient()

    def __getitem__(self, name: str) -> Any:
        return self._client[name]

    async def close(self) -> None:
        self._client.close()


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_usage_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    example = python_blocks(README.read_text())[0]
    assert "AsyncMongoClient" in example
    monkeypatch.setattr(pymongo, "AsyncMongoClient", _MockClient)
    exec(compile(example, str(README), "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.strip() == "['completed']"
