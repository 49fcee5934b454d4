"""Type aliases shared by the two adapters (private).

The ASGI types are asgi-sync's (`asgi_sync.typing`, also `asgiref.typing`): one set for every
asgi-* package.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, Dict

from asgi_sync.typing import (
    ASGI3Application,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    HTTPScope,
    Scope,
)

__all__ = (
    "ASGIApp",
    "ClientDisconnected",
    "Environ",
    "HTTPScope",
    "Receive",
    "ReceiveEvent",
    "Scope",
    "Send",
    "SendEvent",
    "StartResponse",
    "WSGIApp",
)

Receive = ASGIReceiveCallable
Send = ASGISendCallable
ReceiveEvent = ASGIReceiveEvent
SendEvent = ASGISendEvent
ASGIApp = ASGI3Application

Environ = Dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class ClientDisconnected(OSError):
    """The HTTP client went away while the application was still reading or writing.

    Raised inside the WSGI application (on the worker thread) by `wsgi.input` reads and by the
    `write()` callable once the ASGI server has reported `http.disconnect`.
    """
