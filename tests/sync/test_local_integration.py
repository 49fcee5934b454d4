"""asgi_local.Local values follow the same rules as context variables across both bridges."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from asgi_local import Local
from asgi_sync import ThreadSensitiveContext, async_to_sync, sync_to_async


@pytest.mark.asyncio
async def test_local_flows_into_sync_to_async_and_back() -> None:
    local = Local()
    local.value = "caller"

    def callee() -> str:
        before: str = local.value
        local.value = "callee"
        local.other = 1
        return before

    assert await sync_to_async(callee)() == "caller"
    assert local.value == "callee"
    assert local.other == 1


def test_local_flows_into_async_to_sync_and_back() -> None:
    local = Local()

    def main() -> tuple[str, str]:
        local.value = "caller"

        async def callee() -> str:
            before: str = local.value
            local.value = "callee"
            return before

        return async_to_sync(callee)(), local.value

    assert contextvars.copy_context().run(main) == ("caller", "callee")


@pytest.mark.timeout(20)
def test_local_round_trip_through_nested_bridges() -> None:
    local = Local()

    def deepest() -> None:
        assert local.value == "b"
        local.value = "c"

    async def middle() -> None:
        assert local.value == "a"
        local.value = "b"
        await sync_to_async(deepest)()
        assert local.value == "c"
        local.value = "d"

    def main() -> str:
        local.value = "a"
        async_to_sync(middle)()
        value: str = local.value
        return value

    assert contextvars.copy_context().run(main) == "d"


@pytest.mark.asyncio
async def test_concurrent_requests_keep_their_own_local_values() -> None:
    local = Local()

    async def request(name: str) -> str:
        async with ThreadSensitiveContext():
            local.value = name

            def read() -> str:
                value: str = local.value
                return value

            await asyncio.sleep(0)
            return await sync_to_async(read)()

    names = [str(i) for i in range(20)]
    assert await asyncio.gather(*(request(n) for n in names)) == names


def test_unrelated_thread_does_not_see_the_value() -> None:
    local = Local()
    local.value = "here"
    seen: list[bool] = []
    thread = threading.Thread(daemon=True, target=lambda: seen.append(hasattr(local, "value")))
    thread.start()
    thread.join(5)
    assert seen == [False]
