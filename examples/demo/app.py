"""The demo's ASGI application, written against the bare ASGI interface (no framework).

Routes (all answer JSON, except the download):

- `GET /sync-to-async?ms=200`: an async view awaits a blocking function through
  `sync_to_async`; the function runs on the thread-sensitive worker thread while the event
  loop keeps serving other requests.
- `GET /async-to-sync`: an async view calls a sync function, which calls an async function
  back through `async_to_sync`; the answer lists which thread ran each level.
- `GET /local?ms=100`: the request id stored in a `Local` by the middleware is read back on
  the event loop, in a worker thread and in a nested coroutine: every level sees its own
  request's value, never a concurrent request's.
- `/wsgi/...`: a plain WSGI application mounted through `WsgiToAsgi`:
  `GET /wsgi/download?mb=64` streams a large body chunk by chunk, and
  `POST`/`PUT /wsgi/upload` reads `wsgi.input` chunk by chunk and reports size and SHA-256.
"""

from __future__ import annotations

__all__ = ("CHUNK", "build_app", "download_chunk", "wsgi_app")

import asyncio
import hashlib
import itertools
import json
import logging
import threading
import time
from typing import Any, Awaitable, Callable, Dict, Iterable, Iterator, List
from urllib.parse import parse_qs

from asgi_local import Local
from asgi_sync import async_to_sync, sync_to_async
from asgi_wsgi import WsgiToAsgi

Scope = Dict[str, Any]
Message = Dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StartResponse = Callable[..., Any]

# uvicorn configures this logger, so its lines appear next to the server's own.
logger = logging.getLogger("uvicorn.error")

#: One chunk of the download: 64 KiB of a fixed byte pattern, so a client can check it.
CHUNK = bytes(range(256)) * 256

_MAX_MB = 4096
_MAX_MS = 5000

# Per-request state. `thread_critical=False` (the default) makes the values follow the
# request's context across `sync_to_async` and `async_to_sync`, while concurrent requests
# (each its own asyncio task, so its own context) never see each other's values.
request_state = Local()


def download_chunk(index: int) -> bytes:
    """Return chunk number `index` of the download (the same bytes every time)."""
    del index
    return CHUNK


def _current_thread() -> str:
    return threading.current_thread().name


def _query_int(query: str, name: str, default: int, maximum: int) -> int:
    values = parse_qs(query).get(name)
    if not values:
        return default
    try:
        value = int(values[0])
    except ValueError:
        message = (
            f"query parameter {name}={values[0]!r} is not an integer; use e.g. {name}={default}"
        )
        raise ValueError(message) from None
    if not 0 <= value <= maximum:
        message = f"query parameter {name}={value} is out of range; use 0 to {maximum}"
        raise ValueError(message)
    return value


# --- the WSGI application, mounted under /wsgi through WsgiToAsgi ---------------------


def _wsgi_json(start_response: StartResponse, status: str, body: object) -> List[bytes]:
    data = json.dumps(body, indent=2).encode() + b"\n"
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    start_response(status, headers)
    return [data]


def _stream_download(chunks: int, tail: int) -> Iterator[bytes]:
    # Each chunk is handed to the server as soon as it is yielded: nothing is buffered.
    for index in range(chunks):
        yield download_chunk(index)
    if tail:
        yield CHUNK[:tail]


def wsgi_app(environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A plain, blocking WSGI application (what a Flask or Django WSGI app looks like).

    `WsgiToAsgi` runs it on a worker thread; `wsgi.input` reads the ASGI request body as it
    arrives, and each item of the returned iterable is sent as one ASGI body message.
    """
    path = environ.get("PATH_INFO", "")
    method = environ["REQUEST_METHOD"]
    if path == "/download" and method == "GET":
        try:
            mb = _query_int(environ.get("QUERY_STRING", ""), "mb", 64, _MAX_MB)
        except ValueError as error:
            return _wsgi_json(start_response, "400 Bad Request", {"error": str(error)})
        size = mb * 1024 * 1024
        headers = [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(size)),
            ("Content-Disposition", f'attachment; filename="demo-{mb}MiB.bin"'),
        ]
        start_response("200 OK", headers)
        return _stream_download(*divmod(size, len(CHUNK)))
    if path == "/upload" and method in ("POST", "PUT"):
        stream = environ["wsgi.input"]
        digest = hashlib.sha256()
        size = 0
        reads = 0
        while True:
            data = stream.read(len(CHUNK))
            if not data:
                break
            digest.update(data)
            size += len(data)
            reads += 1
        body = {
            "received_bytes": size,
            "sha256": digest.hexdigest(),
            "reads": reads,
            "script_name": environ.get("SCRIPT_NAME", ""),
            "path_info": path,
            "thread": _current_thread(),
        }
        return _wsgi_json(start_response, "200 OK", body)
    if path in ("", "/"):
        return _wsgi_json(
            start_response,
            "200 OK",
            {"wsgi_routes": ["GET /download?mb=64", "POST or PUT /upload"]},
        )
    return _wsgi_json(
        start_response, "404 Not Found", {"error": f"no WSGI route for {method} {path}"}
    )


# --- the async side --------------------------------------------------------------------


async def _send_json(send: Send, status: int, body: object) -> None:
    data = json.dumps(body, indent=2).encode() + b"\n"
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _blocking_work(ms: int) -> Dict[str, Any]:
    # Blocking on purpose: time.sleep stands in for a database driver or a file read.
    time.sleep(ms / 1000)
    return {
        "ran_on_thread": _current_thread(),
        "slept_ms": ms,
        "request_id_seen": request_state.request_id,
    }


async def _nested_async() -> Dict[str, Any]:
    await asyncio.sleep(0)
    return {"ran_on_thread": _current_thread(), "request_id_seen": request_state.request_id}


def _sync_view() -> Dict[str, Any]:
    # Sync code (think: a Django view) that needs an async API: async_to_sync runs the
    # coroutine on the request's event loop and blocks this thread until it is done.
    nested = async_to_sync(_nested_async)()
    request_state.note = "set in sync code, read back on the loop"
    return {
        "ran_on_thread": _current_thread(),
        "request_id_seen": request_state.request_id,
        "async_to_sync": nested,
    }


async def _sync_to_async_view(scope: Scope, send: Send) -> None:
    ms = _query_int(scope["query_string"].decode("latin-1"), "ms", 200, _MAX_MS)
    result = await sync_to_async(_blocking_work)(ms)
    body = {"view_on_thread": _current_thread(), "sync_to_async": result}
    await _send_json(send, 200, body)


async def _async_to_sync_view(scope: Scope, send: Send) -> None:
    del scope
    result = await sync_to_async(_sync_view)()
    body = {
        "view_on_thread": _current_thread(),
        "sync_to_async": result,
        "note_after_return": getattr(request_state, "note", None),
    }
    await _send_json(send, 200, body)


async def _local_view(scope: Scope, send: Send) -> None:
    ms = _query_int(scope["query_string"].decode("latin-1"), "ms", 100, _MAX_MS)
    on_loop = request_state.request_id
    # Sleep on the loop and in a thread, so that concurrent requests overlap.
    await asyncio.sleep(ms / 1000)
    in_thread = await sync_to_async(_blocking_work, thread_sensitive=False)(ms)
    nested = await sync_to_async(_sync_view)()
    body = {
        "request_id": on_loop,
        "seen_on_loop_after_sleep": request_state.request_id,
        "seen_in_worker_thread": in_thread["request_id_seen"],
        "seen_in_sync_then_async": nested["async_to_sync"]["request_id_seen"],
    }
    await _send_json(send, 200, body)


_ROUTES: Dict[str, Callable[[Scope, Send], Awaitable[None]]] = {
    "/sync-to-async": _sync_to_async_view,
    "/async-to-sync": _async_to_sync_view,
    "/local": _local_view,
}

_INDEX = {
    "packages": {
        "asgi_wsgi.WsgiToAsgi": "/wsgi/download?mb=64 and /wsgi/upload (POST or PUT)",
        "asgi_sync.sync_to_async": "/sync-to-async?ms=200",
        "asgi_sync.async_to_sync": "/async-to-sync",
        "asgi_local.Local": "/local?ms=100",
    }
}


def build_app(shutting_down: threading.Event | None = None) -> ASGIApp:
    """Build the demo's ASGI 3 application (HTTP only; lifespan is not used).

    Args:
        shutting_down: Set by the server when it stops. A request that the server then
            cancels (a download still running after the grace period) ends quietly instead
            of being reported as an application error.
    """
    wsgi = WsgiToAsgi(wsgi_app)
    counter = itertools.count(1)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await route(scope, receive, send)
        except asyncio.CancelledError:
            if shutting_down is None or not shutting_down.is_set():
                raise
            logger.info("%s: cancelled by the server's shutdown", scope.get("path"))

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        # Runs in this request's own task: the value is this request's alone.
        request_state.request_id = next(counter)
        path: str = scope["path"]
        if path == "/wsgi" or path.startswith("/wsgi/"):
            # Mount: root_path grows by the prefix; WsgiToAsgi turns it into SCRIPT_NAME and
            # strips it from PATH_INFO.
            mounted = dict(scope, root_path=scope.get("root_path", "") + "/wsgi")
            await wsgi(mounted, receive, send)  # type: ignore[arg-type]
            return
        if scope["method"] != "GET":
            await _send_json(send, 405, {"error": f"{scope['method']} {path}: use GET"})
            return
        if path == "/":
            await _send_json(send, 200, _INDEX)
            return
        view = _ROUTES.get(path)
        if view is None:
            await _send_json(send, 404, {"error": f"no route for {path}", **_INDEX})
            return
        try:
            await view(scope, send)
        except ValueError as error:
            await _send_json(send, 400, {"error": str(error)})

    return app
