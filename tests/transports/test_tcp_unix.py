"""Plain TCP and Unix sockets through ``open_connection``, against the real broker: round trips,
``bind_address``/``bind_port`` and ``socket_options`` checked by what the socket and the broker
report."""

from __future__ import annotations

import asyncio
import socket

import pytest
from mqtt_session import MqttSession, round_trip
from transport_servers import TransportBroker

from asyncmqtt.errors import MqttConnectError
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.transports import TransportSettings, open_connection

VERSIONS = [ProtocolVersion.V311, ProtocolVersion.V5]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
async def test_tcp_round_trip(transport_broker: TransportBroker, version: ProtocolVersion) -> None:
    settings = TransportSettings(hostname=transport_broker.host, port=transport_broker.port)
    transport, session = await open_connection(lambda: MqttSession(version), settings)
    assert transport.get_extra_info("peername") == (transport_broker.host, transport_broker.port)
    await round_trip(session)
    assert await session.close() is None


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
async def test_unix_socket_round_trip(
    transport_broker: TransportBroker, version: ProtocolVersion
) -> None:
    path = str(transport_broker.unix.path)
    settings = TransportSettings(hostname=path, transport="unix")
    transport, session = await open_connection(lambda: MqttSession(version), settings)
    sock = transport.get_extra_info("socket")
    assert sock.family == socket.AF_UNIX
    assert sock.getpeername() == path
    await round_trip(session)
    assert await session.close() is None


async def test_bind_address_and_port_are_what_the_broker_sees(
    transport_broker: TransportBroker,
) -> None:
    local_port = _free_port()
    settings = TransportSettings(
        hostname=transport_broker.host,
        port=transport_broker.port,
        bind_address="127.0.0.1",
        bind_port=local_port,
    )
    transport, session = await open_connection(MqttSession, settings)
    assert transport.get_extra_info("sockname") == ("127.0.0.1", local_port)
    await round_trip(session)
    # mosquitto logs the client's address when the CONNECT arrives, before its CONNACK.
    log = transport_broker.mosquitto.log_text()
    assert f"New client connected from 127.0.0.1:{local_port} " in log
    assert await session.close() is None


async def test_bind_port_alone(transport_broker: TransportBroker) -> None:
    local_port = _free_port()
    settings = TransportSettings(
        hostname=transport_broker.host, port=transport_broker.port, bind_port=local_port
    )
    transport, session = await open_connection(MqttSession, settings)
    assert transport.get_extra_info("sockname")[1] == local_port
    await session.next_any()  # CONNACK
    assert await session.close() is None


async def test_socket_options_are_set_on_the_real_socket(
    transport_broker: TransportBroker,
) -> None:
    settings = TransportSettings(
        hostname=transport_broker.host,
        port=transport_broker.port,
        socket_options=[
            (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
            (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 77),
            (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 13),
        ],
    )
    transport, session = await open_connection(MqttSession, settings)
    sock = transport.get_extra_info("socket")
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 77
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 13
    await round_trip(session)
    assert await session.close() is None


async def test_socket_options_on_a_unix_socket(transport_broker: TransportBroker) -> None:
    settings = TransportSettings(
        hostname=str(transport_broker.unix.path),
        transport="unix",
        socket_options=[(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)],
    )
    transport, session = await open_connection(MqttSession, settings)
    # Linux doubles the value it is given, for its bookkeeping.
    assert transport.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) in (
        32768,
        65536,
    )
    await session.next_any()  # CONNACK
    assert await session.close() is None


async def test_a_socket_option_the_system_refuses_fails_at_the_tcp_stage(
    transport_broker: TransportBroker,
) -> None:
    bad_option = (socket.SOL_SOCKET, 0x7FFF, 1)
    settings = TransportSettings(
        hostname=transport_broker.host, port=transport_broker.port, socket_options=[bad_option]
    )
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    assert caught.value.stage == "tcp"
    assert repr(bad_option) in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)


async def test_a_missing_unix_socket_fails_at_the_tcp_stage(tmp_path: object) -> None:
    path = f"{tmp_path}/no-broker-here.sock"
    settings = TransportSettings(hostname=path, transport="unix")
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    assert caught.value.stage == "tcp"
    assert caught.value.address == f"unix:{path}"
    assert f"unix:{path}" in str(caught.value)
    assert isinstance(caught.value.__cause__, FileNotFoundError)


async def test_ipv6_with_a_bound_address() -> None:
    """IPv6 addresses bind and connect as IPv4 ones do (a small server on ::1)."""
    accepted: asyncio.Queue[tuple[object, ...]] = asyncio.Queue()

    def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait(writer.get_extra_info("peername"))
        writer.close()

    server = await asyncio.start_server(on_client, "::1", 0)
    port = server.sockets[0].getsockname()[1]
    local_port = _free_port()
    async with server:
        settings = TransportSettings(
            hostname="::1", port=port, bind_address="::1", bind_port=local_port
        )
        assert settings.address == f"mqtt://[::1]:{port}"
        _, session = await open_connection(MqttSession, settings)
        async with asyncio.timeout(10):
            peer = await accepted.get()
            await session.lost
    assert peer[:2] == ("::1", local_port)
