"""Deadlock hunting: deep and randomised sync <-> async chains must always finish."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._impl import (
    AsyncSingleThreadContext,
    ThreadSensitiveContext,
    async_to_sync,
    sync_to_async,
)
from ._support import no_thread_leak, run

request_id: contextvars.ContextVar[int] = contextvars.ContextVar("request_id")


def sync_chain(depth: int, threads: list[int]) -> int:
    threads.append(threading.get_ident())
    if depth == 0:
        return request_id.get()
    return async_to_sync(async_chain)(depth - 1, threads)


async def async_chain(depth: int, threads: list[int]) -> int:
    if depth == 0:
        return request_id.get()
    return await sync_to_async(sync_chain)(depth - 1, threads)


@pytest.mark.timeout(30)
def test_depth_50_started_sync_stays_on_the_calling_thread() -> None:
    threads: list[int] = []
    with no_thread_leak():
        request_id.set(50)
        assert sync_chain(50, threads) == 50
    assert len(threads) == 26
    assert set(threads) == {threading.get_ident()}


@pytest.mark.timeout(30)
def test_depth_50_started_async_uses_one_worker_thread() -> None:
    threads: list[int] = []

    async def main() -> int:
        request_id.set(51)
        return await async_chain(50, threads)

    with no_thread_leak():
        assert run(main, 20) == 51
    assert len(threads) == 25
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()


@pytest.mark.timeout(30)
def test_depth_50_inside_thread_sensitive_context() -> None:
    threads: list[int] = []

    async def main() -> int:
        request_id.set(52)
        async with ThreadSensitiveContext():
            return await async_chain(50, threads)

    with no_thread_leak():
        assert run(main, 20) == 52
    assert len(set(threads)) == 1


@pytest.mark.timeout(30)
def test_depth_50_inside_async_single_thread_context() -> None:
    threads: list[int] = []
    loop_threads: list[int] = []

    async def where() -> int:
        loop_threads.append(threading.get_ident())
        return request_id.get()

    with no_thread_leak():
        request_id.set(53)
        with AsyncSingleThreadContext():
            assert sync_chain(50, threads) == 53
            for _ in range(5):
                assert async_to_sync(where)() == 53
    assert set(threads) == {threading.get_ident()}
    assert len(set(loop_threads)) == 1


async def _many_tasks(per_task_context: bool) -> dict[int, set[int]]:
    seen: dict[int, set[int]] = {}
    started = 0
    all_started = asyncio.Event()
    tasks = 300

    def record(task: int) -> None:
        seen.setdefault(task, set()).add(threading.get_ident())

    async def one(task: int) -> None:
        nonlocal started
        started += 1
        if started == tasks:
            all_started.set()
        await all_started.wait()
        for _ in range(3):
            await sync_to_async(record)(task)
            await asyncio.sleep(0)

    async def maybe_in_context(task: int) -> None:
        if per_task_context:
            async with ThreadSensitiveContext():
                await one(task)
        else:
            await one(task)

    await asyncio.gather(*(maybe_in_context(i) for i in range(tasks)))
    return seen


@pytest.mark.timeout(30)
def test_thread_sensitive_calls_from_many_tasks_share_one_thread() -> None:
    with no_thread_leak():
        seen = run(lambda: _many_tasks(per_task_context=False), 20)
    assert len(seen) == 300
    assert len(set().union(*seen.values())) == 1


@pytest.mark.timeout(30)
def test_each_thread_sensitive_context_keeps_its_calls_on_one_thread() -> None:
    with no_thread_leak():
        seen = run(lambda: _many_tasks(per_task_context=True), 20)
    assert len(seen) == 300
    assert all(len(threads) == 1 for threads in seen.values())


# --- randomised programs built from the bridge's building blocks ----------------------

ASYNC_OPS = ("hop", "tsc", "gather", "task", "wait_for", "astc", "ts_false")


@dataclass
class Trace:
    leaves: list[tuple[int, ...]] = field(default_factory=list)
    values: list[int] = field(default_factory=list)


def run_sync(ops: tuple[str, ...], i: int, path: tuple[int, ...], trace: Trace) -> int:
    """Interpret ``ops[i:]`` in a sync frame; ``path`` holds the thread of every sync frame."""
    path = (*path, threading.get_ident())
    if i == len(ops):
        trace.leaves.append(path)
        trace.values.append(request_id.get())
        return 1
    if ops[i] == "astc":
        with AsyncSingleThreadContext():
            return async_to_sync(run_async)(ops, i + 1, path, trace)
    return async_to_sync(run_async)(ops, i, path, trace)


async def run_async(ops: tuple[str, ...], i: int, path: tuple[int, ...], trace: Trace) -> int:
    """Interpret ``ops[i:]`` in an async frame."""
    if i == len(ops):
        return await sync_to_async(run_sync)(ops, i, path, trace)
    op = ops[i]
    rest = i + 1
    if op == "hop":
        return await sync_to_async(run_sync)(ops, rest, path, trace)
    if op == "astc":
        return await sync_to_async(run_sync)(ops, i, path, trace)
    if op == "ts_false":
        return await sync_to_async(run_sync, thread_sensitive=False)(ops, rest, path, trace)
    if op == "tsc":
        async with ThreadSensitiveContext():
            return await run_async(ops, rest, path, trace)
    if op == "gather":
        left, right = await asyncio.gather(
            run_async(ops, rest, path, trace), run_async(ops, rest, path, trace)
        )
        return left + right
    if op == "task":
        return await asyncio.create_task(run_async(ops, rest, path, trace))
    assert op == "wait_for"
    return await asyncio.wait_for(run_async(ops, rest, path, trace), 30)


programs = st.lists(st.sampled_from(ASYNC_OPS), max_size=14).filter(
    lambda ops: ops.count("gather") <= 3
)


def check_trace(ops: tuple[str, ...], trace: Trace, leaves: int, started_on: int | None) -> None:
    assert leaves == 2 ** ops.count("gather") == len(trace.leaves)
    assert trace.values == [7] * leaves, "a context variable did not cross the bridge"
    if "ts_false" in ops:
        return
    # Thread-sensitive code of one request (one root-to-leaf path) stays on one thread.
    for path in trace.leaves:
        assert len(set(path)) == 1, f"{ops}: one path used threads {path}"
    if started_on is not None:
        assert {path[0] for path in trace.leaves} == {started_on}
    elif "tsc" not in ops:
        assert len({path[0] for path in trace.leaves}) == 1


@pytest.mark.timeout(40)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=programs)
def test_random_programs_started_sync(ops: list[str]) -> None:
    trace = Trace()
    program = tuple(ops)

    def main() -> int:
        request_id.set(7)
        return run_sync(program, 0, (), trace)

    result = contextvars.copy_context().run(main)
    check_trace(program, trace, result, threading.get_ident())


@pytest.mark.timeout(40)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=programs)
def test_random_programs_started_async(ops: list[str]) -> None:
    trace = Trace()
    program = tuple(ops)

    async def main() -> int:
        request_id.set(7)
        return await run_async(program, 0, (), trace)

    result = run(main, 30)
    check_trace(program, trace, result, None)
