"""Code written against asgiref 3.x; `hatch run types:check` runs mypy --strict over it.

Not a test module: it proves that the asgiref.* names keep their static types through the
alias modules (whose star imports exist for type checkers only).
"""

from __future__ import annotations

import sys
from typing import Any

from asgiref.compatibility import guarantee_single_callable
from asgiref.server import StatelessServer
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, async_to_sync, sync_to_async
from asgiref.testing import ApplicationCommunicator
from asgiref.timeout import timeout
from asgiref.typing import (
    ASGI3Application,
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPRequestEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    LifespanShutdownFailedEvent,
    Scope,
    WebSocketAcceptEvent,
    WebSocketCloseEvent,
)
from asgiref.wsgi import WsgiToAsgi

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

# Keys the ASGI spec makes optional can be left out.
request: HTTPRequestEvent = {"type": "http.request"}
start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 204}
accept: WebSocketAcceptEvent = {"type": "websocket.accept"}
close: WebSocketCloseEvent = {"type": "websocket.close"}
failed: LifespanShutdownFailedEvent = {"type": "lifespan.shutdown.failed"}
scope: HTTPScope = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "path": "/",
    "headers": [],
}


async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    if scope["type"] == "http":
        event = await receive()
        if event["type"] == "http.request":
            assert_type(event, HTTPRequestEvent)
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"ok"})


application: ASGI3Application = app


def add(a: int, b: int) -> int:
    return a + b


async def double(text: str) -> str:
    return text * 2


async def uses_the_bridges() -> int:
    async with ThreadSensitiveContext():
        total = await sync_to_async(add)(1, 2)
    assert_type(total, int)
    handler: SyncToAsync[[int, int], int] = SyncToAsync(add, thread_sensitive=False)
    return total + await handler(3, 4)


def from_sync() -> str:
    return async_to_sync(double)("ab")


async def uses_the_communicator() -> dict[str, Any]:
    communicator = ApplicationCommunicator(guarantee_single_callable(app), scope)
    await communicator.send_input(request)
    message = await communicator.receive_output(timeout=1)
    assert await communicator.receive_nothing() in (True, False)
    await communicator.wait()
    communicator.stop(exceptions=False)
    return message


async def uses_the_timeout() -> bool:
    async with timeout(1.0) as limit:
        pass
    return limit.expired


def wraps_wsgi(wsgi_app: Any) -> WsgiToAsgi:
    return WsgiToAsgi(wsgi_app)


SERVER: type[StatelessServer] = StatelessServer
