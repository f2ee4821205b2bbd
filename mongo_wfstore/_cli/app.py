"""The typer application: every command of `mongo-wfstore`, registered in one place.

A command is one function in a module of this package (`demo`, `indexes`,
`runs`, `purge`, `maintenance`), registered here with one line.
"""

from __future__ import annotations

import typer

from . import demo, indexes, maintenance, purge, runs

__all__ = ["app", "runs_app"]

app = typer.Typer(
    name="mongo-wfstore",
    help="Workflow execution state on MongoDB: a demo, index setup, runs, purging, benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold a connection string's password
)
runs_app = typer.Typer(help="List, show or delete runs.", no_args_is_help=True)

app.command("demo")(demo.demo)
app.command("init-indexes")(indexes.init_indexes)
app.add_typer(runs_app, name="runs")
runs_app.command("list")(runs.list_runs)
runs_app.command("show")(runs.show)
runs_app.command("delete")(runs.delete)
app.command("purge")(purge.purge)
app.command("gc")(maintenance.gc)
app.command(
    "bench",
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "help_option_names": [],  # --help goes to the benchmark's own parser
    },
)(maintenance.bench)
