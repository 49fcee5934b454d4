"""`Local` across the real `asgi_sync.sync_to_async` and `asgi_sync.async_to_sync`."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from asgi_local import Local
from asgi_sync import async_to_sync, sync_to_async

MISSING = object()


def read(local: Local, name: str = "value") -> Any:
    return getattr(local, name, MISSING)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_sync_to_async_carries_values_both_ways(thread_sensitive: bool) -> None:
    local = Local()
    local.value = "loop"

    def in_thread() -> Any:
        seen = read(local)
        local.value = "thread"
        local.added = "thread"
        return seen, threading.get_ident()

    seen, ident = await sync_to_async(in_thread, thread_sensitive=thread_sensitive)()
    assert ident != threading.get_ident()
    assert seen == "loop"
    assert (local.value, local.added) == ("thread", "thread")


@pytest.mark.timeout(10)
def test_async_to_sync_carries_values_both_ways() -> None:
    local = Local()
    local.value = "sync"

    async def on_loop() -> Any:
        seen = read(local)
        local.value = "loop"
        local.added = "loop"
        return seen

    assert async_to_sync(on_loop)() == "sync"
    assert (local.value, local.added) == ("loop", "loop")


@pytest.mark.timeout(10)
def test_nested_bridges_carry_values() -> None:
    local = Local()
    local.depth = 0

    async def outer() -> list[Any]:
        seen = [local.depth]
        local.depth = 1

        def middle() -> list[Any]:
            seen_here = [local.depth]
            local.depth = 2

            async def inner() -> Any:
                found = local.depth
                local.depth = 3
                return found

            seen_here.append(async_to_sync(inner)())
            seen_here.append(local.depth)
            return seen_here

        seen += await sync_to_async(middle)()
        seen.append(local.depth)
        return seen

    assert async_to_sync(outer)() == [0, 1, 2, 3, 3]
    assert local.depth == 3


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_concurrent_requests_stay_isolated_across_sync_to_async() -> None:
    local = Local()
    count = 10

    def handler(index: int) -> Any:
        seen = local.value
        local.result = index * 10
        return seen

    async def request(index: int) -> Any:
        local.value = index
        seen = await sync_to_async(handler, thread_sensitive=False)(index)
        return seen, local.result, local.value

    results = await asyncio.wait_for(asyncio.gather(*(request(i) for i in range(count))), 8)
    assert results == [(i, i * 10, i) for i in range(count)]
    assert read(local, "result") is MISSING


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_child_task_values_do_not_leak_through_bridge() -> None:
    local = Local()
    local.value = "parent"

    def in_thread() -> None:
        local.value = "thread"

    async def child() -> Any:
        await sync_to_async(in_thread)()
        return local.value

    assert await asyncio.create_task(child()) == "thread"
    assert local.value == "parent"


@pytest.mark.asyncio
@pytest.mark.timeout(10)
@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_thread_critical_not_shared_by_sync_to_async(thread_sensitive: bool) -> None:
    local = Local(thread_critical=True)
    local.value = "loop"

    def in_thread() -> Any:
        seen = read(local)
        local.value = "thread"
        return seen

    assert await sync_to_async(in_thread, thread_sensitive=thread_sensitive)() is MISSING
    assert local.value == "loop"


@pytest.mark.timeout(10)
def test_thread_critical_not_shared_by_async_to_sync() -> None:
    local = Local(thread_critical=True)
    local.value = "sync"

    async def on_loop() -> Any:
        seen = read(local)
        local.value = "loop"
        return seen

    assert async_to_sync(on_loop)() is MISSING
    assert local.value == "sync"


@pytest.mark.timeout(10)
def test_thread_critical_stays_with_thread_sensitive_thread() -> None:
    """Thread-sensitive sync code of one async_to_sync call runs on the caller's thread, so
    it sees that thread's thread_critical values (Django's connection handler relies on it)."""
    local = Local(thread_critical=True)
    local.value = "outer thread"

    async def on_loop() -> Any:
        return await sync_to_async(lambda: read(local))()

    assert async_to_sync(on_loop)() == "outer thread"
