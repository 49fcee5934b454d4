"""`asgiref.local` is `asgi_local` (from asgi-local): the very same module object.

Importing this module replaces its own `sys.modules` entry with `asgi_local`, so every
name, private ones included, resolves there, and `mock.patch("asgiref.local.X")` patches
`asgi_local.X` for every caller. Type checkers see the star import below instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import asgi_local

if TYPE_CHECKING:
    from asgi_local import *  # noqa: F403
    from asgi_local import __all__ as __all__
else:
    sys.modules[__name__] = asgi_local

# asgiref-meta alias module
