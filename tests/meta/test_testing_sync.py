"""ApplicationCommunicator used from sync code: construction needs no event loop."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

from asgiref.testing import ApplicationCommunicator

pytestmark = pytest.mark.timeout(10)

SCOPE = {"type": "http", "path": "/"}
Receive = Callable[[], Any]
Send = Callable[[Any], Any]


async def echo(scope: Any, receive: Receive, send: Send) -> None:
    await send({"type": "echo", "got": await receive()})


def test_construction_needs_no_event_loop_and_starts_nothing() -> None:
    started: list[bool] = []

    async def app(scope: Any, receive: Receive, send: Send) -> None:
        started.append(True)

    communicator = ApplicationCommunicator(app, SCOPE)
    communicator.stop()  # never started: nothing to do, nothing raised
    assert started == []

    async def use() -> dict[str, Any]:
        return await communicator.receive_output()

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(use())
    assert started == [True]


def test_future_outside_a_loop_before_start_says_how_to_use_it() -> None:
    communicator = ApplicationCommunicator(echo, SCOPE)
    with pytest.raises(RuntimeError, match="use it from async code"):
        communicator.future  # noqa: B018
