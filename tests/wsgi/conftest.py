"""Helpers for the WSGI adapter tests: fake ASGI receive/send and small WSGI apps."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

from asgi_sync.typing import ASGIReceiveEvent, ASGISendEvent, HTTPScope


def http_scope(**overrides: Any) -> HTTPScope:
    """An ASGI ``http`` scope for ``GET /``, with `overrides` replacing or adding keys.

    The overrides are not checked against [HTTPScope][asgi_sync.typing.HTTPScope]: tests use
    them to pass values a server could send but the TypedDict does not describe.
    """
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("testserver", 8000),
        "client": ("127.0.0.1", 5555),
    }
    scope.update(overrides)
    return cast(HTTPScope, scope)


class FakeClient:
    """Feeds request messages to receive() and records what send() got."""

    def __init__(self, bodies: Iterable[bytes] = (b"",)) -> None:
        self.incoming: asyncio.Queue[ASGIReceiveEvent] = asyncio.Queue()
        chunks = list(bodies)
        for index, chunk in enumerate(chunks):
            self.incoming.put_nowait(
                {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            )
        self.sent: list[dict[str, Any]] = []
        self.sent_event = asyncio.Event()

    async def receive(self) -> ASGIReceiveEvent:
        return await self.incoming.get()

    async def send(self, message: ASGISendEvent) -> None:
        self.sent.append(dict(message))
        self.sent_event.set()

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.sent[0]["headers"]:
            if key == name:
                return bytes(value)
        return None
