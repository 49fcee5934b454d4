"""WsgiToAsgi behaviour with fake receive/send: streaming, close(), errors, disconnects."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from asgi_sync.typing import ASGIReceiveEvent, LifespanScope, WebSocketScope
from asgi_wsgi import ClientDisconnected, WsgiToAsgi

from .conftest import FakeClient, http_scope


class ClosingBody:
    """An iterable response that records close()."""

    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_at:
                raise RuntimeError("boom in iteration")
            yield chunk

    def close(self) -> None:
        self.closed.set()


@pytest.mark.asyncio
async def test_message_shapes_match_asgiref() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("201 Created", [("X-Y", "z")])
        return [b"a", b"", b"b"]

    client = FakeClient()
    await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert client.sent == [
        {"type": "http.response.start", "status": 201, "headers": [(b"x-y", b"z")]},
        {"type": "http.response.body", "body": b"a", "more_body": True},
        {"type": "http.response.body", "body": b"", "more_body": True},
        {"type": "http.response.body", "body": b"b", "more_body": True},
        {"type": "http.response.body"},
    ]


@pytest.mark.asyncio
async def test_empty_response_sends_start_and_final_body() -> None:
    client = FakeClient()
    await WsgiToAsgi(lambda e, s: (s("204 No Content", []), [])[1])(
        http_scope(), client.receive, client.send
    )
    assert [m["type"] for m in client.sent] == ["http.response.start", "http.response.body"]
    assert client.status == 204


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_app_starts_before_body_finishes_and_reads_stream() -> None:
    started = threading.Event()
    got: list[bytes] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        started.set()
        stream = environ["wsgi.input"]
        got.append(stream.read(3))
        got.append(stream.readline())
        got.extend(stream.readlines())
        start_response("200 OK", [])
        return [b"ok"]

    client = FakeClient([])
    client.incoming.put_nowait({"type": "http.request", "body": b"abc", "more_body": True})
    task = asyncio.ensure_future(WsgiToAsgi(app)(http_scope(), client.receive, client.send))
    assert await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    client.incoming.put_nowait({"type": "http.request", "body": b"line1\nli", "more_body": True})
    client.incoming.put_nowait({"type": "http.request", "body": b"ne2\nend", "more_body": False})
    await asyncio.wait_for(task, 5)
    assert got == [b"abc", b"line1\n", b"line2\n", b"end"]


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_input_read_size_and_iteration() -> None:
    got: list[Any] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        got.append(stream.read(2))
        got.append(list(stream))
        got.append(stream.read())
        start_response("200 OK", [])
        return []

    client = FakeClient([b"ab", b"c\nd", b"\n"])
    await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert got == [b"ab", [b"c\n", b"d\n"], b""]


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_request_body_backpressure_bounds_buffer() -> None:
    chunk = b"x" * 1024
    release = threading.Event()
    total: list[int] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        release.wait(5)
        total.append(len(environ["wsgi.input"].read()))
        start_response("200 OK", [])
        return []

    client = FakeClient([chunk] * 100)
    received = 0
    window_full = asyncio.Event()  # 4 chunks received: one window buffered
    overrun = asyncio.Event()  # more than about one window received

    async def receive() -> ASGIReceiveEvent:
        nonlocal received
        received += 1
        if received >= 4:
            window_full.set()
        if received > 6:
            overrun.set()
        return await client.receive()

    adapter = WsgiToAsgi(app, window=4096)
    task = asyncio.ensure_future(adapter(http_scope(), receive, client.send))
    await asyncio.wait_for(window_full.wait(), 5)
    # A short wait to check that the pump does NOT receive more while the app does not read.
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(overrun.wait(), 0.1)
    assert client.incoming.qsize() >= 100 - 6
    release.set()
    await asyncio.wait_for(task, 5)
    assert total == [100 * 1024]


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_response_chunks_stream_as_yielded_with_backpressure() -> None:
    produced: list[int] = []
    gate = threading.Event()
    window_full = threading.Event()  # chunks 0-3 fill the 4096-byte window, 4 must wait
    overrun = threading.Event()  # the worker got well past one window

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        for index in range(100):
            produced.append(index)
            if index == 4:
                window_full.set()
            if index == 8:
                overrun.set()
            yield b"y" * 1024
            if index == 0:
                gate.wait(5)

    sends = asyncio.Event()
    hold = asyncio.Event()
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)
        sends.set()
        if len(sent) == 2:
            await hold.wait()

    client = FakeClient()
    task = asyncio.ensure_future(WsgiToAsgi(app, window=4096)(http_scope(), client.receive, send))
    for _ in range(500):
        if len(sent) >= 2:
            break
        sends.clear()
        await asyncio.wait_for(sends.wait(), 5)
    assert sent[1]["body"] == b"y" * 1024  # the first chunk arrived before the rest exists
    gate.set()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, window_full.wait, 5)
    # A short wait to check that the worker does NOT run further ahead of send().
    assert not await loop.run_in_executor(None, overrun.wait, 0.1)
    assert len(produced) <= 8  # the worker stopped about one window ahead of send()
    hold.set()
    await asyncio.wait_for(task, 5)
    assert len(produced) == 100


@pytest.mark.asyncio
async def test_write_callable() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"via write ")
        return [b"and iterable"]

    client = FakeClient()
    await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert client.body == b"via write and iterable"


@pytest.mark.asyncio
async def test_start_response_again_with_exc_info_before_body() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-A", "1")])
        try:
            raise KeyError("oops")
        except KeyError:
            import sys

            start_response("503 Service Unavailable", [("X-B", "2")], sys.exc_info())
        return [b"sorry"]

    client = FakeClient()
    await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert client.status == 503
    assert client.header(b"x-b") == b"2"
    assert client.header(b"x-a") is None


@pytest.mark.asyncio
async def test_start_response_twice_without_exc_info_raises() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return []

    client = FakeClient()
    with pytest.raises(RuntimeError, match=r"start_response\(\) was already called"):
        await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert client.sent == []


@pytest.mark.asyncio
async def test_error_before_start_propagates_and_closes() -> None:
    body = ClosingBody([b"a"], fail_at=0)

    def app(environ: Any, start_response: Any) -> ClosingBody:
        start_response("200 OK", [])
        return body

    client = FakeClient()
    with pytest.raises(RuntimeError, match=r"^boom in iteration$") as caught:
        await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert client.sent == []
    assert body.closed.is_set()
    # The traceback reaches into the application's own frame.
    assert any(entry.name == "__iter__" for entry in caught.traceback)


@pytest.mark.asyncio
async def test_error_after_start_ends_connection(caplog: Any) -> None:
    body = ClosingBody([b"a", b"b"], fail_at=1)

    def app(environ: Any, start_response: Any) -> ClosingBody:
        start_response("200 OK", [])
        return body

    client = FakeClient()
    with (
        caplog.at_level(logging.ERROR, logger="asgi_wsgi"),
        pytest.raises(RuntimeError, match="boom in iteration"),
    ):
        await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert client.status == 200
    assert client.sent[-1].get("more_body") is True  # never completed
    assert "after the response started" in caplog.text
    assert body.closed.is_set()


@pytest.mark.asyncio
async def test_close_called_on_success() -> None:
    body = ClosingBody([b"a"])
    client = FakeClient()
    await WsgiToAsgi(lambda e, s: (s("200 OK", []), body)[1])(
        http_scope(), client.receive, client.send
    )
    assert body.closed.is_set()


@pytest.mark.asyncio
async def test_app_exception_in_call_propagates(caplog: Any) -> None:
    error = ValueError("nope")

    def app(environ: Any, start_response: Any) -> list[bytes]:
        raise error

    client = FakeClient()
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"), pytest.raises(ValueError) as caught:
        await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert caught.value is error
    assert client.sent == []
    assert caplog.text == ""  # the server above reports it, once


@pytest.mark.asyncio
async def test_non_bytes_chunk_raises() -> None:
    def app(environ: Any, start_response: Any) -> list[str]:
        start_response("200 OK", [])
        return ["text"]

    client = FakeClient()
    with pytest.raises(TypeError, match="must be bytes, not str: 'text'"):
        # deliberately not a WSGI app: its chunks are str
        await WsgiToAsgi(app)(http_scope(), client.receive, client.send)  # type: ignore[arg-type]
    assert client.sent == []


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_disconnect_mid_response_closes_and_frees_worker() -> None:
    body_closed = threading.Event()
    first_sent = asyncio.Event()

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:
                yield b"z" * 1024
        finally:
            body_closed.set()

    client = FakeClient()

    async def send(message: Any) -> None:
        client.sent.append(message)
        if len(client.sent) > 3:
            first_sent.set()
            await asyncio.sleep(0.001)  # a slow client: the response outruns send()

    adapter = WsgiToAsgi(app, max_workers=1, window=2048)
    task = asyncio.ensure_future(adapter(http_scope(), client.receive, send))
    await asyncio.wait_for(first_sent.wait(), 5)
    client.incoming.put_nowait({"type": "http.disconnect"})
    await asyncio.wait_for(task, 5)
    assert body_closed.is_set()
    # The single worker is free again: a second request completes.
    client2 = FakeClient()
    await asyncio.wait_for(
        WsgiToAsgi(lambda e, s: (s("200 OK", []), [b"ok"])[1], max_workers=1)(
            http_scope(), client2.receive, client2.send
        ),
        5,
    )
    assert client2.body == b"ok"


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_disconnect_mid_request_raises_in_app() -> None:
    seen: list[BaseException] = []
    reading = threading.Event()

    def app(environ: Any, start_response: Any) -> list[bytes]:
        reading.set()
        try:
            environ["wsgi.input"].read()
        except ClientDisconnected as exc:
            seen.append(exc)
            raise
        start_response("200 OK", [])
        return []

    client = FakeClient([])
    client.incoming.put_nowait({"type": "http.request", "body": b"a", "more_body": True})
    task = asyncio.ensure_future(WsgiToAsgi(app)(http_scope(), client.receive, client.send))
    assert await asyncio.get_running_loop().run_in_executor(None, reading.wait, 5)
    client.incoming.put_nowait({"type": "http.disconnect"})
    await asyncio.wait_for(task, 5)
    assert len(seen) == 1
    assert "disconnected" in str(seen[0])
    assert client.sent == []


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_write_after_disconnect_raises_in_app() -> None:
    seen: list[BaseException] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [])
        try:
            while True:
                write(b"w" * 1024)
        except ClientDisconnected as exc:
            seen.append(exc)
        return []

    client = FakeClient()
    sends = 0

    async def send(message: Any) -> None:
        nonlocal sends
        sends += 1
        if sends == 3:
            client.incoming.put_nowait({"type": "http.disconnect"})
        await asyncio.sleep(0.001)  # a slow client: the app keeps writing meanwhile

    await asyncio.wait_for(WsgiToAsgi(app, window=2048)(http_scope(), client.receive, send), 5)
    assert len(seen) == 1


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_cancellation_stops_worker() -> None:
    closed = threading.Event()

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:
                yield b"c" * 1024
        finally:
            closed.set()

    streaming = asyncio.Event()

    async def send(message: Any) -> None:
        if message["type"] == "http.response.body":
            streaming.set()
        await asyncio.sleep(0.001)  # a slow client: the response is still streaming

    client = FakeClient()
    task = asyncio.ensure_future(WsgiToAsgi(app, window=2048)(http_scope(), client.receive, send))
    await asyncio.wait_for(streaming.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.get_running_loop().run_in_executor(None, closed.wait, 5)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_requests_run_concurrently_on_the_pool() -> None:
    barrier = threading.Barrier(4, timeout=5)

    def app(environ: Any, start_response: Any) -> list[bytes]:
        barrier.wait()  # only passes when four requests run at once
        start_response("200 OK", [])
        return [threading.current_thread().name.encode()]

    adapter = WsgiToAsgi(app, max_workers=4)
    clients = [FakeClient() for _ in range(4)]
    await asyncio.wait_for(
        asyncio.gather(*(adapter(http_scope(), c.receive, c.send) for c in clients)), 5
    )
    assert len({c.body for c in clients}) == 4


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_serialize_runs_one_at_a_time() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()
    flags: list[bool] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        flags.append(environ["wsgi.multithread"])
        threading.Event().wait(0.02)
        with lock:
            active -= 1
        start_response("200 OK", [])
        return []

    adapter = WsgiToAsgi(app, serialize=True)
    clients = [FakeClient() for _ in range(4)]
    await asyncio.gather(*(adapter(http_scope(), c.receive, c.send) for c in clients))
    assert peak == 1
    assert flags == [False] * 4


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_workers must be at least 1, not 0"):
        WsgiToAsgi(lambda e, s: [], max_workers=0)
    with pytest.raises(ValueError, match="serialize=True runs one worker"):
        WsgiToAsgi(lambda e, s: [], serialize=True, max_workers=4)


@pytest.mark.asyncio
async def test_lifespan_is_acknowledged() -> None:
    incoming: asyncio.Queue[Any] = asyncio.Queue()
    for kind in ("lifespan.startup", "lifespan.shutdown"):
        incoming.put_nowait({"type": kind})
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    lifespan: LifespanScope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    await asyncio.wait_for(WsgiToAsgi(lambda e, s: [])(lifespan, incoming.get, send), 5)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


@pytest.mark.asyncio
async def test_websocket_is_closed() -> None:
    incoming: asyncio.Queue[Any] = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    adapter = WsgiToAsgi(lambda e, s: [])
    websocket: WebSocketScope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/",
        "headers": [],
    }
    await asyncio.wait_for(adapter(websocket, incoming.get, send), 5)
    assert sent == [{"type": "websocket.close", "code": 1000}]


@pytest.mark.asyncio
async def test_unknown_scope_type_is_rejected() -> None:
    async def receive() -> Any:
        raise AssertionError

    async def send(message: Any) -> None:
        raise AssertionError

    with pytest.raises(ValueError, match="cannot serve a 'mqtt' scope"):
        await WsgiToAsgi(lambda e, s: [])({"type": "mqtt"}, receive, send)  # type: ignore[arg-type]
