"""`BenchConfig`, every parameter of a benchmark run, and the designs it compares.

What is **not** here: the figures (`results`) and how they are measured
(`workload`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DESIGNS", "DESIGN_LABELS", "MOCK_LABEL", "BenchConfig"]

DESIGNS = ("this_store", "read_modify_write", "two_collections")
"""The designs, in the order they are run and shown."""

DESIGN_LABELS = {
    "this_store": "this store",
    "read_modify_write": "read-modify-write",
    "two_collections": "two collections",
}
"""How each design is named in the tables."""

MOCK_LABEL = "embedded mongomock-motor: times are Python, not MongoDB"
"""The label of every figure measured on the embedded mock."""

MIB = 1024 * 1024


@dataclass(frozen=True)
class BenchConfig:
    """Every parameter of one benchmark run; the defaults finish in well under a
    minute on two cores on the embedded mock.
    """

    runs: int = 48
    """R: runs the engine executes, per design."""
    steps: int = 20
    """S: steps per run."""
    concurrency: int = 8
    """C: runs executed at the same time (each task works on its own run)."""
    result_bytes: int = 1024
    """BSON size of each completed step's result."""
    seed: int = 1
    """Seeds the result payloads."""
    resume_at: tuple[float, ...] = (0.5, 1.0)
    """When the engine resumes (`get_run` + `list_steps`): after these fractions
    of the steps, e.g. (0.5,) once mid-way, (0.5, 1.0) also at the end.
    """
    uri: str | None = None
    """A MongoDB URI; None runs on the embedded mongomock-motor."""
    designs: tuple[str, ...] = DESIGNS
    scaling_steps: tuple[int, ...] = (10, 100, 1000)
    """Run sizes at which one step update (and one insert) is measured."""
    scaling_samples: int = 10
    """Step updates (and inserts) measured at each run size."""
    writers: int = 16
    """Concurrent writers on ONE run, in the contention check."""
    writer_steps: int = 5
    """Steps each of those writers inserts and completes."""
    isolation_others: tuple[int, ...] = (0, 10, 100)
    """Numbers of other runs in the collection when one run is read."""
    isolation_steps: int = 10
    """Steps of the run read in the isolation check, and of each other run."""
    rmw_max_attempts: int = 50
    """Attempts of a read-modify-write before it gives up (ContentionError)."""
    encoding: bool = True
    """Run the encoding micro-benchmark (CPU only, no database)."""
    encoding_sizes: tuple[int, ...] = (1 * MIB, 8 * MIB)
    encoding_repeats: int = 3
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes copied into the JSON (e.g. the command line)."""

    def __post_init__(self) -> None:
        for name in ("runs", "steps", "concurrency", "writers", "writer_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.result_bytes < 0:
            raise ValueError("result_bytes must not be negative")
        if self.scaling_samples < 1 or self.encoding_repeats < 1:
            raise ValueError("scaling_samples and encoding_repeats must be at least 1")
        if any(not 0 < fraction <= 1 for fraction in self.resume_at):
            raise ValueError("resume_at fractions must be in (0, 1]")
        if any(n < 1 for n in self.scaling_steps) or self.isolation_steps < 1:
            raise ValueError("run sizes must be at least 1 step")
        if any(n < 0 for n in self.isolation_others):
            raise ValueError("isolation_others must not be negative")
        unknown = set(self.designs) - set(DESIGNS)
        if unknown or not self.designs:
            raise ValueError(f"designs must be among {', '.join(DESIGNS)}")

    @property
    def backend(self) -> str:
        """`"mongodb"` with a URI, else `"mongomock"`."""
        return "mongodb" if self.uri else "mongomock"

    def resume_points(self) -> list[int]:
        """After how many completed steps the engine resumes, ascending, no repeats."""
        return sorted({max(1, round(self.steps * fraction)) for fraction in self.resume_at})

    def as_dict(self) -> dict[str, Any]:
        """The parameters for the JSON report; the URI is reduced to its hosts."""
        values = dataclasses.asdict(self)
        values["uri"] = redact_uri(self.uri)
        return values


def redact_uri(uri: str | None) -> str | None:
    """`uri` reduced to its scheme and hosts: no credentials, no options."""
    if uri is None:
        return None
    scheme, _, rest = uri.partition("://")
    hosts = rest.rpartition("@")[2]
    for end in "/?":
        hosts = hosts.partition(end)[0]
    return f"{scheme}://{hosts}"
