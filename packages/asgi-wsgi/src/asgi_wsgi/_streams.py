"""The two streams between the event loop and a WSGI call's thread (private).

`_BodyStream` is `wsgi.input`: `receive()` feeds it on the loop, the WSGI app reads it on its
thread. `_Response` carries what the WSGI side produces (ASGI messages, context snapshots,
and the final `_Done`) to the loop, which drains it into `send()`. Both keep about `window`
bytes in flight: the faster side waits for the slower one.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections import deque
from collections.abc import Iterator
from typing import Union

from asgi_sync.threads import call_soon_coalesced
from asgi_wsgi._types import ClientDisconnected, Receive, SendEvent


def _set_result(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _BodyStream:
    """``wsgi.input`` fed by ``receive()`` on the event loop, read by the WSGI thread.

    The event loop side (``pump``) keeps at most about ``window`` bytes buffered; the worker's
    reads wake the pump again when the buffer drains.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, receive: Receive, first: bytes, window: int
    ) -> None:
        self._loop = loop
        self._receive = receive
        self._buffer = bytearray(first)
        self._window = window
        self._cond = threading.Condition(threading.Lock())
        self._eof = False
        self.disconnected = False
        self._paused: asyncio.Future[None] | None = None
        self._reader_waiting = False

    # --- event loop side -----------------------------------------------------------
    async def pump(self) -> None:
        """Receive the rest of the body on the event loop, pausing while the window is full."""
        try:
            while True:
                with self._cond:
                    if len(self._buffer) >= self._window and not self._reader_waiting:
                        paused: asyncio.Future[None] | None = self._loop.create_future()
                        self._paused = paused
                    else:
                        paused = None
                    if self.disconnected:
                        return
                if paused is not None:
                    await paused
                    continue
                message = await self._receive()
                with self._cond:
                    if message["type"] == "http.request":
                        self._buffer += message.get("body", b"")
                        if not message.get("more_body", False):
                            self._eof = True
                    else:
                        self.disconnected = True
                    self._cond.notify_all()
                    if self._eof or self.disconnected:
                        return
        finally:
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    def disconnect(self) -> None:
        """Mark the client gone (any thread); blocked reads raise `ClientDisconnected`."""
        with self._cond:
            self.disconnected = True
            self._cond.notify_all()
            paused, self._paused = self._paused, None
        if paused is not None:
            call_soon_coalesced(self._loop, _set_result, paused)

    # --- WSGI thread side -----------------------------------------------------------------
    def _wait_for(self, enough: int) -> None:
        # Called with the lock held: block until `enough` bytes, EOF or disconnect.
        while len(self._buffer) < enough and not self._eof:
            if self.disconnected:
                break
            self._reader_waiting = True
            self._resume(force=True)
            self._cond.wait()
            self._reader_waiting = False
        if self.disconnected and len(self._buffer) < enough:
            raise ClientDisconnected("the client disconnected while the request body was read")

    def _resume(self, force: bool = False) -> None:
        paused = self._paused
        if paused is not None and (force or len(self._buffer) < self._window):
            self._paused = None
            call_soon_coalesced(self._loop, _set_result, paused)

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._resume()
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes (all remaining bytes when negative or None)."""
        with self._cond:
            if size is None or size < 0:
                self._wait_for(sys.maxsize)
                return self._take(len(self._buffer))
            self._wait_for(size)
            return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        """Read one line, up to ``size`` bytes when given."""
        limit = sys.maxsize if size is None or size < 0 else size
        with self._cond:
            while True:
                end = self._buffer.find(b"\n", 0, limit)
                if end >= 0:
                    return self._take(end + 1)
                if len(self._buffer) >= limit or self._eof:
                    return self._take(limit)
                self._wait_for(len(self._buffer) + 1)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """Read lines until EOF, or until about ``hint`` bytes were read."""
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class _Done:
    """The last item of a response: the WSGI side finished (its thread is free again).

    Attributes:
        error: What the WSGI side raised (the application, its iterable or `close()`), or
            `None` when it finished normally.
        context: A snapshot of the WSGI side's context at the end, to copy back.
    """

    __slots__ = ("context", "error")

    def __init__(self, error: BaseException | None, context: contextvars.Context) -> None:
        self.error = error
        self.context = context


# What the WSGI thread queues for the loop: a message for send(), the WSGI side's context as
# it was when the messages after it were produced, or the end.
_Item = Union[SendEvent, contextvars.Context, _Done]


class _Response:
    """Items produced by the WSGI thread, drained by the event loop with a bounded window."""

    def __init__(self, loop: asyncio.AbstractEventLoop, window: int) -> None:
        self._loop = loop
        self._window = window
        self._lock = threading.Lock()
        self._items: deque[_Item] = deque()
        self._pending = 0
        self._waiter: asyncio.Future[None] | None = None
        self._space: threading.Event | None = None  # created only when the worker must wait
        self.disconnected = False

    # --- WSGI thread side ----------------------------------------------------------------
    def push(self, *items: _Item, size: int = 0) -> None:
        """Queue items for the loop; block while more than the window is unsent."""
        lock = self._lock
        lock.acquire()  # acquire/release: half the cost of `with` on the per-request path
        try:
            if self.disconnected:
                raise ClientDisconnected("the client disconnected while the response was sent")
            self._items.extend(items)
            self._pending += size
            waiter, self._waiter = self._waiter, None
            space = None
            if self._pending > self._window:
                space = self._space = threading.Event()
        finally:
            lock.release()
        if waiter is not None:
            call_soon_coalesced(self._loop, _set_result, waiter)
        if space is not None:
            space.wait()
            if self.disconnected:
                raise ClientDisconnected("the client disconnected while the response was sent")

    def finish(self, *items: _Item, size: int = 0) -> None:
        """Queue the last items (ending with a `_Done`); never blocks or raises."""
        lock = self._lock
        lock.acquire()
        try:
            self._items.extend(items)
            self._pending += size
            waiter, self._waiter = self._waiter, None
        finally:
            lock.release()
        if waiter is not None:
            call_soon_coalesced(self._loop, _set_result, waiter)

    # --- event loop side -----------------------------------------------------------------
    def take(self) -> list[_Item] | asyncio.Future[None]:
        """Return the queued items, or a future to await when there are none."""
        lock = self._lock
        lock.acquire()
        try:
            if self._items:
                items = list(self._items)
                self._items.clear()
                return items
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiter = waiter
            return waiter
        finally:
            lock.release()

    def sent(self, size: int) -> None:
        """Count `size` body bytes as delivered to `send()`; wake a waiting WSGI thread."""
        lock = self._lock
        lock.acquire()
        try:
            self._pending -= size
            space = self._space
            if space is not None and self._pending <= self._window:
                self._space = None
                space.set()
        finally:
            lock.release()

    def disconnect(self) -> None:
        """Mark the client gone; the WSGI thread's next push raises `ClientDisconnected`."""
        with self._lock:
            self.disconnected = True
            space, self._space = self._space, None
        if space is not None:
            space.set()
