"""tests.meta.djangoapp served by uvicorn in a subprocess, on a socket bound here first."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import sys
from collections.abc import Iterator

REPO = pathlib.Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def serve_djangoapp(
    database: pathlib.Path, **extra_env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start the server; yield its URL and process; stop it, printing its output if it failed.

    The socket is listening before the server starts, so a first request waits for Django
    to be ready instead of being refused.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    env = {
        **os.environ,
        **extra_env,
        "ASGIREF_META_TEST_DB": str(database),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.meta.djangoapp.serve", str(listener.fileno())],
        pass_fds=[listener.fileno()],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    listener.close()  # the server holds its own copy
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.terminate()
        try:
            output, _ = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
        if server.returncode not in (0, -15):
            print(output.decode(errors="replace"))
