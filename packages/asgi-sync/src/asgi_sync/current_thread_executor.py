"""An executor that runs submitted work on one waiting thread: the thread that created it.

``async_to_sync`` uses it so that thread-sensitive ``sync_to_async`` calls made by the
coroutine it runs come back to the sync thread that is blocked waiting for that coroutine.
All executors created on one thread share that thread's queue, so while the thread waits
at any nesting depth it serves work sent to any of them: nested sync -> async -> sync
chains cannot deadlock on their own thread.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor, Future
from queue import SimpleQueue
from typing import Any, Callable, TypeVar

__all__ = ("CurrentThreadExecutor",)

_T = TypeVar("_T")

# Put on a thread's queue when a future it waits for is done: "look again".
_WAKE: Callable[[], None] = lambda: None  # noqa: E731


class _ThreadQueue:
    """The work queue of one thread, shared by every CurrentThreadExecutor made on it."""

    __slots__ = ("depth", "lock", "queue")

    def __init__(self) -> None:
        self.queue: SimpleQueue[Callable[[], object]] = SimpleQueue()
        self.lock = threading.Lock()
        self.depth = 0  # how many run_until_future calls are active on the thread


_thread_queues = threading.local()


def _queue_of_current_thread() -> _ThreadQueue:
    try:
        return _thread_queues.queue  # type: ignore[no-any-return]
    except AttributeError:
        thread_queue = _thread_queues.queue = _ThreadQueue()
        return thread_queue


class CurrentThreadExecutor(Executor):
    """Run submitted callables on the thread that created the executor.

    The creating thread must call
    [run_until_future][asgi_sync.current_thread_executor.CurrentThreadExecutor.run_until_future];
    while it waits there it runs whatever other threads
    [submit][asgi_sync.current_thread_executor.CurrentThreadExecutor.submit]. Once its
    `run_until_future` has returned the executor is finished: later submissions go to
    `old_executor` when one was given (the executor of an enclosing `async_to_sync` on the
    same or an outer thread), else they raise `RuntimeError`.

    Args:
        old_executor: The executor that was current when this one was created, if any.
    """

    def __init__(self, old_executor: CurrentThreadExecutor | None = None) -> None:
        self._work_thread = threading.current_thread()
        self._thread_queue = _queue_of_current_thread()
        self._old_executor = old_executor
        self._broken = False
        self._entered = False

    def _enter(self) -> None:
        """Count this thread as waiting now, before the work it waits for is scheduled."""
        thread_queue = self._thread_queue
        with thread_queue.lock:
            thread_queue.depth += 1
        self._entered = True

    def _abandon(self) -> None:
        """Undo `_enter` when ``run_until_future`` will not be called after all."""
        thread_queue = self._thread_queue
        with thread_queue.lock:
            self._broken = True
            thread_queue.depth -= 1

    def run_until_future(self, future: Future[Any]) -> None:
        """Run submitted work on this thread until ``future`` is done.

        Must be called on the thread that created the executor, at most once.

        Args:
            future: The future whose completion ends the wait.

        Raises:
            RuntimeError: When called from another thread.
        """
        if threading.current_thread() is not self._work_thread:
            message = (
                f"CurrentThreadExecutor.run_until_future() was called on thread "
                f"{threading.current_thread().name!r}, but it can only run on "
                f"{self._work_thread.name!r}, the thread that created it."
            )
            raise RuntimeError(message)
        thread_queue = self._thread_queue
        get = thread_queue.queue.get
        put = thread_queue.queue.put
        future.add_done_callback(lambda _: put(_WAKE))
        if not self._entered:
            self._enter()
        try:
            while not future.done():
                get()()
        finally:
            with thread_queue.lock:
                self._broken = True
                thread_queue.depth -= 1
                leftovers = thread_queue.depth == 0
            if leftovers:
                # Work queued just before we finished still belongs to this thread.
                while not thread_queue.queue.empty():
                    thread_queue.queue.get()()

    def _put(self, work: Callable[[], object]) -> bool:
        """Queue ``work`` (which must not raise) for this thread; False once finished."""
        thread_queue = self._thread_queue
        with thread_queue.lock:
            if self._broken:
                return False
            thread_queue.queue.put(work)
        return True

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        """Schedule ``fn(*args, **kwargs)`` to run on the executor's thread.

        Returns:
            A future for the result.

        Raises:
            RuntimeError: When called from the executor's own thread (it would wait for
                itself), or after the executor finished with no ``old_executor``.
        """
        if threading.current_thread() is self._work_thread:
            message = (
                "You cannot submit onto CurrentThreadExecutor from its own thread "
                f"({self._work_thread.name!r}): call the function directly instead."
            )
            raise RuntimeError(message)
        future: Future[_T] = Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

        if self._put(work):
            return future
        if self._old_executor is not None:
            return self._old_executor.submit(fn, *args, **kwargs)
        message = (
            f"CurrentThreadExecutor of thread {self._work_thread.name!r} already quit: its "
            "async_to_sync call has returned. Submit to another executor instead."
        )
        raise RuntimeError(message)
