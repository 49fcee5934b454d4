"""async_to_sync: loops, threads, nesting, context, errors."""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from asgi_sync import (
    AsyncSingleThreadContext,
    AsyncToSync,
    ThreadSensitiveContext,
    async_to_sync,
    iscoroutinefunction,
    sync_to_async,
)

var: contextvars.ContextVar[str] = contextvars.ContextVar("var")


def ident() -> int:
    return threading.get_ident()


async def async_ident() -> int:
    return threading.get_ident()


def test_runs_the_coroutine_and_returns() -> None:
    async def add(a: int, b: int = 0) -> int:
        await asyncio.sleep(0)
        return a + b

    assert async_to_sync(add)(1, b=2) == 3


def test_returns_an_async_to_sync_instance_with_metadata() -> None:
    async def documented() -> None:
        """The docstring."""

    wrapped = async_to_sync(documented)
    assert isinstance(wrapped, AsyncToSync)
    assert wrapped.__name__ == "documented"  # type: ignore[attr-defined]
    assert wrapped.__doc__ == "The docstring."
    assert wrapped.__wrapped__ is documented  # type: ignore[attr-defined]
    assert not iscoroutinefunction(wrapped)


def test_loop_runs_in_another_thread() -> None:
    assert async_to_sync(async_ident)() != threading.get_ident()


def test_thread_sensitive_code_comes_back_to_the_calling_thread() -> None:
    async def hop() -> int:
        return await sync_to_async(ident)()

    assert async_to_sync(hop)() == threading.get_ident()


@pytest.mark.timeout(20)
def test_nesting_depth_20_started_sync_never_leaves_this_thread() -> None:
    seen: list[int] = []

    def sync_level(n: int) -> int:
        seen.append(threading.get_ident())
        return n if n == 0 else async_to_sync(async_level)(n - 1)

    async def async_level(n: int) -> int:
        return await sync_to_async(sync_level)(n)

    assert sync_level(20) == 0
    assert set(seen) == {threading.get_ident()}
    assert len(seen) == 21


@pytest.mark.timeout(20)
def test_nesting_depth_20_started_async_stays_on_one_thread() -> None:
    seen: list[int] = []
    loops: list[asyncio.AbstractEventLoop] = []

    def sync_level(n: int) -> int:
        seen.append(threading.get_ident())
        return n if n == 0 else async_to_sync(async_level)(n - 1)

    async def async_level(n: int) -> int:
        loops.append(asyncio.get_running_loop())
        return await sync_to_async(sync_level)(n)

    async def main() -> int:
        return await asyncio.wait_for(async_level(20), 15)

    assert asyncio.run(main()) == 0
    assert len(set(seen)) == 1
    assert len(set(map(id, loops))) == 1  # every level ran on the outer loop


@pytest.mark.timeout(20)
def test_gather_inside_nested_chain_does_not_deadlock() -> None:
    async def branch(n: int) -> int:
        return await sync_to_async(lambda: n)()

    def middle() -> int:
        async def both() -> int:
            results = await asyncio.gather(*(branch(i) for i in range(5)))
            return sum(results)

        return async_to_sync(both)()

    async def top() -> tuple[int, int]:
        return await asyncio.wait_for(
            asyncio.gather(sync_to_async(middle)(), sync_to_async(middle)()), 10
        )

    assert list(async_to_sync(top)()) == [10, 10]


@pytest.mark.timeout(20)
def test_from_a_sync_to_async_thread_it_runs_on_the_outer_loop() -> None:
    async def main() -> bool:
        outer = asyncio.get_running_loop()

        async def which() -> asyncio.AbstractEventLoop:
            return asyncio.get_running_loop()

        def sync() -> asyncio.AbstractEventLoop:
            return async_to_sync(which)()

        return (
            await sync_to_async(sync)() is outer
            and await sync_to_async(sync, thread_sensitive=False)() is outer
        )

    assert asyncio.run(main())


@pytest.mark.timeout(20)
def test_force_new_loop_uses_another_loop() -> None:
    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def main() -> bool:
        outer = asyncio.get_running_loop()

        def sync() -> asyncio.AbstractEventLoop:
            return async_to_sync(which, force_new_loop=True)()

        return await sync_to_async(sync)() is not outer

    assert asyncio.run(main())


@pytest.mark.timeout(20)
def test_target_loop_is_resolved_at_call_time() -> None:
    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    wrapped = async_to_sync(which)  # made once, outside any loop

    async def main() -> bool:
        return await sync_to_async(wrapped)() is asyncio.get_running_loop()

    assert asyncio.run(main())
    assert asyncio.run(main())


@pytest.mark.asyncio
async def test_raises_in_a_thread_with_a_running_loop() -> None:
    message = (
        r"^You cannot use AsyncToSync in the same thread as an async event loop - "
        r"just await the async function directly\.$"
    )
    with pytest.raises(RuntimeError, match=message):
        async_to_sync(async_ident)()


def test_warns_on_non_async_callable() -> None:
    def returns_awaitable() -> Any:
        return async_ident()

    with pytest.warns(UserWarning, match=r"^async_to_sync was passed a non-async-marked callable$"):
        wrapped = async_to_sync(returns_awaitable)
    assert wrapped() != threading.get_ident()


def test_exceptions_cross_unchanged() -> None:
    error = LookupError("boom")

    async def fail() -> None:
        raise error

    with pytest.raises(LookupError) as info:
        async_to_sync(fail)()
    assert info.value is error
    assert any(entry.name == "fail" for entry in info.traceback)


def test_sys_exc_info_reflects_the_callers_exception() -> None:
    async def seen() -> Any:
        return sys.exc_info()[1]

    error = ValueError("handled")
    try:
        raise error
    except ValueError:
        assert async_to_sync(seen)() is error


def test_context_flows_in_and_back_out() -> None:
    def main() -> tuple[str, str]:
        var.set("caller")

        async def callee() -> str:
            before = var.get()
            var.set("callee")
            return before

        return async_to_sync(callee)(), var.get()

    assert contextvars.copy_context().run(main) == ("caller", "callee")


def test_context_round_trip_through_both_bridges() -> None:
    def main() -> str:
        var.set("a")

        def deepest() -> None:
            assert var.get() == "b"
            var.set("c")

        async def middle() -> None:
            assert var.get() == "a"
            var.set("b")
            await sync_to_async(deepest)()
            assert var.get() == "c"
            var.set("d")

        async_to_sync(middle)()
        return var.get()

    assert contextvars.copy_context().run(main) == "d"


def test_decorators_and_methods() -> None:
    @async_to_sync
    async def plain(x: int) -> int:
        return x * 2

    @async_to_sync(force_new_loop=True)
    async def configured(x: int) -> int:
        return x * 3

    class Service:
        factor = 4

        @async_to_sync
        async def method(self, x: int) -> int:
            return x * self.factor

    assert plain(1) == 2
    assert configured(1) == 3
    assert Service().method(1) == 4
    assert Service().method.__name__ == "method"


def test_concurrent_plain_sync_callers_each_get_their_own_loop() -> None:
    barrier = threading.Barrier(2, timeout=5)
    loops: list[int] = []

    async def meet() -> None:
        loops.append(id(asyncio.get_running_loop()))
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait)

    threads = [threading.Thread(daemon=True, target=async_to_sync(meet)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(set(loops)) == 2


def test_the_loops_default_executor_threads_say_whose_they_are() -> None:
    async def names() -> tuple[str, str]:
        loop_thread = threading.current_thread().name
        worker = await asyncio.to_thread(lambda: threading.current_thread().name)
        return loop_thread, worker

    loop_thread, worker = async_to_sync(names)()
    assert loop_thread.startswith("asgi_sync-loop-")
    assert worker.startswith(f"{loop_thread}-default")


def test_leftover_tasks_are_cancelled_when_the_call_ends() -> None:
    cancelled = threading.Event()

    async def background() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def main() -> None:
        asyncio.get_running_loop().create_task(background())
        await asyncio.sleep(0)

    async_to_sync(main)()
    assert cancelled.is_set()


def test_async_single_thread_context_pins_one_thread() -> None:
    with AsyncSingleThreadContext():
        inside = {async_to_sync(async_ident)() for _ in range(5)}
    assert len(inside) == 1
    assert inside != {threading.get_ident()}


@pytest.mark.timeout(20)
def test_thread_sensitive_context_inside_started_sync_program_stays_on_this_thread() -> None:
    async def main() -> int:
        async with ThreadSensitiveContext():
            return await sync_to_async(ident)()

    assert async_to_sync(main)() == threading.get_ident()


@pytest.mark.timeout(30)
def test_stress_many_tasks_with_nesting() -> None:
    def leaf(i: int) -> int:
        return i

    def middle(i: int) -> int:
        async def go() -> int:
            await asyncio.sleep(0)
            return await sync_to_async(leaf)(i)

        return async_to_sync(go)()

    async def request(i: int) -> int:
        async with ThreadSensitiveContext():
            return await sync_to_async(middle)(i)

    async def main() -> list[int]:
        return await asyncio.wait_for(asyncio.gather(*(request(i) for i in range(200))), 20)

    assert asyncio.run(main()) == list(range(200))


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_fresh_threads() -> None:
    script = textwrap.dedent(
        """
        import asyncio, os, threading
        from asgi_sync import ThreadSensitiveContext, async_to_sync, sync_to_async

        async def request():
            async with ThreadSensitiveContext():
                await sync_to_async(threading.get_ident)()
            await sync_to_async(threading.get_ident)()
            await sync_to_async(threading.get_ident, thread_sensitive=False)()
            return 1

        def run():
            assert asyncio.run(asyncio.wait_for(request(), 5)) == 1
            assert async_to_sync(request)() == 1

        run()  # start every kind of pooled thread in the parent
        pid = os.fork()
        if pid == 0:
            try:
                run()
            except BaseException:
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        raise SystemExit(status >> 8)
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.timeout(20)
def test_waiting_on_the_loop_without_async_to_sync_raises_a_clear_error() -> None:
    async def leaf() -> int:
        return await sync_to_async(threading.get_ident)()

    def blocked(loop: asyncio.AbstractEventLoop) -> int:
        return asyncio.run_coroutine_threadsafe(leaf(), loop).result(5)

    async def main() -> int:
        return await asyncio.wait_for(sync_to_async(blocked)(asyncio.get_running_loop()), 10)

    message = (
        r"^sync_to_async\(get_ident\) would deadlock: it is thread-sensitive, "
        r".* or pass thread_sensitive=False\.$"
    )
    with pytest.raises(RuntimeError, match=message):
        asyncio.run(main())


@pytest.mark.timeout(20)
def test_chain_that_lost_its_executor_still_reaches_its_waiting_thread() -> None:
    async def leaf() -> int:
        AsyncToSync.executors.current = None  # as if the chain's context were rebuilt
        return await sync_to_async(threading.get_ident)()

    def middle() -> tuple[int, int]:
        return threading.get_ident(), async_to_sync(leaf)()

    async def main() -> tuple[int, int]:
        return await asyncio.wait_for(sync_to_async(middle)(), 10)

    outer, inner = asyncio.run(main())
    assert outer == inner
