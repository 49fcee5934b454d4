"""One table of fixed-size binary rows: the export reads it over and over."""

from __future__ import annotations

from django.db import models

ROW_BYTES = 16 * 1024
ROWS = 256  # 4 MiB in the table; a 1 GiB export reads it 256 times


class Chunk(models.Model):
    """A row of the export."""

    payload = models.BinaryField()

    class Meta:
        app_label = "streaming"


def seed() -> None:
    """Fill the table once (run before serving)."""
    if Chunk.objects.count() < ROWS:
        Chunk.objects.all().delete()
        Chunk.objects.bulk_create(
            Chunk(payload=bytes([number % 256]) * ROW_BYTES) for number in range(ROWS)
        )
