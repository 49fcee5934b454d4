"""The asgiref namespace, backed by the asgi-* packages."""

from asgiref.__about__ import __version__ as __version__

__all__ = ("__version__",)
