"""Bad input, fuzzed: odd scopes, odd message sequences, any body size, broken WSGI apps.

Every case must end in a clear error or a well-formed 4xx/5xx (or correct 200) response,
within a timeout, with the adapter still serving afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ._asgi import Client, body_messages, http_scope, request
from ._impl import make_wsgi
from ._support import no_thread_leak, run

fuzz_settings = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

OPTIONAL_KEYS = ("asgi", "http_version", "scheme", "raw_path", "root_path", "client", "server")
TOLERATED_KEYS = ("query_string", "headers")  # required by the spec; a default is fine too
REQUIRED_KEYS = ("type", "method", "path")


class Recorder:
    """A WSGI app that keeps each environ and answers 200 with the request body's digest."""

    def __init__(self) -> None:
        self.environs: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.environs.append(dict(environ))
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [hashlib.sha256(body).hexdigest().encode()]


header_names = st.from_regex(rb"\A[a-z][a-z0-9-]{0,15}\Z").filter(
    lambda n: n not in (b"content-type", b"content-length", b"cookie")
)
header_values = st.binary(max_size=64).filter(lambda v: b"\r" not in v and b"\n" not in v)


@st.composite
def scopes(draw: Any) -> tuple[dict[str, Any], set[str]]:
    path = "/" + draw(st.text(max_size=40))
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=10))
    if draw(st.booleans()):  # one header repeated many times
        name = draw(header_names)
        headers += [(name, b"v")] * draw(st.integers(1, 150))
    if draw(st.booleans()):  # one huge value
        headers.append((b"x-huge", b"h" * draw(st.integers(1_000, 64_000))))
    scope = http_scope(
        method=draw(st.sampled_from(["GET", "POST", "HEAD", "PUT", "PROPFIND", "DELETE"])),
        path=path,
        raw_path=path.encode("utf-8", "surrogatepass"),
        query_string=draw(st.binary(max_size=80)),
        headers=headers,
        scheme=draw(st.sampled_from(["http", "https"])),
        server=draw(st.sampled_from([None, ("example.com", 80), ("/tmp/sock", None)])),
        client=draw(st.sampled_from([None, ("10.0.0.1", 5), ("::1", 9)])),
    )
    dropped = set(draw(st.lists(st.sampled_from(OPTIONAL_KEYS + TOLERATED_KEYS), unique=True)))
    for key in dropped:
        del scope[key]
    return scope, dropped


def latin1(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def expected_header_env(headers: list[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    joined: dict[str, list[str]] = {}
    for name, value in headers:
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        joined.setdefault(key, []).append(value.decode("latin-1"))
    return joined


@pytest.mark.timeout(40)
@fuzz_settings
@given(case=scopes())
def test_fuzzed_scopes(case: tuple[dict[str, Any], set[str]]) -> None:
    scope, dropped = case
    recorder = Recorder()
    app = make_wsgi(recorder)
    client = Client(body_messages(b""))
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    counts: dict[bytes, int] = {}
    for name, _ in headers:
        counts[name] = counts.get(name, 0) + 1

    async def main() -> BaseException | None:
        try:
            await request(app, scope, client)
        except Exception as error:
            return error
        return None

    error = run(main, 10)
    client.assert_well_formed()
    if error is not None:
        missing = [k for k in dropped if k in TOLERATED_KEYS]
        assert missing, f"unexpected {error!r} for {scope!r}"
        assert any(k in str(error) for k in missing), f"error does not name the key: {error!r}"
        return
    status = client.status()
    if status is None or status >= 400:
        # Too many repeats of one header is the one kind of bad input in these scopes.
        assert status is not None
        assert 400 <= status < 500, status
        assert max(counts.values(), default=0) > 100, f"status {status} for {scope!r}"
        return
    assert status == 200
    assert max(counts.values(), default=0) <= 100, "more than 100 repeats were accepted"
    (environ,) = recorder.environs
    assert all(isinstance(k, str) for k in environ)
    assert environ["REQUEST_METHOD"] == scope["method"]
    assert environ["QUERY_STRING"] == scope.get("query_string", b"").decode("latin-1")
    assert environ["PATH_INFO"] == latin1(scope["path"])
    assert environ["SCRIPT_NAME"] == ""
    assert environ["wsgi.url_scheme"] == scope.get("scheme", "http")
    assert isinstance(environ["SERVER_NAME"], str)
    assert isinstance(environ["SERVER_PORT"], str)
    if scope.get("client"):
        assert environ["REMOTE_ADDR"] == scope["client"][0]
    for key, values in expected_header_env(headers).items():
        assert environ[key] in (",".join(values), ", ".join(values)), key


@pytest.mark.timeout(20)
@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_scope_without_a_required_key_is_a_clear_error(key: str) -> None:
    app = make_wsgi(Recorder())
    scope = http_scope()
    del scope[key]
    client = Client(body_messages(b""))

    async def main() -> None:
        await request(app, scope, client)

    with no_thread_leak():
        message: str | None
        try:
            run(main, 10)
        except Exception as error:
            message = str(error)
        else:
            message = None
        if message is not None:
            assert key in message, f"{message!r} does not name the missing key {key!r}"
        else:
            client.assert_well_formed()
            status = client.status()
            assert status is not None
            assert status >= 400


@pytest.mark.timeout(40)
@fuzz_settings
@given(
    size=st.one_of(st.integers(0, 70_000), st.sampled_from([0, 1, 65_535, 65_536, 1_000_003])),
    chunks=st.integers(1, 40),
    reader=st.sampled_from(["read", "read-n", "readline", "iterate"]),
    with_length=st.booleans(),
)
def test_bodies_of_every_size(size: int, chunks: int, reader: str, with_length: bool) -> None:
    body = bytes(range(256)) * (size // 256) + b"\n" * (size % 256)
    assume(size <= 70_000 or chunks > 5)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        if reader == "read":
            data = stream.read()
        elif reader == "read-n":
            parts = []
            while True:
                part = stream.read(7_777)
                if not part:
                    break
                parts.append(part)
            data = b"".join(parts)
        elif reader == "readline":
            data = b"".join(iter(stream.readline, b""))
        else:
            data = b"".join(stream)
        start_response("200 OK", [])
        return [hashlib.sha256(data).hexdigest().encode(), b" ", str(len(data)).encode()]

    headers = [(b"content-length", str(size).encode())] if with_length else []
    client = Client(body_messages(body, chunks))

    async def main() -> None:
        await request(make_wsgi(app), http_scope(method="POST", headers=headers), client, 20)

    run(main, 30)
    client.assert_well_formed()
    assert client.status() == 200
    assert client.body() == f"{hashlib.sha256(body).hexdigest()} {size}".encode()


messages = st.sampled_from(
    [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"abc", "more_body": False},
        {"type": "http.request", "body": b"xyz"},
        {"type": "http.request"},
        {"type": "http.request", "body": "not bytes", "more_body": True},
        {"type": "http.request", "body": None, "more_body": False},
        {"type": "http.disconnect"},
        {"type": "http.response.start", "status": 200},
        {"type": "websocket.receive", "text": "hi"},
        {"type": "lifespan.startup"},
        {"type": "nonsense"},
        {},
    ]
)


@pytest.mark.timeout(40)
@fuzz_settings
@given(sequence=st.lists(messages, max_size=6))
def test_message_sequences_out_of_order(sequence: list[dict[str, Any]]) -> None:
    app = make_wsgi(Recorder())
    client = Client([dict(m) for m in sequence])

    async def main() -> None:
        task = asyncio.ensure_future(app(http_scope(method="POST"), client.receive, client.send))
        done, _ = await asyncio.wait([task], timeout=0.5)
        if not done:
            # Only a client that neither finished its body nor left may keep a request open.
            assert not any(
                m.get("type") in ("http.disconnect", "http.request") and not m.get("more_body")
                for m in sequence
            ), f"request hung on {sequence}"
            task.cancel()
            await asyncio.wait([task], timeout=5)
            assert task.cancelled()
        elif task.exception() is not None:
            assert isinstance(task.exception(), Exception)
        client.assert_well_formed()
        status = client.status()
        if status is not None and status != 200:
            assert status >= 400
        # The adapter still serves a normal request afterwards.
        healthy = Client(body_messages(b"ok"))
        await request(app, http_scope(method="POST"), healthy)
        assert healthy.status() == 200

    run(main, 20)


# --- broken WSGI applications ---------------------------------------------------------


class Closing:
    """A response iterable that records whether ``close()`` was called."""

    def __init__(self, items: list[Any], fail_after: int | None = None) -> None:
        self.items = items
        self.fail_after = fail_after
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[Any]:
        for index, item in enumerate(self.items):
            if index == self.fail_after:
                raise ValueError("broken iterable")
            yield item

    def close(self) -> None:
        self.closed.set()


def raise_before(environ: dict[str, Any], start_response: Any) -> Any:
    raise ValueError("failed before start_response")


def raise_after(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", [])
    raise ValueError("failed after start_response")


def call_twice(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", [])
    start_response("200 OK", [])
    return [b"x"]


def never_call(environ: dict[str, Any], start_response: Any) -> Any:
    return [b"x"]


def bad_status(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("two hundred", [])
    return [b"x"]


def bad_headers(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", [("X-Bad", 5)])
    return [b"x"]


def returns_none(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", [])
    return None


BROKEN: dict[str, Callable[..., Any]] = {
    "raise before start_response": raise_before,
    "raise after start_response": raise_after,
    "start_response twice": call_twice,
    "never calls start_response": never_call,
    "status not a status line": bad_status,
    "header value not a string": bad_headers,
    "returns None": returns_none,
}


def assert_failed_cleanly(client: Client, error: BaseException | None, hint: str) -> None:
    """A broken app ends in an Exception naming the problem, or in a well-formed 5xx."""
    client.assert_well_formed()
    status = client.status()
    if error is not None:
        assert isinstance(error, Exception), repr(error)
        assert status is None or status == 200 or status >= 500
        assert hint.lower() in str(error).lower(), f"{error!r} does not mention {hint!r}"
    else:
        assert status is not None, "no error and no response"
        assert status >= 500, f"no error and status {status}"


HINTS = {
    "raise before start_response": "failed before",
    "raise after start_response": "failed after",
    "start_response twice": "start_response",
    "never calls start_response": "start_response",
    "status not a status line": "status",
    "header value not a string": "header",
    "returns None": "iterable",
}


async def serve_once(app: Any) -> tuple[Client, BaseException | None]:
    client = Client(body_messages(b""))
    try:
        await request(app, http_scope(), client)
    except Exception as error:
        return client, error
    return client, None


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_wsgi_app(case: str) -> None:
    app = make_wsgi(BROKEN[case])

    async def main() -> tuple[Client, BaseException | None]:
        return await serve_once(app)

    with no_thread_leak():
        client, error = run(main, 10)
    assert_failed_cleanly(client, error, HINTS[case])


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("items", "fail_after", "hint"),
    [
        (["text, not bytes"], None, "bytes"),
        ([b"ok", 42], None, "bytes"),
        ([b"a", b"b", b"c"], 1, "broken iterable"),
    ],
)
def test_broken_response_iterable_is_closed(
    items: list[Any], fail_after: int | None, hint: str
) -> None:
    iterable = Closing(items, fail_after)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        return iterable

    async def main() -> tuple[Client, BaseException | None]:
        return await serve_once(make_wsgi(app))

    with no_thread_leak():
        client, error = run(main, 10)
    client.assert_well_formed()
    assert iterable.closed.wait(5), "close() was not called on the response iterable"
    if error is None:
        # Headers may be out already; then the body must simply not complete normally.
        finals = [m for m in client.sent[1:] if not m.get("more_body", False)]
        status = client.status()
        assert status is not None
        assert status >= 500 or not finals
    else:
        assert hint in str(error), f"{error!r} does not mention {hint!r}"
