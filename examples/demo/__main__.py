"""Start the demo: `python -m examples.demo [--host 127.0.0.1] [--port 8000]`.

Prints the URL and curl lines to try, serves with uvicorn until Ctrl-C (SIGINT) or SIGTERM,
then exits with status 0.
"""

from __future__ import annotations

__all__ = ("main",)

import argparse
import signal
import socket
import sys
import threading
from types import FrameType

import uvicorn

from examples.demo.app import build_app


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo",
        description="Serve the asgi-* demo application with uvicorn.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8000,
        help="port to bind; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    return parser.parse_args(argv)


def _banner(url: str) -> str:
    lines = [
        f"asgi-* demo running on {url}  (Ctrl-C to stop)",
        "",
        "Try:",
        f"  curl {url}/",
        f"  curl '{url}/sync-to-async?ms=200'     # async view -> blocking code (sync_to_async)",
        f"  curl {url}/async-to-sync              # sync code -> async code (async_to_sync)",
        f"  curl '{url}/local?ms=100' & curl '{url}/local?ms=100' & wait   # per-request Local",
        f"  curl -o /dev/null '{url}/wsgi/download?mb=512'   # WSGI app streaming via WsgiToAsgi",
        f"  head -c 300M /dev/zero | curl -T - {url}/wsgi/upload   # streamed upload to WSGI",
        "",
    ]
    return "\n".join(lines)


class _DemoServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, shutting_down: threading.Event) -> None:
        super().__init__(config)
        self._shutting_down = shutting_down

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._shutting_down.set()
        super().handle_exit(sig, frame)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the demo server; return the process exit status."""
    args = _parse(argv)
    try:
        sock = socket.create_server((args.host, args.port))
    except OSError as error:
        print(
            f"cannot listen on {args.host}:{args.port}: {error.strerror or error}; "
            "pick another port with --port (0 picks a free one)",
            file=sys.stderr,
        )
        return 1
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}"
    shutting_down = threading.Event()
    config = uvicorn.Config(
        build_app(shutting_down),
        lifespan="off",
        log_level=args.log_level,
        # Do not wait forever for a client in the middle of a 4 GiB download.
        timeout_graceful_shutdown=2,
    )
    server = _DemoServer(config, shutting_down)
    # uvicorn handles SIGINT and SIGTERM itself, shuts down gracefully and may re-raise the
    # signal afterwards; with this handler in place, both end up as KeyboardInterrupt here.
    signal.signal(signal.SIGTERM, _interrupt)
    print(_banner(url), flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("asgi-* demo stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
