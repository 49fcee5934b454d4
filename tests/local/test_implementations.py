"""The C accelerator of `Local`: active where it should be, built from this source, no
reference leaks, and the pure-Python twin passing this whole folder on its own."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import os
import platform
import re
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

import asgi_local
from asgi_local import Local

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "packages" / "asgi-local" / "src" / "asgi_local" / "_speedups.c"
PURE_ENV = "ASGI_LOCAL_PURE_PYTHON"
ACCELERATED_PLATFORM = platform.python_implementation() == "CPython" and not (
    sysconfig.get_config_var("Py_GIL_DISABLED")
)


def test_accelerator_is_active_unless_pure_python_is_asked_for() -> None:
    expected = ACCELERATED_PLATFORM and os.environ.get(PURE_ENV, "") in ("", "0")
    assert asgi_local.SPEEDUPS is expected
    core = "_speedups" if expected else "_pure"
    assert type(Local()).__mro__[2].__module__ == f"asgi_local.{core}"


@pytest.mark.skipif(not asgi_local.SPEEDUPS, reason="the accelerator is not in use")
def test_accelerator_was_built_from_the_current_source() -> None:
    from asgi_local import _speedups

    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    assert digest == _speedups.SOURCE_HASH, (
        "asgi_local._speedups was built from another version of _speedups.c: rebuild it "
        "with `python packages/asgi-local/build_speedups.py` in this environment"
    )


@pytest.mark.timeout(120)
def test_pure_python_implementation_passes_this_folder() -> None:
    """Run every other test of tests/local with the accelerator switched off."""
    if os.environ.get(PURE_ENV):
        pytest.fail("this test must not run inside its own pure-Python run")
    env = {**os.environ, PURE_ENV: "1"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "tests" / "local"),
        "-q",
        "-p",
        "no:cacheprovider",
        "--deselect",
        f"{Path(__file__).relative_to(ROOT)}::test_pure_python_implementation_passes_this_folder",
    ]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=110)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed is not None, run.stdout[-2000:]
    assert int(passed.group(1)) >= 50
    assert " failed" not in run.stdout
    assert " error" not in run.stdout


# --- reference counts: every path of the C code, many times, must leave them unchanged ----


def _assert_no_leak(action: Callable[[], Any], *watched: object, rounds: int = 2000) -> None:
    action()  # first call may cache (thread token, interned names)
    before = [sys.getrefcount(obj) for obj in watched]
    for _ in range(rounds):
        action()
    after = [sys.getrefcount(obj) for obj in watched]
    assert after == before


@pytest.mark.parametrize("thread_critical", [False, True])
def test_get_set_delete_leak_no_references(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    first, second = object(), object()
    name = "".join(["val", "ue"])  # not interned: a leak of the name would show

    def cycle() -> None:
        setattr(local, name, first)
        assert getattr(local, name) is first
        setattr(local, name, first)  # unchanged: the early return
        setattr(local, name, second)
        local.other = second
        delattr(local, name)
        assert getattr(local, name, None) is None
        del local.other

    _assert_no_leak(cycle, local, first, second, name)


@pytest.mark.parametrize("thread_critical", [False, True])
def test_misses_and_errors_leak_no_references(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    name = "".join(["mis", "sing"])

    def cycle() -> None:
        assert getattr(local, name, None) is None
        with pytest.raises(AttributeError):
            delattr(local, name)
        with pytest.raises(AttributeError):
            local._data = 1
        assert type(local).__name__ in repr(local)

    _assert_no_leak(cycle, local, name)


@pytest.mark.parametrize("thread_critical", [False, True])
def test_inside_a_loop_leaks_no_references(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    value = object()

    async def cycle() -> None:
        local.value = value
        assert local.value is value
        local.value = None
        del local.value

    loop = asyncio.new_event_loop()
    try:
        _assert_no_leak(lambda: loop.run_until_complete(cycle()), local, value, rounds=300)
    finally:
        loop.close()


def test_values_are_released_with_their_local_or_context() -> None:
    value = object()
    before = sys.getrefcount(value)
    critical = Local(thread_critical=True)
    critical.value = value
    del critical
    assert sys.getrefcount(value) == before

    def in_context() -> None:
        local = Local()
        local.value = value
        assert sys.getrefcount(value) == before + 1

    contextvars.copy_context().run(in_context)  # the snapshot dies with the context
    assert sys.getrefcount(value) == before


def test_thread_tokens_are_per_thread_and_stable() -> None:
    from asgi_local import _state

    mine = _state.current_token()
    assert _state.current_token() is mine
    seen: list[object] = []
    threads = [
        threading.Thread(daemon=True, target=lambda: seen.append(_state.current_token()))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len({id(token) for token in [mine, *seen]}) == 9


@pytest.mark.skipif(not asgi_local.SPEEDUPS, reason="the accelerator is not in use")
def test_configure_rejects_bad_arguments() -> None:
    from asgi_local import _speedups

    with pytest.raises(TypeError, match="expects two ContextVars first"):
        _speedups.configure(*([None] * 8))  # type: ignore[arg-type]
    from asgi_local import _state

    with pytest.raises(TypeError, match="argument 3 must be callable"):
        _speedups.configure(_state.state, _state.loop_state, *([None] * 6))  # type: ignore[arg-type]
    local = Local()
    local.value = 1  # the failed calls changed nothing
    assert local.value == 1


@pytest.mark.skipif(not asgi_local.SPEEDUPS, reason="the accelerator is not in use")
def test_a_subinterpreter_gets_the_pure_python_implementation(tmp_path: Path) -> None:
    """A legacy subinterpreter (as mod_wsgi runs) shares the C module's static state, so it
    must not rewire it: it falls back to pure Python, and this interpreter is unaffected."""
    import _testcapi  # CPython's test helpers: every interpreter of the matrix has them

    local = Local()
    local.value = "main"
    out = tmp_path / "sub.txt"
    code = (
        "import asgi_local\n"
        "l = asgi_local.Local(); l.value = 'sub'; assert l.value == 'sub'\n"
        f"open({str(out)!r}, 'w').write(str(asgi_local.SPEEDUPS))\n"
    )
    assert _testcapi.run_in_subinterp(code) == 0
    assert out.read_text() == "False"
    assert local.value == "main"
    local.value = "still main"
    assert local.value == "still main"
