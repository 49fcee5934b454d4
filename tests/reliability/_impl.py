"""The implementation under test, and which of its threads count as long-lived.

While it was written, this suite was also run against the real asgiref 3.13.0 through a
switch here (see docs/reliability.md for what asgiref fails); it now targets the ``asgi_*``
packages only.
"""

from __future__ import annotations

import threading
from typing import Any

from asgi_local import Local as Local
from asgi_stateless_server import StatelessServer as StatelessServer
from asgi_sync import AsyncSingleThreadContext as AsyncSingleThreadContext
from asgi_sync import SyncToAsync as SyncToAsync
from asgi_sync import ThreadSensitiveContext as ThreadSensitiveContext
from asgi_sync import async_to_sync as async_to_sync
from asgi_sync import sync_to_async as sync_to_async
from asgi_wsgi import WsgiToAsgi as WsgiToAsgi

# Threads the packages document as long-lived: asgi_sync's thread-sensitive worker and its
# capped pools of idle workers and loop threads ("asgi_sync-..."), and asgi_wsgi's
# worker pools ("asgi-wsgi_N": one shared, plus one per adapter given max_workers).
LONG_LIVED_PREFIXES: tuple[str, ...] = ("asgi_sync-", "asgi-wsgi")


def is_long_lived(thread: threading.Thread) -> bool:
    """Tell whether ``thread`` is one of the documented long-lived pooled workers."""
    return thread.name.startswith(LONG_LIVED_PREFIXES)


def make_wsgi(app: Any, max_workers: int = 2) -> Any:
    """Wrap ``app`` with a small private worker pool, so that one stuck worker shows."""
    return WsgiToAsgi(app, max_workers=max_workers)
