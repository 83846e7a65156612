"""A consumer that publishes from inside its message loop while its message queue is full.

The consumer's ``client.messages`` has a limit (``max_queued_incoming_messages``); another client
floods its topic. For each message it takes, the consumer publishes a QoS 1 reply and waits for
the PUBACK, which arrives behind the flood on the same socket: the client must keep reading
while the stream is full (holding the rest unacknowledged, so the broker's flow control bounds
them), and the stream must never hold more than its limit.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from broker import Mosquitto
from fault_helpers import GUARD, take, wait_until

from asyncmqtt import Client

if TYPE_CHECKING:
    from conftest import MosquittoFactory

COUNT = 200
LOOP_GUARD = 60.0  # seconds for the whole flood: a deadlock fails instead of hanging


def flood_broker(make_mosquitto: MosquittoFactory) -> Mosquitto:
    # mosquitto drops messages for a client beyond max_queued_messages: keep it above COUNT.
    return make_mosquitto(max_queued_messages=COUNT * 5)


async def flood(broker: Mosquitto, topic: str, qos: int) -> None:
    """Publish COUNT numbered messages, then an end marker, to ``topic``."""
    async with Client(broker.host, broker.port) as flooder:
        if qos:
            await asyncio.gather(*(flooder.publish(topic, n, qos=qos) for n in range(COUNT)))
        else:
            for n in range(COUNT):
                await flooder.publish(topic, n, qos=0)
        await flooder.publish(topic, "end", qos=qos)


async def consume_and_reply(
    consumer: Client, reply_topic: str, limit: int, reply: bool
) -> tuple[list[int], int]:
    """Take COUNT messages, replying to each at QoS 1 if ``reply``; return the numbers and the
    largest ``len(consumer.messages)`` seen."""
    stream = consumer.messages
    # Start only once the stream is full, so that every reply is made with a full queue.
    await wait_until(lambda: len(stream) >= limit, f"the stream to fill up to {limit}")
    numbers: list[int] = []
    most = len(stream)
    async with asyncio.timeout(LOOP_GUARD):
        async for message in stream:
            most = max(most, len(stream))
            numbers.append(int(message.payload))
            if reply:
                assert await consumer.publish(reply_topic, message.payload, qos=1) is not None
                most = max(most, len(stream))
            if len(numbers) == COUNT:
                break
    return numbers, most


async def run_flood(
    broker: Mosquitto, topic: str, inbound_qos: int, limit: int, reply: bool
) -> tuple[list[int], int, list[int]]:
    """Flood a limited consumer; return its numbers, its largest queue, and the observed replies."""
    reply_topic = f"{topic}/replies"
    consumer = Client(broker.host, broker.port, max_queued_incoming_messages=limit)
    async with Client(broker.host, broker.port) as observer, consumer:
        assert consumer.messages.limit == limit
        await observer.subscribe(reply_topic, qos=1)
        await consumer.subscribe(f"{topic}/in", qos=inbound_qos)
        flooding = asyncio.create_task(flood(broker, f"{topic}/in", inbound_qos))
        try:
            numbers, most = await consume_and_reply(consumer, reply_topic, limit, reply)
            async with asyncio.timeout(GUARD):
                await flooding
        finally:
            flooding.cancel()
        # None twice, none left over: the consumer's next message is the end marker.
        (end,) = await take(consumer.messages, 1)
        assert end.payload == b"end"
        replies = []
        if reply:
            replies = [int(m.payload) for m in await take(observer.messages, COUNT)]
        assert consumer.is_connected
    return numbers, most, replies


@pytest.mark.parametrize("limit", [1, 10])
@pytest.mark.parametrize("inbound_qos", [1, 2])
async def test_consumer_replies_from_a_full_queue(
    make_mosquitto: MosquittoFactory, topic: str, inbound_qos: int, limit: int
) -> None:
    broker = flood_broker(make_mosquitto)
    numbers, most, replies = await run_flood(broker, topic, inbound_qos, limit, reply=True)
    assert numbers == list(range(COUNT))  # all, in order, none twice
    assert replies == list(range(COUNT))  # every reply reached the observer
    assert most == limit  # it was full, and never held more than its limit


async def test_qos0_flood_stays_within_the_limit(
    make_mosquitto: MosquittoFactory, topic: str
) -> None:
    broker = flood_broker(make_mosquitto)
    numbers, most, _ = await run_flood(broker, topic, inbound_qos=0, limit=10, reply=False)
    assert numbers == list(range(COUNT))  # every message, in order
    assert most == 10


async def test_qos0_flood_consumer_replies_from_a_full_queue(
    make_mosquitto: MosquittoFactory, topic: str
) -> None:
    """The QoS 0 case of the bug: reading pauses for a QoS 0 backlog, yet the consumer's own
    PUBACKs must still come through while it replies from inside its loop."""
    broker = flood_broker(make_mosquitto)
    numbers, most, replies = await run_flood(broker, topic, inbound_qos=0, limit=10, reply=True)
    assert numbers == list(range(COUNT))
    assert replies == list(range(COUNT))
    assert most == 10
