"""The broker's WebSocket side (``_broker_websocket``): big messages split into frames both
ways, a frame above the limit (1009), a client that drops TCP after the upgrade (its will),
the broker ending a WebSocket client (DISCONNECT, then the close handshake), and the inner
protocol's plumbing on a fake transport."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from embedded_helpers import EVENT_TIMEOUT, MakeBroker, receive
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from asyncmqtt import Client
from asyncmqtt._broker_websocket import WebSocketServerProtocol
from asyncmqtt.broker import Broker, Listener
from asyncmqtt.protocol.codec import Decoder, encode
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import ConnAck, Connect, Disconnect, Packet, WillMessage

V5 = ProtocolVersion.V5
MQTT = [Subprotocol("mqtt")]


async def ws_broker(make_broker: MakeBroker, **settings: Any) -> tuple[Broker, str]:
    broker = await make_broker(listeners=[Listener.websocket(port=0)], **settings)
    listener = broker.listeners[0]
    return broker, f"ws://{listener.host}:{listener.port}/mqtt"


async def next_packet(ws: ClientConnection, decoder: Decoder) -> Packet:
    async with asyncio.timeout(EVENT_TIMEOUT):
        while (packet := decoder.next_packet()) is None:
            decoder.feed(await ws.recv())  # type: ignore[arg-type]
    return packet


@pytest.mark.all_event_loops
async def test_big_messages_travel_in_frames_both_ways(make_broker: MakeBroker) -> None:
    broker, _ = await ws_broker(make_broker)
    payload = bytes(range(256)) * 1000  # 256 KB: several 64 KiB frames each way
    async with Client(**broker.listeners[0].client_arguments()) as client:
        await client.subscribe("big", qos=1)
        await client.publish("big", payload, qos=1)
        (message,) = await receive(client, 1)
    assert message.payload == payload


@pytest.mark.all_event_loops
async def test_a_frame_above_the_limit_fails_the_websocket(make_broker: MakeBroker) -> None:
    _, url = await ws_broker(make_broker)
    async with connect(url, subprotocols=MQTT, max_size=None) as ws:
        await ws.send(bytes(2 * 1024 * 1024))  # one frame, above 1 MiB
        with pytest.raises(ConnectionClosed) as caught:
            async with asyncio.timeout(EVENT_TIMEOUT):
                await ws.recv()
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009


@pytest.mark.all_event_loops
async def test_a_websocket_client_that_drops_tcp_leaves_its_will(make_broker: MakeBroker) -> None:
    broker, url = await ws_broker(make_broker)
    async with Client(**broker.listeners[0].client_arguments()) as watcher:
        await watcher.subscribe("wills/#")
        ws = await connect(url, subprotocols=MQTT)
        will = WillMessage("wills/ws", b"dropped")
        await ws.send(encode(Connect(client_id="ws", protocol_version=V5, will=will), V5))
        assert isinstance(await next_packet(ws, Decoder(version=V5)), ConnAck)
        ws.transport.abort()
        (message,) = await receive(watcher, 1)
        await ws.wait_closed()
    assert message.payload == b"dropped"


@pytest.mark.all_event_loops
async def test_the_broker_ends_a_websocket_client_cleanly(make_broker: MakeBroker) -> None:
    broker, url = await ws_broker(make_broker)
    decoder = Decoder(version=V5)
    async with connect(url, subprotocols=MQTT) as ws:
        await ws.send(encode(Connect(client_id="ws", protocol_version=V5), V5))
        assert isinstance(await next_packet(ws, decoder), ConnAck)
        assert broker.disconnect("ws")
        disconnect = await next_packet(ws, decoder)
        with pytest.raises(ConnectionClosed) as caught:
            async with asyncio.timeout(EVENT_TIMEOUT):
                await ws.recv()
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == 0x98
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1000


class App(asyncio.Protocol):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.calls.append("made")

    def pause_writing(self) -> None:
        self.calls.append("pause")

    def resume_writing(self) -> None:
        self.calls.append("resume")

    def eof_received(self) -> bool | None:
        self.calls.append("eof")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append("lost")


class Transport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.closing = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.aborted = self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


UPGRADE = (
    b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: mqttv3.1\r\n\r\n"
)


async def test_the_inner_protocol_passes_flow_control_and_the_end_on() -> None:
    app = App()
    tracked: list[object] = []

    def track(protocol: object) -> bool:
        tracked.append(protocol)
        return True

    inner = WebSocketServerProtocol(
        "/mqtt",
        lambda: app,
        handshake_timeout=10,
        max_frame=1 << 20,
        track=track,
        untrack=tracked.remove,
    )
    with pytest.raises(RuntimeError, match="no transport yet"):
        _ = inner.transport
    assert inner.app is None and inner.subprotocol is None
    inner.pause_writing()  # (nothing to pass it to yet)
    inner.resume_writing()
    transport = Transport()
    inner.connection_made(transport)  # type: ignore[arg-type]
    inner.data_received(UPGRADE)
    assert transport.written.startswith(b"HTTP/1.1 101 ")
    assert inner.app is app and inner.subprotocol == "mqttv3.1"
    outer = app.transport
    assert outer.get_extra_info("websocket_subprotocol") == "mqttv3.1"
    assert outer.get_protocol() is app
    inner.pause_writing()
    inner.resume_writing()
    inner.eof_received()
    inner.connection_lost(None)
    assert app.calls == ["made", "pause", "resume", "eof", "lost"]
    assert tracked == []
    inner.send(b"after the end")  # (goes nowhere, like a closed transport's write)
    inner.close()
    assert transport.closing


async def test_the_inner_protocol_drops_connections_while_closing() -> None:
    inner = WebSocketServerProtocol(
        "/mqtt",
        App,
        handshake_timeout=10,
        max_frame=1 << 20,
        track=lambda p: False,
        untrack=lambda p: None,
    )
    transport = Transport()
    inner.connection_made(transport)  # type: ignore[arg-type]
    assert transport.aborted
    inner.close()  # (no upgrade yet: TCP is closed)
    inner.abort()
    inner.connection_lost(None)
