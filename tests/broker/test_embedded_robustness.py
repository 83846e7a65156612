"""The embedded broker under misbehaving clients and at its limits: one client never holds up
the others (a slow reader's messages wait in its bounded queue), a bug of the core ends only the
connection it happened on, protocol errors and silence are answered as the core documents, and
the limits of ``BrokerConfig`` hold over real sockets."""

from __future__ import annotations

import asyncio
import logging

import pytest
from embedded_helpers import EVENT_TIMEOUT, CoreClient, MakeBroker, receive

from asyncmqtt import Client, MqttConnectError
from asyncmqtt.broker import Broker
from asyncmqtt.protocol.codec import encode
from asyncmqtt.protocol.enums import ConnAckReasonCode, ProtocolVersion
from asyncmqtt.protocol.events import Connected, Disconnected, SubscribeCompleted
from asyncmqtt.protocol.packets import Publish, Subscription, WillMessage
from asyncmqtt.protocol.properties import Properties
from asyncmqtt.protocol.server import ServerConnection

pytestmark = pytest.mark.all_event_loops


async def subscribe(client: CoreClient, topic_filter: str, qos: int = 0) -> None:
    client.conn.subscribe([Subscription(topic_filter, qos=qos)], now=client.now())
    client.flush()
    await client.next_event(SubscribeCompleted)


async def test_a_slow_reader_does_not_hold_up_the_others(make_broker: MakeBroker) -> None:
    broker: Broker = await make_broker(max_queued_messages=20)
    slow = await CoreClient.open(broker, client_id="slow", receive_buffer=4096)
    await slow.next_event(Connected)
    await subscribe(slow, "feed")
    slow.pause_reading()  # it stops reading: its buffers fill up
    payload = bytes(16 * 1024)
    count = 600
    async with (
        Client(broker.host, broker.port) as fast,
        Client(broker.host, broker.port) as publisher,
    ):
        await fast.subscribe("feed", qos=1)
        received = 0
        async with asyncio.timeout(EVENT_TIMEOUT):
            for n in range(count):
                await publisher.publish("feed", payload + n.to_bytes(4), qos=1)
            async for message in fast.messages:
                assert message.payload[-4:] == received.to_bytes(4)  # all of them, in order
                received += 1
                if received == count:
                    break
        connection = broker.core.clients["slow"]
        session = connection.session
        assert session is not None
        assert connection.writing_paused  # its transport's buffer is full
        assert session.state.pending_count <= 20  # the rest was dropped (QoS 0: oldest first)
        assert session.dropped_messages > 0
        assert broker.stats.messages_dropped == session.dropped_messages
        slow.resume_reading()  # it catches up, still connected
        async with asyncio.timeout(EVENT_TIMEOUT):
            while connection.writing_paused or session.state.pending:
                await asyncio.sleep(0.01)
        await publisher.publish("feed", b"last", qos=1)
        async with asyncio.timeout(EVENT_TIMEOUT):
            while not slow.received.endswith(b"last"):
                await asyncio.sleep(0.01)
    await slow.close()


async def test_a_bug_in_the_core_ends_only_that_connection(
    make_broker: MakeBroker, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ServerConnection.receive_data

    def buggy(self: ServerConnection, data: bytes, now: float) -> None:
        original(self, data, now)
        if b"trigger-the-bug" in data:
            raise ZeroDivisionError("a bug")

    monkeypatch.setattr(ServerConnection, "receive_data", buggy)
    broker: Broker = await make_broker()
    async with Client(broker.host, broker.port) as bystander:
        await bystander.subscribe("#", qos=1)
        victim = await CoreClient.open(
            broker, client_id="victim", will=WillMessage("wills/victim", b"bye")
        )
        await victim.next_event(Connected)
        victim.conn.publish("trigger-the-bug", b"", 0, now=victim.now())
        victim.flush()
        await victim.wait_lost()
        # Its will follows the usual rules; everybody else is served as before.
        await bystander.publish("still/working", "yes", qos=1)
        topics = [str(m.topic) for m in await receive(bystander, 3)]
    assert topics == ["trigger-the-bug", "wills/victim", "still/working"]
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.name == "asyncmqtt.broker"
    assert "bug in the broker core" in error.getMessage() and "'victim'" in error.getMessage()
    assert error.exc_info is not None and error.exc_info[0] is ZeroDivisionError
    assert "victim" not in broker.core.clients


async def test_max_connections(make_broker: MakeBroker) -> None:
    broker: Broker = await make_broker(max_connections=2)
    first = await CoreClient.open(broker, client_id="a")
    await first.next_event(Connected)
    async with Client(broker.host, broker.port):
        with pytest.raises(MqttConnectError) as caught:
            async with Client(broker.host, broker.port):
                pass
        assert caught.value.rc == ConnAckReasonCode.QUOTA_EXCEEDED
        # Taking over one's own session does not count twice.
        takeover = await CoreClient.open(broker, client_id="a")
        await takeover.next_event(Connected)
        assert (await first.next_event(Disconnected)).reason_code == 0x8E
        await takeover.close()


async def test_a_packet_above_maximum_packet_size_ends_the_connection(
    make_broker: MakeBroker,
) -> None:
    broker: Broker = await make_broker(maximum_packet_size=1024)
    client = await CoreClient.open(broker, client_id="big")
    connected = await client.next_event(Connected)
    assert connected.settings.maximum_packet_size == 1024
    client.write(encode(Publish("big", bytes(2000)), ProtocolVersion.V5))  # (raw: the core refuses)
    ended = await client.next_event(Disconnected)
    assert ended.reason_code == 0x95
    await client.wait_lost()


async def test_max_queued_messages_bounds_an_offline_session(make_broker: MakeBroker) -> None:
    broker: Broker = await make_broker(max_queued_messages=5)
    away = Client(broker.host, broker.port, identifier="away", clean_session=False)
    async with away:
        await away.subscribe("q", qos=1)
    async with Client(broker.host, broker.port) as publisher:
        for n in range(10):
            await publisher.publish("q", n, qos=1)
    assert broker.core.sessions["away"].dropped_messages == 5
    async with away:
        payloads = [m.payload for m in await receive(away, 5)]
    assert payloads == [b"0", b"1", b"2", b"3", b"4"]  # the newest were dropped, not queued ones


async def test_silence_before_connect_is_cut_off(make_broker: MakeBroker) -> None:
    broker: Broker = await make_broker(connect_timeout=0.2)
    reader, writer = await asyncio.open_connection(broker.host, broker.port)
    async with asyncio.timeout(EVENT_TIMEOUT):
        assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()


async def test_keepalive_is_enforced_at_one_and_a_half_times(broker: Broker) -> None:
    client = await CoreClient.open(broker, client_id="quiet", keep_alive=1)  # (never pings)
    await client.next_event(Connected)
    started = client.now()
    ended = await client.next_event(Disconnected)
    assert ended.reason_code == 0x8D  # Keep alive timeout
    assert 1.4 <= client.now() - started < 5


@pytest.mark.parametrize(
    "garbage",
    [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x10\xff\xff\xff\xff\x7f", bytes(range(256))],
    ids=["http", "bad-length", "noise"],
)
async def test_garbage_is_closed_and_the_others_are_served(
    make_broker: MakeBroker, garbage: bytes
) -> None:
    # (What is not yet a whole packet waits for more, then for the connect timeout.)
    broker: Broker = await make_broker(connect_timeout=0.5)
    async with Client(broker.host, broker.port) as client:
        reader, writer = await asyncio.open_connection(broker.host, broker.port)
        writer.write(garbage)
        async with asyncio.timeout(EVENT_TIMEOUT):
            await reader.read()  # (whatever answer, then the end)
        writer.close()
        await writer.wait_closed()
        await client.subscribe("t", qos=1)
        await client.publish("t", "ok", qos=1)
        async with asyncio.timeout(EVENT_TIMEOUT):
            assert (await anext(aiter(client.messages))).payload == b"ok"


async def test_protocol_errors_get_their_reason_code(broker: Broker) -> None:
    client = await CoreClient.open(broker, client_id="rude")
    await client.next_event(Connected)
    client.write(b"\x30\x03\x00\x01+")  # PUBLISH to "+": a wildcard in a topic name
    ended = await client.next_event(Disconnected)
    assert ended.reason_code in (0x81, 0x82, 0x90)
    await client.wait_lost()


async def test_many_clients_at_once(broker: Broker) -> None:
    async def one(n: int) -> bytes:
        async with Client(broker.host, broker.port, identifier=f"many-{n}") as client:
            await client.subscribe(f"many/{n}", qos=1)
            await client.publish(f"many/{n}", n, qos=1)
            async with asyncio.timeout(EVENT_TIMEOUT):
                return (await anext(aiter(client.messages))).payload

    results = await asyncio.gather(*(one(n) for n in range(50)))
    assert results == [str(n).encode() for n in range(50)]
    assert broker.core.connection_count == 0
    assert broker.stats.connections_accepted == 50


async def test_messages_expire_in_a_queue(make_broker: MakeBroker) -> None:
    broker: Broker = await make_broker()
    async with Client(broker.host, broker.port, identifier="later", clean_session=False) as c:
        await c.subscribe("expiring", qos=1)
    broker.publish("expiring", "short", qos=1, properties=Properties(message_expiry_interval=1))
    broker.publish("expiring", "long", qos=1, properties=Properties(message_expiry_interval=60))
    await asyncio.sleep(1.2)  # the broker's timer drops the first
    assert broker.core.sessions["later"].state.pending_count == 1
    async with Client(broker.host, broker.port, identifier="later", clean_session=False) as c:
        async with asyncio.timeout(EVENT_TIMEOUT):
            message = await anext(aiter(c.messages))
    assert message.payload == b"long"
    assert message.properties is not None
    remaining = message.properties.message_expiry_interval
    assert remaining is not None and 0 < remaining <= 60  # (what remains of it)
