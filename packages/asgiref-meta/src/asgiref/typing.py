"""Alias module: importing `asgiref.typing` gives `asgi_sync.typing` itself.

The ASGI scope and event types live in asgi-sync, the dependency every asgi-* package shares,
so the adapters, the stateless server and `asgiref.typing` use one set of types. The import
replaces this module's own `sys.modules` entry with the target module; type checkers see the
star import instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import asgi_sync.typing

if TYPE_CHECKING:
    from asgi_sync.typing import *  # noqa: F403
    from asgi_sync.typing import __all__ as __all__
else:
    sys.modules[__name__] = asgi_sync.typing
