"""async_to_sync from plain sync code: a fresh loop per call, ended as asyncio.run ends it.

Also: AsyncSingleThreadContext keeps one loop for its block, and idle pooled threads (and
the loops they hold) go away after the idle timeout.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import threading
import types
from typing import Any, AsyncIterator

import pytest

from asgi_sync import AsyncSingleThreadContext, async_to_sync, sync_to_async


async def running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


@pytest.mark.timeout(10)
def test_the_loop_a_call_ran_on_is_closed_when_it_returns() -> None:
    loop = async_to_sync(running_loop)()
    assert loop.is_closed()


@pytest.mark.timeout(20)
def test_every_call_gets_a_new_loop() -> None:
    loops = [async_to_sync(running_loop)() for _ in range(20)]
    assert len({id(loop) for loop in loops}) == 20
    assert all(loop.is_closed() for loop in loops)


@pytest.mark.timeout(10)
def test_a_leftover_task_is_cancelled_and_awaited_before_the_call_returns() -> None:
    steps: list[str] = []

    async def background(started: asyncio.Event) -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            steps.append("cancelled")
            await asyncio.sleep(0)  # only runs if the cancelled task is awaited
            steps.append("cleaned up")
            raise

    async def main() -> None:
        started = asyncio.Event()
        asyncio.get_running_loop().create_task(background(started))
        await started.wait()

    async_to_sync(main)()
    assert steps == ["cancelled", "cleaned up"]


@pytest.mark.timeout(10)
def test_an_error_of_a_leftover_task_goes_to_the_loops_exception_handler() -> None:
    reported: list[dict[str, Any]] = []
    leftovers: list[asyncio.Task[None]] = []

    async def stubborn(started: asyncio.Event) -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise ValueError("failed while cancelled") from None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reported.append(context))
        started = asyncio.Event()
        leftovers.append(loop.create_task(stubborn(started)))
        await started.wait()

    async_to_sync(main)()
    assert [c["message"] for c in reported] == [
        "unhandled exception during async_to_sync() shutdown"
    ]
    assert str(reported[0]["exception"]) == "failed while cancelled"


@pytest.mark.timeout(10)
def test_an_async_generators_finally_runs_before_the_call_returns() -> None:
    steps: list[str] = []
    kept: list[AsyncIterator[int]] = []  # a reference, so only the loop can finalise it

    async def numbers() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            await asyncio.sleep(0)
            steps.append("finally")

    async def main() -> int:
        generator = numbers()
        kept.append(generator)
        return await generator.__anext__()

    assert async_to_sync(main)() == 1
    assert steps == ["finally"]


@pytest.mark.timeout(10)
def test_a_loop_close_wrapper_runs_before_the_call_returns() -> None:
    """The pattern channels_redis uses to free its per-loop connection pool."""
    steps: list[str] = []

    async def flush() -> None:
        await asyncio.sleep(0)
        steps.append("flushed")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        original = loop.close

        def close(self: asyncio.AbstractEventLoop) -> None:
            self.run_until_complete(flush())  # the loop is stopped, not yet closed
            steps.append("closing")
            original()

        loop.close = types.MethodType(close, loop)  # type: ignore[method-assign]

    async_to_sync(main)()
    assert steps == ["flushed", "closing"]


@pytest.mark.timeout(10)
def test_the_default_executor_is_shut_down_before_the_call_returns() -> None:
    async def main() -> threading.Thread:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, threading.current_thread)

    worker = async_to_sync(main)()
    assert worker.name.startswith("asgi_sync-loop-")
    assert not worker.is_alive()


@pytest.mark.timeout(10)
def test_an_error_closing_the_loop_reaches_the_caller() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        original = loop.close

        def close(self: asyncio.AbstractEventLoop) -> None:
            original()
            raise OSError("close failed")

        loop.close = types.MethodType(close, loop)  # type: ignore[method-assign]
        return 1

    with pytest.raises(OSError, match=r"^close failed$"):
        async_to_sync(main)()
    assert async_to_sync(running_loop)().is_closed()  # the loop thread still works


@pytest.mark.timeout(20)
def test_a_lock_kept_between_calls_fails_the_same_way_every_time() -> None:
    """A loop-bound object made in one call is never usable in the next."""
    made_on: list[asyncio.AbstractEventLoop] = []

    async def remember() -> None:
        made_on.append(asyncio.get_running_loop())

    async def use() -> bool:
        return made_on[0] is asyncio.get_running_loop()

    async_to_sync(remember)()
    assert [async_to_sync(use)() for _ in range(20)] == [False] * 20


@pytest.mark.timeout(30)
def test_concurrent_callers_with_nesting_each_close_their_loops() -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    leftovers: list[asyncio.Task[None]] = []
    lock = threading.Lock()

    def sync_leaf(n: int) -> int:
        return n + 1

    async def call(n: int) -> int:
        loop = asyncio.get_running_loop()
        with lock:
            loops.append(loop)
            leftovers.append(loop.create_task(asyncio.sleep(10)))  # left behind on purpose
        return await sync_to_async(sync_leaf)(n) + await sync_to_async(
            sync_leaf, thread_sensitive=False
        )(n)

    def caller(base: int) -> list[int]:
        return [async_to_sync(call)(base + i) for i in range(50)]

    threads_results: list[list[int]] = [[] for _ in range(20)]

    def run(index: int) -> None:
        threads_results[index] = caller(index * 50)

    threads = [threading.Thread(daemon=True, target=run, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(25)
    assert [x for chunk in threads_results for x in chunk] == [2 * n + 2 for n in range(1000)]
    assert len(loops) == 1000
    assert all(loop.is_closed() for loop in loops)
    assert all(task.cancelled() for task in leftovers)


@pytest.mark.timeout(10)
def test_force_new_loop_inside_sync_to_async_gets_a_closed_fresh_loop() -> None:
    async def main() -> tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]:
        def sync() -> asyncio.AbstractEventLoop:
            return async_to_sync(running_loop, force_new_loop=True)()

        return asyncio.get_running_loop(), await sync_to_async(sync)()

    outer, inner = asyncio.run(main())
    assert inner is not outer
    assert inner.is_closed()


@pytest.mark.timeout(10)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # event loop policies, 3.14+
def test_a_changed_event_loop_policy_applies_to_the_next_call() -> None:
    """A loop made ahead of time under the old policy is not used."""

    class Marked(asyncio.SelectorEventLoop):
        pass

    class Policy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            return Marked()

    async_to_sync(running_loop)()  # the loop thread now holds a loop made ahead
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(Policy())
    try:
        loop = async_to_sync(running_loop)()
    finally:
        asyncio.set_event_loop_policy(previous)
    assert type(loop) is Marked
    assert type(async_to_sync(running_loop)()) is not Marked


@pytest.mark.timeout(10)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # event loop policies, 3.14+
def test_a_loop_that_cannot_be_made_is_the_callers_error() -> None:
    class Failing(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            raise OSError("no loop for you")

    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(Failing())
    try:
        with pytest.raises(OSError, match=r"^no loop for you$"):
            async_to_sync(running_loop)()
    finally:
        asyncio.set_event_loop_policy(previous)
        gc.collect()
    assert async_to_sync(running_loop)().is_closed()


# --- AsyncSingleThreadContext --------------------------------------------------------


@pytest.mark.timeout(10)
def test_async_single_thread_context_reuses_one_loop_and_closes_it_on_exit() -> None:
    async def where() -> tuple[asyncio.AbstractEventLoop, int]:
        return asyncio.get_running_loop(), threading.get_ident()

    with AsyncSingleThreadContext():
        calls = [async_to_sync(where)() for _ in range(5)]
        assert not calls[0][0].is_closed()
    assert len({id(loop) for loop, _ in calls}) == 1
    assert len({thread for _, thread in calls}) == 1
    assert calls[0][0].is_closed()


@pytest.mark.timeout(10)
def test_async_single_thread_context_keeps_a_loop_bound_object_usable() -> None:
    lock: list[asyncio.Lock] = []

    async def contend() -> int:
        if not lock:
            lock.append(asyncio.Lock())
        async with lock[0]:  # contended: binds the lock to the running loop (3.10+)
            await asyncio.gather(*(asyncio.sleep(0) for _ in range(3)))
        waiters = [asyncio.ensure_future(lock[0].acquire()) for _ in range(2)]
        await waiters[0]
        lock[0].release()
        await waiters[1]
        lock[0].release()
        return 1

    with AsyncSingleThreadContext():
        assert [async_to_sync(contend)() for _ in range(3)] == [1, 1, 1]


@pytest.mark.timeout(10)
def test_async_single_thread_context_cancels_leftovers_per_call_and_shuts_down_on_exit() -> None:
    steps: list[str] = []

    async def background(started: asyncio.Event) -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            steps.append("task cancelled")
            raise

    async def numbers() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            steps.append("generator closed")

    kept: list[AsyncIterator[int]] = []

    async def main() -> None:
        started = asyncio.Event()
        asyncio.get_running_loop().create_task(background(started))
        generator = numbers()
        kept.append(generator)
        await generator.__anext__()
        await started.wait()  # in its try: cancelling it now runs its except

    with AsyncSingleThreadContext():
        async_to_sync(main)()
        assert steps == ["task cancelled"]
    assert steps == ["task cancelled", "generator closed"]


# --- idle pooled threads and loops go away -------------------------------------------

_IDLE_SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, os, random, sys, threading
    from asgi_sync import ThreadSensitiveContext, async_to_sync, sync_to_async

    def fds():
        return len(os.listdir("/proc/self/fd"))

    async def leaf(n):
        await asyncio.sleep(0)
        return n

    def sync_leaf(n):
        return n

    async def nested(n):
        async with ThreadSensitiveContext():
            await sync_to_async(sync_leaf)(n)
        return await sync_to_async(sync_leaf, thread_sensitive=False)(n)

    async def warm():
        await sync_to_async(sync_leaf)(0)  # the process-wide thread-sensitive thread

    asyncio.run(warm())
    gc.collect()
    threads_before = set(threading.enumerate())
    fds_before = fds()

    for n in range(1000):
        assert async_to_sync(leaf)(n) == n
    def burst(base):
        for n in range(base, base + 25):
            assert async_to_sync(nested)(n) == n
    callers = [threading.Thread(daemon=True, target=burst, args=(i * 25,)) for i in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(60)
    grown = [t for t in threading.enumerate() if t not in threads_before]
    print("grown", len(grown), "fds", fds() - fds_before, flush=True)
    assert grown, "the burst should have started pooled threads"

    for thread in grown:  # each exits on its own once idle for ASGI_SYNC_IDLE_TIMEOUT
        thread.join(30)
    gc.collect()
    left = [t.name for t in threading.enumerate() if t not in threads_before]
    assert left == [], left
    assert fds() == fds_before, (fds_before, fds(), os.listdir("/proc/self/fd"))
    print("ok")
    """
)


def _run_script(script: str, idle_timeout: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASGI_SYNC_IDLE_TIMEOUT": idle_timeout}
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.mark.timeout(90)
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_after_a_burst_and_the_idle_timeout_threads_and_descriptors_are_back() -> None:
    result = _run_script(_IDLE_SCRIPT, "0.5", 80)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("ok\n")


_RUNNER_SCRIPT = textwrap.dedent(
    """
    import asyncio, threading
    from asgi_sync._threads import _acquire_runner

    runners = [_acquire_runner() for _ in range(3)]
    for runner in runners:
        future = asyncio.run_coroutine_threadsafe(asyncio.sleep(0, "ran"), runner.loop)
        assert future.result(5) == "ran"
    held = runners.pop()  # lent out: it must stay, however long it is idle
    for runner in runners:
        runner.release()
    for runner in runners:
        runner.thread.join(20)  # exits once idle in the pool for ASGI_SYNC_IDLE_TIMEOUT
        assert not runner.thread.is_alive()
        assert runner.loop.is_closed()
    assert held.thread.is_alive() and not held.loop.is_closed()
    future = asyncio.run_coroutine_threadsafe(asyncio.sleep(0, "still"), held.loop)
    assert future.result(5) == "still"
    print("ok")
    """
)


@pytest.mark.timeout(40)
def test_lent_out_loop_threads_exit_once_idle_in_the_pool() -> None:
    result = _run_script(_RUNNER_SCRIPT, "0.2", 30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("ok\n")


_RACE_SCRIPT = textwrap.dedent(
    """
    import asyncio, random, threading, time
    from asgi_sync import async_to_sync, sync_to_async

    async def leaf(n):
        return n

    async def many(rng):
        # Calls spaced around the idle timeout: threads leave the pool while others ask.
        results = []
        for n in range(150):
            if rng.random() < 0.5:
                await asyncio.sleep(rng.uniform(0, 0.006))
            results.append(await sync_to_async(lambda n=n: n, thread_sensitive=False)())
        return results

    def caller(seed, out):
        rng = random.Random(seed)
        got = []
        for n in range(150):
            if rng.random() < 0.5:
                time.sleep(rng.uniform(0, 0.006))  # no event here: the point is the timing
            got.append(async_to_sync(leaf)(n))
        out.append(got == list(range(150)))
        out.append(asyncio.run(asyncio.wait_for(many(rng), 20)) == list(range(150)))

    out = []
    threads = [threading.Thread(daemon=True, target=caller, args=(seed, out)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    assert out == [True] * 12, out
    print("ok")
    """
)


@pytest.mark.timeout(60)
def test_threads_leaving_the_pool_while_calls_arrive_lose_no_work() -> None:
    result = _run_script(_RACE_SCRIPT, "0.003", 50)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("ok\n")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf", "nan"])
def test_a_bad_idle_timeout_is_a_clear_error_at_import(value: str) -> None:
    result = _run_script("import asgi_sync", value, 15)
    assert result.returncode != 0
    message = (
        f"ValueError: ASGI_SYNC_IDLE_TIMEOUT={value!r} is not a positive number of seconds: "
        "set it to how long an idle pooled thread waits before it exits (for example 5), "
        "or unset it for the default."
    )
    assert message in result.stderr, result.stderr


def test_gc_leaves_no_garbage_after_calls() -> None:
    gc.collect()
    for _ in range(50):
        async_to_sync(running_loop)()
    gc.collect()
    assert gc.garbage == []
