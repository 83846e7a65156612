"""``Client(strict_receive_maximum=...)``: what the client does when the broker sends more
unacknowledged QoS 1/2 messages than the Receive Maximum the client announced. Offline on a
scripted broker (virtual time), against the embedded broker, which keeps to it, and against
mosquitto 2.0.11, which does not with QoS 2."""

from __future__ import annotations

import asyncio
import logging

import pytest
from both_brokers import AnyBroker
from broker import Mosquitto
from client_helpers import GUARD_SECONDS, client_for, take
from memory_network import run_virtual
from scripted_broker import ScriptedBroker, client_on

from asyncmqtt import MqttError, Properties, Reconnect
from asyncmqtt.broker import Broker
from asyncmqtt.errors import ReceiveMaximumExceededError
from asyncmqtt.protocol.enums import DisconnectReasonCode
from asyncmqtt.protocol.packets import Disconnect, Publish, PubRec, PubRel

SMALL = Properties(receive_maximum=2)


def qos2(packet_id: int) -> Publish:
    return Publish("t", str(packet_id).encode(), 2, packet_id=packet_id)


def test_strict_by_default_the_client_disconnects_with_0x93() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, properties=SMALL)

    async def scenario() -> None:
        async with client:
            await client.subscribe("t", qos=2)
            broker.send(qos2(1), qos2(2), qos2(3))  # no PUBREL: three unacknowledged
            async for _message in client.messages:
                pass

    with pytest.raises(MqttError) as raised:
        run_virtual(scenario())
    assert isinstance(raised.value.__cause__, ReceiveMaximumExceededError)
    assert broker.received_of(Disconnect) == [
        Disconnect(DisconnectReasonCode.RECEIVE_MAXIMUM_EXCEEDED)
    ]
    assert client.stats.receive_maximum_exceeded == 0


def test_tolerant_delivers_counts_and_warns_once_per_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = ScriptedBroker()
    steady = Reconnect(initial_delay=1.0, max_delay=1.0, jitter=False)
    client = client_on(broker, properties=SMALL, strict_receive_maximum=False, reconnect=steady)
    caplog.set_level(logging.DEBUG, logger="asyncmqtt")

    async def scenario() -> list[bytes]:
        async with client:
            await client.subscribe("t", qos=2)
            broker.send(*(qos2(n) for n in (1, 2, 3, 4)))  # two over the limit
            payloads = [m.payload for m in await take(client.messages, 4)]
            broker.drop()  # a new connection warns again
            while client.is_connected:
                await asyncio.sleep(0)
            await client.connected()
            broker.send(*(qos2(n) for n in (5, 6, 7)))
            payloads += [m.payload for m in await take(client.messages, 3)]
            return payloads

    payloads, _ = run_virtual(scenario())
    assert payloads == [str(n).encode() for n in range(1, 8)]
    # Only the DISCONNECT of leaving the block: never 0x93.
    assert broker.received_of(Disconnect) == [Disconnect()]
    assert broker.received_of(PubRec) == [PubRec(n) for n in range(1, 8)]
    assert client.stats.receive_maximum_exceeded == 3
    reports = [r for r in caplog.records if "more than our Receive Maximum" in r.getMessage()]
    assert [r.levelno for r in reports] == [logging.WARNING, logging.DEBUG, logging.WARNING]
    first = reports[0].getMessage()
    assert "sent 3 unacknowledged QoS 1/2 messages, more than our Receive Maximum of 2" in first
    assert "(packet id 3)" in first and "strict_receive_maximum=False" in first
    assert "further ones on this connection are logged at DEBUG" in first
    assert "4 unacknowledged" in reports[1].getMessage()


def test_tolerant_is_silent_while_the_broker_keeps_to_the_limit() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, properties=SMALL, strict_receive_maximum=False)

    async def scenario() -> None:
        async with client:
            await client.subscribe("t", qos=2)
            for packet_id in (1, 2, 3, 4):
                broker.send(qos2(packet_id))
                await take(client.messages, 1)
                broker.send(PubRel(packet_id))

    run_virtual(scenario())
    assert client.stats.receive_maximum_exceeded == 0


def test_the_setting_is_checked() -> None:
    with pytest.raises(TypeError, match="strict_receive_maximum must be a bool"):
        client_on(ScriptedBroker(), strict_receive_maximum="no")  # type: ignore[arg-type]
    assert client_on(ScriptedBroker())._options.config.strict_receive_maximum is True


# ---------------------------------------------------------------- real brokers


async def flood(broker: AnyBroker, topic: str, count: int) -> None:
    """Publish ``count`` QoS 2 messages at once, from a client of their own."""
    async with client_for(broker) as publisher:
        await asyncio.gather(*(publisher.publish(topic, str(n), qos=2) for n in range(count)))


async def test_the_embedded_broker_keeps_to_a_small_receive_maximum(topic: str) -> None:
    """The embedded broker holds back what is beyond the client's Receive Maximum (MQTT 5,
    3.3.4): the strict client gets every message and never ends the connection. (Embedded
    only: mosquitto 2.0.11 goes beyond it, as the two tests below show.)"""
    async with Broker(port=0) as broker:
        subscriber = client_for(broker, properties=SMALL)
        async with subscriber:
            await subscriber.subscribe(topic, qos=2)
            await flood(broker, topic, 20)
            received = await take(subscriber.messages, 20)
            assert [int(m.payload) for m in received] == list(range(20))
            assert subscriber.stats.receive_maximum_exceeded == 0
            assert subscriber.is_connected


# mosquitto only, here and below: sending beyond the client's Receive Maximum is mosquitto
# 2.0.11's own failing (the embedded broker keeps to it: the test above).
async def test_mosquitto_goes_beyond_a_small_receive_maximum_strict_disconnects(
    mosquitto: Mosquitto, topic: str
) -> None:
    subscriber = client_for(mosquitto, properties=SMALL)
    with pytest.raises(MqttError) as raised:
        async with subscriber:
            await subscriber.subscribe(topic, qos=2)
            await flood(mosquitto, topic, 20)
            async with asyncio.timeout(GUARD_SECONDS):
                async for _message in subscriber.messages:
                    pass
    assert isinstance(raised.value.__cause__, ReceiveMaximumExceededError)
    assert subscriber.stats.receive_maximum_exceeded == 0


async def test_mosquitto_goes_beyond_a_small_receive_maximum_tolerant_delivers_all(
    mosquitto: Mosquitto, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    subscriber = client_for(mosquitto, properties=SMALL, strict_receive_maximum=False)
    async with subscriber:
        await subscriber.subscribe(topic, qos=2)
        await flood(mosquitto, topic, 20)
        received = await take(subscriber.messages, 20)
        assert sorted(int(m.payload) for m in received) == list(range(20))
        assert subscriber.stats.receive_maximum_exceeded > 0
        assert subscriber.is_connected
    warnings = [r for r in caplog.records if "more than our Receive Maximum of 2" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.WARNING]
