"""The benchmark: this store against the designs it replaces, side by side.

`run_benchmark(config)` runs one workflow-engine workload on three designs of
workflow state in MongoDB and measures each: operations per second, latency
per operation kind, database commands and bytes per operation, the cost of one
step write as a run grows, 16 writers on one run, and how much a read of one
run transfers when other runs exist. `main(argv)` is the command
(`python -m mongo_wfstore._bench`); the figures come back as a `BenchResult`.

The designs:

- this store, `MongoWorkflowStore`: one document per run, atomic positional
  updates;
- `ReadModifyWriteStore`: the same document, written by reading it, changing it
  in Python and replacing it with a revision check (an ODM with optimistic
  locking);
- `TwoCollectionStore`: a run document plus one document per step (relational
  style).

What lives where: `config` (parameters), `workload` (the sections and the
targets), `designs` (the two baselines), `monitor` (counting commands and
bytes), `encoding` (the encoding micro-benchmark), `results` (the figures),
`report` (rich output; needs the `bench` extra) and `command` (argparse).

Nothing here is part of the library's public API; rich is imported only by
`report`, so the package imports without it.
"""

from .command import main
from .config import DESIGNS, BenchConfig
from .designs import ReadModifyWriteStore, TwoCollectionStore
from .results import BenchResult
from .workload import run_benchmark

__all__ = [
    "DESIGNS",
    "BenchConfig",
    "BenchResult",
    "ReadModifyWriteStore",
    "TwoCollectionStore",
    "main",
    "run_benchmark",
]
