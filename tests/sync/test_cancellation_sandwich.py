"""Cancelling a task whose sync code waits in async_to_sync on the task's own loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable

import pytest

from asgi_sync import ThreadSensitiveContext, async_to_sync, sync_to_async


class Probe:
    """Events shared by the async caller, the sync middle and the inner coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.inner_started = asyncio.Event()
        self.release_sync = threading.Event()
        self.sync_saw: list[str] = []
        self.later_calls: list[str] = []
        self.finished = threading.Event()

    def started(self) -> None:
        self.loop.call_soon_threadsafe(self.inner_started.set)


def sync_middle(
    probe: Probe, inner: Callable[[], Awaitable[object]], then_call: bool = False
) -> str:
    """The sync filling: wait in async_to_sync(inner), then report what it saw."""
    try:
        outcome = f"inner returned {async_to_sync(inner)()!r}"
    except BaseException as exc:
        outcome = f"inner raised {type(exc).__name__}"
    probe.sync_saw.append(outcome)
    probe.release_sync.wait(5)
    if then_call:

        async def later() -> str:
            await asyncio.sleep(0)
            return "ran"

        try:
            probe.later_calls.append(async_to_sync(later)())
        except asyncio.CancelledError:
            probe.later_calls.append("cancelled")
    probe.finished.set()
    return f"sync done after {outcome}"


async def cancel_when_inner_started(task: asyncio.Task[Any], probe: Probe) -> None:
    await asyncio.wait_for(probe.inner_started.wait(), 5)
    task.cancel()


@pytest.mark.asyncio
@pytest.mark.timeout(15)
async def test_absorbed_cancellation_returns_the_sync_result() -> None:
    probe = Probe()

    async def inner() -> str:
        probe.started()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # still runs: the cancellation was caught here
            return "shielded"
        return "slept"

    task = asyncio.create_task(sync_to_async(sync_middle)(probe, inner, then_call=True))
    await cancel_when_inner_started(task, probe)
    probe.release_sync.set()
    assert await asyncio.wait_for(task, 5) == "sync done after inner returned 'shielded'"
    # After an absorbed cancellation the sync code's later async_to_sync calls run.
    assert probe.later_calls == ["ran"]


@pytest.mark.asyncio
@pytest.mark.timeout(15)
async def test_absorbed_around_shield_keeps_the_protected_work() -> None:
    probe = Probe()
    protected_done = asyncio.Event()

    async def protected() -> str:
        await asyncio.sleep(0.01)
        protected_done.set()
        return "saved"

    async def inner() -> str:
        probe.started()
        work = asyncio.ensure_future(protected())
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            return await work

    probe.release_sync.set()
    task = asyncio.create_task(sync_to_async(sync_middle)(probe, inner))
    await cancel_when_inner_started(task, probe)
    assert await asyncio.wait_for(task, 5) == "sync done after inner returned 'saved'"
    assert protected_done.is_set()


@pytest.mark.asyncio
@pytest.mark.timeout(15)
async def test_sync_exception_after_an_absorbed_cancellation_is_raised() -> None:
    probe = Probe()

    async def inner() -> None:
        probe.started()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass

    def fails_afterwards() -> None:
        async_to_sync(inner)()
        raise LookupError("after the inner call")

    task = asyncio.create_task(sync_to_async(fails_afterwards)())
    await cancel_when_inner_started(task, probe)
    with pytest.raises(LookupError, match=r"^after the inner call$"):
        await asyncio.wait_for(task, 5)


@pytest.mark.asyncio
@pytest.mark.timeout(15)
async def test_inner_cancelled_raises_at_once_without_waiting_for_the_sync_code() -> None:
    probe = Probe()

    async def inner() -> None:
        probe.started()
        await asyncio.sleep(10)

    task = asyncio.create_task(
        sync_to_async(sync_middle, thread_sensitive=False)(probe, inner, then_call=True)
    )
    await cancel_when_inner_started(task, probe)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), 2)  # the sync code still waits
    assert not probe.finished.is_set()  # the sync code is still waiting
    probe.release_sync.set()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, probe.finished.wait, 5)
    # Not absorbed: the sync code's later async_to_sync calls are cancelled as they start.
    assert probe.sync_saw == ["inner raised CancelledError"]
    assert probe.later_calls == ["cancelled"]


@pytest.mark.asyncio
@pytest.mark.timeout(15)
async def test_inner_exception_on_cancellation_is_raised_at_once() -> None:
    probe = Probe()

    async def inner() -> None:
        probe.started()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise KeyError("cleanup failed") from None

    task = asyncio.create_task(sync_to_async(sync_middle, thread_sensitive=False)(probe, inner))
    await cancel_when_inner_started(task, probe)
    with pytest.raises(KeyError, match=r"cleanup failed"):
        await asyncio.wait_for(asyncio.shield(task), 2)
    assert not probe.finished.is_set()  # the sync code is still waiting
    probe.release_sync.set()


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_absorption_holds_through_two_levels_of_nesting() -> None:
    probe = Probe()

    async def deepest() -> str:
        probe.started()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "deepest absorbed"
        return "slept"

    def inner_sync() -> str:
        return "inner_sync got " + async_to_sync(deepest)()

    async def middle() -> str:
        return "middle got " + await sync_to_async(inner_sync)()

    def outer_sync() -> str:
        return "outer_sync got " + async_to_sync(middle)()

    task = asyncio.create_task(sync_to_async(outer_sync)())
    await cancel_when_inner_started(task, probe)
    assert await asyncio.wait_for(task, 5) == (
        "outer_sync got middle got inner_sync got deepest absorbed"
    )


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_stress_many_cancelled_sandwiches_absorbed_or_not() -> None:
    loop = asyncio.get_running_loop()
    started = [asyncio.Event() for _ in range(40)]

    def make(i: int) -> Callable[[], str]:
        async def inner() -> str:
            loop.call_soon_threadsafe(started[i].set)
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if i % 2:
                    raise
                return "absorbed"
            return "slept"

        def middle() -> str:
            try:
                return async_to_sync(inner)()
            except asyncio.CancelledError:
                return "sync saw cancel"

        return middle

    async def request(i: int) -> str:
        if i % 3:  # thread-sensitive calls, each request on a thread of its own
            async with ThreadSensitiveContext():
                return await sync_to_async(make(i))()
        return await sync_to_async(make(i), thread_sensitive=False)()

    tasks = [asyncio.create_task(request(i)) for i in range(40)]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 10)
    for task in tasks:
        task.cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    for i, result in enumerate(results):
        if i % 2:
            assert isinstance(result, asyncio.CancelledError), (i, result)
        else:
            assert result == "absorbed", (i, result)
    # Every thread is free again.
    assert await asyncio.wait_for(sync_to_async(threading.get_ident)(), 5)
