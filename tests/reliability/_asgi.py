"""A scripted ASGI client for driving the WSGI adapter without a server."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

Message = dict[str, Any]


def http_scope(**overrides: Any) -> dict[str, Any]:
    """Build a valid HTTP scope; ``overrides`` replace or add keys."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 12345),
        "server": ("127.0.0.1", 8000),
    }
    scope.update(overrides)
    return scope


def body_messages(body: bytes, chunks: int = 1) -> list[Message]:
    """Split ``body`` into ``chunks`` ``http.request`` messages."""
    if chunks <= 1 or len(body) == 0:
        return [{"type": "http.request", "body": body, "more_body": False}]
    size = -(-len(body) // chunks)
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    messages: list[Message] = [
        {"type": "http.request", "body": part, "more_body": True} for part in parts
    ]
    messages[-1]["more_body"] = False
    return messages


class Client:
    """Feed scripted messages to an ASGI app, then wait like a well-behaved HTTP client.

    Once the script is used up, ``receive()`` blocks until the response is complete and
    then reports ``http.disconnect`` (``then_disconnect``), or blocks for good.
    """

    def __init__(self, messages: Sequence[Message], then_disconnect: bool = True) -> None:
        self.incoming = list(messages)
        self.then_disconnect = then_disconnect
        self.sent: list[Message] = []
        self.events = 0
        self.checkpoint: int | None = None
        # Created on first use, inside the loop (Python 3.9 binds an Event to a loop).
        self._reached: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None

    @property
    def reached(self) -> asyncio.Event:
        """Set once ``checkpoint`` receive/send events have happened."""
        if self._reached is None:
            self._reached = asyncio.Event()
        return self._reached

    @property
    def finished(self) -> asyncio.Event:
        """Set once the final response body message was sent."""
        if self._finished is None:
            self._finished = asyncio.Event()
        return self._finished

    def _tick(self) -> None:
        self.events += 1
        if self.checkpoint is not None and self.events >= self.checkpoint:
            self.reached.set()

    async def receive(self) -> Message:
        self._tick()
        await asyncio.sleep(0)
        if self.incoming:
            return self.incoming.pop(0)
        if self.then_disconnect:
            await self.finished.wait()
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(self, message: Message) -> None:
        self._tick()
        self.sent.append(message)
        if message.get("type") == "http.response.body" and not message.get("more_body"):
            self.finished.set()
        await asyncio.sleep(0)

    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return starts[0]["status"] if starts else None

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    def assert_well_formed(self) -> None:
        """Every message sent is a valid HTTP response message, in a valid order."""
        kinds = [m["type"] for m in self.sent]
        if not kinds:
            return
        assert kinds[0] == "http.response.start", kinds
        assert kinds.count("http.response.start") == 1, kinds
        start = self.sent[0]
        assert isinstance(start["status"], int)
        assert 100 <= start["status"] <= 599
        for name, value in start.get("headers", []):
            assert isinstance(name, bytes), name
            assert isinstance(value, bytes), value
        for message in self.sent[1:]:
            assert message["type"] == "http.response.body", kinds
            assert isinstance(message.get("body", b""), bytes), message
        finals = [m for m in self.sent[1:] if not m.get("more_body", False)]
        assert len(finals) <= 1, "body continued after the final body message"
        if finals:
            assert finals[0] is self.sent[-1]


async def request(app: Any, scope: dict[str, Any], client: Client, timeout: float = 5) -> None:
    """Run one request to completion (raising what the app raised) within ``timeout``."""
    await asyncio.wait_for(app(scope, client.receive, client.send), timeout)
