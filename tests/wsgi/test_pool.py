"""The bound on concurrent WSGI calls, over asgi_sync's pooled threads, fresh after fork()."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from asgi_wsgi import _fork, _pool


@pytest.mark.timeout(10)
def test_pool_never_exceeds_max_workers() -> None:
    pool = _pool._Pool(2)
    release = threading.Event()
    lock = threading.Lock()
    active = peak = 0
    done = threading.Semaphore(0)
    started = threading.Semaphore(0)

    def job() -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        started.release()
        release.wait(5)
        with lock:
            active -= 1
        done.release()

    for _ in range(6):
        pool.submit(job)
    assert started.acquire(timeout=5)
    assert started.acquire(timeout=5)  # two run at once...
    assert not started.acquire(timeout=0.2)  # ...and no third while they do
    release.set()
    for _ in range(6):
        assert done.acquire(timeout=5)
    assert peak == 2


@pytest.mark.timeout(10)
def test_jobs_run_on_asgi_sync_threads() -> None:
    """asgi-wsgi owns no threads: the calls run on asgi_sync's pooled workers."""
    pool = _pool._Pool(2)
    names: list[str] = []
    ran = threading.Event()

    def job() -> None:
        names.append(threading.current_thread().name)
        ran.set()

    pool.submit(job)
    assert ran.wait(5)
    assert names[0].startswith("asgi_sync-worker-")


@pytest.mark.timeout(10)
def test_a_failing_job_does_not_take_a_slot(caplog: Any) -> None:
    pool = _pool._Pool(1)
    ran = threading.Event()

    def fail() -> None:
        raise RuntimeError("job failed")

    pool.submit(fail)
    pool.submit(ran.set)
    assert ran.wait(5)
    assert "Unexpected error in an asgi-wsgi job" in caplog.text


@pytest.mark.timeout(10)
def test_pool_starts_fresh_in_a_forked_child() -> None:
    """Simulate fork() by running the pools' at-fork hook: the parent's busy jobs are gone."""
    pool = _pool._Pool(1)
    release = threading.Event()
    started = threading.Event()

    def busy() -> None:
        started.set()
        release.wait(5)

    pool.submit(busy)
    assert started.wait(5)
    _fork._forget_parent_state()  # what os.register_at_fork runs in a forked child
    again = threading.Event()
    pool.submit(again.set)  # in the parent it would wait for `busy`
    assert again.wait(5)
    release.set()
