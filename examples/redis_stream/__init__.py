"""A working StatelessServer: one ASGI application instance per sender of a Redis Stream.

Run it with `python -m examples.redis_stream --help`; see
docs/packages/asgi-stateless-server.md for the walk-through.
"""

from __future__ import annotations

__all__ = ("RedisStreamServer", "application")

from examples.redis_stream.app import application as application
from examples.redis_stream.server import RedisStreamServer as RedisStreamServer
