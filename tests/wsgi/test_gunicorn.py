"""AsgiToWsgi under a real gunicorn (sync and gthread workers), on 127.0.0.1.

Each test starts ``python -m gunicorn`` serving ``tests.wsgi.gunicorn_app:application`` on
port 0, reads the real port from its log, and stops it by pid when the test ends.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import gunicorn
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.wsgi.gunicorn_app:application"
WORKER_CLASSES = ("sync", "gthread")
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
_BOOTED = re.compile(r"Booting worker with pid: (\d+)")
_ERROR_BODY = b"Internal Server Error"


@dataclass
class Gunicorn:
    process: subprocess.Popen[bytes]
    worker_class: str
    port: int
    worker_pid: int
    log_path: Path
    events_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[str]:
        if not self.events_path.exists():
            return []
        return self.events_path.read_text(encoding="utf-8").splitlines()

    def stop(self) -> None:
        """SIGTERM the master (a graceful stop), then SIGKILL whatever is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
            for pid in {int(found) for found in _BOOTED.findall(self.log())}:
                if _is_gunicorn(pid):  # an orphaned worker of this master
                    os.kill(pid, signal.SIGKILL)


def _is_gunicorn(pid: int) -> bool:
    try:
        return b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _command(worker_class: str) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "1"]
    command += ["--worker-class", worker_class, "--graceful-timeout", "10", "--timeout", "30"]
    command += ["--pythonpath", str(ROOT), "--log-level", "info", "--error-logfile", "-"]
    if worker_class == "gthread":
        command += ["--threads", "4"]
    if gunicorn.version_info >= (25, 1):
        command.append("--no-control-socket")  # else a socket under $XDG_RUNTIME_DIR or ~
    command.append(APP)
    return command


def _start(worker_class: str, directory: Path) -> Gunicorn:
    log_path = directory / "gunicorn.log"
    events_path = directory / "lifespan-events.txt"
    env = {key: value for key, value in os.environ.items() if key != "GUNICORN_CMD_ARGS"}
    env["ASGI_GUNICORN_EVENTS"] = str(events_path)
    env["PYTHONUNBUFFERED"] = "1"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _command(worker_class),
            cwd=directory,  # no gunicorn.conf.py here
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    text = ""
    while time.monotonic() < deadline:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        port, booted = _LISTENING.search(text), _BOOTED.search(text)
        if port and booted:
            return Gunicorn(
                process, worker_class, int(port[1]), int(booted[1]), log_path, events_path
            )
        try:  # a bounded poll for the log lines, which also notices an early exit
            code = process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"gunicorn exited with {code} before listening:\n{text}")
    process.kill()
    process.wait(timeout=5)
    raise AssertionError(f"gunicorn did not listen within 20 s:\n{text}")


@pytest.fixture(params=WORKER_CLASSES)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gunicorn]:
    started = _start(request.param, tmp_path)
    try:
        yield started
    finally:  # runs when the test fails too
        started.stop()


@pytest.fixture
def gthread_server(tmp_path: Path) -> Iterator[Gunicorn]:
    started = _start("gthread", tmp_path)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def client(server: Gunicorn) -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with httpx.Client(base_url=server.url, timeout=20, limits=limits) as session:
        yield session


def _worker_info(client: httpx.Client) -> dict[str, str]:
    response = client.get("/worker")
    assert response.status_code == 200
    return dict(item.split("=", 1) for item in response.text.split())


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.timeout(60)
def test_plain_get(client: httpx.Client) -> None:
    response = client.get("/hello")
    assert response.status_code == 200
    assert response.content == b"Hello from ASGI under gunicorn"
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["content-length"] == "30"


@pytest.mark.timeout(60)
def test_unknown_path_keeps_the_app_status(client: httpx.Client) -> None:
    response = client.get("/nowhere")
    assert (response.status_code, response.content) == (404, b"not found")


@pytest.mark.timeout(60)
def test_small_post_is_echoed(client: httpx.Client) -> None:
    response = client.post("/echo", content=b"ping \x00\xff pong")
    assert response.status_code == 200
    assert response.content == b"ping \x00\xff pong"
    assert response.headers["x-received-bytes"] == "12"


@pytest.mark.timeout(60)
def test_empty_post_is_one_request_message(client: httpx.Client) -> None:
    response = client.post("/echo", content=b"")
    assert response.content == b""
    assert response.headers["x-received-bytes"] == "0"
    assert response.headers["x-received-messages"] == "1"


@pytest.mark.timeout(60)
def test_large_body_with_content_length_is_echoed(client: httpx.Client) -> None:
    payload = os.urandom(5 * 1024 * 1024 + 7)
    response = client.post("/echo", content=payload)
    assert response.request.headers["content-length"] == str(len(payload))
    assert response.status_code == 200
    assert response.headers["x-received-bytes"] == str(len(payload))
    assert int(response.headers["x-received-messages"]) > 1  # streamed to the app in pieces
    assert (len(response.content), _sha(response.content)) == (len(payload), _sha(payload))


@pytest.mark.timeout(60)
def test_large_chunked_body_is_echoed(client: httpx.Client) -> None:
    payload = os.urandom(4 * 1024 * 1024 + 3)
    piece = 100_000

    def pieces() -> Iterator[bytes]:
        for offset in range(0, len(payload), piece):
            yield payload[offset : offset + piece]

    response = client.post("/echo", content=pieces())
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 200
    assert response.headers["x-received-bytes"] == str(len(payload))
    assert int(response.headers["x-received-messages"]) > 1
    assert (len(response.content), _sha(response.content)) == (len(payload), _sha(payload))


@pytest.mark.timeout(60)
def test_streamed_response_of_many_chunks(server: Gunicorn) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        connection.request("GET", "/stream?n=3000")
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200
        assert response.getheader("transfer-encoding") == "chunked"
        assert response.getheader("content-length") is None
    finally:
        connection.close()
    assert body == b"".join(b"%05d\n" % index for index in range(3000))


@pytest.mark.timeout(60)
def test_repeated_response_headers_are_kept(client: httpx.Client) -> None:
    response = client.get("/headers")
    assert response.status_code == 200
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.headers.get_list("x-multi") == ["one", "two", "three"]
    assert sorted(response.cookies.items()) == [("a", "1"), ("b", "2")]


@pytest.mark.timeout(60)
def test_exception_before_start_is_500_and_worker_keeps_serving(
    server: Gunicorn, client: httpx.Client
) -> None:
    assert _worker_info(client)["pid"] == str(server.worker_pid)
    for _ in range(3):
        response = client.get("/raise")
        assert response.status_code == 500
        assert response.content == _ERROR_BODY
        assert response.headers["content-length"] == str(len(_ERROR_BODY))
        assert client.get("/hello").content == b"Hello from ASGI under gunicorn"
    assert _worker_info(client)["pid"] == str(server.worker_pid)  # the same worker, no restart
    log = server.log()
    assert log.count("RuntimeError: boom before the response started") == 3
    assert "Worker exiting" not in log


@pytest.mark.timeout(60)
def test_exception_after_start_cuts_the_response_short(server: Gunicorn) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        connection.request("GET", "/raise-after-start")
        response = connection.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()  # no terminating chunk: the client can tell the body is incomplete
        assert cut.value.partial == b"partial"
    finally:
        connection.close()
    with httpx.Client(base_url=server.url, timeout=20) as client:
        assert _worker_info(client)["pid"] == str(server.worker_pid)


@pytest.mark.timeout(60)
def test_response_without_body_message(client: httpx.Client) -> None:
    response = client.get("/no-body")
    assert (response.status_code, response.content) == (204, b"")


def _recorded(client: httpx.Client, prefix: str) -> str:
    response = client.get("/record", params={"prefix": prefix})
    assert response.status_code == 200, f"the app recorded no {prefix!r} event within 20 s"
    return response.text


def _send_and_leave(server: Gunicorn, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(data)


@pytest.mark.timeout(60)
def test_refused_response_header_releases_the_app(server: Gunicorn, client: httpx.Client) -> None:
    response = client.get("/bad-header-streamed")
    assert response.status_code == 500  # AsgiToWsgi refuses it before gunicorn sees it
    assert "x-bad" not in response.headers
    # The app's send() of the start message fails instead of the response being split.
    assert _recorded(client, "bad-header-ended") == "bad-header-ended:ValueError"
    assert "response header 'x-bad'" in server.log()
    assert "nbreak" not in server.log()  # the value, escaped or raw, is never logged


@pytest.mark.timeout(60)
def test_upload_shorter_than_content_length_is_a_disconnect(
    server: Gunicorn, client: httpx.Client
) -> None:
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
    _send_and_leave(server, head + b"a" * 1000)
    assert _recorded(client, "upload-ended") == "upload-ended:http.disconnect:1000"
    assert "Exception in ASGI application" not in server.log()


@pytest.mark.timeout(60)
def test_chunked_upload_cut_short_is_a_disconnect(server: Gunicorn, client: httpx.Client) -> None:
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    _send_and_leave(server, head + b"3e8\r\n" + b"a" * 500)  # half of a 1000-byte chunk
    assert _recorded(client, "upload-ended").startswith("upload-ended:http.disconnect:")


@pytest.mark.timeout(60)
def test_client_leaving_mid_stream_stops_the_app(server: Gunicorn, client: httpx.Client) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        received = 0
        while received < 256 * 1024:
            data = sock.recv(65536)
            assert data, "the stream ended by itself"
            received += len(data)
    assert _recorded(client, "forever-ended") == "forever-ended:ClientDisconnected"
    assert _worker_info(client)["pid"] == str(server.worker_pid)


def _state_request(client: httpx.Client, index: int, query: str = "") -> str:
    response = client.post(f"/state?id=r{index}{query}", content=f"body-{index}".encode())
    assert response.status_code == 200
    return response.text


@pytest.mark.timeout(60)
def test_state_is_isolated_across_50_concurrent_requests(client: httpx.Client) -> None:
    with ThreadPoolExecutor(max_workers=50) as pool:
        texts = list(pool.map(lambda index: _state_request(client, index), range(50)))
    assert texts == [f"id=r{index} leaked=- now=r{index} body=body-{index}" for index in range(50)]


@pytest.mark.timeout(60)
def test_gthread_requests_overlap_on_the_shared_loop(gthread_server: Gunicorn) -> None:
    # Each request waits in the app until all four are inside it: only threads that really
    # run at once (and one loop serving them all) let them finish.
    with httpx.Client(base_url=gthread_server.url, timeout=20) as client:
        query = "&group=overlap&size=4"
        with ThreadPoolExecutor(max_workers=4) as pool:
            texts = list(pool.map(lambda index: _state_request(client, index, query), range(4)))
    assert texts == [f"id=r{index} leaked=- now=r{index} body=body-{index}" for index in range(4)]


@pytest.mark.timeout(60)
def test_gthread_keeps_the_connection_alive(gthread_server: Gunicorn) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gthread_server.port, timeout=20)
    try:
        ports = set()
        for _ in range(20):
            connection.request("GET", "/worker")
            response = connection.getresponse()
            text = response.read().decode()
            assert response.status == 200
            assert response.getheader("connection", "").lower() != "close"
            ports.add(text.split("client_port=")[1].split()[0])
            connection.request("POST", "/echo", body=b"again")
            assert connection.getresponse().read() == b"again"
        assert connection.sock is not None
        local_port = str(connection.sock.getsockname()[1])
    finally:
        connection.close()
    assert ports == {local_port}  # every request came over the one connection


@pytest.mark.timeout(60)
def test_lifespan_runs_in_the_worker(server: Gunicorn) -> None:
    with httpx.Client(base_url=server.url, timeout=20) as client:
        assert _worker_info(client)["lifespan"] == "True"
    assert server.events() == [f"startup {server.worker_pid}"]
    server.stop()  # SIGTERM: the worker exits normally and runs lifespan shutdown at exit
    assert server.process.returncode == 0
    assert server.events() == [f"startup {server.worker_pid}", f"shutdown {server.worker_pid}"]
