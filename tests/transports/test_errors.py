"""How connecting fails: each stage raises ``MqttConnectError`` naming itself and the broker,
chained to the cause; one deadline covers every stage; a connect that gives up closes its
socket; a missing optional extra names the package to install."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mqtt_session import MqttSession

from asyncmqtt.errors import MqttConnectError, MqttError
from asyncmqtt.transports import (
    ProxySettings,
    ProxyType,
    TLSParameters,
    TransportSettings,
    open_connection,
)

SHORT_TIMEOUT = 0.3  # the deadline under test; nothing waits for it to pass but the code


async def _connect_error(settings: TransportSettings, **options: Any) -> MqttConnectError:
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings, **options)
    error = caught.value
    assert isinstance(error, MqttError)
    assert error.address == settings.address
    assert f"connecting to {settings.address} failed at the {error.stage} stage" in str(error)
    return error


# -- servers that never answer ------------------------------------------------------------------


class SilentServer:
    """Accepts TCP connections and never sends a byte; tells when a client went away."""

    def __init__(self) -> None:
        self.port = 0
        self.connected: asyncio.Queue[None] = asyncio.Queue()
        self.closed: asyncio.Queue[None] = asyncio.Queue()

    def protocol(self) -> asyncio.Protocol:
        server = self

        class Silent(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                server.connected.put_nowait(None)

            def connection_lost(self, exc: Exception | None) -> None:
                server.closed.put_nowait(None)

        return Silent()

    async def wait_connected(self) -> None:
        async with asyncio.timeout(10):
            await self.connected.get()

    async def wait_closed_by_client(self) -> None:
        async with asyncio.timeout(10):
            await self.closed.get()


@pytest.fixture
async def silent_server() -> AsyncIterator[SilentServer]:
    record = SilentServer()
    server = await asyncio.get_running_loop().create_server(record.protocol, "127.0.0.1", 0)
    record.port = server.sockets[0].getsockname()[1]
    async with server:
        yield record


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: new TCP handshakes get no answer at all."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    # With a backlog of 0 the queue holds one connection; this one fills it.
    filler = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        yield port
    finally:
        filler.close()
        listener.close()


# -- each stage -----------------------------------------------------------------------------------


async def test_name_resolution_failure() -> None:
    settings = TransportSettings(hostname="no-such-broker.invalid", port=1883)
    error = await _connect_error(settings)
    assert error.stage == "resolve"
    assert "'no-such-broker.invalid'" in str(error)
    assert isinstance(error.__cause__, socket.gaierror)


async def test_connection_refused(unused_tcp_port: int) -> None:
    settings = TransportSettings(hostname="127.0.0.1", port=unused_tcp_port)
    error = await _connect_error(settings)
    assert error.stage == "tcp"
    assert error.address == f"mqtt://127.0.0.1:{unused_tcp_port}"
    assert isinstance(error.__cause__, ConnectionRefusedError)


async def test_tcp_timeout(full_backlog: int) -> None:
    settings = TransportSettings(hostname="127.0.0.1", port=full_backlog, timeout=SHORT_TIMEOUT)
    error = await _connect_error(settings)
    assert error.stage == "tcp"
    assert "timed out after" in str(error)
    assert isinstance(error.__cause__, TimeoutError)


async def test_tls_handshake_timeout(silent_server: SilentServer) -> None:
    # A context made beforehand: built from tls_params in the connect, loading the system's
    # CA certificates can take the whole short deadline on a loaded machine, and the deadline
    # then passes (rightly at the "tls" stage) before any TCP connection was made.
    settings = TransportSettings(
        hostname="127.0.0.1",
        port=silent_server.port,
        tls_context=ssl.create_default_context(),
        timeout=SHORT_TIMEOUT,
    )
    error = await _connect_error(settings)
    assert error.stage == "tls"
    assert isinstance(error.__cause__, TimeoutError)
    await silent_server.wait_closed_by_client()


async def test_websocket_handshake_timeout(silent_server: SilentServer) -> None:
    settings = TransportSettings(
        hostname="127.0.0.1",
        port=silent_server.port,
        transport="websockets",
        timeout=SHORT_TIMEOUT,
    )
    error = await _connect_error(settings)
    assert error.stage == "websocket"
    assert isinstance(error.__cause__, TimeoutError)
    await silent_server.wait_closed_by_client()


async def test_proxy_timeout(silent_server: SilentServer) -> None:
    proxy = ProxySettings(
        proxy_type=ProxyType.SOCKS5, proxy_addr="127.0.0.1", proxy_port=silent_server.port
    )
    settings = TransportSettings(
        hostname="broker.example", port=1883, proxy=proxy, timeout=SHORT_TIMEOUT
    )
    error = await _connect_error(settings)
    assert error.stage == "proxy"
    assert isinstance(error.__cause__, TimeoutError)
    await silent_server.wait_closed_by_client()


async def test_a_caller_deadline_replaces_the_timeout(silent_server: SilentServer) -> None:
    settings = TransportSettings(
        hostname="127.0.0.1", port=silent_server.port, tls_params=TLSParameters()
    )
    assert settings.timeout is None
    deadline = asyncio.get_running_loop().time() + SHORT_TIMEOUT
    error = await _connect_error(settings, deadline=deadline)
    assert error.stage == "tls"
    assert isinstance(error.__cause__, TimeoutError)


async def _closing_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def test_closed_during_the_websocket_handshake() -> None:
    server = await asyncio.start_server(_closing_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        settings = TransportSettings(hostname="127.0.0.1", port=port, transport="websockets")
        error = await _connect_error(settings)
    assert error.stage == "websocket"
    assert "closed before the WebSocket handshake completed" in str(error)


async def test_closed_during_the_tls_handshake() -> None:
    server = await asyncio.start_server(_closing_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        settings = TransportSettings(hostname="127.0.0.1", port=port, tls_params=TLSParameters())
        error = await _connect_error(settings)
    assert error.stage == "tls"
    assert isinstance(error.__cause__, OSError)


# -- giving up closes the socket ----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
async def test_cancelling_a_handshake_closes_the_connection(
    silent_server: SilentServer, transport: Any
) -> None:
    tls = {"tls_params": TLSParameters()} if transport == "tcp" else {}
    settings = TransportSettings(
        hostname="127.0.0.1", port=silent_server.port, transport=transport, **tls
    )
    attempt = asyncio.create_task(open_connection(MqttSession, settings))
    await silent_server.wait_connected()
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    await silent_server.wait_closed_by_client()


# -- optional extras ----------------------------------------------------------------------------


def test_missing_websockets_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "websockets", None)  # makes "import websockets" fail
    with pytest.raises(ImportError) as caught:
        TransportSettings(hostname="broker.example", transport="websockets")
    message = str(caught.value)
    assert "'websockets' package" in message
    assert "pip install 'asyncmqtt[websockets]'" in message


def test_missing_python_socks_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "python_socks", None)
    proxy = ProxySettings(proxy_type=ProxyType.HTTP, proxy_addr="proxy.example")
    with pytest.raises(ImportError) as caught:
        TransportSettings(hostname="broker.example", proxy=proxy)
    message = str(caught.value)
    assert "'python-socks' package" in message
    assert "pip install 'asyncmqtt[proxy]'" in message


def test_plain_tcp_needs_no_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "websockets", None)
    monkeypatch.setitem(sys.modules, "python_socks", None)
    assert TransportSettings(hostname="broker.example").address == "mqtt://broker.example:1883"


async def test_a_deadline_already_past_fails_the_first_stage() -> None:
    # A name, not an address: uvloop answers for an address without yielding to the loop.
    settings = TransportSettings(hostname="localhost", port=1883)
    deadline = asyncio.get_running_loop().time() - 1.0
    error = await _connect_error(settings, deadline=deadline)
    assert error.stage == "resolve"
    assert isinstance(error.__cause__, TimeoutError)
