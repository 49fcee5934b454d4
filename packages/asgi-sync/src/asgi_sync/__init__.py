"""asgi_sync: part of the asgi-* packages."""

from asgi_sync.__about__ import __version__ as __version__

__all__ = ("__version__",)
