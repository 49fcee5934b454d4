"""The README's main-job command, `python -m examples.demo`, run as a real process.

Each test starts the same entry point the README gives (on a free port), talks to it over
HTTP with httpx, and stops it the way a user does (SIGINT, i.e. Ctrl-C, or SIGTERM).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pathlib
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from typing import Iterator, List

import httpx
import pytest

from examples.demo.app import CHUNK

ROOT = pathlib.Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
URL_LINE = re.compile(r"running on (http://127\.0\.0\.1:\d+)")


class Demo:
    """One `python -m examples.demo` process, with its merged output collected by a thread."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "examples.demo", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: List[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_url(self) -> str:
        while True:
            try:
                line = self._queue.get(timeout=STARTUP_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"the demo printed no URL within {STARTUP_TIMEOUT}s:\n{self.output}")
            if line is None:
                pytest.fail(f"the demo exited before printing its URL:\n{self.output}")
            found = URL_LINE.search(line)
            if found:
                return found.group(1)

    def wait_until_serving(self) -> None:
        # uvicorn logs this line once the socket accepts requests.
        while not any("Started server process" in line for line in self.lines):
            try:
                line = self._queue.get(timeout=STARTUP_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"uvicorn did not start within {STARTUP_TIMEOUT}s:\n{self.output}")
            if line is None:
                pytest.fail(f"the demo exited during startup:\n{self.output}")

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        finally:
            self.close()
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
        self._reader.join(timeout=STOP_TIMEOUT)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    demo = Demo("--port", "0")
    try:
        url = demo.wait_for_url()
        demo.wait_until_serving()
        yield url
    finally:
        demo.close()


@pytest.fixture
def client(demo_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo_url, timeout=20.0) as client:
        yield client


def _upload_body(chunks: int) -> Iterator[bytes]:
    for index in range(chunks):
        yield bytes([index % 256]) * len(CHUNK)


@pytest.mark.timeout(45)
def test_prints_url_and_curl_lines() -> None:
    demo = Demo("--port", "0")
    try:
        url = demo.wait_for_url()
        demo.wait_until_serving()
    finally:
        demo.close()
    curl_lines = [line for line in demo.lines if line.strip().startswith(("curl ", "head "))]
    assert len(curl_lines) >= 6
    assert all(url in line for line in curl_lines)


@pytest.mark.timeout(30)
def test_index_lists_every_package(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert set(response.json()["packages"]) == {
        "asgi_wsgi.WsgiToAsgi",
        "asgi_sync.sync_to_async",
        "asgi_sync.async_to_sync",
        "asgi_local.Local",
    }


@pytest.mark.timeout(30)
def test_sync_to_async_runs_blocking_code_off_the_loop(client: httpx.Client) -> None:
    body = client.get("/sync-to-async", params={"ms": "20"}).json()
    assert body["sync_to_async"]["slept_ms"] == 20
    assert body["sync_to_async"]["ran_on_thread"] != body["view_on_thread"]
    assert isinstance(body["sync_to_async"]["request_id_seen"], int)


@pytest.mark.timeout(30)
def test_async_to_sync_runs_back_on_the_loop_thread(client: httpx.Client) -> None:
    body = client.get("/async-to-sync").json()
    sync_level = body["sync_to_async"]
    assert sync_level["ran_on_thread"] != body["view_on_thread"]
    assert sync_level["async_to_sync"]["ran_on_thread"] == body["view_on_thread"]
    assert sync_level["async_to_sync"]["request_id_seen"] == sync_level["request_id_seen"]
    # A Local value set in the sync function is visible to the async caller afterwards.
    assert body["note_after_return"] == "set in sync code, read back on the loop"


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_local_keeps_concurrent_requests_apart(demo_url: str) -> None:
    async with httpx.AsyncClient(base_url=demo_url, timeout=20.0) as client:
        responses = await asyncio.gather(
            *(client.get("/local", params={"ms": "150"}) for _ in range(4))
        )
    bodies = [response.json() for response in responses]
    ids = [body["request_id"] for body in bodies]
    assert len(set(ids)) == 4
    for body in bodies:
        seen = {
            body["seen_on_loop_after_sleep"],
            body["seen_in_worker_thread"],
            body["seen_in_sync_then_async"],
        }
        assert seen == {body["request_id"]}


@pytest.mark.timeout(30)
def test_wsgi_download_streams_the_whole_body(client: httpx.Client) -> None:
    digest = hashlib.sha256()
    size = 0
    with client.stream("GET", "/wsgi/download", params={"mb": "16"}) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(16 * 1024 * 1024)
        for data in response.iter_bytes():
            digest.update(data)
            size += len(data)
    assert size == 16 * 1024 * 1024
    assert digest.hexdigest() == hashlib.sha256(CHUNK * 256).hexdigest()


@pytest.mark.timeout(30)
def test_wsgi_upload_is_read_in_full(client: httpx.Client) -> None:
    chunks = 128  # 8 MiB, sent chunked: the WSGI app reads it from wsgi.input as it arrives
    expected = hashlib.sha256(b"".join(_upload_body(chunks))).hexdigest()
    response = client.put("/wsgi/upload", content=_upload_body(chunks))
    assert response.status_code == 200
    body = response.json()
    assert body["received_bytes"] == chunks * len(CHUNK)
    assert body["sha256"] == expected
    assert body["script_name"] == "/wsgi"
    assert body["path_info"] == "/upload"


@pytest.mark.timeout(30)
def test_bad_input_is_a_400_naming_the_value(client: httpx.Client) -> None:
    response = client.get("/wsgi/download", params={"mb": "lots"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "query parameter mb='lots' is not an integer; use e.g. mb=64"
    }


@pytest.mark.timeout(30)
def test_unknown_path_is_a_404(client: httpx.Client) -> None:
    assert client.get("/nope").status_code == 404
    assert client.get("/wsgi/nope").status_code == 404


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stops_cleanly_after_traffic(signum: signal.Signals) -> None:
    demo = Demo("--port", "0")
    try:
        url = demo.wait_for_url()
        demo.wait_until_serving()
        with httpx.Client(base_url=url, timeout=20.0) as client:
            for path in ("/", "/sync-to-async?ms=1", "/async-to-sync", "/local?ms=1", "/wsgi/"):
                assert client.get(path).status_code == 200, path
            assert client.put("/wsgi/upload", content=_upload_body(4)).status_code == 200
            with client.stream("GET", "/wsgi/download", params={"mb": "1"}) as response:
                assert sum(len(data) for data in response.iter_bytes()) == 1024 * 1024
        code = demo.stop(signum)
    finally:
        demo.close()
    assert "Traceback" not in demo.output
    assert code == 0, demo.output
    assert demo.lines[-1].strip() == "asgi-* demo stopped."


@pytest.mark.timeout(30)
def test_busy_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        demo = Demo("--port", str(port))
        try:
            code = demo.process.wait(timeout=STARTUP_TIMEOUT)
        finally:
            demo.close()
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in demo.output
    assert "Traceback" not in demo.output


@pytest.mark.timeout(60)
def test_ctrl_c_during_a_download_exits_promptly() -> None:
    demo = Demo("--port", "0")
    try:
        url = demo.wait_for_url()
        demo.wait_until_serving()
        with httpx.Client(base_url=url, timeout=20.0) as client:
            request = client.build_request("GET", "/wsgi/download", params={"mb": "4096"})
            response = client.send(request, stream=True)
            try:
                # Read a little, then stall: the WSGI worker is now blocked by backpressure.
                assert next(response.iter_bytes())
                code = demo.stop(signal.SIGINT)
            finally:
                response.close()
    finally:
        demo.close()
    assert "Traceback" not in demo.output
    assert code == 0, demo.output
    assert demo.lines[-1].strip() == "asgi-* demo stopped."
