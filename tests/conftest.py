"""Suite-wide fixtures."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest


def pytest_report_header() -> list[str]:
    """Say whether plain threads inherit the caller's context (Python 3.14+) in this run."""
    inherit = getattr(sys.flags, "thread_inherit_context", None)
    if inherit is None:
        return []
    return [f"sys.flags.thread_inherit_context: {inherit}"]


if sys.version_info < (3, 10):

    @pytest.fixture(autouse=True)
    def _close_leftover_main_thread_loop() -> Iterator[None]:
        """Close the main thread's implicit event loop that Python 3.9 leaves behind.

        On 3.9, pytest-asyncio's per-test loops and `asyncio.get_event_loop()` leave an
        unclosed loop installed in the event-loop policy; when a later test replaces it, the
        garbage collector reports it as a ResourceWarning in whichever test happens to be
        running, which `filterwarnings = error` turns into a random failure. None of the
        packages installs a policy loop (they use `get_running_loop`/`new_event_loop`), so
        closing the leftover here hides nothing of theirs.
        """
        yield
        policy = asyncio.get_event_loop_policy()
        loop = getattr(getattr(policy, "_local", None), "_loop", None)
        if (
            isinstance(loop, asyncio.AbstractEventLoop)
            and not loop.is_running()
            and not loop.is_closed()
        ):
            loop.close()


def _coverage_measuring() -> Any:
    """The running coverage measurement (``./scripts/test-all``, ``hatch test --cover``)."""
    coverage = sys.modules.get("coverage")
    return None if coverage is None else coverage.Coverage.current()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under coverage, run the tests marked ``unmeasured`` last (the fixture below)."""
    if _coverage_measuring() is not None:
        items.sort(key=lambda item: item.get_closest_marker("unmeasured") is not None)


@pytest.fixture(autouse=True)
def _stop_coverage_when_unmeasured(request: pytest.FixtureRequest) -> None:
    """Stop coverage measurement for good at the first test marked ``unmeasured``.

    The load tests make a hundred thousand bridged calls: under a branch tracer, on a
    machine whose cores several test legs share, they run into their timeouts, and what they
    execute is measured by the other tests anyway. They run last under coverage, so stopping
    (rather than pausing, which would leave the worker threads they start untraced for the
    tests after them) loses nothing.
    """
    current = _coverage_measuring()
    if current is not None and request.node.get_closest_marker("unmeasured") is not None:
        current.stop()
        if sys.version_info >= (3, 12):
            # Threads that started while measuring (pooled workers, loop threads) keep
            # coverage's trace function after stop(); this takes it from all of them.
            threading.settrace_all_threads(None)
