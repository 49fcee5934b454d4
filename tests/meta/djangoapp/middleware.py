"""A sync-only middleware: Django runs it through sync_to_async under the ASGI handler."""

from __future__ import annotations

import threading
from typing import Any, Callable


class ThreadRecordingMiddleware:
    """Record the thread the middleware ran on; report it in a response header."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        request.middleware_thread = threading.get_ident()
        response = self.get_response(request)
        response["X-Middleware-Thread"] = str(request.middleware_thread)
        return response
