"""Response status lines and headers that could split a response, refused by both adapters.

The corpus: CR, LF, CRLF, NUL, space and other separators in names, obs-fold, an empty name,
a value that is not latin-1. Every header value carries ``SECRET`` so the tests can check that
the value never reaches a log line or an error message, while the header's name does.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from asgi_wsgi import AsgiToWsgi, WsgiToAsgi

from .conftest import FakeClient, http_scope

BAD_NAMES = [
    pytest.param("X Evil", id="space"),
    pytest.param("X\tEvil", id="tab"),
    pytest.param("X:Evil", id="colon"),
    pytest.param("X(Evil)", id="parens"),
    pytest.param('X"Evil', id="quote"),
    pytest.param("X/Evil", id="slash"),
    pytest.param("X@Evil", id="at"),
    pytest.param("X,Evil", id="comma"),
    pytest.param("X;Evil", id="semicolon"),
    pytest.param("X=Evil", id="equals"),
    pytest.param("X[Evil]", id="brackets"),
    pytest.param("X{Evil}", id="braces"),
    pytest.param("X?Evil", id="question"),
    pytest.param("X\\Evil", id="backslash"),
    pytest.param("X<Evil>", id="angle"),
    pytest.param("X\rEvil", id="CR"),
    pytest.param("X\nEvil", id="LF"),
    pytest.param("X\r\nEvil", id="CRLF"),
    pytest.param("X\x00Evil", id="NUL"),
    pytest.param("X\x7fEvil", id="DEL"),
    pytest.param("X\u00e9vil", id="latin-1-letter"),
]
BAD_VALUES = [
    pytest.param("SECRET\rSet-Cookie: x=1", id="CR"),
    pytest.param("SECRET\nSet-Cookie: x=1", id="LF"),
    pytest.param("SECRET\r\nSet-Cookie: x=1", id="CRLF"),
    pytest.param("SECRET\x00tail", id="NUL"),
    pytest.param("SECRET\r\n folded", id="obs-fold"),
    pytest.param("SECRET\r\n\r\n<html>smuggled", id="body-injection"),
]
BAD_STATUS = [
    pytest.param("200", id="no-reason"),
    pytest.param("200OK", id="no-space"),
    pytest.param(" 200 OK", id="leading-space"),
    pytest.param("2000 OK", id="four-digits"),
    pytest.param("20 OK", id="two-digits"),
    pytest.param("099 Low", id="leading-zero"),
    pytest.param("abc OK", id="not-a-number"),
    pytest.param("200 OK\r\nSet-Cookie: x=1", id="CRLF"),
    pytest.param("200 OK\nX: y", id="LF"),
    pytest.param("200 O\x00K", id="NUL"),
    pytest.param("200 O\x07K", id="control"),
    pytest.param("200 \u20acuro", id="non-latin-1"),
]
# Kept out of the source lines a traceback would quote.
EVIL_HEADERS = [("X-Evil", "SECRET\r\nSet-Cookie: x=1")]
GOOD_HEADERS = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("X-Tchars!#$%&'*+-.^_`|~09", "tab\tand obs-text \u00e9\u00ff and \x01 are not splitting"),
    ("Set-Cookie", ""),
]


# --- WsgiToAsgi: what start_response accepts ----------------------------------------------


class Body:
    """A response iterable that calls `start_response` lazily and records `close()`."""

    def __init__(self, start_response: Any, status: str, headers: list[Any]) -> None:
        self.start_response = start_response
        self.status = status
        self.headers = headers
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        self.start_response(self.status, self.headers)
        yield b"never sent"

    def close(self) -> None:
        self.closed.set()


async def _serve_wsgi(status: str, headers: list[Any]) -> tuple[FakeClient, Any, Any]:
    """Serve one request; return the client, the response iterable, and any exception."""
    bodies: list[Body] = []

    def app(environ: Any, start_response: Any) -> Body:
        bodies.append(Body(start_response, status, headers))
        return bodies[0]

    client = FakeClient()
    error: BaseException | None = None
    try:
        await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    except Exception as exc:  # the adapter may let the server answer the 500
        error = exc
    return client, bodies[0], error


def _assert_refused(client: FakeClient, error: Any, caplog: Any, name: str) -> None:
    """Nothing of the response went out; the client gets a 500; the log names the header."""
    starts = [m for m in client.sent if m["type"] == "http.response.start"]
    assert all(m["status"] == 500 for m in starts), starts
    assert b"never sent" not in b"".join(m.get("body", b"") for m in client.sent)
    if error is None:
        assert client.status == 500
        text = caplog.text
    else:  # propagated to the server, which answers 500 and logs it
        assert isinstance(error, ValueError)
        text = str(error)
    assert name in text
    assert "SECRET" not in text


@pytest.mark.asyncio
@pytest.mark.timeout(10)
@pytest.mark.parametrize("value", BAD_VALUES)
async def test_wsgi_value_with_cr_lf_nul_is_refused(value: str, caplog: Any) -> None:
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        client, body, error = await _serve_wsgi("200 OK", [("X-Evil", value)])
    _assert_refused(client, error, caplog, "response header 'x-evil'")
    assert body.closed.is_set()


@pytest.mark.asyncio
@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", BAD_NAMES)
async def test_wsgi_name_that_is_not_a_token_is_refused(name: str, caplog: Any) -> None:
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        client, body, error = await _serve_wsgi("200 OK", [(name, "SECRET")])
    _assert_refused(client, error, caplog, "response header name")
    assert body.closed.is_set()


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_wsgi_empty_name_is_refused(caplog: Any) -> None:
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        client, body, error = await _serve_wsgi("200 OK", [("", "SECRET")])
    _assert_refused(client, error, caplog, "a response header has an empty name")
    assert body.closed.is_set()


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_wsgi_value_that_is_not_latin1_is_refused(caplog: Any) -> None:
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        client, body, error = await _serve_wsgi("200 OK", [("X-Name", "SECRET \u20ac")])
    _assert_refused(client, error, caplog, "the value of response header 'X-Name'")
    assert "not encodable as latin-1" in (caplog.text if error is None else str(error))
    assert body.closed.is_set()


@pytest.mark.asyncio
@pytest.mark.timeout(10)
@pytest.mark.parametrize("status", BAD_STATUS)
async def test_wsgi_malformed_status_line_is_refused(status: str, caplog: Any) -> None:
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        client, body, error = await _serve_wsgi(status, [("X-Ok", "SECRET")])
    _assert_refused(client, error, caplog, "status must be a 3-digit code, a space and a reason")
    assert body.closed.is_set()


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_wsgi_start_response_raises_inside_the_app() -> None:
    """PEP 3333: the check happens in `start_response`, where the application can see it."""
    seen: list[str] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        try:
            start_response("200 OK", EVIL_HEADERS)
        except ValueError as exc:
            seen.append(str(exc))
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [b"recovered"]
        return [b"not reached"]

    client = FakeClient()
    await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert client.status == 502
    assert client.body == b"recovered"
    assert seen == [
        "the value of response header 'x-evil' contains a carriage return (CR), which HTTP "
        "forbids in field values (it could inject headers); remove it or encode it"
    ]


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_wsgi_good_headers_pass_unchanged() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("299 Odd But\tPrintable \u00e9", GOOD_HEADERS)
        return [b"ok"]

    client = FakeClient()
    await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert client.sent[0] == {
        "type": "http.response.start",
        "status": 299,
        "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in GOOD_HEADERS],
    }
    assert client.body == b"ok"


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_wsgi_bad_exc_info_headers_before_the_body_answer_500(caplog: Any) -> None:
    """A good start, then an error page with a bad header before any body byte: 500."""
    closed = threading.Event()

    class Failing:
        def __init__(self, start_response: Any) -> None:
            self.start_response = start_response

        def __iter__(self) -> Iterator[bytes]:
            self.start_response("200 OK", [("X-Good", "1")])
            yield b""  # nothing sent yet: the start message is still held back
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                self.start_response("500 Oops", EVIL_HEADERS, sys.exc_info())
            yield b"error page"

        def close(self) -> None:
            closed.set()

    client = FakeClient()
    error: BaseException | None = None
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        try:
            await WsgiToAsgi(lambda e, s: Failing(s))(http_scope(), client.receive, client.send)
        except Exception as exc:
            error = exc
    _assert_refused(client, error, caplog, "response header 'x-evil'")
    assert b"error page" not in client.body
    assert closed.is_set()


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_wsgi_bad_headers_after_the_response_started_end_it_as_a_late_error(
    caplog: Any,
) -> None:
    closed = threading.Event()

    class Late:
        def __init__(self, start_response: Any) -> None:
            self.start_response = start_response

        def __iter__(self) -> Iterator[bytes]:
            self.start_response("200 OK", [("X-Good", "1")])
            yield b"first"
            try:
                raise RuntimeError("late boom")
            except RuntimeError:
                self.start_response("500 Oops", EVIL_HEADERS, sys.exc_info())
            yield b"error page"

        def close(self) -> None:
            closed.set()

    client = FakeClient()
    with (
        caplog.at_level(logging.ERROR, logger="asgi_wsgi"),
        pytest.raises(RuntimeError, match=r"^late boom$"),
    ):
        await WsgiToAsgi(lambda e, s: Late(s))(http_scope(), client.receive, client.send)
    assert client.sent == [
        {"type": "http.response.start", "status": 200, "headers": [(b"x-good", b"1")]},
        {"type": "http.response.body", "body": b"first", "more_body": True},
    ]  # no error page, no second start, no final message: the server ends the connection
    assert closed.is_set()
    assert "SECRET" not in caplog.text


@pytest.mark.asyncio
@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-A": "1"}, "response headers must be a list of (name, value) str tuples, not dict"),
        ([("X-A", "1", "2")], "response header 0 must be a (name, value) tuple of str"),
        ([("X-A", "1"), "X-B"], "response header 1 must be a (name, value) tuple of str, not str"),
        ([(b"X-A", "1")], "response header 0 has a bytes name; names must be str"),
        ([("X-A", 5)], "response header 'X-A' has a int value; header values must be str"),
        ([("X-A", b"SECRET")], "response header 'X-A' has a bytes value; header values must"),
        ([("X-\u20ac", "SECRET")], "response header name 'X-\u20ac' is not encodable as latin-1"),
    ],
)
async def test_wsgi_malformed_header_lists_name_the_item(
    headers: Any, message: str, caplog: Any
) -> None:
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        client, body, error = await _serve_wsgi("200 OK", headers)
    text = caplog.text if error is None else str(error)
    assert message in text
    assert "SECRET" not in text
    assert body.closed.is_set()
    if error is None:
        assert client.status == 500


# --- AsgiToWsgi: what send() accepts -------------------------------------------------------


class _StartResponse:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str]]]] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self.calls.append((status, headers))
        return lambda data: None


def _environ() -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SERVER_NAME": "example.org",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }


@pytest.fixture
def serve_asgi() -> Iterator[Any]:
    adapters: list[AsgiToWsgi] = []

    def serve(start: dict[str, Any]) -> tuple[_StartResponse, bytes, list[str]]:
        """Serve an app sending `start`; return the server's calls, the body, the app's view."""
        seen: list[str] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                return
            try:
                await send(start)
            except Exception as exc:
                seen.append(f"{type(exc).__name__}: {exc}")
                raise
            await send({"type": "http.response.body", "body": b"never sent"})

        adapter = AsgiToWsgi(app, lifespan_timeout=5)
        adapters.append(adapter)
        start_response = _StartResponse()
        body = b"".join(adapter(_environ(), start_response))
        return start_response, body, seen

    yield serve
    for adapter in adapters:
        adapter.close()


def _assert_asgi_refused(
    result: tuple[_StartResponse, bytes, list[str]], caplog: Any, name: str, kind: str
) -> None:
    start_response, body, seen = result
    assert [status for status, _ in start_response.calls] == ["500 Internal Server Error"]
    assert body == b"Internal Server Error"
    assert len(seen) == 1
    assert seen[0].startswith(f"{kind}: ")
    assert name in seen[0]
    assert name in caplog.text
    assert "SECRET" not in caplog.text
    assert "SECRET" not in seen[0]


def _latin1(text: str) -> bytes:
    return text.encode("latin-1") if all(ord(c) < 256 for c in text) else text.encode()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("value", BAD_VALUES)
def test_asgi_value_with_cr_lf_nul_is_refused(value: str, serve_asgi: Any, caplog: Any) -> None:
    start = {"type": "http.response.start", "status": 200, "headers": [(b"x-evil", _latin1(value))]}
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        result = serve_asgi(start)
    _assert_asgi_refused(result, caplog, "response header 'x-evil'", "ValueError")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", BAD_NAMES)
def test_asgi_name_that_is_not_a_token_is_refused(name: str, serve_asgi: Any, caplog: Any) -> None:
    start = {"type": "http.response.start", "status": 200, "headers": [(_latin1(name), b"SECRET")]}
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        result = serve_asgi(start)
    _assert_asgi_refused(result, caplog, "is not an RFC 9110 token", "ValueError")


@pytest.mark.timeout(20)
def test_asgi_empty_name_is_refused(serve_asgi: Any, caplog: Any) -> None:
    start = {"type": "http.response.start", "status": 200, "headers": [(b"", b"SECRET")]}
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        result = serve_asgi(start)
    _assert_asgi_refused(result, caplog, "a response header has an empty name", "ValueError")


@pytest.mark.timeout(20)
def test_asgi_str_value_is_refused(serve_asgi: Any, caplog: Any) -> None:
    """A value that is not a byte string (here text outside latin-1) names the header."""
    start = {"type": "http.response.start", "status": 200, "headers": [(b"x-name", "SECRET\u20ac")]}
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        result = serve_asgi(start)
    _assert_asgi_refused(result, caplog, "response header 'x-name' has a str value", "TypeError")


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("headers", "message", "kind"),
    [
        ([(b"x-a",)], "header 0 of http.response.start must be a (name, value) pair", "TypeError"),
        ([b"x-a"], "header 0 of http.response.start must be a (name, value) pair", "TypeError"),
        ([("x-a", b"SECRET")], "header 0 of http.response.start has a str name", "TypeError"),
    ],
)
def test_asgi_malformed_header_items_are_refused(
    headers: Any, message: str, kind: str, serve_asgi: Any, caplog: Any
) -> None:
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        result = serve_asgi(start)
    _assert_asgi_refused(result, caplog, message, kind)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (99, "'status' must be a 3-digit code, not 99", "ValueError"),
        (1000, "'status' must be a 3-digit code, not 1000", "ValueError"),
        (-200, "'status' must be a 3-digit code, not -200", "ValueError"),
        ("abc", "needs an int 'status' such as 200, not 'abc'", "TypeError"),
        (None, "needs an int 'status' such as 200, not None", "TypeError"),
    ],
)
def test_asgi_bad_status_is_refused(
    status: Any, message: str, kind: str, serve_asgi: Any, caplog: Any
) -> None:
    start = {"type": "http.response.start", "status": status, "headers": [(b"x-a", b"SECRET")]}
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        result = serve_asgi(start)
    _assert_asgi_refused(result, caplog, message, kind)


@pytest.mark.timeout(20)
def test_asgi_good_headers_pass_unchanged(serve_asgi: Any) -> None:
    headers: list[tuple[bytes, bytes | bytearray]] = [
        (n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in GOOD_HEADERS
    ]
    headers.append((b"x-bytearray", bytearray(b"fine")))
    start = {"type": "http.response.start", "status": 299, "headers": headers}
    start_response, body, seen = serve_asgi(start)
    assert seen == []
    assert body == b"never sent"  # this app's body, sent because the start was accepted
    expected = [(n.lower(), v) for n, v in GOOD_HEADERS] + [("x-bytearray", "fine")]
    assert start_response.calls == [("299 Unknown", expected)]


@pytest.mark.timeout(20)
def test_asgi_app_may_recover_after_a_refused_start() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        try:
            start = {"type": "http.response.start", "status": 200, "headers": [(b"a b", b"1")]}
            await send(start)
        except ValueError:
            await send({"type": "http.response.start", "status": 502, "headers": []})
        await send({"type": "http.response.body", "body": b"recovered"})

    adapter = AsgiToWsgi(app, lifespan_timeout=5)
    try:
        start_response = _StartResponse()
        assert b"".join(adapter(_environ(), start_response)) == b"recovered"
        assert start_response.calls == [("502 Bad Gateway", [])]
    finally:
        adapter.close()


@pytest.mark.timeout(20)
def test_asgi_bad_start_after_the_body_began_ends_the_response(caplog: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        start = {"type": "http.response.start", "status": 500, "headers": [(b"x", b"SECRET\n")]}
        await send(start)

    adapter = AsgiToWsgi(app, lifespan_timeout=5)
    try:
        start_response = _StartResponse()
        chunks = iter(adapter(_environ(), start_response))
        assert next(chunks) == b"first"
        with (
            caplog.at_level(logging.ERROR, logger="asgi_wsgi"),
            pytest.raises(
                ValueError, match=r"^the value of response header 'x' contains a line feed"
            ),
        ):
            next(chunks)
        assert start_response.calls == [("200 OK", [])]
        assert "SECRET" not in caplog.text
    finally:
        adapter.close()
