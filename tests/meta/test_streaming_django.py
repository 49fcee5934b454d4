"""Streaming a Django export in bounded memory through asgi_sync.iterators, real servers.

The project is `examples.streaming` (SQLite, rows read with the ORM's `.iterator()` /
`.aiterator()`), served by uvicorn (ASGI, a sync generator through `sync_to_async_iter`)
and by gunicorn (WSGI, an async generator through `async_to_sync_iter`). The client is
`examples.streaming.client` (http.client, RSS of the serving process sampled every 5 ms).
The benchmark does the same with 1 GiB; 64 MiB here is enough to tell a bounded server
from one that holds the body.
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Iterator

import django
import pytest

from examples.streaming.client import StreamingServer

SIZE = 64 * 1024 * 1024
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def asgi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamingServer]:
    with StreamingServer("asgi", str(tmp_path_factory.mktemp("asgi") / "db.sqlite3")) as server:
        yield server


@pytest.fixture(scope="module")
def wsgi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamingServer]:
    with StreamingServer("wsgi", str(tmp_path_factory.mktemp("wsgi") / "db.sqlite3")) as server:
        yield server


def _report(tail: bytes) -> dict[str, object]:
    _, _, text = tail.rpartition(b"\nREPORT ")
    return json.loads(text)


def _assert_bridged_bounded_and_plain_held_whole(server: StreamingServer, rows: str) -> None:
    server.fetch(f"{rows}/bridged?bytes={MIB}")  # warm up
    bridged = server.fetch(f"{rows}/bridged?bytes={SIZE}", watch=True)
    plain = server.fetch(f"{rows}/plain?bytes={SIZE}", watch=True)
    assert bridged.size == plain.size == SIZE
    assert bridged.rss_growth < 16 * MIB, bridged
    # The same measurement sees the server hold the unbridged body whole.
    assert plain.rss_growth > SIZE * 3 // 4, plain


@pytest.mark.timeout(120)
def test_asgi_first_byte_arrives_while_the_generator_waits(
    asgi_server: StreamingServer, tmp_path: pathlib.Path
) -> None:
    # The generator waits after its first row until the client has had a byte: a server
    # that read the generator to the end first would time the generator out instead.
    gate = str(tmp_path / "gate")
    got = asgi_server.fetch(f"/sync-rows/bridged?bytes={MIB}&report=1&gate={gate}", gate=gate)
    assert got.status == 200
    assert got.size > MIB
    report = _report(got.tail)
    # Thread-sensitive: every row was read on the thread the view ran on, with one
    # database connection (Django's connections are per thread).
    assert report["threads"] == [report["view_thread"]]
    assert report["connections"] == 1


@pytest.mark.timeout(120)
def test_asgi_memory_stays_bounded_where_a_plain_generator_is_held_whole(
    asgi_server: StreamingServer,
) -> None:
    _assert_bridged_bounded_and_plain_held_whole(asgi_server, "/sync-rows")


@pytest.mark.timeout(120)
def test_wsgi_first_byte_arrives_while_the_async_generator_waits(
    wsgi_server: StreamingServer, tmp_path: pathlib.Path
) -> None:
    gate = str(tmp_path / "gate")
    got = wsgi_server.fetch(f"/async-rows/bridged?bytes={MIB}&report=1&gate={gate}", gate=gate)
    assert got.status == 200
    assert got.size > MIB
    report = _report(got.tail)
    # The async generator ran on one event loop thread for the whole response.
    assert len(report["threads"]) == 1  # type: ignore[arg-type]


@pytest.mark.timeout(120)
def test_wsgi_memory_stays_bounded_where_a_plain_async_generator_is_held_whole(
    wsgi_server: StreamingServer,
) -> None:
    _assert_bridged_bounded_and_plain_held_whole(wsgi_server, "/async-rows")


def _wait_for_file(path: pathlib.Path, seconds: float = 20) -> dict[str, int | bool]:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"the generator's finally never ran ({path})"
        time.sleep(0.02)
    return json.loads(path.read_text())


@pytest.mark.timeout(120)
def test_asgi_client_hanging_up_closes_the_generator_on_the_view_thread(
    asgi_server: StreamingServer, tmp_path: pathlib.Path
) -> None:
    marker = tmp_path / "finally.json"
    got = asgi_server.fetch_and_hang_up(
        f"/sync-rows/bridged?bytes={SIZE}&finally_file={marker}", 2 * MIB
    )
    assert 2 * MIB <= got < SIZE
    where = _wait_for_file(marker)
    # Closed, not run to the end (Django 5 stops a response whose client went away;
    # Django 4.2, the 3.9 leg, streams on into the void, so there it ends by exhaustion),
    # and either way on the thread the view and every row ran on.
    if django.VERSION >= (5, 0):
        assert where["completed"] is False
    assert where["thread"] == where["view_thread"]


@pytest.mark.timeout(120)
def test_wsgi_client_hanging_up_closes_the_async_generator(
    wsgi_server: StreamingServer, tmp_path: pathlib.Path
) -> None:
    marker = tmp_path / "finally.json"
    got = wsgi_server.fetch_and_hang_up(
        f"/async-rows/bridged?bytes={SIZE}&finally_file={marker}", 2 * MIB
    )
    assert 2 * MIB <= got < SIZE
    where = _wait_for_file(marker)
    # Closed by aclose() on the event loop (not on the WSGI worker thread that iterated).
    assert where["completed"] is False
    assert where["thread"] != where["view_thread"]
