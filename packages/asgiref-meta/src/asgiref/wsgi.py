"""Alias module: importing `asgiref.wsgi` gives `asgi_wsgi` itself.

The import replaces this module's own `sys.modules` entry with the target module, so
every name, private ones included, resolves there, and a `mock.patch` through the asgiref
name patches the target for every caller. Type checkers see the star import instead.
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
