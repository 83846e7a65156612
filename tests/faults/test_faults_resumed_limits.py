"""Publishes stranded in a persistent session meet a broker that restarted with lower limits.

Each test strands QoS 1/2 publishes (written by the client, dropped by a blackholed relay, then
the connection cut), restarts mosquitto with a lower Maximum Packet Size, Receive Maximum or
Maximum QoS (the session survives: the broker stops cleanly and saves it), and enters the same
Client again through the relay. What no longer fits must fail alone, with an error that names
the limit; everything else must arrive; the connection must stay up.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import pytest
from broker import Mosquitto
from fault_helpers import pending, persistent_client, settle, strand, take
from relay import Relay

import asyncmqtt
from asyncmqtt import Client

if TYPE_CHECKING:
    from conftest import MosquittoFactory

MakeRelay = Callable[[int], Relay]
SUCCESS = 0  # PUBACK / PUBCOMP reason code with a subscriber present


@contextlib.asynccontextmanager
async def subscribed(broker: Mosquitto, topic_filter: str, qos: int) -> AsyncIterator[Client]:
    """A client straight to the broker (no relay), subscribed to ``topic_filter``."""
    async with Client(broker.host, broker.port) as client:
        await client.subscribe(topic_filter, qos=qos)
        yield client


async def check_nothing_else_came(
    publisher: Client, subscriber: Client, topic: str, qos: int
) -> None:
    """A marker published now must be the subscriber's next message: nothing else is queued."""
    assert await publisher.publish(f"{topic}/marker", b"marker", qos=qos) == SUCCESS
    (message,) = await take(subscriber.messages, 1)
    assert (message.topic.value, message.payload) == (f"{topic}/marker", b"marker")


async def test_maximum_packet_size_shrinks_across_a_restart(
    make_mosquitto: MosquittoFactory, make_relay: MakeRelay, topic: str
) -> None:
    broker = make_mosquitto(persistence=True, autosave_on_changes=True)
    relay = make_relay(broker.port)
    publisher = persistent_client(relay.host, relay.port, "shrinking-packet-size")
    big = b"B" * 2000
    payloads = [b"small 0", b"small 1", big, b"small 2", b"small 3"]
    async with publisher:
        assert publisher.server.maximum_packet_size is None
        errors = await strand(publisher, relay, [(f"{topic}/m", p, 1) for p in payloads])
    await asyncio.to_thread(broker.wait_for_save)
    await asyncio.to_thread(broker.restart, max_packet_size=1000)
    async with subscribed(broker, f"{topic}/#", qos=1) as subscriber:
        relay.forward()
        assert all(pending(error.outcome) for error in errors)
        async with publisher:
            assert publisher.session_present
            assert publisher.server.maximum_packet_size == 1000
            for payload, error in zip(payloads, errors, strict=True):
                if payload is big:
                    with pytest.raises(asyncmqtt.MqttError, match="maximum packet size"):
                        await settle(error.outcome)
                else:
                    assert await settle(error.outcome) == SUCCESS
            received = await take(subscriber.messages, 4)
            assert [m.payload for m in received] == [p for p in payloads if p is not big]
            # The big one failed alone: still connected, on the same connection, and usable.
            assert publisher.is_connected
            assert relay.accepted == 2
            await check_nothing_else_came(publisher, subscriber, topic, qos=1)
            assert await publisher.publish(f"{topic}/m", b"after", qos=1) == SUCCESS
            assert [m.payload for m in await take(subscriber.messages, 1)] == [b"after"]


def max_unacknowledged(log: str, identifier: str, qos: int) -> int:
    """The most QoS ``qos`` publishes from ``identifier`` the broker held unacknowledged at once,
    in the order mosquitto (one thread) logged receiving and acknowledging them."""
    received = re.compile(rf"Received PUBLISH from {re.escape(identifier)} \(d\d, q{qos},")
    final_ack = "PUBACK" if qos == 1 else "PUBCOMP"
    answered = re.compile(rf"Sending {final_ack} to {re.escape(identifier)} \(m\d+")
    open_count = most = 0
    for line in log.splitlines():
        if received.search(line):
            open_count += 1
            most = max(most, open_count)
        elif answered.search(line):
            open_count -= 1
    return most


@pytest.mark.parametrize("qos", [1, 2])
async def test_receive_maximum_drops_across_a_restart(
    make_mosquitto: MosquittoFactory, make_relay: MakeRelay, topic: str, qos: int
) -> None:
    count = 20
    identifier = f"shrinking-receive-maximum-q{qos}"
    broker = make_mosquitto(persistence=True, autosave_on_changes=True, max_inflight_messages=20)
    relay = make_relay(broker.port)
    publisher = persistent_client(relay.host, relay.port, identifier)
    payloads = [f"message {n}".encode() for n in range(count)]
    async with publisher:
        assert publisher.server.receive_maximum == 20
        errors = await strand(publisher, relay, [(f"{topic}/m", p, qos) for p in payloads])
    await asyncio.to_thread(broker.wait_for_save)
    await asyncio.to_thread(broker.restart, max_inflight_messages=5)
    async with subscribed(broker, f"{topic}/#", qos=qos) as subscriber:
        relay.forward()
        log_start = len(broker.log_text())
        async with publisher:
            assert publisher.session_present
            assert publisher.server.receive_maximum == 5
            outcomes = [await settle(error.outcome) for error in errors]
            assert outcomes == [SUCCESS] * count  # nothing refused (no 0x97 quota exceeded)
            received = await take(subscriber.messages, count)
            assert [m.payload for m in received] == payloads  # all, in order
            await check_nothing_else_came(publisher, subscriber, topic, qos)  # none twice
            # No reconnect was needed: the same (second) connection is up.
            assert publisher.is_connected
            assert relay.accepted == 2
        log = broker.log_text()[log_start:]
    resent = re.findall(rf"Received PUBLISH from {identifier} \(d1, q{qos},", log)
    assert len(resent) == count, "each stranded publish is resent once, with DUP"
    assert 1 <= max_unacknowledged(log, identifier, qos) <= 5


async def test_maximum_qos_drops_across_a_restart(
    make_mosquitto: MosquittoFactory, make_relay: MakeRelay, topic: str
) -> None:
    broker = make_mosquitto(persistence=True, autosave_on_changes=True)
    relay = make_relay(broker.port)
    publisher = persistent_client(relay.host, relay.port, "shrinking-maximum-qos")
    publishes = [
        (f"{topic}/m", f"qos {1 + n % 2} number {n}".encode(), 1 + n % 2) for n in range(6)
    ]
    async with publisher:
        assert publisher.server.maximum_qos == 2
        errors = await strand(publisher, relay, publishes)
    await asyncio.to_thread(broker.wait_for_save)
    await asyncio.to_thread(broker.restart, max_qos=1)
    async with subscribed(broker, f"{topic}/#", qos=1) as subscriber:
        relay.forward()
        async with publisher:
            assert publisher.session_present
            assert publisher.server.maximum_qos == 1
            for (_, _, qos), error in zip(publishes, errors, strict=True):
                if qos == 2:
                    with pytest.raises(asyncmqtt.MqttError, match="maximum QoS"):
                        await settle(error.outcome)
                else:
                    assert await settle(error.outcome) == SUCCESS
            received = await take(subscriber.messages, 3)
            assert [m.payload for m in received] == [p for _, p, q in publishes if q == 1]
            # The QoS 2 ones failed alone: the connection stays up and takes QoS 1.
            assert publisher.is_connected
            assert relay.accepted == 2
            await check_nothing_else_came(publisher, subscriber, topic, qos=1)
            assert await publisher.publish(f"{topic}/m", b"later", qos=1) == SUCCESS
            assert [m.payload for m in await take(subscriber.messages, 1)] == [b"later"]
            assert publisher.is_connected
