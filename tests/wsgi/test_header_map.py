"""Request headers to environ keys: `header_map` modes, the duplicate limit, content headers."""

from __future__ import annotations

import inspect
import io
import logging
import re
from typing import Any

import pytest

from asgi_wsgi import WsgiToAsgi, WsgiToAsgiInstance

from .conftest import FakeClient, http_scope

SPOOFED = [(b"x-forwarded-for", b"10.0.0.1"), (b"x_forwarded_for", b"6.6.6.6")]
BAD_REQUEST_START = {
    "type": "http.response.start",
    "status": 400,
    "headers": [(b"content-type", b"text/plain")],
}


class Recorder:
    """A WSGI app that keeps the header keys of each environ it is called with."""

    def __init__(self) -> None:
        self.environs: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        keys = {k: v for k, v in environ.items() if k.startswith(("HTTP_", "CONTENT_"))}
        self.environs.append(keys)
        start_response("200 OK", [])
        return [b"ok"]


async def _serve(headers: list[tuple[bytes, bytes]], **options: Any) -> tuple[Recorder, Any]:
    app = Recorder()
    client = FakeClient()
    await WsgiToAsgi(app, **options)(http_scope(headers=headers), client.receive, client.send)
    return app, client


def _environ(headers: list[tuple[bytes, bytes]], **options: Any) -> dict[str, Any]:
    instance = WsgiToAsgiInstance(Recorder(), **options)
    return instance.build_environ(http_scope(headers=headers), io.BytesIO())


# --- header_map="drop" (the default) -----------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_drop_is_the_default_and_keeps_the_proxy_value(caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG, logger="asgi_wsgi"):
        app, client = await _serve(SPOOFED)
    assert client.status == 200
    assert app.environs == [{"HTTP_X_FORWARDED_FOR": "10.0.0.1"}]
    dropped = [r for r in caplog.records if "Dropped request headers" in r.getMessage()]
    assert len(dropped) == 1
    assert dropped[0].levelno == logging.DEBUG
    assert "x_forwarded_for" in dropped[0].getMessage()
    assert "6.6.6.6" not in caplog.text


def test_drop_leaves_out_every_underscore_name_and_logs_once(caplog: Any) -> None:
    headers = [(b"a_b", b"1"), (b"x-ok", b"2"), (b"_", b"3"), (b"c_d", b"4")]
    with caplog.at_level(logging.DEBUG, logger="asgi_wsgi"):
        environ = _environ(headers)
    assert [k for k in environ if k.startswith("HTTP_")] == ["HTTP_X_OK"]
    (record,) = [r for r in caplog.records if "Dropped" in r.getMessage()]
    assert all(name in record.getMessage() for name in ("a_b", "'_'", "c_d"))
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="asgi_wsgi"):
        _environ([(b"x-a", b"1")])
    assert not [r for r in caplog.records if r.name == "asgi_wsgi"]  # nothing dropped


def test_drop_drops_content_type_with_an_underscore() -> None:
    environ = _environ([(b"content-type", b"a/b"), (b"content_type", b"evil/x")])
    assert environ["CONTENT_TYPE"] == "a/b"
    assert "HTTP_CONTENT_TYPE" not in environ


# --- header_map="refuse" -----------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_refuse_answers_400_without_calling_the_app(caplog: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="asgi_wsgi"):
        app, client = await _serve(SPOOFED, header_map="refuse")
    assert app.environs == []
    assert client.sent == [
        BAD_REQUEST_START,
        {"type": "http.response.body", "body": b"Bad Request: Header name contains an underscore"},
    ]
    assert "x_forwarded_for" in caplog.text
    assert "6.6.6.6" not in caplog.text


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_refuse_serves_requests_without_underscores() -> None:
    app, client = await _serve([(b"x-forwarded-for", b"10.0.0.1")], header_map="refuse")
    assert client.status == 200
    assert app.environs == [{"HTTP_X_FORWARDED_FOR": "10.0.0.1"}]


# --- header_map="dangerous": asgiref's merging --------------------------------------------


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_dangerous_merges_as_asgiref_does() -> None:
    app, client = await _serve(SPOOFED, header_map="dangerous")
    assert client.status == 200
    assert app.environs == [{"HTTP_X_FORWARDED_FOR": "10.0.0.1,6.6.6.6"}]


def test_dangerous_maps_content_type_with_underscore_to_http_content_type() -> None:
    headers = [(b"content-type", b"a/b"), (b"content_type", b"c/d"), (b"content_length", b"9")]
    environ = _environ(headers, header_map="dangerous")
    assert environ["CONTENT_TYPE"] == "a/b"
    assert environ["HTTP_CONTENT_TYPE"] == "c/d"
    assert environ["HTTP_CONTENT_LENGTH"] == "9"
    assert "CONTENT_LENGTH" not in environ


def test_dangerous_joins_values_in_arrival_order() -> None:
    headers = [(b"x-a", b"1"), (b"x_a", b"2"), (b"x-a", b"3")]
    assert _environ(headers, header_map="dangerous")["HTTP_X_A"] == "1,2,3"


@pytest.mark.parametrize("mode", ["drop", "refuse", "dangerous"])
def test_content_headers_with_dashes_map_in_every_mode(mode: str) -> None:
    headers = [(b"content-type", b"a/b"), (b"content-length", b"3"), (b"x-y", b"z")]
    environ = _environ(headers, header_map=mode)
    assert (environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]) == ("a/b", "3")
    assert environ["HTTP_X_Y"] == "z"


@pytest.mark.parametrize("bad", ["DROP", "", "gunicorn", None, 1, b"drop"])
def test_unknown_header_map_is_a_clear_error(bad: Any) -> None:
    expected = f"header_map must be 'drop' (the default), 'refuse' or 'dangerous', not {bad!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        WsgiToAsgi(Recorder(), header_map=bad)
    with pytest.raises(ValueError, match="header_map must be"):
        WsgiToAsgiInstance(Recorder(), header_map=bad)


def test_asgiref_name_keeps_asgiref_signature_and_defaults_to_drop() -> None:
    from asgiref.wsgi import WsgiToAsgi as AsgirefWsgiToAsgi

    parameters = inspect.signature(AsgirefWsgiToAsgi).parameters
    positional = [
        name for name, p in parameters.items() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    assert positional == ["wsgi_application", "duplicate_header_limit"]
    assert parameters["duplicate_header_limit"].default == 100
    assert parameters["header_map"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["header_map"].default == "drop"
    adapter = AsgirefWsgiToAsgi(Recorder(), 5, header_map="dangerous")
    assert (adapter.duplicate_header_limit, adapter.header_map) == (5, "dangerous")


# --- the duplicate-header limit -----------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_limit_plus_one_answers_asgiref_400_without_calling_the_app(caplog: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="asgi_wsgi"):
        app, client = await _serve([(b"x-a", b"1")] * 4, duplicate_header_limit=3)
    assert app.environs == []
    assert client.sent == [
        BAD_REQUEST_START,
        {"type": "http.response.body", "body": b"Bad Request: Too many duplicate headers"},
    ]
    assert "Rejected request: header 'HTTP_X_A' is repeated 4 times" in caplog.text
    app, client = await _serve([(b"x-a", b"1")] * 3, duplicate_header_limit=3)
    assert client.status == 200
    assert app.environs == [{"HTTP_X_A": "1,1,1"}]


@pytest.mark.asyncio
@pytest.mark.timeout(10)
@pytest.mark.parametrize("limit", [None, 0])
async def test_none_or_zero_disables_the_limit(limit: int | None) -> None:
    app, client = await _serve([(b"x-a", b"1")] * 300, duplicate_header_limit=limit)
    assert client.status == 200
    assert app.environs == [{"HTTP_X_A": ",".join(["1"] * 300)}]


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_zero_limit_serves_a_single_header() -> None:
    app, client = await _serve([(b"x-a", b"1")], duplicate_header_limit=0)
    assert client.status == 200
    assert app.environs == [{"HTTP_X_A": "1"}]


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_limit_counts_values_per_environ_key() -> None:
    headers = [(b"x-a", b"1"), (b"x_a", b"2"), (b"x-a", b"3")]
    app, client = await _serve(headers, duplicate_header_limit=2, header_map="dangerous")
    assert (client.status, app.environs) == (400, [])
    app, client = await _serve(headers, duplicate_header_limit=2)  # drop: two values left
    assert (client.status, app.environs) == (200, [{"HTTP_X_A": "1,3"}])
