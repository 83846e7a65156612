"""The embedded broker against asyncmqtt.Client: QoS 0/1/2 both ways, order, retained messages,
wills, persistent sessions, shared subscriptions and messages from the broker itself.

Every test has a broker of its own (the ``broker`` fixture: TCP on a free port of 127.0.0.1).
These run on the default loop and on uvloop.
"""

from __future__ import annotations

import asyncio

import pytest
from embedded_helpers import CoreClient, receive

from asyncmqtt import Client, ProtocolVersion, Will
from asyncmqtt.broker import Broker
from asyncmqtt.protocol.events import Connected
from asyncmqtt.protocol.packets import WillMessage
from asyncmqtt.protocol.properties import Properties

pytestmark = pytest.mark.all_event_loops

V311, V5 = ProtocolVersion.V311, ProtocolVersion.V5


def client(broker: Broker, **options: object) -> Client:
    return Client(broker.host, broker.port, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", [V311, V5], ids=["3.1.1", "5.0"])
@pytest.mark.parametrize("published", [0, 1, 2])
@pytest.mark.parametrize("granted", [0, 1, 2])
async def test_every_qos_both_ways_in_order(
    broker: Broker, protocol: ProtocolVersion, published: int, granted: int
) -> None:
    async with (
        client(broker, protocol=protocol) as subscriber,
        client(broker, protocol=protocol) as publisher,
    ):
        assert await subscriber.subscribe("sensors/+/temperature", qos=granted) == (granted,)
        results = [
            await publisher.publish(f"sensors/{room}/temperature", f"{n}", qos=published)
            for n, room in enumerate(["kitchen", "hall"] * 5)
        ]
        received = await receive(subscriber, 10)

    assert results == ([None] * 10 if published == 0 else [0] * 10)
    # QoS = min(published, granted); in the order published.
    assert [m.qos for m in received] == [min(published, granted)] * 10
    assert [m.payload for m in received] == [str(n).encode() for n in range(10)]
    assert [str(m.topic) for m in received[:2]] == [
        "sensors/kitchen/temperature",
        "sensors/hall/temperature",
    ]


async def test_a_burst_of_messages_arrives_whole_and_in_order(broker: Broker) -> None:
    async with client(broker) as subscriber, client(broker) as publisher:
        await subscriber.subscribe("burst", qos=1)
        await asyncio.gather(*(publisher.publish("burst", n, qos=1) for n in range(500)))
        received = await receive(subscriber, 500)
    assert [m.payload for m in received] == [str(n).encode() for n in range(500)]


@pytest.mark.parametrize("protocol", [V311, V5], ids=["3.1.1", "5.0"])
async def test_retained_messages_are_kept_replaced_and_cleared(
    broker: Broker, protocol: ProtocolVersion
) -> None:
    async with client(broker, protocol=protocol) as publisher:
        await publisher.publish("status/door", "open", qos=1, retain=True)
        await publisher.publish("status/door", "closed", qos=1, retain=True)
        await publisher.publish("status/light", "on", qos=1, retain=True)
        async with client(broker, protocol=protocol) as late:
            await late.subscribe("status/#", qos=1)
            received = await receive(late, 2)
        assert sorted((str(m.topic), m.payload, m.retain) for m in received) == [
            ("status/door", b"closed", True),
            ("status/light", b"on", True),
        ]
        await publisher.publish("status/door", b"", qos=1, retain=True)  # clears it
    assert set(broker.core.retained) == {"status/light"}


async def test_a_will_is_published_when_a_client_vanishes(broker: Broker) -> None:
    async with client(broker) as watcher:
        await watcher.subscribe("clients/+/status", qos=1)
        doomed = await CoreClient.open(
            broker,
            client_id="doomed",
            will=WillMessage("clients/doomed/status", b"gone", qos=1, retain=True),
        )
        await doomed.next_event(Connected)
        doomed.abort()  # no DISCONNECT: the network connection just breaks
        (message,) = await receive(watcher, 1)
    assert (str(message.topic), message.payload, message.qos) == (
        "clients/doomed/status",
        b"gone",
        1,
    )
    assert broker.stats.wills_published == 1
    assert broker.core.retained["clients/doomed/status"].payload == b"gone"


async def test_a_will_given_to_the_client_is_not_published_on_a_normal_disconnect(
    broker: Broker,
) -> None:
    async with client(broker) as watcher:
        await watcher.subscribe("wills/#")
        async with client(broker, will=Will("wills/w", "gone")):
            pass
        await watcher.publish("wills/marker", "after")
        (message,) = await receive(watcher, 1)
    assert message.payload == b"after"
    assert broker.stats.wills_published == 0


async def test_a_will_delay_lets_a_client_come_back_first(broker: Broker) -> None:
    will = WillMessage("delayed/will", b"gone", properties=Properties(will_delay_interval=60))
    session = Properties(session_expiry_interval=300)
    first = await CoreClient.open(
        broker, client_id="back", clean_start=False, will=will, properties=session
    )
    await first.next_event(Connected)
    first.abort()
    await first.wait_lost()
    second = await CoreClient.open(broker, client_id="back", clean_start=False, properties=session)
    connected = await second.next_event(Connected)
    await second.close()
    assert connected.connack.session_present
    assert broker.stats.wills_published == 0


@pytest.mark.parametrize("protocol", [V311, V5], ids=["3.1.1", "5.0"])
async def test_a_persistent_session_gets_what_was_published_while_it_was_away(
    broker: Broker, protocol: ProtocolVersion
) -> None:
    persistent = client(broker, identifier="keeper", clean_session=False, protocol=protocol)
    async with persistent:
        assert not persistent.session_present
        await persistent.subscribe("orders/#", qos=2)
    async with client(broker, protocol=protocol) as publisher:
        for n in range(3):
            await publisher.publish(f"orders/{n}", n, qos=1 + n % 2)
        await publisher.publish("orders/qos0", "not queued", qos=0)
    assert broker.core.sessions["keeper"].state.pending_count == 3  # (QoS 0 is not queued)
    async with persistent:
        assert persistent.session_present
        received = await receive(persistent, 3)
    assert [(str(m.topic), m.qos) for m in received] == [
        ("orders/0", 1),
        ("orders/1", 2),
        ("orders/2", 1),
    ]


async def test_a_clean_start_ends_the_old_session(broker: Broker) -> None:
    async with client(broker, identifier="fresh", clean_session=False) as first:
        await first.subscribe("x")
    assert "fresh" in broker.core.sessions
    async with client(broker, identifier="fresh", clean_session=True) as second:
        assert not second.session_present
        assert not broker.core.sessions["fresh"].state.subscriptions


async def test_shared_subscriptions_take_turns(broker: Broker) -> None:
    async with (
        client(broker) as one,
        client(broker) as two,
        client(broker) as publisher,
    ):
        await one.subscribe("$share/workers/jobs", qos=1)
        await two.subscribe("$share/workers/jobs", qos=1)
        for n in range(6):
            await publisher.publish("jobs", n, qos=1)
        first, second = await asyncio.gather(receive(one, 3), receive(two, 3))
    assert sorted(m.payload for m in first + second) == [str(n).encode() for n in range(6)]


async def test_messages_from_the_broker_itself(broker: Broker) -> None:
    with pytest.raises(RuntimeError, match="not running"):
        Broker(port=0).publish("a", "b")
    async with client(broker) as subscriber:
        await subscriber.subscribe("announcements", qos=1)
        assert broker.publish("announcements", "hello", qos=1) == 1
        assert broker.publish("nobody/listens", 42) == 0
        broker.publish("config/site", {"x": 1}.__repr__(), retain=True)
        (message,) = await receive(subscriber, 1)
    assert (message.payload, message.qos) == (b"hello", 1)
    assert broker.core.retained["config/site"].payload == b"{'x': 1}"
    with pytest.raises(ValueError, match="wildcard"):
        broker.publish("a/#", "no")


async def test_the_broker_disconnects_a_client(broker: Broker) -> None:
    victim = await CoreClient.open(broker, client_id="victim")
    await victim.next_event(Connected)
    assert broker.disconnect("nobody") is False
    assert broker.disconnect("victim", 0x98) is True
    await victim.wait_lost()
    assert "victim" not in broker.core.clients
