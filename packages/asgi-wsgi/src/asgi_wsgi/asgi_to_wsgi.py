"""Serve an ASGI application from a WSGI server (wsgiref, gunicorn sync workers, ...).

One event loop thread per process runs every request's coroutine; it is started on the first
request, so a pre-fork server starts one in each worker process, never in the parent.
"""

from __future__ import annotations

import asyncio
import atexit
import http
import logging
import os
import queue
import threading
from collections.abc import Iterator
from typing import Any

from asgi_wsgi import _headers
from asgi_wsgi._types import ASGIApp, ClientDisconnected, Environ, Message, StartResponse

__all__ = ("AsgiToWsgi",)

logger = logging.getLogger("asgi_wsgi")

_CHUNK = 64 * 1024
_ERROR_BODY = b"Internal Server Error"


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


class _LoopThread:
    """The per-process event loop thread, plus the lifespan of the application."""

    def __init__(self, app: ASGIApp, lifespan_timeout: float) -> None:
        self.loop = asyncio.new_event_loop()
        self._app = app
        self._lifespan_timeout = lifespan_timeout
        self._lifespan_queue: asyncio.Queue[Message] | None = None
        self._lifespan_task: asyncio.Task[None] | None = None
        self._lifespan_done: asyncio.Future[Message] | None = None
        self.thread = threading.Thread(target=self._run, name="asgi-wsgi-loop", daemon=True)
        self.thread.start()
        self._startup()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            if tasks:
                gather = asyncio.gather(*tasks, return_exceptions=True)
                self.loop.run_until_complete(gather)
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _lifespan_step(self, message: Message, done_type: str) -> None:
        if self._lifespan_queue is None:
            self._lifespan_queue = asyncio.Queue()
            self._lifespan_done = self.loop.create_future()
            self._lifespan_task = self.loop.create_task(self._lifespan_app())
        assert self._lifespan_done is not None
        self._lifespan_done = done = self.loop.create_future()
        await self._lifespan_queue.put(message)
        reply = await done
        if reply["type"] == f"{done_type}.failed":
            message_text = reply.get("message", "")
            logger.error("ASGI lifespan %s failed: %s", done_type, message_text)

    async def _lifespan_app(self) -> None:
        assert self._lifespan_queue is not None
        queue_ = self._lifespan_queue

        async def receive() -> Message:
            return await queue_.get()

        async def send(message: Message) -> None:
            if self._lifespan_done is not None and not self._lifespan_done.done():
                self._lifespan_done.set_result(message)

        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        try:
            await self._app(scope, receive, send)
        except BaseException as exc:
            logger.debug("ASGI application does not support lifespan: %r", exc)
        finally:
            if self._lifespan_done is not None and not self._lifespan_done.done():
                self._lifespan_done.set_result({"type": "lifespan.unsupported"})

    def _startup(self) -> None:
        step = self._lifespan_step({"type": "lifespan.startup"}, "lifespan.startup")
        future = asyncio.run_coroutine_threadsafe(step, self.loop)
        try:
            future.result(self._lifespan_timeout)
        except Exception:
            logger.exception("ASGI lifespan startup did not complete")

    def shutdown(self) -> None:
        """Run lifespan shutdown and stop the loop (called at interpreter exit)."""
        if self._lifespan_task is not None and not self._lifespan_task.done():
            step = self._lifespan_step({"type": "lifespan.shutdown"}, "lifespan.shutdown")
            try:
                asyncio.run_coroutine_threadsafe(step, self.loop).result(self._lifespan_timeout)
            except Exception:
                logger.exception("ASGI lifespan shutdown did not complete")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(self._lifespan_timeout)


def _build_scope(environ: Environ) -> dict[str, Any]:
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
    return scope


class AsgiToWsgi:
    """Serve an ASGI application from a WSGI server.

    Each request's ASGI coroutine runs on one event loop thread per process (started lazily on
    the first request, so it survives ``fork()``); the WSGI server's thread reads the request
    body for ``receive()`` and yields each ``http.response.body`` chunk as ``send()`` delivers
    it, acknowledging it back so the application cannot run ahead of the client. Lifespan
    startup runs before the first request and shutdown at interpreter exit (or `close`).

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
        self._loop_thread: _LoopThread | None = None
        self._pid = -1
        self._lock = threading.Lock()

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        loop_thread = self._loop_thread
        if loop_thread is None or self._pid != os.getpid():
            with self._lock:
                if self._loop_thread is None or self._pid != os.getpid():
                    self._loop_thread = _LoopThread(self.application, self.lifespan_timeout)
                    self._pid = os.getpid()
                    atexit.register(self.close)
                loop_thread = self._loop_thread
        return loop_thread.loop

    def close(self) -> None:
        """Run lifespan shutdown and stop this process's event loop thread (blocking)."""
        with self._lock:
            loop_thread, self._loop_thread = self._loop_thread, None
        if loop_thread is not None and self._pid == os.getpid():
            loop_thread.shutdown()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        """Serve one WSGI request; the ASGI app runs on the loop thread, I/O on this thread."""
        loop = self._get_loop()
        return self._serve(loop, environ, start_response)

    def _serve(
        self, loop: asyncio.AbstractEventLoop, environ: Environ, start_response: StartResponse
    ) -> Iterator[bytes]:
        events: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        # "closed": the WSGI side is done with this request (set on the loop thread).
        state = {"body_done": False, "disconnected": False, "started": False, "closed": False}
        response_done: asyncio.Future[None] | None = None

        async def receive() -> Message:
            nonlocal response_done
            if state["disconnected"] or state["closed"]:
                return {"type": "http.disconnect"}
            if state["body_done"]:
                if response_done is None:
                    response_done = loop.create_future()
                await response_done
                return {"type": "http.disconnect"}
            future: asyncio.Future[Message] = loop.create_future()
            events.put(("receive", future, None))
            return await future

        async def send(message: Message) -> None:
            if state["disconnected"] or state["closed"]:
                raise ClientDisconnected("the WSGI client disconnected")
            if message["type"] == "http.response.start":
                _headers.check_start_message(message)  # raises into the app, naming the header
                state["started"] = True
            elif message["type"] == "http.response.body" and not state["started"]:
                text = "the ASGI application sent http.response.body before http.response.start"
                raise RuntimeError(text)
            if message["type"] == "http.response.body" and message.get("more_body", False):
                ack: asyncio.Future[None] = loop.create_future()
                events.put(("send", message, ack))
                await ack
            else:
                events.put(("send", message, None))

        async def run() -> None:
            try:
                await self.application(scope, receive, send)
            except BaseException as exc:
                events.put(("done", exc, None))
            else:
                events.put(("done", None, None))

        def wake(unanswered: Any, unacknowledged: Any) -> None:
            """Release everything the application may still wait on (on the loop thread)."""
            state["closed"] = True
            if response_done is not None:
                _resolve(response_done, None)
            _answer(unanswered, unacknowledged)
            while True:
                try:
                    kind, payload, extra = events.get_nowait()
                except queue.Empty:
                    return
                _answer(payload if kind == "receive" else None, extra)

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
        asyncio.run_coroutine_threadsafe(run(), loop)
        started: Message | None = None
        headers_sent = False
        finished = False
        # Futures taken from `events` and not answered yet: if the WSGI server closes us or
        # raises (start_response rejects a header, wsgi.input fails), the finally answers them.
        unanswered: asyncio.Future[Message] | None = None
        unacknowledged: asyncio.Future[None] | None = None
        try:
            while True:
                kind, payload, extra = events.get()
                if kind == "receive":
                    unanswered = payload
                    size = _CHUNK if remaining is None else min(_CHUNK, remaining)
                    data = body.read(size) if size else b""
                    message: Message
                    if size and not data and remaining:
                        # wsgi.input ended before Content-Length bytes came: the client left.
                        state["disconnected"] = True
                        message = {"type": "http.disconnect"}
                    else:
                        if remaining is not None:
                            remaining -= len(data)
                        more = bool(data) and (remaining is None or remaining > 0)
                        if not more:
                            state["body_done"] = True
                        message = {"type": "http.request", "body": data, "more_body": more}
                    unanswered = None
                    loop.call_soon_threadsafe(_resolve, payload, message)
                elif kind == "send":
                    unacknowledged = extra
                    if payload["type"] == "http.response.start":
                        started = payload
                        continue
                    if payload["type"] != "http.response.body" or started is None:
                        continue
                    if not headers_sent:
                        headers_sent = True
                        start_response(*_status_and_headers(started))
                    chunk = payload.get("body", b"")
                    if chunk:
                        yield chunk
                    unacknowledged = None
                    if extra is not None:
                        loop.call_soon_threadsafe(_resolve, extra, None)
                else:  # done
                    finished = True
                    if payload is not None:
                        if not (state["disconnected"] and isinstance(payload, ClientDisconnected)):
                            logger.error("Exception in ASGI application", exc_info=payload)
                        if not headers_sent:
                            start_response(
                                "500 Internal Server Error",
                                [
                                    ("Content-Type", "text/plain; charset=utf-8"),
                                    ("Content-Length", str(len(_ERROR_BODY))),
                                ],
                                (type(payload), payload, payload.__traceback__),
                            )
                            yield _ERROR_BODY
                            return
                        raise payload
                    if not headers_sent:
                        if started is None:
                            start_response(
                                "500 Internal Server Error",
                                [("Content-Length", str(len(_ERROR_BODY)))],
                            )
                            if not state["disconnected"]:
                                logger.error("ASGI application returned without a response")
                            yield _ERROR_BODY
                            return
                        start_response(*_status_and_headers(started))
                    return
        finally:
            if not finished:
                # The WSGI server closed us early (client gone) or raised: tell the application.
                state["disconnected"] = True
            loop.call_soon_threadsafe(wake, unanswered, unacknowledged)


def _answer(receive_future: Any, ack: Any) -> None:
    """Answer a pending receive() with http.disconnect and fail a pending send()."""
    if receive_future is not None and not receive_future.done():
        receive_future.set_result({"type": "http.disconnect"})
    if ack is not None and not ack.done():
        ack.set_exception(ClientDisconnected("the WSGI server ended the response"))


def _status_and_headers(start: Message) -> tuple[str, list[tuple[str, str]]]:
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
