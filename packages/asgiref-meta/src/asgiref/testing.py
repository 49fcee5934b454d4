"""Drive an ASGI application from a test, one message at a time, without a server."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any, Awaitable, Dict, Mapping

from asgi_sync.compatibility import guarantee_single_callable

__all__ = ("ApplicationCommunicator",)


class ApplicationCommunicator:
    """Run one ASGI application instance as a task and talk to it through two queues.

    Constructing one needs no event loop and does not start the application. It starts on
    first use from async code ([send_input][asgiref.testing.ApplicationCommunicator.send_input],
    [receive_output][asgiref.testing.ApplicationCommunicator.receive_output],
    [receive_nothing][asgiref.testing.ApplicationCommunicator.receive_nothing],
    [wait][asgiref.testing.ApplicationCommunicator.wait] or reading `future`), as a task on the
    event loop running then, in a fresh empty `contextvars.Context`: context variables the
    test has set are not visible to the application, and its changes do not leak back.

    Once the application was cancelled (by a `receive_output` timeout or by `stop`), the
    `CancelledError` is raised again by `send_input`, `receive_output` and `receive_nothing`;
    `wait` returns quietly, as in asgiref.

    Attributes:
        application: The application, converted to the single-callable (ASGI 3) style.
        scope: The connection scope the application is called with.
        input_queue: Messages for the application's `receive()`.
        output_queue: Messages the application passed to `send()`.
        future: The task running the application (reading it starts the application).

    Args:
        application: An ASGI 2 or ASGI 3 application.
        scope: The connection scope to call it with.
    """

    def __init__(self, application: Any, scope: Mapping[str, Any]) -> None:
        self.application = guarantee_single_callable(application)
        self.scope = scope
        self._input_queue: asyncio.Queue[Any] | None = None
        self._output_queue: asyncio.Queue[Any] | None = None
        self._future: asyncio.Future[Any] | None = None

    # On Python 3.9 a queue binds to an event loop when it is created: make them on first use.
    @property
    def input_queue(self) -> asyncio.Queue[Any]:
        """Messages for the application's `receive()`."""
        if self._input_queue is None:
            self._input_queue = asyncio.Queue()
        return self._input_queue

    @property
    def output_queue(self) -> asyncio.Queue[Any]:
        """Messages the application passed to `send()`."""
        if self._output_queue is None:
            self._output_queue = asyncio.Queue()
        return self._output_queue

    @property
    def future(self) -> asyncio.Future[Any]:
        """The task running the application; the first read starts it on the running loop.

        Raises:
            RuntimeError: When read outside a running event loop before the start.
        """
        if self._future is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                message = (
                    "ApplicationCommunicator starts its application on the running event "
                    "loop: use it from async code (for example an async test)"
                )
                raise RuntimeError(message) from None
            # A task copies the context current at its creation: make that an empty one.
            self._future = contextvars.Context().run(self._start)
        return self._future

    def _start(self) -> asyncio.Future[Any]:
        coroutine: Awaitable[Any] = self.application(
            self.scope, self.input_queue.get, self.output_queue.put
        )
        return asyncio.ensure_future(coroutine)

    def _raise_if_failed(self) -> None:
        # Re-raise how the application ended, if it has: its exception or its cancellation.
        if self.future.done():
            self.future.result()

    async def _cancel_application(self) -> None:
        self.future.cancel()
        # asyncio.wait never raises the future's CancelledError: a CancelledError seen here
        # is the caller's own, and it propagates with the caller's cancel count untouched.
        await asyncio.wait({self.future})

    async def send_input(self, message: Mapping[str, Any]) -> None:
        """Queue `message` for the application's next `receive()` call.

        Args:
            message: The ASGI event to deliver.

        Raises:
            Exception: Whatever the application raised, if it has already failed.
            asyncio.CancelledError: The application was cancelled (a `receive_output`
                timeout, `stop`).
        """
        self._raise_if_failed()
        await self.input_queue.put(message)

    async def receive_output(self, timeout: float = 1) -> Dict[str, Any]:
        """Return the next message the application sent, waiting up to `timeout` seconds.

        Messages sent before the application finished are returned first, even if it then
        failed; after that its exception is raised. If nothing arrives in time and the
        application is still running, it is cancelled (and awaited) before the timeout is
        raised. Cancelling the caller while it waits propagates and leaves the application
        running.

        Args:
            timeout: Seconds to wait for a message.

        Returns:
            The next ASGI event from the application.

        Raises:
            asyncio.TimeoutError: Nothing was sent within `timeout` (the builtin `TimeoutError`
                on Python 3.11+).
            Exception: Whatever the application raised, once its queued output is consumed.
        """
        if self.output_queue.empty():
            self._raise_if_failed()
        if not self.future.done():
            getter = asyncio.ensure_future(self.output_queue.get())
            try:
                await asyncio.wait(
                    {getter, self.future}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                result: Dict[str, Any] = getter.result()
                return result
        if not self.output_queue.empty():
            queued: Dict[str, Any] = self.output_queue.get_nowait()
            return queued
        if self.future.done():
            self._raise_if_failed()
        else:
            await self._cancel_application()
        error = f"the application sent no message within {timeout} seconds"
        raise asyncio.TimeoutError(error)

    async def receive_nothing(self, timeout: float = 0.1, interval: float = 0.01) -> bool:
        """Check that the application sends nothing for `timeout` seconds.

        Args:
            timeout: How long to watch, in seconds.
            interval: How often to look at the output queue, in seconds.

        Returns:
            True if no message arrived, False as soon as one is queued (it stays queued).

        Raises:
            Exception: Whatever the application raised, if it failed with nothing queued.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if not self.output_queue.empty():
                return False
            self._raise_if_failed()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return True
            await asyncio.sleep(min(interval, remaining))

    async def wait(self, timeout: float = 1) -> None:
        """Wait up to `timeout` seconds for the application to finish.

        On timeout the application is cancelled and awaited, and `wait` returns quietly; it
        also returns quietly when the application had been cancelled before.

        Args:
            timeout: Seconds to wait.

        Raises:
            Exception: Whatever the application raised.
        """
        done, _ = await asyncio.wait({self.future}, timeout=timeout)
        if not done:
            await self._cancel_application()
            return
        if not self.future.cancelled():
            self._raise_if_failed()

    def stop(self, exceptions: bool = True) -> None:
        """Cancel the application if it is running (synchronous; nothing is awaited).

        Does nothing when the application was never started.

        Args:
            exceptions: If the application already ended, re-raise how it ended (its
                exception, or `CancelledError` when it was cancelled).
        """
        future = self._future
        if future is None:
            return
        if not future.done():
            future.cancel()
        elif exceptions:
            future.result()

    def __del__(self) -> None:
        # Don't leave the application task running once nobody can talk to it.
        future = getattr(self, "_future", None)
        if future is not None and not future.done():
            try:
                future.cancel()
            except RuntimeError:  # its loop is already closed
                pass
