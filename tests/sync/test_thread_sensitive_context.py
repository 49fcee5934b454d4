"""ThreadSensitiveContext: executor contexts, plain contexts, and where calls run."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest

from asgi_local import Local
from asgi_sync import AsyncToSync, SyncToAsync, ThreadSensitiveContext, async_to_sync, sync_to_async

var: contextvars.ContextVar[str] = contextvars.ContextVar("var")


def name() -> str:
    return threading.current_thread().name


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1, thread_name_prefix="E") as pool:
        yield pool


@pytest.fixture
def other() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1, thread_name_prefix="E2") as pool:
        yield pool


# --- executor contexts -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_entering_an_entered_executor_context_raises(executor: ThreadPoolExecutor) -> None:
    context = ThreadSensitiveContext(executor=executor)
    async with context:
        with pytest.raises(RuntimeError, match=r"already entered"):
            async with context:
                pass
        assert await sync_to_async(name)() == "E_0"  # still in effect


@pytest.mark.asyncio
async def test_an_executor_context_is_single_use(executor: ThreadPoolExecutor) -> None:
    context = ThreadSensitiveContext(executor=executor)
    async with context:
        pass
    with pytest.raises(RuntimeError, match=r"cannot be entered again"):
        async with context:
            pass
    async with ThreadSensitiveContext(executor=executor):  # a new one may take the same E
        assert await sync_to_async(name)() == "E_0"


@pytest.mark.asyncio
async def test_executor_context_registers_at_once_and_unregisters(
    executor: ThreadPoolExecutor,
) -> None:
    context = ThreadSensitiveContext(executor=executor)
    async with context:
        assert SyncToAsync.thread_sensitive_context.get() is context
        assert SyncToAsync.context_to_thread_executor.get(context) is executor
    assert context not in SyncToAsync.context_to_thread_executor
    assert SyncToAsync.thread_sensitive_context.get(None) is None


@pytest.mark.asyncio
async def test_executor_context_takes_over_inside_a_plain_context(
    executor: ThreadPoolExecutor,
) -> None:
    async with ThreadSensitiveContext() as plain:
        outer = await sync_to_async(name)()
        async with ThreadSensitiveContext(executor=executor):
            assert await sync_to_async(name)() == "E_0"
        assert await sync_to_async(name)() == outer
        assert SyncToAsync.thread_sensitive_context.get() is plain
    assert outer.startswith("asgi_sync-worker-")


@pytest.mark.asyncio
async def test_nested_contexts_inside_an_executor_context(
    executor: ThreadPoolExecutor, other: ThreadPoolExecutor
) -> None:
    async with ThreadSensitiveContext(executor=executor):
        async with ThreadSensitiveContext():  # a plain one inside: no-op
            assert await sync_to_async(name)() == "E_0"
        async with ThreadSensitiveContext(executor=other):  # another executor takes over
            assert await sync_to_async(name)() == "E2_0"
        assert await sync_to_async(name)() == "E_0"


@pytest.mark.timeout(20)
def test_executor_context_hides_the_enclosing_sync_thread(executor: ThreadPoolExecutor) -> None:
    async def main() -> tuple[str, object, str, bool]:
        async with ThreadSensitiveContext(executor=executor):
            inside = await sync_to_async(name)()
            hidden = AsyncToSync.executors.current
        after = await sync_to_async(name)()
        return inside, hidden, after, AsyncToSync.executors.current is not None

    inside, hidden, after, restored = async_to_sync(main)()
    assert inside == "E_0"
    assert hidden is None
    assert after == threading.current_thread().name
    assert restored


@pytest.mark.asyncio
async def test_tasks_created_inside_run_on_the_executor(executor: ThreadPoolExecutor) -> None:
    async with ThreadSensitiveContext(executor=executor):
        names = await asyncio.gather(*(sync_to_async(name)() for _ in range(10)))
        task = asyncio.ensure_future(sync_to_async(name)())
        assert await task == "E_0"
    assert set(names) == {"E_0"}


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_async_to_sync_on_the_executor_comes_back_to_its_thread(
    executor: ThreadPoolExecutor,
) -> None:
    async def inner() -> list[str]:
        return [await sync_to_async(name)() for _ in range(3)]

    def on_executor() -> tuple[str, list[str]]:
        return name(), async_to_sync(inner)()

    async with ThreadSensitiveContext(executor=executor):
        here, inner_names = await asyncio.wait_for(sync_to_async(on_executor)(), 10)
    assert here == "E_0"
    assert inner_names == ["E_0"] * 3


@pytest.mark.timeout(20)
def test_sibling_tasks_never_see_an_executor_context(executor: ThreadPoolExecutor) -> None:
    async def with_context(entered: asyncio.Event, leave: asyncio.Event) -> str:
        async with ThreadSensitiveContext(executor=executor):
            entered.set()
            await leave.wait()
            return await sync_to_async(name)()

    async def sibling(entered: asyncio.Event) -> tuple[object, str]:
        await entered.wait()
        return SyncToAsync.thread_sensitive_context.get(None), await sync_to_async(name)()

    async def main() -> tuple[str, tuple[object, str], tuple[object, str], bool]:
        entered, leave = asyncio.Event(), asyncio.Event()
        before = asyncio.ensure_future(sibling(entered))
        owner = asyncio.ensure_future(with_context(entered, leave))
        await entered.wait()
        after = asyncio.ensure_future(sibling(entered))
        seen_before, seen_after = await asyncio.gather(before, after)
        leave.set()
        return await owner, seen_before, seen_after, AsyncToSync.executors.current is not None

    mine, before, after, bridge_kept = async_to_sync(main)()
    assert mine == "E_0"
    # The siblings see no context and still reach this thread, waiting in async_to_sync.
    assert before[0] is None
    assert after[0] is None
    assert before[1] == after[1] == threading.current_thread().name
    assert bridge_kept


@pytest.mark.asyncio
async def test_context_and_locals_inside_an_executor_context(executor: ThreadPoolExecutor) -> None:
    local = Local()
    critical = Local(thread_critical=True)
    critical.value = "loop thread"
    local.value = "before"

    def on_e() -> tuple[str, str]:
        seen = getattr(critical, "value", "unset")
        critical.value = "E thread"
        var.set("set on E")
        local.value = "set on E"
        return seen, local.value

    async with ThreadSensitiveContext(executor=executor):
        first = await sync_to_async(on_e)()
        second = await sync_to_async(lambda: getattr(critical, "value", "unset"))()
        assert var.get() == "set on E"
    assert first == ("unset", "set on E")
    assert second == "E thread"
    assert critical.value == "loop thread"
    assert var.get() == "set on E"
    assert local.value == "set on E"


@pytest.mark.asyncio
async def test_an_exception_leaves_the_executor_context_unchanged(
    executor: ThreadPoolExecutor,
) -> None:
    error = LookupError("in the block")
    context = ThreadSensitiveContext(executor=executor)

    async def block() -> None:
        async with context:
            await sync_to_async(name)()
            raise error

    with pytest.raises(LookupError) as info:
        await block()
    assert info.value is error
    assert context not in SyncToAsync.context_to_thread_executor
    assert SyncToAsync.thread_sensitive_context.get(None) is None


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_cancelled_task_exits_while_the_executor_is_busy(
    executor: ThreadPoolExecutor,
) -> None:
    started = threading.Event()
    release = threading.Event()
    exited = asyncio.Event()

    def busy() -> None:
        started.set()
        release.wait(10)

    async def request() -> None:
        try:
            async with ThreadSensitiveContext(executor=executor):
                await sync_to_async(busy)()
        finally:
            exited.set()

    task = asyncio.create_task(request())
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert exited.is_set()
    assert not release.is_set()  # E is still busy
    release.set()
    async with ThreadSensitiveContext(executor=executor):  # E was not shut down
        assert await asyncio.wait_for(sync_to_async(name)(), 5) == "E_0"


@pytest.mark.asyncio
async def test_a_task_calling_after_the_executor_context_exited_gets_an_error(
    executor: ThreadPoolExecutor,
) -> None:
    go = asyncio.Event()

    def never() -> None:
        raise AssertionError("must not run")

    async def late() -> None:
        await go.wait()
        await sync_to_async(never)()

    context = ThreadSensitiveContext(executor=executor)
    async with context:
        task = asyncio.ensure_future(late())
    go.set()
    with pytest.raises(RuntimeError, match=r"has exited"):
        await task
    assert context not in SyncToAsync.context_to_thread_executor


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_entering_an_executor_context_whose_thread_waits_in_this_chain_raises(
    executor: ThreadPoolExecutor,
) -> None:
    async def inner() -> None:
        async with ThreadSensitiveContext(executor=executor):
            await sync_to_async(name)()

    def on_executor() -> None:
        async_to_sync(inner)()

    async with ThreadSensitiveContext(executor=executor):
        with pytest.raises(RuntimeError, match=r"would deadlock"):
            await asyncio.wait_for(sync_to_async(on_executor)(), 10)
        assert await sync_to_async(name)() == "E_0"


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_entering_another_executor_context_deeper_in_the_chain_works(
    executor: ThreadPoolExecutor, other: ThreadPoolExecutor
) -> None:
    async def inner() -> str:
        async with ThreadSensitiveContext(executor=other):
            return await sync_to_async(name)()

    def on_executor() -> str:
        return async_to_sync(inner)()

    async with ThreadSensitiveContext(executor=executor):
        assert await asyncio.wait_for(sync_to_async(on_executor)(), 10) == "E2_0"


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_stress_concurrent_executor_contexts() -> None:
    pools = [ThreadPoolExecutor(1, thread_name_prefix=f"S{i}") for i in range(8)]
    try:

        async def request(i: int) -> set[str]:
            async with ThreadSensitiveContext(executor=pools[i % 8]):
                seen = set(await asyncio.gather(*(sync_to_async(name)() for _ in range(5))))

                async def hop() -> str:
                    return await sync_to_async(name)()

                seen.add(await sync_to_async(lambda: async_to_sync(hop)())())
                return seen

        results = await asyncio.wait_for(asyncio.gather(*(request(i) for i in range(80))), 20)
    finally:
        for pool in pools:
            pool.shutdown()
    assert all(seen == {f"S{i % 8}_0"} for i, seen in enumerate(results))


# --- plain contexts ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_plain_context_can_be_entered_again() -> None:
    context = ThreadSensitiveContext()
    for _ in range(2):
        async with context:
            assert SyncToAsync.thread_sensitive_context.get() is context
            await sync_to_async(name)()
        assert SyncToAsync.thread_sensitive_context.get(None) is None


@pytest.mark.asyncio
async def test_a_late_call_from_a_plain_context_gets_a_new_thread_that_can_be_shut_down() -> None:
    go = asyncio.Event()
    context = ThreadSensitiveContext()

    async def late() -> tuple[str, threading.Thread]:
        await go.wait()
        return await sync_to_async(lambda: (name(), threading.current_thread()))()

    async with context:
        during = await sync_to_async(name)()
        task = asyncio.ensure_future(late())
    idle_pooled = await _idle_pooled_names()
    go.set()
    late_name, late_thread = await task
    assert late_name != during
    assert late_name not in idle_pooled
    executor = SyncToAsync.context_to_thread_executor.pop(context)
    with executor:
        pass
    late_thread.join(5)
    assert not late_thread.is_alive()


async def _idle_pooled_names() -> set[str]:
    """The names of the pooled threads that would serve a new plain context now."""

    async def one() -> str:
        async with ThreadSensitiveContext():
            return await sync_to_async(name)()

    return {await one()}


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_plain_exit_waits_for_queued_work_without_blocking_the_loop() -> None:
    started = threading.Event()
    release = threading.Event()
    finished: list[str] = []
    ticks = 0

    def slow() -> None:
        started.set()
        release.wait(10)
        finished.append("slow")

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            if ticks == 5:
                release.set()
            await asyncio.sleep(0)

    async with ThreadSensitiveContext():
        orphan = asyncio.ensure_future(sync_to_async(slow)())
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, started.wait, 5)
        orphan.cancel()
        ticking = asyncio.ensure_future(ticker())
    ticking.cancel()
    assert finished == ["slow"]  # waited for the queued work
    assert ticks >= 5  # while the loop went on


@pytest.mark.timeout(20)
def test_a_loop_started_by_async_to_sync_sends_contextless_calls_to_its_thread() -> None:
    async def main() -> str:
        AsyncToSync.executors.current = None  # as in a task with a fresh context
        return await sync_to_async(name)()

    assert async_to_sync(main)() == threading.current_thread().name


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_entering_an_executor_context_from_code_its_thread_waits_for_raises(
    executor: ThreadPoolExecutor,
) -> None:
    async def inner() -> None:
        async with ThreadSensitiveContext(executor=executor):
            await sync_to_async(name)()

    def submitted_directly() -> None:
        async_to_sync(inner)()

    # No sync_to_async call leads here: the executor's thread itself waits in async_to_sync.
    with pytest.raises(RuntimeError, match=r"would deadlock"):
        await asyncio.wait_for(asyncio.wrap_future(executor.submit(submitted_directly)), 10)
