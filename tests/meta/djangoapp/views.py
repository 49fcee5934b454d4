"""Views: sync (ORM on SQLite, thread-sensitive) and async (awaits, bridges to sync)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from django.http import HttpRequest, JsonResponse

from asgiref.sync import async_to_sync, sync_to_async
from tests.meta.djangoapp.models import Hit


def sync_hit(request: HttpRequest) -> JsonResponse:
    """Store a row and count the rows, on the thread the middleware ran on."""
    thread = threading.get_ident()
    Hit.objects.create(label=request.GET.get("label", ""), thread=thread)
    middleware_thread: Any = getattr(request, "middleware_thread", None)
    return JsonResponse(
        {
            "count": Hit.objects.count(),
            "same_thread_as_middleware": middleware_thread == thread,
            "main_thread": thread == threading.main_thread().ident,
            "remote_port": request.META.get("REMOTE_PORT"),
        }
    )


async def async_hello(request: HttpRequest) -> JsonResponse:
    """Sleep on the loop (so concurrent requests overlap), then count rows via sync_to_async."""
    await asyncio.sleep(float(request.GET.get("sleep", "0")))
    count = await sync_to_async(Hit.objects.count)()
    return JsonResponse({"hello": request.GET.get("name", "world"), "count": count})


def sync_group_send(request: HttpRequest) -> JsonResponse:
    """Send to a Channels group from sync code, as sync views and signal handlers do."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    text = request.GET.get("text", "")
    async_to_sync(layer.group_send)(request.GET["group"], {"type": "note", "text": text})
    return JsonResponse({"sent": text, "thread": threading.current_thread().name})
