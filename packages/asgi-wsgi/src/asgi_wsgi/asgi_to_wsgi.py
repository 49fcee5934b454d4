"""Serve an ASGI application from a WSGI server (wsgiref, gunicorn sync workers, ...).

Every request's coroutine runs on one event loop per process: one of asgi_sync's pooled loop
threads (`asgi_sync.threads.LoopThread`), borrowed on the first request, so a pre-fork server
borrows one in each worker process, never in the parent. The coroutine runs in a copy of the
WSGI server thread's context as it was at the call `app(environ, start_response)`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import http
import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar, Union, cast

from asgi_sync.threads import LoopThread, start_task
from asgi_sync.typing import HTTPResponseStartEvent, HTTPScope
from asgi_wsgi import _headers
from asgi_wsgi._fork import forget_in_forked_child
from asgi_wsgi._lifespan import _Lifespan
from asgi_wsgi._types import (
    ASGIApp,
    ClientDisconnected,
    Environ,
    ReceiveEvent,
    SendEvent,
    StartResponse,
)

__all__ = ("AsgiToWsgi",)

logger = logging.getLogger("asgi_wsgi")

_CHUNK = 64 * 1024
_ERROR_BODY = b"Internal Server Error"


_T = TypeVar("_T")


def _resolve(future: asyncio.Future[_T], value: _T) -> None:
    if not future.done():
        future.set_result(value)


# --- what the loop thread tells the WSGI thread about one request ------------------------


class _Receive:
    """The application awaits `receive()`: answer `future` with the next request message."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[ReceiveEvent]) -> None:
        self.future = future


class _Send:
    """The application sent `message`; `ack`, when given, is resolved once it was written."""

    __slots__ = ("ack", "message")

    def __init__(self, message: SendEvent, ack: asyncio.Future[None] | None) -> None:
        self.message = message
        self.ack = ack


class _Finished:
    """The application returned (`error` is None) or raised `error`."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


_Event = Union[_Receive, _Send, _Finished]


class _Exchange:
    """State of one request shared by its two sides (flags written by one side, read by both).

    Attributes:
        events: What the loop side tells the WSGI side, in order.
        body_done: The whole request body was handed to the application.
        disconnected: The WSGI client is gone (or the server stopped iterating early).
        started: The application sent `http.response.start`.
        closed: The WSGI side is done with this request (set on the loop thread).
        response_done: What a `receive()` after the body waits on, if one does.
    """

    __slots__ = ("body_done", "closed", "disconnected", "events", "response_done", "started")

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self.body_done = False
        self.disconnected = False
        self.started = False
        self.closed = False
        self.response_done: asyncio.Future[None] | None = None

    def wake(
        self,
        unanswered: asyncio.Future[ReceiveEvent] | None,
        unacknowledged: asyncio.Future[None] | None,
    ) -> None:
        """Release everything the application may still wait on (on the loop thread)."""
        self.closed = True
        if self.response_done is not None:
            _resolve(self.response_done, None)
        _answer(unanswered, unacknowledged)
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, _Receive):
                _answer(event.future, None)
            elif isinstance(event, _Send):
                _answer(None, event.ack)


def _build_scope(environ: Environ) -> HTTPScope:
    script_name = environ.get("SCRIPT_NAME", "").encode("latin-1")
    path_info = environ.get("PATH_INFO", "").encode("latin-1")
    headers: list[tuple[bytes, bytes]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if not value:
                continue
            name = key.replace("_", "-").lower()
        else:
            continue
        headers.append((name.encode("latin-1"), str(value).encode("latin-1")))
    protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": protocol.split("/", 1)[1] if "/" in protocol else "1.1",
        "method": environ["REQUEST_METHOD"].upper(),
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": (script_name + path_info).decode("utf-8", "replace"),
        "raw_path": script_name + path_info,
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": script_name.decode("utf-8", "replace"),
        "headers": headers,
        "server": (environ.get("SERVER_NAME", "localhost"), int(environ.get("SERVER_PORT") or 80)),
        "wsgi.environ": environ,
    }
    if environ.get("REMOTE_ADDR"):
        scope["client"] = (environ["REMOTE_ADDR"], int(environ.get("REMOTE_PORT") or 0))
    return cast("HTTPScope", scope)  # plus the "wsgi.environ" extension key


class AsgiToWsgi:
    """Serve an ASGI application from a WSGI server.

    Each request's ASGI coroutine runs on one event loop per process, an asgi_sync pooled
    loop thread borrowed on the first request (so it survives ``fork()``); the WSGI server's
    thread reads the request body for ``receive()`` and yields each ``http.response.body``
    chunk as ``send()`` delivers it, acknowledging it back so the application cannot run ahead
    of the client. Lifespan startup runs before the first request and shutdown at interpreter
    exit (or `close`).

    Context: the coroutine runs in a copy of the calling thread's context taken at the call
    `app(environ, start_response)` (contextvars and default-mode `Local` values visible on the
    loop thread), one copy per request. Nothing flows back into the WSGI server's thread: the
    one difference from `async_to_sync`. Thread-sensitive `sync_to_async` calls the application
    makes run where they would in any coroutine of a pooled loop: on asgi_sync's process-wide
    thread-sensitive thread, unless the application enters a `ThreadSensitiveContext`.

    ``send()`` of an ``http.response.start`` whose status is not a 3-digit code, or with a
    header name that is not an RFC 9110 token or a name or value containing CR, LF or NUL,
    raises `ValueError` (or `TypeError` for non-bytes) into the application, naming the header
    but not its value; nothing of it reaches the WSGI server, and an application that lets the
    error propagate is answered 500.

    Args:
        application: The ASGI application.
        lifespan_timeout: Seconds to wait for lifespan startup and shutdown.
    """

    def __init__(self, application: ASGIApp, *, lifespan_timeout: float = 30.0) -> None:
        self.application = application
        self.lifespan_timeout = lifespan_timeout
        self._loop_thread: LoopThread | None = None
        self._lifespan: _Lifespan | None = None
        self._lock = threading.Lock()
        forget_in_forked_child(self)

    def _forget_parent(self) -> None:
        # In a forked child, right after fork(): the parent's loop thread does not exist here,
        # so the next request takes a new one (and runs lifespan startup in this process).
        self._lock = threading.Lock()
        self._loop_thread = None
        self._lifespan = None

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        loop_thread = self._loop_thread
        if loop_thread is None:
            with self._lock:
                loop_thread = self._loop_thread
                if loop_thread is None:
                    loop_thread = LoopThread()
                    lifespan = _Lifespan(self.application, loop_thread.loop, self.lifespan_timeout)
                    self._loop_thread, self._lifespan = loop_thread, lifespan
                    atexit.register(self.close)
                    lifespan.startup()
        return loop_thread.loop

    def close(self) -> None:
        """Run lifespan shutdown and give the event loop thread back (blocking)."""
        with self._lock:
            loop_thread, self._loop_thread = self._loop_thread, None
            lifespan, self._lifespan = self._lifespan, None
        if loop_thread is not None:
            if lifespan is not None:
                lifespan.shutdown()
            loop_thread.release()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        """Serve one WSGI request; the ASGI app runs on the loop thread, I/O on this thread."""
        context = contextvars.copy_context()  # now, not at the first iteration
        loop = self._get_loop()
        return self._serve(loop, context, environ, start_response)

    def _serve(
        self,
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context,
        environ: Environ,
        start_response: StartResponse,
    ) -> Iterator[bytes]:
        exchange = _Exchange()
        events = exchange.events

        async def receive() -> ReceiveEvent:
            if exchange.disconnected or exchange.closed:
                return {"type": "http.disconnect"}
            if exchange.body_done:
                if exchange.response_done is None:
                    exchange.response_done = loop.create_future()
                await exchange.response_done
                return {"type": "http.disconnect"}
            future: asyncio.Future[ReceiveEvent] = loop.create_future()
            events.put(_Receive(future))
            return await future

        async def send(message: SendEvent) -> None:
            if exchange.disconnected or exchange.closed:
                raise ClientDisconnected("the WSGI client disconnected")
            if message["type"] == "http.response.start":
                _headers.check_start_message(message)  # raises into the app, naming the header
                exchange.started = True
            elif message["type"] == "http.response.body" and not exchange.started:
                text = "the ASGI application sent http.response.body before http.response.start"
                raise RuntimeError(text)
            if message["type"] == "http.response.body" and message.get("more_body", False):
                ack: asyncio.Future[None] = loop.create_future()
                events.put(_Send(message, ack))
                await ack
            else:
                events.put(_Send(message, None))

        async def run() -> None:
            try:
                await self.application(scope, receive, send)
            except BaseException as exc:
                events.put(_Finished(exc))
            else:
                events.put(_Finished(None))

        scope = _build_scope(environ)
        body = environ["wsgi.input"]
        length_text = environ.get("CONTENT_LENGTH") or ""
        remaining: int | None
        if length_text.isdigit():
            remaining = int(length_text)
        elif environ.get("wsgi.input_terminated"):
            remaining = None
        else:
            remaining = 0
        start_task(loop, run(), context)
        started: HTTPResponseStartEvent | None = None
        headers_sent = False
        finished = False
        # Futures taken from `events` and not answered yet: if the WSGI server closes us or
        # raises (start_response rejects a header, wsgi.input fails), the finally answers them.
        unanswered: asyncio.Future[ReceiveEvent] | None = None
        unacknowledged: asyncio.Future[None] | None = None
        try:
            while True:
                event = events.get()
                if isinstance(event, _Receive):
                    unanswered = event.future
                    size = _CHUNK if remaining is None else min(_CHUNK, remaining)
                    data = body.read(size) if size else b""
                    message: ReceiveEvent
                    if size and not data and remaining:
                        # wsgi.input ended before Content-Length bytes came: the client left.
                        exchange.disconnected = True
                        message = {"type": "http.disconnect"}
                    else:
                        if remaining is not None:
                            remaining -= len(data)
                        more = bool(data) and (remaining is None or remaining > 0)
                        if not more:
                            exchange.body_done = True
                        message = {"type": "http.request", "body": data, "more_body": more}
                    unanswered = None
                    loop.call_soon_threadsafe(_resolve, event.future, message)
                elif isinstance(event, _Send):
                    unacknowledged = event.ack
                    sent = event.message
                    if sent["type"] == "http.response.start":
                        started = sent
                        continue
                    if sent["type"] != "http.response.body" or started is None:
                        continue
                    if not headers_sent:
                        headers_sent = True
                        start_response(*_status_and_headers(started))
                    chunk = sent.get("body", b"")
                    if chunk:
                        yield chunk
                    unacknowledged = None
                    if event.ack is not None:
                        loop.call_soon_threadsafe(_resolve, event.ack, None)
                else:  # _Finished
                    finished = True
                    error = event.error
                    if error is not None:
                        if not (exchange.disconnected and isinstance(error, ClientDisconnected)):
                            logger.error("Exception in ASGI application", exc_info=error)
                        if not headers_sent:
                            start_response(
                                "500 Internal Server Error",
                                [
                                    ("Content-Type", "text/plain; charset=utf-8"),
                                    ("Content-Length", str(len(_ERROR_BODY))),
                                ],
                                (type(error), error, error.__traceback__),
                            )
                            yield _ERROR_BODY
                            return
                        raise error
                    if not headers_sent:
                        if started is None:
                            start_response(
                                "500 Internal Server Error",
                                [("Content-Length", str(len(_ERROR_BODY)))],
                            )
                            if not exchange.disconnected:
                                logger.error("ASGI application returned without a response")
                            yield _ERROR_BODY
                            return
                        start_response(*_status_and_headers(started))
                    return
        finally:
            if not finished:
                # The WSGI server closed us early (client gone) or raised: tell the application.
                exchange.disconnected = True
            loop.call_soon_threadsafe(exchange.wake, unanswered, unacknowledged)


def _answer(
    receive_future: asyncio.Future[ReceiveEvent] | None, ack: asyncio.Future[None] | None
) -> None:
    """Answer a pending receive() with http.disconnect and fail a pending send()."""
    if receive_future is not None and not receive_future.done():
        receive_future.set_result({"type": "http.disconnect"})
    if ack is not None and not ack.done():
        ack.set_exception(ClientDisconnected("the WSGI server ended the response"))


def _status_and_headers(start: HTTPResponseStartEvent) -> tuple[str, list[tuple[str, str]]]:
    status = int(start["status"])
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    headers = [
        (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
        for name, value in start.get("headers", ())
    ]
    return f"{status} {phrase}", headers
