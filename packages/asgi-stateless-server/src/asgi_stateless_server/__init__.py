"""StatelessServer: one ASGI application instance per remote party on an external stream.

A *stateless* server owns no sockets. It consumes some external stream (a message
queue, a Redis Stream, a channel layer) and keeps one ASGI application instance alive
per remote party, feeding that party's messages into the instance's input queue. This
is the base Channels' worker is built on; it backs `asgiref.server`.

Everything here runs on the one event loop that runs `StatelessServer.arun`:
subclasses' `handle()`, every application instance, and the application checker.
"""

from __future__ import annotations

__all__ = (
    "StatelessServer",
    "ApplicationInstance",
    "__version__",
)

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Hashable
from typing import Any, Callable, Dict, List, Set, TypedDict

from asgi_stateless_server.__about__ import __version__ as __version__
from asgi_sync.compatibility import guarantee_single_callable

logger = logging.getLogger("asgi_stateless_server")

# Not asgi_sync.typing's TypedDicts: the scopes and messages of a stateless server are its
# own (Channels' workers use "channel" scopes and channel-layer messages), not the spec's
# HTTP, WebSocket and lifespan ones.
_Message = Dict[str, Any]
_Scope = Dict[str, Any]
_Application3 = Callable[
    [_Scope, Callable[[], Awaitable[_Message]], Callable[[_Message], Awaitable[None]]],
    Awaitable[None],
]


class _ApplicationInstanceKeys(TypedDict):
    input_queue: asyncio.Queue[_Message]
    future: asyncio.Future[None]
    scope: _Scope
    last_used: float


class ApplicationInstance(_ApplicationInstanceKeys, total=False):
    """What `StatelessServer.application_instances` holds for one scope id.

    Subclasses read these keys (Channels does); treat them as read-only.
    Keys: `input_queue` (the queue the instance's `receive()` reads from), `future`
    (the task running the instance), `scope` (the scope it was created with),
    `last_used` (`time.time()` of its creation or of the last lookup of its scope id)
    and `scope_id`.
    """

    scope_id: Hashable


class StatelessServer:
    """Base for servers that consume an external stream, one application instance per party.

    Subclass it, implement `handle` (read
    the stream, call
    `get_or_create_application_instance`
    with a unique scope id per remote party and put the message on the queue it returns)
    and `application_send`
    (deliver what an application instance sends).

    At most `max_applications` instances are alive at any time: creating one more first
    shuts down the least recently used instance. Instances that finish are removed by the
    application checker, which runs every `application_checker_interval` seconds; those
    that raised are passed to
    `application_exception`
    (which logs them) and the server keeps serving.

    All methods run on the event loop that runs `arun()`; none is thread-safe.

    Args:
        application: The ASGI 3 application, or an ASGI 2 (double-callable) one.
        max_applications: The most application instances alive at once (at least 1).

    Raises:
        TypeError: If `max_applications` is not an int.
        ValueError: If `max_applications` is less than 1.
    """

    application_checker_interval: float = 0.1
    """Seconds between two passes of the application checker."""

    def __init__(self, application: Any, max_applications: int = 1000) -> None:
        if isinstance(max_applications, bool) or not isinstance(max_applications, int):
            message = (
                f"max_applications must be an int, got {max_applications!r}; "
                "pass the most application instances to keep alive, such as 1000"
            )
            raise TypeError(message)
        if max_applications < 1:
            message = (
                f"max_applications must be at least 1, got {max_applications}; "
                "a server needs room for one application instance"
            )
            raise ValueError(message)
        if not callable(application):
            message = f"application must be an ASGI application (a callable), got {application!r}"
            raise TypeError(message)
        self.application = application
        self.max_applications = max_applications
        self.application_instances: dict[Hashable, ApplicationInstance] = {}
        self._application3: _Application3 = guarantee_single_callable(application)
        # Instances that finished but were found by a lookup before the checker saw them.
        self._finished: List[ApplicationInstance] = []
        # Instances deleted (cancelled) that have not finished yet; awaited at shutdown.
        self._stopping: Set[asyncio.Future[None]] = set()

    # --- running ------------------------------------------------------------------

    def run(self) -> None:
        """Run the server on a new event loop in the calling thread until it stops.

        Uses `asyncio.run`, so call it from a thread with no running event loop (the
        main thread, or a thread of your own). On `KeyboardInterrupt` the server shuts
        down as `arun` describes, then the
        `KeyboardInterrupt` propagates.
        """
        asyncio.run(self.arun())

    async def arun(self) -> None:
        """Run the application checker and `handle()` on the running loop.

        Returns when `handle()` returns. However it ends (return, exception,
        cancellation of this coroutine's task, `KeyboardInterrupt`) the checker is
        stopped, every application instance is cancelled and awaited, and the mapping
        is emptied, so no task is left pending.
        """
        checker = asyncio.ensure_future(self.application_checker())
        try:
            await self.handle()
        finally:
            await self._shutdown(checker)

    async def _shutdown(self, checker: asyncio.Future[None]) -> None:
        checker.cancel()
        details_list = list(self.application_instances.values()) + self._finished
        self.application_instances.clear()
        self._finished = []
        futures: list[asyncio.Future[Any]] = [checker, *self._stopping]
        for details in details_list:
            details["future"].cancel()
            futures.append(details["future"])
        self._stopping.clear()
        # Waiting may itself be cancelled (a second Ctrl-C); the instances are already
        # cancelled, so keep waiting for them rather than leaving them pending.
        waiter = asyncio.gather(*futures, return_exceptions=True)
        cancelled = False
        while not waiter.done():
            try:
                await asyncio.shield(waiter)
            except asyncio.CancelledError:
                cancelled = True
        outcomes = waiter.result()
        if isinstance(outcomes[0], Exception):
            logger.error("The application checker failed", exc_info=outcomes[0])
        for details, outcome in zip(details_list, outcomes[len(futures) - len(details_list) :]):
            if isinstance(outcome, Exception):
                self._log_exception(outcome, details)
        if cancelled:
            raise asyncio.CancelledError

    # --- for subclasses -------------------------------------------------------------

    async def handle(self) -> None:
        """Consume the external stream; subclasses must implement this.

        Runs on the server's loop as the body of `arun()`. Call
        `get_or_create_application_instance()` for each message's remote party and put
        the message on the queue it returns. The server stops when this returns.

        Raises:
            NotImplementedError: Always, in the base class.
        """
        message = f"{type(self).__name__} must implement handle() to consume its stream"
        raise NotImplementedError(message)

    async def application_send(self, scope: _Scope, message: _Message) -> None:
        """Deliver a message an application instance sent; subclasses must implement this.

        Runs on the server's loop, inside the sending instance's task: it is the
        instance's `send()` awaitable, bound to the instance's scope.

        Args:
            scope: The scope of the instance that sent the message.
            message: The ASGI message it sent.

        Raises:
            NotImplementedError: Always, in the base class.
        """
        text = f"{type(self).__name__} must implement application_send() to deliver messages"
        raise NotImplementedError(text)

    # --- application instances ------------------------------------------------------

    def get_or_create_application_instance(
        self, scope_id: Hashable, scope: _Scope
    ) -> asyncio.Queue[_Message]:
        """Return the input queue of the instance for `scope_id`, creating it if needed.

        Must be called on the server's loop. An existing, still running instance is
        marked as used now and its queue returned (`scope` is then ignored). Otherwise a
        new instance is started as a task on the running loop with `scope`; when
        `max_applications` instances are already alive, the least recently used ones
        are deleted first, so never more than `max_applications` are alive.

        Args:
            scope_id: A hashable id unique to the remote party (for example `"user-42"`).
            scope: The ASGI scope for a new instance.

        Returns:
            The queue the instance's `receive()` reads from.

        Raises:
            RuntimeError: If no event loop is running in this thread.
        """
        details = self.application_instances.get(scope_id)
        if details is not None:
            if not details["future"].done():
                details["last_used"] = time.time()
                # Keep the mapping ordered from least to most recently used.
                del self.application_instances[scope_id]
                self.application_instances[scope_id] = details
                return details["input_queue"]
            # It finished before the checker noticed: let the checker report it.
            del self.application_instances[scope_id]
            self._finished.append(details)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            message = (
                f"get_or_create_application_instance({scope_id!r}) needs a running event "
                "loop; call it from handle() or another coroutine on the server's loop"
            )
            raise RuntimeError(message) from None
        while len(self.application_instances) >= self.max_applications:
            before = len(self.application_instances)
            self.delete_oldest_application_instance()
            if len(self.application_instances) >= before:
                message = (
                    f"delete_oldest_application_instance() of {type(self).__name__} did not "
                    f"remove an instance, so there is no room for {scope_id!r} within "
                    f"max_applications={self.max_applications}; an override must remove "
                    "the instance from application_instances (call super())"
                )
                raise RuntimeError(message)
        input_queue: asyncio.Queue[_Message] = asyncio.Queue()
        send = functools.partial(self.application_send, scope)
        future = loop.create_task(_run_instance(self._application3, scope, input_queue, send))
        self.application_instances[scope_id] = {
            "input_queue": input_queue,
            "future": future,
            "scope": scope,
            "last_used": time.time(),
            "scope_id": scope_id,
        }
        return input_queue

    def delete_oldest_application_instance(self) -> None:
        """Delete the least recently used application instance, if there is one.

        Runs on the server's loop; goes through `delete_application_instance()`.
        """
        if not self.application_instances:
            return
        # The mapping is kept ordered from least to most recently used.
        self.delete_application_instance(next(iter(self.application_instances)))

    def delete_application_instance(self, scope_id: Hashable) -> None:
        """Remove the instance for `scope_id` and cancel its task if still running.

        Runs on the server's loop. The cancelled task is awaited at shutdown; an
        exception it raises while stopping is logged.

        Args:
            scope_id: The id the instance was created with.

        Raises:
            KeyError: If there is no instance for `scope_id`.
        """
        try:
            details = self.application_instances.pop(scope_id)
        except KeyError:
            message = f"no application instance for scope id {scope_id!r}"
            raise KeyError(message) from None
        future = details["future"]
        if not future.done():
            future.cancel()
            self._stopping.add(future)
            future.add_done_callback(functools.partial(self._stopped, details))

    def _stopped(self, details: ApplicationInstance, future: asyncio.Future[None]) -> None:
        self._stopping.discard(future)
        if not future.cancelled():
            exception = future.exception()
            if exception is not None:
                self._log_exception(exception, details)

    async def application_checker(self) -> None:
        """Remove finished instances every `application_checker_interval` seconds.

        Runs as a task on the server's loop until `arun()` stops it. An instance that
        raised is passed to `application_exception()` and then removed; one whose task
        was cancelled (by anyone) is removed quietly. An error raised by
        `application_exception()` itself is logged and the checker carries on.
        """
        while True:
            await asyncio.sleep(self.application_checker_interval)
            finished, self._finished = self._finished, []
            for scope_id, details in list(self.application_instances.items()):
                if details["future"].done():
                    self.delete_application_instance(scope_id)
                    finished.append(details)
            for details in finished:
                await self._report(details)

    async def _report(self, details: ApplicationInstance) -> None:
        future = details["future"]
        if future.cancelled():
            logger.debug("Application instance %r was cancelled", details.get("scope_id"))
            return
        exception = future.exception()
        if exception is None:
            return
        try:
            await self.application_exception(exception, details)
        except Exception:
            logger.exception("application_exception() failed for %r", details.get("scope_id"))

    async def application_exception(
        self, exception: BaseException, application_details: ApplicationInstance
    ) -> None:
        """Report an exception an application instance raised; logs it by default.

        Runs on the server's loop, in the application checker, before the instance is
        forgotten. Override it to do more (the server keeps serving either way).

        Args:
            exception: What the instance raised.
            application_details: The instance's entry from `application_instances`.
        """
        self._log_exception(exception, application_details)

    @staticmethod
    def _log_exception(exception: BaseException, details: ApplicationInstance) -> None:
        logger.error(
            "Exception inside application instance %r (scope %r)",
            details.get("scope_id"),
            details["scope"],
            exc_info=(type(exception), exception, exception.__traceback__),
        )


async def _run_instance(
    application: _Application3,
    scope: _Scope,
    input_queue: asyncio.Queue[_Message],
    send: Callable[[_Message], Awaitable[None]],
) -> None:
    await application(scope, input_queue.get, send)
