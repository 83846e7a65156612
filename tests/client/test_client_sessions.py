"""Persistent sessions: messages kept for an absent client, in-flight publishes across entries."""

from __future__ import annotations

import pytest
from both_brokers import AnyBroker, MakeBroker, restart
from client_helpers import client_for, take
from fake_servers import FakeServer, FakeSession

from asyncmqtt import Client, ConnectionLostError, Properties, ProtocolVersion
from asyncmqtt.protocol.packets import PubAck, Publish

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311


def persistent_options(protocol: ProtocolVersion, style: str) -> dict[str, object]:
    if style == "clean_session":  # the seeds' way, for both versions
        return {"protocol": protocol, "clean_session": False}
    # The MQTT 5 way: resume any stored session, and keep it for a while after disconnecting.
    # (The default clean_start, "first only", would start a new Client object clean.)
    return {
        "protocol": protocol,
        "clean_start": False,
        "properties": Properties(session_expiry_interval=300),
    }


@pytest.mark.parametrize(
    ("protocol", "style"),
    [(V311, "clean_session"), (V5, "clean_session"), (V5, "session_expiry")],
)
async def test_messages_published_while_away_arrive_after_reconnecting(
    broker: AnyBroker, topic: str, protocol: ProtocolVersion, style: str
) -> None:
    identifier = f"persistent-{protocol}-{style}-{topic.replace('/', '-')}"
    options = persistent_options(protocol, style)
    subscriber = client_for(broker, identifier=identifier, **options)
    async with subscriber:
        await subscriber.subscribe(topic, qos=1)
    async with client_for(broker) as publisher:
        for number in range(5):
            await publisher.publish(topic, number, qos=1 + number % 2)
    # The same Client object again, and a new one with the same identifier: both resume.
    async with subscriber:
        assert subscriber.session_present
        assert [int(m.payload) for m in await take(subscriber.messages, 5)] == list(range(5))
    async with client_for(broker) as publisher:
        await publisher.publish(topic, "for the new object", qos=1)
    async with client_for(broker, identifier=identifier, **options) as again:
        assert again.session_present
        assert [m.payload for m in await take(again.messages, 1)] == [b"for the new object"]


async def test_clean_session_true_forgets(broker: AnyBroker, topic: str) -> None:
    identifier = f"forgetful-{topic.replace('/', '-')}"
    async with client_for(broker, identifier=identifier, clean_session=False) as client:
        await client.subscribe(topic, qos=1)
    async with client_for(broker, identifier=identifier, clean_session=True) as client:
        assert not client.session_present
        assert await client.publish(topic, "x", qos=1) == 0x10  # the subscription is gone


async def test_session_survives_a_broker_restart(make_broker: MakeBroker, topic: str) -> None:
    broker = await make_broker(persistence=True)
    subscriber = client_for(broker, identifier="survivor", clean_session=False)
    async with subscriber:
        await subscriber.subscribe(topic, qos=1)
    async with client_for(broker) as publisher:
        await publisher.publish(topic, "before the restart", qos=1)
    await restart(broker)
    async with client_for(broker) as publisher:
        await publisher.publish(topic, "after the restart", qos=2)
    async with subscriber:
        assert subscriber.session_present
        payloads = [m.payload for m in await take(subscriber.messages, 2)]
        assert payloads == [b"before the restart", b"after the restart"]


async def test_broker_restart_during_a_block_ends_it_and_reentry_resumes(
    make_broker: MakeBroker, topic: str
) -> None:
    """Seed 004's reconnect loop: MqttError out of the block, then enter the client again."""
    broker = await make_broker(persistence=True)
    client = client_for(broker, identifier="reconnecting", clean_session=False)
    async with client:
        await client.subscribe(topic, qos=1)
    with pytest.raises(ConnectionLostError):
        async with client:
            await restart(broker)
            await client._link.closed  # type: ignore[union-attr]
    async with client:
        assert client.session_present
        await client.publish(topic, "resumed", qos=1)
        assert [m.payload for m in await take(client.messages, 1)] == [b"resumed"]


async def test_in_flight_publish_is_resent_when_the_client_enters_again() -> None:
    """The protocol core lasts across entries: a QoS 1 publish written before the connection
    was lost is sent again (DUP set) on the next entry, and completes there."""

    async def lose_first_then_resume(session: FakeSession) -> None:
        first_time = len(server.sessions) == 1
        await session.accept(session_present=not first_time)
        publish = await session.expect(Publish)
        if first_time:
            return  # drop the connection without acknowledging
        assert publish.dup and publish.topic == "t/important"
        session.send(PubAck(publish.packet_id))  # type: ignore[arg-type]
        await session.serve()

    async with FakeServer(lose_first_then_resume) as server:
        client = Client("127.0.0.1", server.port, identifier="resender", clean_start=False)
        async with client:
            with pytest.raises(ConnectionLostError, match="stays in the session"):
                await client.publish("t/important", "must arrive", qos=1)
        assert client._session.inflight_count == 1
        async with client:
            # The broker answers in order: once this later publish is acknowledged, the
            # acknowledgement of the resent one has been handled too.
            await client.publish("t/marker", "after", qos=1)
            assert client._session.inflight_count == 0
    resent = server.sessions[1].received[1]
    assert isinstance(resent, Publish) and resent.payload == b"must arrive"
