"""Measure the JSON-to-storage encoding against plain bson on 1 MiB and 8 MiB results.

A thin wrapper over the encoding section of the benchmark
(`mongo_wfstore._bench.encoding`); `python -m mongo_wfstore._bench` runs it too,
beside the database figures. CPU only: no database is involved.
"""

from __future__ import annotations

from mongo_wfstore._bench.encoding import format_row, run_encoding

SIZES = (1 << 20, 8 << 20)
REPEATS = 7


def main() -> None:
    for row in run_encoding(SIZES, REPEATS):
        print(format_row(row))


if __name__ == "__main__":
    main()
