"""Threads owned by asgi_sync: worker and event-loop pools, per-thread state, fork hook.

Private machinery behind the public names in ``asgi_sync``; nothing here is API.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import itertools
import os
import sys
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from queue import Empty, SimpleQueue
from typing import Any, Callable, Coroutine, List, TypeVar

from asgi_sync.current_thread_executor import _queue_of_current_thread, _ThreadQueue

_R = TypeVar("_R")

# --- threads owned by this module ------------------------------------------------------
#
# Every thread started here is named "asgi_sync-...": the process-wide thread-sensitive
# worker (long-lived, like asgiref's), pooled ThreadSensitiveContext / thread_sensitive=False
# workers ("asgi_sync-worker-N") and pooled event-loop threads ("asgi_sync-loop-N") for
# async_to_sync called from plain sync code. At most _IDLE_POOL_LIMIT threads of each pool
# wait idle, and a pooled thread left idle for the idle timeout exits.

_IDLE_POOL_LIMIT = 16
_DEFAULT_IDLE_TIMEOUT = 5.0
_IDLE_TIMEOUT_VARIABLE = "ASGI_SYNC_IDLE_TIMEOUT"


def _idle_timeout_from_environment() -> float:
    text = os.environ.get(_IDLE_TIMEOUT_VARIABLE)
    if text is None or not text.strip():
        return _DEFAULT_IDLE_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        message = (
            f"{_IDLE_TIMEOUT_VARIABLE}={text!r} is not a positive number of seconds: set it "
            f"to how long an idle pooled thread waits before it exits (for example "
            f"{_DEFAULT_IDLE_TIMEOUT:g}), or unset it for the default."
        )
        raise ValueError(message)
    return seconds


# Seconds an idle pooled thread waits for work before it exits. Read at each wait, so a
# change applies from the next time a thread goes idle.
_idle_timeout: float = _idle_timeout_from_environment()

# Make the next fresh event loop on a loop thread as soon as it finished a call, so the
# next async_to_sync call does not wait for its creation (the benchmark turns this off to
# measure the difference).
_prepare_next_loop = True

_STOP: Callable[[], object] = lambda: None  # noqa: E731
_counter = itertools.count(1)
_pool_lock = threading.Lock()


class _Worker(Executor):
    """One thread running queued callables in order; started on demand.

    A worker of a pool (``pool`` given) goes back to it when its holder is done with it,
    and its thread exits once it has sat idle in the pool for the idle timeout: the
    worker then leaves the pool for good. A worker without a pool keeps its thread.
    """

    def __init__(self, name: str, pool: List[Any] | None = None) -> None:
        self._name = name
        self._queue: SimpleQueue[Callable[[], object]] = SimpleQueue()
        self._pool = pool
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._in_pool = False  # guarded by _pool_lock
        # Approximate (unlocked) counts; they only decide how soon the thread is reused.
        self._submitted = 0
        self._completed = 0
        self._thread_queue: _ThreadQueue | None = None

    def _put(self, work: Callable[[], object]) -> bool:
        self._submitted += 1
        self._queue.put(work)
        # Checked after the put: a thread that decided to exit clears _thread before its
        # last look at the queue, so either it sees this work or we see it gone.
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread = thread
                    thread.start()
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
        pooled = self._pool is not None
        while True:
            try:
                work = get(True, _idle_timeout) if pooled else get()
            except Empty:
                if self._idle_exit():
                    return
                continue
            if work is _STOP:
                self._on_exit()
                return
            work()
            self._completed += 1

    def _idle_exit(self) -> bool:
        """After an idle timeout: leave the pool and end the thread, if it is still idle."""
        pool = self._pool
        assert pool is not None
        with _pool_lock:
            if not self._in_pool:
                return False  # taken by a caller just now: its work is on the way
            self._in_pool = False
            pool.remove(self)
        with self._lock:
            self._thread = None
            if not self._queue.empty():  # queued through a stale reference: serve it
                self._thread = threading.current_thread()
                return False
        self._on_exit()
        return True

    def _on_exit(self) -> None:
        """Free what the thread holds, on the thread, just before it ends."""

    def _back_to_pool(self) -> bool:
        """Put this idle worker in its pool (True), or end its thread when the pool is full."""
        pool = self._pool
        assert pool is not None
        _pool_lock.acquire()  # not `with`: half the cost, and this runs once per pooled job
        try:
            if len(pool) < _IDLE_POOL_LIMIT:
                self._in_pool = True
                pool.append(self)
                return True
        finally:
            _pool_lock.release()
        self._queue.put(_STOP)
        return False

    def _release(self) -> None:
        """Give the thread back to its pool once the work queued so far is done."""
        if self._submitted == self._completed:
            self._back_to_pool()  # idle: reusable at once
        else:
            self._put(self._back_to_pool)  # after the work still queued or running

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


def _take_idle(pool: list[Any]) -> Any:
    """Pop an idle worker of ``pool`` (under the pool lock), or None."""
    with _pool_lock:
        if pool:
            worker = pool.pop()
            worker._in_pool = False
            return worker
    return None


_idle_workers: list[_Worker] = []


def _acquire_worker() -> _Worker:
    worker: _Worker | None = _take_idle(_idle_workers)
    if worker is None:
        worker = _Worker(f"asgi_sync-worker-{next(_counter)}", _idle_workers)
    return worker


def _run_on_pooled_thread(work: Callable[[], None]) -> None:
    """Run ``work`` on an idle pooled thread, starting one when none is idle.

    The pool grows instead of queueing, so sync code blocked in ``async_to_sync`` can never
    starve the calls it waits for (a fixed-size executor can deadlock that way).
    """
    worker: _Worker | None = None
    # _acquire_worker inlined, acquire/release instead of `with` (half the cost): this runs
    # once per WSGI request.
    _pool_lock.acquire()
    try:
        if _idle_workers:
            worker = _idle_workers.pop()
            worker._in_pool = False
    finally:
        _pool_lock.release()
    if worker is None:
        worker = _Worker(f"asgi_sync-worker-{next(_counter)}", _idle_workers)

    def work_then_return() -> None:
        work()  # never raises
        worker._back_to_pool()

    worker._put(work_then_return)


# --- fresh event loops for async_to_sync from plain sync code --------------------------


class _NamedExecutor(ThreadPoolExecutor):
    """A loop's default executor: threads named after the loop thread; knows if it was used."""

    used = False

    def submit(self, fn: Callable[..., _R], /, *args: Any, **kwargs: Any) -> Future[_R]:
        self.used = True
        return super().submit(fn, *args, **kwargs)


class _FreshLoop:
    """A new event loop and its default executor, made (maybe ahead of time) on a loop thread."""

    __slots__ = ("executor", "loop", "policy")

    def __init__(self, thread_name: str) -> None:
        self.policy = _current_policy()  # read first: it may change while the loop is made
        self.loop = asyncio.new_event_loop()  # honours the event loop policy (uvloop...)
        self.executor = _NamedExecutor(thread_name_prefix=f"{thread_name}-default")
        self.loop.set_default_executor(self.executor)


def _current_policy() -> object:
    # The policy that made a prepared loop must still be the one in force when it is used.
    # Read without asyncio.get_event_loop_policy(), which warns on Python 3.14.
    return getattr(asyncio.events, "_event_loop_policy", None)


if sys.version_info >= (3, 11):

    def _start_task(
        loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, None], ctx: contextvars.Context
    ) -> asyncio.Task[None]:
        return loop.create_task(main, context=ctx)

else:

    def _start_task(
        loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, None], ctx: contextvars.Context
    ) -> asyncio.Task[None]:
        return ctx.run(loop.create_task, main)


async def _cancel_leftover_tasks(why: str) -> None:
    """Cancel and await every other task of the running loop, as ``asyncio.run`` does."""
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    others = [task for task in asyncio.all_tasks(loop) if task is not me]
    if not others:
        return
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    for task in others:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {"message": why, "exception": task.exception(), "task": task}
            )


_SHUTDOWN_MESSAGE = "unhandled exception during async_to_sync() shutdown"


async def _shut_down(fresh: _FreshLoop) -> None:
    """The end of ``asyncio.run``: leftover tasks, async generators, default executor."""
    await _cancel_leftover_tasks(_SHUTDOWN_MESSAGE)
    loop = fresh.loop
    await loop.shutdown_asyncgens()
    # An executor that never started a thread needs no helper thread to shut it down:
    # loop.close() does that at once.
    if fresh.executor.used or getattr(loop, "_default_executor", None) is not fresh.executor:
        await loop.shutdown_default_executor()


async def _run_then_shut_down(main: Coroutine[Any, Any, None], fresh: _FreshLoop) -> None:
    try:
        await main
    finally:
        await _shut_down(fresh)


def _run_and_close(
    fresh: _FreshLoop, main: Coroutine[Any, Any, None], context: contextvars.Context
) -> None:
    """Run ``main`` in ``context`` on ``fresh.loop`` like ``asyncio.run``, then close it.

    Runs on the loop thread. Leftover tasks are cancelled and awaited, async generators and
    the default executor shut down, and the loop closed (running ``loop.close`` wrappers).
    """
    loop = fresh.loop
    try:
        try:
            loop.run_until_complete(_start_task(loop, _run_then_shut_down(main, fresh), context))
        except asyncio.CancelledError:
            # A cancellation reached the shutdown itself (``main`` has reported the call's
            # outcome already): finish the shutdown in a run of its own, as asyncio.run does.
            loop.run_until_complete(_shut_down(fresh))
    finally:
        loop.close()


class _LoopWorker(_Worker):
    """A pooled thread running ``async_to_sync`` calls, each in a fresh event loop."""

    def __init__(self) -> None:
        name = f"asgi_sync-loop-{next(_counter)}"
        super().__init__(name, _idle_loop_workers)
        # Only touched on this worker's thread.
        self._prepared: _FreshLoop | None = None
        self._pinned: _FreshLoop | None = None

    def _fresh_loop(self) -> _FreshLoop:
        fresh, self._prepared = self._prepared, None
        if fresh is not None and fresh.policy is _current_policy():
            return fresh
        if fresh is not None:  # made under another event loop policy
            fresh.loop.close()
        return _FreshLoop(self._name)

    def _run_call(
        self,
        main: Coroutine[Any, Any, None],
        context: contextvars.Context,
        done: Future[None],
    ) -> None:
        """Run one call in a fresh loop and close it; then report to the waiting caller."""
        error: BaseException | None = None
        try:
            fresh = self._fresh_loop()
        except BaseException as exc:  # out of file descriptors, say
            main.close()
            error = exc
        else:
            try:
                _run_and_close(fresh, main, context)
            except BaseException as exc:
                error = exc
            del fresh
        # Back to the pool before waking the caller, so that its next call finds this
        # thread (and waits for the loop made below, rather than starting a thread).
        pooled = self._back_to_pool()
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
        if pooled and _prepare_next_loop:
            try:
                self._prepared = _FreshLoop(self._name)
            except Exception:  # out of file descriptors, say: the next call will report it
                self._prepared = None

    def _run_pinned(
        self,
        main: Coroutine[Any, Any, None],
        context: contextvars.Context,
        done: Future[None],
    ) -> None:
        """Run one call on this thread's kept loop; cancel the tasks it leaves behind."""
        try:
            if self._pinned is None:
                self._pinned = self._fresh_loop()
            loop = self._pinned.loop
            loop.run_until_complete(_start_task(loop, _run_then_cancel(main), context))
        except BaseException as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)

    def _close_pinned(self, done: Future[None]) -> None:
        """Shut the kept loop down like ``asyncio.run`` does at its end, and close it."""
        fresh, self._pinned = self._pinned, None
        try:
            if fresh is not None:
                try:
                    fresh.loop.run_until_complete(_shut_down(fresh))
                finally:
                    fresh.loop.close()
        except BaseException as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)

    def _on_exit(self) -> None:
        fresh, self._prepared = self._prepared, None
        if fresh is not None:
            fresh.loop.close()


async def _run_then_cancel(main: Coroutine[Any, Any, None]) -> None:
    try:
        await main
    finally:
        await _cancel_leftover_tasks(_SHUTDOWN_MESSAGE)


_idle_loop_workers: list[_LoopWorker] = []


def _acquire_loop_worker() -> _LoopWorker:
    worker: _LoopWorker | None = _take_idle(_idle_loop_workers)
    return worker if worker is not None else _LoopWorker()


def _close_if_never_started(awaitable: object) -> None:
    """Close a coroutine that never ran (no "never awaited" warning for the user's code)."""
    if inspect.iscoroutine(awaitable) and inspect.getcoroutinestate(awaitable) == "CORO_CREATED":
        awaitable.close()


def _run_in_fresh_loop(
    main: Coroutine[Any, Any, None], context: contextvars.Context, done: Future[None]
) -> None:
    """Run ``main`` in ``context`` in a new event loop on a pooled loop thread.

    Returns at once; ``done`` is set once the loop is shut down and closed (as at the end
    of ``asyncio.run``), with the error of that shutdown if it failed. ``main`` must report
    its own result and errors.
    """
    worker = _acquire_loop_worker()
    worker._put(functools.partial(worker._run_call, main, context, done))


class _PinnedLoop:
    """One loop thread and one event loop kept for a block (``AsyncSingleThreadContext``).

    Each call runs on the kept loop, which runs only during calls (as with
    ``asyncio.Runner``); tasks a call leaves behind are cancelled when it ends.
    """

    __slots__ = ("_worker",)

    def __init__(self) -> None:
        self._worker: _LoopWorker | None = None

    def run(
        self, main: Coroutine[Any, Any, None], context: contextvars.Context, done: Future[None]
    ) -> None:
        """Queue ``main`` to run in ``context`` on the kept loop; ``done`` is set after it."""
        worker = self._worker
        if worker is None:
            worker = self._worker = _acquire_loop_worker()
        worker._put(functools.partial(worker._run_pinned, main, context, done))

    def close(self) -> None:
        """Shut the kept loop down and close it, wait for that, and release the thread.

        Raises:
            BaseException: What closing the loop raised.
        """
        worker, self._worker = self._worker, None
        if worker is None:
            return
        done: Future[None] = Future()
        worker._put(functools.partial(worker._close_pinned, done))
        try:
            done.result()
        finally:
            worker._release()


# --- long-running loops, lent out --------------------------------------------------------


class _LoopRunner:
    """A thread running one event loop forever, lent out until ``release``.

    Back in the pool, it stops and closes its loop once it sat idle for the idle timeout
    (checked by a timer on its own loop, so lending and releasing cost nothing extra).
    """

    def __init__(self) -> None:
        name = f"asgi_sync-loop-{next(_counter)}"
        self.loop = asyncio.new_event_loop()
        # Code that runs here and uses the default executor (`asyncio.to_thread`,
        # `run_in_executor(None, ...)`) gets threads that say whose they are.
        default = ThreadPoolExecutor(thread_name_prefix=f"{name}-default")
        self.loop.set_default_executor(default)
        self._in_pool = False  # guarded by _pool_lock
        self._pooled_at = 0.0
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_later(_idle_timeout, self._check_idle)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def _check_idle(self) -> None:
        with _pool_lock:
            idle_for = time.monotonic() - self._pooled_at
            if self._in_pool and idle_for >= _idle_timeout:
                self._in_pool = False
                _idle_runners.remove(self)
                self.loop.stop()
                return
        wait = _idle_timeout - idle_for if self._in_pool else _idle_timeout
        self.loop.call_later(max(wait, 0.0), self._check_idle)

    def release(self) -> None:
        with _pool_lock:
            if len(_idle_runners) < _IDLE_POOL_LIMIT:
                self._in_pool = True
                self._pooled_at = time.monotonic()
                _idle_runners.append(self)
                return
        self.loop.call_soon_threadsafe(self.loop.stop)


_idle_runners: List[_LoopRunner] = []


def _acquire_runner() -> _LoopRunner:
    runner: _LoopRunner | None = _take_idle(_idle_runners)
    return runner if runner is not None else _LoopRunner()


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
    for worker in _idle_loop_workers:  # their prepared loops' descriptors are ours too
        worker._on_exit()
    _idle_loop_workers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_threads_in_child)
