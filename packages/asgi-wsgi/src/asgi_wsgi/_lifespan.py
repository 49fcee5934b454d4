"""The ASGI lifespan protocol of `AsgiToWsgi`, on the borrowed event loop (private)."""

from __future__ import annotations

import asyncio
import logging

from asgi_sync.typing import LifespanScope
from asgi_wsgi._types import ASGIApp, ReceiveEvent, SendEvent

logger = logging.getLogger("asgi_wsgi")


class _Lifespan:
    """Runs the application's `lifespan` scope on `loop`; `step` is called from other threads."""

    def __init__(self, app: ASGIApp, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._app = app
        self._loop = loop
        self._timeout = timeout
        self._queue: asyncio.Queue[ReceiveEvent] | None = None
        self._task: asyncio.Task[None] | None = None
        self._reply: asyncio.Future[SendEvent | None] | None = None

    def startup(self) -> None:
        """Send `lifespan.startup` and wait for the answer (blocking, not on the loop)."""
        self._step({"type": "lifespan.startup"}, "lifespan.startup")

    def shutdown(self) -> None:
        """Send `lifespan.shutdown` if the app is still in its lifespan (blocking)."""
        if self._task is not None and not self._task.done():
            self._step({"type": "lifespan.shutdown"}, "lifespan.shutdown")

    def _step(self, message: ReceiveEvent, kind: str) -> None:
        future = asyncio.run_coroutine_threadsafe(self._send(message, kind), self._loop)
        try:
            future.result(self._timeout)
        except Exception:
            logger.exception("ASGI %s did not complete", kind)

    async def _send(self, message: ReceiveEvent, kind: str) -> None:
        # On the loop.
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = self._loop.create_task(self._run(self._queue))
        self._reply = reply = self._loop.create_future()
        await self._queue.put(message)
        answer = await reply  # None: the application does not support lifespan
        if answer is not None and answer["type"] == f"{kind}.failed":
            logger.error("ASGI %s failed: %s", kind, answer.get("message", ""))

    async def _run(self, queue: asyncio.Queue[ReceiveEvent]) -> None:
        async def receive() -> ReceiveEvent:
            return await queue.get()

        async def send(message: SendEvent) -> None:
            if self._reply is not None and not self._reply.done():
                self._reply.set_result(message)

        scope: LifespanScope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": {},
        }
        try:
            await self._app(scope, receive, send)
        except BaseException as exc:
            logger.debug("ASGI application does not support lifespan: %r", exc)
        finally:
            if self._reply is not None and not self._reply.done():
                self._reply.set_result(None)
