"""`mongo-wfstore init-indexes`: create or check the indexes, at deploy time.

The work is `ensure_indexes` (`mongo_wfstore._indexes`); this module parses
the options, prints the report as a table (or JSON) and picks the exit code:
0 done or nothing to do, 1 a conflict (nothing was changed), 2 bad arguments
or no server.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .._indexes import IndexAction, IndexEntry, IndexReport, ensure_indexes
from .common import (
    DEFAULT_COLLECTION,
    DEFAULT_DB,
    DEFAULT_TIMEOUT_MS,
    CollectionOption,
    DbOption,
    JsonOption,
    Target,
    TimeoutOption,
    UriOption,
    fail,
    print_json,
    run,
    stdout_console,
)

__all__ = ["init_indexes", "render_report"]

_STYLES = {
    IndexAction.CREATE: "green",
    IndexAction.UNCHANGED: "dim",
    IndexAction.UPDATE_TTL: "yellow",
    IndexAction.REBUILD: "yellow",
    IndexAction.DROP: "yellow",
    IndexAction.KEEP: "cyan",
    IndexAction.EXTRA: "dim",
    IndexAction.CONFLICT: "bold red",
}


def init_indexes(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and change nothing.")
    ] = False,
    retention: Annotated[
        float | None,
        typer.Option(
            "--retention",
            metavar="DAYS",
            help="Add (or change in place) the TTL index wf_retention: the server deletes "
            "runs DAYS days after their last update.",
            show_default=False,
        ),
    ] = None,
    no_retention: Annotated[
        bool,
        typer.Option("--no-retention", help="Drop the TTL index wf_retention: runs stop expiring."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Drop and rebuild wf_ indexes that differ from their declaration "
            "(never an index not named wf_).",
        ),
    ] = False,
    json_output: JsonOption = False,
    uri: UriOption = None,
    db: DbOption = DEFAULT_DB,
    collection: CollectionOption = DEFAULT_COLLECTION,
    timeout: TimeoutOption = DEFAULT_TIMEOUT_MS,
) -> None:
    """Create the indexes the store's queries need; idempotent, safe to run at every deploy.

    Exits 0 when done or nothing is to do, 1 on a conflict (an index that
    differs from its declaration: nothing is changed), 2 when the arguments
    are wrong or the server cannot be reached.
    """
    if retention is not None and no_retention:
        fail("--retention and --no-retention cannot be used together", 2)
    target = Target(uri, db, collection, timeout)
    report = run(
        target,
        lambda coll: ensure_indexes(
            coll,
            retention_days=retention,
            drop_retention=no_retention,
            dry_run=dry_run,
            force=force,
        ),
    )
    if json_output:
        print_json(report.to_dict())
    else:
        render_report(report)
    if not report.ok:
        names = ", ".join(entry.name for entry in report.conflicts)
        fail(
            f"{len(report.conflicts)} index(es) differ from their declaration ({names}); "
            "nothing was changed. --force drops and rebuilds wf_ indexes",
            1,
        )


def render_report(report: IndexReport) -> None:
    """Print the report as a table and a one-line outcome."""
    console = stdout_console()
    table = Table(title=f"Indexes of {report.namespace}", title_justify="left")
    table.add_column("index", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("specification")
    table.add_column("notes")
    for entry in report.entries:
        table.add_row(
            Text(entry.name),
            Text(entry.action.value, style=_STYLES[entry.action]),
            Text(_specification(entry)),
            Text("\n".join(entry.reasons)),
        )
    console.print(table)
    typer.echo(_outcome(report))


def _specification(entry: IndexEntry) -> str:
    """The declared index (else the existing one) as key pattern and options."""
    index = entry.desired or entry.existing or {}
    key: dict[str, Any] = index.get("key", {})
    parts = ["{" + ", ".join(f"{field}: {json.dumps(value)}" for field, value in key.items()) + "}"]
    for option, value in index.items():
        if option not in ("key", "name"):
            parts.append(f"{option}: {json.dumps(value, default=str)}")
    return "\n".join(parts) if key else ""


def _outcome(report: IndexReport) -> str:
    """One line: what happened, or would happen in a dry run."""
    summary = report.summary()
    if not report.ok:
        return f"conflict, nothing changed: {summary}"
    if report.dry_run:
        return f"dry run, nothing changed: {summary}"
    if report.changed:
        return f"done: {summary}"
    return f"nothing to do: {summary}"
