"""Bridge iterators between sync and async code, lazily and in bounded memory.

[sync_to_async_iter][asgi_sync.iterators.sync_to_async_iter] turns a sync iterable (a
generator of CSV rows, a queryset's `.iterator()`) into an async iterator;
[async_to_sync_iter][asgi_sync.iterators.async_to_sync_iter] turns an async iterable into a
sync iterator. Neither reads the whole source into memory: nothing runs before the
consumer asks for the first item, and then the source is read in "hops" of a few items,
never more than `read_ahead` ahead of the consumer.

Each hop is one call of the ordinary call bridges: a
[SyncToAsync][asgi_sync.SyncToAsync] call of a step function for the sync source, an
[AsyncToSync][asgi_sync.AsyncToSync] call of a step coroutine for the async source. So the
thread (or loop) a step runs on, and the `Local` values bound in it, are exactly those of
`sync_to_async` / `async_to_sync` called at the same place. Context flows into the source
but not back (see each function). The guide *Streaming between sync and async* has the
Django recipe and diagrams.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import deque
from concurrent.futures import Executor
from time import perf_counter
from typing import (
    Any,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Coroutine,
    Deque,
    Generic,
    Iterable,
    Iterator,
    List,
    Literal,
    Optional,
    Set,
    Tuple,
    TypeVar,
    overload,
)

from asgi_sync import AsyncSingleThreadContext, AsyncToSync, SyncToAsync

__all__ = (
    "sync_to_async_iter",
    "async_to_sync_iter",
    "SyncToAsyncIterator",
    "AsyncToSyncIterator",
    "DEFAULT_READ_AHEAD",
)

_T = TypeVar("_T")

DEFAULT_READ_AHEAD = 64
"""The default `read_ahead`: items taken from the source ahead of the consumer, at most."""

# A hop stops taking items once it has run this long, so other work queued for its thread
# gets a turn. (Sync side: items are handed over as they are made; async side: a hop
# returns its batch.)
_HOP_SECONDS = 0.005

# Items fetched in one hop, the error that ended the source (if any), and whether it ended.
_Batch = Tuple[List[_T], Optional[BaseException], bool]

# Hops and background closes stay referenced until done.
_running_tasks: Set[asyncio.Task[None]] = set()


def _check_read_ahead(read_ahead: object) -> int:
    if isinstance(read_ahead, bool) or not isinstance(read_ahead, int):
        message = (
            f"read_ahead must be an int (items taken ahead of the consumer at most), "
            f"got {read_ahead!r}."
        )
        raise TypeError(message)
    if read_ahead < 1:
        message = f"read_ahead must be at least 1, got {read_ahead!r}."
        raise ValueError(message)
    return read_ahead


# --- sync iterable -> async iterator ---------------------------------------------------


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _SyncSource(Generic[_T]):
    """State shared by the consumer's loop and the thread that iterates the source.

    Kept apart from [SyncToAsyncIterator][asgi_sync.iterators.SyncToAsyncIterator] (which
    nothing here references), so the wrapper is finalised as soon as the consumer drops
    it, even while a hop is still running.
    """

    __slots__ = (
        "buffer",
        "busy",
        "close_call",
        "closed",
        "context",
        "done",
        "ended",
        "error",
        "hop",
        "iterable",
        "iterator",
        "lock",
        "loop",
        "low",
        "pending",
        "read_ahead",
        "step_call",
        "stop",
        "waiter",
    )

    def __init__(self, iterable: Iterable[_T], read_ahead: int) -> None:
        self.iterable: Iterable[_T] | None = iterable
        self.iterator: Iterator[_T] | None = None
        self.read_ahead = read_ahead
        self.low = read_ahead // 2  # start the next hop when this few are left
        self.buffer: Deque[_T] = deque()
        # The hops: SyncToAsync calls of `step` and `close` (set by the iterator).
        self.step_call: SyncToAsync[[], None]
        self.close_call: SyncToAsync[[], None]
        self.done = False  # StopAsyncIteration or the source's error was raised
        # Guards the hand-over: buffer appends, `waiter`, `ended`/`error`, `stop`.
        self.lock = threading.Lock()
        # Held by a step or a close, so a close waits for the step in progress.
        self.busy = threading.Lock()
        self.waiter: asyncio.Future[None] | None = None  # the consumer waits on it
        self.loop: asyncio.AbstractEventLoop | None = None
        self.context: contextvars.Context | None = None  # of the latest hop, for a close
        self.hop: asyncio.Task[Any] | None = None
        self.pending = 0  # hops started whose step has not finished (under `lock`)
        self.ended = False  # the source raised StopIteration or an error
        self.error: BaseException | None = None
        self.stop = False  # the consumer is gone or closing: take no more items
        self.closed = False

    async def next(self) -> _T:
        """Return the next item (on the consumer's loop)."""
        buffer = self.buffer
        if buffer:
            item = buffer.popleft()
            if len(buffer) <= self.low and self.hop is None and not self.ended and not self.stop:
                self.start_hop()
            return item
        while True:
            if self.ended or self.stop:
                if self.ended and not self.done:
                    self.done = True
                    error, self.error = self.error, None
                    if error is not None:
                        raise error
                raise StopAsyncIteration
            if self.hop is None:
                self.start_hop()
            loop = self.loop
            assert loop is not None
            waiter: asyncio.Future[None] = loop.create_future()
            with self.lock:
                if not buffer and not self.ended:
                    self.waiter = waiter
            if self.waiter is waiter:
                try:
                    await waiter
                finally:
                    if self.waiter is waiter:
                        self.waiter = None
            if buffer:
                return await self.next()

    def start_hop(self) -> None:
        """Start a hop: its thread is chosen now, in the consumer's current context."""
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        self.context = context.copy()
        with self.lock:
            self.pending += 1
        try:
            task = _start_call(loop, self.step_call, context)
        except BaseException:
            with self.lock:
                self.pending -= 1
            raise
        if task is not None:
            self.hop = task
            task.add_done_callback(self.hop_done)

    def step(self) -> None:
        """Take items into the buffer until it holds `read_ahead` (on the iterating thread).

        Each item is handed over as soon as it is made: a consumer waiting for it is woken
        at once, so no item waits for the next one. The hop ends when the buffer is full,
        when the source ends, when the consumer stops, or after a few milliseconds (so
        other work queued for this thread gets its turn).
        """
        with self.busy:
            try:
                self._take()
            finally:
                with self.lock:
                    self.pending -= 1
                    close_now = self.stop and not self.closed
                if close_now:
                    # The consumer went away while this hop was queued or running: the
                    # close is ours, here, on the iterating thread.
                    self._close_holding_busy()

    def _take(self) -> None:
        if self.closed or self.ended or self.stop:
            return
        buffer, lock, limit = self.buffer, self.lock, self.read_ahead
        loop = self.loop
        assert loop is not None
        try:
            iterator = self.iterator
            if iterator is None:
                assert self.iterable is not None
                iterator = self.iterator = iter(self.iterable)
                self.iterable = None
            take = iterator.__next__
            deadline = perf_counter() + _HOP_SECONDS
            while True:
                item = take()
                with lock:
                    buffer.append(item)
                    waiter, self.waiter = self.waiter, None
                    more = len(buffer) < limit and not self.stop
                if waiter is not None:
                    loop.call_soon_threadsafe(_wake, waiter)
                if not more or perf_counter() >= deadline:
                    return
        except StopIteration:
            self._end(None)
        except BaseException as exc:
            self._end(exc)

    def _end(self, error: BaseException | None) -> None:
        with self.lock:
            self.ended = True
            self.error = error
            waiter, self.waiter = self.waiter, None
        if waiter is not None and self.loop is not None:
            try:
                self.loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def hop_done(self, task: asyncio.Task[Any]) -> None:
        """On the loop: the hop's task finished; wake a consumer still waiting."""
        if self.hop is task:
            self.hop = None
        if not task.cancelled() and task.exception() is not None:
            # The bridge itself failed (the step catches the source's errors).
            with self.lock:
                self.ended = True
                self.error = task.exception()
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            _wake(waiter)

    def request_stop(self) -> bool:
        """Take no more items; say whether the caller must close (no hop will)."""
        with self.lock:
            self.stop = True
            self.buffer.clear()
            return self.pending == 0 and not self.closed and self.loop is not None

    def close(self) -> None:
        """Close the source iterator on the calling thread (after any step in progress)."""
        self.stop = True
        with self.busy:
            self._close_holding_busy()

    def _close_holding_busy(self) -> None:
        if self.closed:
            return
        self.closed = True
        iterator, self.iterator, self.iterable = self.iterator, None, None
        self.buffer.clear()
        if iterator is not None and not self.ended:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()


def _report(loop: asyncio.AbstractEventLoop, exc: BaseException) -> None:
    # Nobody awaits a background close: report its error instead of losing it.
    loop.call_exception_handler(
        {"message": "closing a bridged sync iterator failed", "exception": exc}
    )


async def _finish_call(
    call: Coroutine[Any, Any, None], waiting_for: Any, context: contextvars.Context
) -> None:
    # Drive the rest of a SyncToAsync call whose first step already ran (see _start_call).
    try:
        while True:
            try:
                if waiting_for is None:
                    await asyncio.sleep(0)
                else:
                    # What a Task does with a future its coroutine yields: take it over.
                    waiting_for._asyncio_future_blocking = False
                    await waiting_for
            except asyncio.CancelledError:
                raise
            except BaseException:
                pass
            waiting_for = context.run(call.send, None)
    except StopIteration:
        pass
    except asyncio.CancelledError:
        call.close()
        raise


def _start_call(
    loop: asyncio.AbstractEventLoop, hop: SyncToAsync[[], None], context: contextvars.Context
) -> asyncio.Task[None] | None:
    """Start a [SyncToAsync][asgi_sync.SyncToAsync] call now, finish it in a task.

    The first step of the call runs here, on the loop's thread, at once: that is where it
    picks its thread and queues the work. A task would take that step one loop iteration
    later, and by then the request's
    [ThreadSensitiveContext][asgi_sync.ThreadSensitiveContext] may have exited (a `break`
    or a cancellation unwinds through `async with` right after dropping the iterator), so
    the step or close would run on another thread. Raises what that first step raises.
    """
    call = hop()
    try:
        waiting_for = context.run(call.send, None)
    except StopIteration:
        return None
    task = loop.create_task(_finish_call(call, waiting_for, context))
    _running_tasks.add(task)
    task.add_done_callback(_running_tasks.discard)
    return task


def _close_in_background(
    loop: asyncio.AbstractEventLoop, hop: SyncToAsync[[], None], context: contextvars.Context
) -> None:
    try:
        task = _start_call(loop, hop, context)
    except Exception as exc:
        _report(loop, exc)
        return
    if task is not None:
        task.add_done_callback(_report_failure)


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _report(task.get_loop(), task.exception())  # type: ignore[arg-type]


class SyncToAsyncIterator(AsyncIterator[_T]):
    """An async iterator over a sync iterable, iterated in hops on a worker thread.

    Built by [sync_to_async_iter][asgi_sync.iterators.sync_to_async_iter]; see there for
    the rules. Nothing runs before the first `__anext__`. Each hop is one
    [SyncToAsync][asgi_sync.SyncToAsync] call (so it runs on the thread
    `sync_to_async(..., thread_sensitive=..., executor=...)` would use at that point) of a
    step that takes items until `read_ahead` are waiting; the next hop starts when the
    consumer has taken half of them.

    It has no `__iter__`, so frameworks that look for one (Django's
    `StreamingHttpResponse`) treat it as async.
    """

    def __init__(
        self,
        iterable: Iterable[_T],
        *,
        thread_sensitive: bool = True,
        executor: Executor | None = None,
        read_ahead: int = DEFAULT_READ_AHEAD,
    ) -> None:
        if not hasattr(iterable, "__iter__"):
            if hasattr(iterable, "__aiter__"):
                message = (
                    f"sync_to_async_iter needs a sync iterable, got the async iterable "
                    f"{iterable!r}: iterate it with `async for` directly."
                )
            else:
                message = f"sync_to_async_iter needs a sync iterable, got {iterable!r}."
            raise TypeError(message)
        if thread_sensitive and executor is not None:
            raise TypeError("executor must not be set when thread_sensitive is True")
        source = _SyncSource(iterable, _check_read_ahead(read_ahead))
        source.step_call = SyncToAsync(source.step, thread_sensitive, executor)
        source.close_call = SyncToAsync(source.close, thread_sensitive, executor)
        self._source = source

    def __aiter__(self) -> SyncToAsyncIterator[_T]:
        """Return the iterator itself."""
        return self

    def __anext__(self) -> Awaitable[_T]:
        """Return the next item, waiting for the iterating thread when none is ready.

        The awaitable raises `StopAsyncIteration` when the source is exhausted or the
        iterator was closed.
        """
        # Not a coroutine of ours: a traceback through it (a cancelled consumer) must not
        # keep this wrapper alive, or it would be finalised after the request's
        # ThreadSensitiveContext is gone.
        return self._source.next()

    async def aclose(self) -> None:
        """Close the sync iterator (`close()` on it), on the thread that iterates it.

        Waits for a step in progress first. Later `__anext__` calls raise
        `StopAsyncIteration`. A no-op when it is closed already; when nothing was started,
        `iter()` is never called.
        """
        source = self._source
        source.request_stop()
        if source.loop is None:  # never started
            source.closed = True
            source.iterable = None
            return
        await source.close_call()

    def close(self) -> None:
        """Close the sync iterator from sync code, on the calling thread.

        For frameworks that close their response content from a thread: Django calls it
        through `sync_to_async(response.close)()`, which runs on the request's
        thread-sensitive thread, the same one the steps run on. Called on a thread that
        runs an event loop, it does not block: the close is queued as by `aclose()`.
        """
        source = self._source
        if asyncio._get_running_loop() is not None:
            self._stop_and_close_soon()
            return
        source.request_stop()
        if source.loop is None:
            source.closed = True
            source.iterable = None
            return
        source.close()

    def _stop_and_close_soon(self) -> None:
        # Without waiting: a hop queued or running closes the source when its step ends;
        # else a close hop is started now, in the context of the latest hop.
        source = self._source
        if not source.request_stop():
            if source.loop is None:
                source.closed = True
                source.iterable = None
            return
        loop, context = source.loop, source.context
        if loop is None or context is None or loop.is_closed():
            return
        if asyncio._get_running_loop() is loop:
            _close_in_background(loop, source.close_call, context)
            return
        try:
            loop.call_soon_threadsafe(_close_in_background, loop, source.close_call, context)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def __del__(self) -> None:
        # Dropped without being closed (a `break` out of `async for`, a cancelled
        # consumer): close the source on its thread, behind any step in progress, as
        # asyncio does for async generators.
        try:
            source = self._source
            if not (source.closed or source.ended):
                self._stop_and_close_soon()
        except Exception:
            pass


@overload
def sync_to_async_iter(
    iterable: Iterable[_T],
    *,
    thread_sensitive: Literal[True] = True,
    executor: None = None,
    read_ahead: int = DEFAULT_READ_AHEAD,
) -> SyncToAsyncIterator[_T]: ...


@overload
def sync_to_async_iter(
    iterable: Iterable[_T],
    *,
    thread_sensitive: Literal[False],
    executor: Executor | None = None,
    read_ahead: int = DEFAULT_READ_AHEAD,
) -> SyncToAsyncIterator[_T]: ...


@overload
def sync_to_async_iter(
    iterable: Iterable[_T],
    *,
    thread_sensitive: bool,
    executor: None = None,
    read_ahead: int = DEFAULT_READ_AHEAD,
) -> SyncToAsyncIterator[_T]: ...


def sync_to_async_iter(
    iterable: Iterable[_T],
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    read_ahead: int = DEFAULT_READ_AHEAD,
) -> SyncToAsyncIterator[_T]:
    """Iterate a sync iterable from async code, lazily, on the thread sync code would use.

    ```python
    async for row in sync_to_async_iter(Row.objects.iterator()):
        ...
    ```

    - **Lazy, bounded**: nothing runs before the first `__anext__`. A hop (one
      [SyncToAsync][asgi_sync.SyncToAsync] call) calls `next()` until `read_ahead` items
      wait in the buffer, handing each item to the consumer as soon as it is made (a
      source that yields and then blocks, such as a stream of events, never holds an item
      back). The next hop starts when the consumer has taken half of them, so a cheap
      generator costs one thread hop per `read_ahead / 2` items and a slow consumer stops
      the reading (backpressure). A hop also ends after 5 ms, so other work queued for
      its thread gets a turn.
    - **Threads**: thread-sensitive by default: the steps run on the thread of the
      request's other thread-sensitive calls (the enclosing
      [ThreadSensitiveContext][asgi_sync.ThreadSensitiveContext]'s, or the sync thread
      waiting in `async_to_sync`), so a database cursor is used on the thread that opened
      it. With `thread_sensitive=False` or `executor`, the rules of `sync_to_async`.
    - **Context**: each hop runs in a copy of the consumer's context as it is when the
      hop starts, so `contextvars` and `Local` values set by the consumer reach the
      source. Changes made by the source do **not** flow back: the hop runs ahead of the
      consumer, so there is no point at which they could be applied in order.
    - **Ending**: `aclose()`, `close()` from a thread (what Django's `response.close()`
      does) and garbage collection (a `break` out of `async for`, a cancelled consumer
      dropping it) call `close()` on the sync iterator on the thread that iterates it,
      after any step in progress, so a generator's `finally` runs there. Cancelling a
      waiting `__anext__` loses no item (`asyncio.wait_for(it.__anext__(), 15)` for a
      keep-alive is fine). Errors raised by the source propagate from `__anext__` with
      their traceback, after the items made before them.

    Args:
        iterable: The sync iterable; `iter()` is called on it in the first hop.
        thread_sensitive: Run the steps where thread-sensitive sync code runs (default).
        executor: Run the steps on this executor (only with `thread_sensitive=False`).
        read_ahead: Items taken ahead of the consumer at most.

    Returns:
        The async iterator.

    Raises:
        TypeError: When `iterable` is not a sync iterable, `read_ahead` is not an int, or
            `executor` is given with `thread_sensitive=True`.
        ValueError: When `read_ahead` is less than 1.
    """
    return SyncToAsyncIterator(
        iterable, thread_sensitive=thread_sensitive, executor=executor, read_ahead=read_ahead
    )


# --- async iterable -> sync iterator ---------------------------------------------------


class _AsyncSource(Generic[_T]):
    """The async side: the source async iterator and the step/close coroutines."""

    __slots__ = ("aiterable", "aiterator", "closed", "ended", "read_ahead", "target")

    def __init__(self, aiterable: AsyncIterable[_T], read_ahead: int) -> None:
        self.aiterable: AsyncIterable[_T] | None = aiterable
        self.aiterator: AsyncIterator[_T] | None = None
        self.read_ahead = read_ahead
        # Items the next hop takes at most: 1 at first (the first item is not held back
        # for the second), doubled after each hop that filled it quickly, back to 1 after
        # a slow one.
        self.target = 1
        self.ended = False
        self.closed = False

    async def step(self) -> _Batch[_T]:
        """Take a batch of items (runs on the loop async_to_sync chose)."""
        items: list[_T] = []
        if self.closed or self.ended:
            return items, None, True
        aiterator = self.aiterator
        try:
            if aiterator is None:
                assert self.aiterable is not None
                aiterator = self.aiterator = self.aiterable.__aiter__()
                self.aiterable = None
            take = aiterator.__anext__
            append = items.append
            limit = self.target
            deadline = perf_counter() + _HOP_SECONDS
            while True:
                append(await take())
                if len(items) >= limit:
                    self.target = min(limit * 2, self.read_ahead)
                    return items, None, False
                if perf_counter() >= deadline:
                    self.target = 1
                    return items, None, False
        except StopAsyncIteration:
            self.ended = True
            return items, None, True
        except Exception as exc:
            self.ended = True
            return items, exc, True

    async def close(self) -> None:
        """`aclose()` the source async iterator on its loop."""
        if self.closed:
            return
        self.closed = True
        aiterator, self.aiterator, self.aiterable = self.aiterator, None, None
        if aiterator is not None and not self.ended:
            aclose = getattr(aiterator, "aclose", None)
            if aclose is not None:
                await aclose()


_IN_LOOP_MESSAGE = (
    "You cannot iterate an async_to_sync_iter in a thread that runs an event loop - "
    "iterate the async iterable with `async for` directly."
)


class AsyncToSyncIterator(Iterator[_T]):
    """A sync iterator over an async iterable, pulled in batches on an event loop.

    Built by [async_to_sync_iter][asgi_sync.iterators.async_to_sync_iter]; see there for
    the rules. Nothing runs before the first `next()`.
    """

    def __init__(
        self,
        aiterable: AsyncIterable[_T],
        *,
        force_new_loop: bool = False,
        read_ahead: int = DEFAULT_READ_AHEAD,
    ) -> None:
        if not hasattr(aiterable, "__aiter__"):
            if hasattr(aiterable, "__iter__"):
                message = (
                    f"async_to_sync_iter needs an async iterable, got the sync iterable "
                    f"{aiterable!r}: iterate it with `for` directly."
                )
            else:
                message = f"async_to_sync_iter needs an async iterable, got {aiterable!r}."
            raise TypeError(message)
        source = _AsyncSource(aiterable, _check_read_ahead(read_ahead))
        self._source = source
        self._step = AsyncToSync(source.step, force_new_loop=force_new_loop)
        self._close = AsyncToSync(source.close, force_new_loop=force_new_loop)
        self._buffer: Deque[_T] = deque()
        self._error: BaseException | None = None
        self._stopped = False
        # Every hop runs in this context: a copy of the first next()'s, with an
        # AsyncSingleThreadContext entered, so hops from plain sync code share one loop.
        self._context: contextvars.Context | None = None
        self._single: AsyncSingleThreadContext | None = None

    def __iter__(self) -> AsyncToSyncIterator[_T]:
        """Return the iterator itself."""
        return self

    def __next__(self) -> _T:
        """Return the next item, fetching a batch on the event loop when none is left.

        Raises:
            StopIteration: When the source is exhausted or the iterator was closed.
            RuntimeError: When called on a thread that runs an event loop.
        """
        buffer = self._buffer
        if buffer:
            return buffer.popleft()
        while True:
            if self._stopped:
                error, self._error = self._error, None
                if error is not None:
                    raise error
                raise StopIteration
            context = self._context
            if context is None:
                if asyncio._get_running_loop() is not None:
                    raise RuntimeError(_IN_LOOP_MESSAGE)
                context = self._context = contextvars.copy_context()
                single = self._single = AsyncSingleThreadContext()
                context.run(single.__enter__)
            try:
                items, error, ended = context.run(self._step)
            except BaseException:
                self._finish()
                raise
            if ended:
                self._stopped = True
                self._error = error
                self._finish()
            if items:
                buffer.extend(items)
                return buffer.popleft()

    def _finish(self) -> None:
        # Leave the AsyncSingleThreadContext (gives its loop thread back).
        self._stopped = True
        single, self._single = self._single, None
        context = self._context
        if single is not None and context is not None:
            context.run(single.__exit__, None, None, None)

    def close(self) -> None:
        """`aclose()` the async iterator on the loop it was iterated on, and wait.

        A no-op when it is closed or exhausted already, or was never started.
        """
        self._buffer.clear()
        self._error = None
        self._stopped = True
        source = self._source
        context = self._context
        if context is None or self._single is None:  # never started, or finished
            source.closed = True
            source.aiterable = None
            return
        try:
            context.run(self._close)
        finally:
            self._finish()

    def __del__(self) -> None:
        # Dropped without being closed: close it like a generator would be, when this
        # thread may block for it; else leave it to the loop's async generator hooks.
        try:
            if self._single is None:
                return
            if asyncio._get_running_loop() is not None:
                self._finish()
                return
            self.close()
        except Exception:
            pass


def async_to_sync_iter(
    aiterable: AsyncIterable[_T],
    *,
    force_new_loop: bool = False,
    read_ahead: int = DEFAULT_READ_AHEAD,
) -> AsyncToSyncIterator[_T]:
    """Iterate an async iterable from sync code, lazily, on the loop `async_to_sync` picks.

    ```python
    def view(request):
        return StreamingHttpResponse(async_to_sync_iter(rows_from_an_async_api()))
    ```

    - **Lazy, bounded**: nothing runs before the first `next()`. A hop (one
      [AsyncToSync][asgi_sync.AsyncToSync] call) awaits `__anext__` for a batch: one item
      at first, twice as many after each hop that got its batch quickly, up to
      `read_ahead`, and back to one after a hop that took more than 5 ms. At most
      `read_ahead` items are held. A source that yields a burst of items and then waits
      may hold the last of the burst until its wait ends; pass `read_ahead=1` for a
      source that must hand every item over at once.
    - **Loop**: the loop `async_to_sync` would choose: inside a `sync_to_async` thread,
      the loop awaiting it; from plain sync code, one loop for the whole iteration (the
      hops run inside one [AsyncSingleThreadContext][asgi_sync.AsyncSingleThreadContext],
      entered at the first `next()` and left when the iterator ends or is closed), so
      loop-bound objects of the source keep working across hops. Thread-sensitive
      `sync_to_async` calls made by the source run on the iterating thread, as with
      `async_to_sync`. Like any `async_to_sync` call from plain sync code, a hop cancels
      the tasks it leaves behind: a source fed by a background task of its own (one that
      must keep running between two items) does not work there; iterate it inside a
      `sync_to_async` thread, or in async code.
    - **Context**: every hop runs in a copy of the context of the first `next()`;
      changes made by the source stay in that copy (they do not flow back to the caller,
      and the caller's later changes do not reach the source).
    - **Ending**: `close()` (and garbage collection on a thread without a running loop)
      awaits `aclose()` of the source on its loop. Errors raised by the source propagate
      from `next()` with their traceback, after the items fetched before them.

    Args:
        aiterable: The async iterable; `__aiter__()` is called on it in the first hop.
        force_new_loop: Never use the enclosing `sync_to_async`'s loop.
        read_ahead: Items taken per hop at most.

    Returns:
        The sync iterator.

    Raises:
        TypeError: When `aiterable` is not an async iterable or `read_ahead` is not an
            int.
        ValueError: When `read_ahead` is less than 1.
    """
    return AsyncToSyncIterator(aiterable, force_new_loop=force_new_loop, read_ahead=read_ahead)
