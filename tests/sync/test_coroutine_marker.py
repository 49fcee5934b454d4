"""iscoroutinefunction / markcoroutinefunction, on every Python of the matrix."""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
from typing import Any

from asgi_sync import iscoroutinefunction, markcoroutinefunction


async def coro_func() -> int:
    return 1


def sync_func() -> int:
    return 1


def test_plain_coroutine_function() -> None:
    assert iscoroutinefunction(coro_func) is True


def test_plain_sync_function() -> None:
    assert iscoroutinefunction(sync_func) is False


def test_non_callable() -> None:
    assert iscoroutinefunction(42) is False


def test_partial_of_coroutine_function() -> None:
    assert iscoroutinefunction(functools.partial(coro_func)) is True


def test_bound_async_method() -> None:
    class A:
        async def method(self) -> None:
            pass

    assert iscoroutinefunction(A().method) is True


def test_mark_sync_function() -> None:
    def returns_awaitable() -> Any:
        return coro_func()

    result = markcoroutinefunction(returns_awaitable)
    assert result is returns_awaitable
    assert iscoroutinefunction(returns_awaitable) is True
    assert iscoroutinefunction(functools.partial(returns_awaitable)) is True
    # The same marker the standard library reads.
    if sys.version_info >= (3, 12):
        assert inspect.iscoroutinefunction(returns_awaitable) is True
    else:
        assert asyncio.iscoroutinefunction(returns_awaitable) is True
    coroutine = returns_awaitable()
    assert inspect.iscoroutine(coroutine)
    coroutine.close()


def test_mark_method_marks_function() -> None:
    class A:
        def method(self) -> Any:
            return coro_func()

    a = A()
    markcoroutinefunction(a.method)
    assert iscoroutinefunction(a.method) is True
    assert iscoroutinefunction(A.method) is True


def test_marking_one_function_leaves_others_alone() -> None:
    def marked() -> None:
        pass

    def other() -> None:
        pass

    markcoroutinefunction(marked)
    assert iscoroutinefunction(marked) is True
    assert iscoroutinefunction(other) is False


def test_uses_inspect_on_312_and_a_shim_before() -> None:
    uses_inspect = iscoroutinefunction is inspect.iscoroutinefunction
    assert uses_inspect is (sys.version_info >= (3, 12))
    marker = getattr(inspect, "markcoroutinefunction", None)
    assert (markcoroutinefunction is marker) is uses_inspect
