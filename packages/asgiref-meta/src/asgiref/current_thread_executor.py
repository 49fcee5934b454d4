"""`asgiref.current_thread_executor` is `asgi_sync.current_thread_executor` (from asgi-sync): the very same module object.

Importing this module replaces its own `sys.modules` entry with `asgi_sync.current_thread_executor`, so every
name, private ones included, resolves there, and `mock.patch("asgiref.current_thread_executor.X")` patches
`asgi_sync.current_thread_executor.X` for every caller. Type checkers see the star import below instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import asgi_sync.current_thread_executor

if TYPE_CHECKING:
    from asgi_sync.current_thread_executor import *  # noqa: F403
    from asgi_sync.current_thread_executor import __all__ as __all__
else:
    sys.modules[__name__] = asgi_sync.current_thread_executor

# asgiref-meta alias module
