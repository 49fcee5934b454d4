"""Suite-wide fixtures."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

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
