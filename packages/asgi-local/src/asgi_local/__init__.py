"""asgi_local: part of the asgi-* packages."""

from asgi_local.__about__ import __version__ as __version__

__all__ = ("__version__",)
