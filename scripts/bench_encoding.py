"""Measure the JSON-to-storage encoding against plain bson on 1 MiB and 8 MiB results."""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import bson

from mongo_wfstore._encoding import decode_value, encode_value


def records(size: int, hostile: bool = False) -> list[dict[str, Any]]:
    rng = random.Random(7)
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


def best(fn: Callable[[], Any], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    for label, size in (("1 MiB", 1 << 20), ("8 MiB", 8 << 20)):
        for shape, value in (
            ("records", records(size)),
            ("records, $ and . keys", records(size, hostile=True)),
            ("one string", "x" * size),
        ):
            doc = {"result": value}
            raw = bson.encode(doc)
            stored = bson.encode({"result": encode_value(value)})
            plain_enc = best(lambda doc=doc: bson.encode(doc))
            ours_enc = best(lambda value=value: bson.encode({"result": encode_value(value)}))
            plain_dec = best(lambda raw=raw: bson.decode(raw))
            ours_dec = best(lambda stored=stored: decode_value(bson.decode(stored)["result"]))
            print(
                f"{label:6} {shape:22} {len(raw) / 1048576:5.2f} MiB  "
                f"encode {plain_enc:7.1f} -> {ours_enc:7.1f} ms (x{ours_enc / plain_enc:4.2f})  "
                f"decode {plain_dec:7.1f} -> {ours_dec:7.1f} ms (x{ours_dec / plain_dec:4.2f})"
            )


if __name__ == "__main__":
    main()
