"""Canaries for internals that other projects are known to patch or override.

These are not promises of a stable API. APM agents change ``args[0].keywords`` in
``SyncToAsync.thread_handler``, Channels overrides ``thread_handler``, and some code wraps
``AsyncToSync.main_wrap`` or reads the class-level executor state. If one of these tests
breaks, decide whether the change is worth breaking those users, and say so in the
changelog.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import weakref
from concurrent.futures import Executor, Future
from typing import Any

import pytest

from asgi_sync import AsyncToSync, CurrentThreadExecutor, SyncToAsync, async_to_sync, sync_to_async


@pytest.mark.asyncio
async def test_thread_handler_gets_a_partial_whose_keywords_can_change() -> None:
    seen: list[Any] = []

    class Patched(SyncToAsync):
        def thread_handler(
            self, loop: Any, exc_info: Any, task_context: Any, func: Any, *args: Any, **kwargs: Any
        ) -> Any:
            seen.append((loop, type(args[0])))
            args[0].keywords["extra"] = "added"
            return super().thread_handler(loop, exc_info, task_context, func, *args, **kwargs)

    def target(**kwargs: Any) -> Any:
        return kwargs

    assert await Patched(target)(a=1) == {"a": 1, "extra": "added"}
    assert seen == [(asyncio.get_running_loop(), functools.partial)]


def test_main_wrap_can_be_wrapped() -> None:
    calls: list[str] = []
    original = AsyncToSync.main_wrap

    async def wrapped(self: Any, *args: Any, **kwargs: Any) -> None:
        calls.append("before")
        await original(self, *args, **kwargs)

    async def coro() -> int:
        return 3

    AsyncToSync.main_wrap = wrapped  # type: ignore[method-assign]
    try:
        assert async_to_sync(coro)() == 3
    finally:
        AsyncToSync.main_wrap = original  # type: ignore[method-assign]
    assert calls == ["before"]


def test_class_level_state_exists() -> None:
    assert isinstance(SyncToAsync.thread_sensitive_context, contextvars.ContextVar)
    assert isinstance(SyncToAsync.context_to_thread_executor, weakref.WeakKeyDictionary)
    assert isinstance(SyncToAsync.single_thread_executor, Executor)
    assert AsyncToSync.executors.current is None

    async def inner() -> Any:
        return AsyncToSync.executors.current

    assert isinstance(async_to_sync(inner)(), CurrentThreadExecutor)


@pytest.mark.asyncio
async def test_single_thread_executor_can_be_replaced() -> None:
    class Recording(Executor):
        def __init__(self) -> None:
            self.calls = 0

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            self.calls += 1
            future: Future[Any] = Future()
            threading.Thread(
                daemon=True, target=lambda: future.set_result(fn(*args, **kwargs))
            ).start()
            return future

    recording = Recording()
    original = SyncToAsync.single_thread_executor
    SyncToAsync.single_thread_executor = recording
    try:
        assert await sync_to_async(lambda: 5)() == 5
    finally:
        SyncToAsync.single_thread_executor = original
    assert recording.calls == 1
