"""Serve a WSGI application from an ASGI server, streaming both ways.

A request costs two thread hops in the common case: the event loop hands the request to a
worker thread, the worker calls the application *and* iterates its response, and pushes the
resulting ASGI messages into a small window that the event loop drains into ``send()``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import queue
import sys
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Callable, Optional, Tuple, Type

from asgi_wsgi import _headers
from asgi_wsgi._headers import HeaderMap
from asgi_wsgi._types import (
    ClientDisconnected,
    Environ,
    Message,
    Receive,
    Scope,
    Send,
    WSGIApp,
)

__all__ = ("ClientDisconnected", "WsgiToAsgi", "WsgiToAsgiInstance")

logger = logging.getLogger("asgi_wsgi")

_ExcInfo = Tuple[Type[BaseException], BaseException, Optional[TracebackType]]

_Job = Tuple[Callable[..., None], Tuple[Any, ...]]

_DEFAULT_WINDOW = 64 * 1024
_IDLE_TIMEOUT = 1.0  # seconds an idle worker thread waits for a job before it exits
_ERROR_BODY = b"Internal Server Error"


class _PoolCore:
    """Threads, job queue and counters of one pool; the threads hold this, not the pool."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self.lock = threading.Lock()
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.threads = 0  # worker threads alive
        self.idle = 0  # workers waiting for a job
        self.queued = 0  # jobs put but not yet taken
        self.closed = False

    def submit(self, function: Callable[..., None], args: tuple[Any, ...]) -> None:
        with self.lock:
            self.queued += 1
            # Start a thread only when the waiting workers cannot take every queued job.
            spawn = self.queued > self.idle and self.threads < self.max_workers
            if spawn:
                self.threads += 1
        self.jobs.put((function, args))
        if spawn:
            name = f"asgi-wsgi-{self.threads}"
            threading.Thread(target=self.work, name=name, daemon=True).start()

    def work(self) -> None:
        jobs = self.jobs
        while True:
            with self.lock:
                if self.closed:
                    return
                self.idle += 1
            try:
                job = jobs.get(timeout=_IDLE_TIMEOUT)
            except queue.Empty:
                with self.lock:
                    self.idle -= 1
                    if self.closed or self.queued == 0:
                        # Idle for a while and no job on its way: leave.
                        self.threads -= 1
                        return
                continue  # a job was queued just now: take it
            with self.lock:
                self.idle -= 1
                self.queued -= 1
            if job is None:
                return
            function, args = job
            try:
                function(*args)
            except BaseException:
                logger.exception("Unexpected error in an asgi-wsgi worker thread")
            del job, function, args

    def close(self) -> None:
        """Make every worker exit once its current job (if any) is done."""
        with self.lock:
            self.closed = True
            count = self.threads
        for _ in range(count):
            self.jobs.put(None)


class _WorkerPool:
    """A bounded set of worker threads, started on demand and re-created after ``fork()``.

    Lighter than `concurrent.futures.ThreadPoolExecutor`: a job is a plain call, no future.
    A worker idle for `_IDLE_TIMEOUT` seconds exits, and all of them exit when the pool is
    garbage collected, so neither a quiet process nor a dropped adapter keeps threads.
    """

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._core = _PoolCore(max_workers)
        self._finalizer = weakref.finalize(self, self._core.close)

    @property
    def _jobs(self) -> queue.SimpleQueue[_Job | None]:
        return self._core.jobs

    def submit(self, function: Callable[..., None], *args: Any) -> None:
        """Run ``function(*args)`` on a worker thread (any thread may call this)."""
        if self._pid != os.getpid():
            self._replace_core(close_old=False)  # the parent's threads do not exist here
        self._core.submit(function, args)

    def _replace_core(self, close_old: bool) -> None:
        with self._lock:
            if close_old or self._pid != os.getpid():
                old = self._core
                self._finalizer.detach()
                self._core = _PoolCore(self.max_workers)
                self._finalizer = weakref.finalize(self, self._core.close)
                self._pid = os.getpid()
                if close_old:
                    old.close()

    def shutdown(self) -> None:
        """Let idle workers exit now; busy ones exit after their current request."""
        self._replace_core(close_old=True)


_DEFAULT_MAX_WORKERS = 40
_default_pool = _WorkerPool(_DEFAULT_MAX_WORKERS)


def _set_result(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _BodyStream:
    """``wsgi.input`` fed by ``receive()`` on the event loop, read by the worker thread.

    The event loop side (``pump``) keeps at most about ``window`` bytes buffered; the worker's
    reads wake the pump again when the buffer drains.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, receive: Receive, first: bytes, window: int
    ) -> None:
        self._loop = loop
        self._receive = receive
        self._buffer = bytearray(first)
        self._window = window
        self._cond = threading.Condition(threading.Lock())
        self._eof = False
        self.disconnected = False
        self._paused: asyncio.Future[None] | None = None
        self._reader_waiting = False

    # --- event loop side -----------------------------------------------------------
    async def pump(self) -> None:
        """Receive the rest of the body on the event loop, pausing while the window is full."""
        try:
            while True:
                with self._cond:
                    if len(self._buffer) >= self._window and not self._reader_waiting:
                        paused: asyncio.Future[None] | None = self._loop.create_future()
                        self._paused = paused
                    else:
                        paused = None
                    if self.disconnected:
                        return
                if paused is not None:
                    await paused
                    continue
                message = await self._receive()
                with self._cond:
                    if message["type"] == "http.request":
                        self._buffer += message.get("body", b"")
                        if not message.get("more_body", False):
                            self._eof = True
                    else:
                        self.disconnected = True
                    self._cond.notify_all()
                    if self._eof or self.disconnected:
                        return
        finally:
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    def disconnect(self) -> None:
        """Mark the client gone (any thread); blocked reads raise `ClientDisconnected`."""
        with self._cond:
            self.disconnected = True
            self._cond.notify_all()
            paused, self._paused = self._paused, None
        if paused is not None:
            self._loop.call_soon_threadsafe(_set_result, paused)

    # --- worker side -----------------------------------------------------------------
    def _wait_for(self, enough: int) -> None:
        # Called with the lock held: block until `enough` bytes, EOF or disconnect.
        while len(self._buffer) < enough and not self._eof:
            if self.disconnected:
                break
            self._reader_waiting = True
            self._resume(force=True)
            self._cond.wait()
            self._reader_waiting = False
        if self.disconnected and len(self._buffer) < enough:
            raise ClientDisconnected("the client disconnected while the request body was read")

    def _resume(self, force: bool = False) -> None:
        paused = self._paused
        if paused is not None and (force or len(self._buffer) < self._window):
            self._paused = None
            self._loop.call_soon_threadsafe(_set_result, paused)

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._resume()
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes (all remaining bytes when negative or None)."""
        with self._cond:
            if size is None or size < 0:
                self._wait_for(sys.maxsize)
                return self._take(len(self._buffer))
            self._wait_for(size)
            return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        """Read one line, up to ``size`` bytes when given."""
        limit = sys.maxsize if size is None or size < 0 else size
        with self._cond:
            while True:
                end = self._buffer.find(b"\n", 0, limit)
                if end >= 0:
                    return self._take(end + 1)
                if len(self._buffer) >= limit or self._eof:
                    return self._take(limit)
                self._wait_for(len(self._buffer) + 1)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """Read lines until EOF, or until about ``hint`` bytes were read."""
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class _Response:
    """ASGI messages produced by the worker, drained by the event loop with a bounded window."""

    def __init__(self, loop: asyncio.AbstractEventLoop, window: int) -> None:
        self._loop = loop
        self._window = window
        self._lock = threading.Lock()
        self._items: deque[Message] = deque()
        self._pending = 0
        self._waiter: asyncio.Future[None] | None = None
        self._space: threading.Event | None = None  # created only when the worker must wait
        self.disconnected = False

    # --- worker side -----------------------------------------------------------------
    def push(self, *messages: Message, size: int = 0) -> None:
        """Queue messages for ``send()``; block while more than the window is unsent."""
        with self._lock:
            if self.disconnected:
                raise ClientDisconnected("the client disconnected while the response was sent")
            self._items.extend(messages)
            self._pending += size
            waiter, self._waiter = self._waiter, None
            space = None
            if self._pending > self._window:
                space = self._space = threading.Event()
        if waiter is not None:
            self._loop.call_soon_threadsafe(_set_result, waiter)
        if space is not None:
            space.wait()
            if self.disconnected:
                raise ClientDisconnected("the client disconnected while the response was sent")

    def finish(self, *messages: Message, size: int = 0) -> None:
        """Queue the last messages (ending with the final item); never blocks or raises."""
        with self._lock:
            self._items.extend(messages)
            self._pending += size
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_set_result, waiter)

    # --- event loop side -----------------------------------------------------------
    def take(self) -> list[Message] | asyncio.Future[None]:
        """Return the queued messages, or a future to await when there are none."""
        with self._lock:
            if self._items:
                items = list(self._items)
                self._items.clear()
                return items
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiter = waiter
            return waiter

    def sent(self, size: int) -> None:
        with self._lock:
            self._pending -= size
            space = self._space
            if space is not None and self._pending <= self._window:
                self._space = None
                space.set()

    def disconnect(self) -> None:
        with self._lock:
            self.disconnected = True
            space, self._space = self._space, None
        if space is not None:
            space.set()


def _latin1(text: str) -> str:
    # PEP 3333 "bytes as str": UTF-8 bytes of the path, each byte one latin-1 character.
    return text.encode("utf-8").decode("latin-1")


class WsgiToAsgiInstance:
    """Run one WSGI request for an ASGI ``http`` scope.

    Args:
        wsgi_application: The WSGI callable; it runs on a worker thread, never on the loop.
        duplicate_header_limit: Most values one environ key may collect before the request is
            answered with 400; ``None`` or ``0`` removes the limit.
        header_map: What to do with a request header whose name contains ``_`` (see
            [WsgiToAsgi][asgi_wsgi.WsgiToAsgi]): ``"drop"``, ``"refuse"`` or ``"dangerous"``.
        pool: Internal: the worker pool of the owning `WsgiToAsgi`.
        window: Bytes of request or response body buffered between loop and worker.
        multithread: The ``wsgi.multithread`` value the application sees.
    """

    def __init__(
        self,
        wsgi_application: WSGIApp,
        duplicate_header_limit: int | None = 100,
        *,
        header_map: HeaderMap = "drop",
        pool: _WorkerPool | None = None,
        window: int = _DEFAULT_WINDOW,
        multithread: bool = True,
    ) -> None:
        self.wsgi_application = wsgi_application
        self.duplicate_header_limit = duplicate_header_limit
        self.header_map = _headers.check_header_map(header_map)
        self._pool = pool if pool is not None else _default_pool
        self._window = window
        self._multithread = multithread

    def build_environ(self, scope: Scope, body: Any) -> Environ:
        """Build the PEP 3333 environ for an ASGI ``http`` scope.

        Args:
            scope: The ASGI connection scope.
            body: The file-like object to expose as ``wsgi.input``.

        Raises:
            ValueError: The request must be answered 400: an environ key would collect more
                than ``duplicate_header_limit`` values, or (``header_map="refuse"``) a header
                name contains ``_``.
        """
        root_path: str = scope.get("root_path", "") or ""
        path: str = scope["path"]
        if root_path and (path == root_path or path.startswith(root_path.rstrip("/") + "/")):
            path = path[len(root_path.rstrip("/")) :]
        scheme = scope.get("scheme", "http") or "http"
        environ: Environ = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": _latin1(root_path.rstrip("/")),
            "PATH_INFO": _latin1(path),
            "QUERY_STRING": bytes(scope.get("query_string", b"")).decode("latin-1"),
            "SERVER_PROTOCOL": "HTTP/" + str(scope.get("http_version", "1.1")),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scheme,
            "wsgi.input": body,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": self._multithread,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "asgi.scope": scope,
        }
        server = scope.get("server")
        if server and server[0] is not None:
            environ["SERVER_NAME"] = str(server[0])
            environ["SERVER_PORT"] = "0" if server[1] is None else str(server[1])
        else:
            environ["SERVER_NAME"] = "localhost"
            environ["SERVER_PORT"] = "443" if scheme in ("https", "wss") else "80"
        client = scope.get("client")
        if client:
            environ["REMOTE_ADDR"] = str(client[0])
            environ["REMOTE_PORT"] = str(client[1])
        _headers.add_request_headers(
            environ, scope.get("headers", ()), self.header_map, self.duplicate_header_limit
        )
        return environ

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ``http`` scope; the application runs on a pool worker thread."""
        if scope["type"] != "http":
            message = f"WsgiToAsgiInstance serves 'http' scopes only, not {scope['type']!r}"
            raise ValueError(message)
        loop = asyncio.get_running_loop()
        first = await receive()
        if first["type"] != "http.request":
            return  # disconnected before the request arrived
        stream: _BodyStream | None = None
        body: Any
        if first.get("more_body", False):
            stream = _BodyStream(loop, receive, first.get("body", b""), self._window)
            body = stream
        else:
            body = io.BytesIO(first.get("body", b""))
        try:
            environ = self.build_environ(scope, body)
        except _headers.BadRequest as exc:
            logger.warning("Rejected request: %s", exc)
            for reply in exc.messages():
                await send(reply)
            return
        response = _Response(loop, self._window)
        pump = None if stream is None else loop.create_task(stream.pump())
        self._pool.submit(_run_wsgi, self.wsgi_application, environ, response)
        await self._drain(response, stream, pump, receive, send)

    async def _drain(
        self,
        response: _Response,
        stream: _BodyStream | None,
        pump: asyncio.Task[None] | None,
        receive: Receive,
        send: Send,
    ) -> None:
        watcher: asyncio.Future[Message] | None = None
        started = False
        try:
            while True:
                items = response.take()
                if isinstance(items, asyncio.Future):
                    if watcher is None or watcher.done():
                        await items
                    else:
                        await asyncio.wait((items, watcher), return_when=asyncio.FIRST_COMPLETED)
                    watcher = self._check_watcher(watcher, response, stream)
                    continue
                for item in items:
                    kind = item["type"]
                    if kind == "http.response.body":
                        if not response.disconnected:
                            await send(item)
                        response.sent(len(item.get("body", b"")))
                        if not item.get("more_body", False):
                            return
                    elif kind == "http.response.start":
                        started = True
                        if not response.disconnected:
                            await send(item)
                    else:  # the worker failed: {"type": "error", "exc": ...}
                        if response.disconnected or isinstance(item["exc"], ClientDisconnected):
                            return
                        if not started:
                            await _send_500(send)
                            return
                        raise item["exc"]
                # Still streaming: from now on, watch receive() for http.disconnect.
                if watcher is None and (pump is None or pump.done()):
                    if stream is None or not stream.disconnected:
                        watcher = asyncio.ensure_future(receive())
                else:
                    watcher = self._check_watcher(watcher, response, stream)
        except BaseException:
            response.disconnect()
            if stream is not None:
                stream.disconnect()
            raise
        finally:
            if watcher is not None and not watcher.done():
                watcher.cancel()
            if pump is not None and not pump.done():
                pump.cancel()

    @staticmethod
    def _check_watcher(
        watcher: asyncio.Future[Message] | None,
        response: _Response,
        stream: _BodyStream | None,
    ) -> asyncio.Future[Message] | None:
        if watcher is None or not watcher.done() or response.disconnected:
            return watcher
        if watcher.result().get("type") == "http.disconnect":
            response.disconnect()
            if stream is not None:
                stream.disconnect()
            return watcher
        return None  # an unexpected message: watch again


async def _send_500(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(_ERROR_BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _ERROR_BODY})


def _run_wsgi(application: WSGIApp, environ: Environ, response: _Response) -> None:
    """Call the application and iterate its response (worker thread)."""
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = []
    headers_sent = False
    held: list[Message] | None = None  # messages of a list/tuple response, sent in one batch
    held_size = 0

    def start_response(
        status_line: Any,
        response_headers: list[tuple[str, str]],
        exc_info: _ExcInfo | None = None,
    ) -> Any:
        nonlocal status, headers
        if exc_info is not None:
            try:
                if headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif status is not None:
            message = (
                f"start_response() was already called (status {status}); call it again "
                "only with exc_info, from an error handler"
            )
            raise RuntimeError(message)
        # PEP 3333: check here, so the error is raised inside the application's own call.
        code = _headers.status_code(status_line)
        encoded = _headers.encode_response_headers(response_headers)
        status, headers = code, encoded
        return write

    def emit(data: Any) -> None:
        nonlocal headers_sent
        if not isinstance(data, (bytes, bytearray, memoryview)):
            message = f"WSGI response data must be bytes, not {type(data).__name__}: {data!r:.80}"
            raise TypeError(message)
        if not data:
            return
        if status is None:
            message = "the WSGI application produced body data before calling start_response()"
            raise RuntimeError(message)
        nonlocal held_size
        chunk = {"type": "http.response.body", "body": bytes(data), "more_body": True}
        if held is not None:
            # A list or tuple response is in memory already: send it in one batch at the end.
            if not headers_sent:
                headers_sent = True
                held.append({"type": "http.response.start", "status": status, "headers": headers})
            held.append(chunk)
            held_size += len(data)
        elif headers_sent:
            response.push(chunk, size=len(data))
        else:
            headers_sent = True
            start = {"type": "http.response.start", "status": status, "headers": headers}
            response.push(start, chunk, size=len(data))

    def write(data: bytes) -> None:
        emit(data)

    result: Iterable[bytes] | None = None
    try:
        result = application(environ, start_response)
        if type(result) is list or type(result) is tuple:
            held = []
        for data in result:
            emit(data)
            if response.disconnected:
                break
        if response.disconnected:
            raise ClientDisconnected("the client disconnected")
        if status is None:
            message = "the WSGI application returned without calling start_response()"
            raise RuntimeError(message)
        if not headers_sent:
            headers_sent = True
            start_message = {"type": "http.response.start", "status": status, "headers": headers}
            if held is None:
                response.push(start_message)
            else:
                held.append(start_message)
    except BaseException as exc:
        _close(result, application)
        if isinstance(exc, ClientDisconnected):
            response.finish({"type": "error", "exc": exc})
            return
        logger.error(
            "Exception in WSGI application %r (%s)",
            application,
            "after the response started; ending the connection"
            if headers_sent
            else "answering 500",
            exc_info=exc,
        )
        response.finish({"type": "error", "exc": exc})
        return
    if _close(result, application):
        if held:
            response.finish(*held, {"type": "http.response.body"}, size=held_size)
        else:
            response.finish({"type": "http.response.body"})
    else:
        response.finish({"type": "error", "exc": RuntimeError("close() failed")})


def _close(result: Iterable[bytes] | None, application: WSGIApp) -> bool:
    close = getattr(result, "close", None)
    if close is None:
        return True
    try:
        close()
    except Exception:
        logger.exception("Exception in close() of the response of WSGI application %r", application)
        return False
    return True


class WsgiToAsgi:
    """Serve a WSGI application from an ASGI server.

    The application is called, and its response iterated, on a bounded pool of worker threads
    (created lazily, so it survives ``fork()``); ``wsgi.input`` and the response stream with
    backpressure. ``lifespan`` scopes are acknowledged, ``websocket`` scopes closed.

    ``start_response`` refuses, with a `ValueError` naming the header (never its value), a
    status that is not ``NNN reason``, a header name that is not an RFC 9110 token, and a
    name or value containing CR, LF or NUL: such a response is answered 500 instead of being
    passed to the server, where it could split the response or inject headers.

    Args:
        wsgi_application: The WSGI callable.
        duplicate_header_limit: Most values one environ key may collect; more answers 400
            without calling the application. ``None`` or ``0`` removes the limit.
        header_map: What to do with a request header whose name contains ``_``. Dashes and
            underscores both become ``_`` in environ keys, so a client's ``X_Forwarded_For``
            would be merged into the ``X-Forwarded-For`` a proxy sets. ``"drop"`` (the
            default, as gunicorn, nginx and Django's runserver do) leaves such headers out and
            logs one debug line per request; ``"refuse"`` answers 400 without calling the
            application; ``"dangerous"`` maps them like any other name, as asgiref does.
        max_workers: Size of the worker pool (how many WSGI requests run at once). Defaults to
            40 (threads start on demand), shared with other adapters using the default.
        serialize: Run one request at a time (a pool of one worker), for applications that
            are not thread-safe. ``wsgi.multithread`` is then false.
        window: Bytes of request or response body buffered between the event loop and the
            worker before the faster side waits.
    """

    def __init__(
        self,
        wsgi_application: WSGIApp,
        duplicate_header_limit: int | None = 100,
        *,
        header_map: HeaderMap = "drop",
        max_workers: int | None = None,
        serialize: bool = False,
        window: int = _DEFAULT_WINDOW,
    ) -> None:
        if max_workers is not None and max_workers < 1:
            message = f"max_workers must be at least 1, not {max_workers!r}"
            raise ValueError(message)
        if window < 1:
            message = f"window must be a positive number of bytes, not {window!r}"
            raise ValueError(message)
        if serialize and max_workers not in (None, 1):
            message = f"serialize=True runs one worker; drop max_workers={max_workers!r}"
            raise ValueError(message)
        self.wsgi_application = wsgi_application
        self.duplicate_header_limit = duplicate_header_limit
        self.header_map = _headers.check_header_map(header_map)
        self.serialize = serialize
        if serialize:
            self._pool = _WorkerPool(1)
        elif max_workers is None:
            self._pool = _default_pool
        else:
            self._pool = _WorkerPool(max_workers)
        self._window = window
        # The instance holds no per-request state: one serves every request.
        self._instance = WsgiToAsgiInstance(
            wsgi_application,
            duplicate_header_limit,
            header_map=self.header_map,
            pool=self._pool,
            window=window,
            multithread=not serialize,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection; ``http`` requests run on a worker thread."""
        kind = scope["type"]
        if kind == "http":
            await self._instance(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._pool is not _default_pool:
                        self._pool.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1000})
        else:
            text = f"WsgiToAsgi cannot serve a {kind!r} scope; it serves 'http'"
            raise ValueError(text)
