"""Behaviour of `asgi_local.Local` without the bridges: tasks, contexts, threads, attributes."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import subprocess
import sys
import threading
import weakref
from typing import Any, cast

import pytest

import asgi_local
from asgi_local import Local

MISSING = object()


def read(local: Local, name: str = "value") -> Any:
    return getattr(local, name, MISSING)


# --- attribute semantics --------------------------------------------------------------


@pytest.mark.parametrize("thread_critical", [False, True])
def test_set_get_delete(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    local.value = 1
    assert local.value == 1
    local.value = 2
    assert local.value == 2
    del local.value
    assert read(local) is MISSING


@pytest.mark.parametrize("thread_critical", [False, True])
def test_missing_attribute_raises_attribute_error(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        local.nope  # noqa: B018
    assert getattr(local, "nope", "default") == "default"
    assert not hasattr(local, "nope")


@pytest.mark.parametrize("thread_critical", [False, True])
def test_deleting_missing_attribute_raises(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        del local.nope
    local.other = 1
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        del local.nope
    assert local.other == 1


@pytest.mark.parametrize("thread_critical", [False, True])
def test_delete_keeps_other_attributes(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    local.a = 1
    local.b = 2
    del local.a
    assert read(local, "a") is MISSING
    assert local.b == 2


def test_instances_are_independent() -> None:
    first, second = Local(), Local()
    first.value = "first"
    assert read(second) is MISSING
    second.value = "second"
    assert first.value == "first"


def test_dunder_and_private_names_are_data() -> None:
    local = Local()
    local.__custom__ = 1
    local._private = 2
    local._asgi_local_thread = 3
    assert (local.__custom__, local._private, local._asgi_local_thread) == (1, 2, 3)
    assert local.__class__.__name__ == "_DefaultLocal"


@pytest.mark.parametrize("thread_critical", [False, True])
def test_assigning_data_raises_and_keeps_values(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    local.value = "kept"
    with pytest.raises(AttributeError, match="Cannot set attribute '_data' on Local"):
        local._data = {}
    assert local.value == "kept"
    local.other = 1
    assert (local.value, local.other) == ("kept", 1)


@pytest.mark.parametrize("thread_critical", [False, True])
def test_miss_creates_no_reference_cycles(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    local.present = 1
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(10):
            assert getattr(local, "absent", None) is None
            try:
                local.absent  # noqa: B018
            except AttributeError:
                pass
            try:
                del local.absent
            except AttributeError:
                pass
        gc.collect()
        assert gc.garbage == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_weak_references_work() -> None:
    local = Local()
    ref = weakref.ref(local)
    assert ref() is local


# --- compatibility surface -------------------------------------------------------------


def test_class_names_and_isinstance() -> None:
    default, critical = Local(), Local(thread_critical=True)
    assert type(default).__name__ == "_DefaultLocal"
    assert type(critical).__name__ == "_ThreadCriticalLocal"
    assert isinstance(default, Local)
    assert isinstance(critical, Local)
    assert type(Local(thread_critical=False)) is type(default)
    assert not isinstance(cast(object, default), int)


def test_positional_thread_critical() -> None:
    assert type(Local(True)).__name__ == "_ThreadCriticalLocal"


def test_defining_a_subclass_succeeds_but_instantiating_it_raises() -> None:
    # asgiref: a module that merely defines a subclass must still import.
    class Mine(Local):  # type: ignore[misc]
        pass

    assert issubclass(Mine, Local)
    with pytest.raises(
        TypeError, match=r"Local cannot be subclassed \(tried to instantiate '.*Mine'\)"
    ):
        Mine()
    with pytest.raises(TypeError, match="cannot be subclassed"):
        Mine(thread_critical=True)


def test_subclassing_private_classes_raises_on_instantiation() -> None:
    class Mine(type(Local())):  # type: ignore[misc]
        pass

    with pytest.raises(TypeError, match="Local cannot be subclassed"):
        Mine()


def test_private_concrete_classes_still_instantiate() -> None:
    default = type(Local())
    critical = type(Local(thread_critical=True))
    value = default()
    value.x = 1
    assert value.x == 1
    assert isinstance(critical(), Local)


def test_bad_thread_critical_raises() -> None:
    with pytest.raises(TypeError, match=r"expects a bool, got 'yes' of type str"):
        Local(thread_critical="yes")  # type: ignore[arg-type]


def test_asgiref_alias_is_same_module() -> None:
    import asgiref.local

    assert asgiref.local is asgi_local
    assert asgiref.local.Local is Local


# --- default mode: tasks and contexts -------------------------------------------------


@pytest.mark.asyncio
async def test_child_task_sees_parent_value_at_start() -> None:
    local = Local()
    local.value = "parent"

    async def child() -> Any:
        return read(local)

    task = asyncio.ensure_future(child())
    local.value = "changed after the child was created"
    assert await task == "parent"


@pytest.mark.asyncio
async def test_child_task_writes_do_not_leak_to_parent() -> None:
    local = Local()
    local.value = "parent"

    async def child() -> None:
        local.value = "child"
        local.extra = "child only"
        del local.value

    await asyncio.create_task(child())
    assert local.value == "parent"
    assert read(local, "extra") is MISSING


@pytest.mark.asyncio
async def test_nested_child_tasks() -> None:
    local = Local()
    local.level = 0

    async def descend(depth: int) -> list[Any]:
        seen = [local.level]
        local.level = depth
        if depth < 4:
            seen += await asyncio.create_task(descend(depth + 1))
        assert local.level == depth  # grandchildren did not leak back
        return seen

    assert await asyncio.create_task(descend(1)) == [0, 1, 2, 3]
    assert local.level == 0


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_concurrent_tasks_are_isolated() -> None:
    local = Local()
    all_set = asyncio.Event()
    ready = 0
    count = 50

    async def worker(index: int) -> Any:
        nonlocal ready
        local.value = index
        ready += 1
        if ready == count:
            all_set.set()
        await all_set.wait()  # every task has written before any reads
        return local.value

    results = await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(count))), 5)
    assert results == list(range(count))
    assert read(local) is MISSING


@pytest.mark.asyncio
async def test_value_set_in_task_is_not_seen_by_sibling() -> None:
    local = Local()
    first_wrote = asyncio.Event()

    async def first() -> None:
        local.value = "first"
        first_wrote.set()

    async def second() -> Any:
        await first_wrote.wait()
        return read(local)

    results = await asyncio.wait_for(asyncio.gather(first(), second()), 5)
    assert results[1] is MISSING


def test_copy_context_run_in_same_thread_sees_and_isolates() -> None:
    local = Local()
    local.value = "outer"

    def inner() -> Any:
        seen = read(local)
        local.value = "inner"
        return seen

    assert contextvars.copy_context().run(inner) == "outer"
    assert local.value == "outer"


def test_values_set_in_a_context_stay_in_it() -> None:
    local = Local()
    context = contextvars.copy_context()
    context.run(setattr, local, "value", "inside")
    assert read(local) is MISSING
    assert context.run(read, local) == "inside"


# --- threads ---------------------------------------------------------------------------


def run_in_thread(target: Any, *args: Any) -> Any:
    result: list[Any] = []
    errors: list[BaseException] = []

    def body() -> None:
        try:
            result.append(target(*args))
        except BaseException as exc:  # re-raised on the caller's thread
            errors.append(exc)

    thread = threading.Thread(daemon=True, target=body)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    if errors:
        raise errors[0]
    return result[0]


@pytest.mark.parametrize("thread_critical", [False, True])
def test_new_thread_does_not_see_values(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    local.value = "main"

    def body() -> Any:
        seen = read(local)
        local.value = "thread"
        return seen, local.value

    assert run_in_thread(body) == (MISSING, "thread")
    assert local.value == "main"


def test_thread_inheriting_a_copied_context_does_not_see_values() -> None:
    local = Local()
    local.value = "main"
    local.other = "main"
    context = contextvars.copy_context()

    def body() -> Any:
        seen = read(local)
        local.written = "thread"  # a write must not reveal the inherited values either
        return seen, read(local, "other"), local.written

    assert run_in_thread(context.run, body) == (MISSING, MISSING, "thread")
    assert read(local, "written") is MISSING
    # The context's new values belong to that thread: the main thread does not see them.
    assert context.run(read, local, "written") is MISSING
    assert context.run(read, local, "value") is MISSING


def test_deleting_in_a_thread_with_inherited_context_raises() -> None:
    local = Local()
    local.value = "main"
    context = contextvars.copy_context()

    def body() -> None:
        del local.value

    with pytest.raises(AttributeError, match="has no attribute 'value'"):
        run_in_thread(context.run, body)
    assert local.value == "main"


@pytest.mark.skipif(sys.version_info < (3, 14), reason="thread_inherit_context is new in 3.14")
def test_thread_inherit_context_does_not_see_values() -> None:
    local = Local()
    local.value = "main"
    seen: list[Any] = []
    context = contextvars.copy_context()
    if sys.version_info >= (3, 14):  # always true (skipif); tells mypy Thread takes `context`
        thread = threading.Thread(
            daemon=True, target=lambda: seen.append(read(local)), context=context
        )
        thread.start()
        thread.join(10)
    assert seen == [MISSING]


INHERITING_THREAD = """
import contextvars, sys, threading
from asgi_local import Local

assert sys.flags.thread_inherit_context == 1, sys.flags
var = contextvars.ContextVar("var")
var.set("main")
local = Local(thread_critical=THREAD_CRITICAL)
local.value = "main"
seen = {}

def body():
    seen["contextvar"] = var.get(None)
    seen["inherited"] = getattr(local, "value", None)
    local.value = "thread"
    seen["own"] = local.value

thread = threading.Thread(daemon=True, target=body)
thread.start()
thread.join(10)
seen["main after"] = local.value
print(sorted(seen.items()))
"""


@pytest.mark.skipif(sys.version_info < (3, 14), reason="-X thread_inherit_context is new in 3.14")
@pytest.mark.parametrize("thread_critical", [False, True])
@pytest.mark.timeout(60)
def test_threads_inheriting_the_context_by_default_do_not_see_values(
    thread_critical: bool,
) -> None:
    """Under `-X thread_inherit_context=1` a plain Thread starts in a copy of the caller's
    context: it sees the caller's context variables, but not its Local values."""
    script = INHERITING_THREAD.replace("THREAD_CRITICAL", repr(thread_critical))
    run = subprocess.run(
        [sys.executable, "-X", "thread_inherit_context=1", "-c", script],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == repr(
        [("contextvar", "main"), ("inherited", None), ("main after", "main"), ("own", "thread")]
    )


@pytest.mark.parametrize("thread_critical", [False, True])
@pytest.mark.timeout(30)
def test_many_threads(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    count = 32
    rounds = 300
    barrier = threading.Barrier(count, timeout=10)
    failures: list[str] = []

    def body(index: int) -> None:
        barrier.wait()
        for step in range(rounds):
            local.value = (index, step)
            setattr(local, f"own{index}", step)
            if local.value != (index, step) or getattr(local, f"own{index}") != step:
                failures.append(f"thread {index} step {step}: {local.value!r}")
            for other in range(count):
                if other != index and hasattr(local, f"own{other}"):
                    failures.append(f"thread {index} saw own{other}")
            if step % 2:
                del local.value
        barrier.wait()

    threads = [threading.Thread(daemon=True, target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert read(local) is MISSING


# --- thread_critical=True --------------------------------------------------------------


def test_thread_critical_is_a_thread_local_in_sync_code() -> None:
    local = Local(thread_critical=True)
    local.value = "outer"

    def inner() -> None:
        local.value = "inner"

    contextvars.copy_context().run(inner)
    assert local.value == "inner"  # same thread: same storage, whatever the context


@pytest.mark.asyncio
async def test_thread_critical_in_a_loop_is_per_task() -> None:
    local = Local(thread_critical=True)
    local.value = "parent"

    async def child() -> Any:
        seen = read(local)
        local.value = "child"
        local.extra = "child"
        return seen

    assert await asyncio.create_task(child()) == "parent"
    assert local.value == "parent"
    assert read(local, "extra") is MISSING


def test_thread_critical_sync_and_loop_storage_are_separate() -> None:
    local = Local(thread_critical=True)
    local.value = "sync"

    async def main() -> Any:
        seen = read(local)
        local.value = "loop"
        return seen

    loop = asyncio.new_event_loop()  # not asyncio.run: it would unset the policy's loop
    try:
        assert loop.run_until_complete(main()) is MISSING
    finally:
        loop.close()
    assert local.value == "sync"


@pytest.mark.asyncio
async def test_thread_critical_not_seen_by_thread_with_copied_context() -> None:
    local = Local(thread_critical=True)
    local.value = "loop"
    context = contextvars.copy_context()
    assert run_in_thread(context.run, read, local) is MISSING


@pytest.mark.asyncio
async def test_thread_critical_delete_in_loop() -> None:
    local = Local(thread_critical=True)
    local.value = 1
    del local.value
    assert read(local) is MISSING
    with pytest.raises(AttributeError, match="has no attribute 'value'"):
        del local.value
