"""asgiref.timeout.timeout: works, and says it is deprecated in favour of asyncio.timeout."""

from __future__ import annotations

import asyncio
import sys

import pytest

from asgiref.timeout import timeout

DEPRECATED = r"^asgiref\.timeout is deprecated: use asyncio\.timeout\(\)"


def test_constructing_warns_and_names_the_replacement() -> None:
    with pytest.warns(DeprecationWarning, match=DEPRECATED) as record:
        timeout(1)
    assert record[0].filename == __file__


@pytest.mark.asyncio
@pytest.mark.timeout(5)
async def test_expiry_raises_timeout_error_and_marks_expired() -> None:
    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        limit = timeout(0.01)
    with pytest.raises(asyncio.TimeoutError):
        async with limit:
            await asyncio.sleep(5)
    assert limit.expired
    if sys.version_info >= (3, 11):
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0


@pytest.mark.asyncio
async def test_block_that_finishes_in_time_is_untouched() -> None:
    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        limit = timeout(5)
    async with limit as entered:
        assert entered is limit
        remaining = limit.remaining
        await asyncio.sleep(0)
    assert not limit.expired
    assert remaining is not None
    assert 0 < remaining <= 5


@pytest.mark.asyncio
async def test_none_never_expires() -> None:
    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        limit = timeout(None)
    with limit:
        await asyncio.sleep(0.01)  # a short wait to check that the limit does NOT expire
    assert not limit.expired
    assert limit.remaining is None


@pytest.mark.asyncio
@pytest.mark.timeout(5)
async def test_outside_cancellation_is_not_turned_into_timeout() -> None:
    entered = asyncio.Event()

    async def body() -> None:
        with pytest.warns(DeprecationWarning, match=DEPRECATED):
            limit = timeout(10)
        async with limit:
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.ensure_future(body())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_nan_is_rejected() -> None:
    with pytest.warns(DeprecationWarning, match=DEPRECATED):  # noqa: SIM117 - order matters
        with pytest.raises(ValueError, match="not nan"):
            timeout(float("nan"))


def test_outside_a_task_is_a_clear_error() -> None:
    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        limit = timeout(1)
    with pytest.raises(RuntimeError, match="inside a task"), limit:
        pass
