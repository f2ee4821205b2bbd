"""`main(argv)`: the benchmark as a command, `python -m mongo_wfstore._bench`.

The options map one to one onto `BenchConfig`; a `mongo-wfstore bench` command
can offer the same ones and call `run_and_report`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .config import DESIGNS, MIB, BenchConfig

__all__ = ["build_parser", "config_from_args", "main"]


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())


def _fractions(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


def _mib(text: str) -> tuple[int, ...]:
    return tuple(int(float(part) * MIB) for part in text.split(",") if part.strip())


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_parser(prog: str = "python -m mongo_wfstore._bench") -> argparse.ArgumentParser:
    """The command's options; each default is `BenchConfig`'s."""
    default = BenchConfig()
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Run the same workflow-engine workload on this store, a read-modify-write "
            "store and a two-collection store, side by side: ops/s, latency, commands "
            "and bytes per operation, step cost as runs grow, 16 writers on one run, "
            "read isolation, and the encoding's CPU cost."
        ),
    )
    add = parser.add_argument
    add("--uri", help="a MongoDB URI; default: embedded mongomock-motor (times are Python's)")
    add("--runs", type=int, default=default.runs, help="R: runs per design (%(default)s)")
    add("--steps", type=int, default=default.steps, help="S: steps per run (%(default)s)")
    add(
        "--concurrency",
        type=int,
        default=default.concurrency,
        help="C: runs executed at the same time (%(default)s)",
    )
    add(
        "--result-bytes",
        type=int,
        default=default.result_bytes,
        help="BSON size of each step's result (%(default)s)",
    )
    add("--seed", type=int, default=default.seed, help="seeds the payloads (%(default)s)")
    add(
        "--resume-at",
        type=_fractions,
        default=default.resume_at,
        metavar="F,F",
        help="resume (get_run + list_steps) after these fractions of the steps; "
        "'' for never (default: 0.5,1)",
    )
    add("--json", metavar="PATH", help="write every figure to this JSON file")
    add(
        "--encoding",
        action=argparse.BooleanOptionalAction,
        default=default.encoding,
        help="run the encoding micro-benchmark (default: on)",
    )
    add(
        "--encoding-mib",
        type=_mib,
        default=default.encoding_sizes,
        metavar="N,N",
        help="result sizes of the encoding micro-benchmark, in MiB (default: 1,8)",
    )
    add(
        "--encoding-repeats",
        type=int,
        default=default.encoding_repeats,
        help="the encoding figures are medians of this many runs (%(default)s)",
    )
    add(
        "--designs",
        type=_names,
        default=default.designs,
        metavar="NAME,NAME",
        help=f"which designs to run (default: {','.join(DESIGNS)})",
    )
    add(
        "--scaling-steps",
        type=_ints,
        default=default.scaling_steps,
        metavar="N,N",
        help="run sizes at which one step write is measured (default: 10,100,1000)",
    )
    add(
        "--scaling-samples",
        type=int,
        default=default.scaling_samples,
        help="step writes measured at each run size (%(default)s)",
    )
    add(
        "--writers",
        type=int,
        default=default.writers,
        help="concurrent writers on one run (%(default)s)",
    )
    add(
        "--writer-steps",
        type=int,
        default=default.writer_steps,
        help="steps each of those writers writes (%(default)s)",
    )
    add(
        "--isolation-others",
        type=_ints,
        default=default.isolation_others,
        metavar="N,N",
        help="numbers of other runs present when one run is read (default: 0,10,100)",
    )
    add(
        "--rmw-max-attempts",
        type=int,
        default=default.rmw_max_attempts,
        help="attempts of a read-modify-write write before it gives up (%(default)s)",
    )
    add("--no-progress", action="store_true", help="do not draw the progress bar")
    add("--strict", action="store_true", help="exit with status 1 if a target fails")
    return parser


def config_from_args(args: argparse.Namespace, argv: Sequence[str] | None = None) -> BenchConfig:
    """The `BenchConfig` for parsed options."""
    return BenchConfig(
        runs=args.runs,
        steps=args.steps,
        concurrency=args.concurrency,
        result_bytes=args.result_bytes,
        seed=args.seed,
        resume_at=args.resume_at,
        uri=args.uri,
        designs=args.designs,
        scaling_steps=args.scaling_steps,
        scaling_samples=args.scaling_samples,
        writers=args.writers,
        writer_steps=args.writer_steps,
        isolation_others=args.isolation_others,
        rmw_max_attempts=args.rmw_max_attempts,
        encoding=args.encoding,
        encoding_sizes=args.encoding_mib,
        encoding_repeats=args.encoding_repeats,
        extra={"argv": _redacted(argv)} if argv is not None else {},
    )


def _redacted(argv: Sequence[str]) -> list[str]:
    from .config import redact_uri

    out: list[str] = []
    hide = False
    for arg in argv:
        if hide:
            out.append(redact_uri(arg) or "")
            hide = False
        elif arg == "--uri":
            out.append(arg)
            hide = True
        elif arg.startswith("--uri="):
            out.append("--uri=" + (redact_uri(arg[len("--uri=") :]) or ""))
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the benchmark as a command; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser() if prog is None else build_parser(prog)
    args = parser.parse_args(args_list)
    try:
        config = config_from_args(args, args_list)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        from .report import run_and_report
    except ImportError as exc:  # pragma: no cover - depends on the environment
        print(
            f"the benchmark needs rich ({exc}): pip install 'mongo-wfstore[bench]'",
            file=sys.stderr,
        )
        return 2
    from pymongo.errors import PyMongoError

    try:
        result = run_and_report(config, json_path=args.json, show_progress=not args.no_progress)
    except PyMongoError as exc:
        where = config.as_dict()["uri"] or "the embedded mock"
        print(f"benchmark stopped: {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 1 if args.strict and not result.passed else 0
