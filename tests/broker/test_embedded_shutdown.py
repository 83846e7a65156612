"""Stopping the embedded broker: DISCONNECT 0x8B to MQTT 5 clients (3.1.x ones are closed), no
wills, listeners and Unix socket files gone, stragglers aborted after ``close_timeout``, and
nothing left running on the loop (tasks, timers, transports: the suite turns every
ResourceWarning into an error)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest
from embedded_helpers import EVENT_TIMEOUT, CoreClient, receive

from asyncmqtt import Client, MqttError, ProtocolVersion
from asyncmqtt.broker import Broker, Listener
from asyncmqtt.protocol.events import Connected, Disconnected, SubscribeCompleted
from asyncmqtt.protocol.packets import Subscription, WillMessage

pytestmark = pytest.mark.all_event_loops


async def test_shutdown_tells_mqtt5_clients_and_closes_the_rest(tmp_path: Path) -> None:
    broker = Broker(
        listeners=[Listener.tcp(port=0), Listener.websocket(port=0), Listener.unix(tmp_path / "s")]
    )
    await broker.start()
    v5 = await CoreClient.open(broker, client_id="v5", will=WillMessage("wills/v5", b"x"))
    v311 = await CoreClient.open(broker, client_id="v311", protocol_version=ProtocolVersion.V311)
    silent = await CoreClient.open(broker, connect=False)  # (never sends CONNECT)
    await v5.next_event(Connected)
    await v311.next_event(Connected)
    handshaking = await asyncio.open_connection(broker.listeners[1].host, broker.listeners[1].port)
    async with Client(**broker.listeners[2].client_arguments()) as over_unix:
        await broker.close()
        with pytest.raises(MqttError):
            async with asyncio.timeout(EVENT_TIMEOUT):
                await anext(aiter(over_unix.messages))
    assert (await v5.next_event(Disconnected)).reason_code == 0x8B  # Server shutting down
    assert (await v311.next_event(Disconnected)).reason_code is None  # (3.1.x: just closed)
    await silent.wait_lost()
    reader, writer = handshaking
    async with asyncio.timeout(EVENT_TIMEOUT):
        assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()
    assert broker.stats.wills_published == 0  # the broker went away, not the clients
    assert not (tmp_path / "s").exists()
    assert not broker.is_serving
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(broker.host, broker.port)
    with pytest.raises(RuntimeError, match="not running"):
        broker.publish("t")
    await broker.close()  # again: nothing to do


async def test_nothing_is_left_running() -> None:
    before = asyncio.all_tasks()
    async with Broker(port=0) as broker:
        async with Client(broker.host, broker.port, keepalive=5) as client:
            await client.subscribe("t", qos=2)
            await client.publish("t", "x", qos=2)
            async with asyncio.timeout(EVENT_TIMEOUT):
                await anext(aiter(client.messages))
        core_client = await CoreClient.open(broker, client_id="left", keep_alive=5)
        await core_client.next_event(Connected)
        assert broker.core.get_timer() is not None
    await core_client.wait_lost()
    assert asyncio.all_tasks() == before
    gc.collect()  # (an unclosed transport would warn, which the suite makes an error)


async def test_a_client_that_does_not_read_is_aborted_after_close_timeout() -> None:
    broker = Broker(port=0, close_timeout=0.3)
    await broker.start()
    stuck = await CoreClient.open(broker, client_id="stuck", receive_buffer=4096)
    await stuck.next_event(Connected)
    stuck.conn.subscribe([Subscription("flood")], now=stuck.now())
    stuck.flush()
    await stuck.next_event(SubscribeCompleted)
    stuck.pause_reading()
    for _ in range(200):
        broker.publish("flood", bytes(64 * 1024))
        await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    await broker.close()
    # Its transport could not drain: it was aborted once close_timeout ran out.
    assert 0.25 <= asyncio.get_running_loop().time() - started < 2.5
    stuck.abort()
    await stuck.wait_lost()


async def test_serve_forever_serves_until_cancelled() -> None:
    broker = Broker(port=0)
    serving = asyncio.create_task(broker.serve_forever())
    async with asyncio.timeout(EVENT_TIMEOUT):
        while not broker.is_serving:
            await asyncio.sleep(0.01)
    async with Client(broker.host, broker.port):
        pass
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert not broker.is_serving
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(broker.host, broker.port)


async def test_a_restarted_broker_serves_what_it_kept_on_the_same_ports(tmp_path: Path) -> None:
    broker = Broker(listeners=[Listener.tcp(port=0), Listener.unix(tmp_path / "s")])
    async with broker:
        port = broker.port
        keeper = Client(broker.host, port, identifier="keeper", clean_session=False)
        async with keeper:
            await keeper.subscribe("kept", qos=1)
        broker.publish("kept", "queued", qos=1)
        broker.publish("status", "retained", retain=True)
        async with Client(broker.host, port, identifier="reconnecting", reconnect=True) as other:
            await broker.restart()
            with pytest.raises(RuntimeError, match="cannot start: it is running"):
                await broker.start()
            assert broker.port == port and (tmp_path / "s").exists()
            await other.connected()  # it came back by itself
            await other.subscribe("status")
            (retained,) = await receive(other, 1)
        async with keeper:
            assert keeper.session_present
            (queued,) = await receive(keeper, 1)
    assert (retained.payload, queued.payload) == (b"retained", b"queued")
    async with broker:  # (and once more, with async with)
        assert broker.port == port
