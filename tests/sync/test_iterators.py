"""asgi_sync.iterators: sync iterables to async iterators and back, lazily and bounded."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import itertools
import sqlite3
import threading
import traceback
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import asgi_sync.iterators as iterators_module
from asgi_local import Local
from asgi_sync import ThreadSensitiveContext, async_to_sync, sync_to_async
from asgi_sync.iterators import (
    AsyncToSyncIterator,
    SyncToAsyncIterator,
    async_to_sync_iter,
    sync_to_async_iter,
)

var: contextvars.ContextVar[str] = contextvars.ContextVar("test_iterators_var", default="unset")


class Probe:
    """A sync generator factory recording what ran where."""

    def __init__(self, count: int | None = None) -> None:
        self.count = count
        self.produced = 0
        self.threads: set[int] = set()
        self.finally_thread: int | None = None
        self.finished = threading.Event()

    def rows(self) -> Iterator[int]:
        try:
            number = 0
            while self.count is None or number < self.count:
                self.threads.add(threading.get_ident())
                self.produced += 1
                yield number
                number += 1
        finally:
            self.finally_thread = threading.get_ident()
            self.finished.set()


@pytest.fixture
def slow_hops(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hop takes only one item (as if every item were slow to make)."""
    monkeypatch.setattr(iterators_module, "_HOP_SECONDS", 0.0)


@pytest.fixture
def long_hops(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hop always fills its batch (the time budget never runs out)."""
    monkeypatch.setattr(iterators_module, "_HOP_SECONDS", 3600.0)


# --- sync -> async: laziness, read-ahead, batching ---------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_nothing_runs_before_the_first_anext() -> None:
    calls: list[str] = []

    class Source:
        def __iter__(self) -> Iterator[int]:
            calls.append("iter")
            return iter([1, 2])

    bridge = sync_to_async_iter(Source())
    await asyncio.sleep(0)
    assert calls == []
    assert [item async for item in bridge] == [1, 2]
    assert calls == ["iter"]


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("long_hops")
@pytest.mark.asyncio
async def test_it_reads_ahead_without_being_asked_up_to_read_ahead() -> None:
    filled = threading.Event()
    made: list[int] = []

    def rows() -> Iterator[int]:
        for number in itertools.count():
            made.append(number)
            if number == 4:
                filled.set()
            yield number

    bridge = sync_to_async_iter(rows(), read_ahead=5)
    assert await bridge.__anext__() == 0
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, filled.wait, 5)
    await asyncio.sleep(0.05)  # room to overrun the bound, if it were broken
    await bridge.aclose()  # waits for the hop in progress
    # Five wait in the buffer at most; item 0 may have left it before the hop ended.
    assert made in ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5])


@pytest.mark.timeout(30)
@pytest.mark.usefixtures("long_hops")
@pytest.mark.asyncio
async def test_a_slow_consumer_holds_back_the_source() -> None:
    consumed = 0
    ahead: list[int] = []

    def rows() -> Iterator[int]:
        for number in itertools.count():
            ahead.append(number - consumed)  # items made but not yet received
            yield number

    bridge = sync_to_async_iter(rows(), read_ahead=5)
    for expected in range(300):
        assert await bridge.__anext__() == expected
        consumed += 1
        if expected % 7 == 0:
            await asyncio.sleep(0.001)
    await bridge.aclose()
    # At most four waiting in the buffer, one being made, one received but not counted.
    assert max(ahead) <= 5


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_an_item_is_handed_over_before_the_next_is_made() -> None:
    gate = threading.Event()

    def events() -> Iterator[str]:
        yield "hello"
        # Blocks until the consumer has "hello": an item held back for the next one
        # would never arrive.
        assert gate.wait(5)
        yield "event"

    bridge = sync_to_async_iter(events(), read_ahead=10)
    assert await bridge.__anext__() == "hello"
    gate.set()
    assert await bridge.__anext__() == "event"
    with pytest.raises(StopAsyncIteration):
        await bridge.__anext__()


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("long_hops")
@pytest.mark.asyncio
async def test_cheap_items_are_batched_into_few_hops(monkeypatch: pytest.MonkeyPatch) -> None:
    hops = 0
    original = iterators_module._SyncSource.step

    def counting_step(self: Any) -> Any:
        nonlocal hops
        hops += 1
        return original(self)

    monkeypatch.setattr(iterators_module._SyncSource, "step", counting_step)
    items = [item async for item in sync_to_async_iter(range(10_000), read_ahead=100)]
    assert items == list(range(10_000))
    # A hop refills at least half the buffer (or runs until it is drained meanwhile).
    assert 2 <= hops <= 10_000 // 50 + 2


@pytest.mark.parametrize("read_ahead", [0, -1])
def test_read_ahead_must_be_at_least_one(read_ahead: int) -> None:
    with pytest.raises(ValueError, match=rf"read_ahead must be at least 1, got {read_ahead}\."):
        sync_to_async_iter([1], read_ahead=read_ahead)
    with pytest.raises(ValueError, match=rf"read_ahead must be at least 1, got {read_ahead}\."):
        async_to_sync_iter(_agen(1), read_ahead=read_ahead)


@pytest.mark.parametrize("read_ahead", [1.5, True, "8", None])
def test_read_ahead_must_be_an_int(read_ahead: Any) -> None:
    with pytest.raises(TypeError, match=r"read_ahead must be an int \(items taken ahead .*got "):
        sync_to_async_iter([1], read_ahead=read_ahead)
    with pytest.raises(TypeError, match=r"read_ahead must be an int \(items taken ahead .*got "):
        async_to_sync_iter(_agen(1), read_ahead=read_ahead)


def test_sync_bridge_rejects_what_is_not_a_sync_iterable() -> None:
    with pytest.raises(TypeError, match=r"needs a sync iterable, got 42\."):
        sync_to_async_iter(42)  # type: ignore[call-overload]
    source = _agen(1)
    with pytest.raises(TypeError, match=r"got the async iterable .*`async for` directly"):
        sync_to_async_iter(source)  # type: ignore[call-overload]
    asyncio.run(source.aclose())


def test_sync_bridge_rejects_an_executor_with_thread_sensitive() -> None:
    pool = ThreadPoolExecutor(1)
    with pytest.raises(TypeError, match="executor must not be set when thread_sensitive"):
        SyncToAsyncIterator([1], thread_sensitive=True, executor=pool)
    pool.shutdown()


# --- sync -> async: threads ------------------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_a_thread_bound_cursor_is_used_on_the_thread_that_opened_it() -> None:
    # sqlite3 refuses to use a connection from another thread than the one that made it.
    async with ThreadSensitiveContext():
        connection = await sync_to_async(sqlite3.connect)(":memory:")

        def rows() -> Iterator[tuple[int]]:
            cursor = connection.execute(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300)"
                " SELECT x FROM n"
            )
            try:
                yield from cursor
            finally:
                cursor.close()

        values = [row[0] async for row in sync_to_async_iter(rows(), read_ahead=7)]
        assert values == list(range(1, 301))
        # The same generator through a pooled thread fails: the test can tell them apart.
        with pytest.raises(sqlite3.ProgrammingError, match="thread"):
            async for _ in sync_to_async_iter(rows(), thread_sensitive=False):
                pass
        await sync_to_async(connection.close)()


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_steps_run_on_the_thread_of_the_request_thread_sensitive_calls() -> None:
    async with ThreadSensitiveContext():
        request_thread = await sync_to_async(threading.get_ident)()
        probe = Probe(500)
        async for _ in sync_to_async_iter(probe.rows(), read_ahead=3):
            await asyncio.sleep(0)
        assert probe.threads == {request_thread}
        assert probe.finally_thread == request_thread


def test_under_async_to_sync_steps_run_on_the_outer_sync_thread() -> None:
    probe = Probe(100)

    async def consume() -> list[int]:
        return [item async for item in sync_to_async_iter(probe.rows(), read_ahead=8)]

    assert async_to_sync(consume)() == list(range(100))
    assert probe.threads == {threading.get_ident()}


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_an_executor_runs_the_steps() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="bridge-pool") as pool:
        names: list[str] = []

        def rows() -> Iterator[int]:
            for number in range(20):
                names.append(threading.current_thread().name)
                yield number

        bridge = sync_to_async_iter(rows(), thread_sensitive=False, executor=pool, read_ahead=4)
        assert [item async for item in bridge] == list(range(20))
    assert names
    assert all(name.startswith("bridge-pool") for name in names)


# --- sync -> async: context ------------------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_context_flows_into_the_source_and_changes_do_not_flow_back() -> None:
    local = Local()
    seen: list[tuple[str, str]] = []

    def rows() -> Iterator[int]:
        seen.append((var.get(), getattr(local, "name", "unset")))
        var.set("source")
        local.name = "source local"
        yield 1
        yield 2

    var.set("consumer")
    local.name = "consumer local"
    assert [item async for item in sync_to_async_iter(rows())] == [1, 2]
    assert seen == [("consumer", "consumer local")]
    assert var.get() == "consumer"
    assert local.name == "consumer local"


# --- sync -> async: every ending closes on the iterating thread ------------------------


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_aclose_closes_the_generator_on_its_thread() -> None:
    async with ThreadSensitiveContext():
        probe = Probe()
        bridge = sync_to_async_iter(probe.rows(), read_ahead=2)
        assert await bridge.__anext__() == 0
        await bridge.aclose()
        assert probe.finished.is_set()
        assert probe.threads == {probe.finally_thread}
        with pytest.raises(StopAsyncIteration):
            await bridge.__anext__()
        await bridge.aclose()  # twice is fine


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_aclose_before_starting_never_calls_iter() -> None:
    calls: list[str] = []

    class Source:
        def __iter__(self) -> Iterator[int]:
            calls.append("iter")
            return iter([1])

    bridge = sync_to_async_iter(Source())
    await bridge.aclose()
    with pytest.raises(StopAsyncIteration):
        await bridge.__anext__()
    assert calls == []


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_break_and_garbage_collection_close_on_the_iterating_thread() -> None:
    async with ThreadSensitiveContext():
        request_thread = await sync_to_async(threading.get_ident)()
        probe = Probe()
        async for item in sync_to_async_iter(probe.rows(), read_ahead=4):
            if item == 5:
                break
        gc.collect()  # no-op on CPython (no cycles); needed on others
        await asyncio.wait_for(
            asyncio.get_running_loop().run_in_executor(None, probe.finished.wait), 5
        )
        assert probe.finally_thread == request_thread
        assert probe.threads == {request_thread}


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_a_cancelled_consumer_closes_the_source_after_the_step_on_its_thread() -> None:
    started = threading.Event()
    release = threading.Event()
    closed = threading.Event()
    events: list[str] = []
    closed_on: list[int] = []
    step_threads: list[int] = []

    def rows() -> Iterator[int]:
        try:
            yield 0
            step_threads.append(threading.get_ident())
            started.set()
            release.wait(5)
            events.append("step done")
            yield 1
        finally:
            events.append("closed")
            closed_on.append(threading.get_ident())
            closed.set()

    got: list[int] = []

    async def consume() -> None:
        async with ThreadSensitiveContext():
            async for item in sync_to_async_iter(rows(), read_ahead=1):
                got.append(item)

    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(consume())
    assert await loop.run_in_executor(None, started.wait, 5)
    task.cancel()
    await asyncio.sleep(0)  # the cancellation reaches the consumer while the step runs
    assert events == []  # the step is still running: nothing closes under it
    # The context's exit waits for its thread's queued work (asgiref's rule): let it finish.
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await loop.run_in_executor(None, closed.wait, 5)
    assert got == [0]
    assert events == ["step done", "closed"]
    assert closed_on == step_threads


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_a_timed_out_anext_loses_no_item() -> None:
    release = threading.Event()

    def rows() -> Iterator[int]:
        yield 0
        release.wait(5)
        yield 1
        yield 2

    bridge = sync_to_async_iter(rows(), read_ahead=4)
    assert await bridge.__anext__() == 0
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(bridge.__anext__(), 0.05)
    release.set()
    assert [item async for item in bridge] == [1, 2]


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_close_from_a_thread_closes_there() -> None:
    # What Django does: sync_to_async(response.close)() in the request's context.
    async with ThreadSensitiveContext():
        probe = Probe()
        bridge = sync_to_async_iter(probe.rows())
        await bridge.__anext__()
        await sync_to_async(bridge.close)()
        assert probe.finished.is_set()
        assert probe.threads == {probe.finally_thread}


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_close_on_the_loop_thread_does_not_block_and_closes_on_the_iterating_thread() -> None:
    async with ThreadSensitiveContext():
        probe = Probe()
        bridge = sync_to_async_iter(probe.rows())
        await bridge.__anext__()
        bridge.close()
        await asyncio.get_running_loop().run_in_executor(None, probe.finished.wait, 5)
        assert probe.threads == {probe.finally_thread}
        assert probe.finally_thread != threading.get_ident()


# --- sync -> async: errors -------------------------------------------------------------


def _exploding_rows() -> Iterator[int]:
    yield 1
    yield 2
    raise LookupError("row 3 is missing")


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("long_hops")
@pytest.mark.asyncio
async def test_an_error_comes_after_the_items_before_it_with_its_traceback() -> None:
    bridge = sync_to_async_iter(_exploding_rows(), read_ahead=10)
    assert await bridge.__anext__() == 1
    assert await bridge.__anext__() == 2
    with pytest.raises(LookupError, match="row 3 is missing") as info:
        await bridge.__anext__()
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "_exploding_rows" in frames
    with pytest.raises(StopAsyncIteration):
        await bridge.__anext__()


# --- sync -> async: stress -------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_many_requests_stream_at_once_each_on_its_own_thread() -> None:
    async def request(number: int) -> None:
        async with ThreadSensitiveContext():
            own = await sync_to_async(threading.get_ident)()
            probe = Probe(200 + number)
            total = 0
            async for item in sync_to_async_iter(probe.rows(), read_ahead=1 + number % 9):
                total += item
                if item % 17 == 0:
                    await asyncio.sleep(0)
            assert total == sum(range(200 + number))
            assert probe.threads == {own}

    await asyncio.gather(*(request(number) for number in range(40)))


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_many_cancelled_consumers_each_close_their_generator() -> None:
    probes = [Probe() for _ in range(30)]

    started = [asyncio.Event() for _ in probes]

    async def consume(probe: Probe, first: asyncio.Event) -> None:
        async with ThreadSensitiveContext():
            async for _ in sync_to_async_iter(probe.rows(), read_ahead=3):
                first.set()
                await asyncio.sleep(0)

    tasks = [asyncio.ensure_future(consume(*pair)) for pair in zip(probes, started)]
    # Every generator has started (one never started has no `finally` to run).
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 20)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    waits = [
        asyncio.get_running_loop().run_in_executor(None, probe.finished.wait, 10)
        for probe in probes
    ]
    assert all(await asyncio.gather(*waits))
    for probe in probes:
        assert probe.threads == {probe.finally_thread}


# --- async -> sync ---------------------------------------------------------------------


async def _agen(count: int) -> AsyncGenerator[int, None]:
    for number in range(count):
        yield number


class AsyncProbe:
    def __init__(self, count: int | None = None) -> None:
        self.count = count
        self.produced = 0
        self.loops: set[int] = set()
        self.finally_ran = False

    async def rows(self) -> AsyncIterator[int]:
        lock = asyncio.Lock()  # loop-bound once used: fails on another loop
        try:
            number = 0
            while self.count is None or number < self.count:
                async with lock:
                    await asyncio.sleep(0)
                self.loops.add(id(asyncio.get_running_loop()))
                self.produced += 1
                yield number
                number += 1
        finally:
            self.finally_ran = True


@pytest.mark.timeout(10)
def test_async_source_is_lazy_and_iterated_on_one_loop_from_plain_sync_code(
    slow_hops: None,
) -> None:
    probe = AsyncProbe(20)
    bridge = async_to_sync_iter(probe.rows(), read_ahead=4)
    assert probe.produced == 0
    assert list(bridge) == list(range(20))
    assert len(probe.loops) == 1
    assert probe.finally_ran


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("long_hops")
def test_async_batches_start_at_one_item_and_stay_bounded() -> None:
    probe = AsyncProbe()
    bridge = async_to_sync_iter(probe.rows(), read_ahead=6)
    assert next(bridge) == 0
    assert probe.produced == 1  # the first item is not held back for a second
    assert next(bridge) == 1
    assert probe.produced == 3  # then 2, 4, 6, 6, ...
    assert [next(bridge) for _ in range(2)] == [2, 3]
    assert probe.produced == 3 + 4
    consumed = 4
    for _ in range(40):
        next(bridge)
        consumed += 1
        assert probe.produced - consumed <= 6
    bridge.close()
    assert probe.finally_ran


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_inside_sync_to_async_the_awaiting_loop_runs_the_source() -> None:
    probe = AsyncProbe(10)
    here = id(asyncio.get_running_loop())

    def consume() -> list[int]:
        return list(async_to_sync_iter(probe.rows(), read_ahead=3))

    assert await sync_to_async(consume)() == list(range(10))
    assert probe.loops == {here}


@pytest.mark.timeout(10)
def test_source_thread_sensitive_calls_run_on_the_iterating_thread() -> None:
    threads: list[int] = []

    async def rows() -> AsyncIterator[int]:
        for number in range(5):
            threads.append(await sync_to_async(threading.get_ident)())
            yield number

    assert list(async_to_sync_iter(rows(), read_ahead=2)) == list(range(5))
    assert set(threads) == {threading.get_ident()}


@pytest.mark.timeout(10)
def test_async_close_and_garbage_collection_aclose_the_source() -> None:
    probe = AsyncProbe()
    bridge = async_to_sync_iter(probe.rows(), read_ahead=2)
    assert next(bridge) == 0
    bridge.close()
    assert probe.finally_ran
    with pytest.raises(StopIteration):
        next(bridge)

    dropped = AsyncProbe()
    for item in async_to_sync_iter(dropped.rows(), read_ahead=2):
        if item == 3:
            break
    gc.collect()
    assert dropped.finally_ran


def test_async_close_before_starting_does_nothing() -> None:
    source = _agen(3)
    bridge = async_to_sync_iter(source)
    bridge.close()
    with pytest.raises(StopIteration):
        next(bridge)
    asyncio.run(source.aclose())


async def _exploding_arows() -> AsyncIterator[int]:
    yield 1
    raise KeyError("async row 2")


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("long_hops")
def test_async_error_comes_after_the_items_before_it_with_its_traceback() -> None:
    bridge = async_to_sync_iter(_exploding_arows(), read_ahead=10)
    assert next(bridge) == 1
    with pytest.raises(KeyError, match="async row 2") as info:
        next(bridge)
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "_exploding_arows" in frames
    with pytest.raises(StopIteration):
        next(bridge)


@pytest.mark.timeout(10)
def test_async_source_runs_in_a_copy_of_the_first_next_context() -> None:
    seen: list[str] = []

    async def rows() -> AsyncIterator[int]:
        for number in range(3):
            seen.append(var.get())
            var.set(f"source {number}")
            yield number

    def consume() -> None:
        var.set("first")
        bridge = async_to_sync_iter(rows(), read_ahead=1)
        assert next(bridge) == 0
        assert var.get() == "first"  # the source's change stays on its side
        var.set("later")
        assert next(bridge) == 1
        assert list(bridge) == [2]

    contextvars.copy_context().run(consume)
    assert seen == ["first", "source 0", "source 1"]


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_async_bridge_refuses_a_thread_running_a_loop() -> None:
    source = _agen(1)
    bridge = async_to_sync_iter(source)
    with pytest.raises(RuntimeError, match="thread that runs an event loop"):
        next(bridge)
    await source.aclose()


def test_async_bridge_rejects_what_is_not_an_async_iterable() -> None:
    with pytest.raises(TypeError, match=r"got the sync iterable \[1\]: iterate it with `for`"):
        async_to_sync_iter([1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"needs an async iterable, got None\."):
        AsyncToSyncIterator(None)  # type: ignore[arg-type]


@pytest.mark.timeout(60)
def test_many_threads_iterate_async_sources_at_once() -> None:
    def consume(number: int) -> bool:
        probe = AsyncProbe(50 + number)
        items = list(async_to_sync_iter(probe.rows(), read_ahead=1 + number % 5))
        return items == list(range(50 + number)) and len(probe.loops) == 1

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(consume, range(48)))


@pytest.mark.timeout(10)
@pytest.mark.asyncio
async def test_inside_sync_to_async_a_source_fed_by_its_own_task_works() -> None:
    # On the awaiting loop nothing cancels the producer between two hops.
    async def events() -> AsyncIterator[int]:
        queue: asyncio.Queue[int | None] = asyncio.Queue()

        async def producer() -> None:
            for number in range(5):
                await asyncio.sleep(0.001)
                await queue.put(number)
            await queue.put(None)

        task = asyncio.ensure_future(producer())
        while (item := await queue.get()) is not None:
            yield item
        await task

    def consume() -> list[int]:
        return list(async_to_sync_iter(events(), read_ahead=1))

    assert await sync_to_async(consume)() == [0, 1, 2, 3, 4]
