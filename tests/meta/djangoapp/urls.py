"""URLs of the test project."""

from __future__ import annotations

from django.urls import path

from tests.meta.djangoapp import views

urlpatterns = [
    path("sync/", views.sync_hit),
    path("async/", views.async_hello),
    path("group-send/", views.sync_group_send),
]
