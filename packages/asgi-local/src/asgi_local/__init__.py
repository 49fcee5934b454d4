"""Context-local storage that follows asyncio tasks and the sync/async bridges.

`Local` is an object with attributes, like `threading.local`, whose values are scoped to
the current `contextvars` context (default mode) or to the current thread, and inside a
running event loop to the current task (``thread_critical=True``).

Design, in short (the hot paths are a handful of C calls each):

* Default mode keeps every `Local`'s values in one module-level `ContextVar` whose value is
  an immutable snapshot ``(home, {local: {name: value}})``. A write copies the two small
  dicts it touches (one when the context holds a single `Local`) and sets a new snapshot,
  so a child task's writes never reach its parent; writing the very object an attribute
  already holds in this context changes nothing, so it returns early. ``home`` is a
  token of the thread the context legitimately runs on; a read on any other thread (a
  context copied into a new thread) sees nothing.
  `bind_context_to_current_thread` re-homes the snapshot, which is how the bridges of
  asgi-sync carry values across threads.
* ``thread_critical=True`` stores values in a private `threading.local` when no event loop
  runs on the calling thread, and in a second snapshot `ContextVar` (never re-homed by the
  bridges) when one does.

This module is also `asgiref.local` when asgiref-meta is installed (the same module object).
"""

from __future__ import annotations

import threading
from asyncio.events import _get_running_loop
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Dict, Tuple

from asgi_local.__about__ import __version__ as __version__

__all__ = ("Local", "__version__", "bind_context_to_current_thread")


class _ThreadToken:
    """Identity of one thread; unlike `threading.get_ident()` it is never reused."""

    __slots__ = ("__weakref__",)


_Data = Dict["Local", Dict[str, Any]]
_Snapshot = Tuple[object, _Data]

_tokens = threading.local()
_NO_DATA: _Data = {}
_EMPTY: _Snapshot = (None, _NO_DATA)

# Default-mode values of every Local, for the current context (re-homed by the bridges).
_state: ContextVar[_Snapshot] = ContextVar("asgi_local.state")
_state_get = _state.get
_state_set = _state.set
# thread_critical values while an event loop runs on the thread (never re-homed).
_loop_state: ContextVar[_Snapshot] = ContextVar("asgi_local.thread_critical_state")
_loop_state_get = _loop_state.get
_loop_state_set = _loop_state.set

# `_data` is refused (it was internal storage in older asgiref releases); `__class__` is a
# real attribute. Every other name, dunders included, is ordinary Local data.
_SPECIAL = frozenset(("_data", "__class__"))
_object_getattribute = object.__getattribute__
_object_setattr = object.__setattr__


def _new_token() -> object:
    token = _ThreadToken()
    _tokens.token = token
    return token


def _current_token() -> object:
    try:
        token: object = _tokens.token
    except AttributeError:
        token = _new_token()
    return token


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
    try:
        token: object = _tokens.token
    except AttributeError:
        token = _new_token()
    if snapshot[0] is not token:
        _state_set((token, snapshot[1]))


def _missing(local: Local, name: str) -> AttributeError:
    message = (
        f"{type(local).__name__!r} object has no attribute {name!r}: it was never set in "
        "this context, or was deleted; use getattr(local, name, default) to read it optionally"
    )
    return AttributeError(message)


def _reserved(name: str) -> AttributeError:
    message = (
        f"Cannot set attribute {name!r} on Local: the name is reserved "
        "(it named internal storage in older asgiref releases); use another attribute name"
    )
    return AttributeError(message)


def _check_flag(thread_critical: object) -> bool:
    # Untyped callers may pass anything; ints are accepted, as asgiref does.
    if not isinstance(thread_critical, int):
        message = (
            f"Local(thread_critical=...) expects a bool, got {thread_critical!r} "
            f"of type {type(thread_critical).__name__}; pass True or False"
        )
        raise TypeError(message)
    return bool(thread_critical)


class Local:
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
    `Local` concurrently. `Local` cannot be subclassed; the instances are of the private
    classes ``_DefaultLocal`` and ``_ThreadCriticalLocal``, both subclasses of `Local`.

    Args:
        thread_critical: Keep values per thread (per task inside a running loop) instead of
            per context, and never share them across the sync/async bridges.

    Raises:
        TypeError: If *thread_critical* is not a bool.

    Example:
        ```python
        from asgi_local import Local

        request = Local()
        request.user = "alice"
        assert request.user == "alice"
        assert getattr(request, "missing", None) is None
        ```
    """

    __slots__ = ("__weakref__",)

    def __new__(cls, thread_critical: bool = False) -> Local:
        if cls is Local:
            cls = _ThreadCriticalLocal if _check_flag(thread_critical) else _DefaultLocal
        local: Local = object.__new__(cls)
        if cls is _ThreadCriticalLocal:
            _thread_slot.__set__(local, threading.local())
        return local

    def __init__(self, thread_critical: bool = False) -> None:
        """Nothing to do: `__new__` picks the storage from *thread_critical*."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if _sealed:
            message = (
                f"Local cannot be subclassed (tried by {cls.__qualname__!r}): wrap a Local "
                "in your own class, or store your object as one of its attributes"
            )
            raise TypeError(message)
        super().__init_subclass__(**kwargs)

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

        def __delattr__(self, name: str) -> None: ...


_sealed = False


class _DefaultLocal(Local):
    """A `Local` whose values live in the current context (see `Local`)."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        snapshot = _state_get(_EMPTY)
        try:
            token: object = _tokens.token
        except AttributeError:
            token = _new_token()
        if snapshot[0] is token:
            try:
                return snapshot[1][self][name]
            except KeyError:
                pass
        return _object_getattribute(self, name)  # dunders and methods; else AttributeError

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SPECIAL:
            if name == "_data":
                raise _reserved(name)
            _object_setattr(self, name, value)
            return
        home, data = _state_get(_EMPTY)
        try:
            token: object = _tokens.token
        except AttributeError:
            token = _new_token()
        if home is not token:
            _state_set((token, {self: {name: value}}))  # inherited values stay invisible
            return
        mine = data.get(self)
        if mine is None or (len(mine) == 1 and name in mine):
            if mine is not None and mine[name] is value:
                return  # already set here: the snapshot would not change
            mine = {name: value}  # the common case: one attribute per Local
            if len(data) == 1 and self in data:
                _state_set((token, {self: mine}))  # ... and a single Local in the context
                return
        else:
            if name in mine and mine[name] is value:
                return
            mine = mine.copy()
            mine[name] = value
        data = data.copy()
        data[self] = mine
        _state_set((token, data))

    def __delattr__(self, name: str) -> None:
        home, data = _state_get(_EMPTY)
        token = _current_token()
        mine = data.get(self) if home is token else None
        if mine is None or name not in mine:
            raise _missing(self, name)
        data = data.copy()
        if len(mine) == 1:
            del data[self]
        else:
            mine = mine.copy()
            del mine[name]
            data[self] = mine
        _state_set((token, data))


class _ThreadCriticalLocal(Local):
    """A `Local` whose values stay on their thread (per task inside a running loop)."""

    __slots__ = ("_asgi_local_thread",)

    def __getattribute__(self, name: str) -> Any:
        if _get_running_loop() is None:
            try:
                return _thread_slot_get(self, _ThreadCriticalLocal).__dict__[name]
            except KeyError:
                pass
        else:
            snapshot = _loop_state_get(_EMPTY)
            try:
                token: object = _tokens.token
            except AttributeError:
                token = _new_token()
            if snapshot[0] is token:
                try:
                    return snapshot[1][self][name]
                except KeyError:
                    pass
        return _object_getattribute(self, name)  # dunders and methods; else AttributeError

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SPECIAL:
            if name == "_data":
                raise _reserved(name)
            _object_setattr(self, name, value)
            return
        if _get_running_loop() is None:
            _thread_slot_get(self, _ThreadCriticalLocal).__dict__[name] = value
            return
        home, data = _loop_state_get(_EMPTY)
        token = _current_token()
        if home is not token:
            _loop_state_set((token, {self: {name: value}}))  # inherited values stay invisible
            return
        mine = data.get(self)
        if mine is None or (len(mine) == 1 and name in mine):
            if mine is not None and mine[name] is value:
                return  # already set here: the snapshot would not change
            mine = {name: value}  # the common case: one attribute per Local
            if len(data) == 1 and self in data:
                _loop_state_set((token, {self: mine}))  # ... and a single Local here
                return
        else:
            if name in mine and mine[name] is value:
                return
            mine = mine.copy()
            mine[name] = value
        data = data.copy()
        data[self] = mine
        _loop_state_set((token, data))

    def __delattr__(self, name: str) -> None:
        if _get_running_loop() is None:
            per_thread = _thread_slot_get(self, _ThreadCriticalLocal).__dict__
            if name not in per_thread:
                raise _missing(self, name)
            del per_thread[name]
            return
        home, data = _loop_state_get(_EMPTY)
        token = _current_token()
        mine = data.get(self) if home is token else None
        if mine is None or name not in mine:
            raise _missing(self, name)
        data = data.copy()
        if len(mine) == 1:
            del data[self]
        else:
            mine = mine.copy()
            del mine[name]
            data[self] = mine
        _loop_state_set((token, data))


_thread_slot = _ThreadCriticalLocal.__dict__["_asgi_local_thread"]
_thread_slot_get = _thread_slot.__get__
_sealed = True
