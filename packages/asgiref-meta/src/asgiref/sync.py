"""Alias module: importing `asgiref.sync` gives `asgi_sync` itself.

The import replaces this module's own `sys.modules` entry with the target module, so
every name, private ones included, resolves there, and a `mock.patch` through the asgiref
name patches the target for every caller. Type checkers see the star import instead.
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
