"""Serve a WSGI application from an ASGI server, streaming both ways.

A request costs two thread hops in the common case: the event loop hands the request to one of
asgi_sync's pooled worker threads, which calls the application *and* iterates its response in a
fresh copy of the request task's context (`asgi_sync.threads.ThreadCall`), pushing the
resulting ASGI messages into a small window that the event loop drains into ``send()``.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import sys
from functools import partial
from typing import Any

from asgi_sync.threads import ThreadCall
from asgi_wsgi import _headers
from asgi_wsgi._headers import HeaderMap
from asgi_wsgi._pool import _default_pool, _Pool
from asgi_wsgi._responder import _WsgiCall
from asgi_wsgi._streams import _BodyStream, _Done, _Response
from asgi_wsgi._types import (
    ClientDisconnected,
    Environ,
    HTTPScope,
    Receive,
    ReceiveEvent,
    Scope,
    Send,
    WSGIApp,
)

__all__ = ("ClientDisconnected", "WsgiToAsgi", "WsgiToAsgiInstance")

logger = logging.getLogger("asgi_wsgi")

_DEFAULT_WINDOW = 64 * 1024


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
        pool: _Pool | None = None,
        window: int = _DEFAULT_WINDOW,
        multithread: bool = True,
    ) -> None:
        self.wsgi_application = wsgi_application
        self.duplicate_header_limit = duplicate_header_limit
        self.header_map = _headers.check_header_map(header_map)
        self._pool = pool if pool is not None else _default_pool
        self._window = window
        self._multithread = multithread

    def build_environ(self, scope: HTTPScope, body: Any) -> Environ:
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
        script_name = root_path.rstrip("/")
        path: str = scope["path"]
        if root_path and (path == root_path or path.startswith(script_name + "/")):
            path = path[len(script_name) :]
        scheme = scope.get("scheme", "http") or "http"
        environ: Environ = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": _latin1(script_name),
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
        # The WSGI side runs in a fresh copy of this task's context, taken now.
        call = ThreadCall()
        job = _WsgiCall(self.wsgi_application, environ, response)
        self._pool.submit(partial(call.run, job))
        await self._drain(call, response, stream, pump, receive, send)

    async def _drain(
        self,
        call: ThreadCall,
        response: _Response,
        stream: _BodyStream | None,
        pump: asyncio.Task[None] | None,
        receive: Receive,
        send: Send,
    ) -> None:
        """Send what the WSGI thread produces until it is done (on the loop, in the task)."""
        watcher: asyncio.Future[ReceiveEvent] | None = None
        started = False
        snapshot: contextvars.Context | None = None  # the last one copied back
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
                    if isinstance(item, _Done):
                        if item.context is not snapshot:
                            call.copy_back(item.context)
                        if item.error is not None:
                            self._finished(item.error, started, response)
                        return
                    if isinstance(item, contextvars.Context):
                        # The WSGI side's context as it was when it produced what follows.
                        call.copy_back(item)
                        snapshot = item
                    elif item["type"] == "http.response.body":
                        if not response.disconnected:
                            await send(item)
                        size = len(item.get("body", b""))
                        if size:  # sent(0) would change nothing
                            response.sent(size)
                    else:  # http.response.start
                        started = True
                        if not response.disconnected:
                            await send(item)
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
            call.cancel()
            raise
        finally:
            if watcher is not None and not watcher.done():
                watcher.cancel()
            if pump is not None and not pump.done():
                pump.cancel()

    def _finished(self, error: BaseException, started: bool, response: _Response) -> None:
        """Raise what the WSGI side raised, unless the client is gone anyway."""
        if response.disconnected or isinstance(error, ClientDisconnected):
            return
        if started:
            logger.error(
                "Exception in WSGI application %r after the response started; "
                "ending the connection",
                self.wsgi_application,
                exc_info=error,
            )
        raise error

    @staticmethod
    def _check_watcher(
        watcher: asyncio.Future[ReceiveEvent] | None,
        response: _Response,
        stream: _BodyStream | None,
    ) -> asyncio.Future[ReceiveEvent] | None:
        if watcher is None or not watcher.done() or response.disconnected:
            return watcher
        if watcher.result().get("type") == "http.disconnect":
            response.disconnect()
            if stream is not None:
                stream.disconnect()
            return watcher
        return None  # an unexpected message: watch again


class WsgiToAsgi:
    """Serve a WSGI application from an ASGI server.

    The application is called, and its response iterated, on a bounded pool of worker threads
    (created lazily, so it survives ``fork()``); ``wsgi.input`` and the response stream with
    backpressure. ``lifespan`` scopes are acknowledged, ``websocket`` scopes closed.

    ``start_response`` refuses, with a `ValueError` naming the header (never its value), a
    status that is not ``NNN reason``, a header name that is not an RFC 9110 token, and a
    name or value containing CR, LF or NUL: such a response is never passed to the server,
    where it could split the response or inject headers.

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
            pool = _Pool(1)
        elif max_workers is None:
            pool = _default_pool
        else:
            pool = _Pool(max_workers)
        # The instance holds no per-request state: one serves every request.
        self._instance = WsgiToAsgiInstance(
            wsgi_application,
            duplicate_header_limit,
            header_map=self.header_map,
            pool=pool,
            window=window,
            multithread=not serialize,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection; ``http`` requests run on a worker thread."""
        kind: str = scope["type"]  # servers may send scope types of their own
        if kind == "http":
            await self._instance(scope, receive, send)
            return
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1000})
        else:
            text = f"WsgiToAsgi cannot serve a {kind!r} scope; it serves 'http'"
            raise ValueError(text)
