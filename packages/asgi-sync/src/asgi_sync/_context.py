"""Per-context state of the bridges and the helpers that move context between threads.

Private machinery behind the public names in ``asgi_sync``; nothing here is API.
"""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import Executor, Future
from typing import Any, Dict, List, Optional, Tuple, TypeVar

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
        super().__init__()
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
