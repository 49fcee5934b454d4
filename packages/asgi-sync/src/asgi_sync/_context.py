"""Per-context state of the bridges and the helpers that move context between threads.

Private machinery behind the public names in ``asgi_sync``; nothing here is API.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any, List, TypeVar

from asgi_sync._threads import _Worker
from asgi_sync.current_thread_executor import CurrentThreadExecutor

_R = TypeVar("_R")

# The CurrentThreadExecutor of the innermost async_to_sync of this request.
_current_executor: contextvars.ContextVar[CurrentThreadExecutor | None] = contextvars.ContextVar(
    "asgi_sync.current_executor", default=None
)


class _Executors:
    """``AsyncToSync.executors``: ``.current`` is the request's CurrentThreadExecutor."""

    @property
    def current(self) -> CurrentThreadExecutor | None:
        return _current_executor.get()

    @current.setter
    def current(self, value: CurrentThreadExecutor | None) -> None:
        _current_executor.set(value)


# The worker, and the future of the call on it, that the current chain descends from.
_running_on: contextvars.ContextVar[tuple[_Worker, asyncio.Future[Any]] | None] = (
    contextvars.ContextVar("asgi_sync.running_on", default=None)
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
    """Tasks started by async_to_sync from one sync_to_async call's thread."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        super().__init__()
        self.cancelled = False


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
