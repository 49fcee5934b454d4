"""Static checks of the bridges' signatures; `hatch run types:check` runs mypy --strict on it.

Not a test module. `assert_type` fails the type check when a wrapper loses its callable's
signature, and each `type: ignore[...]` below must stay *used* (strict mode warns on unused
ones), so a wrapper that degraded to `Any` would fail the check too.
"""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from typing import Any

from asgi_sync import AsyncToSync, SyncToAsync, async_to_sync, sync_to_async

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type


def add(a: int, b: str = "x") -> list[str]:
    return [b] * a


async def fetch(url: str, *, retries: int = 1) -> bytes:
    return url.encode() * retries


class Repo:
    def count(self, table: str) -> int:
        return len(table)

    async def acount(self, table: str) -> int:
        return len(table)


@sync_to_async
def decorated(n: int) -> float:
    return n / 2


@sync_to_async(thread_sensitive=False)
def decorated_with_arguments(n: int) -> str:
    return str(n)


@async_to_sync
async def decorated_async(n: int) -> int:
    return n


async def async_side(repo: Repo) -> None:
    assert_type(await sync_to_async(add)(2, "y"), list[str])
    assert_type(await sync_to_async(add, thread_sensitive=False)(2), list[str])
    pending = sync_to_async(add)(1)
    _ = assert_type(pending, Coroutine[Any, Any, list[str]])
    pending.close()
    assert_type(await decorated(3), float)
    assert_type(await decorated_with_arguments(3), str)
    assert_type(await sync_to_async(repo.count)("t"), int)
    await sync_to_async(add)("not an int")  # type: ignore[arg-type]
    await sync_to_async(add)(1, c=2)  # type: ignore[call-arg]


def sync_side(repo: Repo) -> None:
    assert_type(async_to_sync(fetch)("u"), bytes)
    assert_type(async_to_sync(fetch)("u", retries=2), bytes)
    assert_type(decorated_async(1), int)
    assert_type(async_to_sync(repo.acount)("t"), int)
    async_to_sync(fetch)(b"bytes")  # type: ignore[arg-type]
    async_to_sync(fetch)("u", retries="2")  # type: ignore[arg-type]


class Service:
    def _count(self, table: str) -> int:
        return len(table)

    async def _fetch(self, n: int) -> str:
        return str(n)

    count = SyncToAsync(_count)
    fetch = AsyncToSync(_fetch)


async def bound_async_side(service: Service) -> None:
    assert_type(await service.count("t"), int)
    await service.count(1)  # type: ignore[arg-type]


def bound_sync_side(service: Service) -> None:
    assert_type(service.fetch(1), str)
    service.fetch("1")  # type: ignore[arg-type]
