"""The figures a benchmark run produces; `BenchResult.to_json()` writes them all.

Latencies are in milliseconds, bytes are BSON bytes (see `monitor` for what
exactly is counted on each backend), and every figure carries the design it
was measured on.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "OP_KINDS",
    "BenchResult",
    "ContentionResult",
    "EncodingRow",
    "IsolationResult",
    "OpStats",
    "ScalingPoint",
    "Target",
    "WorkloadResult",
]

OP_KINDS = {
    "get_run_new": "get_run (new run: None)",
    "create_run": "create_run",
    "step_insert": "step insert (running)",
    "step_update": "step update (completed)",
    "get_run": "get_run (resume)",
    "list_steps": "list_steps (resume)",
    "update_context": "update_context",
}
"""The operation kinds of the engine workload, in the order an engine makes them."""


@dataclass
class OpStats:
    """One kind of operation, over all the runs of one design."""

    kind: str
    count: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    commands_per_op: float
    sent_bytes_per_op: float
    received_bytes_per_op: float


@dataclass
class WorkloadResult:
    """The engine workload (R runs of S steps at concurrency C) on one design."""

    design: str
    operations: int
    wall_seconds: float
    """Wall time, less the time spent counting commands and bytes."""
    ops_per_second: float
    commands: int
    sent_bytes: int
    received_bytes: int
    conflicts: int
    """Writes refused because another writer got there first."""
    retries: int
    gave_up: int
    """Writes that raised `ContentionError` to the engine."""
    runs_verified: int
    """Runs read back afterwards with every step and the context as written."""
    steps_missing: int
    steps_wrong: int
    resume_mismatches: int
    """Resumes whose `list_steps` did not return every step completed so far."""
    ops: list[OpStats] = field(default_factory=list)


@dataclass
class ScalingPoint:
    """The cost of one step write in a run that already has `steps_in_run` steps."""

    design: str
    steps_in_run: int
    run_bytes: int
    """BSON size of the run's data when the update is made."""
    samples: int
    update_commands: float
    update_sent_bytes: float
    update_received_bytes: float
    update_p50_ms: float
    insert_commands: float
    insert_sent_bytes: float
    insert_received_bytes: float
    insert_p50_ms: float


@dataclass
class ContentionResult:
    """`writers` tasks writing their own steps into ONE run at the same time."""

    design: str
    writers: int
    expected_steps: int
    landed: int
    """Steps read back afterwards, completed, with the result written."""
    lost: int
    """Steps whose writes were all acknowledged but that did not land as written."""
    refused: int
    """Steps not landed because a write raised `ContentionError` (not silent)."""
    duplicates: int
    conflicts: int
    retries: int
    gave_up: int
    commands: int
    sent_bytes: int
    received_bytes: int
    wall_seconds: float


@dataclass
class IsolationResult:
    """Bytes received reading one run, as the number of other runs grows."""

    design: str
    other_runs: list[int]
    get_run_received: list[int]
    list_steps_received: list[int]
    get_run_commands: list[int]
    list_steps_commands: list[int]


@dataclass
class EncodingRow:
    """This library's encoding against plain `bson.encode`/`bson.decode` (CPU only)."""

    size: str
    shape: str
    mib: float
    bson_encode_ms: float
    ours_encode_ms: float
    bson_decode_ms: float
    ours_decode_ms: float


@dataclass
class Target:
    """A claim of the design, checked against the figures."""

    name: str
    passed: bool
    detail: str


@dataclass
class BenchResult:
    """Everything one benchmark run measured."""

    backend: str
    """`mongomock` or `mongodb`."""
    backend_label: str
    config: dict[str, Any]
    environment: dict[str, Any]
    started_at: str
    duration_seconds: float
    workload: list[WorkloadResult] = field(default_factory=list)
    scaling: list[ScalingPoint] = field(default_factory=list)
    contention: list[ContentionResult] = field(default_factory=list)
    isolation: list[IsolationResult] = field(default_factory=list)
    encoding: list[EncodingRow] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Every figure, as plain JSON values."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Every figure, as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @property
    def passed(self) -> bool:
        """True if every target passed."""
        return all(target.passed for target in self.targets)
