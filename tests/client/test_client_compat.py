"""Code written for aiomqtt 2.x and asyncio-mqtt 0.x keeps working: the call form of
client.messages(), str topics in the 0.x streams, MqttConnectError's code, discarded messages
counted, a 3.1.1 broker's odd SUBACK codes."""

from __future__ import annotations

import asyncio
import logging

import pytest
from both_brokers import AnyBroker, MakeBroker
from broker import Mosquitto
from client_helpers import client_for, next_message, take
from fake_servers import FakeServer, FakeSession

from asyncmqtt import (
    Client,
    MqttCodeError,
    MqttConnectError,
    ProtocolVersion,
    Topic,
)
from asyncmqtt.protocol.enums import ConnAckReasonCode, ConnectReturnCode
from asyncmqtt.protocol.packets import Subscribe

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311


# ---------------------------------------------------------------- client.messages() (0.12-0.16)


async def test_messages_called_is_a_stream_of_every_message(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as client:
        async with client.messages() as everything, client.filtered_messages(f"{topic}/a") as a:
            await client.subscribe(f"{topic}/#")
            await client.publish(f"{topic}/a", "1")
            await client.publish(f"{topic}/b", "2")
            assert [m.payload for m in await take(everything, 2)] == [b"1", b"2"]
            assert (await next_message(a)).payload == b"1"  # the filtered one gets it too
        # After the block the stream is closed; client.messages works as aiomqtt 2's stream.
        await client.publish(f"{topic}/c", "3")
        assert (await next_message(client.messages)).payload == b"3"


async def test_messages_called_takes_queue_maxsize_and_queue_class(
    broker: AnyBroker, topic: str
) -> None:
    async with client_for(broker) as client:
        async with client.messages(queue_maxsize=2, queue_class=asyncio.LifoQueue) as messages:
            await client.subscribe(topic, qos=1)
            for number in range(5):
                await client.publish(topic, number, qos=1)
            assert len(messages) <= 2  # the bound holds; the rest waits, unacknowledged
            received = [int((await next_message(messages)).payload) for _ in range(5)]
        assert sorted(received) == list(range(5))
        with pytest.raises(TypeError, match="queue_maxsize must be an int"):
            client.messages(queue_maxsize="2")  # type: ignore[arg-type]


# ---------------------------------------------------------------- str topics in 0.x streams


async def test_topics_in_the_0x_streams_are_str_and_offer_topics_methods(
    broker: AnyBroker, topic: str
) -> None:
    async with (
        client_for(broker) as client,
        client.filtered_messages(f"{topic}/+") as filtered,
        client.unfiltered_messages() as unfiltered,
        client.messages() as everything,
    ):
        await client.subscribe(f"{topic}/#")
        await client.publish(f"{topic}/a", "x")
        await client.publish(f"{topic}/b/c", "y")
        for stream in (filtered, unfiltered, everything):
            message = await next_message(stream)
            assert isinstance(message.topic, str)
            assert message.topic in (f"{topic}/a", f"{topic}/b/c")
            assert message.topic.split("/")[:1] == ["test"]
            assert message.topic[:5] == "test/"
            assert message.topic.value == str(message.topic)
            assert message.topic.matches(f"{topic}/#")
    # aiomqtt 2's stream keeps Topic.
    async with client_for(broker) as client:
        await client.subscribe(topic)
        await client.publish(topic, "z")
        message = await next_message(client.messages)
        assert isinstance(message.topic, Topic) and message.topic == Topic(topic)
        assert message.topic != topic  # (as in aiomqtt: a Topic is not equal to a str)


# ---------------------------------------------------------------- MqttConnectError


@pytest.mark.parametrize(
    ("protocol", "code"),
    [
        (V311, ConnectReturnCode.NOT_AUTHORIZED),
        (V5, ConnAckReasonCode.NOT_AUTHORIZED),
    ],
)
async def test_a_refused_connection_is_an_mqtt_code_error_with_the_connack_code(
    make_broker: MakeBroker, protocol: ProtocolVersion, code: int
) -> None:
    # (mosquitto 2.0.11 answers a wrong password with "not authorized", in either version;
    # the embedded broker's authenticate hook in both_brokers.py answers as it does.)
    broker = await make_broker(users={"alice": "secret"})
    client = client_for(broker, username="alice", password="wrong", protocol=protocol)
    with pytest.raises(MqttCodeError) as caught:
        async with client:
            pass
    error = caught.value
    assert isinstance(error, MqttConnectError)
    assert error.rc == code and error.stage == "connack"
    assert error.address.endswith(f":{broker.port}")


async def test_a_connect_failure_before_connack_has_no_code() -> None:
    with pytest.raises(MqttCodeError) as caught:
        async with Client("127.0.0.1", 1, timeout=2):  # (nothing listens on port 1)
            pass
    assert isinstance(caught.value, MqttConnectError) and caught.value.rc is None
    assert "[code" not in str(caught.value)


# ---------------------------------------------------------------- discarded messages


async def test_discarded_messages_are_counted_and_warned_about_at_a_bounded_rate(
    mosquitto: Mosquitto, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncmqtt")
    async with client_for(mosquitto) as client:
        async with client.filtered_messages(f"{topic}/wanted") as wanted:
            await client.subscribe(f"{topic}/#")
            for number in range(3):
                await client.publish(f"{topic}/unwanted", number)
            await client.publish(f"{topic}/wanted", "w")
            await next_message(wanted)  # (sent after the others: they have been routed)
        assert client.stats.messages_discarded == 3
    discards = [r for r in caplog.records if "discarded" in r.getMessage()]
    levels = [r.levelno for r in discards]
    # The first at once, the others within the interval at DEBUG, then a summary when the
    # connection ended: every discard reaches a WARNING.
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG, logging.WARNING]
    assert "discarded 2 more messages that no stream wanted (3 in all)" in discards[-1].message


# ---------------------------------------------------------------- a 3.1.1 broker's SUBACK


async def test_a_311_suback_code_311_does_not_define_refuses_that_filter_only() -> None:
    async def refuse_with_a_5_0_code(session: FakeSession) -> None:
        await session.accept()
        subscribe = await session.expect(Subscribe)
        # ejabberd 23.01 sends MQTT 5's 0x8F (topic filter invalid) to 3.1.1 clients.
        session.send_bytes(b"\x90\x04" + subscribe.packet_id.to_bytes(2) + b"\x01\x8f")
        await session.serve()

    async with (
        FakeServer(refuse_with_a_5_0_code) as server,
        Client("127.0.0.1", server.port, protocol=V311) as client,
    ):
        with pytest.raises(MqttCodeError) as caught:
            await client.subscribe([("ok", 1), ("bad", 1)])
        assert caught.value.rc == (1, 0x8F)
        assert client.is_connected  # the connection stays up
        assert await client.publish("after", "x", qos=1) == 0
