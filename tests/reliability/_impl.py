"""The implementation under test, and which of its threads count as long-lived.

The suite imports the packages' public names from here only. The limits on long-lived
threads are read from the packages' own constants, so they follow the code.
"""

from __future__ import annotations

import threading
from typing import Any

from asgi_local import Local as Local
from asgi_stateless_server import StatelessServer as StatelessServer
from asgi_sync import AsyncSingleThreadContext as AsyncSingleThreadContext
from asgi_sync import SyncToAsync as SyncToAsync
from asgi_sync import ThreadSensitiveContext as ThreadSensitiveContext
from asgi_sync import _threads as _sync_threads
from asgi_sync import async_to_sync as async_to_sync
from asgi_sync import sync_to_async as sync_to_async
from asgi_wsgi import WsgiToAsgi as WsgiToAsgi

# Threads the packages document as long-lived, by name: asgi_sync's ("asgi_sync-..."): the
# process-wide thread-sensitive worker, and its pools of idle workers ("asgi_sync-worker-N")
# and event-loop threads ("asgi_sync-loop-N"), which exit after an idle timeout. asgi_wsgi
# has no threads of its own: its requests run on asgi_sync's pooled workers.
LONG_LIVED_PREFIXES: tuple[str, ...] = ("asgi_sync-",)

# How many of them may exist at once when nothing runs: asgi_sync keeps at most
# _IDLE_POOL_LIMIT idle threads in each of its three pools (workers, loop threads, lent-out
# loop runners) plus the thread-sensitive worker; asgi_wsgi's requests use the worker pool.
SYNC_LONG_LIVED_LIMIT: int = 3 * _sync_threads._IDLE_POOL_LIMIT + 1
LONG_LIVED_LIMIT: int = SYNC_LONG_LIVED_LIMIT


def is_long_lived(thread: threading.Thread) -> bool:
    """Tell whether ``thread`` is one of the documented long-lived pooled workers."""
    return thread.name.startswith(LONG_LIVED_PREFIXES)


def make_wsgi(app: Any, max_workers: int = 2) -> Any:
    """Wrap ``app`` with a small private worker pool, so that one stuck worker shows."""
    return WsgiToAsgi(app, max_workers=max_workers)
