"""WsgiToAsgi carries the request task's context into the WSGI app and back, per request."""

from __future__ import annotations

import asyncio
import contextvars
import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from asgi_local import Local
from asgi_sync import async_to_sync, sync_to_async
from asgi_wsgi import AsgiToWsgi, WsgiToAsgi
from tests.wsgi.conftest import FakeClient, http_scope

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(20)]

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")
local = Local()
critical = Local(thread_critical=True)


def hello(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b"hello"]


async def test_contextvars_and_locals_reach_the_app() -> None:
    seen: dict[str, Any] = {}

    def app(environ: Any, start_response: Any) -> list[bytes]:
        seen["var"] = request_id.get()
        seen["local"] = getattr(local, "user", None)
        seen["critical"] = getattr(critical, "user", None)
        return hello(environ, start_response)

    request_id.set("r-1")
    local.user = "alice"
    critical.user = "loop-thread-only"
    client = FakeClient()
    await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert seen == {"var": "r-1", "local": "alice", "critical": None}


async def test_iteration_and_close_run_in_the_request_context() -> None:
    seen: list[str] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            seen.append(request_id.get())
            yield b"x"

        def close(self) -> None:
            seen.append(request_id.get())

    def app(environ: Any, start_response: Any) -> Body:
        start_response("200 OK", [])
        return Body()

    request_id.set("r-2")
    client = FakeClient()
    await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert seen == ["r-2", "r-2"]


async def test_nothing_leaks_between_requests_on_one_thread() -> None:
    """Many requests on a pool of one thread: none sees what an earlier one set."""
    seen: list[tuple[str, str, Any]] = []
    threads: list[str] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        mine = environ["PATH_INFO"]
        threads.append(threading.current_thread().name)
        seen.append((mine, request_id.get(), getattr(local, "user", None)))
        request_id.set("set by " + mine)
        local.user = "set by " + mine
        return hello(environ, start_response)

    adapter = WsgiToAsgi(app, serialize=True)

    async def one(index: int) -> None:
        client = FakeClient()
        await adapter(http_scope(path=f"/{index}"), client.receive, client.send)
        assert client.body == b"hello"

    await asyncio.gather(*(one(i) for i in range(50)))
    # The bound is one request at a time; which pooled thread serves each may change when a
    # thread is handed back between two requests, so ask only that a thread served several requests.
    assert max(threads.count(name) for name in set(threads)) >= 2
    assert len(seen) == 50
    assert all(var == "unset" and user is None for _, var, user in seen), seen


async def test_changes_come_back_after_the_call() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        request_id.set("from wsgi")
        local.user = "bob"
        del local.gone
        return hello(environ, start_response)

    local.gone = "here before"
    client = FakeClient()
    await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert request_id.get() == "from wsgi"
    assert local.user == "bob"
    assert not hasattr(local, "gone")


async def test_changes_come_back_when_the_app_raises() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        request_id.set("before the error")
        raise KeyError("boom")

    client = FakeClient()
    with pytest.raises(KeyError):
        await WsgiToAsgi(app)(http_scope(), client.receive, client.send)
    assert request_id.get() == "before the error"


async def test_send_sees_the_values_set_when_each_message_was_pushed() -> None:
    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        request_id.set("at start")
        start_response("200 OK", [])
        yield b"one"
        request_id.set("at two")
        yield b"two"
        request_id.set("at the end")

    seen: list[tuple[bytes, str]] = []
    client = FakeClient()

    async def send(message: Any) -> None:
        seen.append((message.get("body", b"-"), request_id.get()))
        await client.send(message)

    await WsgiToAsgi(app)(http_scope(), client.receive, send)
    assert seen == [
        (b"-", "at start"),
        (b"one", "at start"),
        (b"two", "at two"),
        (b"-", "at the end"),
    ]
    assert request_id.get() == "at the end"


async def test_async_to_sync_in_the_app_runs_on_the_server_loop() -> None:
    """Loop-bound objects of the server loop (here an asyncio.Lock) work from the WSGI app."""
    server_loop = asyncio.get_running_loop()
    lock = asyncio.Lock()
    seen: dict[str, Any] = {}
    app_waiting = threading.Event()

    def sync_part() -> str:
        return threading.current_thread().name

    async def use_the_lock() -> str:
        seen["loop"] = asyncio.get_running_loop()
        async with lock:
            # Thread-sensitive sync code called from here runs on the WSGI thread.
            return await sync_to_async(sync_part)()

    def app(environ: Any, start_response: Any) -> list[bytes]:
        seen["wsgi thread"] = threading.current_thread().name
        app_waiting.set()
        seen["sync part ran on"] = async_to_sync(use_the_lock)()
        return hello(environ, start_response)

    await lock.acquire()  # contended: the app must wait on the server loop
    client = FakeClient()
    task = asyncio.ensure_future(WsgiToAsgi(app)(http_scope(), client.receive, client.send))
    assert await server_loop.run_in_executor(None, app_waiting.wait, 5)
    lock.release()
    await asyncio.wait_for(task, 10)
    assert seen["loop"] is server_loop
    assert seen["sync part ran on"] == seen["wsgi thread"]
    assert client.body == b"hello"


async def test_cancelling_the_request_cancels_async_to_sync_inside_the_app() -> None:
    cancelled = threading.Event()
    entered = asyncio.Event()

    async def forever() -> None:
        entered.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def app(environ: Any, start_response: Any) -> list[bytes]:
        try:
            async_to_sync(forever)()
        except asyncio.CancelledError:
            pass
        return hello(environ, start_response)

    client = FakeClient()
    task = asyncio.ensure_future(WsgiToAsgi(app)(http_scope(), client.receive, client.send))
    await asyncio.wait_for(entered.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.get_running_loop().run_in_executor(None, cancelled.wait, 5)


# --- AsgiToWsgi: the WSGI caller's context reaches the ASGI app ---------------------------


def _get_environ(path: str = "/") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }


def _ignore_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return lambda data: None


async def _answer(send: Any, text: str) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": text.encode()})


async def test_asgi_app_sees_the_context_at_the_call_not_at_iteration() -> None:
    """The WSGI middleware pattern: set, call the app, reset in `finally`, then iterate."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen["var"] = request_id.get()
        seen["local"] = getattr(local, "user", None)
        seen["critical"] = getattr(critical, "user", None)
        request_id.set("set by the ASGI app")
        await _answer(send, "ok")

    adapter = AsgiToWsgi(app, lifespan_timeout=5)

    def middleware() -> bytes:
        token = request_id.set("from middleware")
        local.user = "carol"
        critical.user = "wsgi thread only"
        try:
            result = adapter(_get_environ(), _ignore_start)
        finally:
            request_id.reset(token)
            del local.user
        data = b"".join(result)
        assert request_id.get() == "unset"  # nothing flows back into the server's thread
        return data

    try:
        data = await asyncio.get_running_loop().run_in_executor(None, middleware)
    finally:
        adapter.close()
    assert data == b"ok"
    assert seen == {"var": "from middleware", "local": "carol", "critical": None}


async def test_asgi_app_requests_each_get_their_own_copy() -> None:
    seen: list[tuple[str, str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append((scope["path"], request_id.get()))
        request_id.set("leftover of " + scope["path"])
        await _answer(send, "ok")

    adapter = AsgiToWsgi(app, lifespan_timeout=5)

    def serve_all() -> None:
        for index in range(20):
            assert b"".join(adapter(_get_environ(f"/{index}"), _ignore_start)) == b"ok"

    try:
        await asyncio.get_running_loop().run_in_executor(None, serve_all)
    finally:
        adapter.close()
    assert [var for _, var in seen] == ["unset"] * 20


@pytest.mark.timeout(60)
async def test_stress_many_concurrent_requests_keep_their_own_values() -> None:
    """200 requests on 8 threads, some streaming, some cancelled: each sees only its own."""
    errors: list[str] = []

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        mine = environ["PATH_INFO"]
        if request_id.get() != mine or getattr(local, "user", None) != mine:
            errors.append(f"{mine} saw {request_id.get()!r} / {getattr(local, 'user', None)!r}")
        start_response("200 OK", [])
        for step in range(3):
            request_id.set(f"{mine} step {step}")
            local.user = f"{mine} step {step}"
            yield mine.encode()

    adapter = WsgiToAsgi(app, max_workers=8)

    async def one(index: int) -> None:
        mine = f"/{index}"
        request_id.set(mine)
        local.user = mine
        client = FakeClient()
        await adapter(http_scope(path=mine), client.receive, client.send)
        assert client.body == mine.encode() * 3
        assert request_id.get() == f"{mine} step 2"
        assert local.user == f"{mine} step 2"

    tasks = [asyncio.ensure_future(one(i)) for i in range(200)]
    for task in tasks[::7]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if not isinstance(r, (type(None), asyncio.CancelledError))]
    assert failures == []
    assert errors == []
