"""The benchmark's web app, as WSGI (behind three adapters) and as native ASGI.

Run as `python -m benchmarks._server IMPL PORT`: serves it with uvicorn on 127.0.0.1.
Routes: GET /small (13 bytes), GET /big (1 MiB), POST /echo (reads the body, answers its
length), POST /upload (reads the body in 64 KiB pieces, answers its length), GET /stream
(one chunk, a 0.25 s pause, one chunk), GET /slow (8 chunks, 25 ms apart).
"""

from __future__ import annotations

__all__ = ("IMPLS", "build_app")

import asyncio
import sys
import time
from typing import Any, Callable, Iterable, List

SMALL = b"Hello, world!"
BIG = b"x" * (1 << 20)
STREAM_PAUSE = 0.25
SLOW_CHUNKS, SLOW_PAUSE = 8, 0.025
IMPLS = ("asgi_wsgi", "asgiref", "a2wsgi", "native ASGI")


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path in ("/echo", "/upload"):
        stream, total = environ["wsgi.input"], 0
        while True:
            chunk = stream.read(65536)
            if not chunk:
                break
            total += len(chunk)
        body = str(total).encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]
    if path == "/small":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
        return [SMALL]
    if path == "/big":
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))],
        )
        return [BIG]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _stream()
    if path == "/slow":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _slow()
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return []


def _stream() -> Iterable[bytes]:
    yield b"first\n"
    time.sleep(STREAM_PAUSE)
    yield b"last\n"


def _slow() -> Iterable[bytes]:
    for i in range(SLOW_CHUNKS):
        if i:
            time.sleep(SLOW_PAUSE)
        yield b"chunk\n"


async def native_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]

    async def answer(body: bytes, headers: List[tuple[bytes, bytes]], more: bool = False) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": more})

    if path in ("/echo", "/upload"):
        total, more = 0, True
        while more:
            message = await receive()
            total += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = str(total).encode()
        await answer(
            body, [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        )
    elif path == "/small":
        await answer(SMALL, [(b"content-type", b"text/plain"), (b"content-length", b"13")])
    elif path == "/big":
        await answer(
            BIG,
            [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(len(BIG)).encode()),
            ],
        )
    elif path == "/stream":
        await answer(b"first\n", [(b"content-type", b"text/plain")], more=True)
        await asyncio.sleep(STREAM_PAUSE)
        await send({"type": "http.response.body", "body": b"last\n"})
    elif path == "/slow":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        for i in range(SLOW_CHUNKS):
            if i:
                await asyncio.sleep(SLOW_PAUSE)
            await send(
                {"type": "http.response.body", "body": b"chunk\n", "more_body": i < SLOW_CHUNKS - 1}
            )
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def build_app(impl: str) -> Any:
    """Return the ASGI app for one implementation name of `IMPLS`."""
    if impl == "asgi_wsgi":
        import asgi_wsgi

        return asgi_wsgi.WsgiToAsgi(wsgi_app)
    if impl == "asgiref":
        import asgiref.wsgi

        return asgiref.wsgi.WsgiToAsgi(wsgi_app)
    if impl == "a2wsgi":
        import a2wsgi

        return a2wsgi.WSGIMiddleware(wsgi_app)
    if impl == "native ASGI":
        return native_app
    message = f"unknown implementation {impl!r}; pick one of {IMPLS}"
    raise ValueError(message)


def main() -> None:
    import uvicorn

    impl, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(
        build_app(impl),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
