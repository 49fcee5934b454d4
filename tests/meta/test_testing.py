"""asgiref.testing.ApplicationCommunicator: drive one application instance from a test."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import Any, Callable

import pytest

from asgiref.testing import ApplicationCommunicator

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(10)]

SCOPE = {"type": "http", "path": "/"}
marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")

Receive = Callable[[], Any]
Send = Callable[[Any], Any]


async def echo(scope: Any, receive: Receive, send: Send) -> None:
    message = await receive()
    await send({"type": "echo", "got": message, "path": scope["path"]})


async def forever(scope: Any, receive: Receive, send: Send) -> None:
    await asyncio.Event().wait()


async def sends_then_fails(scope: Any, receive: Receive, send: Send) -> None:
    await send({"type": "first"})
    raise ValueError("app broke")


async def test_send_input_and_receive_output_round_trip() -> None:
    communicator = ApplicationCommunicator(echo, SCOPE)
    await communicator.send_input({"type": "http.request"})
    assert await communicator.receive_output() == {
        "type": "echo",
        "got": {"type": "http.request"},
        "path": "/",
    }
    await communicator.wait()
    assert communicator.future.done()


async def test_asgi2_application_is_accepted() -> None:
    class Double:
        def __init__(self, scope: Any) -> None:
            self.scope = scope

        async def __call__(self, receive: Receive, send: Send) -> None:
            await send({"type": "double", "path": self.scope["path"]})

    communicator = ApplicationCommunicator(Double, SCOPE)
    assert await communicator.receive_output() == {"type": "double", "path": "/"}


async def test_receive_output_timeout_cancels_the_application() -> None:
    communicator = ApplicationCommunicator(forever, SCOPE)
    with pytest.raises(asyncio.TimeoutError):
        await communicator.receive_output(0.05)
    assert communicator.future.cancelled()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is new in 3.11")
async def test_receive_output_timeout_leaves_the_callers_cancel_count_alone() -> None:
    if sys.version_info >= (3, 11):  # always true here (skipif above), for mypy's 3.9 run
        task = asyncio.current_task()
        assert task is not None
        communicator = ApplicationCommunicator(forever, SCOPE)
        with pytest.raises(TimeoutError):
            await communicator.receive_output(0.05)
        assert task.cancelling() == 0
        # asyncio.timeout relies on that count: it must still work after the call.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await asyncio.sleep(1)


async def test_cancelling_the_caller_propagates_and_keeps_the_application(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    communicator = ApplicationCommunicator(forever, SCOPE)
    asked = asyncio.Event()
    get = communicator.output_queue.get

    def get_and_tell() -> Any:
        asked.set()
        return get()

    monkeypatch.setattr(communicator.output_queue, "get", get_and_tell)
    waiting = asyncio.ensure_future(communicator.receive_output(5))
    await asyncio.wait_for(asked.wait(), 5)  # receive_output() now waits for a message
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not communicator.future.done()
    communicator.stop()
    await asyncio.wait({communicator.future})
    assert communicator.future.cancelled()


async def test_output_sent_before_a_failure_comes_first_then_the_error() -> None:
    communicator = ApplicationCommunicator(sends_then_fails, SCOPE)
    await asyncio.wait({communicator.future})
    assert await communicator.receive_output() == {"type": "first"}
    with pytest.raises(ValueError, match=r"^app broke$"):
        await communicator.receive_output()


async def test_failure_is_raised_without_waiting_for_the_timeout() -> None:
    async def fails_later(scope: Any, receive: Receive, send: Send) -> None:
        await receive()
        raise KeyError("late")

    communicator = ApplicationCommunicator(fails_later, SCOPE)
    await communicator.send_input({"type": "go"})
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(KeyError, match="late"):
        await communicator.receive_output(5)
    assert loop.time() - started < 2


async def test_send_input_raises_the_applications_error() -> None:
    communicator = ApplicationCommunicator(sends_then_fails, SCOPE)
    await asyncio.wait({communicator.future})
    with pytest.raises(ValueError, match="app broke"):
        await communicator.send_input({"type": "more"})


async def test_finished_application_with_no_output_times_out() -> None:
    async def quiet(scope: Any, receive: Receive, send: Send) -> None:
        return None

    communicator = ApplicationCommunicator(quiet, SCOPE)
    await communicator.wait()
    with pytest.raises(asyncio.TimeoutError):
        await communicator.receive_output(0.05)


async def test_receive_nothing() -> None:
    communicator = ApplicationCommunicator(echo, SCOPE)
    assert await communicator.receive_nothing() is True
    await communicator.send_input({"type": "ping"})
    await asyncio.wait({communicator.future})
    assert await communicator.receive_nothing() is False
    assert (await communicator.receive_output())["type"] == "echo"
    assert await communicator.receive_nothing(0.02) is True


async def test_receive_nothing_raises_the_applications_error() -> None:
    async def fails(scope: Any, receive: Receive, send: Send) -> None:
        raise LookupError("nothing to see")

    communicator = ApplicationCommunicator(fails, SCOPE)
    with pytest.raises(LookupError, match="nothing to see"):
        await communicator.receive_nothing()


async def test_wait_times_out_by_cancelling_quietly() -> None:
    communicator = ApplicationCommunicator(forever, SCOPE)
    await communicator.wait(0.05)
    assert communicator.future.cancelled()


async def test_wait_raises_the_applications_error() -> None:
    communicator = ApplicationCommunicator(sends_then_fails, SCOPE)
    with pytest.raises(ValueError, match="app broke"):
        await communicator.wait()


async def test_stop_cancels_a_running_application() -> None:
    communicator = ApplicationCommunicator(forever, SCOPE)
    communicator.future  # starts it  # noqa: B018
    await asyncio.sleep(0)
    assert communicator.stop() is None  # type: ignore[func-returns-value]
    await asyncio.wait({communicator.future})
    assert communicator.future.cancelled()


async def test_stop_reraises_or_not() -> None:
    communicator = ApplicationCommunicator(sends_then_fails, SCOPE)
    await asyncio.wait({communicator.future})
    communicator.stop(exceptions=False)
    with pytest.raises(ValueError, match="app broke"):
        communicator.stop()


async def test_test_context_does_not_leak_into_the_application() -> None:
    seen: list[str] = []

    async def reads_and_sets(scope: Any, receive: Receive, send: Send) -> None:
        seen.append(marker.get())
        marker.set("set by app")
        await send({"type": "done"})

    token = marker.set("set by test")
    try:
        communicator = ApplicationCommunicator(reads_and_sets, SCOPE)
        await communicator.receive_output()
        assert seen == ["unset"]
        assert marker.get() == "set by test"
    finally:
        marker.reset(token)


# --- lazy start (asgiref 3.13) ---------------------------------------------------------


async def test_application_starts_on_first_use_not_at_construction() -> None:
    started: list[str] = []

    async def app(scope: Any, receive: Receive, send: Send) -> None:
        started.append(marker.get())
        await send({"type": "hello"})

    communicator = ApplicationCommunicator(app, SCOPE)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert started == []
    token = marker.set("set after construction")
    try:
        assert await communicator.receive_output() == {"type": "hello"}
    finally:
        marker.reset(token)
    # fresh empty context, even for values set between construction and start
    assert started == ["unset"]


@pytest.mark.parametrize("first_use", ["send_input", "receive_nothing", "wait", "future"])
async def test_each_entry_point_starts_the_application(first_use: str) -> None:
    started = asyncio.Event()

    async def app(scope: Any, receive: Receive, send: Send) -> None:
        started.set()
        await receive()

    communicator = ApplicationCommunicator(app, SCOPE)
    if first_use == "send_input":
        await communicator.send_input({"type": "x"})
    elif first_use == "receive_nothing":
        assert await communicator.receive_nothing(0.01) is True
    elif first_use == "wait":
        await communicator.wait(0.01)
    else:
        assert not communicator.future.done()
    await asyncio.wait_for(started.wait(), 5)
    communicator.stop(exceptions=False)


async def test_application_runs_on_the_loop_running_at_first_use() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def app(scope: Any, receive: Receive, send: Send) -> None:
        loops.append(asyncio.get_running_loop())
        await send({"type": "done"})

    communicator = ApplicationCommunicator(app, SCOPE)
    await communicator.receive_output()
    assert loops == [asyncio.get_running_loop()]


# --- a cancellation made by a receive_output timeout is not hidden -----------------------


async def test_send_input_after_a_receive_output_timeout_raises_cancelled() -> None:
    communicator = ApplicationCommunicator(forever, SCOPE)
    with pytest.raises(asyncio.TimeoutError):
        await communicator.receive_output(0.01)
    with pytest.raises(asyncio.CancelledError):
        await communicator.send_input({"type": "http.disconnect"})


async def test_receive_output_after_a_timeout_raises_cancelled() -> None:
    communicator = ApplicationCommunicator(forever, SCOPE)
    with pytest.raises(asyncio.TimeoutError):
        await communicator.receive_output(0.01)
    with pytest.raises(asyncio.CancelledError):
        await communicator.receive_output(0.01)


async def test_wait_after_a_timeout_returns_quietly_as_asgiref() -> None:
    communicator = ApplicationCommunicator(forever, SCOPE)
    with pytest.raises(asyncio.TimeoutError):
        await communicator.receive_output(0.01)
    await communicator.wait(0.01)  # no TimeoutError: wait() after a timeout is quiet


async def test_stop_after_the_cancellation_reraises_it() -> None:
    communicator = ApplicationCommunicator(forever, SCOPE)
    with pytest.raises(asyncio.TimeoutError):
        await communicator.receive_output(0.01)
    communicator.stop(exceptions=False)
    with pytest.raises(asyncio.CancelledError):
        communicator.stop()
