"""Soak test: the WSGI adapter (and a Django app through it) under uvicorn and keep-alive load.

Not part of CI's fast path. For each app it starts uvicorn in a subprocess on a free
127.0.0.1 port, warms it up, then drives ``--duration`` seconds of keep-alive load with
wrk (alternating a streamed GET and an 8 KiB POST upload), sampling the server's RSS and
thread count from /proc. It prints the figures and exits non-zero on any failed request,
a thread count up by more than ``--thread-slack``, or RSS growth beyond ``--rss-slack`` MiB.

Run it from an environment that has the asgi-* packages, uvicorn and (for the Django leg)
Django installed::

    python scripts/soak.py                      # both legs, 60 s each
    python scripts/soak.py --app wsgi --duration 10

The test environments have all of it; each Python's has the Django it gets in practice
(6.1 on 3.12+, 5.2 on 3.10-3.11, 4.2 on 3.9)::

    hatch run hatch-test.py3.14:python scripts/soak.py --app django

This file is also the ASGI module uvicorn loads: ``soak:wsgi_app`` and ``soak:django_app``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

UPLOAD_SIZE = 8192
STREAM_CHUNKS = 4

# --- the applications uvicorn serves ---------------------------------------------------


def _plain_wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] == "POST":
        received = len(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(received).encode()]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return _stream()


def _stream() -> Iterator[bytes]:
    for n in range(STREAM_CHUNKS):
        yield b"chunk %d\n" % n


def _make_wsgi_app() -> Any:
    from asgi_wsgi import WsgiToAsgi

    return WsgiToAsgi(_plain_wsgi)


def _make_django_app() -> Any:
    import django
    from django.conf import settings
    from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
        if request.method == "POST":
            return HttpResponse(str(len(request.body)), content_type="text/plain")
        return StreamingHttpResponse(_stream(), content_type="text/plain")

    global urlpatterns
    urlpatterns = [path("", view), path("upload", view), path("stream", view)]
    settings.configure(
        DEBUG=False,
        SECRET_KEY="soak-not-secret",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
        INSTALLED_APPS=[],
        DATA_UPLOAD_MAX_MEMORY_SIZE=None,
    )
    django.setup()
    from django.core.wsgi import get_wsgi_application

    from asgi_wsgi import WsgiToAsgi

    return WsgiToAsgi(get_wsgi_application())


urlpatterns: list[Any] = []


def __getattr__(name: str) -> Any:
    # uvicorn looks the app up by attribute: build it only in the server process.
    if name == "wsgi_app":
        app = _make_wsgi_app()
    elif name == "django_app":
        app = _make_django_app()
    else:
        raise AttributeError(name)
    globals()[name] = app
    return app


# --- the driver --------------------------------------------------------------------------

WRK_SCRIPT = """
local counter = 0
local body = string.rep("x", UPLOAD_SIZE)
request = function()
  counter = counter + 1
  if counter % 2 == 0 then
    return wrk.format("POST", "/upload", {["Content-Type"] = "application/octet-stream"}, body)
  end
  return wrk.format("GET", "/stream")
end
""".replace("UPLOAD_SIZE", str(UPLOAD_SIZE))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status(pid: int) -> tuple[int, int]:
    """Return (RSS in KiB, thread count) of ``pid`` from /proc."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


def wait_until_up(port: int, server: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"uvicorn exited early with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("uvicorn did not answer within 20 s")


def run_wrk(port: int, seconds: float, connections: int, script: str) -> dict[str, int]:
    command = [
        "wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", script,
        f"http://127.0.0.1:{port}/",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = sum(int(g) for g in errors.groups()) if errors else 0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return {
        "requests": requests,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors,
        "rps": int(float(rps.group(1))) if rps else 0,
    }


def soak(
    app: str, seconds: float, connections: int, rss_slack_mib: float, thread_slack: int
) -> bool:
    port = free_port()
    here = os.path.dirname(os.path.abspath(__file__))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            here,
            f"soak:{app}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(WRK_SCRIPT)
    try:
        wait_until_up(port, server)
        run_wrk(port, 3, connections, lua.name)  # warm-up: pools, caches, allocator
        rss_start, threads_start = proc_status(server.pid)
        sampler = subprocess.Popen([sys.executable, __file__, "--_sample", str(server.pid)])
        result = run_wrk(port, seconds, connections, lua.name)
        sampler.terminate()
        sampler.wait()
        time.sleep(1)  # let the last responses and worker hand-offs settle
        rss_end, threads_end = proc_status(server.pid)
    finally:
        server.terminate()
        server.wait(10)
        os.unlink(lua.name)
    failures = result["non_2xx"] + result["socket_errors"]
    print(
        f"[{app}] {seconds:.0f} s, {connections} keep-alive connections: "
        f"{result['requests']} requests ({result['rps']}/s), {failures} failed "
        f"({result['non_2xx']} non-2xx, {result['socket_errors']} socket errors); "
        f"RSS {rss_start / 1024:.1f} -> {rss_end / 1024:.1f} MiB; "
        f"threads {threads_start} -> {threads_end}",
        flush=True,
    )
    flat_threads = threads_end - threads_start <= thread_slack
    return failures == 0 and flat_threads and (rss_end - rss_start) / 1024 <= rss_slack_mib


def sample(pid: int) -> None:
    """Print the server's RSS and thread count every 10 s (runs in a child process)."""
    start = time.monotonic()
    while True:
        time.sleep(10)
        try:
            rss, threads = proc_status(pid)
        except OSError:
            return
        print(f"    t={time.monotonic() - start:4.0f}s RSS {rss / 1024:.1f} MiB, threads {threads}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", choices=["wsgi", "django", "both"], default="both")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rss-slack", type=float, default=8.0, help="MiB of RSS growth allowed")
    parser.add_argument("--thread-slack", type=int, default=2, help="threads of growth allowed")
    parser.add_argument("--_sample", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._sample:
        sample(args._sample)
        return 0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    apps = ["wsgi_app", "django_app"] if args.app == "both" else [f"{args.app}_app"]
    versions = f"Python {sys.version.split()[0]}"
    if "django_app" in apps:
        import django

        versions += f", Django {django.get_version()}"
    print(versions, flush=True)
    results = [
        soak(app, args.duration, args.connections, args.rss_slack, args.thread_slack)
        for app in apps
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
