"""Streaming: iterators bridged between sync and async code (asgi_sync.iterators).

Two parts, from one run:

- per-item cost of a cheap generator iterated across the bridge: ours
  (`sync_to_async_iter`) against starlette's `iterate_in_threadpool` (one thread hop per
  item) and a hand-written `sync_to_async(next)` loop (ours and asgiref's); the floor is
  the generator iterated on the event loop itself. The reverse (`async_to_sync_iter`)
  against the same async generator iterated natively.
- the Django proof: `examples.streaming` under uvicorn (a sync ORM generator) and under
  gunicorn (an async one), bridged and unbridged, served to a real HTTP client: time to
  first byte, throughput and the serving process's RSS growth.
"""

from __future__ import annotations

__all__ = ("render_section", "streaming_checks", "streaming_groups", "streaming_results")

import asyncio
import os
import tempfile
import traceback
from time import perf_counter
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Optional, Tuple

from benchmarks._harness import Group, Measure, Settings, run_group

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Check = Tuple[str, str, Optional[bool]]
MIB = 1024 * 1024

# iterate_in_threadpool's time over ours, at least (the target).
TARGET_OVER_STARLETTE = 3.0
# Server RSS growth while serving the bridged body, at most.
TARGET_RSS_MIB = 32


def _rows(n: int) -> Iterator[int]:
    for number in range(n):  # noqa: UP028 - a generator frame per item, as real code has
        yield number


async def _arows(n: int) -> AsyncIterator[int]:
    for number in range(n):
        yield number


def _in_loop(main: Callable[[int], Any]) -> Measure:
    def measure(n: int) -> float:
        return float(asyncio.run(main(n)))

    return measure


def _floor() -> Measure:
    async def main(n: int) -> float:
        t0 = perf_counter()
        for _ in _rows(n):
            pass
        return perf_counter() - t0

    return _in_loop(main)


def _ours() -> Measure:
    from asgi_sync.iterators import sync_to_async_iter

    async def main(n: int) -> float:
        t0 = perf_counter()
        async for _ in sync_to_async_iter(_rows(n)):
            pass
        return perf_counter() - t0

    return _in_loop(main)


def _starlette() -> Measure:
    from starlette.concurrency import iterate_in_threadpool

    async def main(n: int) -> float:
        t0 = perf_counter()
        async for _ in iterate_in_threadpool(_rows(n)):
            pass
        return perf_counter() - t0

    return _in_loop(main)


def _next_loop(module_name: str) -> Callable[[], Measure]:
    def factory() -> Measure:
        module = __import__(module_name, fromlist=["sync_to_async"])
        sync_to_async = module.sync_to_async
        done = object()

        async def main(n: int) -> float:
            step = sync_to_async(next)
            rows = _rows(n)
            t0 = perf_counter()
            while await step(rows, done) is not done:
                pass
            return perf_counter() - t0

        return _in_loop(main)

    return factory


def _a2s_floor() -> Measure:
    async def main(n: int) -> float:
        t0 = perf_counter()
        async for _ in _arows(n):
            pass
        return perf_counter() - t0

    return _in_loop(main)


def _a2s_ours() -> Measure:
    from asgi_sync.iterators import async_to_sync_iter

    def measure(n: int) -> float:
        t0 = perf_counter()
        for _ in async_to_sync_iter(_arows(n)):
            pass
        return perf_counter() - t0

    return measure


def streaming_groups(settings: Settings) -> List[Group]:
    """Per-item cost of a cheap generator across the bridges (100,000 items per sample)."""
    items = 2_000 if settings.quick else 100_000
    # iterate_in_threadpool takes seconds per sample at this size: fewer repeats.
    few = Settings(settings.quick, min(settings.repeats, 3), settings.sample_seconds, True)
    s2a = Group(
        "iter_s2a",
        "streaming",
        f"sync generator \u2192 async for, per item ({items:,} cheap items)",
        "for over the generator on the loop",
    )
    run_group(
        s2a,
        [
            ("for on the loop (floor)", "floor", _floor),
            ("sync_to_async(next) loop (asgiref)", "asgiref", _next_loop("asgiref.sync")),
            ("sync_to_async_iter (ours)", "ours", _ours),
            ("iterate_in_threadpool (starlette)", "peer", _starlette),
            ("sync_to_async(next) loop (ours)", "other", _next_loop("asgi_sync")),
        ],
        few,
        fixed_n=items,
    )
    a2s = Group(
        "iter_a2s",
        "streaming",
        f"async generator \u2192 for from sync code, per item ({items:,} cheap items)",
        "async for in asyncio.run",
    )
    run_group(
        a2s,
        [
            ("async for in asyncio.run (floor)", "floor", _a2s_floor),
            ("async_to_sync_iter (ours)", "ours", _a2s_ours),
        ],
        few,
        fixed_n=items,
    )
    return [s2a, a2s]


# --- the Django proof ------------------------------------------------------------------


def _serve_and_measure(kind: str, size: int, directory: str) -> Dict[str, Any]:
    from examples.streaming.client import StreamingServer

    prefix = "/sync-rows" if kind == "asgi" else "/async-rows"
    # Django runs with asgiref-meta in place of the real asgiref this env holds (so the
    # request's ThreadSensitiveContext is asgi_sync's own, as it is in production).
    meta = os.path.join(ROOT, "packages", "asgiref-meta", "src")
    database = os.path.join(directory, f"{kind}.sqlite3")
    out: Dict[str, Any] = {}
    with StreamingServer(kind, database, extra_path=[meta]) as server:
        server.fetch(f"{prefix}/bridged?bytes={4 * MIB}")  # warm up
        for variant in ("bridged", "plain"):
            got = server.fetch(f"{prefix}/{variant}?bytes={size}", watch=True)
            out[variant] = {
                "status": got.status,
                "bytes": got.size,
                "first_byte_ms": got.first_byte_seconds * 1e3,
                "seconds": got.seconds,
                "mib_per_s": got.size / MIB / got.seconds if got.seconds else 0.0,
                "rss_growth_mib": got.rss_growth / MIB,
            }
            print(
                f"[streaming] {kind} {variant}: {got.size / MIB:,.0f} MiB in "
                f"{got.seconds:.1f} s, first byte {got.first_byte_seconds * 1e3:.0f} ms, "
                f"RSS +{got.rss_growth / MIB:.1f} MiB",
                flush=True,
            )
    return out


def streaming_results(quick: bool) -> Dict[str, Any]:
    """Serve the Django export (1 GiB; 16 MiB in quick mode) under uvicorn and gunicorn."""
    size = 16 * MIB if quick else 1024 * MIB
    results: Dict[str, Any] = {"bytes": size, "servers": {}, "errors": {}}
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as directory:
        for kind in ("asgi", "wsgi"):
            try:
                results["servers"][kind] = _serve_and_measure(kind, size, directory)
            except Exception:
                results["errors"][kind] = traceback.format_exc(limit=6)
                print(f"[streaming] {kind}: ERR", flush=True)
    return results


# --- report ----------------------------------------------------------------------------


def streaming_checks(groups: Dict[str, Group], results: Dict[str, Any]) -> List[Check]:
    """The issue's targets, measured in this run."""
    checks: List[Check] = []
    s2a = groups.get("iter_s2a")
    if s2a is not None:
        ours, peer = s2a.row("ours"), s2a.row("peer")
        ratio = peer.median / ours.median if ours and peer and ours.median else None
        checks.append(
            (
                f"{s2a.title}: iterate_in_threadpool (starlette) takes \u2265 "
                f"{TARGET_OVER_STARLETTE:g}\u00d7 ours",
                "n/a" if ratio is None else f"{ratio:.1f}\u00d7",
                None if ratio is None else ratio >= TARGET_OVER_STARLETTE,
            )
        )
    size = results.get("bytes", 0)
    for kind, server in (("asgi", "uvicorn"), ("wsgi", "gunicorn")):
        got = results.get("servers", {}).get(kind, {}).get("bridged")
        what = (
            f"Django export of {size / MIB:,.0f} MiB under {server}, bridged: server RSS "
            f"growth < {TARGET_RSS_MIB} MiB"
        )
        if not got:
            checks.append((what, "error", None))
            continue
        growth = got["rss_growth_mib"]
        checks.append(
            (what, f"+{growth:.1f} MiB", got["bytes"] == size and growth < TARGET_RSS_MIB)
        )
    return checks


def _us(value: float) -> str:
    us = value * 1e6
    return f"{us:.3f}" if us < 1 else f"{us:.1f}" if us < 1000 else f"{us:,.0f}"


def render_section(groups: List[Group], results: Dict[str, Any]) -> List[str]:
    """The page's "Streaming" section."""
    members = [g for g in groups if g.section == "streaming"]
    if not members and not results:
        return []
    out = [
        "",
        "## Streaming between sync and async",
        "",
        "`asgi_sync.iterators` (see the guide *Streaming between sync and async*). Per item, "
        "a cheap generator (it yields an int) iterated across the bridge; the floor iterates "
        "it on the event loop itself. Times per item, min / median over the repeats.",
        "",
        "| benchmark | implementation | \u00b5s per item (min / median) | \u00d7 floor "
        "| \u00d7 ours |",
        "|---|---|--:|--:|--:|",
    ]
    for g in members:
        floor, ours = g.row("floor"), g.row("ours")
        for r in g.rows:
            if not r.ok:
                out.append(f"| {g.title} | {r.impl} | error | | |")
                continue
            over_floor = f"{r.median / floor.median:.1f}\u00d7" if floor else "n/a"
            over_ours = f"{r.median / ours.median:.2f}\u00d7" if ours else "n/a"
            out.append(
                f"| {g.title} | {r.impl} | {_us(r.min)} / {_us(r.median)} "
                f"| {over_floor} | {over_ours} |"
            )
    servers = results.get("servers", {})
    if servers:
        size = results["bytes"]
        out += [
            "",
            f"A Django view streaming a {size / MIB:,.0f} MiB export read with the ORM "
            "(`.iterator()` / `.aiterator()` over SQLite, 16 KiB rows) to a real HTTP "
            "client on 127.0.0.1 (`examples/streaming`). *Bridged*: the generator wrapped "
            "in `sync_to_async_iter` (uvicorn) or `async_to_sync_iter` (gunicorn, one sync "
            "worker). *Plain*: the same generator given to `StreamingHttpResponse` as it "
            "is, which Django reads whole into a list before sending a byte. RSS growth is "
            "the serving process's peak (sampled every 5 ms) over its size before the "
            "request.",
            "",
            "| server | generator | first byte | total time | throughput | server RSS growth |",
            "|---|---|--:|--:|--:|--:|",
        ]
        names = {
            "asgi": "uvicorn (ASGI), sync generator",
            "wsgi": "gunicorn (WSGI), async generator",
        }
        for kind, variants in servers.items():
            for variant, got in variants.items():
                out.append(
                    f"| {names.get(kind, kind)} | {variant} | {got['first_byte_ms']:,.0f} ms "
                    f"| {got['seconds']:.1f} s | {got['mib_per_s']:,.0f} MiB/s "
                    f"| {got['rss_growth_mib']:+,.1f} MiB |"
                )
    for kind, error in results.get("errors", {}).items():
        out.append(f"\n- Django {kind} proof failed: `{str(error).strip().splitlines()[-1]}`")
    return out
