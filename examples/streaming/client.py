"""Client side of the streaming proof: start a server, stream a response, watch its RSS.

Standard library only, so both the tests and the benchmark can use it.
"""

from __future__ import annotations

import http.client
import os
import pathlib
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Dict, List

REPO = pathlib.Path(__file__).resolve().parents[2]
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss(pid: int) -> int:
    """Resident set size of process `pid`, in bytes."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _children(pid: int) -> List[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


@dataclass
class Fetched:
    """One streamed response, as the client saw it."""

    status: int
    size: int
    first_byte_seconds: float
    seconds: float
    rss_before: int
    rss_peak: int
    tail: bytes

    @property
    def rss_growth(self) -> int:
        return self.rss_peak - self.rss_before


class StreamingServer:
    """`examples.streaming.serve` in a subprocess on a socket bound here (127.0.0.1)."""

    def __init__(self, kind: str, database: str, extra_path: List[str] | None = None) -> None:
        self.kind = kind
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.port: int = listener.getsockname()[1]
        path = [*(extra_path or []), str(REPO), os.environ.get("PYTHONPATH", "")]
        env: Dict[str, str] = {
            **os.environ,
            "STREAMING_DB": database,
            "PYTHONPATH": os.pathsep.join(filter(None, path)),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "examples.streaming.serve", kind, str(listener.fileno())],
            pass_fds=[listener.fileno()],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        listener.close()  # the server holds its own copy
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                result = self.fetch(
                    "/sync-rows/bridged?bytes=1"
                    if self.kind == "asgi"
                    else "/async-rows/bridged?bytes=1",
                    timeout=30,
                )
                if result.status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = self.stop()
                raise RuntimeError(f"the {self.kind} server did not start; its output:\n{output}")
            time.sleep(0.1)

    @property
    def serving_pid(self) -> int:
        """The process that runs the app: uvicorn itself, or gunicorn's one worker."""
        if self.kind == "asgi":
            return self.process.pid
        deadline = time.monotonic() + 10
        while True:
            children = _children(self.process.pid)
            if children:
                return children[0]
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn has no worker process")
            time.sleep(0.05)

    def fetch(
        self, path: str, gate: str | None = None, timeout: float = 600, watch: bool = False
    ) -> Fetched:
        """GET `path` and read the whole body; with `gate`, create that file at the first
        byte; with `watch`, sample the serving process's RSS every 5 ms meanwhile."""
        pid = self.serving_pid if watch else None
        before = rss(pid) if pid else 0
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            assert pid is not None
            while not done.wait(0.005):
                try:
                    peak[0] = max(peak[0], rss(pid))
                except OSError:
                    return

        sampler = threading.Thread(target=sample, daemon=True) if pid else None
        if sampler is not None:
            sampler.start()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            first = response.read1(65536) if response.status == 200 else response.read()
            first_byte = time.perf_counter() - started
            if gate is not None:
                pathlib.Path(gate).touch()
            size = len(first)
            tail = first[-256:]
            while True:
                block = response.read1(1 << 20)
                if not block:
                    break
                size += len(block)
                tail = (tail + block)[-256:]
            seconds = time.perf_counter() - started
        finally:
            connection.close()
            done.set()
            if sampler is not None:
                sampler.join()
        return Fetched(response.status, size, first_byte, seconds, before, peak[0], tail)

    def fetch_and_hang_up(self, path: str, size: int) -> int:
        """GET `path`, read about `size` bytes of the body, then drop the connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            got = 0
            while got < size:
                block = response.read1(65536)
                if not block:
                    break
                got += len(block)
            return got
        finally:
            if connection.sock is not None:
                # An abortive close (RST), as a client that goes away mid-download.
                connection.sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            connection.close()

    def stop(self) -> str:
        """Stop the server (by its PID) and return its output."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            output, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        return output.decode(errors="replace")

    def __enter__(self) -> StreamingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
