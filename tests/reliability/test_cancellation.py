"""Cancellation storms: cancel at random points, then nothing is leaked or stuck."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._asgi import Client, body_messages, http_scope, request
from ._impl import async_to_sync, make_wsgi, sync_to_async
from ._support import assert_no_other_task, no_thread_leak, run, usable_afterwards

storm_settings = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


async def settle(timeout: float = 5.0) -> None:
    """Wait until every other task of the loop has finished; fail if one never does."""
    me = asyncio.current_task()

    async def drain() -> None:
        while True:
            others = [
                t
                for t in asyncio.all_tasks()
                if t is not me
                and t is not asyncio.current_task()
                and not t.done()
                and t.get_coro().__qualname__ != "run.<locals>.bounded"  # type: ignore[union-attr]
            ]
            if not others:
                return
            await asyncio.wait(others)

    await asyncio.wait_for(drain(), timeout)
    assert_no_other_task()


async def cancel_storm(
    tasks: list[asyncio.Task[Any]], delays: list[float], timeout: float = 10.0
) -> None:
    """Cancel each task after its delay; every task cancelled while running must end so."""
    requested: list[bool] = [False] * len(tasks)

    async def canceller(index: int, delay: float) -> None:
        await asyncio.sleep(delay)
        requested[index] = tasks[index].cancel()

    cancellers = [asyncio.ensure_future(canceller(i, d)) for i, d in enumerate(delays)]
    await asyncio.wait_for(asyncio.gather(*cancellers), timeout)
    await asyncio.wait_for(asyncio.wait(tasks), timeout)
    for was_requested, task in zip(requested, tasks):
        if was_requested:
            assert task.cancelled(), f"{task} was cancelled but finished otherwise"
        else:
            assert task.done()
            assert not task.cancelled()


delays = st.lists(st.floats(0, 0.02), min_size=100, max_size=100)


def blocking(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.mark.timeout(40)
@storm_settings
@given(delays=delays, thread_sensitive=st.booleans(), seed=st.integers(0, 2**16))
def test_sync_to_async_storm(delays: list[float], thread_sensitive: bool, seed: int) -> None:
    rng = random.Random(seed)

    async def main() -> None:
        call = sync_to_async(blocking, thread_sensitive=thread_sensitive)
        tasks = [asyncio.ensure_future(call(rng.uniform(0, 0.0005))) for _ in delays]
        await cancel_storm(tasks, delays)
        await settle()
        await usable_afterwards()

    with no_thread_leak():
        run(main, 30)


@pytest.mark.timeout(40)
@storm_settings
@given(delays=delays, seed=st.integers(0, 2**16))
def test_storm_inside_async_to_sync_started_sync(delays: list[float], seed: int) -> None:
    """Thread-sensitive work queued on the calling thread is cancelled without a hang."""
    rng = random.Random(seed)

    async def main() -> None:
        call = sync_to_async(blocking)
        tasks = [asyncio.ensure_future(call(rng.uniform(0, 0.0005))) for _ in delays]
        await cancel_storm(tasks, delays)
        await settle()
        await usable_afterwards()

    with no_thread_leak():
        async_to_sync(main)()


@pytest.mark.timeout(40)
@storm_settings
@given(delays=delays, seed=st.integers(0, 2**16))
def test_storm_through_sync_to_async_then_async_to_sync(delays: list[float], seed: int) -> None:
    rng = random.Random(seed)

    async def inner(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    def middle(seconds: float) -> float:
        return async_to_sync(inner)(seconds)

    async def main() -> None:
        tasks = [
            asyncio.ensure_future(
                sync_to_async(middle, thread_sensitive=rng.random() < 0.5)(rng.uniform(0, 0.002))
            )
            for _ in delays
        ]
        await cancel_storm(tasks, delays)
        await settle()
        await usable_afterwards()

    with no_thread_leak():
        run(main, 30)


@pytest.mark.timeout(20)
def test_async_to_sync_caller_sees_cancelled_error_from_a_plain_thread() -> None:
    async def cancelled() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(0)

    with no_thread_leak(), pytest.raises(asyncio.CancelledError):
        async_to_sync(cancelled)()


@pytest.mark.timeout(20)
def test_async_to_sync_caller_sees_cancelled_error_inside_sync_to_async() -> None:
    seen: list[str] = []

    async def cancelled() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(0)

    def middle() -> None:
        try:
            async_to_sync(cancelled)()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def main() -> None:
        with pytest.raises(asyncio.CancelledError):
            await sync_to_async(middle)()
        await settle()

    with no_thread_leak():
        run(main, 10)
    assert seen == ["cancelled"]


# --- WSGI requests and uploads ---------------------------------------------------------


class Streaming:
    """A WSGI app that reads its whole upload in small pieces and streams 20 chunks."""

    def __init__(self) -> None:
        self.closed = 0
        self.calls = 0
        self.lock = threading.Lock()
        self.reading = threading.Semaphore(0)  # released once per call, after its first piece

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        with self.lock:
            self.calls += 1
        received = 0
        while True:
            piece = environ["wsgi.input"].read(1024)
            if not piece:
                break
            if not received:
                self.reading.release()
            received += len(piece)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return self._chunks(received)

    def _chunks(self, received: int) -> Iterator[bytes]:
        try:
            yield str(received).encode()
            for _ in range(20):
                yield b"x" * 512
        finally:
            with self.lock:
                self.closed += 1


async def still_serves(app: Any, workers: int = 2) -> None:
    """Fail unless ``workers`` fresh requests all complete: no worker is stuck."""
    clients = [Client(body_messages(b"abc")) for _ in range(workers)]
    await asyncio.gather(*(request(app, http_scope(method="POST"), c, 10) for c in clients))
    for client in clients:
        assert client.status() == 200
        assert client.body().startswith(b"3")


@pytest.mark.timeout(40)
@storm_settings
@given(
    checkpoints=st.lists(st.integers(1, 40), min_size=20, max_size=20),
    body_size=st.integers(0, 20_000),
    chunks=st.integers(1, 8),
)
def test_wsgi_request_storm(checkpoints: list[int], body_size: int, chunks: int) -> None:
    """Requests cancelled after a random number of receive/send events."""
    wsgi = Streaming()
    app = make_wsgi(wsgi, max_workers=2)

    async def one(checkpoint: int) -> None:
        client = Client(body_messages(b"u" * body_size, chunks), then_disconnect=False)
        client.checkpoint = checkpoint
        task = asyncio.ensure_future(app(http_scope(method="POST"), client.receive, client.send))
        reached = asyncio.ensure_future(client.reached.wait())
        await asyncio.wait_for(asyncio.wait([task, reached], return_when="FIRST_COMPLETED"), 10)
        reached.cancel()
        if task.cancel():
            await asyncio.wait_for(asyncio.wait([task]), 10)
            assert task.cancelled()
        else:
            assert task.exception() is None
        client.assert_well_formed()

    async def main() -> None:
        await asyncio.gather(*(one(c) for c in checkpoints))
        await settle()
        await still_serves(app)

    with no_thread_leak():
        run(main, 30)


@pytest.mark.timeout(20)
def test_wsgi_upload_cancelled_while_the_client_stalls() -> None:
    """The client sends part of an upload then goes quiet; the request is cancelled."""
    wsgi = Streaming()
    app = make_wsgi(wsgi, max_workers=2)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(4):  # more stalled uploads than workers
            client = Client(
                [{"type": "http.request", "body": b"p" * 4096, "more_body": True}],
                then_disconnect=False,
            )
            client.checkpoint = 2  # the second receive(): the client has stalled
            task = asyncio.ensure_future(
                app(http_scope(method="POST"), client.receive, client.send)
            )
            await asyncio.wait_for(client.reached.wait(), 5)
            # The worker is reading the upload and is about to block for the rest of it.
            assert await loop.run_in_executor(None, wsgi.reading.acquire, True, 5)
            assert task.cancel()
            await asyncio.wait_for(asyncio.wait([task]), 5)
            assert task.cancelled()
            assert client.sent == []
        await settle()
        await still_serves(app)

    with no_thread_leak():
        run(main, 15)
