"""The implementation under test, and what counts as a long-lived thread.

During development the suite was validated against the real asgiref 3.13.0 by setting
``ASGI_RELIABILITY_REF=asgiref``; the committed default targets the ``asgi_*`` packages.
"""

from __future__ import annotations

import os
import threading
from typing import Any

if os.environ.get("ASGI_RELIABILITY_REF") == "asgiref":  # pragma: no cover
    from asgiref.local import Local as Local
    from asgiref.server import StatelessServer as StatelessServer
    from asgiref.sync import AsyncSingleThreadContext as AsyncSingleThreadContext
    from asgiref.sync import SyncToAsync as SyncToAsync
    from asgiref.sync import ThreadSensitiveContext as ThreadSensitiveContext
    from asgiref.sync import async_to_sync as async_to_sync
    from asgiref.sync import sync_to_async as sync_to_async
    from asgiref.wsgi import WsgiToAsgi as WsgiToAsgi

    REFERENCE = True

    def make_wsgi(app: Any, max_workers: int = 2) -> Any:
        """Wrap ``app``; asgiref has no worker-pool setting."""
        return WsgiToAsgi(app)

    def is_long_lived(thread: threading.Thread) -> bool:
        """Tell whether ``thread`` is asgiref's process-wide thread-sensitive worker."""
        executor = SyncToAsync.single_thread_executor
        return thread in getattr(executor, "_threads", ())

else:
    from asgi_local import Local as Local
    from asgi_stateless_server import StatelessServer as StatelessServer
    from asgi_sync import AsyncSingleThreadContext as AsyncSingleThreadContext
    from asgi_sync import SyncToAsync as SyncToAsync
    from asgi_sync import ThreadSensitiveContext as ThreadSensitiveContext
    from asgi_sync import async_to_sync as async_to_sync
    from asgi_sync import sync_to_async as sync_to_async
    from asgi_wsgi import WsgiToAsgi as WsgiToAsgi

    REFERENCE = False

    def make_wsgi(app: Any, max_workers: int = 2) -> Any:
        """Wrap ``app`` with a small private worker pool, so a stuck worker shows."""
        return WsgiToAsgi(app, max_workers=max_workers)

    # Threads the packages document as long-lived and shared by the whole process.
    LONG_LIVED_PREFIXES: tuple[str, ...] = ()

    def is_long_lived(thread: threading.Thread) -> bool:
        """Tell whether ``thread`` is one of the documented process-wide workers."""
        return thread.name.startswith(LONG_LIVED_PREFIXES)
