"""Command line: serve a Redis Stream until Ctrl-C.

python -m examples.redis_stream --url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

__all__ = ("main",)

import argparse
import asyncio
import logging
from typing import Sequence

import redis.asyncio as redis

from examples.redis_stream.app import application
from examples.redis_stream.server import RedisStreamServer


async def serve(arguments: argparse.Namespace) -> None:
    """Connect, then run the server on this loop until cancelled."""
    client = redis.Redis.from_url(arguments.url, decode_responses=True)
    try:
        server = RedisStreamServer(
            application,
            client,
            stream=arguments.stream,
            group=arguments.group,
            consumer=arguments.consumer,
            reply_stream=arguments.reply_stream,
            max_applications=arguments.max_applications,
        )
        await server.arun()
    finally:
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m examples.redis_stream")
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--stream", default="inbox")
    parser.add_argument("--group", default="asgi")
    parser.add_argument("--consumer", default="consumer-1")
    parser.add_argument("--reply-stream", default="replies")
    parser.add_argument("--max-applications", type=int, default=1000)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        asyncio.run(serve(arguments))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
