"""Static checks of `asgi_sync.iterators`' signatures; `hatch run types:check` runs mypy on it.

Not a test module. `assert_type` fails the check when an item type is lost; each
`type: ignore[...]` must stay used (strict mode warns on unused ones), so overloads that
stopped rejecting bad combinations would fail the check too.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

from asgi_sync.iterators import (
    AsyncToSyncIterator,
    SyncToAsyncIterator,
    async_to_sync_iter,
    sync_to_async_iter,
)

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type


def rows() -> Iterator[bytes]:
    yield b"row"


async def arows() -> AsyncIterator[str]:
    yield "row"


async def consume(flag: bool) -> None:
    assert_type(sync_to_async_iter(rows()), SyncToAsyncIterator[bytes])
    assert_type(sync_to_async_iter([1, 2], read_ahead=8), SyncToAsyncIterator[int])
    with ThreadPoolExecutor(1) as pool:
        bridged = sync_to_async_iter(rows(), thread_sensitive=False, executor=pool)
        assert_type(bridged, SyncToAsyncIterator[bytes])
        # An executor only goes with thread_sensitive=False, as at run time.
        sync_to_async_iter(rows(), executor=pool)  # type: ignore[call-overload]
    assert_type(sync_to_async_iter(rows(), thread_sensitive=flag), SyncToAsyncIterator[bytes])
    async for item in sync_to_async_iter(rows()):
        assert_type(item, bytes)


def produce() -> None:
    assert_type(async_to_sync_iter(arows()), AsyncToSyncIterator[str])
    for item in async_to_sync_iter(arows(), read_ahead=4):
        assert_type(item, str)
    async_to_sync_iter(rows())  # type: ignore[arg-type]
