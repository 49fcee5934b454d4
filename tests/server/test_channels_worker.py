"""Channels' worker, which subclasses asgiref.server.StatelessServer, runs on this one."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest
from channels.layers import InMemoryChannelLayer
from channels.worker import Worker

import asgi_stateless_server


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_channels_worker_delivers_channel_messages() -> None:
    assert issubclass(Worker, asgi_stateless_server.StatelessServer)
    received: list[tuple[dict[str, Any], dict[str, Any]]] = []
    two_received = asyncio.Event()

    async def application(scope: dict[str, Any], receive: Callable[[], Any], send: Any) -> None:
        while True:
            message = await receive()
            received.append((scope, message))
            if len(received) == 2:
                two_received.set()

    layer = InMemoryChannelLayer()
    worker = Worker(application, ["jobs"], layer)
    task = asyncio.ensure_future(worker.arun())
    await layer.send("jobs", {"type": "job.run", "n": 1})
    await layer.send("jobs", {"type": "job.run", "n": 2})
    await asyncio.wait_for(two_received.wait(), 5)
    assert [message["n"] for _, message in received] == [1, 2]
    assert received[0][0] == {"type": "channel", "channel": "jobs"}
    assert list(worker.application_instances) == ["jobs"]  # one instance per channel
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert worker.application_instances == {}
