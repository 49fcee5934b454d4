"""How many WSGI calls run at once: a bound over asgi_sync's pooled worker threads (private).

The threads are asgi_sync's (`asgi_sync.threads.run_in_pooled_thread`); this module only
keeps their number for one adapter at or below `max_workers`, queueing the calls beyond it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from functools import partial
from typing import Callable

from asgi_sync.threads import run_in_pooled_thread
from asgi_wsgi._fork import forget_in_forked_child

logger = logging.getLogger("asgi_wsgi")

_Job = Callable[[], None]


class _Pool:
    """Run jobs on asgi_sync's pooled threads, at most `max_workers` at a time.

    A job submitted while `max_workers` run waits in a queue; the thread that finishes a job
    takes the next waiting one, so a burst costs no extra hand-offs. Any thread may submit.
    After `fork()` the child starts with no running jobs (the parent's threads are gone).
    """

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: deque[_Job] = deque()
        forget_in_forked_child(self)

    def submit(self, job: _Job) -> None:
        """Run `job()` on a pooled thread now, or once a running job finishes."""
        lock = self._lock
        lock.acquire()  # acquire/release: half the cost of `with` (this runs per request)
        try:
            if self._running >= self.max_workers:
                self._waiting.append(job)
                return
            self._running += 1
        finally:
            lock.release()
        run_in_pooled_thread(partial(self._work, job))  # a partial: no extra Python frame

    def _forget_parent(self) -> None:
        # In a forked child, right after fork() (no other thread runs there yet).
        self._lock = threading.Lock()
        self._running = 0
        self._waiting.clear()

    def _work(self, job: _Job) -> None:
        # On a pooled thread: run `job`, then the waiting jobs while there are any.
        while True:
            try:
                job()
            except BaseException:
                logger.exception("Unexpected error in an asgi-wsgi job")
            lock = self._lock
            lock.acquire()
            try:
                if not self._waiting:
                    self._running -= 1
                    return
                job = self._waiting.popleft()
            finally:
                lock.release()


_DEFAULT_MAX_WORKERS = 40
_default_pool = _Pool(_DEFAULT_MAX_WORKERS)
