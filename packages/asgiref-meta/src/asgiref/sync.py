"""`asgiref.sync` is `asgi_sync` (from asgi-sync): the very same module object.

Importing this module replaces its own `sys.modules` entry with `asgi_sync`, so every
name, private ones included, resolves there, and `mock.patch("asgiref.sync.X")` patches
`asgi_sync.X` for every caller. Type checkers see the star import below instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import asgi_sync

if TYPE_CHECKING:
    from asgi_sync import *  # noqa: F403
    from asgi_sync import __all__ as __all__
else:
    sys.modules[__name__] = asgi_sync

# asgiref-meta alias module
