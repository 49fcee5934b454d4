"""Bridge iterators between sync and async code, lazily and in bounded memory.

[sync_to_async_iter][asgi_sync.iterators.sync_to_async_iter] turns a sync iterable (a
generator of CSV rows, a queryset's `.iterator()`) into an async iterator;
[async_to_sync_iter][asgi_sync.iterators.async_to_sync_iter] turns an async iterable into a
sync iterator. Neither reads the whole source into memory: the source is pulled in small
batches ("hops"), only when the consumer asks for the next item.

Each hop is one call of the ordinary call bridges: a
[SyncToAsync][asgi_sync.SyncToAsync] call of a step function for the sync source, an
[AsyncToSync][asgi_sync.AsyncToSync] call of a step coroutine for the async source. So the
thread (or loop) a step runs on, the context it sees and the `Local` values bound in it are
exactly those of `sync_to_async` / `async_to_sync` called at the same place.
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

#: Items fetched per hop at most, by default (the read-ahead bound).
DEFAULT_READ_AHEAD = 64

# A hop stops taking items once it has run this long, so a slow source hands over each
# item as soon as it is made while a fast one is read in batches of `read_ahead` items.
_HOP_SECONDS = 0.001

# Items fetched in one hop, the error that ended the source (if any), and whether it ended.
_Batch = Tuple[List[_T], Optional[BaseException], bool]

# Background closes (after cancellation or garbage collection) stay referenced until done.
_closing_tasks: Set[asyncio.Task[None]] = set()


def _check_read_ahead(read_ahead: object) -> int:
    if isinstance(read_ahead, bool) or not isinstance(read_ahead, int) or read_ahead < 1:
        message = (
            f"read_ahead must be a positive int (items fetched per thread hop at most), "
            f"got {read_ahead!r}."
        )
        raise ValueError(message)
    return read_ahead


# --- sync iterable -> async iterator ---------------------------------------------------


class _SyncSource(Generic[_T]):
    """The sync side: the source iterator and the step/close functions run on its thread.

    Kept apart from [SyncToAsyncIterator][asgi_sync.iterators.SyncToAsyncIterator] so
    the wrapper holds no reference cycle and is finalised as soon as it is dropped.
    """

    __slots__ = ("closed", "ended", "iterable", "iterator", "lock", "read_ahead")

    def __init__(self, iterable: Iterable[_T], read_ahead: int) -> None:
        self.iterable: Iterable[_T] | None = iterable
        self.iterator: Iterator[_T] | None = None
        self.read_ahead = read_ahead
        # Held by a step or a close, so a close requested meanwhile waits for the step.
        self.lock = threading.Lock()
        self.ended = False  # the source raised StopIteration or an error
        self.closed = False

    def step(self) -> _Batch[_T]:
        """Take up to `read_ahead` items (runs on the iterating thread)."""
        items: list[_T] = []
        with self.lock:
            if self.closed or self.ended:
                return items, None, True
            iterator = self.iterator
            try:
                if iterator is None:
                    assert self.iterable is not None
                    iterator = self.iterator = iter(self.iterable)
                    self.iterable = None
                take = iterator.__next__
                append = items.append
                limit = self.read_ahead
                deadline = perf_counter() + _HOP_SECONDS
                while True:
                    append(take())
                    if len(items) >= limit or perf_counter() >= deadline:
                        return items, None, False
            except StopIteration:
                self.ended = True
                return items, None, True
            except BaseException as exc:
                self.ended = True
                return items, exc, True

    def close(self) -> None:
        """Close the source iterator on the calling thread (after any step in progress)."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            iterator, self.iterator, self.iterable = self.iterator, None, None
            if iterator is not None and not self.ended:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()


def _report(loop: asyncio.AbstractEventLoop, exc: BaseException) -> None:
    # Nobody awaits a background close: report its error instead of losing it.
    loop.call_exception_handler(
        {"message": "closing a bridged sync iterator failed", "exception": exc}
    )


async def _finish_close(
    loop: asyncio.AbstractEventLoop,
    call: Coroutine[Any, Any, None],
    waiting_for: Any,
    context: contextvars.Context,
) -> None:
    # Drive the rest of a SyncToAsync call whose first step already ran (see _start_close).
    try:
        while True:
            try:
                if waiting_for is None:
                    await asyncio.sleep(0)
                else:
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
    except Exception as exc:
        _report(loop, exc)


def _start_close(
    loop: asyncio.AbstractEventLoop, hop: SyncToAsync[[], None], context: contextvars.Context
) -> None:
    """Start the close hop now, on the loop's thread, in the context the iterator used.

    The first step of the [SyncToAsync][asgi_sync.SyncToAsync] call runs here, at once:
    that is where it picks its thread and queues the close. Deferring it to a task would
    let the request's [ThreadSensitiveContext][asgi_sync.ThreadSensitiveContext] exit
    first (a `break` or a cancellation unwinds through `async with` right after dropping
    the iterator), and the close would then run on another thread.
    """
    call = hop()
    try:
        waiting_for = context.run(call.send, None)
    except StopIteration:
        return
    except Exception as exc:
        _report(loop, exc)
        return
    task = loop.create_task(_finish_close(loop, call, waiting_for, context))
    _closing_tasks.add(task)
    task.add_done_callback(_closing_tasks.discard)


class SyncToAsyncIterator(AsyncIterator[_T]):
    """An async iterator over a sync iterable, pulled in batches on a worker thread.

    Built by [sync_to_async_iter][asgi_sync.iterators.sync_to_async_iter]; see there for
    the rules. Nothing runs before the first `__anext__`: then `iter(iterable)` and up to
    `read_ahead` calls of `next()` run in one
    [SyncToAsync][asgi_sync.SyncToAsync] call (one thread hop), on the thread
    `sync_to_async(..., thread_sensitive=..., executor=...)` would use at that point.
    Further hops happen only when those items have been consumed.

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
        self._source = source
        self._step = SyncToAsync(source.step, thread_sensitive, executor)
        self._close = SyncToAsync(source.close, thread_sensitive, executor)
        self._buffer: Deque[_T] = deque()
        self._error: BaseException | None = None
        self._stopped = False  # no more hops: the source ended or we closed it
        # Where the iterator is used: its loop and context, for a close after cancellation
        # or garbage collection.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._context: contextvars.Context | None = None

    def __aiter__(self) -> SyncToAsyncIterator[_T]:
        """Return the iterator itself."""
        return self

    async def __anext__(self) -> _T:
        """Return the next item, fetching a batch on the iterating thread when none is left.

        Raises:
            StopAsyncIteration: When the source is exhausted or the iterator was closed.
        """
        buffer = self._buffer
        if buffer:
            return buffer.popleft()
        return await self._fetch()

    async def _fetch(self) -> _T:
        if self._stopped:
            error, self._error = self._error, None
            if error is not None:
                raise error
            raise StopAsyncIteration
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._context = contextvars.copy_context()
        try:
            items, error, ended = await self._step()
        except asyncio.CancelledError:
            # The items of the step in flight are lost: the iterator cannot go on. Close
            # the source behind that step, on its thread.
            self._stop_and_close_in_background()
            raise
        if ended:
            self._stopped = True
            self._error = error
        if items:
            self._buffer.extend(items)
            return self._buffer.popleft()
        return await self._fetch()

    def _stop_and_close_in_background(self) -> None:
        self._stopped = True
        self._error = None
        self._buffer.clear()
        loop, context = self._loop, self._context
        if loop is None or context is None or loop.is_closed():
            return
        if asyncio._get_running_loop() is loop:
            _start_close(loop, self._close, context)
            return
        try:
            loop.call_soon_threadsafe(_start_close, loop, self._close, context)
        except RuntimeError:  # the loop closed meanwhile
            pass

    async def aclose(self) -> None:
        """Close the sync iterator (`close()` on it), on the thread that iterates it.

        Waits for a step in progress first. Later `__anext__` calls raise
        `StopAsyncIteration`. A no-op when it is closed or exhausted already.
        """
        self._stopped = True
        self._error = None
        self._buffer.clear()
        if self._loop is None:  # never started: iter() was not even called
            self._source.closed = True
            self._source.iterable = None
            return
        await self._close()

    def close(self) -> None:
        """Close the sync iterator from sync code, on the calling thread.

        For frameworks that close their response content from a thread: Django calls it
        through `sync_to_async(response.close)()`, which runs on the request's
        thread-sensitive thread, the same one the steps ran on. Called on a thread that
        runs an event loop, it does not block: the close is scheduled as by `aclose()`.
        """
        self._buffer.clear()
        self._error = None
        if self._stopped and self._source.closed:
            return
        self._stopped = True
        if asyncio._get_running_loop() is not None:
            self._stop_and_close_in_background()
            return
        self._source.close()

    def __del__(self) -> None:
        # Dropped without being closed (`break` out of `async for`): close the source on
        # its thread, from a task on the loop it was used on, as asyncio does for async
        # generators.
        try:
            source = self._source
            if self._loop is None or source.closed or source.ended:
                return
            self._stop_and_close_in_background()
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

    - **Lazy, bounded**: nothing runs before the first `__anext__`. Each hop (one
      [SyncToAsync][asgi_sync.SyncToAsync] call) runs `next()` until it has
      `read_ahead` items or has run for about a millisecond, whichever comes first, so a
      cheap generator costs one thread hop per batch and a slow one hands over each item
      as soon as it is made. At most `read_ahead` items are held; the next hop waits until
      the consumer has taken them all (backpressure).
    - **Threads**: thread-sensitive by default: the steps run on the thread of the
      request's other thread-sensitive calls (the enclosing
      [ThreadSensitiveContext][asgi_sync.ThreadSensitiveContext]'s, or the sync thread
      waiting in `async_to_sync`), so a database cursor is used on the thread that opened
      it. With `thread_sensitive=False` or `executor`, the rules of `sync_to_async`.
    - **Context**: each hop runs in a copy of the consumer's current context (so
      `contextvars` and `Local` values set by the consumer reach the source) and its
      changes are copied back when the hop returns, as with `sync_to_async`. A change
      made while producing a batch is therefore visible to the consumer from the first
      item of that batch on.
    - **Ending**: `aclose()`, `close()` from a thread, cancellation of a waiting
      `__anext__`, and garbage collection (a `break` out of `async for`) call `close()` on
      the sync iterator on the thread that iterates it, after any step in progress, so a
      generator's `finally` runs there. Errors raised by the source propagate from
      `__anext__` with their traceback, after the items fetched before them.

    Args:
        iterable: The sync iterable; `iter()` is called on it in the first hop.
        thread_sensitive: Run the steps where thread-sensitive sync code runs (default).
        executor: Run the steps on this executor (only with `thread_sensitive=False`).
        read_ahead: Items fetched per hop at most.

    Returns:
        The async iterator.

    Raises:
        TypeError: When `iterable` is not a sync iterable, or `executor` is given with
            `thread_sensitive=True`.
        ValueError: When `read_ahead` is not a positive int.
    """
    return SyncToAsyncIterator(
        iterable, thread_sensitive=thread_sensitive, executor=executor, read_ahead=read_ahead
    )


# --- async iterable -> sync iterator ---------------------------------------------------


class _AsyncSource(Generic[_T]):
    """The async side: the source async iterator and the step/close coroutines."""

    __slots__ = ("aiterable", "aiterator", "closed", "ended", "read_ahead")

    def __init__(self, aiterable: AsyncIterable[_T], read_ahead: int) -> None:
        self.aiterable: AsyncIterable[_T] | None = aiterable
        self.aiterator: AsyncIterator[_T] | None = None
        self.read_ahead = read_ahead
        self.ended = False
        self.closed = False

    async def step(self) -> _Batch[_T]:
        """Take up to `read_ahead` items (runs on the loop async_to_sync chose)."""
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
            limit = self.read_ahead
            deadline = perf_counter() + _HOP_SECONDS
            while True:
                append(await take())
                if len(items) >= limit or perf_counter() >= deadline:
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

    - **Lazy, bounded**: nothing runs before the first `next()`. Each hop (one
      [AsyncToSync][asgi_sync.AsyncToSync] call) awaits `__anext__` until it has
      `read_ahead` items or has run for about a millisecond; at most `read_ahead` items
      are held.
    - **Loop**: the loop `async_to_sync` would choose: inside a `sync_to_async` thread,
      the loop awaiting it; from plain sync code, one loop for the whole iteration (the
      hops run inside one [AsyncSingleThreadContext][asgi_sync.AsyncSingleThreadContext],
      entered at the first `next()` and left when the iterator ends or is closed), so
      loop-bound objects of the source keep working across hops. Thread-sensitive
      `sync_to_async` calls made by the source run on the iterating thread, as with
      `async_to_sync`.
    - **Context**: every hop runs in a copy of the context of the first `next()`;
      changes made by the source stay in that copy (they do not flow back to the caller,
      and the caller's later changes do not reach the source).
    - **Ending**: `close()` (and garbage collection on a thread without a running loop)
      awaits `aclose()` of the source on its loop. Errors raised by the source propagate
      from `next()` with their traceback, after the items fetched before them.

    Args:
        aiterable: The async iterable; `__aiter__()` is called on it in the first hop.
        force_new_loop: Never use the enclosing `sync_to_async`'s loop.
        read_ahead: Items fetched per hop at most.

    Returns:
        The sync iterator.

    Raises:
        TypeError: When `aiterable` is not an async iterable.
        ValueError: When `read_ahead` is not a positive int.
    """
    return AsyncToSyncIterator(aiterable, force_new_loop=force_new_loop, read_ahead=read_ahead)
