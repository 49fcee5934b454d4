"""Micro-benchmarks: sync_to_async, async_to_sync and Local, asgiref vs ours vs the floor."""

from __future__ import annotations

__all__ = ("local_groups", "sync_groups")

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter, sleep
from types import ModuleType
from typing import Any, Callable, Dict, List

from benchmarks._harness import Group, Measure, Settings, need, run_group

Factory = Callable[[], Measure]


def _noop() -> None:
    return None


async def _anoop() -> None:
    return None


def _in_loop(main: Callable[[int], Any]) -> Measure:
    """A measure that runs `main(n)` (a coroutine function timing itself) on a fresh loop."""

    def measure(n: int) -> float:
        return float(asyncio.run(main(n)))

    return measure


# --- floors -------------------------------------------------------------------------


def _floor_executor(one_thread: bool, wrap_context: bool = False, nvars: int = 0) -> Factory:
    def factory() -> Measure:
        async def main(n: int) -> float:
            loop = asyncio.get_running_loop()
            _set_vars(nvars)
            executor = ThreadPoolExecutor(1) if one_thread else None
            try:
                await loop.run_in_executor(executor, _noop)
                t0 = perf_counter()
                if wrap_context:
                    for _ in range(n):
                        ctx = contextvars.copy_context()
                        await loop.run_in_executor(executor, ctx.run, _noop)
                else:
                    for _ in range(n):
                        await loop.run_in_executor(executor, _noop)
                return perf_counter() - t0
            finally:
                if executor is not None:
                    executor.shutdown()

        return _in_loop(main)

    return factory


_VARS = [contextvars.ContextVar(f"bench_var_{i}") for i in range(20)]


def _set_vars(count: int) -> None:
    for var in _VARS[:count]:
        var.set(1)


def _floor_gather_one_thread() -> Measure:
    async def main(n: int) -> float:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1) as executor:
            t0 = perf_counter()
            for _ in range(n):
                await asyncio.gather(*[loop.run_in_executor(executor, _noop) for _ in range(1000)])
            return perf_counter() - t0

    return _in_loop(main)


# --- the sides ----------------------------------------------------------------------


def _s2a_calls(mod: ModuleType, ts: bool, prebuilt: bool, nvars: int = 0) -> Factory:
    def factory() -> Measure:
        s2a = need(mod, "sync_to_async")

        async def main(n: int) -> float:
            _set_vars(nvars)
            func = s2a(_noop, thread_sensitive=ts)
            await func()
            t0 = perf_counter()
            if prebuilt:
                for _ in range(n):
                    await func()
            else:
                for _ in range(n):
                    await s2a(_noop, thread_sensitive=ts)()
            return perf_counter() - t0

        return _in_loop(main)

    return factory


def _s2a_context(mod: ModuleType) -> Factory:
    def factory() -> Measure:
        s2a, tsc = need(mod, "sync_to_async"), need(mod, "ThreadSensitiveContext")

        async def main(n: int) -> float:
            func = s2a(_noop)
            await func()
            t0 = perf_counter()
            for _ in range(n):
                async with tsc():
                    await func()
            return perf_counter() - t0

        return _in_loop(main)

    return factory


def _s2a_concurrent(mod: ModuleType) -> Factory:
    def factory() -> Measure:
        s2a = need(mod, "sync_to_async")

        async def main(n: int) -> float:
            func = s2a(_noop)
            await func()
            t0 = perf_counter()
            for _ in range(n):
                await asyncio.gather(*[func() for _ in range(1000)])
            return perf_counter() - t0

        return _in_loop(main)

    return factory


def _a2s_from_sync(mod: ModuleType) -> Factory:
    def factory() -> Measure:
        func = need(mod, "async_to_sync")(_anoop)

        def measure(n: int) -> float:
            t0 = perf_counter()
            for _ in range(n):
                func()
            return perf_counter() - t0

        return measure

    return factory


def _floor_asyncio_run() -> Measure:
    def measure(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            asyncio.run(_anoop())
        return perf_counter() - t0

    return measure


def _without_prepared_loop(factory: Factory) -> Factory:
    """Ours with the next fresh loop made at each call instead of ahead of it."""

    def wrapped() -> Measure:
        from asgi_sync import _threads

        measure = factory()

        def unprepared(n: int) -> float:
            # A loop made ahead before this sample still serves its first call: one of n.
            _threads._prepare_next_loop = False
            try:
                return measure(n)
            finally:
                _threads._prepare_next_loop = True

        return unprepared

    return wrapped


# Calls made between stretches of other work (here a 1 ms sleep, which releases the GIL
# as I/O would): only the calls are timed. This is when a loop made ahead of time helps;
# in a tight loop the thread that makes it competes for the GIL with the caller.
_PAUSE = 0.001
_SPACED_N = 200


def _spaced(call: Callable[[], Any]) -> Measure:
    def measure(n: int) -> float:
        total = 0.0
        for _ in range(n):
            sleep(_PAUSE)
            t0 = perf_counter()
            call()
            total += perf_counter() - t0
        return total

    return measure


def _a2s_spaced(mod: ModuleType) -> Factory:
    def factory() -> Measure:
        return _spaced(need(mod, "async_to_sync")(_anoop))

    return factory


def _floor_asyncio_run_spaced() -> Measure:
    return _spaced(lambda: asyncio.run(_anoop()))


def _a2s_nested(mod: ModuleType) -> Factory:
    def factory() -> Measure:
        s2a, a2s = need(mod, "sync_to_async"), need(mod, "async_to_sync")
        inner = a2s(_anoop)

        def body(n: int) -> float:
            inner()
            t0 = perf_counter()
            for _ in range(n):
                inner()
            return perf_counter() - t0

        async def main(n: int) -> float:
            return float(await s2a(body)(n))

        return _in_loop(main)

    return factory


def _floor_nested() -> Measure:
    async def main(n: int) -> float:
        loop = asyncio.get_running_loop()

        def body() -> float:
            t0 = perf_counter()
            for _ in range(n):
                asyncio.run_coroutine_threadsafe(_anoop(), loop).result()
            return perf_counter() - t0

        with ThreadPoolExecutor(1) as executor:
            return await loop.run_in_executor(executor, body)

    return _in_loop(main)


def _a2s_round_trip(mod: ModuleType) -> Factory:
    def factory() -> Measure:
        s2a, a2s = need(mod, "sync_to_async"), need(mod, "async_to_sync")
        inner = s2a(_noop)

        async def outer() -> None:
            await inner()

        func = a2s(outer)

        def measure(n: int) -> float:
            t0 = perf_counter()
            for _ in range(n):
                func()
            return perf_counter() - t0

        return measure

    return factory


def _floor_round_trip() -> Measure:
    executor = ThreadPoolExecutor(1)

    async def outer() -> None:
        await asyncio.get_running_loop().run_in_executor(executor, _noop)

    def measure(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            asyncio.run(outer())
        return perf_counter() - t0

    return measure


# --- peers --------------------------------------------------------------------------


def _peer_asyncio_to_thread() -> Measure:
    async def main(n: int) -> float:
        await asyncio.to_thread(_noop)
        t0 = perf_counter()
        for _ in range(n):
            await asyncio.to_thread(_noop)
        return perf_counter() - t0

    return _in_loop(main)


def _peer_anyio_to_thread() -> Measure:
    import anyio.to_thread

    async def main(n: int) -> float:
        await anyio.to_thread.run_sync(_noop)
        t0 = perf_counter()
        for _ in range(n):
            await anyio.to_thread.run_sync(_noop)
        return perf_counter() - t0

    return _in_loop(main)


def _peer_anyio_from_thread() -> Measure:
    import anyio.from_thread
    import anyio.to_thread

    def body(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            anyio.from_thread.run(_anoop)
        return perf_counter() - t0

    async def main(n: int) -> float:
        return float(await anyio.to_thread.run_sync(body, n))

    return _in_loop(main)


def _peer_anyio_run() -> Measure:
    import anyio

    def measure(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            anyio.run(_anoop)
        return perf_counter() - t0

    return measure


def sync_groups(sides: Dict[str, ModuleType], settings: Settings) -> List[Group]:
    """sync_to_async / async_to_sync benchmarks; `sides` maps "asgiref"/"ours" to a module."""
    S = "sync"
    one, default = "run_in_executor (one-thread executor)", "run_in_executor (default executor)"
    plan: List[tuple[Group, List[tuple[str, str, Factory]], int, int | None]] = []

    def add(
        group: Group,
        side: Callable[[ModuleType], Factory],
        floor: Factory,
        peers: List[tuple[str, Factory]] = (),
        ops: int = 1,
        fixed_n: int | None = None,
        others: List[tuple[str, Factory]] = (),
    ) -> None:  # type: ignore[assignment]
        impls = [(group.floor_label, "floor", floor)]
        impls += [(name, name, side(mod)) for name, mod in sides.items()]
        impls += [(label, "peer", f) for label, f in peers]
        impls += [(label, "other", f) for label, f in others]
        plan.append((group, impls, ops, fixed_n))

    add(
        Group("s2a_ts", S, "sync_to_async, thread-sensitive, pre-built", one),
        lambda m: _s2a_calls(m, True, True),
        _floor_executor(True),
    )
    add(
        Group("s2a_nts", S, "sync_to_async, not thread-sensitive, pre-built", default),
        lambda m: _s2a_calls(m, False, True),
        _floor_executor(False),
        [
            ("asyncio.to_thread", _peer_asyncio_to_thread),
            ("anyio to_thread.run_sync", _peer_anyio_to_thread),
        ],
    )
    add(
        Group("s2a_ts_percall", S, "sync_to_async, thread-sensitive, built per call", one),
        lambda m: _s2a_calls(m, True, False),
        _floor_executor(True),
    )
    add(
        Group("s2a_nts_percall", S, "sync_to_async, not thread-sensitive, built per call", default),
        lambda m: _s2a_calls(m, False, False),
        _floor_executor(False),
    )
    add(
        Group("s2a_tsc", S, "per request: ThreadSensitiveContext + one thread-sensitive call", one),
        _s2a_context,
        _floor_executor(True),
        [("ours, one plain thread-sensitive call", _s2a_calls(sides["ours"], True, True))],
    )
    add(
        Group(
            "s2a_vars",
            S,
            "sync_to_async, thread-sensitive, 20 contextvars set",
            "run_in_executor (one thread) + copy_context().run",
        ),
        lambda m: _s2a_calls(m, True, True, nvars=20),
        _floor_executor(True, True, 20),
    )
    add(
        Group(
            "s2a_concurrent",
            S,
            "1000 concurrent thread-sensitive calls (per call)",
            "gather of run_in_executor (one thread)",
        ),
        _s2a_concurrent,
        _floor_gather_one_thread,
        ops=1000,
    )
    add(
        Group("a2s_sync", S, "async_to_sync from plain sync code", "asyncio.run"),
        _a2s_from_sync,
        _floor_asyncio_run,
        [("anyio.run", _peer_anyio_run)],
        others=[
            ("ours, no loop made ahead", _without_prepared_loop(_a2s_from_sync(sides["ours"])))
        ],
    )
    add(
        Group(
            "a2s_sync_spaced",
            S,
            "async_to_sync from plain sync code, calls 1 ms apart (calls timed)",
            "asyncio.run, 1 ms apart",
        ),
        _a2s_spaced,
        _floor_asyncio_run_spaced,
        others=[("ours, no loop made ahead", _without_prepared_loop(_a2s_spaced(sides["ours"])))],
        fixed_n=(_SPACED_N // 4) if settings.quick else _SPACED_N,
    )
    add(
        Group(
            "a2s_nested",
            S,
            "async_to_sync nested in a sync_to_async thread",
            "run_coroutine_threadsafe(...).result()",
        ),
        _a2s_nested,
        _floor_nested,
        [("anyio from_thread.run", _peer_anyio_from_thread)],
    )
    add(
        Group(
            "round_trip",
            S,
            "round trip: async_to_sync(sync_to_async(f)) from sync code",
            "asyncio.run + run_in_executor",
        ),
        _a2s_round_trip,
        _floor_round_trip,
    )
    return [
        run_group(g, impls, settings, ops_per_n=ops, fixed_n=fixed_n)
        for g, impls, ops, fixed_n in plan
    ]


# --- Local --------------------------------------------------------------------------

_UNROLL = 10


def _compiled(stmt: str, is_async: bool) -> Callable[..., Any]:
    body = "\n".join("        " + stmt for _ in range(_UNROLL))
    prefix = "async " if is_async else ""
    source = (
        f"{prefix}def run(n, o):\n    t0 = perf_counter()\n    for _ in range(n):\n"
        f"{body}\n    return perf_counter() - t0\n"
    )
    namespace: Dict[str, Any] = {"perf_counter": perf_counter}
    exec(compile(source, f"<bench {stmt}>", "exec"), namespace)
    return namespace["run"]  # type: ignore[no-any-return]


def _stmt_measure(stmt: str, make: Callable[[], Any], is_async: bool) -> Factory:
    def factory() -> Measure:
        run = _compiled(stmt, is_async)
        if not is_async:
            obj = make()
            return lambda n: float(run(n, obj))

        async def main(n: int) -> float:
            return float(await run(n, make()))

        return _in_loop(main)

    return factory


def _local_maker(mod: ModuleType, critical: bool, preset: bool) -> Callable[[], Any]:
    cls = need(mod, "Local")

    def make() -> Any:
        obj = cls(thread_critical=True) if critical else cls()
        if preset:
            obj.x = 1
        return obj

    return make


def _cv_maker(preset: bool) -> Callable[[], Any]:
    def make() -> Any:
        var: contextvars.ContextVar[int] = contextvars.ContextVar("bench")
        if preset:
            var.set(1)
        return var

    return make


def _tl_maker(preset: bool) -> Callable[[], Any]:
    def make() -> Any:
        obj = threading.local()
        if preset:
            obj.x = 1
        return obj

    return make


def local_groups(sides: Dict[str, ModuleType], settings: Settings) -> List[Group]:
    """Local attribute access; `sides` maps "asgiref"/"ours" to a module with `Local`."""
    groups = []
    ops = {
        "get": ("o.x", "o.get()", True),
        "set_get": ("o.x = 1; o.x", "o.set(1); o.get()", False),
        # two set+get pairs with different values: no write can be skipped as unchanged
        "set_new_get": (
            "o.x = 1; o.x; o.x = 2; o.x",
            "o.set(1); o.get(); o.set(2); o.get()",
            False,
        ),
        "miss": ("getattr(o, 'y', None)", "o.get(None)", False),
    }
    titles = {
        "get": "get",
        "set_get": "set + get",
        "set_new_get": "set + get, a new value each time",
        "miss": "miss (getattr default)",
    }
    pure = _pure_local_module()
    for is_async in (False, True):
        where = "async" if is_async else "sync"
        for op, (stmt, cv_stmt, preset) in ops.items():
            tl_stmt = "o.x" if op == "get" else stmt
            group = Group(
                f"local_{op}_{where}", "local", f"Local {titles[op]}, {where} code", "ContextVar"
            )
            if op == "miss":
                tl_stmt = "getattr(o, 'y', None)"
            impls: List[tuple[str, str, Factory]] = [
                ("ContextVar", "floor", _stmt_measure(cv_stmt, _cv_maker(preset), is_async)),
            ]
            impls += [
                (name, name, _lazy_local(stmt, mod, False, preset, is_async))
                for name, mod in sides.items()
            ]
            impls.append(
                ("threading.local", "other", _stmt_measure(tl_stmt, _tl_maker(preset), is_async))
            )
            impls.append(
                (_PURE, "other", _own_context(_lazy_local(stmt, pure, False, preset, is_async)))
            )
            groups.append(run_group(group, impls, settings, ops_per_n=_UNROLL))
    for op in ("get", "set_get", "set_new_get"):
        stmt, _, preset = ops[op]
        group = Group(
            f"local_tc_{op}",
            "local",
            f"Local(thread_critical=True) {titles[op]}",
            "threading.local",
        )
        impls = [("threading.local", "floor", _stmt_measure(stmt, _tl_maker(preset), False))]
        impls += [
            (name, name, _lazy_local(stmt, mod, True, preset, False)) for name, mod in sides.items()
        ]
        impls.append((_PURE, "other", _own_context(_lazy_local(stmt, pure, True, preset, False))))
        groups.append(run_group(group, impls, settings, ops_per_n=_UNROLL))
    return groups


_PURE = "ours, pure Python"


def _pure_local_module() -> ModuleType:
    """asgi_local's pure-Python twin of the C accelerator, measurable in the same run."""
    from asgi_local import _pure

    default = type("_DefaultLocal", (_pure.DefaultCore,), {"__slots__": ()})
    critical = type("_ThreadCriticalLocal", (_pure.CriticalCore,), {"__slots__": ()})
    module = ModuleType("asgi_local_pure_python")

    def make(thread_critical: bool = False) -> Any:
        return critical() if thread_critical else default()

    module.Local = make  # type: ignore[attr-defined]
    return module


def _own_context(factory: Factory) -> Factory:
    """Measure in a context of its own: the pure twin shares the accelerator's ContextVar
    but keeps its own thread tokens, so the two must never write into one context."""

    def wrapped() -> Measure:
        context = contextvars.Context()
        measure = context.run(factory)
        return lambda n: context.run(measure, n)

    return wrapped


def _lazy_local(
    stmt: str, mod: ModuleType, critical: bool, preset: bool, is_async: bool
) -> Factory:
    def factory() -> Measure:
        return _stmt_measure(stmt, _local_maker(mod, critical, preset), is_async)()

    return factory
