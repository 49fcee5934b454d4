"""State shared by both implementations of `Local` (C accelerator and pure Python).

Default-mode values of every `Local` live in one `ContextVar` whose value is an immutable
snapshot ``(home, {local: {name: value}})``; ``home`` is a token of the thread the context
legitimately runs on, and a read on any other thread sees nothing. ``thread_critical``
values live in a per-instance `threading.local`, or, while an event loop runs on the
thread, in a second snapshot `ContextVar` that the bridges never re-home.

Writes (in `asgi_local._pure` or the C accelerator) replace the snapshot; only deletion and
the reserved names are handled here, by code both implementations share.
"""

from __future__ import annotations

import os
import threading
from asyncio.events import _get_running_loop
from contextvars import ContextVar
from types import ModuleType
from typing import Any, Callable, Dict, Tuple

__all__ = ()

PURE_PYTHON_ENV = "ASGI_LOCAL_PURE_PYTHON"


class _ThreadToken:
    """Identity of one thread; unlike `threading.get_ident()` it is never reused."""

    __slots__ = ("__weakref__",)


Data = Dict[object, Dict[str, Any]]  # {local: {name: value}}
Snapshot = Tuple[object, Data]

EMPTY: Snapshot = (None, {})

state: ContextVar[Snapshot] = ContextVar("asgi_local.state")
loop_state: ContextVar[Snapshot] = ContextVar("asgi_local.thread_critical_state")

# The pure-Python token store; the accelerator keeps its own in the thread-state dict.
tokens = threading.local()


def new_token() -> object:
    token = _ThreadToken()
    tokens.token = token
    return token


def _pure_current_token() -> object:
    try:
        token: object = tokens.token
    except AttributeError:
        token = new_token()
    return token


def missing(local: object, name: str) -> AttributeError:
    message = (
        f"{type(local).__name__!r} object has no attribute {name!r}: it was never set in "
        "this context, or was deleted; use getattr(local, name, default) to read it optionally"
    )
    return AttributeError(message)


def reserved(name: str) -> AttributeError:
    message = (
        f"Cannot set attribute {name!r} on Local: the name is reserved "
        "(it named internal storage in older asgiref releases); use another attribute name"
    )
    return AttributeError(message)


def set_special(local: object, name: str, value: Any) -> None:
    """Assign one of the names that are not Local data: ``_data`` and ``__class__``."""
    if name == "_data":
        raise reserved(name)
    object.__setattr__(local, name, value)


def delete_from_snapshot(var: ContextVar[Snapshot], local: object, name: str) -> None:
    home, data = var.get(EMPTY)
    token = current_token()
    mine = data.get(local) if home is token else None
    if mine is None or name not in mine:
        raise missing(local, name)
    data = data.copy()
    if len(mine) == 1:
        del data[local]
    else:
        mine = mine.copy()
        del mine[name]
        data[local] = mine
    var.set((token, data))


def delete_default(local: object, name: str) -> None:
    delete_from_snapshot(state, local, name)


def delete_critical(local: object, name: str) -> None:
    if _get_running_loop() is not None:
        delete_from_snapshot(loop_state, local, name)
        return
    per_thread: Dict[str, Any] = object.__getattribute__(local, "_asgi_local_thread").__dict__
    if name not in per_thread:
        raise missing(local, name)
    del per_thread[name]


def _load_speedups() -> ModuleType | None:
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        from asgi_local import _speedups

        _speedups.configure(
            state,
            loop_state,
            _get_running_loop,
            _ThreadToken,
            threading.local,
            set_special,
            delete_default,
            delete_critical,
        )
    except ImportError:  # not built, or already serving another (sub)interpreter
        return None
    return _speedups


speedups = _load_speedups()
current_token: Callable[[], object] = (
    _pure_current_token if speedups is None else speedups.thread_token
)
