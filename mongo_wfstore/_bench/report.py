"""Showing a benchmark with rich: a progress bar while it runs, then the tables.

`run_and_report(config)` is what a command-line entry calls: it runs the
benchmark with a progress bar on stderr, prints every table and the targets
(PASS/FAIL, one line each) on stdout, and writes the JSON if asked.
`render(result, console)` prints a finished `BenchResult`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .config import DESIGN_LABELS, BenchConfig
from .results import OP_KINDS, BenchResult
from .workload import run_benchmark

__all__ = ["RichProgress", "render", "run_and_report"]


class RichProgress:
    """A `ProgressSink` drawing one bar per section."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None
        self._total = 0

    def start(self, description: str, total: int) -> None:
        self._finish()
        self._total = max(1, total)
        self._task = self._progress.add_task(description, total=self._total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def _finish(self) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._total)


def _bytes(value: float) -> str:
    if value >= 1 << 20:
        return f"{value / (1 << 20):,.2f} MiB"
    if value >= 10 * 1024:
        return f"{value / 1024:,.1f} KiB"
    return f"{value:,.0f} B"


def _ms(value: float) -> str:
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def _num(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, title_style="bold")
    for number, column in enumerate(columns):
        table.add_column(column, justify="left" if number == 0 else "right")
    return table


def render(result: BenchResult, console: Console) -> None:
    """Print every table of `result`, then the targets and the notes."""
    config = result.config
    console.print(f"[bold]mongo-wfstore bench[/] on [bold]{result.backend_label}[/]")
    resume = ", ".join(f"{fraction:.0%}" for fraction in config["resume_at"]) or "never"
    env = result.environment
    console.print(
        f"{config['runs']} runs x {config['steps']} steps, {config['concurrency']} runs at a "
        f"time, results of {config['result_bytes']:,} B, resume at {resume}, "
        f"seed {config['seed']}; {env['cpu']} ({env['cpu_count']} cores), "
        f"Python {env['python']}, PyMongo {env['pymongo']}",
        highlight=False,
    )
    console.print()
    for table in (
        _workload_table(result),
        _operations_table(result),
        _scaling_table(result),
        _contention_table(result),
        _isolation_table(result),
        _encoding_table(result),
    ):
        if table is not None:
            console.print(table)
    console.print("[bold]Targets[/]")
    for target in result.targets:
        mark = "[green]PASS[/]" if target.passed else "[red]FAIL[/]"
        console.print(f"{mark} {target.name}", highlight=False)
        console.print(f"     {target.detail}", highlight=False)
    console.print()
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"({result.duration_seconds:.1f} s)")


def _workload_table(result: BenchResult) -> Table | None:
    if not result.workload:
        return None
    table = _table(
        "Engine workload",
        "design",
        "ops/s",
        "wall s",
        "commands",
        "sent",
        "received",
        "conflicts",
        "retries",
        "gave up",
        "runs verified",
    )
    for row in result.workload:
        table.add_row(
            DESIGN_LABELS[row.design],
            f"{row.ops_per_second:,.0f}",
            f"{row.wall_seconds:.2f}",
            f"{row.commands:,}",
            _bytes(row.sent_bytes),
            _bytes(row.received_bytes),
            f"{row.conflicts:,}",
            f"{row.retries:,}",
            f"{row.gave_up:,}",
            f"{row.runs_verified}/{result.config['runs']}",
        )
    return table


def _operations_table(result: BenchResult) -> Table | None:
    if not result.workload:
        return None
    table = _table(
        "Per operation (latency in ms; cost per operation)",
        "operation",
        "design",
        "count",
        "p50",
        "p99",
        "commands",
        "sent",
        "received",
    )
    for kind, label in OP_KINDS.items():
        rows = [(row.design, op) for row in result.workload for op in row.ops if op.kind == kind]
        for number, (design, op) in enumerate(rows):
            table.add_row(
                label if number == 0 else "",
                DESIGN_LABELS[design],
                f"{op.count:,}",
                _ms(op.p50_ms),
                _ms(op.p99_ms),
                _num(op.commands_per_op),
                _bytes(op.sent_bytes_per_op),
                _bytes(op.received_bytes_per_op),
                end_section=number == len(rows) - 1,
            )
    return table


def _scaling_table(result: BenchResult) -> Table | None:
    if not result.scaling:
        return None
    table = _table(
        "One step write in a run that already has N steps (bytes sent + received)",
        "design",
        "N",
        "run size",
        "update cmds",
        "update bytes",
        "update p50 ms",
        "insert cmds",
        "insert bytes",
        "insert p50 ms",
    )
    designs = list(dict.fromkeys(point.design for point in result.scaling))
    for design in designs:
        points = [point for point in result.scaling if point.design == design]
        for number, point in enumerate(points):
            table.add_row(
                DESIGN_LABELS[design] if number == 0 else "",
                f"{point.steps_in_run:,}",
                _bytes(point.run_bytes),
                _num(point.update_commands),
                _bytes(point.update_sent_bytes + point.update_received_bytes),
                _ms(point.update_p50_ms),
                _num(point.insert_commands),
                _bytes(point.insert_sent_bytes + point.insert_received_bytes),
                _ms(point.insert_p50_ms),
                end_section=number == len(points) - 1,
            )
    return table


def _contention_table(result: BenchResult) -> Table | None:
    if not result.contention:
        return None
    first = result.contention[0]
    table = _table(
        f"{first.writers} writers on ONE run, each inserting and completing its own steps",
        "design",
        "landed",
        "lost",
        "refused",
        "duplicates",
        "conflicts",
        "retries",
        "commands",
        "sent+received",
        "wall s",
    )
    for row in result.contention:
        table.add_row(
            DESIGN_LABELS[row.design],
            f"{row.landed}/{row.expected_steps}",
            f"{row.lost}",
            f"{row.refused}",
            f"{row.duplicates}",
            f"{row.conflicts:,}",
            f"{row.retries:,}",
            f"{row.commands:,}",
            _bytes(row.sent_bytes + row.received_bytes),
            f"{row.wall_seconds:.2f}",
        )
    return table


def _isolation_table(result: BenchResult) -> Table | None:
    if not result.isolation:
        return None
    table = _table(
        f"Reading one run of {result.config['isolation_steps']} steps among other runs "
        "(bytes received)",
        "design",
        "other runs",
        "get_run",
        "list_steps",
        "commands",
    )
    for row in result.isolation:
        for number, others in enumerate(row.other_runs):
            table.add_row(
                DESIGN_LABELS[row.design] if number == 0 else "",
                f"{others:,}",
                _bytes(row.get_run_received[number]),
                _bytes(row.list_steps_received[number]),
                f"{row.get_run_commands[number]} + {row.list_steps_commands[number]}",
                end_section=number == len(row.other_runs) - 1,
            )
    return table


def _encoding_table(result: BenchResult) -> Table | None:
    if not result.encoding:
        return None
    table = _table(
        f"Encoding vs plain bson (CPU only, median of {result.config['encoding_repeats']})",
        "result",
        "size",
        "encode: bson -> ours ms",
        "decode: bson -> ours ms",
    )
    for row in result.encoding:
        encode = row.ours_encode_ms / row.bson_encode_ms if row.bson_encode_ms else 0.0
        decode = row.ours_decode_ms / row.bson_decode_ms if row.bson_decode_ms else 0.0
        table.add_row(
            f"{row.shape} ({row.size})",
            f"{row.mib:.2f} MiB",
            f"{row.bson_encode_ms:.1f} -> {row.ours_encode_ms:.1f} (x{encode:.1f})",
            f"{row.bson_decode_ms:.1f} -> {row.ours_decode_ms:.1f} (x{decode:.1f})",
        )
    return table


def run_and_report(
    config: BenchConfig,
    *,
    json_path: str | Path | None = None,
    console: Console | None = None,
    show_progress: bool = True,
) -> BenchResult:
    """Run the benchmark with a progress bar, print it, and write the JSON if asked."""
    out = console or _stdout_console()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not show_progress,
    )
    with progress:
        result = asyncio.run(run_benchmark(config, progress=RichProgress(progress)))
    render(result, out)
    if json_path is not None:
        Path(json_path).write_text(result.to_json() + "\n", encoding="utf-8")
        out.print(f"figures written to {json_path}")
    return result


def _stdout_console() -> Console:
    console = Console()
    if not console.is_terminal:
        # Piped or redirected: rich would fall back to 80 columns and fold the tables.
        console = Console(width=140)
    return console
