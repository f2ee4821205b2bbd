"""`mongo-wfstore gc` and `mongo-wfstore bench`.

`gc` deletes the GridFS blobs that no run references any more (what a crash or
a TTL index left behind): `MongoWorkflowStore.sweep_blobs`. Run it on a
schedule when a retention TTL expires runs.

`bench` is the benchmark (`mongo_wfstore._bench`); its options are the
benchmark's own, passed through unchanged (`mongo-wfstore bench --help`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from .._mongo import MongoWorkflowStore
from . import PROG
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
)

__all__ = ["bench", "gc"]


def gc(
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            metavar="HOURS",
            help="Keep blobs younger than this: they may belong to a write in flight.",
        ),
    ] = 1.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count.")] = False,
    json_output: JsonOption = False,
    uri: UriOption = None,
    db: DbOption = DEFAULT_DB,
    collection: CollectionOption = DEFAULT_COLLECTION,
    timeout: TimeoutOption = DEFAULT_TIMEOUT_MS,
) -> None:
    """Delete the offloaded-value blobs that no run references any more.

    They are what a crash between a blob's upload and its run's update leaves,
    and the blobs of runs a TTL index expired. Safe while writers are active.
    """
    if grace < 0:
        fail(f"--grace must be zero or more hours, got {grace}", 2)
    target = Target(uri, db, collection, timeout)

    async def sweep(coll: Any) -> int:
        store = MongoWorkflowStore(coll)
        return await store.sweep_blobs(grace=timedelta(hours=grace), dry_run=dry_run)

    count = run(target, sweep)
    if json_output:
        print_json({"blobs": count, "dry_run": dry_run, "grace_hours": grace})
        return
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {count} unreferenced blob(s) of {target.namespace}")


def bench(ctx: typer.Context) -> None:
    """Benchmark this store against read-modify-write and two-collection designs.

    Options: `mongo-wfstore bench --help`. Default: the embedded mongomock-motor
    (its times are Python's, not MongoDB's); --uri for a real server.
    """
    from .._bench.command import main as bench_main

    raise typer.Exit(bench_main(list(ctx.args), prog=f"{PROG} bench"))
