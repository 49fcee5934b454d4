"""URLs of the streaming project."""

from __future__ import annotations

from django.urls import path

from examples.streaming import views

urlpatterns = [
    path("sync-rows/bridged", views.sync_rows_bridged),
    path("sync-rows/plain", views.sync_rows_plain),
    path("async-rows/bridged", views.async_rows_bridged),
    path("async-rows/plain", views.async_rows_plain),
]
