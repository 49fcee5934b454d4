"""Channels consumers, driven by Channels' WebsocketCommunicator (an ApplicationCommunicator)."""

from __future__ import annotations

import os
import threading
from typing import Any
from unittest import mock

import pytest

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(20)]


@pytest.fixture(scope="module", autouse=True)
def _django(tmp_path_factory: pytest.TempPathFactory) -> None:
    from django.conf import settings

    if not settings.configured:
        os.environ["ASGIREF_META_TEST_DB"] = str(tmp_path_factory.mktemp("channels") / "db.sqlite3")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.meta.djangoapp.settings")
    import django

    django.setup()


def _consumers() -> tuple[Any, Any]:
    from channels.generic.websocket import AsyncJsonWebsocketConsumer, WebsocketConsumer

    class Echo(WebsocketConsumer):
        """Sync consumer: Channels runs its handlers through SyncToAsync."""

        def connect(self) -> None:
            self.accept()

        def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
            if text_data is not None:
                self.send(text_data=f"echo:{text_data}:{threading.current_thread().name}")
            else:
                self.send(bytes_data=bytes_data)

    class JsonCounter(AsyncJsonWebsocketConsumer):
        """Async JSON consumer that also touches the database via database_sync_to_async."""

        async def connect(self) -> None:
            await self.accept()

        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            from channels.db import database_sync_to_async

            def sum_in_db(values: list[int]) -> int:
                from django.db import connection

                with connection.cursor() as cursor:
                    cursor.execute("SELECT " + " + ".join("%s" for _ in values), values)
                    return int(cursor.fetchone()[0])

            total = await database_sync_to_async(sum_in_db)(content["values"])
            await self.send_json({"total": total, "seen": content})

    return Echo, JsonCounter


async def test_sync_websocket_consumer() -> None:
    from channels.testing import WebsocketCommunicator

    echo, _ = _consumers()
    communicator = WebsocketCommunicator(echo.as_asgi(), "/ws/echo/")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_to(text_data="hi")
    reply = await communicator.receive_from()
    assert reply.startswith("echo:hi:")
    assert not reply.endswith(threading.current_thread().name)  # ran on a worker thread
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert await communicator.receive_from() == b"\x00\x01"
    assert await communicator.receive_nothing() is True
    await communicator.disconnect()


async def test_async_json_consumer_with_database_sync_to_async() -> None:
    from channels.testing import WebsocketCommunicator

    _, counter = _consumers()
    communicator = WebsocketCommunicator(counter.as_asgi(), "/ws/json/")
    connected, _ = await communicator.connect()
    assert connected
    for values in ([1, 2, 3], [40, 2]):
        await communicator.send_json_to({"values": values})
        reply = await communicator.receive_json_from()
        assert reply == {"total": sum(values), "seen": {"values": values}}
    await communicator.disconnect()


async def test_database_sync_to_async_runs_its_thread_handler_override() -> None:
    """DatabaseSyncToAsync overrides thread_handler to close connections around the call."""
    from channels.db import DatabaseSyncToAsync, database_sync_to_async

    from asgiref.sync import SyncToAsync

    assert issubclass(DatabaseSyncToAsync, SyncToAsync)
    ran_on: list[int] = []

    def double(x: int) -> int:
        ran_on.append(threading.get_ident())
        return x * 2

    with mock.patch("channels.db.close_old_connections") as close:
        result = await database_sync_to_async(double)(21)
    assert result == 42
    assert close.call_count == 2  # before and after, in the overridden thread_handler
    assert len(ran_on) == 1
    assert ran_on[0] != threading.get_ident()


async def test_communicator_is_built_on_application_communicator() -> None:
    from channels.testing import WebsocketCommunicator

    from asgiref.testing import ApplicationCommunicator

    assert issubclass(WebsocketCommunicator, ApplicationCommunicator)
