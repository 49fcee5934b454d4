"""Alias module: importing `asgiref.server` gives `asgi_stateless_server` itself.

The import replaces this module's own `sys.modules` entry with the target module, so
every name, private ones included, resolves there, and a `mock.patch` through the asgiref
name patches the target for every caller. Type checkers see the star import instead.
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
