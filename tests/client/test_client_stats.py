"""client.stats: what the client did and holds, counted where it happens (offline: scripted
broker, virtual time)."""

from __future__ import annotations

import asyncio

import pytest
from memory_network import run_virtual
from scripted_broker import ScriptedBroker, client_on

from asyncmqtt import MqttCodeError, Reconnect, SessionLostError
from asyncmqtt.protocol.packets import PubAck, Publish


def test_stats_count_messages_bytes_outcomes_and_connections() -> None:
    broker = ScriptedBroker()
    client = client_on(
        broker, reconnect=Reconnect(initial_delay=1.0, jitter=False), session_lost_policy="fail"
    )

    async def scenario() -> None:
        async with client:
            await client.subscribe("t", qos=2)
            await client.publish("t", b"0")
            await client.publish("t", b"1", qos=1)
            await client.publish("t", b"2", qos=2)
            broker.acknowledge = False
            refused = client.publish_nowait("t", b"no", qos=1)
            broker.send(PubAck(4, 0x87))  # (ids 1-3: the SUBSCRIBE and two publishes)
            with pytest.raises(MqttCodeError):
                await refused
            broker.send(
                Publish("t", b"a", 0),
                Publish("t", b"b", 1, packet_id=1),
                Publish("t", b"c", 2, packet_id=2),
            )
            for _ in range(3):
                await anext(client.messages)
            stats = client.stats
            assert stats.queued_incoming == 0
            lost = client.publish_nowait("t", b"lost", qos=1)  # never acknowledged ...
            await asyncio.sleep(0)
            assert (stats.in_flight, stats.queued_outgoing) == (1, 0)
            broker.session_present = False
            broker.drop()  # ... and the broker loses the session: it fails
            with pytest.raises(SessionLostError):
                await lost
            await client.connected()

    run_virtual(scenario())
    stats = client.stats
    assert stats.messages_sent == [1, 3, 1]
    assert stats.messages_received == [1, 1, 1]
    assert stats.publishes_acknowledged == 2
    assert stats.publishes_refused == {0x87: 1}
    assert stats.publishes_failed == 1
    assert (stats.connections, stats.connection_losses) == (2, 1)
    assert stats.bytes_sent > 0 and stats.bytes_received > 0
    assert stats.messages_discarded == 0
    values = stats.as_dict()
    assert values["in_flight"] == 0 and values["messages_sent"] == [1, 3, 1]
    assert "publishes_refused={135: 1}" in repr(stats)


def test_queued_incoming_counts_streams_and_backlog() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, max_queued_incoming_messages=2)

    async def scenario() -> int:
        async with client:
            await client.subscribe("t", qos=1)
            broker.send(*(Publish("t", bytes([n]), 1, packet_id=n + 1) for n in range(5)))
            await asyncio.sleep(0)
            return client.stats.queued_incoming

    queued, _ = run_virtual(scenario())
    assert queued == 5  # 2 in client.messages, 3 waiting behind them
