"""The embedded broker's listeners: TCP, TLS (mutual too), WebSocket (plain and TLS), Unix
sockets, several on one broker; what each refuses; the Broker and Listener arguments.

Certificates come from the session's ``pki`` (its server certificate names 127.0.0.1). These
run on the default loop and on uvloop.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import sys
from pathlib import Path

import pytest
from embedded_helpers import EVENT_TIMEOUT, MakeBroker, receive
from transport_servers import Pki

from asyncmqtt import Client, MqttConnectError
from asyncmqtt.broker import DEFAULT_HOST, Broker, Listener
from asyncmqtt.protocol.broker_config import BrokerConfig

pytestmark = pytest.mark.all_event_loops


def server_context(pki: Pki, *, require_certificate: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_certificate:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca_pem)
    return context


def client_context(pki: Pki, *, certificate: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_pem))
    if certificate:
        context.load_cert_chain(pki.client_cert, pki.client_key)
    return context


async def round_trip(listener: Listener, **options: object) -> None:
    """Subscribe and publish to ourselves at QoS 1 through ``listener``."""
    arguments = {**listener.client_arguments(), **options}
    async with Client(**arguments) as client:
        await client.subscribe("echo", qos=1)
        await client.publish("echo", listener.url, qos=1)
        async with asyncio.timeout(EVENT_TIMEOUT):
            message = await anext(aiter(client.messages))
    assert message.payload == listener.url.encode()


async def test_the_default_is_tcp_on_loopback_with_a_free_port(broker: Broker) -> None:
    (listener,) = broker.listeners
    assert (listener.transport, listener.host) == ("tcp", DEFAULT_HOST)
    assert broker.host == DEFAULT_HOST and broker.port == listener.port != 0
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    assert broker.client_arguments() == {"hostname": DEFAULT_HOST, "port": broker.port}
    assert broker.is_serving
    await round_trip(listener)


async def test_tls(make_broker: MakeBroker, pki: Pki) -> None:
    broker = await make_broker(tls_context=server_context(pki))
    assert broker.url.startswith("mqtts://127.0.0.1:")
    await round_trip(broker.listeners[0], tls_context=client_context(pki))
    # A plain client on the TLS port fails there, and the broker serves on.
    with pytest.raises(MqttConnectError):
        async with Client(broker.host, broker.port, timeout=2):
            pass
    await round_trip(broker.listeners[0], tls_context=client_context(pki))


async def test_mutual_tls(make_broker: MakeBroker, pki: Pki) -> None:
    context = server_context(pki, require_certificate=True)
    broker = await make_broker(listeners=[Listener.tls(context, port=0)])
    await round_trip(broker.listeners[0], tls_context=client_context(pki, certificate=True))
    with pytest.raises(MqttConnectError):
        async with Client(broker.host, broker.port, tls_context=client_context(pki), timeout=2):
            pass


async def test_websocket_and_secure_websocket(make_broker: MakeBroker, pki: Pki) -> None:
    broker = await make_broker(
        listeners=[
            Listener.websocket(port=0),
            Listener.websocket(port=0, path="/custom", tls_context=server_context(pki)),
        ]
    )
    plain, secure = broker.listeners
    assert broker.client_arguments() == plain.client_arguments()
    assert plain.url == f"ws://127.0.0.1:{plain.port}/mqtt"
    assert secure.url == f"wss://127.0.0.1:{secure.port}/custom"
    await round_trip(plain)
    await round_trip(secure, tls_context=client_context(pki))


async def test_websocket_refuses_another_path_and_a_missing_subprotocol(
    make_broker: MakeBroker,
) -> None:
    broker = await make_broker(listeners=[Listener.websocket(port=0)])
    listener = broker.listeners[0]
    with pytest.raises(MqttConnectError, match="404") as caught:
        async with Client(**{**listener.client_arguments(), "websocket_path": "/other"}):
            pass
    assert caught.value.stage == "websocket"
    reader, writer = await asyncio.open_connection(listener.host, listener.port)
    writer.write(
        b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    async with asyncio.timeout(EVENT_TIMEOUT):
        answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"missing subprotocol" in answer
    await round_trip(listener)


async def test_websocket_text_frames_end_the_connection(make_broker: MakeBroker) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    broker = await make_broker(listeners=[Listener.websocket(port=0)])
    listener = broker.listeners[0]
    url = f"ws://{listener.host}:{listener.port}/mqtt"
    async with connect(url, subprotocols=["mqtt"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "mqtt"
        await ws.send("not binary")
        with pytest.raises(ConnectionClosed) as caught:
            async with asyncio.timeout(EVENT_TIMEOUT):
                await ws.recv()
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1003


async def test_websocket_handshake_timeout(make_broker: MakeBroker) -> None:
    broker = await make_broker(listeners=[Listener.websocket(port=0)], connect_timeout=0.2)
    listener = broker.listeners[0]
    reader, writer = await asyncio.open_connection(listener.host, listener.port)
    async with asyncio.timeout(EVENT_TIMEOUT):
        assert await reader.read() == b""  # dropped without a word
    writer.close()
    await writer.wait_closed()


async def test_unix_socket(make_broker: MakeBroker, tmp_path: Path) -> None:
    path = tmp_path / "broker.sock"
    path.touch()  # (not a socket: must not be replaced)
    with pytest.raises(OSError):
        await make_broker(listeners=[Listener.unix(path)])
    path.unlink()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # a stale socket file is replaced
    stale.close()
    broker = Broker(listeners=[Listener.unix(path)])
    async with broker:
        assert broker.url == f"unix:{path}"
        with pytest.raises(RuntimeError, match="no TCP or WebSocket listener"):
            _ = broker.port
        await round_trip(broker.listeners[0])
        assert path.exists()
    assert not path.exists()


async def test_every_kind_of_listener_on_one_broker(
    make_broker: MakeBroker, pki: Pki, tmp_path: Path
) -> None:
    broker = await make_broker(
        listeners=[
            Listener.tcp(port=0),
            Listener.tls(server_context(pki), port=0),
            Listener.websocket(port=0),
            Listener.websocket(port=0, tls_context=server_context(pki)),
            Listener.unix(tmp_path / "mqtt.sock"),
        ]
    )
    ports = [listener.port for listener in broker.listeners[:4]]
    assert 0 not in ports and len(set(ports)) == 4
    clients = [
        Client(
            **listener.client_arguments(),
            tls_context=client_context(pki) if listener.uses_tls else None,
            identifier=f"c{index}",
        )
        for index, listener in enumerate(broker.listeners)
    ]
    for entered in clients:
        await entered.__aenter__()
    try:
        for subscriber in clients:
            await subscriber.subscribe("all", qos=1)
        for publisher in clients:
            await publisher.publish("all", publisher.identifier, qos=1)
        for subscriber in clients:
            received = await receive(subscriber, 5)
            assert sorted(m.payload for m in received) == [f"c{n}".encode() for n in range(5)]
    finally:
        for entered in reversed(clients):
            await entered.__aexit__(None, None, None)


async def test_mosquitto_clients_on_the_simple_form(
    make_broker: MakeBroker, tmp_path: Path
) -> None:
    """The simple form's extra listeners, and mosquitto_pub over the Unix socket."""
    path = tmp_path / "s.sock"
    broker = await make_broker(websocket_port=0, unix_path=path)
    tcp, websocket, unix = broker.listeners
    assert (tcp.transport, websocket.transport, unix.transport) == ("tcp", "websockets", "unix")
    assert websocket.websocket_path == "/mqtt" and unix.socket_path == os.fspath(path)
    async with Client(**websocket.client_arguments()) as subscriber:
        await subscriber.subscribe("via/unix", qos=1)
        process = await asyncio.create_subprocess_exec(
            "mosquitto_pub", "--unix", str(path), "-t", "via/unix", "-m", "hi", "-q", "1"
        )
        assert await process.wait() == 0
        async with asyncio.timeout(EVENT_TIMEOUT):
            message = await anext(aiter(subscriber.messages))
    assert message.payload == b"hi"


async def test_an_address_in_use_fails_start_and_leaves_nothing_open(broker: Broker) -> None:
    clash = Broker(listeners=[Listener.tcp(port=0), Listener.tcp(port=broker.port)])
    with pytest.raises(OSError):
        await clash.start()
    assert not clash.is_serving
    with pytest.raises(OSError):
        await clash.start()  # (it may be started again: the port is still taken)
    await clash.close()  # (nothing to do)


def test_listener_arguments_are_checked(tmp_path: Path) -> None:
    assert Listener.tcp(port=0).url == "mqtt://127.0.0.1:0"
    assert Listener.tcp(port=1, host="::1").url == "mqtt://[::1]:1"
    assert Listener.unix(tmp_path / "x").client_arguments() == {
        "hostname": str(tmp_path / "x"),
        "transport": "unix",
    }
    assert Listener.websocket(port=9001).client_arguments() == {
        "hostname": "127.0.0.1",
        "port": 9001,
        "transport": "websockets",
        "websocket_path": "/mqtt",
    }
    with pytest.raises(ValueError, match="from 0"):
        Listener.tcp(port=70000)
    with pytest.raises(TypeError, match="port must be an int"):
        Listener.tcp(port="1883")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="host"):
        Listener.tcp(host="")
    with pytest.raises(ValueError, match="transport"):
        Listener(transport="quic")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a port"):
        Listener(transport="tcp")
    with pytest.raises(TypeError, match="SSLContext"):
        Listener.tls("cert.pem", port=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="websocket_path"):
        Listener.websocket(path="mqtt")
    with pytest.raises(ValueError, match="websocket_path is only"):
        Listener(transport="tcp", port=1, websocket_path="/x")
    with pytest.raises(ValueError, match="takes no port"):
        Listener(transport="unix", socket_path="/x", port=1)
    with pytest.raises(ValueError, match="socket_path="):
        Listener.unix("")
    with pytest.raises(ValueError, match="socket_path is only"):
        Listener(transport="tcp", port=1, socket_path="/x")


def test_broker_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="give listeners or port, not both"):
        Broker(port=0, listeners=[Listener.tcp(port=0)])
    with pytest.raises(ValueError, match="websocket_path needs websocket_port"):
        Broker(websocket_path="/mqtt")
    with pytest.raises(TypeError, match="Listener objects"):
        Broker(listeners=["tcp://x"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="logger"):
        Broker(logger="asyncmqtt")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_event"):
        Broker(on_event=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="close_timeout"):
        Broker(close_timeout=0)
    # The settings are BrokerConfig's, checked there; a config or settings, not both.
    with pytest.raises(ValueError, match="max_queued_messages"):
        Broker(max_queued_messages=-1)
    with pytest.raises(TypeError, match="not both"):
        Broker(config=BrokerConfig(), max_connections=3)
    broker = Broker(config=BrokerConfig(max_connections=3))
    assert broker.config.max_connections == 3
    assert Broker(max_connections=4).config == BrokerConfig(max_connections=4)
    assert Broker().url == "mqtt://127.0.0.1:1883"
    assert Broker(tls_context=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)).port == 8883
    assert Broker(listeners=[]).listeners == ()
    with pytest.raises(RuntimeError, match="no listener"):
        _ = Broker(listeners=[]).url
    with pytest.raises(RuntimeError, match="no listener"):
        Broker(listeners=[]).client_arguments()
    assert "new" in repr(Broker(port=0))


def test_a_websocket_listener_needs_the_websockets_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "websockets", None)
    with pytest.raises(ImportError, match=r"pip install 'asyncmqtt\[websockets\]'"):
        Listener.websocket(port=0)
    assert Broker(port=0).listeners[0].transport == "tcp"  # (the rest needs no extra)
