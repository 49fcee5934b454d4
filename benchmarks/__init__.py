"""The side-by-side benchmark of the asgi-* packages against asgiref 3.13.0 and the floor.

Run it with `hatch run bench:full` (real figures, rewrites `docs/benchmarks.md` and the plots
under `docs/assets/bench/`) or `hatch run bench:quick` (seconds; CI runs it so the suite cannot
rot; writes only to a results directory). Everything runs in one process per Python version;
implementations of one benchmark are alternated repeat by repeat so drift cancels out, and
each figure is a min/median over those repeats, reported as a ratio to the floor (the bare
stdlib operation) and to asgiref.
"""

from __future__ import annotations

__all__ = ()
