"""The coroutine-function marker: `inspect`'s own on 3.12+, a shim honouring asyncio's before."""

from __future__ import annotations

import sys
from typing import Any, Callable, TypeVar

__all__ = ("iscoroutinefunction", "markcoroutinefunction")

_F = TypeVar("_F", bound=Callable[..., Any])

if sys.version_info >= (3, 12):
    from inspect import iscoroutinefunction as iscoroutinefunction
    from inspect import markcoroutinefunction as markcoroutinefunction
else:
    import asyncio
    import functools
    import inspect

    # asyncio's marker is what asyncio.iscoroutinefunction (and Django before 3.12) honours.
    _IS_COROUTINE_MARKER = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]

    def iscoroutinefunction(func: object) -> bool:
        """Tell whether `func` is a coroutine function or is marked as one.

        Same as `inspect.iscoroutinefunction` on Python 3.12+, where it also honours
        [markcoroutinefunction][asgi_sync.markcoroutinefunction]. Partials and bound
        methods are looked through.

        Args:
            func: Any object.

        Returns:
            True when calling `func` returns a coroutine (or `func` says so).
        """
        while isinstance(func, functools.partial):
            func = func.func
        func = getattr(func, "__func__", func)
        if inspect.iscoroutinefunction(func):
            return True
        return getattr(func, "_is_coroutine", None) is _IS_COROUTINE_MARKER

    def markcoroutinefunction(func: _F) -> _F:
        """Mark `func` so that `iscoroutinefunction` reports it as a coroutine function.

        Same as `inspect.markcoroutinefunction` on Python 3.12+. Use it on a sync
        callable that returns an awaitable.

        Args:
            func: The function to mark; it is changed in place.

        Returns:
            `func` itself.
        """
        if hasattr(func, "__func__"):
            func = func.__func__
        func._is_coroutine = _IS_COROUTINE_MARKER  # type: ignore[attr-defined]
        return func
