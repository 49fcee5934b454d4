"""Load: many concurrent bridged calls, then back to the baseline threads and memory."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest

from ._impl import (
    SYNC_LONG_LIVED_LIMIT,
    ThreadSensitiveContext,
    async_to_sync,
    is_long_lived,
    sync_to_async,
)
from ._support import (
    assert_no_other_task,
    no_thread_leak,
    run,
    usable_afterwards,
)

pytestmark = pytest.mark.unmeasured  # run last with coverage off (tests/conftest.py)


def add_one(x: int) -> int:
    return x + 1


@pytest.mark.timeout(30)
def test_10000_concurrent_sync_to_async_calls() -> None:
    async def main() -> list[int]:
        calls = [sync_to_async(add_one, thread_sensitive=False)(i) for i in range(10_000)]
        results = await asyncio.gather(*calls)
        assert_no_other_task()
        await usable_afterwards()
        return results

    with no_thread_leak():
        assert run(main, 25) == [i + 1 for i in range(10_000)]


@pytest.mark.timeout(30)
def test_10000_concurrent_thread_sensitive_calls() -> None:
    threads: set[int] = set()

    def record(x: int) -> int:
        threads.add(threading.get_ident())
        return x * 2

    async def main() -> list[int]:
        results = await asyncio.gather(*(sync_to_async(record)(i) for i in range(10_000)))
        assert_no_other_task()
        return results

    with no_thread_leak():
        assert run(main, 25) == [i * 2 for i in range(10_000)]
    assert len(threads) == 1


@pytest.mark.timeout(30)
def test_async_to_sync_from_50_threads_at_once() -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    def worker(base: int) -> list[int]:
        return [async_to_sync(double)(base + i) for i in range(40)]

    with no_thread_leak(), ThreadPoolExecutor(50) as pool:
        results = list(pool.map(worker, range(0, 50 * 40, 40)))
    assert [x for chunk in results for x in chunk] == [x * 2 for x in range(2000)]


@pytest.mark.timeout(30)
def test_1000_concurrent_thread_sensitive_context_requests() -> None:
    inside = 0
    all_inside: asyncio.Event
    per_request: dict[int, set[int]] = {}

    def record(request: int) -> None:
        per_request.setdefault(request, set()).add(threading.get_ident())

    async def request(n: int) -> None:
        nonlocal inside
        async with ThreadSensitiveContext():
            await sync_to_async(record)(n)
            inside += 1
            if inside == 1000:
                all_inside.set()
            await all_inside.wait()
            await sync_to_async(record)(n)

    async def main() -> None:
        nonlocal all_inside
        all_inside = asyncio.Event()
        await asyncio.gather(*(request(n) for n in range(1000)))
        assert_no_other_task()
        await usable_afterwards()

    with no_thread_leak(grace=10):
        run(main, 25)
    assert len(per_request) == 1000
    assert all(len(threads) == 1 for threads in per_request.values())


async def _calls(n: int) -> None:
    """Make ``n`` bridged calls of each flavour, in batches of 500 concurrent calls."""
    for _ in range(0, n, 1000):
        await asyncio.gather(*(sync_to_async(add_one)(i) for i in range(500)))
        await asyncio.gather(
            *(sync_to_async(add_one, thread_sensitive=False)(i) for i in range(500))
        )


def _quiesce() -> None:
    """Let pooled workers beyond the idle cap stop, then collect: a stable point to sample."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if sum(is_long_lived(t) for t in threading.enumerate()) <= SYNC_LONG_LIVED_LIMIT:
            break
        time.sleep(0.01)  # a pooled thread's exit has no event to wait on
    gc.collect()


@pytest.mark.timeout(58)  # ~9 s alone; generous for 5 Pythons sharing 2 cores in CI
def test_memory_is_flat_over_100k_calls() -> None:
    """100k bridged calls: live blocks and traced memory stop growing after warm-up.

    ``sys.getallocatedblocks`` costs nothing, so it is sampled at 20k and 100k calls;
    tracemalloc slows every allocation several times, so it traces a 10k-call window
    (two halves of 5k) instead of the whole run.
    """

    async def main() -> tuple[int, int, int, int]:
        await _calls(10_000)  # warm-up: caches, free lists, executor threads
        gc.collect()
        tracemalloc.start()
        try:
            await _calls(5_000)
            _quiesce()
            traced_15k = tracemalloc.get_traced_memory()[0]
            await _calls(5_000)
            _quiesce()
            traced_20k = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        _quiesce()
        blocks_20k = sys.getallocatedblocks()
        await _calls(80_000)
        _quiesce()
        blocks_100k = sys.getallocatedblocks()
        return traced_15k, traced_20k, blocks_20k, blocks_100k

    gc.collect()
    garbage_before = len(gc.garbage)
    traced_15k, traced_20k, blocks_20k, blocks_100k = run(main, 55)
    # One leaked object per call (48 bytes at least) would add > 240 kB over 5k calls and
    # 80k blocks over 80k calls; the margins absorb idle pooled threads coming and going.
    assert traced_20k - traced_15k < 160 * 1024, (traced_15k, traced_20k)
    assert blocks_100k - blocks_20k < 5_000, (blocks_20k, blocks_100k)
    gc.collect()
    assert len(gc.garbage) == garbage_before == 0


@pytest.mark.timeout(30)
def test_async_to_sync_memory_is_flat() -> None:
    async def noop() -> None:
        return None

    bridged = async_to_sync(noop)
    for _ in range(500):
        bridged()
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(2_000):
        bridged()
    gc.collect()
    assert sys.getallocatedblocks() - before < 2_000
    assert gc.garbage == []
