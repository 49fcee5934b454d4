"""A Redis Stream server process for the crash test: it never answers sender "bob".

Run as `python -m tests.server.redis_worker URL CONSUMER`; prints "ready" once it serves.
The test kills it with SIGKILL while bob's entries are in flight.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Awaitable, Callable, Dict

import redis.asyncio as redis

from examples.redis_stream import RedisStreamServer, application

Message = Dict[str, Any]


async def never_answers_bob(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["sender"] == "bob":
        await asyncio.Event().wait()
    await application(scope, receive, send)


async def main(url: str, consumer: str) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    server = RedisStreamServer(never_answers_bob, client, consumer=consumer)
    task = asyncio.ensure_future(server.arun())
    await server.ready.wait()
    print("ready", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
