"""asgi_stateless_server: part of the asgi-* packages."""

from asgi_stateless_server.__about__ import __version__ as __version__

__all__ = ("__version__",)
