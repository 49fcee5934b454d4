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


# ?together=N: how many requests of each group are waiting for the rest of it (on the loop).
_arrived: dict[str, int] = {}
_all_arrived: dict[str, asyncio.Event] = {}


async def _wait_for_group(group: str, size: int) -> bool:
    """Wait until `size` requests of `group` are in this view at once; False after 5 s."""
    event = _all_arrived.setdefault(group, asyncio.Event())
    _arrived[group] = _arrived.get(group, 0) + 1
    if _arrived[group] >= size:
        event.set()
    try:
        await asyncio.wait_for(event.wait(), 5)
    except asyncio.TimeoutError:
        return False
    return True


async def async_hello(request: HttpRequest) -> JsonResponse:
    """Sleep on the loop (or wait for `together` requests to be here at once), then count."""
    together = None
    if "together" in request.GET:
        group, _, size = request.GET["together"].partition(":")
        together = await _wait_for_group(group, int(size))
    await asyncio.sleep(float(request.GET.get("sleep", "0")))
    count = await sync_to_async(Hit.objects.count)()
    body = {"hello": request.GET.get("name", "world"), "count": count}
    if together is not None:
        body["together"] = together
    return JsonResponse(body)


def sync_group_send(request: HttpRequest) -> JsonResponse:
    """Send to a Channels group from sync code, as sync views and signal handlers do."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    text = request.GET.get("text", "")
    async_to_sync(layer.group_send)(request.GET["group"], {"type": "note", "text": text})
    return JsonResponse({"sent": text, "thread": threading.current_thread().name})
