"""Settings of the small Django project the real-client tests serve (asgiref-meta in place)."""

from __future__ import annotations

import os

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
INSTALLED_APPS = ["tests.meta.djangoapp"]
ROOT_URLCONF = "tests.meta.djangoapp.urls"
MIDDLEWARE = ["tests.meta.djangoapp.middleware.ThreadRecordingMiddleware"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("ASGIREF_META_TEST_DB", ":memory:"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
CHANNEL_LAYERS: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
}
if os.environ.get("ASGIREF_META_TEST_REDIS"):  # tests/meta/test_channels_redis.py
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["ASGIREF_META_TEST_REDIS"]], "capacity": 1000},
        }
    }
