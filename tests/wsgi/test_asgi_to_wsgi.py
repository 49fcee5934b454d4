"""AsgiToWsgi driven directly, as a WSGI server would (no sockets)."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from typing import Any

import pytest

from asgi_wsgi import AsgiToWsgi, _fork


def _environ(body: bytes = b"", **extra: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/mount",
        "PATH_INFO": "/caf\u00c3\u00a9",
        "QUERY_STRING": "q=1",
        "SERVER_NAME": "example.org",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.1",
        "REMOTE_PORT": "4321",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "text/plain",
        "HTTP_X_TOKEN": "abc",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "https",
    }
    environ.update(extra)
    return environ


class _StartResponse:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self.calls.append((status, headers, exc_info))
        return lambda data: None


@pytest.fixture
def adapter_factory() -> Any:
    made: list[AsgiToWsgi] = []

    def make(app: Any) -> AsgiToWsgi:
        adapter = AsgiToWsgi(app, lifespan_timeout=5)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.mark.timeout(20)
def test_scope_is_built_from_environ(adapter_factory: Any) -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        seen.update(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    start_response = _StartResponse()
    assert b"".join(adapter_factory(app)(_environ(), start_response)) == b""
    assert start_response.calls[0][0] == "204 No Content"
    assert seen["path"] == "/mount/caf\u00e9"
    assert seen["root_path"] == "/mount"
    assert seen["query_string"] == b"q=1"
    assert seen["scheme"] == "https"
    assert seen["server"] == ("example.org", 8080)
    assert seen["client"] == ("10.0.0.1", 4321)
    assert (b"x-token", b"abc") in seen["headers"]
    assert (b"content-type", b"text/plain") in seen["headers"]


@pytest.mark.timeout(20)
def test_request_and_response_stream(adapter_factory: Any) -> None:
    received: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        total = 0
        while True:
            message = await receive()
            received.append(len(message["body"]))
            total += len(message["body"])
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")]})
        for index in range(5):
            await send({"type": "http.response.body", "body": b"%d," % index, "more_body": True})
        await send({"type": "http.response.body", "body": str(total).encode()})

    body = b"z" * (200 * 1024)
    start_response = _StartResponse()
    iterator = iter(adapter_factory(app)(_environ(body), start_response))
    assert next(iterator) == b"0,"  # the first chunk, before the app produced the rest
    assert start_response.calls == [("200 OK", [("a", "b")], None)]
    assert b"".join(iterator) == b"1,2,3,4," + str(len(body)).encode()
    assert len(received) > 1  # the body arrived in several receive() messages
    assert sum(received) == len(body)


@pytest.mark.timeout(20)
def test_error_before_response_is_500(adapter_factory: Any, caplog: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        raise KeyError("broken")

    start_response = _StartResponse()
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        body = b"".join(adapter_factory(app)(_environ(), start_response))
    assert body == b"Internal Server Error"
    assert start_response.calls[0][0] == "500 Internal Server Error"
    assert "broken" in caplog.text


@pytest.mark.timeout(20)
def test_early_close_tells_app_the_client_left(adapter_factory: Any) -> None:
    saw_disconnect = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
        except OSError:
            pass
        if (await receive())["type"] == "http.disconnect":
            saw_disconnect.set()

    result = adapter_factory(app)(_environ(), _StartResponse())
    iterator = iter(result)
    assert next(iterator) == b"x"
    result.close()  # what a WSGI server does when the client went away
    assert saw_disconnect.wait(5)


def _lifespan_recording_app(events: list[str]) -> Any:
    """An app that records each lifespan message type in `events` and answers GETs "ok"."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


@pytest.mark.timeout(20)
def test_lifespan_runs_once_at_start_and_at_close() -> None:
    events: list[str] = []
    adapter = AsgiToWsgi(_lifespan_recording_app(events), lifespan_timeout=5)
    for _ in range(3):
        assert b"".join(adapter(_environ(), _StartResponse())) == b"ok"
    assert events == ["lifespan.startup"]
    adapter.close()
    assert events == ["lifespan.startup", "lifespan.shutdown"]


@pytest.mark.timeout(20)
def test_forked_child_takes_a_new_loop_and_starts_again() -> None:
    """Simulate fork() by running the at-fork hook: the next request starts a new lifespan."""
    events: list[str] = []
    adapter = AsgiToWsgi(_lifespan_recording_app(events), lifespan_timeout=5)
    assert b"".join(adapter(_environ(), _StartResponse())) == b"ok"
    parent_loop, parent_lifespan = adapter._loop_thread, adapter._lifespan
    assert parent_loop is not None
    assert parent_lifespan is not None
    try:
        _fork._forget_parent_state()  # what os.register_at_fork runs in a child
        assert b"".join(adapter(_environ(), _StartResponse())) == b"ok"
        assert adapter._loop_thread is not parent_loop
        assert events == ["lifespan.startup", "lifespan.startup"]
        adapter.close()
        assert events == ["lifespan.startup", "lifespan.startup", "lifespan.shutdown"]
    finally:  # in a real child the parent's loop is gone; here it is still ours to end
        parent_lifespan.shutdown()
        parent_loop.release()


class _RejectingStartResponse(_StartResponse):
    """A server that refuses the response headers, as gunicorn does for a CR/LF value."""

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        raise ValueError("invalid response header")


@pytest.mark.timeout(20)
def test_rejected_headers_release_a_streaming_app(adapter_factory: Any) -> None:
    outcome: list[str] = []
    ended = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"1")]})
        try:
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            outcome.append("acknowledged")
        except OSError as exc:
            outcome.append(type(exc).__name__)
        ended.set()

    with pytest.raises(ValueError, match="invalid response header"):
        b"".join(adapter_factory(app)(_environ(), _RejectingStartResponse()))
    assert ended.wait(5)  # before the fix the send() above waited forever
    assert outcome == ["ClientDisconnected"]


class _Truncated(io.BytesIO):
    """wsgi.input of a client that went away: ends early, or fails on the next read."""

    def __init__(self, data: bytes, *, fail: bool = False) -> None:
        super().__init__(data)
        self.fail = fail

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if not data and self.fail:
            raise OSError("client connection lost")
        return data


def _recording_upload_app(messages: list[dict[str, Any]], ended: threading.Event) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message["more_body"]:
                break
        ended.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    return app


@pytest.mark.timeout(20)
def test_input_shorter_than_content_length_is_a_disconnect(
    adapter_factory: Any, caplog: Any
) -> None:
    messages: list[dict[str, Any]] = []
    ended = threading.Event()
    extra: dict[str, Any] = {"wsgi.input": _Truncated(b"a" * 1000)}
    environ = _environ(CONTENT_LENGTH="100000", **extra)
    adapter = adapter_factory(_recording_upload_app(messages, ended))
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        b"".join(adapter(environ, _StartResponse()))
    assert ended.wait(5)
    assert [message["type"] for message in messages] == ["http.request", "http.disconnect"]
    assert messages[0]["body"] == b"a" * 1000
    assert "Exception in ASGI application" not in caplog.text  # a client leaving is no error


@pytest.mark.timeout(20)
def test_failing_input_read_is_a_disconnect(adapter_factory: Any) -> None:
    messages: list[dict[str, Any]] = []
    ended = threading.Event()
    extra: dict[str, Any] = {
        "wsgi.input": _Truncated(b"", fail=True),
        "wsgi.input_terminated": True,
    }
    environ = _environ(CONTENT_LENGTH="", **extra)
    adapter = adapter_factory(_recording_upload_app(messages, ended))
    with pytest.raises(OSError, match="client connection lost"):
        b"".join(adapter(environ, _StartResponse()))  # the server sees its own error
    assert ended.wait(5)  # before the fix receive() waited forever
    assert [message["type"] for message in messages] == ["http.disconnect"]


@pytest.mark.timeout(20)
def test_body_before_start_is_an_app_error(adapter_factory: Any, caplog: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await send({"type": "http.response.body", "body": b"early", "more_body": True})

    start_response = _StartResponse()
    with caplog.at_level(logging.ERROR, logger="asgi_wsgi"):
        body = b"".join(adapter_factory(app)(_environ(), start_response))
    assert start_response.calls[0][0] == "500 Internal Server Error"
    assert body == b"Internal Server Error"
    assert "http.response.body before http.response.start" in caplog.text


@pytest.mark.timeout(20)
def test_receive_after_the_response_is_a_disconnect(adapter_factory: Any) -> None:
    receives: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        receives.append(receive)
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    adapter = adapter_factory(app)
    assert b"".join(adapter(_environ(), _StartResponse())) == b"ok"
    # A task the app left behind asks only now, after the WSGI side finished the response.
    late = asyncio.run_coroutine_threadsafe(receives[0](), adapter._get_loop())
    assert late.result(5) == {"type": "http.disconnect"}
