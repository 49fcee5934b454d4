"""Serve the test project with uvicorn on an inherited listening socket: `python -m ... FD`."""

from __future__ import annotations

import os
import sys


def main(fd: int) -> None:
    """Set Django up, create the tables, and serve the ASGI handler on socket `fd`."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.meta.djangoapp.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)

    import uvicorn
    from django.core.asgi import get_asgi_application

    import asgiref

    assert "asgiref-meta" in str(asgiref.__file__), asgiref.__file__
    config = uvicorn.Config(get_asgi_application(), fd=fd, log_level="warning", lifespan="off")
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
