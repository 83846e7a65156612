"""Topic aliases end to end: ``Client(outgoing_topic_aliases=True)`` publishing through
mosquitto and through the embedded broker, each resolving the aliases for a subscriber, across
alias replacement and a reconnect (a relay between the publisher and the broker cuts the
connection while QoS 1 publishes are in flight)."""

from __future__ import annotations

import asyncio

from both_brokers import AnyBroker
from client_helpers import GUARD_SECONDS
from relay import Relay

from asyncmqtt import Client, Properties, Reconnect
from asyncmqtt.protocol.codec import encode
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import Publish

# The Topic Alias Maximum of both brokers (mosquitto's max_topic_alias, BrokerConfig's
# topic_alias_maximum), both 10 by default.
TOPIC_ALIAS_MAXIMUM = 10


def unaliased_size(topic: str, payload: bytes) -> int:
    """The bytes of a QoS 1 PUBLISH of ``payload`` to ``topic`` without an alias."""
    return len(encode(Publish(topic, payload, 1, packet_id=1), ProtocolVersion.V5))


async def test_every_message_arrives_on_its_topic_across_replacement_and_a_reconnect(
    broker: AnyBroker, topic: str
) -> None:
    host, port, maximum = broker.host, broker.port, TOPIC_ALIAS_MAXIMUM
    # Two more topics than the broker has aliases, each published three times in a row: the
    # second and third go by alias alone, and every new topic replaces the least recently
    # used one's alias once the table is full.
    topics = [f"{topic}/{'long-segment/' * 5}{index}" for index in range(maximum + 2)]
    plan = [name for name in topics for _ in range(3)] * 2
    payloads = [f"{number}|{name}".encode() for number, name in enumerate(plan)]
    half = len(plan) // 2
    subscriber = Client(host, port)
    with Relay(port, host) as relay:
        publisher = Client(
            relay.host,
            relay.port,
            outgoing_topic_aliases=True,
            reconnect=Reconnect(initial_delay=0.05, jitter=False),
            properties=Properties(session_expiry_interval=60),
        )
        async with subscriber:
            await subscriber.subscribe(f"{topic}/#", qos=1)
            async with publisher:
                assert publisher.server.topic_alias_maximum == maximum
                for name, payload in zip(plan[:half], payloads[:half], strict=True):
                    await publisher.publish(name, payload, qos=1)
                sent_before = publisher.stats.bytes_sent
                # The rest at once, and the connection cut while they are in flight: the
                # unacknowledged ones are resent (with their full topics) on the new
                # connection, whose alias table starts empty.
                rest = [
                    asyncio.ensure_future(publisher.publish(name, payload, qos=1))
                    for name, payload in zip(plan[half:], payloads[half:], strict=True)
                ]
                await asyncio.sleep(0)  # (one turn: the burst is written)
                relay.cut()
                async with asyncio.timeout(GUARD_SECONDS):
                    await asyncio.gather(*rest)
                assert publisher.stats.connections == 2
            received: dict[bytes, str] = {}
            async with asyncio.timeout(GUARD_SECONDS):
                async for message in subscriber.messages:
                    # Every message on the topic it was published to (QoS 1: a resend may
                    # come twice, never elsewhere).
                    assert message.topic.value == message.payload.split(b"|", 1)[1].decode()
                    received[message.payload] = message.topic.value
                    if len(received) == len(plan):
                        break
    assert sorted(received) == sorted(payloads)
    # The aliases were used: the first half (one connection, no resends) took far fewer
    # bytes than the same PUBLISH packets with their topics.
    without_aliases = sum(
        unaliased_size(name, payload)
        for name, payload in zip(plan[:half], payloads[:half], strict=True)
    )
    assert sent_before < without_aliases * 0.75


def test_topic_alias_maximum_is_announced_in_connect() -> None:
    for client in (
        Client("localhost", topic_alias_maximum=5),
        Client("localhost", properties=Properties(topic_alias_maximum=5)),
    ):
        config = client._options.config
        assert config.topic_alias_maximum == 5
        assert config.connect_packet.properties.topic_alias_maximum == 5
    assert Client("localhost")._options.config.connect_packet.properties.topic_alias_maximum is None
