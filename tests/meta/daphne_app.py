"""An ASGI 2 (double-callable) application for the Daphne CLI test."""

from __future__ import annotations

from typing import Any, Callable


class Application:
    """Answer every HTTP request with the path; ASGI 2 style, so Daphne must convert it."""

    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        if self.scope["type"] != "http":
            return
        await receive()
        body = f"daphne says {self.scope['path']}".encode()
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
