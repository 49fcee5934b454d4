"""A Django project served by uvicorn, with asgiref-meta in place of asgiref."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.meta._djangoapp_server import serve_djangoapp


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn serving tests.meta.djangoapp in a subprocess."""
    database = tmp_path_factory.mktemp("django") / "db.sqlite3"
    with serve_djangoapp(database) as (url, server):
        # The first request waits for Django to be ready.
        try:
            response = httpx.get(f"{url}/async/", timeout=20)
        except httpx.HTTPError as exc:
            server.kill()
            text = server.communicate()[0].decode(errors="replace")
            pytest.fail(f"the Django server did not answer ({exc!r}); its output:\n{text}")
        assert response.status_code == 200, response.text
        yield url


@pytest.mark.timeout(30)
def test_sync_and_async_views_on_one_keep_alive_connection(base_url: str) -> None:
    ports = set()
    with httpx.Client(base_url=base_url, timeout=10) as client:
        before = client.get("/async/").json()["count"]
        for number in range(1, 6):
            response = client.get("/sync/", params={"label": f"seq{number}"})
            assert response.status_code == 200
            body = response.json()
            assert body["count"] == before + number
            # Thread-sensitive: the sync middleware and the sync view share one thread,
            # a worker (the server runs async, so never the main thread).
            assert body["same_thread_as_middleware"] is True
            assert body["main_thread"] is False
            ports.add(body["remote_port"])
            hello = client.get("/async/", params={"name": f"n{number}"})
            assert hello.json() == {"hello": f"n{number}", "count": before + number}
    assert len(ports) == 1, f"expected one keep-alive connection, saw client ports {ports}"


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_concurrent_requests(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        # Each view waits until all eight are in flight at once: served one after another,
        # the first would give up after 5 s and answer together=False.
        group = f"overlap-{id(client)}"
        waiting = [
            client.get("/async/", params={"together": f"{group}:8", "name": str(i)})
            for i in range(8)
        ]
        responses = await asyncio.gather(*waiting)
        assert [r.json()["hello"] for r in responses] == [str(i) for i in range(8)]
        assert all(r.json()["together"] is True for r in responses)

        before = (await client.get("/async/")).json()["count"]
        hits = await asyncio.gather(
            *(client.get("/sync/", params={"label": "c"}) for _ in range(10))
        )
        bodies = [r.json() for r in hits]
        assert all(r.status_code == 200 for r in hits)
        assert all(b["same_thread_as_middleware"] for b in bodies)
        assert sorted(b["count"] for b in bodies)[-1] == before + 10
        after = (await client.get("/async/")).json()["count"]
        assert after == before + 10
