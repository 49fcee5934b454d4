"""Header spoofing and response splitting through a real uvicorn on 127.0.0.1.

Requests are written byte by byte on a raw socket, and the raw response bytes are read back,
so nothing between the test and the adapter normalises the headers.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from asgi_wsgi import AsgiToWsgi, WsgiToAsgi

from .test_real_servers import _uvicorn

SPOOFING_REQUEST = (
    b"GET / HTTP/1.1\r\n"
    b"Host: x\r\n"
    b"X-Forwarded-For: 10.0.0.1\r\n"
    b"X_Forwarded_For: 6.6.6.6\r\n"
    b"Content_Type: evil/x\r\n"
    b"Connection: close\r\n"
    b"\r\n"
)


def _exchange(port: int, request: bytes) -> bytes:
    """Send a raw request and read the raw response until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks: list[bytes] = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def _echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    keys = sorted(k for k in environ if k.startswith(("HTTP_X", "HTTP_CONTENT", "CONTENT_")))
    body = "\n".join(f"{k}={environ[k]}" for k in keys).encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _status_and_body(raw: bytes) -> tuple[bytes, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


@pytest.mark.timeout(30)
def test_drop_keeps_the_proxy_header_under_uvicorn() -> None:
    with _uvicorn(WsgiToAsgi(_echo)) as port:
        raw = _exchange(port, SPOOFING_REQUEST)
    assert _status_and_body(raw) == (b"HTTP/1.1 200 OK", b"HTTP_X_FORWARDED_FOR=10.0.0.1")


@pytest.mark.timeout(30)
def test_refuse_answers_400_under_uvicorn() -> None:
    with _uvicorn(WsgiToAsgi(_echo, header_map="refuse")) as port:
        raw = _exchange(port, SPOOFING_REQUEST)
    status, body = _status_and_body(raw)
    assert status == b"HTTP/1.1 400 Bad Request"
    assert b"\r\nBad Request: Header name contains an underscore\r\n" in body  # chunked


@pytest.mark.timeout(30)
def test_dangerous_merges_as_asgiref_under_uvicorn() -> None:
    with _uvicorn(WsgiToAsgi(_echo, header_map="dangerous")) as port:
        raw = _exchange(port, SPOOFING_REQUEST)
    assert _status_and_body(raw) == (
        b"HTTP/1.1 200 OK",
        b"HTTP_CONTENT_TYPE=evil/x\nHTTP_X_FORWARDED_FOR=10.0.0.1,6.6.6.6",
    )


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.setFormatter(logging.Formatter("%(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def _errors_logged() -> Iterator[_Collect]:
    """Collect error logs of the adapter and of uvicorn (whichever reports the refusal)."""
    handler = _Collect()
    loggers = [logging.getLogger(name) for name in ("asgi_wsgi", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


SPLITTING = [
    pytest.param("200 OK", "X-Evil", "SECRET\r\nSet-Cookie: x=1", "'x-evil'", id="CRLF-value"),
    pytest.param("200 OK", "X-Evil", "SECRET\nSet-Cookie: x=1", "'x-evil'", id="LF-value"),
    pytest.param("200 OK", "X-Evil", "SECRET\x00Set-Cookie: x=1", "'x-evil'", id="NUL-value"),
    pytest.param("200 OK", "X-Evil", "SECRET\r\n Set-Cookie: x=1", "'x-evil'", id="obs-fold"),
    pytest.param("200 OK", "Set-Cookie: x=1\r\nX", "SECRET", "'set-cookie: x=1", id="CRLF-name"),
    pytest.param("200 OK", "X Evil", "SECRET", "'x evil'", id="space-name"),
    pytest.param("200 OK\r\nSet-Cookie: x=1", "X-Ok", "SECRET", "status", id="CRLF-status"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("status", "name", "value", "named"), SPLITTING)
def test_wsgi_response_splitting_is_a_500_under_uvicorn(
    status: str, name: str, value: str, named: str
) -> None:
    headers = [(name, value)]

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, headers)
        return [b"never sent"]

    # uvicorn configures its loggers when it starts: add the collector after that.
    with _uvicorn(WsgiToAsgi(app)) as port, _errors_logged() as logged:
        raw = _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"set-cookie" not in raw.lower()
    assert b"never sent" not in raw
    text = "\n".join(logged.lines)
    assert named in text  # the adapter's own error, not only the server's
    assert "SECRET" not in text


@pytest.mark.timeout(30)
def test_asgi_to_wsgi_inside_wsgi_to_asgi_refuses_splitting_under_uvicorn() -> None:
    """Both adapters stacked under uvicorn: AsgiToWsgi refuses the header first."""
    seen: list[str] = []

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"x-evil", b"SECRET\r\nSet-Cookie: x=1")]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
        except ValueError as exc:
            seen.append(str(exc))
            raise
        await send({"type": "http.response.body", "body": b"never sent"})

    inner = AsgiToWsgi(asgi_app, lifespan_timeout=5)
    try:
        with _uvicorn(WsgiToAsgi(inner)) as port, _errors_logged() as logged:
            raw = _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    finally:
        inner.close()
    assert raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"set-cookie" not in raw.lower()
    assert b"never sent" not in raw
    assert len(seen) == 1
    assert "response header 'x-evil'" in seen[0]
    text = "\n".join(logged.lines)
    assert "response header 'x-evil'" in text
    assert "SECRET" not in text
