"""`python -m examples.streaming.serve asgi|wsgi FD`: seed the table, serve on socket FD.

`asgi` runs uvicorn (one process, the handler from `get_asgi_application`); `wsgi` runs
gunicorn with one sync worker (`get_wsgi_application`). The database file is
`$STREAMING_DB` (required: the worker processes must share it).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict


def _setup() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "examples.streaming.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)
    from examples.streaming.models import seed

    seed()
    from django.db import connections

    connections.close_all()  # gunicorn forks after this: no connection crosses the fork


def _serve_asgi(fd: int) -> None:
    import uvicorn
    from django.core.asgi import get_asgi_application

    config = uvicorn.Config(get_asgi_application(), fd=fd, log_level="warning", lifespan="off")
    uvicorn.Server(config).run()


def _serve_wsgi(fd: int) -> None:
    from django.core.wsgi import get_wsgi_application
    from gunicorn.app.base import BaseApplication

    application = get_wsgi_application()

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: Dict[str, Any] = {
                "bind": f"fd://{fd}",
                "workers": 1,
                "worker_class": "sync",
                "timeout": 120,
                "loglevel": "warning",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return application

    Server().run()


def main(argv: list[str]) -> None:
    """Serve `asgi` or `wsgi` on the inherited socket `argv[1]`."""
    kind, fd = argv[0], int(argv[1])
    if kind not in ("asgi", "wsgi"):
        raise SystemExit(f"serve kind must be 'asgi' or 'wsgi', got {kind!r}")
    if not os.environ.get("STREAMING_DB"):
        raise SystemExit("set STREAMING_DB to the SQLite file to serve from")
    _setup()
    if kind == "asgi":
        _serve_asgi(fd)
    else:
        _serve_wsgi(fd)


if __name__ == "__main__":
    main(sys.argv[1:])
