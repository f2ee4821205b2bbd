"""The typer application: every command of `mongo-wfstore`, registered in one place.

A command is one function in a module of this package (`indexes`, `runs`,
`purge`), registered here with one line. Still to come, from the store work
under way: `runs list` (on `list_runs`) in `runs`, and `demo`, which will run
on the in-memory database (`mock://`, see `clients`) when neither `--uri` nor
`$MONGODB_URI` is given.
"""

from __future__ import annotations

import typer

from . import indexes, purge, runs

__all__ = ["app", "runs_app"]

app = typer.Typer(
    name="mongo-wfstore",
    help="Operate a mongo_wfstore runs collection: indexes, runs, purging.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold a connection string's password
)
runs_app = typer.Typer(help="Look at or delete one run.", no_args_is_help=True)

app.command("init-indexes")(indexes.init_indexes)
app.command("purge")(purge.purge)
app.add_typer(runs_app, name="runs")
runs_app.command("show")(runs.show)
runs_app.command("delete")(runs.delete)
