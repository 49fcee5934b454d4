"""WsgiToAsgi's exact response messages, the Content-Length cap and errors before the start."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from asgi_wsgi import WsgiToAsgi
from tests.wsgi.conftest import FakeClient, http_scope

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(10)]

START: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": []}
FINAL: dict[str, Any] = {"type": "http.response.body"}


def body(data: bytes) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": True}


class Recorded:
    """A response iterable that records each item it yielded and whether it was closed."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.yielded: list[bytes] = []
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.yielded.append(chunk)
            yield chunk

    def close(self) -> None:
        self.closed.set()


async def serve(app: Any) -> list[dict[str, Any]]:
    client = FakeClient()
    await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    return client.sent


def app_of(result: Any, headers: list[tuple[str, str]] | None = None) -> Any:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", headers or [])
        return result

    return app


@pytest.mark.parametrize("kind", [list, iter])
async def test_every_item_is_one_message_empty_ones_included(kind: Any) -> None:
    sent = await serve(app_of(kind([b"a", b"", b"b", b""])))
    assert sent == [START, body(b"a"), body(b""), body(b"b"), body(b""), FINAL]


@pytest.mark.parametrize("kind", [list, iter])
async def test_empty_chunks_before_the_first_data_follow_the_start(kind: Any) -> None:
    sent = await serve(app_of(kind([b"", b"", b"x"])))
    assert sent == [START, body(b""), body(b""), body(b"x"), FINAL]


async def test_only_empty_chunks() -> None:
    sent = await serve(app_of(iter([b"", b""])))
    assert sent == [START, body(b""), body(b""), FINAL]


async def test_the_final_message_has_no_other_keys() -> None:
    sent = await serve(app_of(iter([b"a"])))
    assert sent[-1] == {"type": "http.response.body"}


async def test_start_waits_for_the_first_non_empty_chunk() -> None:
    """Between empty chunks, start_response(..., exc_info) may still replace the status."""

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("X-A", "1")])
        yield b""
        try:
            raise KeyError("late")
        except KeyError:
            start_response("500 Internal Server Error", [("X-B", "2")], sys.exc_info())
        yield b"sorry"

    sent = await serve(app)
    assert sent == [
        {"type": "http.response.start", "status": 500, "headers": [(b"x-b", b"2")]},
        body(b""),
        body(b"sorry"),
        FINAL,
    ]


@pytest.mark.parametrize("name", ["Content-Length", "content-length", "CONTENT-LENGTH"])
async def test_content_length_truncates_and_stops_iterating(name: str, caplog: Any) -> None:
    response = Recorded([b"ab", b"cd", b"ef"])
    with caplog.at_level(logging.WARNING, logger="asgi_wsgi"):
        sent = await serve(app_of(response, [(name, "3")]))
    assert sent[1:] == [body(b"ab"), body(b"c"), FINAL]
    assert response.yielded == [b"ab", b"cd"]  # never resumed after the cap
    assert response.closed.is_set()
    assert "Content-Length" in caplog.text
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


async def test_content_length_reached_exactly_stops_without_warning(caplog: Any) -> None:
    response = Recorded([b"ab", b"cd", b"ef"])
    with caplog.at_level(logging.WARNING, logger="asgi_wsgi"):
        sent = await serve(app_of(response, [("Content-Length", "4")]))
    assert sent[1:] == [body(b"ab"), body(b"cd"), FINAL]
    assert response.yielded == [b"ab", b"cd"]
    assert response.closed.is_set()
    assert caplog.records == []


async def test_the_last_start_response_sets_the_cap() -> None:
    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "1")])
        try:
            raise KeyError("late")
        except KeyError:
            start_response("200 OK", [("Content-Length", "5")], sys.exc_info())
        yield b"abc"
        yield b"defg"

    sent = await serve(app)
    assert sent[1:] == [body(b"abc"), body(b"de"), FINAL]


async def test_fewer_bytes_than_declared_is_not_special(caplog: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="asgi_wsgi"):
        sent = await serve(app_of([b"ab"], [("Content-Length", "10")]))
    assert sent[1:] == [body(b"ab"), FINAL]
    assert caplog.records == []


async def test_write_is_capped_too() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Length", "3")])
        write(b"abcd")
        return []

    sent = await serve(app)
    assert sent[1:] == [body(b"abc"), FINAL]


async def test_a_cap_reached_by_write_skips_the_iterable_and_drops_later_writes(
    caplog: Any,
) -> None:
    response = Recorded([b"never"])

    def app(environ: Any, start_response: Any) -> Recorded:
        write = start_response("200 OK", [("Content-Length", "2")])
        write(b"ab")
        write(b"dropped")
        return response

    with caplog.at_level(logging.WARNING, logger="asgi_wsgi"):
        sent = await serve(app)
    assert sent[1:] == [body(b"ab"), FINAL]
    assert response.yielded == []
    assert response.closed.is_set()
    assert len(caplog.records) == 1


async def test_error_before_start_propagates_unchanged() -> None:
    error = LookupError("no such thing")
    response = Recorded([])

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            yield b""
            raise error
        finally:
            response.close()

    client = FakeClient()
    with pytest.raises(LookupError) as caught:
        await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert caught.value is error
    assert client.sent == []  # no 500 of our own: the server answers it
    assert response.closed.is_set()


async def test_error_after_start_is_logged_and_ends_the_response(caplog: Any) -> None:
    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"partial"
        raise LookupError("mid-stream")

    client = FakeClient()
    with (
        caplog.at_level(logging.ERROR, logger="asgi_wsgi"),
        pytest.raises(LookupError, match="mid-stream"),
    ):
        await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert client.sent == [START, body(b"partial")]
    assert "after the response started" in caplog.text
