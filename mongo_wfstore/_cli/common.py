"""What every command shares: connection options, running on a collection, errors, output.

A command is one function that takes the connection options (`UriOption`,
`DbOption`, `CollectionOption`, `TimeoutOption`), `JsonOption` and its own
arguments, builds a `Target`, and calls `run(target, work)` with an async
`work(collection)`. `run` opens the client, runs `work`, closes the client,
and turns every expected failure into one line on stderr and an exit code:

| exit | when |
|---|---|
| 0 | done, or nothing to do |
| 1 | not found, a conflict, a server error, a declined confirmation |
| 2 | bad arguments, an unusable `--uri`, the server cannot be reached or refuses the login |

No traceback is printed for any of these; an unexpected exception (a bug)
keeps its traceback.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pymongo.errors import ServerSelectionTimeoutError
from rich.console import Console

from .._driver import DRIVER_ERRORS, translate_error
from .._exceptions import (
    DatabaseError,
    DatabaseUnavailableError,
    InvalidInputError,
    RunNotFoundError,
    WorkflowStoreError,
)
from . import PROG
from .clients import DEFAULT_URI, MOCK_SCHEME, open_collection

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_DB",
    "DEFAULT_TIMEOUT_MS",
    "CliError",
    "CollectionOption",
    "DbOption",
    "JsonOption",
    "Target",
    "TimeoutOption",
    "UriOption",
    "fail",
    "print_json",
    "run",
    "stderr_console",
    "stdout_console",
    "clock",
    "timestamp",
]

T = TypeVar("T")

DEFAULT_DB = "mongo_wfstore"
DEFAULT_COLLECTION = "workflow_runs"
DEFAULT_TIMEOUT_MS = 5000
_AUTHENTICATION_FAILED = 18

UriOption = Annotated[
    str | None,
    typer.Option(
        "--uri",
        envvar="MONGODB_URI",
        show_envvar=True,
        show_default=False,
        help=f"MongoDB connection string (default: $MONGODB_URI, then {DEFAULT_URI}; "
        "mock:// is an in-memory database for tests).",
    ),
]
DbOption = Annotated[str, typer.Option("--db", help="Database name.")]
CollectionOption = Annotated[str, typer.Option("--collection", help="Collection of the runs.")]
TimeoutOption = Annotated[
    int,
    typer.Option(
        "--timeout",
        help="Milliseconds to wait for the server to answer before giving up (exit 2).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead.")]


class CliError(Exception):
    """An expected failure: `run` prints it as one line on stderr and exits `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Target:
    """Where a command works: a connection string, a database and a collection.

    `uri` None means the default: `$MONGODB_URI` was not set either (typer
    reads it), so `mongodb://localhost:27017`.
    """

    uri: str | None
    db: str
    collection: str
    timeout_ms: int

    @property
    def resolved_uri(self) -> str:
        """The connection string used."""
        return self.uri or DEFAULT_URI

    @property
    def where(self) -> str:
        """The connection string without credentials or options, safe to print."""
        shown = re.sub(r"//[^@/]*@", "//", self.resolved_uri)
        return shown.split("?", 1)[0]

    @property
    def namespace(self) -> str:
        """`db.collection`."""
        return f"{self.db}.{self.collection}"


def run(target: Target, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `await work(collection)` on the target's collection and return its result.

    Expected failures become one line on stderr and an exit code (module doc).
    """
    if target.timeout_ms <= 0:
        fail(f"--timeout must be a positive number of milliseconds, got {target.timeout_ms}", 2)
    try:
        return asyncio.run(_on_collection(target, work))
    except CliError as exc:
        fail(str(exc), exc.exit_code)
    except DRIVER_ERRORS as exc:  # a driver call the library did not wrap
        _fail_store_error(target, translate_error(exc, f"working on {target.namespace}"))
    except WorkflowStoreError as exc:
        _fail_store_error(target, exc)
    except NotImplementedError as exc:
        if not target.resolved_uri.startswith(MOCK_SCHEME):
            raise
        fail(f"the in-memory mock cannot do this ({exc})", 2)


async def _on_collection(target: Target, work: Callable[[Any], Awaitable[T]]) -> T:
    async with open_collection(
        target.resolved_uri, target.db, target.collection, timeout_ms=target.timeout_ms
    ) as collection:
        return await work(collection)


def _fail_store_error(target: Target, exc: WorkflowStoreError) -> NoReturn:
    """Exit for an error from the library, with the code the module doc gives it."""
    if isinstance(exc, DatabaseUnavailableError):
        doing = str(exc).split(": the database is unavailable", 1)[0]
        if isinstance(exc.__cause__, ServerSelectionTimeoutError):
            fail(
                f"cannot reach MongoDB at {target.where} within {target.timeout_ms} ms "
                f"({doing}): {_driver_reason(exc)}",
                2,
            )
        fail(
            f"MongoDB at {target.where} did not answer ({doing}), the last write may or may "
            f"not have been applied: {_driver_reason(exc)}",
            2,
        )
    if isinstance(exc, InvalidInputError):
        fail(str(exc), 2)
    if isinstance(exc, RunNotFoundError):
        fail(str(exc), 1)
    if isinstance(exc, DatabaseError) and exc.code == _AUTHENTICATION_FAILED:
        fail(f"MongoDB at {target.where} refused the login: {exc}", 2)
    fail(f"database error: {exc}", 1)


def _driver_reason(exc: BaseException) -> str:
    """The driver's reason for a network failure, without the topology description."""
    text = str(exc.__cause__ or exc)
    text = text.split(", Timeout:", 1)[0]
    return re.sub(r" \(configured timeouts:[^)]*\)", "", text)


def fail(message: str, exit_code: int = 1) -> NoReturn:
    """Print `mongo-wfstore: error: message` as one line on stderr and exit."""
    line = " ".join(message.split())
    if len(line) > 500:
        line = line[:499] + "…"
    typer.echo(f"{PROG}: error: {line}", err=True)
    raise typer.Exit(exit_code)


def print_json(value: Any) -> None:
    """Print `value` as indented JSON on stdout (no colour, no wrapping)."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def stdout_console() -> Console:
    """A rich console on the current stdout (tables, summaries).

    Piped or redirected, rich would assume 80 columns and fold the tables: it
    gets 140 instead.
    """
    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal:
        console = Console(file=sys.stdout, highlight=False, width=140)
    return console


def stderr_console() -> Console:
    """A rich console on the current stderr (progress bars, warnings)."""
    return Console(file=sys.stderr, highlight=False)


def clock(value: datetime | None) -> str:
    """A UTC time of day as `03:04:05.678`; empty for None."""
    return timestamp(value)[11:-1]


def timestamp(value: datetime | None) -> str:
    """A UTC time as `2025-01-02 03:04:05.678Z`; empty for None."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
