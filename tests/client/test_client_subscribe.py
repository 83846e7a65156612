"""Subscribing and unsubscribing: argument forms, MQTT 5 options, identifiers, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from both_brokers import AnyBroker
from broker import Mosquitto
from client_helpers import client_for, next_message, take
from fake_servers import FakeServer, FakeSession

from asyncmqtt import (
    Client,
    MqttCodeError,
    MqttError,
    MqttTimeoutError,
    Properties,
    ProtocolVersion,
    RetainHandling,
    SubAckReasonCode,
    SubscribeOptions,
    UnsubAckReasonCode,
    Wildcard,
)
from asyncmqtt.protocol.packets import SubAck, Subscribe, Subscription

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311


async def test_subscribe_forms_send_one_packet_each() -> None:
    subscribes: list[Subscribe] = []

    async def record(session: FakeSession) -> None:
        await session.accept()
        while (packet := await session.receive()) is not None:
            if isinstance(packet, Subscribe):
                subscribes.append(packet)
                session.send(SubAck(packet.packet_id, (0,) * len(packet.subscriptions)))

    options = SubscribeOptions(qos=2, no_local=True)
    async with FakeServer(record) as server, Client("127.0.0.1", server.port) as client:
        assert await client.subscribe("a/b") == (0,)
        await client.subscribe(Wildcard("a/+"), qos=1)
        await client.subscribe(("c/#", 2))
        await client.subscribe(("d", options))
        await client.subscribe("e", options=options)
        codes = await client.subscribe(["f", ("g", 1), (Wildcard("h/#"), options)], qos=1)
        assert codes == (0, 0, 0)
    assert [s.subscriptions for s in subscribes] == [
        (Subscription("a/b", 0),),
        (Subscription("a/+", 1),),
        (Subscription("c/#", 2),),
        (Subscription("d", 2, no_local=True),),
        (Subscription("e", 2, no_local=True),),
        (Subscription("f", 1), Subscription("g", 1), Subscription("h/#", 2, no_local=True)),
    ]


@pytest.mark.parametrize("protocol", [V311, V5])
async def test_granted_qos_per_filter(
    broker: AnyBroker, topic: str, protocol: ProtocolVersion
) -> None:
    async with client_for(broker, protocol=protocol) as client:
        codes = await client.subscribe([(f"{topic}/0", 0), (f"{topic}/1", 1), (f"{topic}/2", 2)])
        assert codes == (0, 1, 2)
        assert codes[2] is SubAckReasonCode.GRANTED_QOS_2


async def test_unsubscribe_returns_codes(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as client:
        await client.subscribe(f"{topic}/a")
        codes = await client.unsubscribe([f"{topic}/a", Wildcard(f"{topic}/never")])
        assert codes == (UnsubAckReasonCode.SUCCESS, UnsubAckReasonCode.NO_SUBSCRIPTION_EXISTED)
        # Unsubscribed: a QoS 1 publish now finds no subscriber.
        assert await client.publish(f"{topic}/a", "x", qos=1) == 0x10
    async with client_for(broker, protocol=V311) as client:
        await client.subscribe(f"{topic}/a")
        assert await client.unsubscribe(f"{topic}/a") == ()  # 3.1.1 UNSUBACK carries no codes


@pytest.mark.parametrize("protocol", [V311, V5])
async def test_refused_subscription_raises_with_the_codes(protocol: ProtocolVersion) -> None:
    refusal = 0x87 if protocol is V5 else 0x80

    async def refuse_second_filter(session: FakeSession) -> None:
        await session.accept()
        subscribe = await session.expect(Subscribe)
        session.send(SubAck(subscribe.packet_id, (1, refusal)))
        await session.serve()

    async with (
        FakeServer(refuse_second_filter) as server,
        Client("127.0.0.1", server.port, protocol=protocol) as client,
    ):
        with pytest.raises(MqttCodeError) as caught:
            await client.subscribe([("ok", 1), ("secret/#", 1)])
        assert caught.value.rc == (1, refusal)
        assert "'secret/#'" in str(caught.value)
        await client.publish("still/usable", qos=1)


async def test_a_first_level_wildcard_does_not_match_a_dollar_topic(
    broker: AnyBroker, topic: str
) -> None:
    # MQTT 5, 4.7.2: '+' or '#' at the first level never matches a topic beginning with '$'.
    rest = topic.split("/", 1)[1]
    async with client_for(broker) as client:
        await client.subscribe([(f"+/{rest}/#", 1), (f"${topic}/exact", 1)])
        await client.publish(f"${topic}/x", "wildcard must not match", qos=1)
        await client.publish(f"{topic}/x", "plain", qos=1)
        await client.publish(f"${topic}/exact", "named", qos=1)
        received = await take(client.messages, 2)
        assert [(m.topic.value, m.payload) for m in received] == [
            (f"{topic}/x", b"plain"),
            (f"${topic}/exact", b"named"),
        ]


async def test_no_local(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as client, client_for(broker) as other:
        await client.subscribe(topic, options=SubscribeOptions(qos=1, no_local=True))
        await client.publish(topic, "mine", qos=1)
        await other.publish(topic, "theirs", qos=1)
        # Our own message, published first, never came back.
        assert (await next_message(client.messages)).payload == b"theirs"


async def test_retain_handling_do_not_send(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as client:
        await client.publish(f"{topic}/r", "retained", qos=1, retain=True)
        await client.subscribe(
            f"{topic}/#", options=SubscribeOptions(retain_handling=RetainHandling.DO_NOT_SEND)
        )
        await client.publish(f"{topic}/live", "live", qos=1)
        assert (await next_message(client.messages)).payload == b"live"
        await client.publish(f"{topic}/r", None, qos=1, retain=True)


@pytest.mark.parametrize("as_published", [False, True])
async def test_retain_as_published(broker: AnyBroker, topic: str, as_published: bool) -> None:
    async with client_for(broker) as client:
        await client.subscribe(topic, options=SubscribeOptions(retain_as_published=as_published))
        await client.publish(topic, "live and retained", qos=1, retain=True)
        assert (await next_message(client.messages)).retain is as_published
        await client.publish(topic, None, qos=1, retain=True)


async def test_subscription_identifier(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as client:
        await client.subscribe(f"{topic}/a/+", properties=Properties(subscription_identifiers=(7,)))
        await client.subscribe(f"{topic}/b/#", properties=Properties(subscription_identifiers=(9,)))
        await client.publish(f"{topic}/a/x", "x")
        await client.publish(f"{topic}/b/y", "y")
        identifiers = [
            m.properties.subscription_identifiers for m in await take(client.messages, 2)
        ]
        assert identifiers == [(7,), (9,)]


# Client-side checks, the bad calls never reach the broker: on mosquitto alone.
async def test_options_need_mqtt5(mosquitto: Mosquitto, topic: str) -> None:
    async with client_for(mosquitto, protocol=V311) as client:
        with pytest.raises(ValueError, match="no_local"):
            await client.subscribe(topic, options=SubscribeOptions(no_local=True))
        with pytest.raises(ValueError, match=r"MQTT 5\.0"):
            await client.subscribe(topic, properties=Properties(subscription_identifiers=(1,)))
        assert await client.subscribe(topic, options=SubscribeOptions(qos=1)) == (1,)


# Client-side checks, the bad calls never reach the broker: on mosquitto alone.
@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        ({"topic": "a/#/b"}, ValueError, "#"),
        ({"topic": "a+"}, ValueError, "+"),
        ({"topic": ""}, ValueError, "empty"),
        ({"topic": 7}, TypeError, "topic"),
        ({"topic": []}, ValueError, "empty list"),
        ({"topic": [("a", 1, 2)]}, TypeError, "pair"),
        ({"topic": [("a", "1")]}, TypeError, "qos"),
        ({"topic": "a", "qos": 3}, ValueError, "qos=3"),
        ({"topic": "a", "options": {"qos": 1}}, TypeError, "SubscribeOptions"),
        ({"topic": "a", "qos": 1, "options": SubscribeOptions(qos=2)}, ValueError, "disagree"),
        ({"topic": "a", "properties": Properties(content_type="x")}, ValueError, "content_type"),
        (
            {"topic": "a", "properties": Properties(subscription_identifiers=(1, 2))},
            ValueError,
            "at most one",
        ),
        ({"topic": "$share/g/a", "options": SubscribeOptions(no_local=True)}, ValueError, "shared"),
        ({"topic": "a", "timeout": 0}, ValueError, "timeout"),
    ],
)
async def test_bad_subscribe_arguments(
    mosquitto: Mosquitto, topic: str, call: dict[str, Any], error: type, words: str
) -> None:
    async with client_for(mosquitto) as client:
        with pytest.raises(error) as caught:
            await client.subscribe(**call)
        assert words in str(caught.value)
        await client.subscribe(f"{topic}/ok")
        await client.publish(f"{topic}/ok", "usable")
        assert (await next_message(client.messages)).payload == b"usable"


# Client-side checks, the bad calls never reach the broker: on mosquitto alone.
@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        ({"topic": "a/#/b"}, ValueError, "#"),
        ({"topic": 7}, TypeError, "filter"),
        ({"topic": []}, ValueError, "empty list"),
        ({"topic": "a", "properties": Properties(reason_string="x")}, ValueError, "reason_string"),
    ],
)
async def test_bad_unsubscribe_arguments(
    mosquitto: Mosquitto, call: dict[str, Any], error: type, words: str
) -> None:
    async with client_for(mosquitto) as client:
        with pytest.raises(error) as caught:
            await client.unsubscribe(**call)
        assert words in str(caught.value)
        assert await client.unsubscribe("a") == (UnsubAckReasonCode.NO_SUBSCRIPTION_EXISTED,)


def test_bad_subscribe_options() -> None:
    with pytest.raises(ValueError, match="qos=3"):
        SubscribeOptions(qos=3)
    with pytest.raises(TypeError, match="no_local"):
        SubscribeOptions(no_local=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retain_handling=3"):
        SubscribeOptions(retain_handling=3)  # type: ignore[arg-type]
    assert SubscribeOptions(retain_handling=1).retain_handling is RetainHandling(1)  # type: ignore[arg-type]


# (Never connects: mosquitto's address alone, no second broker.)
async def test_subscribe_while_not_connected(mosquitto: Mosquitto) -> None:
    client = client_for(mosquitto)
    with pytest.raises(MqttError, match="not connected"):
        await client.subscribe("a")
    with pytest.raises(MqttError, match="not connected"):
        await client.unsubscribe("a")


async def test_subscribe_timeout() -> None:
    async def never_answer_subscribe(session: FakeSession) -> None:
        await session.accept()
        await session.until_closed()

    async with (
        FakeServer(never_answer_subscribe) as server,
        Client("127.0.0.1", server.port) as client,
    ):
        with pytest.raises(MqttTimeoutError, match="no answer from the broker"):
            await client.subscribe("a", timeout=0.1)
        with pytest.raises(MqttTimeoutError):
            await client.unsubscribe("a", timeout=0.1)


async def test_the_client_timeout_is_the_default_for_operations() -> None:
    async def never_answer(session: FakeSession) -> None:
        await session.accept()
        await session.until_closed()

    async with (
        FakeServer(never_answer) as server,
        Client("127.0.0.1", server.port, timeout=0.1) as client,
    ):
        with pytest.raises(MqttTimeoutError, match=r"after 0\.1 s"):
            await client.subscribe("a")
        with pytest.raises(MqttTimeoutError, match=r"after 0\.1 s"):
            await client.publish("a", qos=1)
