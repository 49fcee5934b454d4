"""`asgiref.compatibility` is `asgi_sync.compatibility` (from asgi-sync): the very same module object.

Importing this module replaces its own `sys.modules` entry with `asgi_sync.compatibility`, so every
name, private ones included, resolves there, and `mock.patch("asgiref.compatibility.X")` patches
`asgi_sync.compatibility.X` for every caller. Type checkers see the star import below instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import asgi_sync.compatibility

if TYPE_CHECKING:
    from asgi_sync.compatibility import *  # noqa: F403
    from asgi_sync.compatibility import __all__ as __all__
else:
    sys.modules[__name__] = asgi_sync.compatibility

# asgiref-meta alias module
