"""The environ built from an ASGI scope (PEP 3333 and the ASGI HTTP spec)."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from asgi_wsgi import WsgiToAsgi, WsgiToAsgiInstance

from .conftest import FakeClient, http_scope


def _noop_app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return []


def _environ(**scope: Any) -> dict[str, Any]:
    return WsgiToAsgiInstance(_noop_app).build_environ(http_scope(**scope), io.BytesIO())


@pytest.mark.parametrize(
    ("scope", "key", "expected"),
    [
        ({"method": "POST"}, "REQUEST_METHOD", "POST"),
        ({"root_path": "/app", "path": "/app/x"}, "SCRIPT_NAME", "/app"),
        ({"root_path": "/app", "path": "/app/x"}, "PATH_INFO", "/x"),
        ({"root_path": "/app", "path": "/app"}, "PATH_INFO", ""),
        ({"root_path": "/app", "path": "/apple"}, "PATH_INFO", "/apple"),
        ({"root_path": "/app/", "path": "/app/x"}, "PATH_INFO", "/x"),
        ({"path": "/caf\u00e9"}, "PATH_INFO", "/caf\u00c3\u00a9"),
        ({"query_string": b"a=1&b=%20"}, "QUERY_STRING", "a=1&b=%20"),
        ({"http_version": "2"}, "SERVER_PROTOCOL", "HTTP/2"),
        ({}, "SERVER_NAME", "testserver"),
        ({}, "SERVER_PORT", "8000"),
        ({"server": None}, "SERVER_NAME", "localhost"),
        ({"server": None}, "SERVER_PORT", "80"),
        ({"server": None, "scheme": "https"}, "SERVER_PORT", "443"),
        ({"server": ("/tmp/sock", None)}, "SERVER_PORT", "0"),
        ({}, "REMOTE_ADDR", "127.0.0.1"),
        ({}, "REMOTE_PORT", "5555"),
        ({"headers": [(b"content-type", b"text/plain")]}, "CONTENT_TYPE", "text/plain"),
        ({"headers": [(b"content-length", b"12")]}, "CONTENT_LENGTH", "12"),
        ({"headers": [(b"x-thing", b"a")]}, "HTTP_X_THING", "a"),
        ({"headers": [(b"x-thing", b"a"), (b"x-thing", b"b")]}, "HTTP_X_THING", "a,b"),
        ({"headers": [(b"cookie", b"a=1"), (b"cookie", b"b=2")]}, "HTTP_COOKIE", "a=1; b=2"),
        ({"headers": [(b"x-latin", b"caf\xe9")]}, "HTTP_X_LATIN", "caf\u00e9"),
        ({"scheme": "https"}, "wsgi.url_scheme", "https"),
        ({}, "wsgi.version", (1, 0)),
        ({}, "wsgi.multithread", True),
        ({}, "wsgi.run_once", False),
        ({}, "wsgi.errors", sys.stderr),
    ],
)
def test_environ_key(scope: dict[str, Any], key: str, expected: Any) -> None:
    assert _environ(**scope)[key] == expected


def test_missing_server_and_client() -> None:
    scope = http_scope()
    del scope["server"]
    del scope["client"]
    environ = WsgiToAsgiInstance(_noop_app).build_environ(scope, io.BytesIO())
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("localhost", "80")
    assert "REMOTE_ADDR" not in environ


def test_asgi_scope_and_input_are_exposed() -> None:
    scope = http_scope()
    body = io.BytesIO(b"x")
    environ = WsgiToAsgiInstance(_noop_app).build_environ(scope, body)
    assert environ["asgi.scope"] is scope
    assert environ["wsgi.input"] is body


def test_no_http_prefix_for_content_headers() -> None:
    environ = _environ(headers=[(b"content-type", b"a/b"), (b"content-length", b"1")])
    assert "HTTP_CONTENT_TYPE" not in environ
    assert "HTTP_CONTENT_LENGTH" not in environ


def test_duplicate_header_limit_raises_in_build_environ() -> None:
    instance = WsgiToAsgiInstance(_noop_app, duplicate_header_limit=2)
    scope = http_scope(headers=[(b"x-a", b"1")] * 3)
    with pytest.raises(ValueError, match="'HTTP_X_A' is repeated 3 times"):
        instance.build_environ(scope, io.BytesIO())


def test_duplicate_header_limit_none_disables() -> None:
    instance = WsgiToAsgiInstance(_noop_app, duplicate_header_limit=None)
    environ = instance.build_environ(http_scope(headers=[(b"x-a", b"1")] * 500), io.BytesIO())
    assert environ["HTTP_X_A"] == ",".join(["1"] * 500)


@pytest.mark.asyncio
async def test_duplicate_header_limit_answers_400() -> None:
    client = FakeClient()
    scope = http_scope(headers=[(b"x-a", b"1")] * 101)
    await WsgiToAsgi(_noop_app)(scope, client.receive, client.send)
    assert client.status == 400


@pytest.mark.asyncio
@pytest.mark.timeout(60)  # a quadratic join of 50,000 values would not finish in time
async def test_fifty_thousand_duplicates_join() -> None:
    seen: dict[str, Any] = {}

    def app(environ: Any, start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [])
        return []

    client = FakeClient()
    scope = http_scope(headers=[(b"x-dup", b"v")] * 50_000)
    # Speed is the benchmark's business; under coverage on a busy machine this takes seconds.
    await WsgiToAsgi(app, duplicate_header_limit=None)(scope, client.receive, client.send)
    assert client.status == 200
    assert len(seen["HTTP_X_DUP"]) == 50_000 * 2 - 1
