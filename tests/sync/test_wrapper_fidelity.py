"""The wrappers' public attributes, async_to_sync's construction rules, forked children."""

from __future__ import annotations

import contextvars
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from asgi_sync import AsyncToSync, SyncToAsync, async_to_sync, sync_to_async
from asgi_sync.current_thread_executor import _queue_of_current_thread


class NamesLikeTheWrapper:
    """A callable object whose attributes collide with SyncToAsync's own names."""

    def __init__(self) -> None:
        self.func = "not the function"
        self.context = "not a context"
        self._executor = "not an executor"
        self._thread_sensitive = "not a flag"
        self._context = "not a context either"
        self.thread_handler = "not a method"
        self.custom = "kept"

    def __call__(self, x: int) -> int:
        return x + 1


class AsyncNamesLikeTheWrapper:
    def __init__(self) -> None:
        self.awaitable = "not the coroutine function"
        self.force_new_loop = "not a flag"
        self.main_wrap = "not a method"
        self.custom = "kept"

    async def __call__(self, x: int) -> int:
        return x * 2


def plain(x: int) -> int:
    return x


def test_sync_to_async_has_public_func_and_context() -> None:
    wrapped = sync_to_async(plain)
    assert isinstance(wrapped, SyncToAsync)
    assert wrapped.func is plain
    assert wrapped.context is None
    given = contextvars.copy_context()
    assert SyncToAsync(plain, context=given).context is given


@pytest.mark.asyncio
async def test_sync_to_async_attributes_win_over_the_callables() -> None:
    target = NamesLikeTheWrapper()
    wrapped = SyncToAsync(target)
    assert wrapped.func is target
    assert wrapped.context is None
    assert wrapped.custom == "kept"  # type: ignore[attr-defined]
    assert await wrapped(1) == 2
    assert await SyncToAsync(target, thread_sensitive=False)(2) == 3


def test_async_to_sync_attributes_win_over_the_callables() -> None:
    target = AsyncNamesLikeTheWrapper()
    wrapped = AsyncToSync(target)
    assert wrapped.awaitable is target
    assert wrapped.force_new_loop is False
    assert wrapped.custom == "kept"  # type: ignore[attr-defined]
    assert wrapped(3) == 6


def test_async_to_sync_of_a_non_callable_warns_once_and_does_not_raise() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wrapped = async_to_sync(5)  # type: ignore[call-overload]
    assert [(w.category, str(w.message)) for w in caught] == [
        (UserWarning, "async_to_sync was passed a non-async-marked callable")
    ]
    assert isinstance(wrapped, AsyncToSync)


def test_calling_the_wrapper_of_a_non_callable_raises_type_error_and_leaves_state() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapped = async_to_sync(5)  # type: ignore[call-overload]
    queue = _queue_of_current_thread()
    depth = queue.depth
    with pytest.raises(TypeError, match=r"^async_to_sync was given 5, which is not callable: "):
        wrapped()
    assert queue.depth == depth
    assert AsyncToSync.executors.current is None

    async def works() -> int:
        return 1

    assert async_to_sync(works)() == 1  # the thread's bridge still works


def test_async_to_sync_of_a_coroutine_function_does_not_warn() -> None:
    async def coro() -> None:
        pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        async_to_sync(coro)


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_async_to_sync_in_a_child_forked_from_a_sync_to_async_thread() -> None:
    script = textwrap.dedent(
        """
        import asyncio, os, signal, threading
        from asgi_sync import async_to_sync, sync_to_async

        async def coro():
            await asyncio.sleep(0)
            return threading.current_thread().name

        def fork_here():
            pid = os.fork()
            if pid == 0:
                signal.alarm(10)  # a hang ends the child instead of the test run
                try:
                    name = async_to_sync(coro)()
                    os._exit(0 if name.startswith("asgi_sync-loop-") else 2)
                except BaseException:
                    os._exit(1)
            _, status = os.waitpid(pid, 0)
            return status

        async def main():
            return await sync_to_async(fork_here)()

        status = asyncio.run(main())
        raise SystemExit(status >> 8 if status & 0xFF == 0 else 128 + (status & 0x7F))
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert result.returncode == 0, (result.returncode, result.stderr)
