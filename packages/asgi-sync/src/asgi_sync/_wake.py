"""Wake an event loop from other threads, one wake-up for many callbacks (private).

`loop.call_soon_threadsafe` writes a byte to the loop's self-pipe on every call. Under load
the loop is awake anyway, and each write is a system call that releases the GIL on the
worker thread, so every completion costs an extra GIL hand-off between threads. A
`_LoopWaker` instead queues callbacks in a list and schedules one drain of that list; calls
made while a drain is pending only append to it. Measured on the 13-byte WSGI GET under
uvicorn with 16 connections: self-pipe writes per request 1.0 -> 0.12, futex calls 15 -> 8.5.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import weakref
from typing import Any, Callable, Tuple

__all__ = ("_LoopWaker", "_waker_for")

_Callback = Tuple[Callable[..., object], Tuple[Any, ...]]


class _LoopWaker:
    """Schedule callbacks on one event loop from any thread, coalescing the wake-ups.

    Callbacks run in the order they were scheduled, in an empty context. Like
    `loop.call_soon_threadsafe`, `call_soon` raises `RuntimeError` once the loop is closed.
    """

    __slots__ = ("_lock", "_pending")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Callbacks waiting for the drain already scheduled; None when none is scheduled.
        self._pending: list[_Callback] | None = None

    def call_soon(
        self, loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any
    ) -> None:
        """Run `callback(*args)` on `loop`'s thread soon; any thread may call this."""
        lock = self._lock
        lock.acquire()  # not `with`: half the cost, and this runs once per completion
        pending = self._pending
        if pending is not None:
            pending.append((callback, args))
            lock.release()
            if loop.is_closed():
                raise RuntimeError("Event loop is closed")
            return
        self._pending = [(callback, args)]
        lock.release()
        try:
            self._schedule_drain(loop)
        except BaseException:
            with lock:
                self._pending = None  # the loop is closed: nothing will drain them
            raise

    def _schedule_drain(self, loop: asyncio.AbstractEventLoop) -> None:
        # A new empty context each time: the callbacks (asgi_sync's and asgi_wsgi's own, which
        # set futures' results) need none, and one Context object cannot be entered by two
        # loops' threads at once, as one shared empty context would be.
        loop.call_soon_threadsafe(self._drain, loop, context=contextvars.Context())

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        lock = self._lock
        lock.acquire()
        pending, self._pending = self._pending, None
        lock.release()
        if pending is None:
            return
        for index, (callback, args) in enumerate(pending):
            try:
                callback(*args)
            except (SystemExit, KeyboardInterrupt):
                # The loop stops here, as for any callback; the rest run when it runs again.
                self._put_back(loop, pending[index + 1 :])
                raise
            except BaseException as exc:  # as the loop reports a failing call_soon callback
                loop.call_exception_handler(
                    {"message": f"Exception in callback {callback!r}", "exception": exc}
                )

    def _put_back(self, loop: asyncio.AbstractEventLoop, rest: list[_Callback]) -> None:
        if not rest:
            return
        with self._lock:
            pending = self._pending
            if pending is not None:  # a drain is scheduled already: go first in it
                pending[:0] = rest
                return
            self._pending = rest
        self._schedule_drain(loop)


class _DirectWaker(_LoopWaker):
    """For a loop that cannot be weakly referenced: plain `call_soon_threadsafe`."""

    __slots__ = ()

    def call_soon(
        self, loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any
    ) -> None:
        loop.call_soon_threadsafe(callback, *args, context=contextvars.Context())


_direct = _DirectWaker()

# One waker per loop. Weak keys, and wakers hold no reference to their loop: a closed loop
# and what is keyed by it elsewhere (channels_redis's per-loop layers) can be collected.
_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWaker] = (
    weakref.WeakKeyDictionary()
)
_wakers_lock = threading.Lock()
# The last lookup, so a server's one loop costs one weakref call per request.
_last: tuple[Callable[[], asyncio.AbstractEventLoop | None], _LoopWaker] | None = None


def _waker_for(loop: asyncio.AbstractEventLoop) -> _LoopWaker:
    """The waker of `loop` (made on first use); any thread may call this."""
    global _last
    last = _last
    if last is not None and last[0]() is loop:
        return last[1]
    try:
        reference = weakref.ref(loop)
    except TypeError:
        return _direct
    with _wakers_lock:
        waker = _wakers.get(loop)
        if waker is None:
            waker = _wakers[loop] = _LoopWaker()
        _last = (reference, waker)
    return waker


def _forget_wakers_in_child() -> None:
    # A forked child: another thread may have held a waker's lock at the fork.
    global _wakers_lock, _last
    _wakers_lock = threading.Lock()
    _wakers.clear()
    _last = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_wakers_in_child)
