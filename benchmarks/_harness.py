"""Timing harness: alternating implementations, min/median over repeats, targets."""

from __future__ import annotations

__all__ = ("Group", "Missing", "Row", "Settings", "Target", "need", "run_group")

import statistics
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List

Measure = Callable[[int], float]
"""Run an operation `n` times and return the seconds that took."""


class Missing(Exception):
    """An implementation lacks a name the benchmark needs."""


def need(module: Any, name: str) -> Any:
    """Return `module.name`, or raise `Missing` naming both."""
    try:
        return getattr(module, name)
    except AttributeError:
        message = f"{module.__name__} has no {name!r} (not implemented yet?)"
        raise Missing(message) from None


@dataclass
class Settings:
    quick: bool
    repeats: int
    sample_seconds: float
    allow_missing: bool


@dataclass
class Row:
    """One implementation of one benchmark: its samples (seconds per op) or its error."""

    impl: str
    kind: str  # "floor", "asgiref", "ours", "peer" or "other"
    samples: List[float] = field(default_factory=list)
    error: str | None = None
    missing: bool = False
    n: int = 0

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def ok(self) -> bool:
        return bool(self.samples) and self.error is None


@dataclass
class Group:
    """One benchmark: the same operation done by the floor, asgiref, ours and peers."""

    key: str
    section: str
    title: str
    floor_label: str
    unit: str = "µs"
    higher_is_better: bool = False
    rows: List[Row] = field(default_factory=list)
    note: str = ""

    def row(self, kind: str) -> Row | None:
        for row in self.rows:
            if row.kind == kind and row.ok:
                return row
        return None

    def ratio(self, kind: str, to: str = "floor") -> float | None:
        a, b = self.row(kind), self.row(to)
        if a is None or b is None or b.median == 0:
            return None
        return a.median / b.median


@dataclass
class Target:
    """`ours` of `key` over `den_kind` of `den_key` must be <= (or >=) `limit`."""

    key: str
    label: str
    limit: float
    den_key: str
    den_kind: str = "floor"
    at_least: bool = False
    num_kind: str = "ours"

    def measured(self, groups: Dict[str, Group]) -> float | None:
        num, den = groups.get(self.key), groups.get(self.den_key)
        if num is None or den is None:
            return None
        a, b = num.row(self.num_kind), den.row(self.den_kind)
        if a is None or b is None or b.median == 0:
            return None
        return a.median / b.median

    def passed(self, groups: Dict[str, Group]) -> bool | None:
        value = self.measured(groups)
        if value is None:
            return None
        return value >= self.limit if self.at_least else value <= self.limit

    def text(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {self.limit:g}\u00d7 {self.label}"


def _calibrate(measure: Measure, seconds: float) -> int:
    """Find how many ops take about `seconds` (this doubles as the warm-up)."""
    n = 1
    while True:
        elapsed = measure(n)
        if elapsed >= seconds / 5 or n >= 10_000_000:
            break
        n *= 10 if elapsed < seconds / 50 else 3
    return max(1, int(n * seconds / max(elapsed, 1e-9)))


def run_group(
    group: Group,
    impls: List[tuple[str, str, Callable[[], Measure]]],
    settings: Settings,
    ops_per_n: int = 1,
    fixed_n: int | None = None,
) -> Group:
    """Build every implementation, then time them in alternation, `settings.repeats` times.

    Each entry of `impls` is (label, kind, factory); a factory returns the measure
    function, or raises (`Missing` when a name is not there yet).
    """
    live: List[tuple[Row, Measure]] = []
    for label, kind, factory in impls:
        row = Row(label, kind)
        group.rows.append(row)
        try:
            measure = factory()
            row.n = fixed_n or _calibrate(measure, settings.sample_seconds)
            live.append((row, measure))
        except Missing as exc:
            row.error, row.missing = str(exc), True
        except Exception:
            row.error = traceback.format_exc(limit=6)
    for repeat in range(settings.repeats):
        shift = repeat % max(1, len(live))
        for row, measure in live[shift:] + live[:shift]:
            if row.error is not None:
                continue
            try:
                row.samples.append(measure(row.n) / (row.n * ops_per_n))
            except Exception:
                row.error = traceback.format_exc(limit=6)
    status = "  ".join(
        f"{r.impl}={'ERR' if r.error else f'{r.median * 1e6:.3f}'}" for r in group.rows
    )
    print(f"[{group.section}] {group.title}: {status}", flush=True)
    return group


def now() -> float:
    return time.perf_counter()
