"""The `mongo-wfstore` command-line tool: demo, index setup, runs, purging, gc, bench.

It needs the `cli` extra (typer and rich): `pip install 'mongo-wfstore[cli]'`.
`main` is the console script's entry point; without the extra it says so in
one line and exits 2 instead of raising an ImportError. Importing this package
never imports typer or rich, so the plain library install does not need them.

Layout: `app` builds the typer application and registers one function per
command; `common` holds what every command shares (connection options, error
handling, output); `clients` opens a MongoDB client for a connection string,
or the in-memory mongomock-motor one for `mock://`; `demo`, `indexes`,
`runs`, `purge` and `maintenance` (`gc`, `bench`) hold the commands.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

PROG = "mongo-wfstore"


def main(argv: Sequence[str] | None = None, *, prog_name: str = PROG) -> None:
    """Run the command line (`argv`, default `sys.argv[1:]`) and exit with its code."""
    try:
        import rich  # noqa: F401
        import typer  # noqa: F401
    except ImportError as exc:
        missing = exc.name or "typer"
        print(
            f"{PROG}: the command-line tool needs the 'cli' extra ({missing} is not installed): "
            f"pip install 'mongo-wfstore[cli]'",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    from .app import app

    app(args=None if argv is None else list(argv), prog_name=prog_name)
