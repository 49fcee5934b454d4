"""`asgiref.server` is `asgi_stateless_server` (from asgi-stateless-server): the very same module object.

Importing this module replaces its own `sys.modules` entry with `asgi_stateless_server`, so every
name, private ones included, resolves there, and `mock.patch("asgiref.server.X")` patches
`asgi_stateless_server.X` for every caller. Type checkers see the star import below instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import asgi_stateless_server

if TYPE_CHECKING:
    from asgi_stateless_server import *  # noqa: F403
    from asgi_stateless_server import __all__ as __all__
else:
    sys.modules[__name__] = asgi_stateless_server

# asgiref-meta alias module
