"""The WSGI side of `WsgiToAsgi`: call the application, turn its response into messages (private).

Everything here runs on the WSGI call's thread (an asgi_sync pooled worker), inside the
request's copy of the awaiting task's context (`asgi_sync.threads.ThreadCall.run`).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterable
from types import TracebackType
from typing import Callable, Optional, Tuple, Type

from asgi_sync.typing import HTTPResponseStartEvent
from asgi_wsgi import _headers
from asgi_wsgi._headers import _GOOD_STATUS
from asgi_wsgi._streams import _Done, _Item, _Response
from asgi_wsgi._types import ClientDisconnected, Environ, SendEvent, WSGIApp

logger = logging.getLogger("asgi_wsgi")

_ExcInfo = Tuple[Type[BaseException], BaseException, Optional[TracebackType]]


class _WsgiCall:
    """One call of the WSGI application and the iteration of its response.

    SendEvents go to `response`: the start message is deferred until the first non-empty body
    chunk (PEP 3333 lets `start_response(..., exc_info)` replace the headers until then), the
    empty chunks seen before it follow it; every item the iterable yields is one
    `http.response.body` message with `more_body=True`; a bare final body message ends it.
    A `Content-Length` caps the body: the chunk crossing it is truncated and iteration stops.
    """

    __slots__ = (
        "application",
        "capped",
        "context",
        "empties",
        "environ",
        "headers",
        "held",
        "held_size",
        "length",
        "response",
        "sent",
        "started",
        "status",
        "truncated",
    )

    def __init__(self, application: WSGIApp, environ: Environ, response: _Response) -> None:
        self.application = application
        self.environ = environ
        self.response = response
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.length: int | None = None  # the Content-Length cap, if any
        self.sent = 0  # body bytes produced so far (counted only under a cap)
        self.started = False  # the start message was produced
        self.empties = 0  # empty chunks produced before the start message
        self.truncated = False
        self.capped = False  # the Content-Length was reached: later data is dropped
        # A list or tuple response is in memory already: its messages go in one batch.
        self.held: list[_Item] | None = None
        self.held_size = 0
        self.context: contextvars.Context | None = None  # the last snapshot pushed

    # --- the callables the application gets ------------------------------------------------
    def start_response(
        self,
        status: str,
        response_headers: list[tuple[str, str]],
        exc_info: _ExcInfo | None = None,
    ) -> Callable[[bytes], None]:
        """PEP 3333 `start_response`: record the status and headers; return `write`."""
        if exc_info is not None:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            message = (
                f"start_response() was already called (status {self.status}); call it again "
                "only with exc_info, from an error handler"
            )
            raise RuntimeError(message)
        # PEP 3333: check here, so the error is raised inside the application's own call.
        code = _GOOD_STATUS.get(status) if type(status) is str else None  # cached: no call
        if code is None:
            code = _headers.status_code(status)
        headers = _headers.encode_response_headers(response_headers)
        self.status, self.headers = code, headers
        # The last Content-Length header counts; one that is not a number sets no cap.
        length: int | None = None
        for name, value in headers:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
        self.length = length
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333 `write()`: send `data` as a body chunk now (blocks under backpressure)."""
        self.emit(data)

    # --- producing messages --------------------------------------------------------------
    def emit(self, data: object) -> bool:
        """Produce the body message(s) for one chunk; True once the Content-Length is reached."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            message = f"WSGI response data must be bytes, not {type(data).__name__}: {data!r:.80}"
            raise TypeError(message)
        if self.capped:
            if data:
                self._warn_truncated()
            return True
        chunk = bytes(data)
        done = False
        length = self.length
        if length is not None:
            room = length - self.sent
            if len(chunk) > room:
                chunk = chunk[:room]
                self._warn_truncated()
            self.sent += len(chunk)
            done = self.capped = self.sent >= length
        if not chunk and not self.started:
            self.empties += 1  # sent right after the start message
            return done
        if self.status is None:
            message = "the WSGI application produced body data before calling start_response()"
            raise RuntimeError(message)
        body: SendEvent = {"type": "http.response.body", "body": chunk, "more_body": True}
        held = self.held
        if held is not None:  # _push's first branch, inlined: one call less per chunk
            if not self.started:
                held.extend(self._start_messages())
            held.append(body)
            self.held_size += len(chunk)
        elif self.started:
            self._push([body], len(chunk))
        else:
            self._push([*self._start_messages(), body], len(chunk))
        return done

    def _warn_truncated(self) -> None:
        if not self.truncated:
            self.truncated = True
            logger.warning(
                "WSGI application %r produced more than its Content-Length of %s bytes; "
                "the body is truncated there",
                self.application,
                self.length,
            )

    def _start_messages(self) -> list[SendEvent]:
        self.started = True
        assert self.status is not None  # checked by the callers
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": self.status,
            "headers": self.headers,
        }
        if not self.empties:
            return [start]
        empties: list[SendEvent] = [
            {"type": "http.response.body", "body": b"", "more_body": True}
            for _ in range(self.empties)
        ]
        return [start, *empties]

    def _push(self, messages: list[SendEvent], size: int) -> None:
        if self.held is not None:
            # Iterating a list or tuple runs no application code, so the context cannot change
            # until the batch is handed off: one snapshot then covers all of it.
            self.held.extend(messages)
            self.held_size += size
            return
        items: list[_Item] = []
        context = contextvars.copy_context()
        if context != self.context:
            # What a `send` wrapper on the loop sees while it sends these messages.
            self.context = context
            items.append(context)
        items.extend(messages)
        self.response.push(*items, size=size)

    # --- the call ------------------------------------------------------------------------
    def __call__(self) -> None:
        """Call the application, iterate its response, call `close()`; never raises."""
        response = self.response
        result: Iterable[bytes] | None = None
        error: BaseException | None = None
        ended = False  # the final message was queued
        try:
            result = self.application(self.environ, self.start_response)
            if type(result) is list or type(result) is tuple:
                self.held = []
            for data in () if self.capped else result:  # write() may have reached the cap
                if self.emit(data) or response.disconnected:
                    break
            if response.disconnected:
                raise ClientDisconnected("the client disconnected")
            if self.status is None:
                message = "the WSGI application returned without calling start_response()"
                raise RuntimeError(message)
            tail: list[SendEvent] = [] if self.started else self._start_messages()
            tail.append({"type": "http.response.body"})
            self._push(tail, 0)
            close = getattr(result, "close", None)
            if self.held is not None:
                held, self.held = self.held, None
                context = contextvars.copy_context()
                if close is None:
                    # Everything in one hand-off: the messages, the final one and the end.
                    response.finish(context, *held, _Done(None, context), size=self.held_size)
                    return
                self.context = context
                response.push(context, *held, size=self.held_size)
            ended = True
            if close is not None:
                close()
        except BaseException as exc:
            if ended:
                # The response is complete already: a failing close() is only reported.
                logger.error(
                    "Exception in close() of the response of WSGI application %r",
                    self.application,
                    exc_info=exc,
                )
            else:
                error = exc
                _close(result)
        response.finish(_Done(error, contextvars.copy_context()))


def _close(result: Iterable[bytes] | None) -> None:
    """Call `result.close()` after an error; log what it raises (the first error counts)."""
    close = getattr(result, "close", None)
    if close is not None:
        try:
            close()
        except BaseException:
            logger.exception("Exception in close() of a WSGI response after an error")
