"""Shared helpers of the reliability suite: own event loops, thread-leak checks."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, Callable, TypeVar

from ._impl import LONG_LIVED_LIMIT, is_long_lived, sync_to_async

T = TypeVar("T")

# The task ``run`` wraps the test's coroutine in (``wait_for`` may run it in a new task).
_outer_tasks: set[asyncio.Task[Any]] = set()


def run(main: Callable[[], Awaitable[T]], timeout: float) -> T:
    """Run ``main()`` on a fresh event loop, failing with TimeoutError after ``timeout``.

    ``asyncio.run`` also shuts down the loop's default executor, so worker threads it
    started are gone when this returns: whatever thread is left over is a leak.
    """

    async def bounded() -> T:
        task = asyncio.current_task()
        assert task is not None
        _outer_tasks.add(task)
        try:
            return await asyncio.wait_for(main(), timeout)
        finally:
            _outer_tasks.discard(task)

    return asyncio.run(bounded())


def warm_up() -> None:
    """Start the process-wide thread-sensitive worker, so baselines already include it."""

    async def main() -> None:
        await sync_to_async(threading.get_ident)()

    run(main, 10)


def leaked_threads(baseline: set[threading.Thread], grace: float = 5.0) -> list[str]:
    """Join the threads started since ``baseline`` and name those still alive after ``grace``.

    Threads the implementation documents as long-lived and process-wide are allowed, up to
    the pools' caps (``LONG_LIVED_LIMIT``).
    """

    def pooled(thread: threading.Thread) -> bool:
        return is_long_lived(thread)

    deadline = time.monotonic() + grace
    gc.collect()  # per-adapter worker pools end when their adapter is collected
    extra = [t for t in threading.enumerate() if t not in baseline and not pooled(t)]
    for thread in extra:
        thread.join(max(0.0, deadline - time.monotonic()))
    leaked = [t.name for t in extra if t.is_alive()]
    # Long-lived threads are allowed, but only as many as the documented pool caps: workers
    # beyond the idle cap are told to stop when their work ends, so give them the same grace.
    kept = [t for t in threading.enumerate() if pooled(t)]
    while len(kept) > LONG_LIVED_LIMIT and time.monotonic() < deadline:
        time.sleep(0.01)  # no event to wait on: a pooled thread's exit is not observable
        kept = [t for t in threading.enumerate() if pooled(t)]
    if len(kept) > LONG_LIVED_LIMIT:
        leaked += [t.name for t in kept]
    return leaked


@contextmanager
def no_thread_leak(grace: float = 5.0) -> Iterator[None]:
    """Fail if the block leaves behind a thread that was not there before it."""
    warm_up()
    baseline = set(threading.enumerate())
    yield
    leaked = leaked_threads(baseline, grace)
    assert leaked == [], f"threads left running: {leaked}"


def assert_no_other_task() -> None:
    """Fail if any task but the current one is still pending on the running loop."""
    current = asyncio.current_task()
    others = [
        t
        for t in asyncio.all_tasks()
        if t is not current and t not in _outer_tasks and not t.done()
    ]
    assert others == [], f"tasks still pending: {others}"


async def usable_afterwards(timeout: float = 5.0) -> None:
    """Fail unless both executors still run new work promptly (nothing is stuck)."""

    def ident() -> int:
        return threading.get_ident()

    await asyncio.wait_for(sync_to_async(ident)(), timeout)
    await asyncio.wait_for(sync_to_async(ident, thread_sensitive=False)(), timeout)


def names(items: Any) -> list[str]:
    """Give readable names for a list of threads, for assertion messages."""
    return [getattr(t, "name", repr(t)) for t in items]
