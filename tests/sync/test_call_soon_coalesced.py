"""`asgi_sync.threads.call_soon_coalesced`: results handed to a busy loop share one wake-up."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
import weakref
from typing import Any

import pytest

from asgi_sync import _wake, sync_to_async
from asgi_sync.threads import call_soon_coalesced

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


class _CountingLoop(asyncio.SelectorEventLoop):
    """A loop that counts its `call_soon_threadsafe` calls (each one is a self-pipe write)."""

    def __init__(self) -> None:
        super().__init__()
        self.wakeups = 0

    def call_soon_threadsafe(  # type: ignore[override]
        self, callback: Any, *args: Any, context: Any = None
    ) -> Any:
        self.wakeups += 1
        return super().call_soon_threadsafe(callback, *args, context=context)


def _run_with_loop(loop: asyncio.AbstractEventLoop, coroutine: Any) -> Any:
    try:
        return loop.run_until_complete(asyncio.wait_for(coroutine, 10))
    finally:
        loop.close()


@pytest.mark.timeout(20)
def test_calls_made_while_the_loop_is_busy_share_one_wakeup() -> None:
    loop = _CountingLoop()
    threads, per_thread = 8, 50
    seen: list[tuple[int, int]] = []

    async def main() -> None:
        all_posted = threading.Event()
        posted = 0
        count_lock = threading.Lock()

        def post(thread_number: int) -> None:
            nonlocal posted
            for index in range(per_thread):
                call_soon_coalesced(loop, seen.append, (thread_number, index))
            with count_lock:
                posted += 1
                if posted == threads:
                    all_posted.set()

        workers = [threading.Thread(daemon=True, target=post, args=(n,)) for n in range(threads)]
        before = loop.wakeups
        for worker in workers:
            worker.start()
        # Keep the loop busy (its thread blocked) until every call was made.
        assert all_posted.wait(10)
        for worker in workers:
            worker.join(10)
        everything_ran = asyncio.Event()
        call_soon_coalesced(loop, everything_ran.set)  # joins the same pending drain
        assert loop.wakeups - before == 1
        await everything_ran.wait()

    _run_with_loop(loop, main())
    assert len(seen) == threads * per_thread
    for number in range(threads):  # each thread's calls ran in the order it made them
        assert [index for n, index in seen if n == number] == list(range(per_thread))


@pytest.mark.timeout(20)
def test_an_idle_loop_is_woken_for_each_call() -> None:
    loop = _CountingLoop()

    async def main() -> int:
        for expected in range(1, 21):
            ran = asyncio.Event()
            thread = threading.Thread(daemon=True, target=call_soon_coalesced, args=(loop, ran.set))
            thread.start()
            await asyncio.wait_for(ran.wait(), 5)
            thread.join(5)
            assert ran.is_set(), expected
        return loop.wakeups

    assert _run_with_loop(loop, main()) >= 20


def test_callbacks_run_in_an_empty_context() -> None:
    loop = asyncio.new_event_loop()
    got: list[str] = []

    async def main() -> None:
        done = asyncio.Event()

        def caller() -> None:
            request_id.set("from-the-thread")
            call_soon_coalesced(loop, record)

        def record() -> None:
            got.append(request_id.get())
            done.set()

        request_id.set("from-the-loop")
        threading.Thread(daemon=True, target=caller).start()
        await asyncio.wait_for(done.wait(), 5)

    _run_with_loop(loop, main())
    assert got == ["none"]


def test_a_failing_callback_is_reported_and_the_others_still_run() -> None:
    loop = asyncio.new_event_loop()
    reported: list[dict[str, Any]] = []
    ran: list[int] = []

    def boom() -> None:
        raise ValueError("boom")

    async def main() -> None:
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        gate = threading.Event()

        def caller() -> None:
            call_soon_coalesced(loop, ran.append, 1)
            call_soon_coalesced(loop, boom)
            call_soon_coalesced(loop, ran.append, 2)
            gate.set()

        threading.Thread(daemon=True, target=caller).start()
        assert gate.wait(5)  # the loop is blocked: all three join one drain
        finished = asyncio.Event()
        call_soon_coalesced(loop, finished.set)
        await finished.wait()

    _run_with_loop(loop, main())
    assert ran == [1, 2]
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], ValueError)
    assert "Exception in callback" in reported[0]["message"]


def test_a_closed_loop_raises_like_call_soon_threadsafe() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        call_soon_coalesced(loop, print)


def test_a_call_joining_a_pending_drain_of_a_loop_closed_since_raises() -> None:
    loop = asyncio.new_event_loop()
    call_soon_coalesced(loop, print)  # the drain is scheduled; the loop never runs it
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        call_soon_coalesced(loop, print)


def test_the_waker_does_not_keep_a_closed_loop_alive() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        done = asyncio.Event()
        threading.Thread(daemon=True, target=call_soon_coalesced, args=(loop, done.set)).start()
        await asyncio.wait_for(done.wait(), 5)

    loop = asyncio.new_event_loop()
    _run_with_loop(loop, main(loop))
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None


class _NoWeakrefLoop:
    """Stands in for a loop type that cannot be weakly referenced."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> None:
        self.calls.append((callback, *args))


def test_a_loop_without_weakrefs_gets_plain_call_soon_threadsafe() -> None:
    fake = _NoWeakrefLoop()
    call_soon_coalesced(fake, print, 1)  # type: ignore[arg-type]
    call_soon_coalesced(fake, print, 2)  # type: ignore[arg-type]
    assert fake.calls == [(print, 1), (print, 2)]


@pytest.mark.timeout(30)
@pytest.mark.asyncio
async def test_many_concurrent_sync_to_async_calls_all_get_their_own_result() -> None:
    # The results come back through the coalesced wake-ups: none lost, none swapped.
    barrier = threading.Barrier(20, timeout=10)

    def work(number: int) -> int:
        if number < 20:
            barrier.wait()  # 20 threads finish at once, while the loop is busy
        return number * number

    calls = [sync_to_async(work, thread_sensitive=False)(n) for n in range(400)]
    results = await asyncio.wait_for(asyncio.gather(*calls), 20)
    assert results == [n * n for n in range(400)]


@pytest.mark.timeout(20)
def test_a_forked_child_gets_fresh_wakers() -> None:
    """Simulate fork() by running the at-fork hook while another thread holds the lock."""
    holding = threading.Event()
    release = threading.Event()

    def hold_the_lock() -> None:
        with _wake._wakers_lock:
            holding.set()
            release.wait(10)

    thread = threading.Thread(daemon=True, target=hold_the_lock)
    thread.start()
    assert holding.wait(5)
    loop = asyncio.new_event_loop()
    try:
        _wake._forget_wakers_in_child()  # what os.register_at_fork runs in a child
        box: list[int] = []
        call_soon_coalesced(loop, box.append, 7)  # a new loop: needs the (new) lock
        loop.run_until_complete(asyncio.sleep(0))
        assert box == [7]
    finally:
        release.set()
        thread.join(5)
        loop.close()


@pytest.mark.timeout(20)
def test_two_loops_on_two_threads_drain_at_the_same_time() -> None:
    """A drain running on one loop's thread does not stop another loop's drain."""
    inside_first = threading.Event()
    second_ran = threading.Event()
    outcome: list[bool] = []
    first_loop = asyncio.new_event_loop()
    second_loop = asyncio.new_event_loop()

    def hold_the_first_drain() -> None:
        inside_first.set()
        outcome.append(second_ran.wait(5))

    async def first_main() -> None:
        done = asyncio.Event()
        call_soon_coalesced(first_loop, hold_the_first_drain)
        call_soon_coalesced(first_loop, done.set)
        await done.wait()

    async def second_main() -> None:
        assert inside_first.wait(5)  # the first loop's thread is inside its drain now
        done = asyncio.Event()
        call_soon_coalesced(second_loop, second_ran.set)
        call_soon_coalesced(second_loop, done.set)
        await done.wait()
        again = asyncio.Event()  # and the waker still works afterwards
        call_soon_coalesced(second_loop, again.set)
        await again.wait()

    first = threading.Thread(daemon=True, target=_run_with_loop, args=(first_loop, first_main()))
    first.start()
    try:
        _run_with_loop(second_loop, second_main())
    finally:
        first.join(10)
    assert outcome == [True]
    assert second_ran.is_set()


@pytest.mark.timeout(10)
def test_callbacks_after_a_keyboard_interrupt_run_when_the_loop_runs_again() -> None:
    loop = asyncio.new_event_loop()
    ran: list[int] = []

    def interrupt() -> None:
        raise KeyboardInterrupt

    try:
        # The loop is not running: all three join one drain.
        call_soon_coalesced(loop, ran.append, 1)
        call_soon_coalesced(loop, interrupt)
        call_soon_coalesced(loop, ran.append, 2)
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(loop.create_future())  # only the interrupt ends it
        assert ran == [1]
        finished: asyncio.Future[None] = loop.create_future()
        call_soon_coalesced(loop, finished.set_result, None)
        loop.run_until_complete(finished)
        assert ran == [1, 2]
    finally:
        loop.close()
