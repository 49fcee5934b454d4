"""Daphne's CLI, and an APM-style monkeypatch of SyncToAsync, against asgiref-meta."""

from __future__ import annotations

import asyncio
import functools
import os
import pathlib
import socket
import subprocess
import sys
import threading
from typing import Any
from unittest import mock

import httpx
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PYTHONPATH = os.environ.get("PYTHONPATH")


def test_daphne_cli_uses_our_guarantee_single_callable() -> None:
    import daphne.cli

    from asgi_sync.compatibility import guarantee_single_callable

    assert daphne.cli.guarantee_single_callable is guarantee_single_callable


@pytest.mark.timeout(30)
def test_daphne_cli_serves_an_asgi2_application() -> None:
    """`daphne module:app` wraps the app with guarantee_single_callable and serves it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "--fd",
            str(listener.fileno()),
            "-v",
            "0",
            "tests.meta.daphne_app:Application",
        ],
        pass_fds=[listener.fileno()],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), PYTHONPATH]))},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    listener.close()
    try:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/some/path", timeout=20)
        except httpx.HTTPError as exc:
            server.kill()
            output = server.communicate()[0].decode(errors="replace")
            pytest.fail(f"daphne did not answer ({exc!r}); its output:\n{output}")
        assert (response.status_code, response.text) == (200, "daphne says /some/path")
    finally:
        server.terminate()
        try:
            server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


@pytest.mark.asyncio
@pytest.mark.timeout(10)
async def test_apm_style_patch_injects_and_pops_a_keyword() -> None:
    """An agent wraps __call__ to add a keyword and thread_handler to take it back out.

    Not a promise of asgi_sync's internals: it pins the shape agents written for asgiref 3.x
    rely on (thread_handler gets the user's call as a functools.partial, last). If it breaks,
    update the agents' documentation, or restore that shape.
    """
    from asgiref.sync import SyncToAsync, sync_to_async

    original_call = SyncToAsync.__call__
    original_handler = SyncToAsync.thread_handler
    seen: dict[str, Any] = {}

    async def patched_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["_apm_span"] = "span-1"
        return await original_call(self, *args, **kwargs)

    def patched_handler(self: Any, loop: Any, *args: Any, **kwargs: Any) -> Any:
        call = args[-1]
        assert isinstance(call, functools.partial)
        seen["span"] = call.keywords.pop("_apm_span")
        seen["thread"] = threading.get_ident()
        return original_handler(self, loop, *args, **kwargs)

    def user_function(a: int, *, b: int) -> tuple[int, int, list[str]]:
        return a, b, []

    with (
        mock.patch("asgiref.sync.SyncToAsync.__call__", patched_call),
        mock.patch("asgiref.sync.SyncToAsync.thread_handler", patched_handler),
    ):
        import asgi_sync

        assert asgi_sync.SyncToAsync.__call__ is patched_call
        result = await sync_to_async(user_function)(1, b=2)
        thread_sensitive_too = await asyncio.wait_for(
            sync_to_async(user_function, thread_sensitive=False)(3, b=4), 5
        )
    assert result == (1, 2, [])
    assert thread_sensitive_too == (3, 4, [])
    assert seen["span"] == "span-1"
    assert seen["thread"] != threading.get_ident()
    assert SyncToAsync.__call__ is original_call
