"""Memory: growth over many bridged calls and many Local cycles (it must stay flat)."""

from __future__ import annotations

__all__ = ("memory_results",)

import asyncio
import contextvars
import gc
import os
import traceback
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, Callable, Dict, List

from benchmarks._harness import Missing, need

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _noop() -> None:
    return None


def _growth(run: Callable[[int], None], cycles: int) -> Dict[str, float]:
    run(max(1000, cycles // 20))  # warm up: caches, thread start, free lists
    gc.collect()
    rss0, objs0 = _rss(), len(gc.get_objects())
    run(cycles)
    gc.collect()
    return {"rss_kib": (_rss() - rss0) / 1024, "objects": len(gc.get_objects()) - objs0}


def _bridged(mod: ModuleType | None) -> Callable[[int], None]:
    if mod is None:

        async def floor(n: int) -> None:
            loop = asyncio.get_running_loop()
            with ThreadPoolExecutor(1) as executor:
                for _ in range(n):
                    await loop.run_in_executor(executor, _noop)

        return lambda n: asyncio.run(floor(n))
    s2a = need(mod, "sync_to_async")

    async def main(n: int) -> None:
        func = s2a(_noop)
        for _ in range(n):
            await func()

    return lambda n: asyncio.run(main(n))


def _local_cycles(mod: ModuleType | None) -> Callable[[int], None]:
    if mod is None:

        def floor(i: int, shared: contextvars.ContextVar[int]) -> None:
            fresh: contextvars.ContextVar[int] = contextvars.ContextVar("fresh")
            fresh.set(i)
            fresh.get()
            shared.set(i)
            shared.get()

        def run_floor(n: int) -> None:
            shared: contextvars.ContextVar[int] = contextvars.ContextVar("shared")
            for i in range(n):
                contextvars.copy_context().run(floor, i, shared)

        return run_floor
    cls = need(mod, "Local")

    def cycle(i: int, shared: Any) -> None:
        fresh = cls()
        fresh.x = i
        _ = fresh.x
        shared.x = i
        _ = shared.x
        del shared.x

    def run(n: int) -> None:
        shared = cls()
        for i in range(n):
            contextvars.copy_context().run(cycle, i, shared)

    return run


def memory_results(
    sync_sides: Dict[str, ModuleType], local_sides: Dict[str, ModuleType], cycles: int
) -> List[Dict[str, Any]]:
    """Measure RSS and live-object growth for each side and the floor."""
    results: List[Dict[str, Any]] = []
    for what, build, floor_label, sides in (
        ("bridged sync_to_async calls", _bridged, "run_in_executor", sync_sides),
        (
            "Local cycles (new Local + set/get/del in a fresh context)",
            _local_cycles,
            "ContextVar",
            local_sides,
        ),
    ):
        for impl, mod in [(floor_label, None), *sides.items()]:
            entry: Dict[str, Any] = {"what": what, "impl": impl, "cycles": cycles}
            try:
                entry.update(_growth(build(mod), cycles))
            except Missing as exc:
                entry["error"], entry["missing"] = str(exc), True
            except Exception:
                entry["error"] = traceback.format_exc(limit=6)
            results.append(entry)
            shown = entry.get("error") or (
                f"rss {entry['rss_kib']:+.0f} KiB, objects {entry['objects']:+d}"
            )
            print(f"[memory] {what} / {impl}: {shown}", flush=True)
    return results
