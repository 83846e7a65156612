"""Publishing: payload forms, QoS 0/1/2 round trips, negative acknowledgements, limits, timeouts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from both_brokers import AnyBroker, MakeBroker
from broker import Mosquitto
from client_helpers import client_for, next_message
from fake_servers import FakeServer, FakeSession

from asyncmqtt import (
    Client,
    MqttCodeError,
    MqttError,
    MqttTimeoutError,
    Properties,
    ProtocolVersion,
    PubAckReasonCode,
    PublishWithdrawnError,
    Topic,
)
from asyncmqtt.errors import ConnectionLostError
from asyncmqtt.protocol.packets import PubAck, Publish, SubAck, Subscribe

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311
BOTH = pytest.mark.parametrize("protocol", [V311, V5])


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("text ✓", "text ✓".encode()),
        (b"\x00\xffbytes", b"\x00\xffbytes"),
        (bytearray(b"array"), b"array"),
        (42, b"42"),
        (-1.5, b"-1.5"),
        (True, b"True"),
        (None, b""),
    ],
)
async def test_payload_encoding(
    broker: AnyBroker, topic: str, payload: Any, expected: bytes
) -> None:
    async with client_for(broker) as client:
        await client.subscribe(topic)
        await client.publish(topic, payload)
        message = await next_message(client.messages)
        assert message.payload == expected


@BOTH
@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_round_trip_at_each_qos(
    broker: AnyBroker, topic: str, protocol: ProtocolVersion, qos: int
) -> None:
    async with client_for(broker, protocol=protocol) as client:
        assert await client.subscribe(f"{topic}/#", qos=2) == (2,)
        result = await client.publish(Topic(f"{topic}/t"), f"qos {qos}", qos=qos)
        assert result is None if qos == 0 else result in (0, 0x10)
        message = await next_message(client.messages)
        assert message.topic == Topic(f"{topic}/t")
        assert message.payload == f"qos {qos}".encode()
        assert message.qos == qos
        assert message.retain is False
        assert (message.mid == 0) == (qos == 0)


async def test_publish_returns_the_reason_code(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as client:
        # MQTT 5: a QoS 1 publish nobody subscribed to is acknowledged with 0x10.
        assert await client.publish(topic, "x", qos=1) == PubAckReasonCode.NO_MATCHING_SUBSCRIBERS
        await client.subscribe(topic)
        assert await client.publish(topic, "x", qos=1) == PubAckReasonCode.SUCCESS


async def test_retained_message(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as publisher:
        await publisher.publish(topic, "kept", qos=1, retain=True)
    async with client_for(broker) as subscriber:
        await subscriber.subscribe(topic)
        message = await next_message(subscriber.messages)
        assert (message.payload, message.retain) == (b"kept", True)
    async with client_for(broker) as publisher:
        await publisher.publish(topic, None, qos=1, retain=True)  # clears it


async def test_publish_properties_round_trip(broker: AnyBroker, topic: str) -> None:
    properties = Properties(
        payload_format_indicator=1,
        message_expiry_interval=60,
        content_type="text/plain",
        response_topic=f"{topic}/reply",
        correlation_data=b"\x01\x02",
        user_properties=(("k", "v"), ("k", "w")),
    )
    async with client_for(broker) as client:
        await client.subscribe(topic)
        await client.publish(topic, "hi", qos=1, properties=properties)
        received = (await next_message(client.messages)).properties
        assert received.content_type == "text/plain"
        assert received.response_topic == f"{topic}/reply"
        assert received.correlation_data == b"\x01\x02"
        assert received.user_properties == (("k", "v"), ("k", "w"))
        assert received.payload_format_indicator == 1
        assert received.message_expiry_interval is not None
        assert 0 < received.message_expiry_interval <= 60


@pytest.mark.parametrize("qos", [1, 2])
async def test_negative_acknowledgement_raises(make_broker: MakeBroker, qos: int) -> None:
    broker = await make_broker(users={"alice": "pw"}, allowed_topics=["allowed/#"])
    async with client_for(broker, username="alice", password="pw") as client:
        with pytest.raises(MqttCodeError) as caught:
            await client.publish("denied/topic", "no", qos=qos)
        assert caught.value.rc == 0x87
        assert "refused the publish to 'denied/topic'" in str(caught.value)
        # The connection is still usable.
        await client.publish("allowed/topic", "yes", qos=qos)


async def test_payload_above_the_broker_maximum_raises_before_sending(
    make_broker: MakeBroker, topic: str
) -> None:
    broker = await make_broker(maximum_packet_size=1000)
    async with client_for(broker) as client:
        assert client.server.maximum_packet_size == 1000
        await client.subscribe(topic)
        for qos in (0, 1):
            with pytest.raises(ValueError, match="maximum packet size of 1000"):
                await client.publish(topic, b"x" * 2000, qos=qos)
        # Nothing was sent: the next message is the next one published.
        await client.publish(topic, "small", qos=1)
        assert (await next_message(client.messages)).payload == b"small"


# Client-side checks, the bad calls never reach the broker: on mosquitto alone.
@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        ({"topic": "a/+"}, ValueError, "wildcard"),
        ({"topic": "a/#"}, ValueError, "wildcard"),
        ({"topic": ""}, ValueError, "empty"),
        ({"topic": 5}, TypeError, "topic"),
        ({"topic": b"bytes"}, TypeError, "topic"),
        ({"payload": [1, 2]}, TypeError, "payload"),
        ({"payload": object()}, TypeError, "payload"),
        ({"qos": 3}, ValueError, "qos=3"),
        ({"qos": -1}, ValueError, "qos=-1"),
        ({"qos": "1"}, TypeError, "qos"),
        ({"retain": 1}, TypeError, "retain"),
        ({"properties": {"content_type": "x"}}, TypeError, "Properties"),
        ({"properties": Properties(session_expiry_interval=5)}, ValueError, "session_expiry"),
        ({"properties": Properties(subscription_identifiers=(3,))}, ValueError, "subscription"),
        ({"properties": Properties(topic_alias=100)}, ValueError, "topic alias maximum"),
        ({"timeout": -1}, ValueError, "timeout"),
    ],
)
async def test_bad_publish_arguments(
    mosquitto: Mosquitto, topic: str, call: dict[str, Any], error: type, words: str
) -> None:
    arguments = {"topic": f"{topic}/ok", "payload": "p", "qos": 1, **call}
    async with client_for(mosquitto) as client:
        await client.subscribe(f"{topic}/#")
        with pytest.raises(error) as caught:
            await client.publish(**arguments)
        assert words in str(caught.value)
        # Nothing was sent and the connection is still usable.
        await client.publish(f"{topic}/ok", "after", qos=1)
        assert (await next_message(client.messages)).payload == b"after"


# Client-side checks, the bad calls never reach the broker: on mosquitto alone.
async def test_properties_need_mqtt5(mosquitto: Mosquitto, topic: str) -> None:
    async with client_for(mosquitto, protocol=V311) as client:
        with pytest.raises(ValueError, match=r"need MQTT 5\.0"):
            await client.publish(topic, "x", properties=Properties(content_type="a"))


# (Never connects: mosquitto's address alone, no second broker.)
async def test_publish_while_not_connected(mosquitto: Mosquitto, topic: str) -> None:
    client = client_for(mosquitto)
    with pytest.raises(MqttError, match="not connected"):
        await client.publish(topic, "x")
    # Bad input is still reported as such.
    with pytest.raises(ValueError, match="wildcard"):
        await client.publish("a/#", "x")


# ---------------------------------------------------------------- flow control and timeouts


def never_acknowledge(receive_maximum: int) -> Any:
    """Accept with the given Receive Maximum, then read everything and answer nothing."""

    async def handler(session: FakeSession) -> None:
        await session.accept(properties=Properties(receive_maximum=receive_maximum))
        await session.until_closed()

    return handler


async def test_timeout_before_writing_withdraws_the_publish() -> None:
    async with FakeServer(never_acknowledge(1)) as server, Client("127.0.0.1", server.port) as c:
        first = asyncio.create_task(c.publish("t/first", "1", qos=1, timeout=5))
        await asyncio.sleep(0)  # let it write the only slot's PUBLISH
        with pytest.raises(PublishWithdrawnError) as caught:
            await c.publish("t/second", "2", qos=1, timeout=0.1)
        assert "before it was written" in str(caught.value)
        assert c._session.pending_count == 0  # withdrawn from the session
        first.cancel()
    published = [p.topic for p in server.sessions[0].received if isinstance(p, Publish)]
    assert published == ["t/first"]


async def test_timeout_after_writing_keeps_the_publish() -> None:
    async with FakeServer(never_acknowledge(10)) as server, Client("127.0.0.1", server.port) as c:
        with pytest.raises(MqttTimeoutError) as caught:
            await c.publish("t/written", "1", qos=1, timeout=0.1)
        assert isinstance(caught.value, TimeoutError)
        assert "already written" in str(caught.value)
        assert "stays in the session" in str(caught.value)
        assert c._session.inflight_count == 1


async def test_cancelling_an_unwritten_publish_withdraws_it() -> None:
    async with FakeServer(never_acknowledge(1)) as server, Client("127.0.0.1", server.port) as c:
        first = asyncio.create_task(c.publish("t/first", "1", qos=2))
        second = asyncio.create_task(c.publish("t/second", "2", qos=2))
        await asyncio.sleep(0)
        assert c._session.pending_count == 1
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        assert c._session.pending_count == 0
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert c._session.inflight_count == 1  # written: it stays in the session


async def test_lost_connection_fails_waiting_publishes() -> None:
    async def accept_then_close_after_two(session: FakeSession) -> None:
        await session.accept(properties=Properties(receive_maximum=1))
        await session.expect(Publish)

    async with FakeServer(accept_then_close_after_two) as server:
        client = Client("127.0.0.1", server.port)
        async with client:
            first = asyncio.create_task(client.publish("t/first", "1", qos=1))
            second = asyncio.create_task(client.publish("t/second", "2", qos=1))
            results = await asyncio.gather(first, second, return_exceptions=True)
            assert isinstance(results[0], ConnectionLostError)
            assert "already written" in str(results[0])
            assert isinstance(results[1], PublishWithdrawnError)
            assert "withdrawn" in str(results[1])
        # The block saw the loss, so leaving it raises nothing more.
        assert not client.is_connected


async def test_max_inflight_messages_holds_back_publishes() -> None:
    arrived: asyncio.Queue[Publish] = asyncio.Queue()

    async def record_then_acknowledge_on_request(session: FakeSession) -> None:
        await session.accept()
        while (packet := await session.receive()) is not None:
            if isinstance(packet, Publish):
                arrived.put_nowait(packet)

    async with (
        FakeServer(record_then_acknowledge_on_request) as server,
        Client("127.0.0.1", server.port, max_inflight_messages=2) as client,
    ):
        tasks = [asyncio.create_task(client.publish(f"t/{n}", "x", qos=1)) for n in range(3)]
        await asyncio.sleep(0)
        await client.publish("t/barrier", "qos 0 goes straight out")
        order = [(await arrived.get()).topic for _ in range(3)]
        # The third QoS 1 publish waited for a slot: the QoS 0 barrier overtook it.
        assert order == ["t/0", "t/1", "t/barrier"]
        session = server.sessions[0]
        session.send(PubAck(1))
        assert (await arrived.get()).topic == "t/2"
        session.send(PubAck(2), PubAck(3))
        assert await asyncio.gather(*tasks[:2]) == [0, 0]
        assert await tasks[2] == 0


async def test_max_queued_outgoing_messages() -> None:
    async with (
        FakeServer(never_acknowledge(1)) as server,
        Client("127.0.0.1", server.port, max_queued_outgoing_messages=1) as client,
    ):
        tasks = [asyncio.create_task(client.publish(f"t/{n}", "x", qos=1)) for n in range(2)]
        await asyncio.sleep(0)  # one written, one waiting for the broker's receive maximum
        # A full queue holds the publish back (it waits for room, within its timeout) ...
        with pytest.raises(PublishWithdrawnError, match="room in the outgoing queue"):
            await client.publish("t/2", "x", qos=1, timeout=0.05)
        # ... and publish_nowait, which cannot wait, says so at once.
        with pytest.raises(MqttError, match="outgoing queue is full"):
            client.publish_nowait("t/2", "x", qos=1)
        assert client._session.pending_count == 1  # neither was queued
        waiting = asyncio.create_task(client.publish("t/3", "x", qos=1, timeout=5))
        await asyncio.sleep(0)
        tasks[1].cancel()  # withdrawn: room again, and the publish waiting for it goes on
        with pytest.raises(asyncio.CancelledError):
            await tasks[1]
        await asyncio.sleep(0)
        [queued] = client._session.pending or []
        assert queued.packet.topic == "t/3" and not waiting.done()
        for task in (tasks[0], waiting):
            task.cancel()


async def test_max_concurrent_outgoing_calls() -> None:
    subscribed = asyncio.Event()

    async def hold_suback(session: FakeSession) -> None:
        await session.accept()
        subscribe = await session.expect(Subscribe)
        subscribed.set()
        # Answer the SUBSCRIBE only when the test says so, then read the rest.
        await release.wait()
        session.send(SubAck(subscribe.packet_id, (0,)))
        await session.serve()

    release = asyncio.Event()
    async with (
        FakeServer(hold_suback) as server,
        Client("127.0.0.1", server.port, max_concurrent_outgoing_calls=1) as client,
    ):
        subscribing = asyncio.create_task(client.subscribe("t/x"))
        await subscribed.wait()
        publishing = asyncio.create_task(client.publish("t/y", "x"))
        for _ in range(5):
            await asyncio.sleep(0)
        # A QoS 0 publish finishes in one step when it may go; here it waits for the call slot.
        assert not publishing.done()
        release.set()
        await subscribing
        await publishing
    kinds = [type(p).__name__ for p in server.sessions[0].received]
    assert kinds.index("Subscribe") < kinds.index("Publish")


async def test_qos0_waits_while_the_write_buffer_is_full() -> None:
    reading = asyncio.Event()

    async def stop_reading_after_connack(session: FakeSession) -> None:
        await session.accept()
        await reading.wait()
        await session.until_closed()

    async with (
        FakeServer(stop_reading_after_connack) as server,
        Client("127.0.0.1", server.port, timeout=0.2) as client,
    ):
        chunk = b"x" * 262_144
        with pytest.raises(PublishWithdrawnError) as caught:
            for _ in range(400):  # at most 100 MB; the socket buffers fill long before
                await client.publish("t/big", chunk)
        assert "write buffer" in str(caught.value)
        assert "nothing was written" in str(caught.value)
        # Once the peer reads again, publishing proceeds.
        reading.set()
        await client.publish("t/big", chunk, timeout=30)
