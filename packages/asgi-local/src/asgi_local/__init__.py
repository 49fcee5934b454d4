"""Context-local storage that follows asyncio tasks and the sync/async bridges.

`Local` is an object with attributes, like `threading.local`, whose values are scoped to
the current `contextvars` context (default mode) or to the current thread, and inside a
running event loop to the current task (``thread_critical=True``).

Where the value lives is described in `asgi_local._state`. Attribute access runs in a small
C accelerator (`asgi_local._speedups`) when it was built at install time, and in the
equivalent pure-Python `asgi_local._pure` otherwise, or when the environment variable
``ASGI_LOCAL_PURE_PYTHON=1`` is set before the first import. `SPEEDUPS` tells which.

This module is also `asgiref.local` when asgiref-meta is installed (the same module object).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

from asgi_local import _state
from asgi_local.__about__ import __version__ as __version__

if TYPE_CHECKING:
    from asgi_local._pure import CriticalCore as _CriticalCore
    from asgi_local._pure import DefaultCore as _DefaultCore
    from asgi_local._pure import LocalBase as _LocalBase
else:
    from asgi_local import _pure

    _cores = _pure if _state.speedups is None else _state.speedups
    _LocalBase = _cores.LocalBase
    _DefaultCore = _cores.DefaultCore
    _CriticalCore = _cores.CriticalCore

__all__ = ("SPEEDUPS", "Local", "__version__", "bind_context_to_current_thread")

SPEEDUPS: bool = _state.speedups is not None
"""True when `Local` attribute access runs in the C accelerator, False in pure Python."""

_new_local = _LocalBase.__new__
_state_get = _state.state.get
_state_set = _state.state.set
_current_token = _state.current_token


def bind_context_to_current_thread() -> None:
    """Declare that the current context legitimately runs on the calling thread.

    This is the integration point for bridges such as `asgi_sync.sync_to_async` and
    `asgi_sync.async_to_sync`. Default-mode `Local` values live in the `contextvars`
    context, but a context that merely arrives on another thread (a copy run by a new
    thread, Python 3.14's ``thread_inherit_context``) does not make them visible there.
    Calling this function does: afterwards, on the calling thread, the current context's
    default-mode values can be read and written as usual.

    Bridges call it (1) on the destination thread right after entering the context they
    carried there (the copied context in a `sync_to_async` worker thread, the coroutine's
    task context on the `async_to_sync` loop), and (2) on the caller's thread right after
    copying the callee's contextvar changes back into the caller's context.

    It runs entirely on the calling thread, is cheap (two `ContextVar` operations at most)
    and idempotent. ``thread_critical=True`` locals are never affected.
    """
    snapshot = _state_get(None)
    if snapshot is None:
        return
    token = _current_token()
    if snapshot[0] is not token:
        _state_set((token, snapshot[1]))


def _check_flag(thread_critical: object) -> bool:
    # Untyped callers may pass anything; ints are accepted, as asgiref does.
    if not isinstance(thread_critical, int):
        message = (
            f"Local(thread_critical=...) expects a bool, got {thread_critical!r} "
            f"of type {type(thread_critical).__name__}; pass True or False"
        )
        raise TypeError(message)
    return bool(thread_critical)


@final
class Local(_LocalBase):
    """An object whose attributes are local to a context, or to a thread.

    ``Local()`` (default mode) scopes values like a `contextvars.ContextVar`:

    * each asyncio task sees the values of the task that created it, as they were when it
      was created, and its own writes never leak back to that parent;
    * values set on one side of `asgi_sync.sync_to_async` or `asgi_sync.async_to_sync` are
      visible on the other side, in both directions;
    * a thread that merely starts with a copy of another thread's context (for example
      ``contextvars.copy_context().run`` in a new thread) does not see them: only the bridges
      carry values across threads (see `bind_context_to_current_thread`).

    ``Local(thread_critical=True)`` is a plain `threading.local` in synchronous code, and
    per task (inherited by child tasks, like a context variable) while an event loop runs on
    the calling thread. Its values never cross the bridges, which suits objects that must stay
    on the thread that made them, such as database connections.

    Attributes behave as on a normal object: reading or deleting a missing one raises
    `AttributeError`, ``getattr(local, "name", default)`` works, and any thread may use a
    `Local` concurrently. `Local` cannot be subclassed: as in asgiref, a ``class`` statement
    deriving from it succeeds, but creating an instance of the subclass raises `TypeError`
    (type checkers flag the ``class`` statement itself, `Local` being ``@final``). The
    instances are of the private classes ``_DefaultLocal`` and ``_ThreadCriticalLocal``, both
    subclasses of `Local`.

    Args:
        thread_critical: Keep values per thread (per task inside a running loop) instead of
            per context, and never share them across the sync/async bridges.

    Raises:
        TypeError: If *thread_critical* is not a bool, or on instantiating a subclass.

    Example:
        ```python
        from asgi_local import Local

        request = Local()
        request.user = "alice"
        assert request.user == "alice"
        assert getattr(request, "missing", None) is None
        ```
    """

    __slots__ = ()

    def __new__(cls, thread_critical: bool = False) -> Local:
        # Typed `type`: mypy, knowing Local is @final, would call the subclass branch dead.
        target: type = cls
        if target is Local:
            target = _ThreadCriticalLocal if _check_flag(thread_critical) else _DefaultLocal
        elif target not in _CONCRETE_CLASSES:  # a user's subclass: defined, never instantiated
            message = (
                f"Local cannot be subclassed (tried to instantiate {target.__qualname__!r}): "
                "wrap a Local in your own class, or store your object as one of its attributes"
            )
            raise TypeError(message)
        local: Local = _new_local(target)
        return local

    def __init__(self, thread_critical: bool = False) -> None:
        """Nothing to do: `__new__` picks the storage from *thread_critical*."""

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

        def __delattr__(self, name: str) -> None: ...


class _DefaultLocal(Local, _DefaultCore):  # type: ignore[misc]  # the one allowed subclass
    """A `Local` whose values live in the current context (see `Local`)."""

    __slots__ = ()


class _ThreadCriticalLocal(Local, _CriticalCore):  # type: ignore[misc]  # and this one
    """A `Local` whose values stay on their thread (per task inside a running loop)."""

    __slots__ = ()


_CONCRETE_CLASSES: frozenset[type] = frozenset((_DefaultLocal, _ThreadCriticalLocal))
