"""ASGI 2 / ASGI 3 callable-style detection and adaptation."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_sync.compatibility import (
    double_to_single_callable,
    guarantee_single_callable,
    is_double_callable,
)


class DoubleApp:
    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> Any:
        await send({"scope": self.scope, "received": await receive()})
        return "double"


async def single_app(scope: Any, receive: Any, send: Any) -> Any:
    await send({"scope": scope, "received": await receive()})
    return "single"


class SingleObject:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        return await single_app(scope, receive, send)


def test_class_is_double() -> None:
    assert is_double_callable(DoubleApp) is True


def test_coroutine_function_is_single() -> None:
    assert is_double_callable(single_app) is False


def test_object_with_async_call_is_single() -> None:
    assert is_double_callable(SingleObject()) is False


def test_plain_function_is_double() -> None:
    def factory(scope: Any) -> Any:
        return DoubleApp(scope)

    assert is_double_callable(factory) is True


def test_lambda_is_double() -> None:
    assert is_double_callable(lambda scope: DoubleApp(scope)) is True


def test_single_marker_wins_over_class() -> None:
    class Marked(DoubleApp):
        _asgi_single_callable = True

    assert is_double_callable(Marked) is False


def test_double_marker_wins_over_coroutine_function() -> None:
    async def marked(scope: Any, receive: Any, send: Any) -> None:
        pass

    marked._asgi_double_callable = True  # type: ignore[attr-defined]
    assert is_double_callable(marked) is True


def test_false_markers_are_ignored() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    app._asgi_single_callable = False  # type: ignore[attr-defined]
    app._asgi_double_callable = False  # type: ignore[attr-defined]
    assert is_double_callable(app) is False


@pytest.mark.asyncio
async def test_double_to_single_calls_through() -> None:
    sent: list[Any] = []

    async def receive() -> str:
        return "in"

    async def send(message: Any) -> None:
        sent.append(message)

    app = double_to_single_callable(DoubleApp)
    assert await app({"type": "http"}, receive, send) == "double"
    assert sent == [{"scope": {"type": "http"}, "received": "in"}]


def test_guarantee_single_leaves_single_alone() -> None:
    assert guarantee_single_callable(single_app) is single_app
    instance = SingleObject()
    assert guarantee_single_callable(instance) is instance


@pytest.mark.asyncio
async def test_guarantee_single_wraps_double() -> None:
    sent: list[Any] = []

    async def receive() -> str:
        return "x"

    async def send(message: Any) -> None:
        sent.append(message)

    app = guarantee_single_callable(DoubleApp)
    assert app is not DoubleApp
    assert is_double_callable(app) is False
    assert await app({"k": 1}, receive, send) == "double"
    assert sent == [{"scope": {"k": 1}, "received": "x"}]
