"""StatelessServer: instances per scope id, the checker, the two upstream fixes, shutdown."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Hashable
from typing import Any, Callable

import pytest

from asgi_stateless_server import ApplicationInstance, StatelessServer

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


async def echo_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        await send({"type": "echo", "body": message["body"], "who": scope["who"]})


class RecordingServer(StatelessServer):
    """handle() waits until told to stop; sends are recorded."""

    application_checker_interval = 0.01

    def __init__(self, application: Any, max_applications: int = 1000) -> None:
        super().__init__(application, max_applications)
        self.sent: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.sent_event = asyncio.Event()
        self.started = asyncio.Event()
        self.stop = asyncio.Event()

    async def handle(self) -> None:
        self.started.set()
        await self.stop.wait()

    async def application_send(self, scope: dict[str, Any], message: dict[str, Any]) -> None:
        self.sent.append((scope, message))
        self.sent_event.set()

    async def next_sent(self) -> dict[str, Any]:
        await asyncio.wait_for(self.sent_event.wait(), 5)
        self.sent_event.clear()
        return self.sent[-1][1]


async def started(server: RecordingServer) -> asyncio.Task[None]:
    task = asyncio.ensure_future(server.arun())
    await asyncio.wait_for(server.started.wait(), 5)
    return task


async def stopped(server: RecordingServer, task: asyncio.Task[None]) -> None:
    server.stop.set()
    await asyncio.wait_for(task, 5)


async def until(predicate: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not predicate():  # noqa: ASYNC110 - state owned by the server, bounded
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), 5)


# --- construction -------------------------------------------------------------------


def test_max_applications_default_and_checker_interval() -> None:
    server = StatelessServer(echo_app)
    assert server.max_applications == 1000
    assert StatelessServer.application_checker_interval == 0.1
    assert server.application is echo_app
    assert server.application_instances == {}


@pytest.mark.parametrize("value", [0, -3])
def test_max_applications_below_one_is_rejected(value: int) -> None:
    with pytest.raises(ValueError, match=f"max_applications must be at least 1, got {value}"):
        StatelessServer(echo_app, max_applications=value)


@pytest.mark.parametrize("value", ["10", 2.5, True])
def test_max_applications_must_be_an_int(value: Any) -> None:
    with pytest.raises(TypeError, match=r"max_applications must be an int, got "):
        StatelessServer(echo_app, max_applications=value)


def test_application_must_be_callable() -> None:
    with pytest.raises(TypeError, match=r"application must be an ASGI application .*got 42"):
        StatelessServer(42)


@pytest.mark.asyncio
async def test_base_handle_must_be_implemented() -> None:
    with pytest.raises(NotImplementedError, match=r"StatelessServer must implement handle\(\)"):
        await StatelessServer(echo_app).handle()


@pytest.mark.asyncio
async def test_base_application_send_must_be_implemented() -> None:
    with pytest.raises(NotImplementedError, match=r"must implement application_send\(\)"):
        await StatelessServer(echo_app).application_send({}, {})


def test_get_or_create_outside_a_loop_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"get_or_create_application_instance\('a'\) needs"):
        StatelessServer(echo_app).get_or_create_application_instance("a", {})


# --- instances ----------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_message_reaches_instance_and_reply_reaches_application_send() -> None:
    server = RecordingServer(echo_app)
    task = await started(server)
    queue = server.get_or_create_application_instance("a", {"type": "test", "who": "alice"})
    queue.put_nowait({"body": 1})
    assert await server.next_sent() == {"type": "echo", "body": 1, "who": "alice"}
    assert server.sent[-1][0] == {"type": "test", "who": "alice"}
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_same_scope_id_gives_same_queue_and_keeps_first_scope() -> None:
    server = RecordingServer(echo_app)
    task = await started(server)
    first = server.get_or_create_application_instance("a", {"who": "alice"})
    second = server.get_or_create_application_instance("a", {"who": "mallory"})
    assert first is second
    assert len(server.application_instances) == 1
    second.put_nowait({"body": "x"})
    assert (await server.next_sent())["who"] == "alice"
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_application_instances_mapping_has_the_documented_keys() -> None:
    server = RecordingServer(echo_app)
    task = await started(server)
    scope = {"who": "alice"}
    queue = server.get_or_create_application_instance("a", scope)
    details: ApplicationInstance = server.application_instances["a"]
    assert {"input_queue", "future", "scope", "last_used"} <= set(details)
    assert details["input_queue"] is queue
    assert details["scope"] is scope
    assert isinstance(details["future"], asyncio.Future)
    assert not details["future"].done()
    before = details["last_used"]
    await asyncio.sleep(0.01)  # let the clock move on: last_used must be a later time
    server.get_or_create_application_instance("a", scope)
    assert details["last_used"] > before
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_asgi2_double_callable_application_is_accepted() -> None:
    class Asgi2App:
        def __init__(self, scope: dict[str, Any]) -> None:
            self.scope = scope

        async def __call__(self, receive: Receive, send: Send) -> None:
            message = await receive()
            await send({"type": "asgi2", "body": message["body"], "who": self.scope["who"]})

    server = RecordingServer(Asgi2App)
    task = await started(server)
    server.get_or_create_application_instance("a", {"who": "bob"}).put_nowait({"body": 7})
    assert await server.next_sent() == {"type": "asgi2", "body": 7, "who": "bob"}
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_max_applications_keeps_at_most_n_instances() -> None:
    """Upstream keeps N+1 instances alive; here creating one more evicts first."""
    server = RecordingServer(echo_app, max_applications=3)
    task = await started(server)
    futures = []
    for index in range(5):
        server.get_or_create_application_instance(index, {"who": index})
        futures.append(server.application_instances[index]["future"])
        assert len(server.application_instances) <= 3
    await asyncio.sleep(0)
    assert list(server.application_instances) == [2, 3, 4]
    assert [future.cancelled() for future in futures] == [True, True, False, False, False]
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_max_applications_one() -> None:
    server = RecordingServer(echo_app, max_applications=1)
    task = await started(server)
    server.get_or_create_application_instance("a", {"who": "a"})
    server.get_or_create_application_instance("b", {"who": "b"})
    assert list(server.application_instances) == ["b"]
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_eviction_takes_the_least_recently_used() -> None:
    server = RecordingServer(echo_app, max_applications=2)
    task = await started(server)
    server.get_or_create_application_instance("a", {"who": "a"})
    server.get_or_create_application_instance("b", {"who": "b"})
    server.get_or_create_application_instance("a", {"who": "a"})  # "b" is now the oldest
    server.get_or_create_application_instance("c", {"who": "c"})
    assert set(server.application_instances) == {"a", "c"}
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_delete_oldest_goes_through_delete_application_instance() -> None:
    deleted: list[Hashable] = []

    class Server(RecordingServer):
        def delete_application_instance(self, scope_id: Hashable) -> None:
            deleted.append(scope_id)
            super().delete_application_instance(scope_id)

    server = Server(echo_app, max_applications=1)
    task = await started(server)
    server.get_or_create_application_instance("a", {"who": "a"})
    server.get_or_create_application_instance("b", {"who": "b"})
    server.delete_oldest_application_instance()
    assert deleted == ["a", "b"]
    assert server.application_instances == {}
    await stopped(server, task)


def test_delete_oldest_with_no_instances_does_nothing() -> None:
    server = StatelessServer(echo_app)
    server.delete_oldest_application_instance()
    assert server.application_instances == {}


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_delete_application_instance_cancels_it() -> None:
    cancelled = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        try:
            await receive()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    server = RecordingServer(app)
    task = await started(server)
    server.get_or_create_application_instance("a", {})
    await asyncio.sleep(0)
    server.delete_application_instance("a")
    assert "a" not in server.application_instances
    await asyncio.wait_for(cancelled.wait(), 5)
    await stopped(server, task)


def test_delete_unknown_scope_id_is_a_key_error() -> None:
    with pytest.raises(KeyError, match=r"no application instance for scope id 'nope'"):
        StatelessServer(echo_app).delete_application_instance("nope")


# --- the checker --------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_checker_removes_finished_instances_quietly(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()

    server = RecordingServer(app)
    task = await started(server)
    server.get_or_create_application_instance("a", {}).put_nowait({})
    await until(lambda: "a" not in server.application_instances)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_cancelled_instance_is_cleaned_up_and_arun_keeps_running() -> None:
    """Upstream's checker lets CancelledError out of arun() here."""
    server = RecordingServer(echo_app)
    task = await started(server)
    server.get_or_create_application_instance("a", {"who": "a"})
    server.application_instances["a"]["future"].cancel()
    await until(lambda: "a" not in server.application_instances)
    # A short wait (three more checker runs) to check that arun() does NOT end.
    await asyncio.sleep(server.application_checker_interval * 3)
    assert not task.done()
    # And the server still serves the same party with a fresh instance.
    server.get_or_create_application_instance("a", {"who": "a"}).put_nowait({"body": 2})
    assert (await server.next_sent())["body"] == 2
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_application_exception_is_logged_with_scope_id_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        message = await receive()
        if message["body"] == "boom":
            raise ValueError("the app broke")
        await send({"type": "ok", "body": message["body"]})

    server = RecordingServer(app)
    task = await started(server)
    server.get_or_create_application_instance("user-7", {"n": 1}).put_nowait({"body": "boom"})
    await until(lambda: "user-7" not in server.application_instances)
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "asgi_stateless_server"
    assert "'user-7'" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    assert "the app broke" in caplog.text
    assert "Traceback" in caplog.text
    # The server keeps serving, the same party included.
    server.get_or_create_application_instance("user-7", {"n": 2}).put_nowait({"body": "fine"})
    assert await server.next_sent() == {"type": "ok", "body": "fine"}
    assert not task.done()
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_application_exception_override_receives_details() -> None:
    seen: list[tuple[BaseException, ApplicationInstance]] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        raise KeyError("missing")

    class Server(RecordingServer):
        async def application_exception(
            self, exception: BaseException, application_details: ApplicationInstance
        ) -> None:
            seen.append((exception, application_details))

    server = Server(app)
    task = await started(server)
    scope = {"who": "x"}
    server.get_or_create_application_instance("x", scope)
    await until(lambda: bool(seen))
    exception, details = seen[0]
    assert isinstance(exception, KeyError)
    assert details["scope"] is scope
    assert details.get("scope_id") == "x"
    assert "x" not in server.application_instances
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_failing_application_exception_override_does_not_stop_the_checker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[Hashable] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        raise ValueError(scope["who"])

    class Server(RecordingServer):
        async def application_exception(
            self, exception: BaseException, application_details: ApplicationInstance
        ) -> None:
            calls.append(application_details["scope"]["who"])
            raise RuntimeError("reporting failed")

    server = Server(app)
    task = await started(server)
    server.get_or_create_application_instance("a", {"who": "a"})
    await until(lambda: calls == ["a"])
    server.get_or_create_application_instance("b", {"who": "b"})
    await until(lambda: calls == ["a", "b"])
    assert "application_exception() failed for 'a'" in caplog.text
    assert not task.done()
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_finished_instance_is_replaced_on_lookup_before_the_checker_runs() -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        message = await receive()
        await send({"type": "once", "body": message["body"]})

    server = RecordingServer(app)
    server.application_checker_interval = 60  # the checker never runs in this test
    task = await started(server)
    server.get_or_create_application_instance("a", {}).put_nowait({"body": 1})
    assert (await server.next_sent())["body"] == 1
    await until(lambda: server.application_instances["a"]["future"].done())
    server.get_or_create_application_instance("a", {}).put_nowait({"body": 2})
    assert (await server.next_sent())["body"] == 2
    await stopped(server, task)


# --- shutdown -----------------------------------------------------------------------


class Tracked:
    """An application that counts live instances and records that each one finished."""

    def __init__(self) -> None:
        self.live = 0
        self.max_live = 0
        self.finished = 0
        self.entered: asyncio.Event | None = None  # made on the loop (3.9 binds at creation)

    async def wait_live(self, count: int) -> None:
        """Wait until at least ``count`` instances are running (the caller bounds the wait)."""
        self.entered = self.entered or asyncio.Event()
        while self.live < count:
            self.entered.clear()
            await self.entered.wait()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        self.live += 1
        self.max_live = max(self.max_live, self.live)
        self.entered = self.entered or asyncio.Event()
        self.entered.set()
        try:
            while True:
                message = await receive()
                await send({"type": "reply", "body": message["body"]})
        finally:
            self.live -= 1
            self.finished += 1


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_cancelling_arun_cancels_and_awaits_every_instance() -> None:
    app = Tracked()
    server = RecordingServer(app)
    task = await started(server)
    for index in range(5):
        server.get_or_create_application_instance(index, {})
    futures = [details["future"] for details in server.application_instances.values()]
    await asyncio.wait_for(app.wait_live(5), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert all(future.done() for future in futures)
    assert app.finished == 5
    assert app.live == 0
    assert server.application_instances == {}


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_arun_returns_when_handle_returns_and_stops_everything() -> None:
    app = Tracked()
    server = RecordingServer(app)
    task = await started(server)
    server.get_or_create_application_instance("a", {})
    await asyncio.wait_for(app.wait_live(1), 5)
    await stopped(server, task)
    assert app.finished == 1
    assert server.application_instances == {}


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_handle_exception_propagates_after_shutdown() -> None:
    app = Tracked()

    class Server(RecordingServer):
        async def handle(self) -> None:
            self.get_or_create_application_instance("a", {})
            await asyncio.wait_for(app.wait_live(1), 5)
            raise OSError("stream went away")

    server = Server(app)
    with pytest.raises(OSError, match="stream went away"):
        await asyncio.wait_for(server.arun(), 5)
    assert app.finished == 1


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_deleted_instances_still_stopping_are_awaited_at_shutdown() -> None:
    release = asyncio.Event()
    cleaning_up = asyncio.Event()
    done: list[str] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        try:
            await receive()
        except asyncio.CancelledError:
            # A slow, shielded cleanup: still running when the server shuts down.
            cleaning_up.set()
            await asyncio.shield(release.wait())
            done.append(scope["who"])
            raise

    server = RecordingServer(app)
    task = await started(server)
    server.get_or_create_application_instance("a", {"who": "a"})
    await asyncio.sleep(0)
    server.delete_application_instance("a")
    await asyncio.wait_for(cleaning_up.wait(), 5)
    server.stop.set()
    # A short wait to check that arun() does NOT return while the deleted instance stops.
    await asyncio.sleep(0.05)
    assert not task.done()  # arun() waits for the deleted instance
    release.set()
    await asyncio.wait_for(task, 5)
    assert done == ["a"]


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_exception_raised_while_stopping_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        try:
            await receive()
        except asyncio.CancelledError:
            raise RuntimeError("bad cleanup") from None

    server = RecordingServer(app)
    task = await started(server)
    server.get_or_create_application_instance("z", {})
    await asyncio.sleep(0)
    await stopped(server, task)
    assert "bad cleanup" in caplog.text
    assert "'z'" in caplog.text


def test_run_works_in_a_thread_without_a_loop_and_stops_on_keyboard_interrupt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcome: list[BaseException] = []
    app = Tracked()

    class Server(StatelessServer):
        async def handle(self) -> None:
            self.get_or_create_application_instance("a", {})
            await asyncio.wait_for(app.wait_live(1), 5)
            raise KeyboardInterrupt

        async def application_send(self, scope: dict[str, Any], message: Any) -> None:
            raise AssertionError("not used")

    def target() -> None:
        try:
            Server(app).run()
        except BaseException as exc:  # recorded for the assertion below
            outcome.append(exc)

    thread = threading.Thread(daemon=True, target=target)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], KeyboardInterrupt)
    assert app.finished == 1
    assert "Task was destroyed" not in caplog.text
    assert "never retrieved" not in caplog.text


def test_run_returns_when_handle_returns() -> None:
    app = Tracked()

    class Server(StatelessServer):
        async def handle(self) -> None:
            for index in range(3):
                self.get_or_create_application_instance(index, {})
            await asyncio.wait_for(app.wait_live(3), 5)

    server = Server(app)
    # In a fresh thread: asyncio.run() there leaves the main thread's loop alone.
    thread = threading.Thread(daemon=True, target=server.run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert app.finished == 3
    assert server.application_instances == {}


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_instance_bound_holds_under_churn() -> None:
    """10,000 lookups over 500 ids, max_applications=100: never more than 100 alive.

    The lossless version of this load, with replies, is the Redis Stream example's load
    test; here only the bound of the base class is under test, counted by the app itself.
    """
    app = Tracked()
    server = RecordingServer(app, max_applications=100)
    task = await started(server)
    max_mapped = 0
    created: set[asyncio.Future[Any]] = set()
    for n in range(10_000):
        queue = server.get_or_create_application_instance(n % 500, {})
        queue.put_nowait({"body": n})
        created.add(server.application_instances[n % 500]["future"])
        max_mapped = max(max_mapped, len(server.application_instances))
        if n % 50 == 0:
            await asyncio.sleep(0)  # let instances run and cancellations land
    mapped = {details["future"] for details in server.application_instances.values()}
    # Every evicted instance has stopped, and every mapped one has started.
    await asyncio.wait_for(asyncio.wait(created - mapped), 5)
    await asyncio.wait_for(app.wait_live(100), 5)
    assert max_mapped == 100
    assert app.max_live <= 100
    assert app.live == 100
    await stopped(server, task)
    assert app.live == 0


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_cancelling_during_shutdown_still_waits_then_reports_the_cancel() -> None:
    release = asyncio.Event()
    stopping = asyncio.Event()
    finished: list[str] = []

    async def slow_to_stop(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        try:
            await receive()
        finally:
            stopping.set()
            await asyncio.shield(release.wait())
            finished.append("stopped")

    server = RecordingServer(slow_to_stop)
    task = await started(server)
    server.get_or_create_application_instance("a", {})
    await asyncio.sleep(0)
    server.stop.set()  # handle() returns: shutdown starts and waits for the instance
    await asyncio.wait_for(stopping.wait(), 5)
    task.cancel()  # a second interruption while shutting down
    # A short wait to check that arun() does NOT end before the instance has stopped.
    await asyncio.sleep(0.05)
    assert not task.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert finished == ["stopped"]


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_override_that_does_not_delete_is_a_clear_error() -> None:
    class Server(RecordingServer):
        def delete_application_instance(self, scope_id: Hashable) -> None:
            pass  # forgets to call super()

    server = Server(echo_app, max_applications=1)
    task = await started(server)
    server.get_or_create_application_instance("a", {})
    with pytest.raises(
        RuntimeError, match=r"did not remove an instance, so there is no room for 'b'"
    ):
        server.get_or_create_application_instance("b", {})
    await stopped(server, task)


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_failed_instance_replaced_on_lookup_is_still_reported() -> None:
    seen: list[BaseException] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        message = await receive()
        if message["body"] == "boom":
            raise ValueError("first instance failed")
        await send({"type": "ok", "body": message["body"]})

    class Server(RecordingServer):
        async def application_exception(
            self, exception: BaseException, application_details: ApplicationInstance
        ) -> None:
            seen.append(exception)

    server = Server(app)
    server.application_checker_interval = 0.2
    task = await started(server)
    server.get_or_create_application_instance("a", {}).put_nowait({"body": "boom"})
    await until(lambda: server.application_instances["a"]["future"].done())
    server.get_or_create_application_instance("a", {}).put_nowait({"body": "next"})
    assert (await server.next_sent())["body"] == "next"
    await until(lambda: len(seen) == 1)
    assert str(seen[0]) == "first instance failed"
    await stopped(server, task)
