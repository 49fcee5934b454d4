"""Misuse gets a clear error, raised at once (never a hang or a silent wrong result)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ._impl import Local, StatelessServer, async_to_sync, sync_to_async
from ._support import no_thread_leak, run


@pytest.mark.timeout(10)
def test_async_to_sync_inside_a_running_loop() -> None:
    async def inner() -> None:
        return None

    async def main() -> None:
        with pytest.raises(RuntimeError, match=r"(?i)event loop") as info:
            async_to_sync(inner)()
        assert "await" in str(info.value), "the error should say to await it directly"

    with no_thread_leak():
        run(main, 5)


@pytest.mark.timeout(10)
def test_sync_to_async_on_a_coroutine_function() -> None:
    async def coroutine_function() -> None:
        return None

    with pytest.raises(TypeError, match=r"sync_to_async can only be applied to sync functions"):
        sync_to_async(coroutine_function)


@pytest.mark.timeout(10)
def test_local_cannot_be_subclassed() -> None:
    def subclass_and_use() -> None:
        class Custom(Local):  # type: ignore[misc]  # deliberately: Local is final
            pass

        Custom()

    with pytest.raises(TypeError, match=r"cannot be subclassed"):
        subclass_and_use()


@pytest.mark.timeout(10)
def test_stateless_server_without_handle() -> None:
    async def application(scope: Any, receive: Any, send: Any) -> None:
        return None

    server = StatelessServer(application)
    with no_thread_leak(), pytest.raises(NotImplementedError, match=r"handle\(\)"):
        server.run()


# --- the StatelessServer loop survives crashing applications ---------------------------


class CrashingServer(StatelessServer):
    """Creates ``total`` application instances, one message each, waiting for each in turn."""

    total = 200

    def __init__(self, application: Any, max_applications: int) -> None:
        super().__init__(application, max_applications=max_applications)
        self.processed: dict[int, asyncio.Event] = {}
        self.most_alive = 0  # the most instances held at once, sampled while serving

    async def handle(self) -> None:
        for n in range(self.total):
            self.processed[n] = asyncio.Event()
            queue = self.get_or_create_application_instance(f"client-{n}", {"type": "test"})
            self.most_alive = max(self.most_alive, len(self.application_instances))
            queue.put_nowait({"type": "test.message", "n": n})
            await asyncio.wait_for(self.processed[n].wait(), 5)


@pytest.mark.timeout(30)
def test_stateless_server_survives_crashing_applications() -> None:
    answered: list[int] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        server.processed[message["n"]].set()
        if message["n"] % 3 == 0:
            raise ValueError(f"application {message['n']} failed")
        answered.append(message["n"])
        await asyncio.Event().wait()  # stay alive until the server evicts or stops us

    server = CrashingServer(application, max_applications=20)

    async def main() -> None:
        await server.arun()

    run(main, 25)
    assert sorted(answered) == [n for n in range(200) if n % 3 != 0]
    # 200 instances were created and the ones answering stay alive: the oldest were evicted
    # to stay within max_applications (sampled during the run: arun() clears them at exit).
    assert server.most_alive == server.max_applications, server.most_alive
