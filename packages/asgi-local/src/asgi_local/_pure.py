"""Pure-Python attribute access of `Local`, used when the C accelerator is unavailable.

Mirrors `asgi_local._speedups` class for class (``LocalBase``, ``DefaultCore``,
``CriticalCore``) over the same state (`asgi_local._state`), so either one can back the
public classes. The get paths are a handful of C calls each; writing the object an
attribute already holds changes nothing, so it returns early.

Only one of the two backs `Local` in a process. They share the `ContextVar`s but not the
thread tokens (this one keeps them in a `threading.local`), so instances of both writing
into one context would hide each other's values.
"""

from __future__ import annotations

import threading
from asyncio.events import _get_running_loop
from typing import Any, Callable

from asgi_local import _state
from asgi_local._state import Snapshot

__all__ = ("CriticalCore", "DefaultCore", "LocalBase")

_EMPTY = _state.EMPTY
_tokens = _state.tokens
_new_token = _state.new_token
_state_get = _state.state.get
_state_set = _state.state.set
_loop_state_get = _state.loop_state.get
_loop_state_set = _state.loop_state.set
_object_getattribute = object.__getattribute__
_object_new = object.__new__


class LocalBase:
    """Layout shared by both modes: weak-referenceable, nothing else."""

    __slots__ = ("__weakref__",)

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        local = _object_new(cls)
        if issubclass(cls, CriticalCore):
            _thread_slot_set(local, threading.local())
        return local


class DefaultCore(LocalBase):
    """Attribute access of a default-mode Local: values per context."""

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
        if name == "_data" or name == "__class__":
            _state.set_special(self, name, value)
        else:
            _store(_state_get, _state_set, self, name, value)

    def __delattr__(self, name: str) -> None:
        _state.delete_default(self, name)


class CriticalCore(LocalBase):
    """Attribute access of a thread_critical Local: per thread, per task in a loop."""

    __slots__ = ("_asgi_local_thread",)

    def __getattribute__(self, name: str) -> Any:
        if _get_running_loop() is None:
            try:
                return _thread_slot_get(self, CriticalCore).__dict__[name]
            except KeyError:
                pass
        else:  # DefaultCore's lookup, inlined: a shared helper would cost a frame per read
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
        if name == "_data" or name == "__class__":
            _state.set_special(self, name, value)
        elif _get_running_loop() is None:
            _thread_slot_get(self, CriticalCore).__dict__[name] = value
        else:
            _store(_loop_state_get, _loop_state_set, self, name, value)

    def __delattr__(self, name: str) -> None:
        _state.delete_critical(self, name)


def _store(
    get: Callable[[Snapshot], Snapshot],
    set_: Callable[[Snapshot], object],
    local: LocalBase,
    name: str,
    value: Any,
) -> None:
    """Write ``name = value`` for *local* into a new snapshot; copy only what changes."""
    home, data = get(_EMPTY)
    try:
        token: object = _tokens.token
    except AttributeError:
        token = _new_token()
    if home is not token:
        set_((token, {local: {name: value}}))  # inherited values stay invisible
        return
    mine = data.get(local)
    if mine is None:
        mine = {name: value}
    elif name in mine and len(mine) == 1:
        if mine[name] is value:
            return  # already set here: the snapshot would not change
        mine = {name: value}  # the common case: one attribute per Local
        if len(data) == 1:
            set_((token, {local: mine}))  # ... and a single Local in the context
            return
    else:
        if name in mine and mine[name] is value:
            return
        mine = mine.copy()
        mine[name] = value
    data = data.copy()
    data[local] = mine
    set_((token, data))


_thread_slot = CriticalCore.__dict__["_asgi_local_thread"]
_thread_slot_get = _thread_slot.__get__
_thread_slot_set = _thread_slot.__set__
