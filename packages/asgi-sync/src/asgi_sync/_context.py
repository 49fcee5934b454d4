"""Per-context state of the bridges, the helpers that move context between threads, and the
machinery behind `ThreadSensitiveContext` and cancellation forwarded through a bridge.

Private machinery behind the public names in ``asgi_sync``; nothing here is API.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple, TypeVar

from asgi_sync._threads import _Worker
from asgi_sync.current_thread_executor import CurrentThreadExecutor

_R = TypeVar("_R")

# The CurrentThreadExecutor of the innermost async_to_sync of this request.
_current_executor: contextvars.ContextVar[CurrentThreadExecutor | None] = contextvars.ContextVar(
    "asgi_sync.current_executor", default=None
)


class _Executors:
    """`AsyncToSync.executors`: `.current` is the request's bridge executor, or `None`."""

    @property
    def current(self) -> CurrentThreadExecutor | None:
        """The [CurrentThreadExecutor][asgi_sync.CurrentThreadExecutor] of this context."""
        return _current_executor.get()

    @current.setter
    def current(self, value: CurrentThreadExecutor | None) -> None:
        _current_executor.set(value)


# The executor, and the future of the thread-sensitive call on it, that the current chain
# descends from, then the same for the call that one descends from, and so on.
_RunningOn = Tuple[Executor, "asyncio.Future[Any]", Optional["_RunningOn"]]
_running_on: contextvars.ContextVar[_RunningOn | None] = contextvars.ContextVar(
    "asgi_sync.running_on", default=None
)

_MISSING = object()


def _copy_back(result: contextvars.Context, base: contextvars.Context) -> bool:
    """Set, in the running context, the variables ``result`` changed relative to ``base``."""
    if result == base:  # one pointer comparison when nothing changed
        return False
    for var, value in result.items():
        if var is not _current_executor and base.get(var, _MISSING) is not value:
            var.set(value)
    return True


class _TaskContext(List["asyncio.Task[Any]"]):
    """Tasks started by async_to_sync from one sync_to_async call's thread.

    `outcomes` maps each of those tasks to the future its `async_to_sync` call waits on;
    `cancelled` is set once the awaiting task's cancellation was not absorbed.
    """

    __slots__ = ("cancelled", "outcomes")

    def __init__(self) -> None:
        # No list.__init__ call: the list starts empty (this runs once per WSGI request).
        self.cancelled = False
        self.outcomes: Dict[asyncio.Task[Any], Future[Any]] = {}


# A sync_to_async call's result future -> the future that receives the result instead,
# after the awaiting task's cancellation was absorbed (the first one was cancelled with it).
# Written and read on the event loop's thread only.
_late_futures: Dict[asyncio.Future[Any], asyncio.Future[Any]] = {}


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():
        future = _late_futures.pop(future, future)
        if future.done():
            return
    future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if future.done():
        future = _late_futures.pop(future, future)
        if future.done():
            return
    future.set_exception(exc)


# --- cancellation forwarded through a sync/async sandwich -------------------------------


async def _forward_cancellation(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], task_context: _TaskContext
) -> asyncio.Future[Any] | None:
    """Forward the awaiting task's cancellation to the coroutine its sync code waits for.

    Runs on the event loop, in the cancelled task, after the await of the call's `future`
    was cancelled. Returns the future that now receives the sync code's outcome when that
    coroutine absorbed the cancellation; returns `None` when the cancellation stands (the
    caller re-raises it); raises the coroutine's own exception when it ended with one.
    """
    waited = [task for task in task_context if task.get_loop() is loop]
    for task in task_context:
        if task.get_loop() is not loop:  # force_new_loop: cancel it, do not wait
            task.get_loop().call_soon_threadsafe(task.cancel)
    if not waited:  # the sync code is not inside async_to_sync on our loop
        _stand_by_cancellation(task_context)
        return None
    inner = waited[-1]
    outcome = task_context.outcomes.get(inner)
    later = loop.create_future()
    _late_futures[future] = later  # before the sync code can finish and report
    inner.cancel()
    try:
        await inner
    except asyncio.CancelledError:  # we were cancelled again while waiting
        _drop_late_future(future, later)
        _stand_by_cancellation(task_context)
        raise
    error = outcome.exception() if outcome is not None and outcome.done() else None
    if outcome is not None and outcome.done() and error is None:
        return later  # absorbed: the sync code goes on, and so does our caller
    _drop_late_future(future, later)
    _stand_by_cancellation(task_context)
    if error is None or isinstance(error, asyncio.CancelledError):
        return None
    raise error


def _stand_by_cancellation(task_context: _TaskContext) -> None:
    """Cancel what the orphaned sync code awaits through async_to_sync, now and later."""
    task_context.cancelled = True
    for task in list(task_context):
        task.get_loop().call_soon_threadsafe(task.cancel)


def _drop_late_future(future: asyncio.Future[Any], later: asyncio.Future[Any]) -> None:
    _late_futures.pop(future, None)
    if later.done():
        if not later.cancelled():
            later.exception()  # retrieved: nobody waits for the orphaned call any more
    else:
        later.cancel()


# --- ThreadSensitiveContext helpers --------------------------------------------------------


def _nothing() -> None:
    pass


async def _drained(worker: _Worker) -> None:
    """Return once the work queued on `worker` so far has run; never blocks the loop."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def signal() -> None:
        try:
            loop.call_soon_threadsafe(_set_result, done, None)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    worker._put(signal)
    await done


def _check_not_blocked_in_chain(executor: Executor) -> None:
    """Raise when `executor`'s one thread is blocked waiting for the code entering it.

    Runs on the event loop at `ThreadSensitiveContext(executor=...)` entry. Two signs: this
    chain descends from a thread-sensitive call still running on `executor`, or a sync
    thread waiting in one of this chain's `async_to_sync` calls is `executor`'s thread.
    """
    if isinstance(executor, ThreadPoolExecutor) and executor._max_workers > 1:
        return  # another of its threads can serve the calls
    blocked = False
    link = _running_on.get()
    while link is not None and not blocked:
        blocked = link[0] is executor and not link[1].done()
        link = link[2]
    if not blocked:
        bridge = _current_executor.get()
        while bridge is not None and not blocked:
            blocked = not bridge._broken and _is_thread_of(executor, bridge._work_thread)
            bridge = bridge._old_executor
    if blocked:
        message = (
            f"ThreadSensitiveContext(executor={executor!r}) would deadlock: the code "
            "entering it runs inside a sync call on that executor, whose only thread is "
            "blocked in async_to_sync waiting for this code. Use another executor, or no new "
            "ThreadSensitiveContext here (the calls then come back to that thread through "
            "async_to_sync)."
        )
        raise RuntimeError(message)


def _is_thread_of(executor: Executor, thread: threading.Thread) -> bool:
    """Tell whether `thread` is a worker of `executor` (for executors we can look into)."""
    if isinstance(executor, _Worker):
        return executor._thread is thread
    if isinstance(executor, ThreadPoolExecutor):
        if thread in executor._threads:
            return True
        # A new worker can run its first job before submit() adds it to `_threads`; its
        # target's first argument is a weak reference to its executor while it runs.
        args = getattr(thread, "_args", ())
        owner = args[0] if args else None
        return isinstance(owner, weakref.ReferenceType) and owner() is executor
    return False
