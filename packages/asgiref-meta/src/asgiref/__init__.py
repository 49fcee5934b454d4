"""The asgiref namespace, backed by the asgi-* packages (asgiref-meta).

`asgiref.sync`, `asgiref.local`, `asgiref.server`, `asgiref.wsgi`, `asgiref.compatibility`,
`asgiref.current_thread_executor` and `asgiref.typing` are the very module objects of the
asgi-* packages; `asgiref.testing` and `asgiref.timeout` live here. `__version__` is the
asgiref API level this namespace mirrors.

Importing this package checks that the real asgiref distribution is not installed into the
same directory (their files overwrite each other) and raises `ImportError` naming what it
found and how to fix it.
"""

from __future__ import annotations

from asgiref.__about__ import __version__ as __version__
from asgiref._install_check import check_not_mixed as _check_not_mixed

__all__ = ("__version__",)

_check_not_mixed()
