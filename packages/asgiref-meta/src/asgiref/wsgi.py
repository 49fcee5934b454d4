"""`asgiref.wsgi` is `asgi_wsgi` (from asgi-wsgi): the very same module object.

Importing this module replaces its own `sys.modules` entry with `asgi_wsgi`, so every
name, private ones included, resolves there, and `mock.patch("asgiref.wsgi.X")` patches
`asgi_wsgi.X` for every caller. Type checkers see the star import below instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import asgi_wsgi

if TYPE_CHECKING:
    from asgi_wsgi import *  # noqa: F403
    from asgi_wsgi import __all__ as __all__
else:
    sys.modules[__name__] = asgi_wsgi

# asgiref-meta alias module
