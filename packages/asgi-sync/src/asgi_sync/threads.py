"""Integration API: run sync code on asgi_sync's threads the way `sync_to_async` does.

For adapters that drive their own protocol with a thread instead of awaiting one call (the
WSGI adapters of `asgi_wsgi` are the users): they get asgi_sync's pooled worker threads and
event-loop threads, its context copy-in and copy-back, and `asgi_local.Local` binding, so the
code they run behaves exactly as code run by [sync_to_async][asgi_sync.sync_to_async] and
[async_to_sync][asgi_sync.async_to_sync] does, without a second thread pool in the process.

- [run_in_pooled_thread][asgi_sync.threads.run_in_pooled_thread] runs a job on a pooled
  worker thread (the pool `sync_to_async(thread_sensitive=False)` uses).
- [ThreadCall][asgi_sync.threads.ThreadCall] is the link between an awaiting task and the sync
  code it runs on such a thread: a fresh copy of the task's context, changes copied back, and
  the thread counted as a `sync_to_async` thread of the task's loop.
- [call_soon_coalesced][asgi_sync.threads.call_soon_coalesced] hands results back to the
  loop: many calls made while the loop is busy share one wake-up of it.
- [LoopThread][asgi_sync.threads.LoopThread] lends out one of the pooled event-loop threads
  `async_to_sync` uses from plain sync code, and
  [start_task][asgi_sync.threads.start_task] starts a coroutine there in a given context.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import Any, Callable, Coroutine, TypeVar

from asgi_local import bind_context_to_current_thread
from asgi_sync._context import _copy_back, _TaskContext
from asgi_sync._threads import (
    _acquire_runner,
    _LoopRunner,
    _run_on_pooled_thread,
    _start_task,
    _thread_state,
)
from asgi_sync._wake import _waker_for

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:
    from typing_extensions import ParamSpec

__all__ = ("LoopThread", "ThreadCall", "call_soon_coalesced", "run_in_pooled_thread", "start_task")

_P = ParamSpec("_P")
_R = TypeVar("_R")


def run_in_pooled_thread(job: Callable[[], None]) -> None:
    """Run `job()` on an idle pooled worker thread, starting one when none is idle.

    Any thread may call this; it returns at once. The pool is the one behind
    `sync_to_async(thread_sensitive=False)` (threads named `asgi_sync-worker-N`); it grows
    instead of queueing, so bound your own concurrency if you need a limit. The thread goes
    back to the pool when `job` returns.

    Args:
        job: The work. It must not raise: catch and report its errors yourself (an
            exception escaping it is lost with the thread's state).
    """
    _run_on_pooled_thread(job)


def call_soon_coalesced(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any
) -> None:
    """Run `callback(*args)` on `loop`'s thread soon, like `loop.call_soon_threadsafe`.

    Any thread may call this. `loop.call_soon_threadsafe` wakes the loop (a system call, and
    a GIL hand-off on the calling thread) on every call; here, calls made while an earlier
    one still waits to run join it and share its one wake-up. Under load, when the loop is
    busy anyway, most calls then cost a list append. asgi_sync hands `sync_to_async`
    results back this way.

    Differences from `loop.call_soon_threadsafe`: callbacks run in an empty context (not a
    copy of the caller's), in the order of the calls made through this function, and
    no handle is returned (nothing can be cancelled). An exception from `callback` goes to
    the loop's exception handler, as from any callback.

    Raises:
        RuntimeError: When the loop is closed.
    """
    _waker_for(loop).call_soon(loop, callback, *args)


def _bind_and_call(func: Callable[..., _R], args: tuple[Any, ...], kwargs: dict[str, Any]) -> _R:
    # Runs inside ThreadCall.context on the worker thread.
    bind_context_to_current_thread()
    return func(*args, **kwargs)


class ThreadCall:
    """The link between one awaiting task and the sync code it runs on another thread.

    Create it on the event loop, inside the task that waits for the sync code: it takes a
    fresh copy of that task's context, just as a `sync_to_async` call does. Then:

    - [run][asgi_sync.threads.ThreadCall.run] (on the worker thread) calls a function inside
      that copy, with `Local` values bound to the thread, and with the thread counted as a
      `sync_to_async` thread of the task's loop: `async_to_sync(f)` called there runs `f` on
      that loop while the thread serves `f`'s thread-sensitive `sync_to_async` calls.
    - [copy_back][asgi_sync.threads.ThreadCall.copy_back] (on the loop, inside the task) sets
      in the task's context what the sync code changed: contextvars set or reset, `Local`
      writes and deletes. Call it with snapshots the thread took
      (`contextvars.copy_context()`) to publish changes while the thread still runs.
    - [cancel][asgi_sync.threads.ThreadCall.cancel] (on the loop) cancels the coroutines the
      sync code is waiting for in `async_to_sync`, and any it starts afterwards.

    Each call gets its own copy: nothing it sets is visible to another `ThreadCall`.

    Attributes:
        loop: The event loop of the awaiting task.
        context: The copy the sync code runs in (do not read it while the code runs).
    """

    __slots__ = ("_seen", "_tasks", "context", "loop")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.context = contextvars.copy_context()
        # What the awaiting task's context holds of the call's changes so far.
        self._seen = self.context.copy()
        self._tasks = _TaskContext()

    def run(self, func: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Call `func(*args, **kwargs)` on this thread, inside the call's context.

        Call it on the worker thread (never on the loop's thread), once.

        Returns:
            What `func` returns (its exception propagates).
        """
        state = _thread_state
        previous = state.loop, state.task_context
        state.loop = self.loop
        state.task_context = self._tasks
        try:
            return self.context.run(_bind_and_call, func, args, kwargs)
        finally:
            state.loop, state.task_context = previous

    def copy_back(self, snapshot: contextvars.Context | None = None) -> None:
        """Set, in the running context, what the sync code changed since the last copy-back.

        Call it on the loop, inside the awaiting task.

        Args:
            snapshot: A `contextvars.copy_context()` the sync code took on its thread; `None`
                uses the call's context itself, only once the sync code has finished.
        """
        if snapshot is not None and snapshot == self._seen:
            self._seen = snapshot  # nothing changed (one pointer comparison): the common case
            return
        result = self.context if snapshot is None else snapshot
        if _copy_back(result, self._seen):
            bind_context_to_current_thread()
        self._seen = result.copy() if snapshot is None else snapshot

    def cancel(self) -> None:
        """Cancel the coroutines the sync code waits for in `async_to_sync` (on the loop)."""
        tasks = self._tasks
        tasks.cancelled = True
        for task in list(tasks):
            task.cancel()


class LoopThread:
    """One of asgi_sync's pooled long-running event-loop threads, lent out until `release`.

    Unlike the per-call loops of `async_to_sync` from plain sync code (made for one call and
    closed at its end), this loop runs until the thread leaves the pool after its idle
    timeout, on its own thread (named `asgi_sync-loop-N`). Schedule work on it
    from other threads only (`start_task`, `loop.call_soon_threadsafe`). After `os.fork()`
    the child has no such thread: take a new `LoopThread` there.

    Attributes:
        loop: The event loop.
    """

    __slots__ = ("_runner", "loop")

    def __init__(self) -> None:
        self._runner: _LoopRunner | None = _acquire_runner()
        self.loop: asyncio.AbstractEventLoop = self._runner.loop

    def release(self) -> None:
        """Give the thread back to the pool; tasks still on the loop keep running there."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.release()


async def _bound(coroutine: Coroutine[Any, Any, None]) -> None:
    bind_context_to_current_thread()
    await coroutine


def _create_task(
    loop: asyncio.AbstractEventLoop,
    coroutine: Coroutine[Any, Any, None],
    context: contextvars.Context,
) -> None:
    # Wraps on the loop's thread, so a closed loop leaves no unawaited `_bound` behind.
    _start_task(loop, _bound(coroutine), context)


def start_task(
    loop: asyncio.AbstractEventLoop,
    coroutine: Coroutine[Any, Any, None],
    context: contextvars.Context,
) -> None:
    """Start `coroutine` as a task on `loop`, running inside `context`.

    Any thread may call this; the task is created on the loop's thread, with `Local` values
    bound there. The coroutine must report its own result and errors (nothing awaits the
    task). Pass a copy (`contextvars.copy_context()`): the task changes the context it runs in.

    Raises:
        RuntimeError: When the loop is closed.
    """
    loop.call_soon_threadsafe(_create_task, loop, coroutine, context)
