"""MQTT over WebSocket: against mosquitto's WebSocket listeners (plain and TLS, MQTT 3.1.1 and
5.0), and against a small WebSocket server of our own (the ``websockets`` library's asyncio
server) that checks the request and sends what mosquitto would not: MQTT packets cut across
frames and messages, pings, text frames, close codes, refusals."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from mqtt_session import MqttSession, round_trip
from transport_servers import Pki, TransportBroker
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from asyncmqtt.errors import MqttConnectError
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.events import (
    Connected,
    Disconnected,
    MessageReceived,
    PublishCompleted,
    SubscribeCompleted,
)
from asyncmqtt.protocol.packets import Subscription
from asyncmqtt.transports import TLSParameters, TransportSettings, open_connection

VERSIONS = [ProtocolVersion.V311, ProtocolVersion.V5]


def _ws(broker: TransportBroker, pki: Pki | None = None, **options: Any) -> TransportSettings:
    listener = broker.websocket if pki is None else broker.websocket_tls
    tls = {} if pki is None else {"tls_params": TLSParameters(ca_certs=str(pki.ca_pem))}
    return TransportSettings(
        hostname=broker.host,
        port=broker.port_of(listener),
        transport="websockets",
        **tls,
        **options,
    )


# -- against mosquitto ------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_round_trip(
    transport_broker: TransportBroker, pki: Pki, version: ProtocolVersion, secure: bool
) -> None:
    settings = _ws(transport_broker, pki if secure else None)
    assert settings.address.startswith("wss://" if secure else "ws://")
    transport, session = await open_connection(lambda: MqttSession(version), settings)
    assert transport.get_extra_info("websocket_subprotocol") == "mqtt"
    assert (transport.get_extra_info("ssl_object") is not None) is secure
    await round_trip(session)
    assert await session.close() is None


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_a_packet_larger_than_a_frame(
    transport_broker: TransportBroker, pki: Pki, version: ProtocolVersion, secure: bool
) -> None:
    """A 200 kB PUBLISH leaves in four messages of one frame; the broker must join them.

    A subscriber on plain TCP checks what arrived (mosquitto 2.0.11 sends large WebSocket
    frames slowly, so the way back is not WebSocket here; packets that span incoming frames
    are tested against the small server below).
    """
    topic = f"asyncmqtt/transports/large/{version.name}/{secure}"
    plain = TransportSettings(hostname=transport_broker.host, port=transport_broker.port)
    _, subscriber = await open_connection(MqttSession, plain)
    await subscriber.next_event(Connected)
    subscriber.conn.subscribe([Subscription(topic, qos=1)], now=subscriber.now())
    subscriber.flush()
    await subscriber.next_event(SubscribeCompleted)

    transport, publisher = await open_connection(
        lambda: MqttSession(version), _ws(transport_broker, pki if secure else None)
    )
    await publisher.next_event(Connected)
    frames_before = transport.get_extra_info("websocket_frames_sent")
    payload = bytes(range(256)) * 781 + b"end"  # 199,939 bytes, not a multiple of anything
    publisher.conn.publish(topic, payload, 1, now=publisher.now())
    publisher.flush()
    assert transport.get_extra_info("websocket_frames_sent") - frames_before == 4
    acknowledged = await publisher.next_event(PublishCompleted)
    assert acknowledged.reason_code == 0
    message = await subscriber.next_event(MessageReceived)
    assert message.publish.payload == payload
    assert await publisher.close() is None
    assert await subscriber.close() is None


async def test_tls_websocket_refuses_an_unknown_ca(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    settings = TransportSettings(
        hostname=transport_broker.host,
        port=transport_broker.port_of(transport_broker.websocket_tls),
        transport="websockets",
        tls_params=TLSParameters(ca_certs=str(pki.unknown_ca_pem)),
    )
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    assert caught.value.stage == "tls"
    assert caught.value.address.startswith("wss://")


# -- against a WebSocket server of our own ----------------------------------------------------

Handler = Callable[[ServerConnection], Awaitable[None]]


@dataclass(frozen=True)
class ServerPlan:
    """What the small server does: run ``handler`` on each WebSocket, or ``refuse`` upgrades."""

    handler: Handler
    subprotocols: list[Subprotocol] | None = field(default_factory=lambda: [Subprotocol("mqtt")])
    refuse: http.HTTPStatus | None = None
    answer_subprotocol: str | None = None  # rewrite the server's choice in its answer


def serving(handler: Handler, **options: Any) -> pytest.MarkDecorator:
    """Run the test against a small server following this plan."""
    return pytest.mark.parametrize(
        "small_server", [ServerPlan(handler, **options)], indirect=True, ids=["server"]
    )


class SmallServer:
    """A WebSocket server on loopback that records the upgrade requests it got."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[Request] = []
        self._close_codes: asyncio.Queue[int | None] = asyncio.Queue()

    def connection_closed(self, code: int | None) -> None:
        self._close_codes.put_nowait(code)

    async def close_code(self) -> int | None:
        """The close code the server got on its next connection to end (waits for it)."""
        async with asyncio.timeout(10):
            return await self._close_codes.get()


@pytest.fixture
async def small_server(request: pytest.FixtureRequest) -> AsyncIterator[SmallServer]:
    plan: ServerPlan = request.param
    record = SmallServer()

    async def handle(connection: ServerConnection) -> None:
        try:
            await plan.handler(connection)
        finally:
            await connection.wait_closed()
            record.connection_closed(connection.protocol.close_code)

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        record.requests.append(request)
        if plan.refuse is None:
            return None
        return connection.respond(plan.refuse, "no MQTT here\n")

    def process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        if plan.answer_subprotocol is not None:
            del response.headers["Sec-WebSocket-Protocol"]
            response.headers["Sec-WebSocket-Protocol"] = plan.answer_subprotocol
        return None

    async with serve(
        handle,
        "127.0.0.1",
        0,
        subprotocols=plan.subprotocols,
        process_request=process_request,
        process_response=process_response,
    ) as server:
        record.port = server.sockets[0].getsockname()[1]
        yield record


def V311() -> MqttSession:
    return MqttSession(ProtocolVersion.V311)


def _settings(server: SmallServer, **options: Any) -> TransportSettings:
    return TransportSettings(
        hostname="127.0.0.1", port=server.port, transport="websockets", **options
    )


async def _expect_connect(connection: ServerConnection) -> bytes:
    data = await connection.recv()
    assert isinstance(data, bytes) and data[0] == 0x10, data  # CONNECT, in a binary frame
    return data


async def _stream_split_across_frames(connection: ServerConnection) -> None:
    await _expect_connect(connection)
    publish = b"\x30\x0e\x00\x05a/b/c" + b"payload"  # QoS 0 PUBLISH, topic a/b/c
    stream = b"\x20\x02\x00\x00" + publish  # CONNACK (3.1.1) then PUBLISH
    # One message of four fragments cutting both packets, then the rest in a second message.
    await connection.send([stream[:1], stream[1:3], stream[3:7], stream[7:12]])
    await connection.send(stream[12:])
    await connection.recv()  # DISCONNECT


@serving(_stream_split_across_frames)
async def test_packets_may_span_frames_and_messages(small_server: SmallServer) -> None:
    transport, session = await open_connection(
        lambda: MqttSession(ProtocolVersion.V311), _settings(small_server)
    )
    await session.next_event(Connected)
    message = await session.next_event(MessageReceived)
    assert (message.publish.topic, message.publish.payload) == ("a/b/c", b"payload")
    # Five fragments (websockets may end the fragmented one with an empty frame) and one frame.
    assert transport.get_extra_info("websocket_frames_received") >= 5
    assert await session.close() is None
    assert await small_server.close_code() == 1000  # our close handshake


async def _ping_then_connack(connection: ServerConnection) -> None:
    await _expect_connect(connection)
    pong = await connection.ping(b"are you there")
    async with asyncio.timeout(10):
        await pong  # only our answer resolves it
    await connection.send(b"\x20\x02\x00\x00")
    await connection.recv()


@serving(_ping_then_connack)
async def test_pings_are_answered(small_server: SmallServer) -> None:
    _, session = await open_connection(
        lambda: MqttSession(ProtocolVersion.V311), _settings(small_server)
    )
    await session.next_event(Connected)  # sent only after the pong came back
    assert await session.close() is None


async def _send_text(connection: ServerConnection) -> None:
    await _expect_connect(connection)
    await connection.send("MQTT over text frames is not allowed")


@serving(_send_text)
async def test_a_text_frame_closes_the_connection(small_server: SmallServer) -> None:
    _, session = await open_connection(V311, _settings(small_server))
    async with asyncio.timeout(10):
        lost = await session.lost
    assert isinstance(lost, ConnectionError)
    assert "text frame" in str(lost)
    assert await small_server.close_code() == 1003  # unsupported data, [MQTT-6.0.0-1]


async def _close_with_1011(connection: ServerConnection) -> None:
    await _expect_connect(connection)
    await connection.close(1011, "broker trouble")


@serving(_close_with_1011)
async def test_an_abnormal_close_code_reaches_the_protocol(small_server: SmallServer) -> None:
    _, session = await open_connection(V311, _settings(small_server))
    async with asyncio.timeout(10):
        lost = await session.lost
    assert isinstance(lost, ConnectionError)
    assert "code 1011: broker trouble" in str(lost)


async def _close_normally(connection: ServerConnection) -> None:
    await _expect_connect(connection)
    await connection.close(1000)


@serving(_close_normally)
async def test_a_normal_close_is_a_clean_end(small_server: SmallServer) -> None:
    _, session = await open_connection(V311, _settings(small_server))
    async with asyncio.timeout(10):
        assert await session.lost is None
    # The core saw the stream end before CONNACK.
    event = await session.next_event(Disconnected)
    assert event.error is not None


async def _connack_and_wait(connection: ServerConnection) -> None:
    await _expect_connect(connection)
    await connection.send(b"\x20\x02\x00\x00")
    async for _message in connection:
        pass


@serving(_connack_and_wait)
async def test_request_path_and_default_headers(small_server: SmallServer) -> None:
    _, session = await open_connection(V311, _settings(small_server))
    await session.next_event(Connected)
    assert await session.close() is None
    (request,) = small_server.requests
    assert request.path == "/mqtt"  # paho-mqtt's default
    assert request.headers["Host"] == f"127.0.0.1:{small_server.port}"
    assert request.headers["Sec-WebSocket-Protocol"] == "mqtt"


@serving(_connack_and_wait)
async def test_custom_path_and_header_dict(small_server: SmallServer) -> None:
    settings = _settings(
        small_server,
        websocket_path="/brokers/one?token=abc",
        websocket_headers={"Authorization": "Bearer xyz", "Host": "broker.example"},
    )
    _, session = await open_connection(V311, settings)
    await session.next_event(Connected)
    assert await session.close() is None
    (request,) = small_server.requests
    assert request.path == "/brokers/one?token=abc"
    assert request.headers["Authorization"] == "Bearer xyz"
    assert request.headers.get_all("Host") == ["broker.example"]  # replaced, not added


@serving(_connack_and_wait)
async def test_header_callable_gets_ours_and_returns_the_set_to_send(
    small_server: SmallServer,
) -> None:
    seen: list[dict[str, str]] = []

    def headers(ours: dict[str, str]) -> dict[str, str]:
        seen.append(dict(ours))
        return {**ours, "X-Client": "asyncmqtt"}

    _, session = await open_connection(V311, _settings(small_server, websocket_headers=headers))
    await session.next_event(Connected)
    assert await session.close() is None
    (ours,) = seen
    assert ours["Sec-WebSocket-Protocol"] == "mqtt"
    assert ours["Upgrade"] == "websocket"
    (request,) = small_server.requests
    assert request.headers["X-Client"] == "asyncmqtt"
    assert Headers(ours).keys() <= request.headers.keys()


async def _never_called(connection: ServerConnection) -> None:  # pragma: no cover
    raise AssertionError("the upgrade was refused; no WebSocket should exist")


@serving(_never_called, refuse=http.HTTPStatus.NOT_FOUND)
async def test_a_refused_upgrade_fails_at_the_websocket_stage(small_server: SmallServer) -> None:
    settings = _settings(small_server)
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    error = caught.value
    assert error.stage == "websocket"
    assert error.address == f"ws://127.0.0.1:{small_server.port}/mqtt"
    assert "websocket stage" in str(error) and error.address in str(error)
    assert "HTTP 404 Not Found" in str(error)


@serving(_connack_and_wait, subprotocols=None)
async def test_a_server_that_names_no_subprotocol_is_accepted(small_server: SmallServer) -> None:
    transport, session = await open_connection(V311, _settings(small_server))
    assert transport.get_extra_info("websocket_subprotocol") is None
    await session.next_event(Connected)
    assert await session.close() is None


async def _abandoned(connection: ServerConnection) -> None:
    await connection.wait_closed()


@serving(_abandoned, answer_subprotocol="not-mqtt")
async def test_a_server_that_chooses_another_subprotocol_is_refused(
    small_server: SmallServer,
) -> None:
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(V311, _settings(small_server))
    assert caught.value.stage == "websocket"
    assert "not-mqtt" in str(caught.value)


@serving(_connack_and_wait)
async def test_flow_control_reaches_the_tcp_transport(small_server: SmallServer) -> None:
    transport, session = await open_connection(V311, _settings(small_server))
    await session.next_event(Connected)
    transport.pause_reading()
    assert not transport.is_reading()
    transport.resume_reading()
    assert transport.is_reading()
    transport.set_write_buffer_limits(high=4096, low=1024)
    assert transport.get_write_buffer_limits() == (1024, 4096)
    assert transport.get_write_buffer_size() == 0
    assert not transport.can_write_eof()
    assert await session.close() is None
    assert transport.is_closing()


async def _drain(connection: ServerConnection) -> None:
    async for _message in connection:
        pass


class WriteFlowRecorder(MqttSession):
    """Records the flow-control calls the transport makes."""

    def __init__(self) -> None:
        super().__init__(ProtocolVersion.V311)
        self.flow: list[str] = []
        self.resumed: asyncio.Future[None] = self._loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # no CONNECT: raw bytes only

    def pause_writing(self) -> None:
        self.flow.append("pause")

    def resume_writing(self) -> None:
        self.flow.append("resume")
        if not self.resumed.done():
            self.resumed.set_result(None)


@serving(_drain)
async def test_pause_and_resume_writing_reach_the_protocol(small_server: SmallServer) -> None:
    transport, recorder = await open_connection(WriteFlowRecorder, _settings(small_server))
    transport.set_write_buffer_limits(high=16 * 1024, low=0)
    # Far more than the kernel's socket buffers take at once, so the TCP transport buffers.
    transport.write(b"\x00" * (8 * 1024 * 1024))
    assert recorder.flow == ["pause"]
    assert transport.get_write_buffer_size() > 0
    async with asyncio.timeout(10):
        await recorder.resumed  # the server read everything
    assert recorder.flow == ["pause", "resume"]
    transport.close()
    async with asyncio.timeout(10):
        assert await recorder.lost is None


@serving(_drain)
async def test_transport_surface(small_server: SmallServer) -> None:
    transport, recorder = await open_connection(WriteFlowRecorder, _settings(small_server))
    assert transport.get_protocol() is recorder
    with pytest.raises(NotImplementedError):
        transport.set_protocol(recorder)
    with pytest.raises(TypeError, match="data must be bytes-like, got str"):
        transport.write("text")  # type: ignore[arg-type]
    sent = transport.get_extra_info("websocket_frames_sent")
    transport.writelines([b"\x10", b"\x00"])
    transport.write(b"")  # nothing to send: no frame
    assert transport.get_extra_info("websocket_frames_sent") == sent + 1
    transport.close()
    transport.close()  # a second close changes nothing
    transport.write(b"\x10\x00")  # after close: dropped, as asyncio transports do
    assert transport.get_extra_info("websocket_frames_sent") == sent + 1
    assert transport.is_closing()
    async with asyncio.timeout(10):
        assert await recorder.lost is None
    assert await small_server.close_code() == 1000


@serving(_drain)
async def test_abort_drops_the_connection_at_once(small_server: SmallServer) -> None:
    transport, recorder = await open_connection(WriteFlowRecorder, _settings(small_server))
    transport.abort()
    assert transport.is_closing()
    async with asyncio.timeout(10):
        assert await recorder.lost is None
    assert await small_server.close_code() == 1006  # no close frame: abnormal closure


class FailsToStart(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raise RuntimeError("cannot start")


@serving(_abandoned)
async def test_a_protocol_that_fails_to_start_fails_the_websocket_stage(
    small_server: SmallServer,
) -> None:
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(FailsToStart, _settings(small_server))
    assert caught.value.stage == "websocket"
    assert "the MQTT protocol failed to start: RuntimeError('cannot start')" in str(caught.value)
    assert isinstance(caught.value.__cause__.__cause__, RuntimeError)  # type: ignore[union-attr]


async def _raw_websocket_then_garbage(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Accept the upgrade by hand, then send a frame with a reserved opcode (0x3)."""
    request = await reader.readuntil(b"\r\n\r\n")
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
    )
    writer.write(b"\x83\x00")
    await reader.read()  # until the client closes
    writer.close()


async def test_a_broken_websocket_protocol_ends_the_connection_with_an_error() -> None:
    server = await asyncio.start_server(_raw_websocket_then_garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        settings = TransportSettings(hostname="127.0.0.1", port=port, transport="websockets")
        transport, recorder = await open_connection(WriteFlowRecorder, settings)
        transport.abort()  # the client waits for the server to close TCP; do not wait for that
        async with asyncio.timeout(10):
            lost = await recorder.lost
    assert isinstance(lost, ConnectionError)
    assert "broke the WebSocket protocol" in str(lost)
    assert "opcode" in str(lost.__cause__)
