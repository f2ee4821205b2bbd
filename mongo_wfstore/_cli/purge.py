"""`mongo-wfstore purge`: delete runs not updated for DAYS days, in batches.

The work is `purge_runs` (`mongo_wfstore._maintenance`); this module parses
the options, draws a progress bar on stderr (none with --json) and prints the
final count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._maintenance import MAX_BATCH_SIZE, PurgeResult, purge_runs
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
    stderr_console,
    timestamp,
)

__all__ = ["purge"]


def purge(
    older_than: Annotated[
        float,
        typer.Option(
            "--older-than",
            metavar="DAYS",
            help="Delete runs (and step-only documents) whose updated_at is older than this.",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be deleted.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", metavar="N", help="Documents deleted per command.")
    ] = 1000,
    json_output: JsonOption = False,
    uri: UriOption = None,
    db: DbOption = DEFAULT_DB,
    collection: CollectionOption = DEFAULT_COLLECTION,
    timeout: TimeoutOption = DEFAULT_TIMEOUT_MS,
) -> None:
    """Delete runs whose last update is older than DAYS days, in batches.

    Shows a progress bar on stderr when it is a terminal (never with --json).

    Runs written to during the purge are kept. Safe to interrupt and run
    again. The TTL index from `init-indexes --retention` makes the scan an
    index range; without it each purge scans the collection once.
    """
    if not older_than > 0 or older_than > 365_000:
        fail(f"--older-than must be more than 0 and at most 365000 days, got {older_than:g}", 2)
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        fail(f"--batch-size must be 1 to {MAX_BATCH_SIZE}, got {batch_size}", 2)
    target = Target(uri, db, collection, timeout)
    show_bar = not (json_output or dry_run)

    async def work(coll: Any) -> PurgeResult:
        with _progress_bar(enabled=show_bar) as progress:
            return await purge_runs(
                coll,
                older_than=timedelta(days=older_than),
                batch_size=batch_size,
                dry_run=dry_run,
                progress=progress,
            )

    result = run(target, work)
    if json_output:
        print_json(result.to_dict())
        return
    cutoff = timestamp(result.cutoff)
    if result.dry_run:
        line = (
            f"dry run: {result.matched} document(s) last updated before {cutoff} would be deleted"
        )
    else:
        line = (
            f"deleted {result.deleted} document(s) last updated before {cutoff} "
            f"in {result.batches} batch(es)"
        )
    typer.echo(f"{line} ({target.namespace}, older than {older_than:g} days)")


@contextmanager
def _progress_bar(*, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback drawing a bar on stderr, erased at the end; None
    unless `enabled` and stderr is a terminal.
    """
    console = stderr_console()
    if not enabled or not console.is_terminal:
        yield None
        return
    columns = (TextColumn("deleting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("deleting", total=None)

        def advance(deleted: int, matched: int) -> None:
            progress.update(task, completed=deleted, total=matched)

        yield advance
