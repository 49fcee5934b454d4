"""One table, so the sync view has real ORM work to do on SQLite."""

from __future__ import annotations

from django.db import models


class Hit(models.Model):
    """A request that reached the sync view."""

    label = models.CharField(max_length=100)
    thread = models.BigIntegerField()

    class Meta:
        app_label = "djangoapp"
