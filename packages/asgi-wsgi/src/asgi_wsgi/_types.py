"""Type aliases shared by the two adapters (private)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, MutableMapping
from typing import Any, Callable, Dict

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Environ = Dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class ClientDisconnected(OSError):
    """The HTTP client went away while the application was still reading or writing.

    Raised inside the WSGI application (on the worker thread) by `wsgi.input` reads and by the
    `write()` callable once the ASGI server has reported `http.disconnect`.
    """
