"""Views streaming `?bytes=N` bytes of rows read with the ORM's `.iterator()`.

`sync-rows/bridged` (for ASGI) wraps a sync generator in `sync_to_async_iter`;
`async-rows/bridged` (for WSGI) wraps an async generator in `async_to_sync_iter`. The
`plain` views give Django the same generator unwrapped, which it reads whole into a list
(with a warning) before sending a byte. `?gate=PATH` makes the generator wait, after its
first row, until that file exists; `?report=1` appends a last line `REPORT {json}` saying
which threads ran the view and the generator; `?finally_file=PATH` makes the generator's
`finally` write the thread it ran on (and the view's) to that file.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import threading
import time
from typing import AsyncIterator, Dict, Iterator, List

from django.db import connection
from django.http import HttpRequest, StreamingHttpResponse

from asgi_sync.iterators import async_to_sync_iter, sync_to_async_iter
from examples.streaming.models import Chunk

_GATE_SECONDS = 20.0


class _Trace:
    """What the export saw, for `?report=1`."""

    def __init__(self, request: HttpRequest) -> None:
        self.view_thread = threading.get_ident()
        self.threads: List[int] = []
        self.connections: List[int] = []
        self.report = request.GET.get("report") == "1"
        self.total = int(request.GET.get("bytes", "1048576"))
        self.gate = request.GET.get("gate")
        self.finally_file = request.GET.get("finally_file")

    def finished(self, completed: bool) -> None:
        """In the generator's `finally`: record the thread it ran on, if asked."""
        if self.finally_file:
            data = {
                "thread": threading.get_ident(),
                "view_thread": self.view_thread,
                "completed": completed,
            }
            # Written aside and renamed into place, so a reader never sees half of it.
            target = pathlib.Path(self.finally_file)
            partial = target.with_name(target.name + ".partial")
            partial.write_text(json.dumps(data))
            partial.replace(target)

    def note(self, orm_thread: bool = True) -> None:
        thread = threading.get_ident()
        if thread not in self.threads:
            self.threads.append(thread)
        if orm_thread and id(connection.connection) not in self.connections:
            self.connections.append(id(connection.connection))

    def last_line(self) -> bytes:
        data: Dict[str, object] = {
            "view_thread": self.view_thread,
            "threads": self.threads,
            "connections": len(self.connections),
        }
        return b"\nREPORT " + json.dumps(data).encode()


def _gate_open(path: str) -> bool:
    return os.path.exists(path)


def _rows(trace: _Trace) -> Iterator[bytes]:
    completed = False
    try:
        yield from _rows_body(trace)
        completed = True
    finally:
        trace.finished(completed)


def _rows_body(trace: _Trace) -> Iterator[bytes]:
    sent = 0
    first = True
    while sent < trace.total:
        for chunk in Chunk.objects.order_by("id").iterator(chunk_size=64):
            trace.note()
            payload = bytes(chunk.payload)[: trace.total - sent]
            yield payload
            sent += len(payload)
            if first and trace.gate:
                first = False
                deadline = time.monotonic() + _GATE_SECONDS
                while not os.path.exists(trace.gate):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"nobody opened the gate {trace.gate}")
                    time.sleep(0.005)
            if sent >= trace.total:
                break
    if trace.report:
        yield trace.last_line()


async def _arows(trace: _Trace) -> AsyncIterator[bytes]:
    completed = False
    try:
        async for part in _arows_body(trace):
            yield part
        completed = True
    finally:
        trace.finished(completed)


async def _arows_body(trace: _Trace) -> AsyncIterator[bytes]:
    sent = 0
    first = True
    while sent < trace.total:
        async for chunk in Chunk.objects.order_by("id").aiterator(chunk_size=64):
            trace.note(orm_thread=False)  # on the event loop; the ORM runs elsewhere
            payload = bytes(chunk.payload)[: trace.total - sent]
            yield payload
            sent += len(payload)
            if first and trace.gate:
                first = False
                deadline = time.monotonic() + _GATE_SECONDS
                while not _gate_open(trace.gate):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"nobody opened the gate {trace.gate}")
                    await asyncio.sleep(0.005)
            if sent >= trace.total:
                break
    if trace.report:
        yield trace.last_line()


def sync_rows_bridged(request: HttpRequest) -> StreamingHttpResponse:
    """A sync generator, bridged: streamed under ASGI in bounded memory."""
    return StreamingHttpResponse(sync_to_async_iter(_rows(_Trace(request))))


def sync_rows_plain(request: HttpRequest) -> StreamingHttpResponse:
    """A sync generator, given as it is: Django under ASGI reads it whole first."""
    return StreamingHttpResponse(_rows(_Trace(request)))


def async_rows_bridged(request: HttpRequest) -> StreamingHttpResponse:
    """An async generator, bridged: streamed under WSGI in bounded memory."""
    return StreamingHttpResponse(async_to_sync_iter(_arows(_Trace(request))))


def async_rows_plain(request: HttpRequest) -> StreamingHttpResponse:
    """An async generator, given as it is: Django under WSGI reads it whole first."""
    return StreamingHttpResponse(_arows(_Trace(request)))
