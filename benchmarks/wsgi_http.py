"""The WSGI adapters under uvicorn on 127.0.0.1, loaded by wrk from another process."""

from __future__ import annotations

__all__ = ("http_results",)

import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from contextlib import ExitStack, contextmanager
from typing import Any, Dict, Iterator, List

from benchmarks._server import IMPLS

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PAGE = os.sysconf("SC_PAGE_SIZE")


class Server:
    def __init__(self, impl: str, logdir: str) -> None:
        self.impl = impl
        self.tmpdir = tempfile.mkdtemp(prefix="bench-srv-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log_path = os.path.join(logdir, f"server-{impl.replace(' ', '_')}.log")
        env = dict(os.environ, TMPDIR=self.tmpdir, PYTHONDONTWRITEBYTECODE="1")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks._server", impl, str(self.port)],
                cwd=_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{impl} server exited at start:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    message = f"{impl} server not ready in 20 s:\n{self.log_tail()}"
                    raise RuntimeError(message) from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def rss(self) -> int:
        with open(f"/proc/{self.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE

    def write_bytes(self) -> int:
        with open(f"/proc/{self.proc.pid}/io") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
        return 0

    def file_bytes(self) -> int:
        """Total size of the regular files (temp files included) the server has open."""
        total = 0
        fd_dir = f"/proc/{self.proc.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
                if not target.startswith("/") or target.startswith(("/dev/", "/proc/")):
                    continue
                st = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if (st.st_mode & 0o170000) == 0o100000 and not target.endswith((".so", ".py")):
                total += st.st_size
        return total


_LATENCY = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_SCALE = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(url: str, seconds: float, script: str | None) -> Dict[str, float]:
    cmd = ["wrk", "-t1", "-c16", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    result = {"rps": float(rps.group(1))}
    for pct, value, unit in _LATENCY.findall(out):
        result[f"p{pct}_ms"] = float(value) * _SCALE[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["non_2xx"] = float(bad.group(1)) if bad else 0.0
    return result


def _upload(server: Server, size: int) -> Dict[str, float]:
    """POST `size` bytes; measure the server's RSS growth and bytes written to files."""
    base_rss, base_wb, base_files = server.rss(), server.write_bytes(), server.file_bytes()
    peak = {"rss": base_rss, "files": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak["rss"] = max(peak["rss"], server.rss())
                peak["files"] = max(peak["files"], server.file_bytes() - base_files)
            except OSError:
                pass
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
            sock.sendall(
                b"POST /upload HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream"
                + f"\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode()
            )
            piece = b"\0" * (256 * 1024)
            left = size
            while left:
                chunk = piece[: min(left, len(piece))]
                sock.sendall(chunk)
                left -= len(chunk)
            answer = b""
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
    finally:
        done.set()
        sampler.join()
    elapsed = time.perf_counter() - t0
    if not answer.startswith(b"HTTP/1.1 200") or not answer.endswith(str(size).encode()):
        raise RuntimeError(f"upload answered {answer[:200]!r}")
    written = max(server.write_bytes() - base_wb, peak["files"])
    return {
        "rss_growth_mib": (peak["rss"] - base_rss) / (1 << 20),
        "disk_bytes": float(written),
        "seconds": elapsed,
    }


def _ttfb(server: Server) -> Dict[str, float]:
    """Seconds from sending GET /stream to the first response byte, and to the end."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        t0 = time.perf_counter()
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        first = sock.recv(65536)
        ttfb = time.perf_counter() - t0
        data = first
        while True:
            more = sock.recv(65536)
            if not more:
                break
            data += more
        total = time.perf_counter() - t0
    if b"first" not in data or b"last" not in data:
        raise RuntimeError(f"stream answered {data[:200]!r}")
    return {"ttfb_ms": ttfb * 1e3, "total_ms": total * 1e3}


def _get_slow(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/slow")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or body.count(b"chunk") != 8:
            raise RuntimeError(f"/slow answered {response.status} {body[:100]!r}")
    finally:
        conn.close()


def _streams(server: Server, count: int) -> float:
    errors: List[BaseException] = []

    def one() -> None:
        try:
            _get_slow(server.port)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(count)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def _keepalive(server: Server, count: int) -> Dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    bad = reconnects = 0
    statuses: Dict[str, int] = {}
    try:
        for i in range(count):
            try:
                if i % 2:
                    conn.request("POST", "/echo", body=b"y" * 4096)
                else:
                    conn.request("GET", "/small")
                response = conn.getresponse()
                response.read()
                bad += response.status != 200
                statuses[str(response.status)] = statuses.get(str(response.status), 0) + 1
                if response.will_close:
                    reconnects += 1
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                bad += 1
                reconnects += 1
                conn.close()
    finally:
        conn.close()
    return {
        "non_200": float(bad),
        "reconnects": float(reconnects),
        "requests": float(count),
        "answers": statuses,
    }


@contextmanager
def _servers(logdir: str) -> Iterator[Dict[str, Any]]:
    started: Dict[str, Any] = {}
    with ExitStack() as stack:
        for impl in IMPLS:
            try:
                server = Server(impl, logdir)
            except Exception:
                started[impl] = traceback.format_exc(limit=4)
                continue
            stack.callback(server.stop)
            started[impl] = server
        yield started


def http_results(quick: bool, outdir: str) -> Dict[str, Any]:
    """Run every HTTP scenario against each implementation; errors are recorded per cell."""
    seconds, repeats = (1.0, 1) if quick else (3.0, 5)
    upload_size = (8 if quick else 100) << 20
    stream_repeats = 1 if quick else 3
    lua = os.path.join(outdir, "post4k.lua")
    with open(lua, "w") as f:
        f.write(
            'wrk.method = "POST"\nwrk.body = string.rep("p", 4096)\n'
            'wrk.headers["Content-Type"] = "application/octet-stream"\n'
        )
    scenarios = {
        "GET 13 B": ("/small", None),
        "GET 1 MiB": ("/big", None),
        "POST 4 KiB": ("/echo", lua),
    }
    results: Dict[str, Any] = {
        "wrk": {},
        "upload": {},
        "ttfb": {},
        "streams": {},
        "keepalive": {},
        "errors": {},
        "server_log": {},
        "seconds": seconds,
        "repeats": repeats,
        "upload_bytes": upload_size,
        "connections": 16,
    }
    with _servers(outdir) as servers:
        live = {k: v for k, v in servers.items() if isinstance(v, Server)}
        for impl, value in servers.items():
            if not isinstance(value, Server):
                results["errors"][impl] = value
        order = list(live)

        def attempt(what: str, impl: str, func: Any) -> Any:
            if live[impl].proc.poll() is not None:
                results["errors"].setdefault(impl, f"server died:\n{live[impl].log_tail()}")
                return None
            try:
                return func()
            except Exception:
                results["errors"][f"{impl} / {what}"] = traceback.format_exc(limit=4)
                return None

        for name, (path, script) in scenarios.items():
            runs: Dict[str, List[Dict[str, float]]] = {impl: [] for impl in order}
            rounds: List[Dict[str, float]] = []  # req/s of each implementation, per round
            for repeat in range(repeats):
                shift = repeat % len(order)
                this_round: Dict[str, float] = {}
                for impl in order[shift:] + order[:shift]:
                    url = live[impl].url + path
                    got = attempt(name, impl, lambda u=url, s=script: _wrk(u, seconds, s))
                    if got is not None:
                        runs[impl].append(got)
                        this_round[impl] = got["rps"]
                rounds.append(this_round)
            results.setdefault("rounds", {})[name] = rounds
            results["wrk"][name] = {
                impl: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
                | {"rps_min": min(r["rps"] for r in rs), "repeats": len(rs)}
                for impl, rs in runs.items()
                if rs
            }
            for impl, r in results["wrk"][name].items():
                print(
                    f"[http] {name} / {impl}: {r['rps']:.0f} req/s, "
                    f"p50 {r.get('p50_ms', 0):.2f} ms, p99 {r.get('p99_ms', 0):.2f} ms",
                    flush=True,
                )
        for impl in order:
            got = attempt("upload", impl, lambda i=impl: _upload(live[i], upload_size))
            if got is not None:
                results["upload"][impl] = got
                print(f"[http] upload / {impl}: {got}", flush=True)
            ttfbs = [
                attempt("ttfb", impl, lambda i=impl: _ttfb(live[i])) for _ in range(stream_repeats)
            ]
            ttfbs = [t for t in ttfbs if t]
            if ttfbs:
                results["ttfb"][impl] = {
                    k: statistics.median(t[k] for t in ttfbs) for k in ttfbs[0]
                }
            ones, eights = [], []
            for _ in range(stream_repeats):
                one = attempt("1 stream", impl, lambda i=impl: _streams(live[i], 1))
                eight = attempt("8 streams", impl, lambda i=impl: _streams(live[i], 8))
                if one is not None and eight is not None:
                    ones.append(one)
                    eights.append(eight)
            if ones:
                results["streams"][impl] = {
                    "one_ms": statistics.median(ones) * 1e3,
                    "eight_ms": statistics.median(eights) * 1e3,
                }
            got = attempt("keep-alive", impl, lambda i=impl: _keepalive(live[i], 250))
            if got is not None:
                results["keepalive"][impl] = got
            print(
                f"[http] streams+keepalive / {impl}: ttfb {results['ttfb'].get(impl)}, "
                f"streams {results['streams'].get(impl)}, "
                f"keep-alive {results['keepalive'].get(impl)}",
                flush=True,
            )
    for impl in IMPLS:
        path = os.path.join(outdir, f"server-{impl.replace(' ', '_')}.log")
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                lines = f.read().splitlines()
            failures = [line for line in lines if re.match(r"^\w+(Error|Exception)\b", line)]
            if failures:
                results["server_log"][impl] = {"exceptions": len(failures), "last": failures[-1]}
    return results
