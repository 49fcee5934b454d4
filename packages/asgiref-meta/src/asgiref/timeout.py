"""A deprecated timeout context manager; use `asyncio.timeout` (Python 3.11+) instead."""

from __future__ import annotations

import asyncio
import sys
import warnings
from types import TracebackType
from typing import Type

__all__ = ("timeout",)

_DEPRECATION = (
    "asgiref.timeout is deprecated: use asyncio.timeout() (Python 3.11+; "
    "asyncio.wait_for() on older Pythons) instead"
)


class timeout:
    """Cancel the enclosed block when it runs longer than `timeout` seconds.

    Use it as `async with timeout(1.5): ...` inside a task; the task is cancelled on its own
    loop when the time is up and `asyncio.TimeoutError` (the builtin `TimeoutError` on 3.11+)
    is raised out of the block. A cancellation of the task from elsewhere still propagates
    as `CancelledError`. `timeout(None)` never expires.

    Deprecated: constructing one emits `DeprecationWarning`; use `asyncio.timeout()`.

    Args:
        timeout: Seconds until expiry, or None for no limit.
        loop: The loop of the current task (accepted for compatibility; defaults to it).
    """

    def __init__(
        self, timeout: float | None, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        warnings.warn(_DEPRECATION, DeprecationWarning, stacklevel=2)
        if timeout is not None and timeout != timeout:  # NaN
            error = f"timeout must be a number of seconds or None, not {timeout!r}"
            raise ValueError(error)
        self._timeout = timeout
        self._loop = loop
        self._task: asyncio.Task[object] | None = None
        self._handle: asyncio.Handle | None = None
        self._expired = False
        self._deadline: float | None = None

    @property
    def expired(self) -> bool:
        """Whether the block was cancelled because the time ran out."""
        return self._expired

    @property
    def remaining(self) -> float | None:
        """Seconds left (0.0 once passed), or None when there is no limit or not entered."""
        if self._deadline is None or self._loop is None:
            return None
        return max(0.0, self._deadline - self._loop.time())

    def __enter__(self) -> timeout:
        self._enter()
        return self

    def __exit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc_type)

    async def __aenter__(self) -> timeout:
        self._enter()
        return self

    async def __aexit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc_type)

    def _enter(self) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running event loop in this thread
            task = None
        if task is None:
            error = "timeout() must be used inside a task running on an asyncio event loop"
            raise RuntimeError(error)
        self._task = task
        if self._loop is None:
            self._loop = task.get_loop()
        if self._timeout is None:
            return
        self._deadline = self._loop.time() + self._timeout
        if self._timeout <= 0:
            self._handle = self._loop.call_soon(self._expire)
        else:
            self._handle = self._loop.call_at(self._deadline, self._expire)

    def _expire(self) -> None:
        assert self._task is not None
        self._task.cancel()
        self._expired = True

    def _exit(self, exc_type: Type[BaseException] | None) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._expired or self._task is None:
            return
        if sys.version_info >= (3, 11) and self._task.uncancel() > 0:
            return  # someone else cancelled the task as well: let CancelledError through
        if exc_type is asyncio.CancelledError:
            raise asyncio.TimeoutError from None
