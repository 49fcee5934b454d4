"""Threads owned by asgi_sync: the worker and loop-runner pools, per-thread state, fork hook.

Private machinery behind the public names in ``asgi_sync``; nothing here is API.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from queue import SimpleQueue
from typing import Any, Callable, TypeVar

from asgi_sync.current_thread_executor import _queue_of_current_thread, _ThreadQueue

_R = TypeVar("_R")

# --- threads owned by this module ------------------------------------------------------
#
# Every thread started here is named "asgi_sync-..." and is long-lived: the process-wide
# thread-sensitive worker, pooled ThreadSensitiveContext workers and pooled event-loop
# threads for async_to_sync called from plain sync code. Idle pools are capped.

_IDLE_POOL_LIMIT = 16
_STOP: Callable[[], object] = lambda: None  # noqa: E731
_counter = itertools.count(1)


class _Worker(Executor):
    """One long-lived thread running queued callables in order."""

    def __init__(self, name: str, pool: list[_Worker] | None = None) -> None:
        self._name = name
        self._queue: SimpleQueue[Callable[[], object]] = SimpleQueue()
        self._pool = pool
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Approximate (unlocked) counts; they only decide how soon the thread is reused.
        self._submitted = 0
        self._completed = 0
        self._thread_queue: _ThreadQueue | None = None

    def _put(self, work: Callable[[], object]) -> bool:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    thread.start()
                    self._thread = thread
        self._submitted += 1
        self._queue.put(work)
        return True

    def _put_on_waiting_thread(self, work: Callable[[], object]) -> bool:
        """Queue ``work`` for this worker's thread if it waits inside async_to_sync."""
        thread_queue = self._thread_queue
        if thread_queue is None:
            return False
        with thread_queue.lock:
            if thread_queue.depth == 0:
                return False
            thread_queue.queue.put(work)
        return True

    def _run(self) -> None:
        self._thread_queue = _queue_of_current_thread()
        get = self._queue.get
        while True:
            work = get()
            if work is _STOP:
                return
            work()
            self._completed += 1

    def _release(self) -> None:
        """Give the thread back to its pool once the work queued so far is done."""

        def back_to_pool() -> None:
            pool = self._pool
            assert pool is not None
            with _pool_lock:
                if len(pool) < _IDLE_POOL_LIMIT:
                    pool.append(self)
                    return
            self._queue.put(_STOP)

        if self._submitted == self._completed:
            back_to_pool()  # idle: reusable at once
        else:
            self._put(back_to_pool)  # after the work still queued or running

    def submit(self, fn: Callable[..., _R], /, *args: Any, **kwargs: Any) -> Future[_R]:
        """Schedule ``fn(*args, **kwargs)`` on this worker's thread."""
        future: Future[_R] = Future()

        def work() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    future.set_exception(exc)

        self._put(work)
        return future


_pool_lock = threading.Lock()
_idle_workers: list[_Worker] = []


def _acquire_worker() -> _Worker:
    with _pool_lock:
        if _idle_workers:
            return _idle_workers.pop()
    return _Worker(f"asgi_sync-worker-{next(_counter)}", _idle_workers)


def _run_on_pooled_thread(work: Callable[[], None]) -> None:
    """Run ``work`` on an idle pooled thread, starting one when none is idle.

    The pool grows instead of queueing, so sync code blocked in ``async_to_sync`` can never
    starve the calls it waits for (a fixed-size executor can deadlock that way).
    """
    worker = _acquire_worker()

    def work_then_return() -> None:
        work()  # never raises
        with _pool_lock:
            if len(_idle_workers) < _IDLE_POOL_LIMIT:
                _idle_workers.append(worker)
                return
        worker._queue.put(_STOP)

    worker._put(work_then_return)


class _LoopRunner:
    """A long-lived thread running one event loop forever, lent out per async_to_sync call."""

    def __init__(self) -> None:
        name = f"asgi_sync-loop-{next(_counter)}"
        self.loop = asyncio.new_event_loop()
        # Code that runs here and uses the default executor (`asyncio.to_thread`,
        # `run_in_executor(None, ...)`) gets threads that say whose they are.
        default = ThreadPoolExecutor(thread_name_prefix=f"{name}-default")
        self.loop.set_default_executor(default)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def release(self) -> None:
        with _pool_lock:
            if len(_idle_runners) < _IDLE_POOL_LIMIT:
                _idle_runners.append(self)
                return
        self.loop.call_soon_threadsafe(self.loop.stop)


_idle_runners: list[_LoopRunner] = []


def _acquire_runner() -> _LoopRunner:
    with _pool_lock:
        if _idle_runners:
            return _idle_runners.pop()
    return _LoopRunner()


# --- per-thread state ------------------------------------------------------------------


class _ThreadState(threading.local):
    # The loop and task list of the sync_to_async call this thread is running, if any.
    loop: asyncio.AbstractEventLoop | None = None
    task_context: list[asyncio.Task[Any]] | None = None


_thread_state = _ThreadState()


def _forget_parent_threads_in_child() -> None:
    """Forget the parent's pooled threads: a forked child has only the thread that forked.

    That thread also forgets the parent's `sync_to_async` call it may be running: its loop
    is not running in the child, so `async_to_sync` there acts as from plain sync code.
    """
    global _pool_lock
    _pool_lock = threading.Lock()
    _idle_workers.clear()
    _idle_runners.clear()
    _thread_state.loop = None
    _thread_state.task_context = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_threads_in_child)
