"""Types of the optional C accelerator (see `asgi_local._pure` for the Python twin)."""

from contextvars import ContextVar
from typing import Any, Callable

from asgi_local._pure import CriticalCore as CriticalCore
from asgi_local._pure import DefaultCore as DefaultCore
from asgi_local._pure import LocalBase as LocalBase

SOURCE_HASH: str

def configure(
    state: ContextVar[Any],
    loop_state: ContextVar[Any],
    get_running_loop: Callable[[], object],
    token_type: Callable[[], object],
    thread_local_type: Callable[[], object],
    special_setattr: Callable[[Any, str, Any], None],
    default_delattr: Callable[[Any, str], None],
    critical_delattr: Callable[[Any, str], None],
    /,
) -> None: ...
def thread_token() -> object: ...
