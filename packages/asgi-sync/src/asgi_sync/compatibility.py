"""Helpers for the two ASGI application styles (ASGI 2 "double" and ASGI 3 "single" callables).

An ASGI 3 application is one awaitable callable `app(scope, receive, send)`. An ASGI 2
application is a callable `app(scope)` that returns an awaitable callable
`instance(receive, send)`; classes written for ASGI 2 are the common case. These helpers
tell the two apart and adapt the old style to the new one. Nothing here touches threads or
event loops: the adapted application runs wherever its caller awaits it.
"""

from __future__ import annotations

import inspect
from typing import Any, Awaitable, Callable

from asgi_sync import iscoroutinefunction

__all__ = (
    "is_double_callable",
    "double_to_single_callable",
    "guarantee_single_callable",
)


def is_double_callable(application: Any) -> bool:
    """Tell whether `application` looks like an ASGI 2 ("double callable") application.

    The decision, in order: an explicit `_asgi_single_callable` attribute that is true means
    single; an explicit `_asgi_double_callable` attribute that is true means double; a class
    is double (instantiating it with the scope is the ASGI 2 pattern); an object whose
    `__call__` is a coroutine function is single; any other coroutine function is single;
    everything else is double.

    Args:
        application: The application object to inspect. It is not called.

    Returns:
        True for an ASGI 2 style application, False for an ASGI 3 style one.
    """
    if getattr(application, "_asgi_single_callable", False):
        return False
    if getattr(application, "_asgi_double_callable", False):
        return True
    if inspect.isclass(application):
        return True
    call = getattr(application, "__call__", None)  # noqa: B004 - we need the attribute itself
    if call is not None and iscoroutinefunction(call):
        return False
    return not iscoroutinefunction(application)


def double_to_single_callable(application: Any) -> Callable[..., Awaitable[Any]]:
    """Wrap an ASGI 2 application so it can be called the ASGI 3 way.

    The returned coroutine function calls `application(scope)` and then awaits
    `instance(receive, send)`, both on the caller's event loop.

    Args:
        application: An ASGI 2 ("double callable") application.

    Returns:
        An ASGI 3 application, a coroutine function of `(scope, receive, send)`.
    """

    async def new_application(scope: Any, receive: Any, send: Any) -> Any:
        instance = application(scope)
        return await instance(receive, send)

    return new_application


def guarantee_single_callable(application: Any) -> Any:
    """Return `application` as an ASGI 3 ("single callable") application.

    An ASGI 3 application is returned unchanged; an ASGI 2 one is wrapped with
    [double_to_single_callable][asgi_sync.compatibility.double_to_single_callable].

    Args:
        application: An ASGI 2 or ASGI 3 application.

    Returns:
        An application that can be awaited as `app(scope, receive, send)`.
    """
    if is_double_callable(application):
        application = double_to_single_callable(application)
    return application
