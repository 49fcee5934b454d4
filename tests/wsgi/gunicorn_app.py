"""An ASGI test app served by gunicorn through AsgiToWsgi (see test_gunicorn.py).

gunicorn imports ``tests.wsgi.gunicorn_app:application`` in its worker. Routes:

- ``GET /hello``: a fixed body with Content-Length.
- ``POST /echo``: the request body back, streamed in pieces; reports how many bytes and
  ``http.request`` messages the app received.
- ``GET /stream?n=N``: N ``more_body`` chunks, then an empty final one.
- ``GET /headers``: repeated response header names.
- ``GET /raise``: raises before ``http.response.start`` (the adapter must answer 500);
  ``/raise-after-start`` raises after the first body chunk.
- ``GET /bad-header-streamed``: a header value gunicorn refuses, then a streamed body.
- ``POST /upload``: reads the body until it ends or the client leaves.
- ``GET /forever``: streams until ``send()`` fails.
- ``GET /no-body``: a 204 without any ``http.response.body``.
- ``GET /record?prefix=P``: waits (up to 20 s) until the app recorded an event starting with
  P, and returns those events: how the routes above ended.
- ``GET /worker``: the worker's pid, the client port and whether lifespan startup ran.
- ``POST /state?id=X[&group=G&size=N]``: per-request state (a context variable and the
  request's own body) read back after yielding to other requests; with ``group`` it first
  waits until N requests of that group are in the app at once.

Recorded events (lifespan startup and shutdown too) are also appended, with the worker pid,
to the file named by ``$ASGI_GUNICORN_EVENTS``.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from typing import Any
from urllib.parse import parse_qs

from asgi_wsgi import AsgiToWsgi

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
_lifespan = {"started": False}
_groups: dict[str, tuple[int, asyncio.Event]] = {}
_records: list[str] = []  # touched on the event loop thread only
_record_waiters: list[asyncio.Future[None]] = []


def _record(event: str) -> None:
    _records.append(event)
    for waiter in _record_waiters:
        if not waiter.done():
            waiter.set_result(None)
    _record_waiters.clear()
    path = os.environ.get("ASGI_GUNICORN_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(f"{event} {os.getpid()}\n")


async def _await_record(prefix: str, send: Any) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not any(record.startswith(prefix) for record in _records):
        waiter = loop.create_future()
        _record_waiters.append(waiter)
        await asyncio.wait_for(waiter, max(deadline - loop.time(), 0))  # else a 500
    found = [record for record in _records if record.startswith(prefix)]
    await _respond(send, 200, "\n".join(found).encode())


async def _read_body(receive: Any) -> tuple[bytes, int]:
    parts: list[bytes] = []
    messages = 0
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        messages += 1
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts), messages


async def _respond(send: Any, status: int, body: bytes, headers: list[Any] | None = None) -> None:
    start_headers = [(b"content-type", b"text/plain"), *(headers or [])]
    start_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan_app(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _lifespan["started"] = True
            _record("startup")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            _record("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _echo(receive: Any, send: Any) -> None:
    body, messages = await _read_body(receive)
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"x-received-bytes", str(len(body)).encode()),
        (b"x-received-messages", str(messages).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    piece = 256 * 1024
    for offset in range(0, len(body), piece):
        chunk = body[offset : offset + piece]
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _stream(query: dict[str, list[str]], send: Any) -> None:
    count = int(query["n"][0])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for index in range(count):
        chunk = b"%05d\n" % index
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _forever(send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        while True:
            await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
    except BaseException as exc:
        _record(f"forever-ended:{type(exc).__name__}")
        raise


async def _state(query: dict[str, list[str]], receive: Any, send: Any) -> None:
    leaked = _request_id.get("-")  # a fresh request must not see another request's value
    request_id = query["id"][0]
    _request_id.set(request_id)
    if "group" in query:
        name, size = query["group"][0], int(query["size"][0])
        arrived, everyone_in = _groups.setdefault(name, (0, asyncio.Event()))
        _groups[name] = (arrived + 1, everyone_in)
        if arrived + 1 >= size:
            everyone_in.set()
        await asyncio.wait_for(everyone_in.wait(), 20)
    for _ in range(5):
        await asyncio.sleep(0)  # let the loop run the other requests' coroutines in between
    body, _ = await _read_body(receive)
    text = f"id={request_id} leaked={leaked} now={_request_id.get()} body={body.decode()}"
    await _respond(send, 200, text.encode())


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan_app(receive, send)
        return
    assert scope["type"] == "http"
    path = scope["path"]
    query = parse_qs(scope["query_string"].decode())
    if path == "/hello":
        await _read_body(receive)
        await _respond(send, 200, b"Hello from ASGI under gunicorn")
    elif path == "/echo":
        await _echo(receive, send)
    elif path == "/stream":
        await _stream(query, send)
    elif path == "/headers":
        repeated = [
            (b"set-cookie", b"a=1; Path=/"),
            (b"set-cookie", b"b=2; Path=/"),
            (b"x-multi", b"one"),
            (b"x-multi", b"two"),
            (b"x-multi", b"three"),
        ]
        await _respond(send, 200, b"headers", repeated)
    elif path == "/raise":
        raise RuntimeError("boom before the response started")
    elif path == "/raise-after-start":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("boom after the response started")
    elif path == "/bad-header-streamed":
        headers = [(b"x-bad", b"line\r\nbreak")]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"never", "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except BaseException as exc:
            _record(f"bad-header-ended:{type(exc).__name__}")
            raise
        _record("bad-header-ended:ok")
    elif path == "/upload":
        total = 0
        try:
            while True:
                message = await receive()
                total += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
            _record(f"upload-ended:{message['type']}:{total}")
        except BaseException as exc:
            _record(f"upload-ended:{type(exc).__name__}:{total}")
            raise
        await _respond(send, 200, str(total).encode())
    elif path == "/forever":
        await _forever(send)
    elif path == "/no-body":
        await send({"type": "http.response.start", "status": 204, "headers": []})
    elif path == "/record":
        await _await_record(query["prefix"][0], send)
    elif path == "/worker":
        text = f"pid={os.getpid()} client_port={scope['client'][1]} lifespan={_lifespan['started']}"
        await _respond(send, 200, text.encode())
    elif path == "/state":
        await _state(query, receive, send)
    else:
        await _respond(send, 404, b"not found")


application = AsgiToWsgi(asgi_app, lifespan_timeout=10)
