"""`Local` across threads the way the bridges move contexts, simulated and with asgi_sync."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any, Callable

import pytest

import asgi_local
from asgi_local import Local, bind_context_to_current_thread

MISSING = object()


def read(local: Local, name: str = "value") -> Any:
    return getattr(local, name, MISSING)


def bridge_call(func: Callable[[], Any]) -> Any:
    """Do what a sync_to_async bridge does, by hand: run *func* in a copy of the current
    context on another thread, bind it there, then copy its changes back and bind here."""
    context = contextvars.copy_context()
    result: list[Any] = []

    def body() -> None:
        bind_context_to_current_thread()
        result.append(func())

    thread = threading.Thread(daemon=True, target=context.run, args=(body,))
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    for var, value in context.items():
        var.set(value)
    bind_context_to_current_thread()
    return result[0]


def test_bind_is_exported_and_documented() -> None:
    assert "bind_context_to_current_thread" in asgi_local.__all__
    assert bind_context_to_current_thread.__doc__
    assert "legitimately runs on the calling thread" in bind_context_to_current_thread.__doc__


def test_bind_is_idempotent_and_harmless_without_values() -> None:
    local = Local()
    bind_context_to_current_thread()
    bind_context_to_current_thread()
    assert read(local) is MISSING
    local.value = 1
    bind_context_to_current_thread()
    bind_context_to_current_thread()
    assert local.value == 1


def test_simulated_bridge_carries_values_both_ways() -> None:
    local = Local()
    local.value = "caller"

    def callee() -> Any:
        seen = read(local)
        local.value = "callee"
        local.added = "callee"
        return seen

    assert bridge_call(callee) == "caller"
    assert (local.value, local.added) == ("callee", "callee")


def test_simulated_bridge_delete_is_carried_back() -> None:
    local = Local()
    local.value = "caller"

    def callee() -> None:
        del local.value

    bridge_call(callee)
    assert read(local) is MISSING


def test_simulated_bridge_never_carries_thread_critical() -> None:
    local = Local(thread_critical=True)
    local.value = "caller"

    def callee() -> Any:
        seen = read(local)
        local.value = "callee"
        return seen

    assert bridge_call(callee) is MISSING
    assert local.value == "caller"


@pytest.mark.asyncio
async def test_simulated_bridge_from_a_task_does_not_touch_siblings() -> None:
    local = Local()
    both_set = asyncio.Barrier(2) if hasattr(asyncio, "Barrier") else None

    async def request(name: str) -> Any:
        local.value = name
        if both_set is not None:
            await both_set.wait()
        loop = asyncio.get_running_loop()
        carried = contextvars.copy_context()  # the executor thread runs a copy, unbound
        seen = await loop.run_in_executor(None, carried.run, bridge_call, lambda: read(local))
        return seen, local.value

    results = await asyncio.wait_for(asyncio.gather(request("a"), request("b")), 10)
    assert list(results) == [("a", "a"), ("b", "b")]


def test_copy_without_bind_stays_invisible_after_binding_elsewhere() -> None:
    """Binding one copy of a context does not make other copies visible on other threads."""
    local = Local()
    local.value = "caller"
    unbound = contextvars.copy_context()
    assert bridge_call(lambda: read(local)) == "caller"
    seen: list[Any] = []
    thread = threading.Thread(
        daemon=True, target=unbound.run, args=(lambda: seen.append(read(local)),)
    )
    thread.start()
    thread.join(10)
    assert seen == [MISSING]
