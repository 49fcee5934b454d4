"""A StatelessServer that consumes a Redis Stream through a consumer group.

Each stream entry carries a `sender` and a `body`. The server keeps one ASGI
application instance per sender, hands it the entry as a `stream.message` event, and
when the instance sends back a `stream.reply` naming that entry, writes the reply to
the reply stream and acknowledges the entry, both in one MULTI/EXEC transaction.

Nothing is acknowledged before the application has answered it, so nothing is lost if
the process dies: the entry stays in the consumer group's pending entries list (PEL).
On start the server first re-reads its own PEL (`XREADGROUP ... 0`), and while running it
periodically takes over entries that have been pending too long with `XAUTOCLAIM`
(those of a dead consumer, or its own whose instance failed). Delivery is therefore at
least once: a message whose reply was written is never answered again, but a message
may be handed to the application again after a crash or an application error.

Instances are only evicted when idle (no entry in flight), so making room for a new
sender never throws away a message an instance was working on: when every slot is busy,
reading waits until one frees up.
"""

from __future__ import annotations

__all__ = ("RedisStreamServer",)

import asyncio
import contextlib
import logging
import time
from collections.abc import Hashable
from typing import Any, Dict, List, Optional, Tuple, cast

import redis.asyncio as redis
from redis.exceptions import ResponseError

from asgi_stateless_server import StatelessServer

logger = logging.getLogger("examples.redis_stream")

Entry = Tuple[str, Optional[Dict[str, str]]]


def _entries(response: Any) -> List[Entry]:
    """The entries of a one-stream `XREADGROUP` reply, in RESP2 (list) or RESP3 (dict) form."""
    if not response:
        return []
    if isinstance(response, dict):
        return cast(List[Entry], next(iter(response.values()))[0])
    return cast(List[Entry], response[0][1])


class RedisStreamServer(StatelessServer):
    """Serve a Redis Stream with one application instance per sender.

    Everything runs on the loop running `arun()`; `client` must belong to that loop and
    should decode responses (`decode_responses=True`).

    Args:
        application: The ASGI application (ASGI 2 or 3).
        client: A `redis.asyncio.Redis` client with `decode_responses=True`.
        stream: The stream to consume.
        group: The consumer group (created, with the stream, if missing).
        consumer: This process's consumer name; reuse it after a restart to resume.
        reply_stream: Where replies are written.
        max_applications: The most instances alive at once.
        batch: The most entries read per `XREADGROUP`/`XAUTOCLAIM` call.
        block_ms: How long one `XREADGROUP` waits for new entries.
        claim_idle_ms: How long an entry must have been pending before it is reclaimed.
    """

    def __init__(
        self,
        application: Any,
        client: redis.Redis,
        *,
        stream: str = "inbox",
        group: str = "asgi",
        consumer: str = "consumer-1",
        reply_stream: str = "replies",
        max_applications: int = 1000,
        batch: int = 100,
        block_ms: int = 100,
        claim_idle_ms: int = 30_000,
    ) -> None:
        super().__init__(application, max_applications)
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.reply_stream = reply_stream
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        # Entry id -> sender, for entries handed to an instance and not yet answered.
        self.in_flight: Dict[str, str] = {}
        self._busy: Dict[str, int] = {}
        self._progress = asyncio.Event()
        # Replies waiting to be written: (reply fields, entry id, the sender's waiter).
        self._outbox: asyncio.Queue[Tuple[Dict[str, str], str, asyncio.Future[None]]]
        self._outbox = asyncio.Queue()
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask the server to stop reading; `arun()` returns within about `block_ms`.

        Call it on the server's loop. Entries handed to instances but not answered yet
        stay pending, to be picked up by the next run. Cancelling `arun()` stops the
        server too, but a cancellation that lands inside a Redis command can be delayed
        by the client library; `stop()` never depends on that.
        """
        self._stop.set()

    # --- reading --------------------------------------------------------------------

    async def handle(self) -> None:
        """Create the group, recover this consumer's pending entries, then serve.

        Also runs the reply writer as a task of its own until this returns.
        """
        writer = asyncio.ensure_future(self._write_replies())
        try:
            await self._serve()
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _serve(self) -> None:
        try:
            await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        await self._recover_own_pending()
        self.ready.set()
        next_claim = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() >= next_claim:
                await self._claim_stale()
                next_claim = time.monotonic() + self.claim_idle_ms / 2000
            response = await self.client.xreadgroup(
                self.group,
                self.consumer,
                {self.stream: ">"},
                count=self.batch,
                block=self.block_ms,
            )
            await self._dispatch_all(_entries(response))

    async def _recover_own_pending(self) -> None:
        # Reading from id 0 returns this consumer's PEL, oldest first, without blocking.
        last_id = "0"
        while True:
            response = await self.client.xreadgroup(
                self.group, self.consumer, {self.stream: last_id}, count=self.batch
            )
            entries = _entries(response)
            if not entries:
                return
            await self._dispatch_all(entries)
            last_id = entries[-1][0]

    async def _claim_stale(self) -> None:
        start = "0-0"
        while True:
            result = await self.client.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id=start,
                count=self.batch,
            )
            start = str(result[0])
            await self._dispatch_all(cast(List[Entry], result[1]))
            if start == "0-0":
                return

    async def _dispatch_all(self, entries: List[Entry]) -> None:
        for entry_id, fields in entries:
            await self._dispatch(entry_id, fields)

    async def _dispatch(self, entry_id: str, fields: Dict[str, str] | None) -> None:
        if entry_id in self.in_flight:
            return  # Already being handled here; a reclaim only reset its idle time.
        if not fields or "sender" not in fields or "body" not in fields:
            # Deleted from the stream, or not something this server understands: there
            # is nobody to answer, so acknowledge it rather than retry it for ever.
            logger.warning("Dropping entry %s without sender and body: %r", entry_id, fields)
            await self.client.xack(self.stream, self.group, entry_id)
            return
        sender = fields["sender"]
        await self._make_room(sender)
        scope = {"type": "stream", "sender": sender, "stream": self.stream}
        queue = self.get_or_create_application_instance(sender, scope)
        self.in_flight[entry_id] = sender
        self._busy[sender] = self._busy.get(sender, 0) + 1
        queue.put_nowait({"type": "stream.message", "id": entry_id, "body": fields["body"]})

    async def _make_room(self, sender: str) -> None:
        """Wait until `sender` has an instance or one can be created without loss."""
        while True:
            details = self.application_instances.get(sender)
            if details is not None and not details["future"].done():
                return
            if len(self.application_instances) < self.max_applications:
                return
            # Least recently used first; only instances with nothing in flight qualify.
            for scope_id, other in self.application_instances.items():
                if other["future"].done() or not self._busy.get(str(scope_id)):
                    self.delete_application_instance(scope_id)
                    return
            self._progress.clear()
            await self._progress.wait()

    def delete_application_instance(self, scope_id: Hashable) -> None:
        """Remove an instance; its unanswered entries stay pending, to be reclaimed."""
        super().delete_application_instance(scope_id)
        if self._busy.pop(str(scope_id), 0):
            for entry_id in [e for e, s in self.in_flight.items() if s == scope_id]:
                del self.in_flight[entry_id]
        self._progress.set()

    # --- replying -------------------------------------------------------------------

    async def application_send(self, scope: Dict[str, Any], message: Dict[str, Any]) -> None:
        """Write a `stream.reply` to the reply stream and acknowledge its entry at once."""
        if message.get("type") != "stream.reply":
            text = (
                f"unexpected message type {message.get('type')!r} from the application for "
                f"sender {scope['sender']!r}; it may only send 'stream.reply'"
            )
            raise ValueError(text)
        entry_id = message["id"]
        reply = {
            "sender": scope["sender"],
            "in_reply_to": entry_id,
            "body": message["body"],
            "seen": str(message.get("seen", "")),
        }
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait((reply, entry_id, written))
        await written
        sender = self.in_flight.pop(entry_id, None)
        if sender is not None:
            self._busy[sender] -= 1
            self._progress.set()

    async def _write_replies(self) -> None:
        """Write queued replies in batches: each batch's XADDs and XACKs in one MULTI."""
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty() and len(batch) < 10 * self.batch:
                batch.append(self._outbox.get_nowait())
            try:
                async with self.client.pipeline(transaction=True) as pipe:
                    for reply, entry_id, _ in batch:
                        pipe.xadd(self.reply_stream, reply)  # type: ignore[arg-type]
                        pipe.xack(self.stream, self.group, entry_id)
                    await pipe.execute()
            except Exception as error:  # handed to each waiting sender
                for _, _, written in batch:
                    if not written.done():
                        written.set_exception(error)
            else:
                for _, _, written in batch:
                    if not written.done():
                        written.set_result(None)
