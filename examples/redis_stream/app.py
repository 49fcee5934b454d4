"""The ASGI application the Redis Stream example serves: one instance per sender.

Each instance lives as long as its sender keeps talking (or until the server needs its
slot), so it can keep per-sender state; here it counts what it has seen. It answers every
`stream.message` with one `stream.reply` naming the entry it answers, which is what lets
the server acknowledge that entry only once the reply is safely written.
"""

from __future__ import annotations

__all__ = ("application",)

from typing import Any, Awaitable, Callable, Dict

Message = Dict[str, Any]


async def application(
    scope: Dict[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Reply to each message of one sender with its body upper-cased.

    Runs as a task on the server's event loop, one per sender id (`scope["sender"]`).
    """
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "stream.message":
            continue
        seen += 1
        await send(
            {
                "type": "stream.reply",
                "id": message["id"],
                "body": message["body"].upper(),
                "seen": seen,
            }
        )
