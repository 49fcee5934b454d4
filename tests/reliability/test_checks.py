"""The suite's own checks can fail: each is shown catching what it is meant to catch."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ._asgi import Client, body_messages, http_scope, request
from ._impl import (
    LONG_LIVED_LIMIT,
    WsgiToAsgi,
    async_to_sync,
    is_long_lived,
    sync_to_async,
)
from ._support import leaked_threads, run


def _park(name: str, release: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=release.wait, args=(10,), name=name, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(10)
def test_a_thread_left_running_is_reported() -> None:
    baseline = set(threading.enumerate())
    release = threading.Event()
    thread = _park("left-running", release)
    try:
        assert leaked_threads(baseline, grace=0.05) == ["left-running"]
    finally:
        release.set()
        thread.join(5)
    assert leaked_threads(baseline, grace=1) == []


@pytest.mark.timeout(10)
def test_pooled_threads_beyond_the_caps_are_reported() -> None:
    baseline = set(threading.enumerate())
    release = threading.Event()
    already = sum(is_long_lived(t) for t in threading.enumerate())
    extra = LONG_LIVED_LIMIT - already + 1
    assert extra > 0, already  # else the subset check below holds for an empty set
    threads = [_park(f"asgi_sync-worker-fake{n}", release) for n in range(extra)]
    try:
        leaked = leaked_threads(baseline, grace=0.05)
        assert {f"asgi_sync-worker-fake{n}" for n in range(extra)} <= set(leaked)
    finally:
        release.set()
        for thread in threads:
            thread.join(5)


def _hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    _ran_on.append(threading.current_thread())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


_ran_on: list[threading.Thread] = []


def _record() -> None:
    _ran_on.append(threading.current_thread())


async def _leaf() -> None:
    _record()
    await sync_to_async(_record, thread_sensitive=False)()


@pytest.mark.timeout(20)
def test_the_long_lived_name_patterns_match_the_threads_the_packages_use() -> None:
    """If a package renames its pooled threads, the prefixes above go stale: this fails."""
    _ran_on.clear()
    app = WsgiToAsgi(_hello)  # the shared pool

    async def main() -> None:
        client = Client(body_messages(b""))
        await request(app, http_scope(), client, 10)
        assert client.status() == 200

    run(main, 15)
    async_to_sync(_leaf)()  # a loop thread, then a pooled worker
    names = [t.name for t in _ran_on]
    assert len(names) == 3, names
    assert names[0].startswith("asgi_sync-worker-"), names  # asgi_wsgi uses asgi_sync's pool
    assert names[1].startswith("asgi_sync-loop-"), names
    assert names[2].startswith("asgi_sync-worker-"), names
    assert all(is_long_lived(t) for t in _ran_on), names
