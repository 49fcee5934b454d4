"""Channels' Redis layer (channels_redis) against a real redis-server, through asgiref-meta.

channels_redis keeps one connection pool per event loop and frees it from a wrapper it puts
on `loop.close()`; so `async_to_sync(layer.group_send)` from sync code must end each call's
loop the way asgiref (and `asyncio.run`) does, or pools and connections pile up.
"""

from __future__ import annotations

import gc
import pathlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from asgiref.sync import async_to_sync
from tests.meta._djangoapp_server import serve_djangoapp
from tests.server.conftest import redis_url as redis_url


def _layer(url: str) -> Any:
    from channels_redis.core import RedisChannelLayer

    return RedisChannelLayer(hosts=[url], capacity=1000)


def _other_clients(url: str) -> int:
    """How many clients besides this check are connected to the Redis server."""
    import redis

    with redis.Redis.from_url(url) as client:
        return len(client.client_list()) - 1


def _clients_settle_to(url: str, expected: int, timeout: float = 5.0) -> int:
    """Wait until the server counts ``expected`` other clients; return the last count.

    The server drops a closed connection when it next polls its sockets: there is no event
    to wait on from here, so poll briefly.
    """
    deadline = time.monotonic() + timeout
    count = _other_clients(url)
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        count = _other_clients(url)
    return count


async def _receive_all(layer: Any, channel: str, count: int) -> list[str]:
    return [(await layer.receive(channel))["text"] for _ in range(count)]


@pytest.mark.timeout(60)
def test_group_send_from_sync_code_leaves_no_pool_behind(redis_url: str) -> None:
    layer = _layer(redis_url)
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("sync-code", channel)
    for n in range(100):
        async_to_sync(layer.group_send)("sync-code", {"type": "note", "text": str(n)})
        gc.collect()
        # channels_redis's own check: the call's per-loop layer is gone once it returned.
        assert layer._layers == {}, n
    assert async_to_sync(_receive_all)(layer, channel, 100) == [str(n) for n in range(100)]
    assert layer._layers == {}
    assert _clients_settle_to(redis_url, 0) == 0


@pytest.mark.timeout(60)
def test_group_send_from_several_threads(redis_url: str) -> None:
    layer = _layer(redis_url)
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("threads", channel)
    start = threading.Barrier(8, timeout=20)

    def sender(thread: int) -> None:
        start.wait()
        for n in range(25):
            message = {"type": "note", "text": f"{thread}-{n}"}
            async_to_sync(layer.group_send)("threads", message)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(sender, range(8)))
    received = async_to_sync(_receive_all)(layer, channel, 200)
    assert sorted(received) == sorted(f"{t}-{n}" for t in range(8) for n in range(25))
    gc.collect()
    assert layer._layers == {}
    assert _clients_settle_to(redis_url, 0) == 0


@pytest.fixture
def django_url(redis_url: str, tmp_path: pathlib.Path) -> Iterator[str]:
    """uvicorn serving tests.meta.djangoapp with channels_redis as its channel layer."""
    database = tmp_path / "db.sqlite3"
    with serve_djangoapp(database, ASGIREF_META_TEST_REDIS=redis_url) as (url, _):
        yield url


@pytest.mark.timeout(90)
def test_group_send_from_a_django_sync_view_under_uvicorn(
    django_url: str,
    redis_url: str,
) -> None:
    layer = _layer(redis_url)
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("django", channel)
    assert _clients_settle_to(redis_url, 0) == 0  # this process's calls closed theirs

    def hit(client: httpx.Client, text: str) -> dict[str, Any]:
        response = client.get("/group-send/", params={"group": "django", "text": text})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    with httpx.Client(base_url=django_url, timeout=30) as client:
        first = hit(client, "0")  # waits for Django to be ready
        assert first["sent"] == "0"
        assert first["thread"] != "MainThread"  # a sync view: run on a worker thread
        after_one = _other_clients(redis_url)
        for n in range(1, 10):
            hit(client, str(n))
        # The server's layer reuses its loop's pool: one request at a time, one connection.
        assert _clients_settle_to(redis_url, after_one) == after_one
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda n: hit(client, str(n)), range(10, 50)))
        # 40 requests, 10 at a time, grow the pool to at most 10: no connection per call.
        assert _other_clients(redis_url) <= 10 + after_one
    received = async_to_sync(_receive_all)(layer, channel, 50)
    assert sorted(received, key=int) == [str(n) for n in range(50)]
    gc.collect()
    assert layer._layers == {}
