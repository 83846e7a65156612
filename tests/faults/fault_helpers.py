"""Helpers for the fault tests: persistent clients, stranding publishes in a blackhole, waits.

Stranding: ``strand`` publishes QoS 1/2 messages while the relay between the client and the
broker is a blackhole, so the client writes every PUBLISH but the broker never sees one; then
it cuts the connection. Each ``publish`` raises ``ConnectionLostError`` whose ``outcome`` is
still pending: the messages stay in the client's session, to be resent on the next entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from relay import Relay

from asyncmqtt import Client, ConnectionLostError, Message, MessageStream, Properties

# A guard against hanging forever: generous, never reached by a passing test.
GUARD = 10.0


def persistent_client(host: str, port: int, identifier: str, **options: Any) -> Client:
    """An MQTT 5 client whose session the broker keeps for 300 s and that resumes it."""
    return Client(
        host,
        port,
        identifier=identifier,
        clean_start=False,
        properties=Properties(session_expiry_interval=300),
        **options,
    )


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = GUARD) -> None:
    """Poll ``predicate`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def settle(outcome: Awaitable[int] | None) -> int:
    """Await the ``outcome`` of an abandoned publish, with the guard."""
    assert outcome is not None, "a written QoS 1/2 publish must carry an outcome"
    async with asyncio.timeout(GUARD):
        return await outcome


def pending(outcome: Awaitable[int] | None) -> bool:
    """Whether ``outcome`` (an asyncio future) has not resolved yet."""
    return isinstance(outcome, asyncio.Future) and not outcome.done()


async def take(stream: MessageStream, count: int) -> list[Message]:
    """The next ``count`` messages of ``stream``, with the guard."""
    async with asyncio.timeout(GUARD):
        return [await anext(stream) for _ in range(count)]


async def strand(
    client: Client, relay: Relay, publishes: Sequence[tuple[str, bytes, int]]
) -> list[ConnectionLostError]:
    """Inside ``client``'s block: publish ``(topic, payload, qos)`` into a blackhole, then cut.

    Returns the ``ConnectionLostError`` of each publish, in order; every outcome is pending.
    """
    reached_broker = relay.bytes_to_target
    relay.blackhole()
    tasks = [
        asyncio.create_task(client.publish(topic, payload, qos=qos))
        for topic, payload, qos in publishes
    ]
    # Every PUBLISH is at least its topic and payload long: once that much was dropped, the
    # client has written them all.
    size = sum(len(topic.encode()) + len(payload) for topic, payload, _ in publishes)
    await relay.wait_for_async(lambda r: r.dropped_to_target >= size, timeout=GUARD)
    relay.cut()
    async with asyncio.timeout(GUARD):
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert relay.bytes_to_target == reached_broker, "a stranded publish reached the broker"
    errors: list[ConnectionLostError] = []
    for result in results:
        assert isinstance(result, ConnectionLostError), result
        assert pending(result.outcome), result.outcome
        errors.append(result)
    return errors
