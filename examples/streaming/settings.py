"""Settings of the streaming project (SQLite in the file `STREAMING_DB` names)."""

from __future__ import annotations

import os

SECRET_KEY = "examples-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
INSTALLED_APPS = ["examples.streaming"]
ROOT_URLCONF = "examples.streaming.urls"
MIDDLEWARE: list[str] = []
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("STREAMING_DB", ":memory:"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
