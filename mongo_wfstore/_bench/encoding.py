"""The encoding micro-benchmark: this library's encoding against plain bson.

Each shape of result (records like a search API returns, the same records with
`$` and `.` keys in each, one long string) is encoded and decoded both ways;
the figure is the median of `repeats` runs. CPU only: no database is involved.
`scripts/bench_encoding.py` prints this section on its own.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import bson

from .._encoding import decode_value, encode_value
from .results import EncodingRow

__all__ = ["SHAPES", "format_row", "measure", "records", "run_encoding"]

SHAPES = ("records", "records, $ and . keys", "one string")


def records(size: int, hostile: bool = False, *, seed: int = 7) -> list[dict[str, Any]]:
    """About `size` bytes of records; `hostile` adds a `$ref` and an `a.b` key to each."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    total = 0
    while total < size:
        i = len(out)
        rec: dict[str, Any] = {
            "id": i,
            "title": f"document {i}",
            "score": rng.random(),
            "tags": ["alpha", "beta"],
            "ok": True,
            "meta": {"page": i % 50, "source": None},
        }
        if hostile:
            rec["$ref"] = f"#/defs/{i}"
            rec["a.b"] = i
        out.append(rec)
        total += 130
    return out


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _size_label(size: int) -> str:
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    return f"{size >> 10} KiB"


def run_encoding(
    sizes: tuple[int, ...], repeats: int, *, on_row: Callable[[], None] | None = None
) -> list[EncodingRow]:
    """Measure every shape at every size; `on_row` is called after each row."""
    rows: list[EncodingRow] = []
    for size in sizes:
        for shape in SHAPES:
            rows.append(measure(size, shape, repeats))
            if on_row is not None:
                on_row()
    return rows


def measure(size: int, shape: str, repeats: int) -> EncodingRow:
    """One shape at one size: median encode and decode times, plain bson and ours."""
    value: Any = "x" * size if shape == "one string" else records(size, "$" in shape)
    doc = {"result": value}
    raw = bson.encode(doc)
    stored = bson.encode({"result": encode_value(value)})
    return EncodingRow(
        size=_size_label(size),
        shape=shape,
        mib=round(len(raw) / (1 << 20), 2),
        bson_encode_ms=_median_ms(lambda: bson.encode(doc), repeats),
        ours_encode_ms=_median_ms(lambda: bson.encode({"result": encode_value(value)}), repeats),
        bson_decode_ms=_median_ms(lambda: bson.decode(raw), repeats),
        ours_decode_ms=_median_ms(lambda: decode_value(bson.decode(stored)["result"]), repeats),
    )


def format_row(row: EncodingRow) -> str:
    """One row as a line of plain text."""

    def ratio(ours: float, plain: float) -> str:
        return f"x{ours / plain:4.2f}" if plain > 0 else "x -"

    return (
        f"{row.size:7} {row.shape:22} {row.mib:5.2f} MiB  "
        f"encode {row.bson_encode_ms:7.1f} -> {row.ours_encode_ms:7.1f} ms "
        f"({ratio(row.ours_encode_ms, row.bson_encode_ms)})  "
        f"decode {row.bson_decode_ms:7.1f} -> {row.ours_decode_ms:7.1f} ms "
        f"({ratio(row.ours_decode_ms, row.bson_decode_ms)})"
    )
