"""Bridges between synchronous and asynchronous code: ``sync_to_async`` and ``async_to_sync``.

``sync_to_async(f)`` makes a coroutine function that runs ``f`` in a worker thread while the
event loop goes on; ``async_to_sync(coro_func)`` makes a plain function that runs the
coroutine on an event loop and blocks the calling thread until it is done. Both carry
``contextvars`` (and so ``asgi_local.Local`` values) across in both directions.

Thread-sensitive mode (the default of ``sync_to_async``) keeps every thread-sensitive sync
call of one request on one thread: the outermost sync thread when the program started
synchronously, the thread of the enclosing :class:`ThreadSensitiveContext`, or else one
process-wide thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import sys
import warnings
import weakref
from concurrent.futures import Executor, Future
from types import TracebackType
from typing import (
    Any,
    Awaitable,
    Callable,
    ClassVar,
    Coroutine,
    Generic,
    NoReturn,
    Tuple,
    Type,
    TypeVar,
    Union,
    overload,
)

from asgi_local import bind_context_to_current_thread
from asgi_sync.__about__ import __version__ as __version__
from asgi_sync._context import (
    _copy_back,
    _current_executor,
    _Executors,
    _running_on,
    _set_exception,
    _set_result,
    _TaskContext,
)
from asgi_sync._coroutines import iscoroutinefunction as iscoroutinefunction
from asgi_sync._coroutines import markcoroutinefunction as markcoroutinefunction
from asgi_sync._threads import (
    _acquire_worker,
    _close_if_never_started,
    _PinnedLoop,
    _run_in_fresh_loop,
    _run_on_pooled_thread,
    _start_task,
    _thread_state,
    _Worker,
)
from asgi_sync.current_thread_executor import CurrentThreadExecutor as CurrentThreadExecutor

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:
    from typing_extensions import ParamSpec

__all__ = (
    "__version__",
    "sync_to_async",
    "async_to_sync",
    "SyncToAsync",
    "AsyncToSync",
    "ThreadSensitiveContext",
    "AsyncSingleThreadContext",
    "CurrentThreadExecutor",
    "iscoroutinefunction",
    "markcoroutinefunction",
)

_F = TypeVar("_F", bound=Callable[..., Any])
_P = ParamSpec("_P")
_R = TypeVar("_R")

OptExcInfo = Union[
    Tuple[Type[BaseException], BaseException, TracebackType], Tuple[None, None, None]
]


# Looked up here at each call, so patching asgi_sync.bind_context_to_current_thread works.
def _enter_and_call(child: Callable[[], _R]) -> _R:
    # Runs inside context.run() on the destination thread.
    bind_context_to_current_thread()
    return child()


# --- async_to_sync ---------------------------------------------------------------------


_IN_LOOP_MESSAGE = (
    "You cannot use AsyncToSync in the same thread as an async event loop - "
    "just await the async function directly."
)


class AsyncToSync(Generic[_P, _R]):
    """A sync callable that runs a coroutine function on an event loop and waits for it.

    Where the coroutine runs is decided at each call: on the event loop of the enclosing
    ``sync_to_async`` call when called from one of its threads, else in a new event loop on
    a pooled loop thread, shut down and closed as ``asyncio.run`` does before the call
    returns (inside an :class:`AsyncSingleThreadContext`, on that block's one kept loop).
    Meanwhile the calling thread serves the coroutine's thread-sensitive ``sync_to_async``
    calls, so they run on the calling thread.

    Args:
        awaitable: A coroutine function (or a callable returning an awaitable).
        force_new_loop: Never use the enclosing ``sync_to_async``'s loop; always use a
            loop of our own.
    """

    # ``executors.current`` is the CurrentThreadExecutor of the innermost async_to_sync
    # of the current context (request), or None.
    executors: Any = _Executors()

    def __init__(
        self,
        awaitable: Union[
            Callable[_P, Coroutine[Any, Any, _R]],
            Callable[_P, Awaitable[_R]],
        ],
        force_new_loop: bool = False,
    ) -> None:
        if not callable(awaitable):
            message = f"async_to_sync needs a callable returning an awaitable, got {awaitable!r}."  # type: ignore[unreachable]
            raise TypeError(message)
        if not iscoroutinefunction(awaitable) and not iscoroutinefunction(
            getattr(awaitable, "__call__", awaitable)  # noqa: B004
        ):
            # Maybe a sync function returning an awaitable; it works, but say so.
            warnings.warn(
                "async_to_sync was passed a non-async-marked callable",
                UserWarning,
                stacklevel=2,
            )
        self.awaitable = awaitable
        self.force_new_loop = force_new_loop
        try:
            self.__self__ = awaitable.__self__  # type: ignore[union-attr]
        except AttributeError:
            pass
        functools.update_wrapper(self, awaitable)

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Run the coroutine and block this thread until it finishes; return its result.

        Raises:
            RuntimeError: When this thread is running an event loop.
        """
        if asyncio._get_running_loop() is not None:
            raise RuntimeError(_IN_LOOP_MESSAGE)
        state = _thread_state
        loop = None if self.force_new_loop else state.loop
        if loop is not None and (loop.is_closed() or not loop.is_running()):
            loop = None
        task_context = state.task_context

        executor = CurrentThreadExecutor(_current_executor.get())
        context = contextvars.copy_context()
        context.run(_current_executor.set, executor)
        base = context.copy()
        result_context: list[contextvars.Context] = [base]
        call_result: Future[_R] = Future()
        exc_info = sys.exc_info()
        awaitable = self.awaitable(*args, **kwargs)  # created here, awaited on the loop
        main = self.main_wrap(call_result, exc_info, task_context, result_context, awaitable)

        # From plain sync code: a fresh loop on a pooled loop thread, shut down and closed
        # (as asyncio.run does) before ``loop_done`` is set; or the kept loop of the
        # enclosing AsyncSingleThreadContext.
        loop_done: Future[None] | None = None
        executor._enter()
        try:
            if loop is not None:
                loop.call_soon_threadsafe(_start_task, loop, main, context)
            else:
                loop_done = Future()
                pinned = _single_thread_context.get()
                if pinned is not None:
                    pinned.run(main, context, loop_done)
                else:
                    _run_in_fresh_loop(main, context, loop_done)
        except BaseException:
            executor._abandon()
            main.close()
            raise
        try:
            executor.run_until_future(call_result if loop_done is None else loop_done)
        finally:
            if _copy_back(result_context[0], base):
                bind_context_to_current_thread()
        if loop_done is not None and loop_done.exception() is not None:
            # Making, shutting down or closing the loop failed (maybe before it ran).
            _close_if_never_started(awaitable)
            loop_done.result()
        return call_result.result()

    def __get__(self, parent: Any, objtype: Any) -> Callable[..., _R]:
        """Bind to ``parent`` when used as a method."""
        func = functools.partial(self.__call__, parent)
        return functools.update_wrapper(func, self.awaitable)

    async def main_wrap(
        self,
        call_result: Future[_R],
        exc_info: OptExcInfo,
        task_context: list[asyncio.Task[Any]] | None,
        context: list[contextvars.Context],
        awaitable: Union[Coroutine[Any, Any, _R], Awaitable[_R]],
    ) -> None:
        """Await ``awaitable`` on the target loop and report into ``call_result``.

        Runs as its own task; the final context is stored in ``context[0]`` before
        ``call_result`` is set, so the waiting thread can copy its changes back.
        """
        bind_context_to_current_thread()
        current = asyncio.current_task()
        if task_context is not None and current is not None:
            task_context.append(current)
            if getattr(task_context, "cancelled", False):
                # The sync_to_async call that runs our caller was cancelled already.
                current.cancel()
        try:
            if exc_info[1] is not None:
                try:
                    raise exc_info[1]
                except BaseException:
                    result = await awaitable
            else:
                result = await awaitable
        except BaseException as exc:
            context[0] = contextvars.copy_context()
            call_result.set_exception(exc)
        else:
            context[0] = contextvars.copy_context()
            call_result.set_result(result)
        finally:
            if task_context is not None and current is not None:
                task_context.remove(current)


# --- sync_to_async ---------------------------------------------------------------------


class SyncToAsync(Generic[_P, _R]):
    """A coroutine function that runs a sync callable in a thread and awaits it.

    Thread-sensitive calls (the default) run on the sync thread waiting in the innermost
    enclosing ``async_to_sync`` of this request, else on the thread of the enclosing
    :class:`ThreadSensitiveContext`, else on one process-wide thread. Other calls run on
    ``executor``, or else on a pooled thread (``asgi_sync-worker-N``; the pool grows
    rather than queue, so nested calls cannot starve each other).

    Args:
        func: The sync callable.
        thread_sensitive: Keep the request's sync code on one thread (see above).
        executor: Where non-thread-sensitive calls run.
        context: Run in this ``contextvars.Context`` instead of a copy of the caller's,
            and do not copy changes back.

    Raises:
        TypeError: When ``func`` is async, or ``executor`` is given with
            ``thread_sensitive=True``.
    """

    # The ThreadSensitiveContext of the current request, if any.
    thread_sensitive_context: contextvars.ContextVar[ThreadSensitiveContext] = (
        contextvars.ContextVar("thread_sensitive_context")
    )
    # Each live ThreadSensitiveContext -> the executor its calls run on.
    context_to_thread_executor: ClassVar[
        weakref.WeakKeyDictionary[ThreadSensitiveContext, Executor]
    ] = weakref.WeakKeyDictionary()
    # The process-wide thread for thread-sensitive calls outside any context.
    single_thread_executor: Executor = _Worker("asgi_sync-thread-sensitive")

    def __init__(
        self,
        func: Callable[_P, _R],
        thread_sensitive: bool = True,
        executor: Executor | None = None,
        context: contextvars.Context | None = None,
    ) -> None:
        if (
            not callable(func)
            or iscoroutinefunction(func)
            or iscoroutinefunction(getattr(func, "__call__", func))  # noqa: B004
        ):
            raise TypeError("sync_to_async can only be applied to sync functions.")
        if thread_sensitive and executor is not None:
            raise TypeError("executor must not be set when thread_sensitive is True")
        self.func = func
        self._thread_sensitive = thread_sensitive
        self._executor = executor
        self._context = context
        functools.update_wrapper(self, func)
        markcoroutinefunction(self)
        try:
            self.__self__ = func.__self__  # type: ignore[attr-defined]
        except AttributeError:
            pass

    async def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Run the sync callable in its thread and return its result (see the class)."""
        loop = asyncio.get_running_loop()
        worker: _Worker | None = None
        if self._thread_sensitive:
            executor: Executor | None = _current_executor.get()
            if executor is None:
                tsc = SyncToAsync.thread_sensitive_context.get(None)
                if tsc is not None:
                    executor = tsc._executor()
                else:
                    executor = SyncToAsync.single_thread_executor
                if isinstance(executor, _Worker):
                    worker = executor
        else:
            executor = self._executor

        context = self._context
        base = None
        future = loop.create_future()
        if context is None:
            context = contextvars.copy_context()
            if worker is not None:
                # Remember, for calls made further down this chain, that it descends
                # from this call on this worker.
                context.run(_running_on.set, (worker, future))
            base = context.copy()
        child = functools.partial(self.func, *args, **kwargs)
        func: Callable[..., _R] = functools.partial(context.run, _enter_and_call)  # type: ignore[arg-type]
        task_context = _TaskContext()
        exc_info = sys.exc_info()
        thread_handler = self.thread_handler

        def work() -> None:
            if future.done():  # the awaiting task was cancelled before we started
                return
            try:
                result = thread_handler(loop, exc_info, task_context, func, child)
            except BaseException as exc:
                try:
                    loop.call_soon_threadsafe(_set_exception, future, exc)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    pass
            else:
                try:
                    loop.call_soon_threadsafe(_set_result, future, result)
                except RuntimeError:
                    pass

        if worker is not None:
            ancestor = _running_on.get()
            if ancestor is not None and ancestor[0] is worker and not ancestor[1].done():
                # This chain descends from a call still running on that worker's one
                # thread: queueing behind it would wait for ourselves.
                if not worker._put_on_waiting_thread(work):
                    self._would_deadlock(worker)
            else:
                worker._put(work)
        else:
            _dispatch(executor, work, loop)
        try:
            result: _R = await future
        except asyncio.CancelledError:
            if future.cancelled():
                # Our awaiting task was cancelled: cancel the coroutines the sync code
                # is waiting for through async_to_sync (and any it starts from now on),
                # so it can finish.
                task_context.cancelled = True
                for task in list(task_context):
                    task.cancel()
            raise
        except BaseException:
            if base is not None and _copy_back(context, base):
                bind_context_to_current_thread()
            raise
        if base is not None and _copy_back(context, base):
            bind_context_to_current_thread()
        return result

    def __get__(self, parent: Any, objtype: Any) -> Callable[..., Coroutine[Any, Any, _R]]:
        """Bind to ``parent`` when used as a method."""
        func = functools.partial(self.__call__, parent)
        return functools.update_wrapper(func, self.func)

    def _would_deadlock(self, worker: _Worker) -> NoReturn:
        name = getattr(self.func, "__qualname__", repr(self.func))
        message = (
            f"sync_to_async({name}) would deadlock: it is thread-sensitive, and the code "
            f"awaiting it descends from a sync call still running on the same thread "
            f"({worker._name!r}), which is blocked waiting without serving work (for "
            "example in Future.result() or run_coroutine_threadsafe). Call the async code "
            "from that sync code through async_to_sync, or pass thread_sensitive=False."
        )
        raise RuntimeError(message)

    def thread_handler(
        self,
        loop: asyncio.AbstractEventLoop,
        exc_info: OptExcInfo,
        task_context: list[asyncio.Task[Any]] | None,
        func: Callable[..., _R],
        *args: Any,
        **kwargs: Any,
    ) -> _R:
        """Run ``func(*args, **kwargs)`` on the worker thread; ``args[0]`` is the user call.

        Records ``loop`` so ``async_to_sync`` called from this thread uses it, and re-raises
        ``exc_info`` around the call so ``sys.exc_info()`` inside matches the caller's.
        """
        state = _thread_state
        previous = state.loop, state.task_context
        state.loop = loop
        state.task_context = task_context
        try:
            if exc_info[1] is not None:
                try:
                    raise exc_info[1]
                except BaseException:
                    return func(*args, **kwargs)
            return func(*args, **kwargs)
        finally:
            state.loop, state.task_context = previous


def _dispatch(
    executor: Executor | None, work: Callable[[], None], loop: asyncio.AbstractEventLoop
) -> None:
    """Run ``work`` (which never raises) on ``executor``'s thread."""
    while isinstance(executor, CurrentThreadExecutor):
        if executor._put(work):
            return
        # Its async_to_sync returned (a task outlived it): try the enclosing one.
        executor = executor._old_executor
        if executor is None:
            executor = SyncToAsync.single_thread_executor
    if isinstance(executor, _Worker):
        executor._put(work)
        return
    if executor is None:
        _run_on_pooled_thread(work)
        return
    executor.submit(work)


# --- contexts --------------------------------------------------------------------------


class ThreadSensitiveContext:
    """Async context manager giving the thread-sensitive calls inside it their own thread.

    Use one per request in an async server so each request's thread-sensitive sync code
    runs on one thread of its own, in parallel with other requests'. The thread comes
    from a pool of long-lived threads (it is not created and joined per request) and
    goes back once the calls queued on it have finished.

    Args:
        executor: Run the calls on this executor instead of a pooled thread.
    """

    def __init__(self, *, executor: Executor | None = None) -> None:
        self._given = executor
        self._worker: _Worker | None = None
        self._token: contextvars.Token[ThreadSensitiveContext] | None = None

    def _executor(self) -> Executor:
        if self._given is not None:
            return self._given
        worker = self._worker
        if worker is None:
            worker = self._worker = _acquire_worker()
            SyncToAsync.context_to_thread_executor[self] = worker
        return worker

    async def __aenter__(self) -> ThreadSensitiveContext:
        """Enter on the event loop's thread; no thread is taken until first used."""
        try:
            SyncToAsync.thread_sensitive_context.get()
        except LookupError:
            self._token = SyncToAsync.thread_sensitive_context.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave, and hand the thread back to the pool once its queued work is done."""
        if self._token is None:
            return
        SyncToAsync.thread_sensitive_context.reset(self._token)
        self._token = None
        worker = self._worker
        if worker is not None:
            self._worker = None
            SyncToAsync.context_to_thread_executor.pop(self, None)
            worker._release()


_single_thread_context: contextvars.ContextVar[_PinnedLoop | None] = contextvars.ContextVar(
    "asgi_sync.single_thread_context", default=None
)


class AsyncSingleThreadContext:
    """Context manager running every ``async_to_sync`` call inside it on one loop and thread.

    Outside it, each ``async_to_sync`` call from plain sync code runs in a new event loop
    that is closed when the call returns. Inside it, the calls from plain sync code share
    one event loop on one pooled loop thread, so loop-bound objects (a client session, an
    ``asyncio.Lock``) can be kept from one call to the next. The loop runs only during
    calls (as with ``asyncio.Runner``), tasks a call leaves behind are cancelled when it
    returns, and leaving the block shuts the loop down and closes it as ``asyncio.run``
    does at its end. (asgiref runs each call in a new loop on the block's one thread.)
    """

    def __init__(self) -> None:
        self._token: contextvars.Token[_PinnedLoop | None] | None = None
        self._pinned: _PinnedLoop | None = None

    def __enter__(self) -> AsyncSingleThreadContext:
        """Enter; the loop thread is taken at the first ``async_to_sync`` call."""
        if _single_thread_context.get() is None:
            self._pinned = _PinnedLoop()
            self._token = _single_thread_context.set(self._pinned)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave: shut the loop down, close it and wait for that; the thread goes back."""
        if self._token is None:
            return
        _single_thread_context.reset(self._token)
        self._token = None
        pinned, self._pinned = self._pinned, None
        if pinned is not None:
            pinned.close()

    async def __aenter__(self) -> AsyncSingleThreadContext:
        """Same as ``with``, for use in async code."""
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Same as ``with``, for use in async code."""
        self.__exit__(exc_type, exc, tb)


def _new_thread_sensitive_worker_in_child() -> None:
    # The forked child has only the thread that forked: the parent's worker thread is gone.
    if isinstance(SyncToAsync.single_thread_executor, _Worker):
        SyncToAsync.single_thread_executor = _Worker("asgi_sync-thread-sensitive")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_thread_sensitive_worker_in_child)


# --- the public entry points -----------------------------------------------------------


@overload
def async_to_sync(
    *, force_new_loop: bool = False
) -> Callable[
    [Union[Callable[_P, Coroutine[Any, Any, _R]], Callable[_P, Awaitable[_R]]]],
    Callable[_P, _R],
]: ...


@overload
def async_to_sync(
    awaitable: Union[Callable[_P, Coroutine[Any, Any, _R]], Callable[_P, Awaitable[_R]]],
    *,
    force_new_loop: bool = False,
) -> Callable[_P, _R]: ...


def async_to_sync(
    awaitable: Callable[_P, Coroutine[Any, Any, _R]] | Callable[_P, Awaitable[_R]] | None = None,
    *,
    force_new_loop: bool = False,
) -> Union[
    Callable[
        [Union[Callable[_P, Coroutine[Any, Any, _R]], Callable[_P, Awaitable[_R]]]],
        Callable[_P, _R],
    ],
    Callable[_P, _R],
]:
    """Wrap a coroutine function so sync code can call it (returns an :class:`AsyncToSync`).

    Works as ``async_to_sync(f)``, ``@async_to_sync`` and ``@async_to_sync(force_new_loop=...)``.
    The coroutine runs on the enclosing ``sync_to_async``'s event loop when there is one,
    else in a new event loop on a pooled loop thread, closed (as by ``asyncio.run``) before
    the call returns; the calling thread blocks and meanwhile runs the coroutine's
    thread-sensitive ``sync_to_async`` calls.

    Args:
        awaitable: The coroutine function.
        force_new_loop: Always use a loop of our own, never the enclosing one.

    Returns:
        The sync callable, or a decorator when ``awaitable`` is omitted.
    """
    if awaitable is None:
        return lambda f: AsyncToSync(f, force_new_loop=force_new_loop)
    return AsyncToSync(awaitable, force_new_loop=force_new_loop)


@overload
def sync_to_async(
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: contextvars.Context | None = None,
) -> Callable[[Callable[_P, _R]], Callable[_P, Coroutine[Any, Any, _R]]]: ...


@overload
def sync_to_async(
    func: Callable[_P, _R],
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: contextvars.Context | None = None,
) -> Callable[_P, Coroutine[Any, Any, _R]]: ...


def sync_to_async(
    func: Callable[_P, _R] | None = None,
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: contextvars.Context | None = None,
) -> Union[
    Callable[[Callable[_P, _R]], Callable[_P, Coroutine[Any, Any, _R]]],
    Callable[_P, Coroutine[Any, Any, _R]],
]:
    """Wrap a sync callable so async code can await it in a thread (a :class:`SyncToAsync`).

    Works as ``sync_to_async(f)``, ``@sync_to_async`` and ``@sync_to_async(...)``.

    Args:
        func: The sync callable.
        thread_sensitive: Run on the request's one sync thread (default), else on
            ``executor`` or a pooled thread.
        executor: Where non-thread-sensitive calls run.
        context: Run in this context, without copying changes back to the caller.

    Returns:
        The coroutine function, or a decorator when ``func`` is omitted.

    Raises:
        TypeError: When ``func`` is async, or ``executor`` is given with
            ``thread_sensitive=True``.
    """
    if func is None:
        return lambda f: SyncToAsync(
            f, thread_sensitive=thread_sensitive, executor=executor, context=context
        )
    return SyncToAsync(func, thread_sensitive=thread_sensitive, executor=executor, context=context)
