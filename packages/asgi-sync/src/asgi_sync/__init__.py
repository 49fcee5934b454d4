"""Bridges between synchronous and asynchronous code: `sync_to_async` and `async_to_sync`.

[sync_to_async(f)][asgi_sync.sync_to_async] makes a coroutine function that runs `f` in a
worker thread while the event loop goes on; [async_to_sync(coro_func)][asgi_sync.async_to_sync]
makes a plain function that runs the coroutine on an event loop and blocks the calling thread
until it is done. Both carry `contextvars` (and so `asgi_local.Local` values) across in both
directions.

Thread-sensitive mode (the default of `sync_to_async`) keeps every thread-sensitive sync
call of one request on one thread: the outermost sync thread when the program started
synchronously, the thread of the enclosing
[ThreadSensitiveContext][asgi_sync.ThreadSensitiveContext], or else one process-wide thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import sys
import warnings
import weakref
from concurrent.futures import Executor, Future, ThreadPoolExecutor
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
    _check_not_blocked_in_chain,
    _copy_back,
    _current_executor,
    _drained,
    _Executors,
    _forward_cancellation,
    _nothing,
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
from asgi_sync._wake import _waker_for
from asgi_sync.current_thread_executor import CurrentThreadExecutor as CurrentThreadExecutor

if sys.version_info >= (3, 10):
    from typing import Concatenate, ParamSpec
else:
    from typing_extensions import Concatenate, ParamSpec

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
_S = TypeVar("_S")
_Q = ParamSpec("_Q")

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
    [sync_to_async][asgi_sync.sync_to_async] call when called from one of its threads, else
    in a new event loop on a pooled loop thread, shut down and closed as `asyncio.run` does
    before the call returns (inside an
    [AsyncSingleThreadContext][asgi_sync.AsyncSingleThreadContext], on that block's one kept
    loop). Meanwhile the calling thread serves the coroutine's thread-sensitive
    `sync_to_async` calls, so they run on the calling thread.

    Construction never raises: a callable that is not a coroutine function (nor marked as
    one) gets a `UserWarning`, and calling the wrapper of something that is not callable
    raises `TypeError`.

    Args:
        awaitable: A coroutine function (or a callable returning an awaitable).
        force_new_loop: Never use the enclosing `sync_to_async`'s loop; always use a
            loop of our own.
    """

    #: `executors.current` is the [CurrentThreadExecutor][asgi_sync.CurrentThreadExecutor]
    #: of the innermost `async_to_sync` of the current context (request), or `None`.
    executors: ClassVar[_Executors] = _Executors()

    def __init__(
        self,
        awaitable: Union[
            Callable[_P, Coroutine[Any, Any, _R]],
            Callable[_P, Awaitable[_R]],
        ],
        force_new_loop: bool = False,
    ) -> None:
        if not iscoroutinefunction(awaitable) and not iscoroutinefunction(
            getattr(awaitable, "__call__", awaitable)  # noqa: B004
        ):
            # Maybe a sync function returning an awaitable; it works, but say so.
            warnings.warn(
                "async_to_sync was passed a non-async-marked callable",
                UserWarning,
                stacklevel=2,
            )
        # Metadata first, our own attributes after, so the wrapper's win.
        functools.update_wrapper(self, awaitable)
        self.awaitable = awaitable
        self.force_new_loop = force_new_loop
        try:
            self.__self__ = awaitable.__self__  # type: ignore[union-attr]
        except AttributeError:
            pass
        _drop_shadowing_attributes(self, awaitable)

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Run the coroutine and block this thread until it finishes; return its result.

        The coroutine runs on the target loop's thread; this thread meanwhile serves the
        coroutine's thread-sensitive `sync_to_async` calls.

        Raises:
            RuntimeError: When this thread is running an event loop.
            TypeError: When the wrapped object is not callable.
        """
        if asyncio._get_running_loop() is not None:
            raise RuntimeError(_IN_LOOP_MESSAGE)
        if not callable(self.awaitable):
            self._not_callable()
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
        wrapped = main = self.main_wrap(
            call_result, exc_info, task_context, result_context, awaitable
        )

        # From plain sync code: a fresh loop on a pooled loop thread, shut down and closed
        # (as asyncio.run does) before `loop_done` is set; or the kept loop of the
        # enclosing AsyncSingleThreadContext.
        loop_done: Future[None] | None = None
        executor._enter()
        try:
            if loop is not None:
                loop.call_soon_threadsafe(_start_task, loop, main, context)
            else:
                loop_done = Future()
                main = _serving_loop_calls(main, executor)
                pinned = _single_thread_context.get()
                if pinned is not None:
                    pinned.run(main, context, loop_done)
                else:
                    _run_in_fresh_loop(main, context, loop_done)
        except BaseException:
            executor._abandon()
            main.close()
            wrapped.close()
            raise
        try:
            executor.run_until_future(call_result if loop_done is None else loop_done)
        finally:
            if _copy_back(result_context[0], base):
                bind_context_to_current_thread()
        if loop_done is not None and loop_done.exception() is not None:
            # Making, shutting down or closing the loop failed (maybe before it ran).
            _close_if_never_started(wrapped)
            _close_if_never_started(awaitable)
            loop_done.result()
        return call_result.result()

    def __get__(
        self: AsyncToSync[Concatenate[_S, _Q], _R], parent: _S, objtype: type[Any] | None = None
    ) -> Callable[_Q, _R]:
        """Bind to `parent` when used as a method; the result keeps the method's signature."""
        func = functools.partial(self.__call__, parent)
        return functools.update_wrapper(func, self.awaitable)

    def _not_callable(self) -> NoReturn:
        message = (
            f"async_to_sync was given {self.awaitable!r}, which is not callable: pass it a "
            "coroutine function (or a callable returning an awaitable)."
        )
        raise TypeError(message)

    async def main_wrap(
        self,
        call_result: Future[_R],
        exc_info: OptExcInfo,
        task_context: list[asyncio.Task[Any]] | None,
        context: list[contextvars.Context],
        awaitable: Union[Coroutine[Any, Any, _R], Awaitable[_R]],
    ) -> None:
        """Await `awaitable` on the target loop and report into `call_result`.

        Runs as its own task on the target loop; the final context is stored in `context[0]`
        before `call_result` is set, so the waiting thread can copy its changes back. When
        the caller runs inside a [sync_to_async][asgi_sync.sync_to_async] call, the task is
        listed in `task_context`, so cancelling that call's awaiting task reaches it.
        """
        bind_context_to_current_thread()
        current = asyncio.current_task()
        if task_context is not None and current is not None:
            task_context.append(current)
            outcomes = getattr(task_context, "outcomes", None)
            if outcomes is not None:
                outcomes[current] = call_result
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
                if outcomes is not None:
                    outcomes.pop(current, None)


# Event loops started by async_to_sync from plain sync code -> the executor of the sync
# thread waiting for that call (rule 3 of where thread-sensitive calls run).
_loop_executors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CurrentThreadExecutor] = (
    weakref.WeakKeyDictionary()
)


async def _serving_loop_calls(main: Awaitable[None], executor: CurrentThreadExecutor) -> None:
    """Await `main`; meanwhile this loop's contextless thread-sensitive calls go to `executor`."""
    loop = asyncio.get_running_loop()
    _loop_executors[loop] = executor
    try:
        await main
    finally:
        if _loop_executors.get(loop) is executor:
            del _loop_executors[loop]


# --- sync_to_async ---------------------------------------------------------------------


class SyncToAsync(Generic[_P, _R]):
    """A coroutine function that runs a sync callable in a thread and awaits it.

    Where a thread-sensitive call (the default) runs is decided at each call, in the
    awaiting task's context; the first match wins:

    1. the sync thread blocked in the innermost enclosing
       [async_to_sync][asgi_sync.async_to_sync] (`AsyncToSync.executors.current`);
    2. the thread of the current [ThreadSensitiveContext][asgi_sync.ThreadSensitiveContext];
    3. the sync thread waiting in the `async_to_sync` call that started this event loop
       from plain sync code;
    4. one process-wide thread (`SyncToAsync.single_thread_executor`).

    Other calls run on `executor`, or else on a pooled thread (`asgi_sync-worker-N`; the
    pool grows rather than queue, so nested calls cannot starve each other).

    Cancelling the awaiting task cannot interrupt the sync callable. When the callable is
    blocked in `async_to_sync(g)` and `g` runs on the awaiting task's loop, the cancellation
    is forwarded to `g` and waited for: if `g` absorbs it (finishes normally, for example
    around `asyncio.shield`), the await goes on and returns the callable's result;
    otherwise it raises at once (`g`'s exception, or `CancelledError`), and the
    `async_to_sync` calls the callable makes later are cancelled as they start.

    Attributes:
        func: The sync callable.
        context: The `contextvars.Context` given, or `None`.

    Args:
        func: The sync callable.
        thread_sensitive: Keep the request's sync code on one thread (see above).
        executor: Where non-thread-sensitive calls run.
        context: Run in this `contextvars.Context` instead of a copy of the caller's,
            and do not copy changes back.

    Raises:
        TypeError: When `func` is async, or `executor` is given with
            `thread_sensitive=True`.
    """

    # The ThreadSensitiveContext of the current request, if any.
    thread_sensitive_context: ClassVar[contextvars.ContextVar[ThreadSensitiveContext]] = (
        contextvars.ContextVar("thread_sensitive_context")
    )
    # Each live ThreadSensitiveContext -> the executor its calls run on.
    context_to_thread_executor: ClassVar[
        weakref.WeakKeyDictionary[ThreadSensitiveContext, Executor]
    ] = weakref.WeakKeyDictionary()
    # The process-wide thread for thread-sensitive calls outside any context.
    single_thread_executor: ClassVar[Executor] = _Worker("asgi_sync-thread-sensitive")

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
        # Metadata first, our own attributes after, so the wrapper's win.
        functools.update_wrapper(self, func)
        self.func = func
        self.context = context
        self._thread_sensitive = thread_sensitive
        self._executor = executor
        markcoroutinefunction(self)
        try:
            self.__self__ = func.__self__  # type: ignore[attr-defined]
        except AttributeError:
            pass
        _drop_shadowing_attributes(self, func)

    async def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Run the sync callable in its thread and return its result (see the class)."""
        loop = asyncio.get_running_loop()
        # Where the call runs, and whether to remember it for calls further down the chain.
        tracked: Executor | None = None
        worker: _Worker | None = None
        if self._thread_sensitive:
            executor: Executor | None = _current_executor.get()
            if executor is None:
                current_context = SyncToAsync.thread_sensitive_context.get(None)
                if current_context is not None:
                    executor = tracked = current_context._executor_for(self)
                else:
                    executor = _loop_executors.get(loop)
                    if executor is None:
                        executor = tracked = SyncToAsync.single_thread_executor
                if isinstance(executor, _Worker):
                    worker = executor
        else:
            executor = self._executor

        context = self.context
        base = None
        future = loop.create_future()
        ancestor = None if tracked is None else _running_on.get()
        if context is None:
            context = contextvars.copy_context()
            if tracked is not None:
                # Remember, for calls made further down this chain, that it descends
                # from this call on this executor.
                context.run(_running_on.set, (tracked, future, ancestor))
            base = context.copy()
        child = functools.partial(self.func, *args, **kwargs)
        func: Callable[..., _R] = functools.partial(context.run, _enter_and_call)  # type: ignore[arg-type]
        task_context = _TaskContext()
        exc_info = sys.exc_info()
        thread_handler = self.thread_handler
        call_soon = _waker_for(loop).call_soon

        def work() -> None:
            if future.done():  # the awaiting task was cancelled before we started
                return
            try:
                result = thread_handler(loop, exc_info, task_context, func, child)
            except BaseException as exc:
                try:
                    call_soon(loop, _set_exception, future, exc)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    pass
            else:
                try:
                    call_soon(loop, _set_result, future, result)
                except RuntimeError:
                    pass

        if worker is not None:
            if ancestor is not None and ancestor[0] is worker and not ancestor[1].done():
                # This chain descends from a call still running on that worker's one
                # thread: queueing behind it would wait for ourselves.
                if not worker._put_on_waiting_thread(work):
                    self._would_deadlock(worker)
            else:
                worker._put(work)
        else:
            _dispatch(executor, work, loop)
        waiting = future
        while True:
            try:
                result: _R = await waiting
                break
            except asyncio.CancelledError:
                if not waiting.cancelled():  # the sync code raised it, or it came too late
                    raise
                # Our awaiting task was cancelled while the sync code runs.
                absorbed = await _forward_cancellation(loop, future, task_context)
                if absorbed is None:
                    raise
                waiting = absorbed
            except BaseException:
                if base is not None and _copy_back(context, base):
                    bind_context_to_current_thread()
                raise
        if base is not None and _copy_back(context, base):
            bind_context_to_current_thread()
        return result

    def __get__(
        self: SyncToAsync[Concatenate[_S, _Q], _R], parent: _S, objtype: type[Any] | None = None
    ) -> Callable[_Q, Coroutine[Any, Any, _R]]:
        """Bind to `parent` when used as a method; the result keeps the method's signature."""
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
        """Run `func(*args, **kwargs)` on the worker thread; `args[0]` is the user call.

        Records `loop` so `async_to_sync` called from this thread uses it, and re-raises
        `exc_info` around the call so `sys.exc_info()` inside matches the caller's.
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
    """Run `work` (which never raises) on `executor`'s thread."""
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


def _drop_shadowing_attributes(wrapper: object, wrapped: object) -> None:
    """Remove what `update_wrapper` copied from `wrapped` that would hide `wrapper`'s names.

    The wrapper's own attributes and methods (`func`, `thread_handler`, `main_wrap`, ...)
    win over same-named attributes of the callable it wraps.
    """
    copied = getattr(wrapped, "__dict__", None)
    if not copied:
        return
    own = vars(wrapper)
    cls = type(wrapper)
    for name in list(copied):
        if (
            not name.startswith("__")
            and own.get(name) is copied[name]
            and hasattr(cls, name)
            and name not in _WRAPPER_OWN
        ):
            del own[name]


# Instance attributes the wrappers set themselves (never dropped).
_WRAPPER_OWN = frozenset(("func", "context", "awaitable", "force_new_loop"))


# --- contexts --------------------------------------------------------------------------


class ThreadSensitiveContext:
    """Async context manager giving the thread-sensitive calls inside it their own thread.

    Enter it in the event loop's thread (`async with`). There are two kinds.

    A plain context, `ThreadSensitiveContext()`, is the one to use per request in an async
    server: the thread-sensitive sync code of the request runs on one thread of its own, in
    parallel with other requests'. Only the outermost plain context takes effect, and the
    object can be entered again. The thread comes from a pool of long-lived threads (taken
    at the first call, not at entry); on exit the `async with` waits, without blocking the
    event loop, for the sync work still queued on it, then hands it back. A task created
    inside that makes its first call after the exit gets a thread of its own (a one-thread
    executor registered in `SyncToAsync.context_to_thread_executor`; pop it and use it as a
    context manager to shut it down).

    An executor context, `ThreadSensitiveContext(executor=E)`, runs every thread-sensitive
    call of the block (and of tasks created in it) on `E`, which should run one call at a
    time. It always takes over, even inside another context, and hides the enclosing
    `async_to_sync`'s thread (`AsyncToSync.executors.current` is `None` inside) so the calls
    do not go there; a plain context inside it is a no-op. It is single use. On exit it
    neither waits for `E` nor shuts it down; tasks created inside must finish first,
    later calls from them raise `RuntimeError`.

    Args:
        executor: Run the calls on this executor instead of a pooled thread.
    """

    def __init__(self, *, executor: Executor | None = None) -> None:
        self._explicit_executor = executor
        self._worker: _Worker | None = None  # plain: the pooled thread lent to it
        self._entered = False
        self._exited = False  # executor contexts: single use
        self._registered = False  # plain: an executor was registered for it
        # Plain: one token per `async with` (None where it was a no-op, being nested).
        self._tokens: list[contextvars.Token[ThreadSensitiveContext] | None] = []
        self._bridge_token: contextvars.Token[CurrentThreadExecutor | None] | None = None

    def _executor_for(self, caller: SyncToAsync[Any, Any]) -> Executor:
        """The executor of a thread-sensitive call made in this context (event-loop thread)."""
        explicit = self._explicit_executor
        if explicit is not None:
            if self._entered:
                return explicit
            name = getattr(caller.func, "__qualname__", repr(caller.func))
            message = (
                f"sync_to_async({name}) cannot run: its ThreadSensitiveContext has exited. "
                "Tasks created inside a ThreadSensitiveContext with an executor must finish "
                "before it exits: await them inside the `async with` block."
            )
            raise RuntimeError(message)
        worker = self._worker
        if worker is not None:
            return worker
        registered = SyncToAsync.context_to_thread_executor.get(self)
        if registered is not None:
            return registered
        executor: Executor
        if self._entered:
            executor = self._worker = _acquire_worker()
        else:
            # A task created inside makes its first call after the exit: a thread of its
            # own, which whoever pops it from the mapping can shut down.
            executor = ThreadPoolExecutor(1, thread_name_prefix="asgi_sync-late-context")
        SyncToAsync.context_to_thread_executor[self] = executor
        self._registered = True
        return executor

    async def __aenter__(self) -> ThreadSensitiveContext:
        """Enter; a plain context takes no thread until its first call.

        Raises:
            RuntimeError: When an executor context is entered twice, or its executor's
                thread is already blocked in the current call chain (it would deadlock).
        """
        explicit = self._explicit_executor
        if explicit is None:
            if SyncToAsync.thread_sensitive_context.get(None) is None:
                self._tokens.append(SyncToAsync.thread_sensitive_context.set(self))
                self._entered = True
            else:
                self._tokens.append(None)
            return self
        if self._entered:
            message = (
                "This ThreadSensitiveContext is already entered: use a new "
                "ThreadSensitiveContext(executor=...) for a nested block."
            )
            raise RuntimeError(message)
        if self._exited:
            message = (
                "This ThreadSensitiveContext with an executor was entered and exited, and "
                "cannot be entered again: create a new one (it may take the same executor)."
            )
            raise RuntimeError(message)
        _check_not_blocked_in_chain(explicit)
        self._entered = True
        SyncToAsync.context_to_thread_executor[self] = explicit
        self._tokens.append(SyncToAsync.thread_sensitive_context.set(self))
        self._bridge_token = _current_executor.set(None)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave; a plain context waits for its thread's queued work, then hands it back."""
        if self._explicit_executor is not None:
            if not self._entered:
                return
            SyncToAsync.context_to_thread_executor.pop(self, None)
            token = self._tokens.pop()
            assert token is not None
            SyncToAsync.thread_sensitive_context.reset(token)
            if self._bridge_token is not None:
                _current_executor.reset(self._bridge_token)
                self._bridge_token = None
            self._entered = False
            self._exited = True
            return
        token = self._tokens.pop() if self._tokens else None
        if token is None:
            return
        SyncToAsync.thread_sensitive_context.reset(token)
        self._entered = False
        worker, self._worker = self._worker, None
        executor: Executor | None = worker
        if self._registered:
            self._registered = False
            executor = SyncToAsync.context_to_thread_executor.pop(self, None)
        if executor is None:
            return
        if executor is worker:
            assert worker is not None
            try:
                if worker._submitted != worker._completed:
                    await _drained(worker)
            finally:
                worker._release()
        else:
            try:
                await asyncio.wrap_future(executor.submit(_nothing))
            finally:
                executor.shutdown(wait=False)


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
    """Wrap a coroutine function so sync code can call it.

    Returns an [AsyncToSync][asgi_sync.AsyncToSync].

    Works as `async_to_sync(f)`, `@async_to_sync` and `@async_to_sync(force_new_loop=...)`.
    The coroutine runs on the enclosing `sync_to_async`'s event loop when there is one,
    else in a new event loop on a pooled loop thread, closed (as by `asyncio.run`) before
    the call returns; the calling thread blocks and meanwhile runs the coroutine's
    thread-sensitive `sync_to_async` calls.

    Args:
        awaitable: The coroutine function.
        force_new_loop: Always use a loop of our own, never the enclosing one.

    Returns:
        The sync callable, or a decorator when `awaitable` is omitted.
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
    """Wrap a sync callable so async code can await it in a thread.

    Returns a [SyncToAsync][asgi_sync.SyncToAsync].

    Works as `sync_to_async(f)`, `@sync_to_async` and `@sync_to_async(...)`.

    Args:
        func: The sync callable.
        thread_sensitive: Run on the request's one sync thread (default), else on
            `executor` or a pooled thread.
        executor: Where non-thread-sensitive calls run.
        context: Run in this context, without copying changes back to the caller.

    Returns:
        The coroutine function, or a decorator when `func` is omitted.

    Raises:
        TypeError: When `func` is async, or `executor` is given with
            `thread_sensitive=True`.
    """
    if func is None:
        return lambda f: SyncToAsync(
            f, thread_sensitive=thread_sensitive, executor=executor, context=context
        )
    return SyncToAsync(func, thread_sensitive=thread_sensitive, executor=executor, context=context)
