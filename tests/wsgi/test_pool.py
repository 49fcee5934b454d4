"""The worker pool: bounded, on demand, and fresh after fork()."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from asgi_wsgi import wsgi_to_asgi


@pytest.mark.timeout(10)
def test_pool_never_exceeds_max_workers() -> None:
    pool = wsgi_to_asgi._WorkerPool(2)
    release = threading.Event()
    names: set[str] = set()
    done = threading.Semaphore(0)

    def job() -> None:
        names.add(threading.current_thread().name)
        release.wait(5)
        done.release()

    for _ in range(5):
        pool.submit(job)
    release.set()
    for _ in range(5):
        assert done.acquire(timeout=5)
    assert len(names) == 2
    pool.shutdown()


@pytest.mark.timeout(10)
def test_pool_starts_fresh_in_a_forked_child(monkeypatch: Any) -> None:
    """Simulate fork() by changing the pid the pool sees: no reuse of the parent's threads."""
    pool = wsgi_to_asgi._WorkerPool(1)
    ran = threading.Event()
    pool.submit(ran.set)
    assert ran.wait(5)
    old_jobs = pool._jobs
    monkeypatch.setattr(wsgi_to_asgi.os, "getpid", lambda: -12345)  # type: ignore[attr-defined]
    again = threading.Event()
    pool.submit(again.set)
    assert again.wait(5)
    assert pool._jobs is not old_jobs
    pool.shutdown()


@pytest.mark.timeout(10)
def test_idle_workers_exit() -> None:
    pool = wsgi_to_asgi._WorkerPool(2)
    threads: list[threading.Thread] = []
    ran = threading.Event()

    def job() -> None:
        threads.append(threading.current_thread())
        ran.set()

    pool.submit(job)
    assert ran.wait(5)
    threads[0].join(wsgi_to_asgi._IDLE_TIMEOUT + 3)
    assert not threads[0].is_alive()
    ran.clear()
    pool.submit(job)  # a new worker starts on demand
    assert ran.wait(5)
    pool.shutdown()


@pytest.mark.timeout(10)
def test_dropping_the_pool_ends_its_threads() -> None:
    import gc

    pool = wsgi_to_asgi._WorkerPool(2)
    threads: list[threading.Thread] = []
    ran = threading.Event()

    def job() -> None:
        threads.append(threading.current_thread())
        ran.set()

    pool.submit(job)
    assert ran.wait(5)
    del pool
    gc.collect()
    threads[0].join(wsgi_to_asgi._IDLE_TIMEOUT / 2)  # well before the idle timeout
    assert not threads[0].is_alive()
