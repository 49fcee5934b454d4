"""Reset per-process state in a forked child, instead of a getpid() check per request (private).

Objects that hold threads or locks of their process register here; in a forked child (which
has only the thread that forked) each one's `_forget_parent()` runs once, right after fork().
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class _ForgetsParent(Protocol):
    def _forget_parent(self) -> None: ...


_registered: weakref.WeakSet[_ForgetsParent] = weakref.WeakSet()


def forget_in_forked_child(owner: _ForgetsParent) -> None:
    """Call `owner._forget_parent()` in a child forked after this call (weakly held)."""
    _registered.add(owner)


def _forget_parent_state() -> None:
    for owner in list(_registered):
        owner._forget_parent()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_state)
