"""Shared subscriptions (``$share/{group}/{filter}``) end to end, through mosquitto and through
the embedded broker: each message goes to one member of the group and every message arrives,
round robin; a member that leaves has its share taken over; a persistent member gets back what
it had not acknowledged; and the client's streams match a message against a shared filter by
its inner filter. What the two brokers do differently (a persistent member while it is offline,
retained messages) is asserted for each, as docs/shared-subscriptions.md tells it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from both_brokers import AnyBroker
from client_helpers import next_message, take

from asyncmqtt import Client, Message, Properties, ProtocolVersion
from asyncmqtt.broker import Broker


@pytest.fixture
def server(broker: AnyBroker, broker_kind: str) -> tuple[str, str, int]:
    """(kind, host, port) of this run's broker: ``broker`` (conftest.py) is mosquitto in one
    run and an embedded broker in the other."""
    return broker_kind, broker.host, broker.port


def client_at(server: tuple[str, str, int], **options: Any) -> Client:
    _, host, port = server
    return Client(host, port, **options)


def payloads(messages: list[Message]) -> list[str]:
    return [message.payload.decode() for message in messages]


async def test_each_message_goes_to_one_member_and_every_message_arrives(
    server: tuple[str, str, int], topic: str
) -> None:
    shared = f"$share/workers/{topic}/jobs/+"
    # Three members, each reading another way: a subscription() stream, a filtered stream and
    # client.messages (a 3.1.1 client: mosquitto and the embedded broker share with it too).
    async with (
        client_at(server) as one,
        client_at(server) as two,
        client_at(server, protocol=ProtocolVersion.V311) as three,
        client_at(server) as publisher,
        one.subscription(shared, qos=1) as first,
        two.filtered_messages(shared) as second,
    ):
        await two.subscribe(shared, qos=1)
        await three.subscribe(shared, qos=1)
        sent = [str(number) for number in range(30)]
        for number in sent:
            await publisher.publish(f"{topic}/jobs/{number}", number, qos=1)
        # Round robin: ten each (a member getting more, or a copy, would fail the takes).
        received = await asyncio.gather(take(first, 10), take(second, 10), take(three.messages, 10))
    every = [payload for share in received for payload in payloads(share)]
    assert sorted(every, key=int) == sent
    for share in received:
        assert all(message.topic.matches(shared) for message in share)
        assert all(message.qos == 1 for message in share)


async def test_the_others_take_over_the_share_of_a_member_that_leaves(
    server: tuple[str, str, int], topic: str
) -> None:
    shared = f"$share/workers/{topic}/#"
    async with (
        client_at(server) as staying,
        client_at(server) as publisher,
        staying.subscription(shared, qos=1) as stays,
    ):
        async with client_at(server) as leaving, leaving.subscription(shared, qos=1) as leaves:
            for number in range(4):
                await publisher.publish(f"{topic}/{number}", number, qos=1)
            before = await asyncio.gather(take(stays, 2), take(leaves, 2))
        # It left (clean session: its subscription ended with it): the rest is all for the
        # one that stayed.
        for number in range(4, 10):
            await publisher.publish(f"{topic}/{number}", number, qos=1)
        after = await take(stays, 6)
    assert sorted(payloads(before[0]) + payloads(before[1]), key=int) == ["0", "1", "2", "3"]
    assert payloads(after) == ["4", "5", "6", "7", "8", "9"]


async def test_a_member_leaving_cleanly_with_a_backlog_loses_nothing(
    server: tuple[str, str, int], topic: str
) -> None:
    # The leaving member has acknowledged nothing yet: mosquitto sends it 20 (its
    # max_inflight_messages) and queues the rest of its share, which it still sends after
    # UNSUBACK. A message to itself, published after the unsubscribe, comes back behind them.
    shared = f"$share/workers/{topic}/jobs/#"
    marker = f"{topic}/leaving/drained"
    async with (
        client_at(server) as staying,
        client_at(server, manual_ack=True) as leaving,
        client_at(server) as publisher,
        staying.subscription(shared, qos=1) as stays,
    ):
        await leaving.subscribe([(shared, 1), (marker, 1)])
        sent = [str(number) for number in range(60)]
        for number in sent:
            await publisher.publish(f"{topic}/jobs/{number}", number, qos=1)
        await leaving.unsubscribe(shared)
        await leaving.publish(marker, "", qos=1)
        handled: list[str] = []
        while True:
            message = await next_message(leaving.messages)
            await message.ack()
            if str(message.topic) == marker:
                break
            handled.append(message.payload.decode())
        others = await take(stays, 30)
    assert len(handled) == 30  # its whole share, backlog included
    assert sorted(handled + payloads(others), key=int) == sent


async def test_a_persistent_member_gets_back_what_it_had_not_acknowledged(
    server: tuple[str, str, int], topic: str
) -> None:
    shared = f"$share/workers/{topic}/#"
    member = client_at(
        server,
        identifier=f"member-{topic.rsplit('/', 1)[-1]}-{server[0]}",
        clean_session=False,
        properties=Properties(session_expiry_interval=60),
        manual_ack=True,
    )
    async with client_at(server) as publisher:
        async with member:
            await member.subscribe(shared, qos=1)
            await publisher.publish(f"{topic}/job", "resize", qos=1)
            held = await next_message(member.messages)
            assert held.payload == b"resize"
            # It leaves without acknowledging the message...
        async with member:
            # ...which comes back to it, not to another member, when it returns.
            assert member.session_present
            again = await next_message(member.messages)
            await again.ack()
            await member.unsubscribe(shared)
    assert (again.payload, again.topic.value) == (b"resize", f"{topic}/job")


async def test_a_persistent_member_that_is_offline(
    server: tuple[str, str, int], topic: str
) -> None:
    kind = server[0]
    shared = f"$share/workers/{topic}/#"
    away = client_at(
        server,
        identifier=f"away-{topic.rsplit('/', 1)[-1]}-{kind}",
        clean_session=False,
        properties=Properties(session_expiry_interval=60),
    )
    async with (
        client_at(server) as online,
        client_at(server) as publisher,
        online.subscription(shared, qos=1) as stream,
    ):
        async with away:
            await away.subscribe(shared, qos=1)
        for number in range(6):
            await publisher.publish(f"{topic}/{number}", number, qos=1)
        if kind == "mosquitto":
            # mosquitto 2.0.11 keeps the turns: the offline member's share waits for it.
            assert payloads(await take(stream, 3)) == ["0", "2", "4"]
            async with away:
                assert payloads(await take(away.messages, 3)) == ["1", "3", "5"]
                await away.unsubscribe(shared)
        else:
            # The embedded broker prefers members that are connected.
            assert payloads(await take(stream, 6)) == ["0", "1", "2", "3", "4", "5"]
            async with away:
                await away.unsubscribe(shared)


async def test_retained_messages_and_a_shared_subscription(
    server: tuple[str, str, int], topic: str
) -> None:
    kind = server[0]
    async with client_at(server) as publisher, client_at(server) as member:
        await publisher.publish(f"{topic}/state", "retained", qos=1, retain=True)
        await member.subscribe(f"$share/workers/{topic}/#", qos=1)
        await publisher.publish(f"{topic}/state", "live", qos=1)
        first = await next_message(member.messages)
        if kind == "mosquitto":
            # mosquitto 2.0.11 sends the retained message to a new shared subscription.
            assert (first.payload, first.retain) == (b"retained", True)
            first = await next_message(member.messages)
        # MQTT 5.0 (section 4.8.2) says it is not sent, and the embedded broker does not.
        assert (first.payload, first.retain) == (b"live", False)
        await publisher.publish(f"{topic}/state", "", qos=1, retain=True)


async def test_a_broker_without_shared_subscriptions_is_refused_at_the_call() -> None:
    async with (
        Broker(port=0, shared_subscription_available=False) as broker,
        Client(broker.host, broker.port) as client,
    ):
        with pytest.raises(ValueError, match="shared subscription, which the broker does not"):
            await client.subscribe("$share/workers/jobs", qos=1)
        # Nothing was sent, and the connection is still usable.
        assert await client.subscribe("jobs", qos=1) == (1,)


async def test_the_embedded_broker_hands_a_leaving_members_unacknowledged_messages_over(
    topic: str,
) -> None:
    # MQTT 5.0 section 4.8.2: when a member's session ends before it acknowledged a message,
    # the broker should give the message to another member. mosquitto 2.0.11 does not.
    shared = f"$share/workers/{topic}/#"
    async with (
        Broker(port=0) as broker,
        Client(broker.host, broker.port) as staying,
        Client(broker.host, broker.port) as publisher,
        staying.subscription(shared, qos=1) as stays,
    ):
        leaving = Client(broker.host, broker.port, manual_ack=True)
        async with leaving:
            await leaving.subscribe(shared, qos=1)
            for number in range(6):
                await publisher.publish(f"{topic}/{number}", number, qos=1)
            held = await take(leaving.messages, 3)  # and acknowledges none
            first = await take(stays, 3)
        # Its clean session ended with it: what it held goes to the member left.
        after = await take(stays, 3)
    assert payloads(held) == ["1", "3", "5"] and payloads(first) == ["0", "2", "4"]
    assert payloads(after) == ["1", "3", "5"]
    assert broker.stats.messages_handed_over == 3
