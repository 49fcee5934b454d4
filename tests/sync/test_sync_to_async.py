"""sync_to_async: threads, signatures, errors, context and cancellation."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import asgi_sync
from asgi_sync import (
    SyncToAsync,
    ThreadSensitiveContext,
    async_to_sync,
    iscoroutinefunction,
    sync_to_async,
)

var: contextvars.ContextVar[str] = contextvars.ContextVar("var")


def ident() -> int:
    return threading.get_ident()


@pytest.mark.asyncio
async def test_runs_in_another_thread_and_returns() -> None:
    def add(a: int, b: int = 0) -> int:
        return a + b

    assert await sync_to_async(add)(1, b=2) == 3
    assert await sync_to_async(ident)() != threading.get_ident()


@pytest.mark.asyncio
async def test_thread_sensitive_calls_share_one_thread() -> None:
    first = await sync_to_async(ident)()
    second = await sync_to_async(ident)()
    both = await asyncio.gather(sync_to_async(ident)(), sync_to_async(ident)())
    assert {first, second, *both} == {first}


@pytest.mark.asyncio
async def test_not_thread_sensitive_runs_on_pooled_threads() -> None:
    thread = await sync_to_async(threading.current_thread, thread_sensitive=False)()
    assert thread is not threading.current_thread()
    assert thread.name.startswith("asgi_sync-worker-")


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_not_thread_sensitive_calls_blocked_in_nested_calls_cannot_starve() -> None:
    # More blocked threads than any fixed-size default executor has (min(32, cpus + 4)).
    count = 40
    barrier = threading.Barrier(count, timeout=10)

    def leaf() -> int:
        return barrier.wait()

    def middle() -> int:
        async def go() -> int:
            return await sync_to_async(leaf, thread_sensitive=False)()

        return async_to_sync(go)()

    results = await asyncio.wait_for(
        asyncio.gather(*(sync_to_async(middle, thread_sensitive=False)() for _ in range(count))),
        15,
    )
    assert sorted(results) == list(range(count))


@pytest.mark.asyncio
async def test_explicit_executor_is_used() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="mine") as pool:
        current = sync_to_async(threading.current_thread, thread_sensitive=False, executor=pool)
        thread = await current()
    assert thread.name.startswith("mine")


@pytest.mark.asyncio
async def test_exceptions_cross_unchanged() -> None:
    error = KeyError("boom")

    def fail() -> None:
        raise error

    with pytest.raises(KeyError) as info:
        await sync_to_async(fail)()
    assert info.value is error
    assert any(entry.name == "fail" for entry in info.traceback)


@pytest.mark.asyncio
async def test_sys_exc_info_reflects_the_callers_exception() -> None:
    def seen() -> Any:
        return sys.exc_info()[1]

    error = ValueError("handled")
    try:
        raise error
    except ValueError:
        assert await sync_to_async(seen)() is error
    assert await sync_to_async(seen)() is None


@pytest.mark.asyncio
async def test_context_flows_in_and_back_out() -> None:
    var.set("caller")

    def callee() -> str:
        before = var.get()
        var.set("callee")
        return before

    assert await sync_to_async(callee)() == "caller"
    assert var.get() == "callee"


@pytest.mark.asyncio
async def test_context_flows_back_when_the_callee_raises() -> None:
    def callee() -> None:
        var.set("set before raising")
        raise RuntimeError

    with pytest.raises(RuntimeError):
        await sync_to_async(callee)()
    assert var.get() == "set before raising"


@pytest.mark.asyncio
async def test_explicit_context_is_used_and_not_copied_back() -> None:
    var.set("caller")
    context = contextvars.Context()

    def callee() -> str:
        var.set("inside")
        return var.get("unset-before")

    assert await sync_to_async(callee, context=context)() == "inside"
    assert var.get() == "caller"
    assert context[var] == "inside"


@pytest.mark.asyncio
async def test_concurrent_tasks_do_not_see_each_others_values() -> None:
    async def one(name: str) -> str:
        var.set(name)

        def read() -> str:
            return var.get()

        await asyncio.sleep(0)
        return await sync_to_async(read)()

    assert await asyncio.gather(*(one(str(i)) for i in range(20))) == [str(i) for i in range(20)]


def test_rejects_coroutine_function() -> None:
    async def coro() -> None:
        pass

    with pytest.raises(TypeError, match=r"^sync_to_async can only be applied to sync functions\.$"):
        sync_to_async(coro)


def test_rejects_async_callable_object() -> None:
    class AsyncCallable:
        async def __call__(self) -> None:
            pass

    with pytest.raises(TypeError, match=r"^sync_to_async can only be applied to sync functions\.$"):
        sync_to_async(AsyncCallable())


def test_rejects_partial_of_coroutine_function() -> None:
    async def coro(x: int) -> None:
        pass

    with pytest.raises(TypeError, match=r"^sync_to_async can only be applied to sync functions\.$"):
        sync_to_async(functools.partial(coro, 1))


def test_rejects_executor_with_thread_sensitive() -> None:
    with (
        ThreadPoolExecutor(1) as pool,
        pytest.raises(TypeError, match=r"^executor must not be set when thread_sensitive is True$"),
    ):
        sync_to_async(ident, executor=pool)


def test_wrapper_keeps_metadata() -> None:
    def documented() -> None:
        """The docstring."""

    wrapped = sync_to_async(documented)
    assert wrapped.__name__ == "documented"
    assert wrapped.__doc__ == "The docstring."
    assert wrapped.__wrapped__ is documented  # type: ignore[attr-defined]
    assert iscoroutinefunction(wrapped)
    assert isinstance(wrapped, SyncToAsync)


def test_wrapper_of_bound_method_keeps_self() -> None:
    class A:
        def method(self) -> int:
            return 1

    a = A()
    assert sync_to_async(a.method).__self__ is a  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_decorator_without_and_with_arguments() -> None:
    @sync_to_async
    def plain() -> int:
        return threading.get_ident()

    @sync_to_async(thread_sensitive=False)
    def configured() -> str:
        return threading.current_thread().name

    assert await plain() != threading.get_ident()
    assert await configured() != "asgi_sync-thread-sensitive"


@pytest.mark.asyncio
async def test_decorated_method() -> None:
    class Model:
        def __init__(self) -> None:
            self.value = 5

        @sync_to_async
        def get(self, plus: int) -> int:
            """Get it."""
            return self.value + plus

    model = Model()
    assert await model.get(1) == 6
    assert model.get.__name__ == "get"
    assert iscoroutinefunction(model.get)


def test_subclassable() -> None:
    class Mine(SyncToAsync):
        pass

    def seven() -> int:
        return 7

    wrapped = Mine(seven)

    async def main() -> int:
        return await wrapped()

    assert async_to_sync(main)() == 7


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_cancellation_returns_promptly_and_is_not_swallowed() -> None:
    release = threading.Event()
    started = threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(5)

    task = asyncio.create_task(sync_to_async(blocking, thread_sensitive=False)())
    assert await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    release.set()


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_cancellation_cancels_the_nested_async_to_sync_coroutine() -> None:
    inner_started = asyncio.Event()
    inner_cancelled = asyncio.Event()
    sync_saw: list[type[BaseException]] = []
    loop = asyncio.get_running_loop()

    async def inner() -> None:
        loop.call_soon(inner_started.set)
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            inner_cancelled.set()
            raise

    def outer() -> None:
        try:
            async_to_sync(inner)()
        except BaseException as exc:
            sync_saw.append(type(exc))
            raise

    task = asyncio.create_task(sync_to_async(outer)())
    await asyncio.wait_for(inner_started.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(inner_cancelled.wait(), 2)
    # The thread-sensitive thread is free again.
    assert await asyncio.wait_for(sync_to_async(ident)(), 2)
    assert sync_saw == [asyncio.CancelledError]


@pytest.mark.asyncio
async def test_callers_cancellation_wins_over_a_finished_result() -> None:
    def quick() -> int:
        return 1

    task = asyncio.create_task(sync_to_async(quick)())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.asyncio
async def test_thread_sensitive_context_gives_its_own_thread() -> None:
    outside = await sync_to_async(ident)()
    async with ThreadSensitiveContext():
        inside = {await sync_to_async(ident)() for _ in range(3)}
    assert len(inside) == 1
    assert inside != {outside}


@pytest.mark.asyncio
async def test_concurrent_thread_sensitive_contexts_run_in_parallel() -> None:
    barrier = threading.Barrier(2, timeout=5)

    async def request() -> int:
        async with ThreadSensitiveContext():
            await sync_to_async(barrier.wait)()
            return await sync_to_async(ident)()

    first, second = await asyncio.wait_for(asyncio.gather(request(), request()), 10)
    assert first != second


@pytest.mark.asyncio
async def test_thread_sensitive_context_with_executor() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="ctx-exec") as pool:
        async with ThreadSensitiveContext(executor=pool):
            name = await sync_to_async(lambda: threading.current_thread().name)()
    assert name.startswith("ctx-exec")


@pytest.mark.asyncio
async def test_thread_sensitive_context_reuses_pooled_threads() -> None:
    async def request() -> int:
        async with ThreadSensitiveContext():
            return await sync_to_async(ident)()

    await request()
    # Idle threads left by earlier tests may exit meanwhile, so the count may drop;
    # what must not happen is one new thread per context.
    before = threading.active_count()
    served = {await request() for _ in range(20)}
    assert threading.active_count() <= before
    assert len(served) < 10  # one thread per context would give 20
    assert not SyncToAsync.context_to_thread_executor


@pytest.mark.asyncio
async def test_local_binding_hook_runs_in_the_carried_context() -> None:
    calls: list[tuple[int, str]] = []

    def spy() -> None:
        calls.append((threading.get_ident(), var.get("unset")))

    original = asgi_sync.bind_context_to_current_thread  # type: ignore[attr-defined]
    asgi_sync.bind_context_to_current_thread = spy  # type: ignore[attr-defined]
    try:
        var.set("carried")

        def callee() -> int:
            var.set("changed")
            return threading.get_ident()

        worker = await sync_to_async(callee)()
    finally:
        asgi_sync.bind_context_to_current_thread = original  # type: ignore[attr-defined]
    # Once on the worker inside the carried context, once here after the copy-back.
    assert calls == [(worker, "carried"), (threading.get_ident(), "changed")]


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_cancelled_call_that_has_not_started_never_runs() -> None:
    occupied = threading.Event()
    release = threading.Event()
    ran: list[str] = []
    loop = asyncio.get_running_loop()

    def occupy() -> None:
        occupied.set()
        release.wait(5)

    def queued() -> None:
        ran.append("queued")

    async with ThreadSensitiveContext():
        busy = asyncio.create_task(sync_to_async(occupy)())
        assert await loop.run_in_executor(None, occupied.wait, 5)
        waiting = asyncio.create_task(sync_to_async(queued)())
        await asyncio.sleep(0)  # one step: the call queues its work behind occupy()
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        await asyncio.wait_for(busy, 5)
        await sync_to_async(ident)()  # runs after anything queued before it
    assert ran == []


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_orphaned_sync_code_gets_its_later_async_to_sync_calls_cancelled() -> None:
    started = threading.Event()
    release = threading.Event()
    finished = threading.Event()
    outcome: list[str] = []
    loop = asyncio.get_running_loop()

    async def never_finishes() -> None:
        await asyncio.sleep(30)

    def orphan() -> None:
        started.set()
        release.wait(5)
        try:
            async_to_sync(never_finishes)()
        except asyncio.CancelledError:
            outcome.append("cancelled")
        finally:
            finished.set()

    task = asyncio.create_task(sync_to_async(orphan, thread_sensitive=False)())
    assert await loop.run_in_executor(None, started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    assert await loop.run_in_executor(None, finished.wait, 5)
    assert outcome == ["cancelled"]
