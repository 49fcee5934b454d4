"""The Redis Stream example against a real redis-server: replies, acks, crashes, load."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import signal
import sys
import time
from collections.abc import AsyncIterator, Hashable
from typing import Any, Awaitable, Callable, Dict, List, Tuple, cast

import pytest
import redis.asyncio as redis

from examples.redis_stream import RedisStreamServer, application

Message = Dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ROOT = pathlib.Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def client_for(url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def running(server: RedisStreamServer) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.ensure_future(server.arun())
    try:
        await asyncio.wait_for(server.ready.wait(), 5)
        yield task
    finally:
        server.stop()
        done, _ = await asyncio.wait({task}, timeout=10)
        assert done, "the server did not stop within 10 s of stop()"
        assert server.application_instances == {}
    task.result()  # the server stopped cleanly, not with an error


async def feed(client: redis.Redis, messages: list[tuple[str, str]]) -> list[str]:
    pipe = client.pipeline(transaction=False)
    for sender, body in messages:
        pipe.xadd("inbox", {"sender": sender, "body": body})
    ids: list[str] = await pipe.execute()
    return ids


async def wait_for_replies(client: redis.Redis, count: int, timeout: float = 10) -> None:
    async def poll() -> None:
        while await client.xlen("replies") < count:  # noqa: ASYNC110 - Redis state, bounded
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def pending(client: redis.Redis) -> int:
    summary = await client.xpending("inbox", "asgi")
    return int(summary["pending"])


async def replies(client: redis.Redis) -> list[dict[str, str]]:
    """The reply stream's entries' fields, in stream order."""
    entries = cast(List[Tuple[str, Dict[str, str]]], await client.xrange("replies"))
    return [fields for _reply_id, fields in entries]


async def replies_by_entry(client: redis.Redis) -> dict[str, list[dict[str, str]]]:
    by_entry: dict[str, list[dict[str, str]]] = {}
    for fields in await replies(client):
        by_entry.setdefault(fields["in_reply_to"], []).append(fields)
    return by_entry


def check_every_reply(
    messages: list[tuple[str, str]], ids: list[str], by_entry: dict[str, list[dict[str, str]]]
) -> None:
    assert sorted(by_entry) == sorted(ids)
    for (sender, body), entry_id in zip(messages, ids):
        [reply] = by_entry[entry_id]
        assert reply["sender"] == sender
        assert reply["body"] == body.upper()


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_every_message_is_answered_and_acknowledged(redis_url: str) -> None:
    messages = [(f"sender-{n % 4}", f"hello {n}") for n in range(40)]
    async with client_for(redis_url) as client:
        server = RedisStreamServer(application, client, consumer="c1", max_applications=3)
        async with running(server):
            ids = await feed(client, messages)
            await wait_for_replies(client, len(messages))
            assert await pending(client) == 0
        by_entry = await replies_by_entry(client)
        check_every_reply(messages, ids, by_entry)
        # Each sender's replies are written in the order of its messages, and an
        # instance's count goes up by one per message (it restarts at 1 when the
        # instance was evicted to make room, max_applications being 3 for 4 senders).
        reply_order = await replies(client)
        for sender in {sender for sender, _ in messages}:
            answered = [f["in_reply_to"] for f in reply_order if f["sender"] == sender]
            assert answered == [i for (who, _), i in zip(messages, ids) if who == sender]
            seen = [int(f["seen"]) for f in reply_order if f["sender"] == sender]
            assert seen[0] == 1
            assert all(b in (1, a + 1) for a, b in zip(seen, seen[1:]))
        assert await client.xlen("replies") == len(messages)


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_unknown_application_message_type_is_rejected(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def wrong(scope: Message, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start"})

    async with client_for(redis_url) as client:
        server = RedisStreamServer(wrong, client, claim_idle_ms=60_000)
        async with running(server):
            await feed(client, [("alice", "x")])
            await asyncio.wait_for(_until(lambda: "unexpected message type" in caplog.text), 5)
            assert await pending(client) == 1  # not acknowledged: it was not answered
    assert "'http.response.start'" in caplog.text
    assert "'alice'" in caplog.text


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():  # noqa: ASYNC110 - log state, bounded by the caller
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("consumer", "claim_idle_ms"),
    [("c1", 60_000), ("c2", 50)],
    ids=["restart-reads-own-pending", "other-consumer-autoclaims"],
)
async def test_unanswered_messages_survive_a_crash(
    redis_url: str, consumer: str, claim_idle_ms: int
) -> None:
    """A first server dies with entries in flight; a second one answers them all."""

    async def stuck_for_bob(scope: Message, receive: Receive, send: Send) -> None:
        if scope["sender"] == "bob":
            await asyncio.Event().wait()  # never answers: the process "dies" first
        await application(scope, receive, send)

    messages = [("alice" if n % 2 else "bob", f"m{n}") for n in range(10)]
    async with client_for(redis_url) as client:
        first = RedisStreamServer(stuck_for_bob, client, consumer="c1")
        async with running(first):
            ids = await feed(client, messages)
            await wait_for_replies(client, 5)
            # A short wait to check that bob's entries are NOT answered or acknowledged.
            await asyncio.sleep(0.05)
            assert await pending(client) == 5
        # The "crash": the first server is gone and bob's five entries were never acked.
        assert await client.xlen("replies") == 5
        assert await pending(client) == 5
        second = RedisStreamServer(
            application, client, consumer=consumer, claim_idle_ms=claim_idle_ms
        )
        async with running(second):
            await wait_for_replies(client, 10)
            assert await pending(client) == 0
        check_every_reply(messages, ids, await replies_by_entry(client))


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_nothing_is_lost_when_the_process_is_killed(redis_url: str) -> None:
    """A server process gets SIGKILL with entries in flight; a restart answers them."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.server.redis_worker",
        redis_url,
        "c1",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 15)
        assert line.strip() == b"ready"
        messages = [("alice" if n % 2 else "bob", f"m{n}") for n in range(10)]
        async with client_for(redis_url) as client:
            ids = await feed(client, messages)
            await wait_for_replies(client, 5)
            assert await pending(client) == 5
            process.kill()  # SIGKILL: no cleanup of any kind in the server
            assert await asyncio.wait_for(process.wait(), 10) == -signal.SIGKILL
            assert await pending(client) == 5
            restarted = RedisStreamServer(application, client, consumer="c1")
            async with running(restarted):
                await wait_for_replies(client, 10)
                assert await pending(client) == 0
            check_every_reply(messages, ids, await replies_by_entry(client))
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 10)


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_message_whose_instance_failed_is_retried(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    failed: list[str] = []

    async def flaky(scope: Message, receive: Receive, send: Send) -> None:
        message = await receive()
        if not failed:
            failed.append(message["id"])
            raise RuntimeError("transient failure")
        await send({"type": "stream.reply", "id": message["id"], "body": message["body"].upper()})

    async with client_for(redis_url) as client:
        server = RedisStreamServer(flaky, client, claim_idle_ms=100)
        server.application_checker_interval = 0.01
        async with running(server):
            ids = await feed(client, [("carol", "retry me")])
            await wait_for_replies(client, 1)
            assert await pending(client) == 0
        check_every_reply([("carol", "retry me")], ids, await replies_by_entry(client))
    assert failed == ids
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "'carol'" in errors[0].getMessage()


@pytest.mark.asyncio
@pytest.mark.unmeasured  # a load test: under coverage it runs last, unmeasured
@pytest.mark.timeout(60)
async def test_load_10000_messages_500_senders_100_instances(redis_url: str) -> None:
    """No message is lost and no more than 100 instances are ever alive."""
    live = 0
    max_live = 0
    max_mapped = 0

    async def counted(scope: Message, receive: Receive, send: Send) -> None:
        nonlocal live, max_live
        live += 1
        max_live = max(max_live, live)
        try:
            await application(scope, receive, send)
        finally:
            live -= 1

    class Server(RedisStreamServer):
        def get_or_create_application_instance(
            self, scope_id: Hashable, scope: Message
        ) -> asyncio.Queue[Message]:
            nonlocal max_mapped
            queue = super().get_or_create_application_instance(scope_id, scope)
            max_mapped = max(max_mapped, len(self.application_instances))
            return queue

    messages = [(f"sender-{n % 500}", f"message {n}") for n in range(10_000)]
    async with client_for(redis_url) as client:
        server = Server(counted, client, max_applications=100, batch=200)
        async with running(server):
            start = time.monotonic()
            ids = await feed(client, messages)
            await wait_for_replies(client, len(messages), timeout=40)
            elapsed = time.monotonic() - start
            assert await pending(client) == 0
        check_every_reply(messages, ids, await replies_by_entry(client))
        assert await client.xlen("replies") == len(messages)
    assert max_live <= 100
    assert max_mapped <= 100
    assert max_live > 50  # the slots were actually used
    print(f"10,000 messages, 500 senders, 100 instances: {elapsed:.2f} s, max live {max_live}")
