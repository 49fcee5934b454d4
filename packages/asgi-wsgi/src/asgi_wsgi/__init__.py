"""asgi_wsgi: part of the asgi-* packages."""

from asgi_wsgi.__about__ import __version__ as __version__

__all__ = ("__version__",)
