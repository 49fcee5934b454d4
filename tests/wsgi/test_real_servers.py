"""WsgiToAsgi under a real uvicorn, and AsgiToWsgi under wsgiref, on 127.0.0.1."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import uvicorn

from asgi_wsgi import AsgiToWsgi, WsgiToAsgi


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _uvicorn(app: Any) -> Iterator[int]:
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            time.sleep(0.01)
        assert server.started, "uvicorn did not start within 5 s"
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "uvicorn did not stop"


def _hello(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]


@pytest.mark.timeout(30)
def test_keep_alive_sequence_never_500s() -> None:
    with _uvicorn(WsgiToAsgi(_hello)) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        statuses = []
        for _ in range(200):
            connection.request("GET", "/")
            response = connection.getresponse()
            assert response.read() == b"Hello, world!"
            statuses.append(response.status)
        connection.close()
    assert statuses == [200] * 200


@pytest.mark.timeout(30)
def test_streaming_upload_reaches_app_before_body_ends() -> None:
    seen_before_end = threading.Event()
    body_done = threading.Event()
    received: list[int] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        seen_before_end.set()  # called while the client still holds back the rest
        total = 0
        while True:
            chunk = environ["wsgi.input"].read(65536)
            if not chunk:
                break
            total += len(chunk)
        received.append(total)
        start_response("200 OK", [])
        return [str(total).encode()]

    size = 8 * 1024 * 1024
    with _uvicorn(WsgiToAsgi(app)) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.putrequest("POST", "/upload")
        connection.putheader("Content-Length", str(size))
        connection.endheaders()
        connection.send(b"u" * (size // 2))
        assert seen_before_end.wait(5)
        assert not body_done.is_set()
        connection.send(b"u" * (size // 2))
        body_done.set()
        response = connection.getresponse()
        assert response.read() == str(size).encode()
        connection.close()
    assert received == [size]


@pytest.mark.timeout(30)
def test_concurrent_streaming_responses_overlap() -> None:
    barrier = threading.Barrier(4, timeout=5)

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"start "
        barrier.wait()  # passes only if four responses stream at the same time
        yield b"done"

    results: list[bytes] = []

    def fetch(port: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/")
        results.append(connection.getresponse().read())
        connection.close()

    with _uvicorn(WsgiToAsgi(app, max_workers=8)) as port:
        threads = [threading.Thread(daemon=True, target=fetch, args=(port,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert results == [b"start done"] * 4


@pytest.mark.timeout(30)
def test_client_disconnect_mid_response_closes_iterable() -> None:
    closed = threading.Event()
    streaming = threading.Event()

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:
                streaming.set()
                yield b"x" * 65536
        finally:
            closed.set()

    with _uvicorn(WsgiToAsgi(app)) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(1024)
        assert streaming.wait(5)
        sock.close()
        assert closed.wait(5)


# --- AsgiToWsgi under wsgiref -------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                events.append("startup")
                await send({"type": "lifespan.startup.complete"})
            else:
                events.append("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/boom":
        raise RuntimeError("asgi boom")
    headers = [(b"x-path", scope["path"].encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"got:", "more_body": True})
    await send({"type": "http.response.body", "body": body})


events: list[str] = []


@contextmanager
def _wsgiref(app: Any) -> Iterator[int]:
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(
        daemon=True, target=server.serve_forever, kwargs={"poll_interval": 0.05}
    )
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.timeout(30)
def test_asgi_to_wsgi_under_wsgiref(caplog: Any) -> None:
    events.clear()
    adapter = AsgiToWsgi(_asgi_app)
    with _wsgiref(adapter) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("POST", "/echo", body=b"payload")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"got:payload")
        assert response.getheader("x-path") == "/echo"
        connection.close()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/boom")
        response = connection.getresponse()
        assert response.status == 500
        response.read()
        connection.close()
    assert "asgi boom" in caplog.text
    adapter.close()
    assert events == ["startup", "shutdown"]
