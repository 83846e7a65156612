"""Connecting: every constructor parameter, CONNACK details, protocol fallback, connect errors."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trustme
from both_brokers import AnyBroker, MakeBroker
from broker import Mosquitto
from client_helpers import client_for, next_message
from fake_servers import FakeServer, FakeSession, serve_plainly

from asyncmqtt import (
    Client,
    MqttCodeError,
    MqttConnectError,
    MqttError,
    Properties,
    ProtocolVersion,
    ProxySettings,
    TLSParameters,
    Will,
)
from asyncmqtt.errors import ConnectionLostError, MalformedPacketError
from asyncmqtt.protocol.enums import ConnAckReasonCode, ConnectReturnCode
from asyncmqtt.protocol.packets import ConnAck, Connect, Disconnect, PingReq, PingResp, Publish

if TYPE_CHECKING:
    from conftest import MosquittoFactory

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311


# ---------------------------------------------------------------- connecting to a broker


@pytest.mark.parametrize("protocol", [ProtocolVersion.V31, V311, V5])
async def test_connects_with_each_protocol_version(broker: AnyBroker, protocol: Any) -> None:
    async with client_for(broker, protocol=protocol) as client:
        assert client.is_connected
        assert client.protocol is protocol
    assert not client.is_connected


async def test_default_protocol_is_mqtt_5(broker: AnyBroker) -> None:
    async with client_for(broker) as client:
        assert client.protocol is V5


async def test_connack_details_are_readable(make_broker: MakeBroker) -> None:
    broker = await make_broker(receive_maximum=7, maximum_packet_size=5000)
    async with client_for(broker, identifier="") as client:
        server = client.server
        assert server.receive_maximum == 7
        assert server.maximum_packet_size == 5000
        assert client.session_present is False
        # An empty identifier makes an MQTT 5 broker assign one, which the client then uses.
        assert server.assigned_client_identifier
        assert client.identifier == server.assigned_client_identifier


# mosquitto only, these two: its log is where the identifier the broker saw is read.
async def test_identifier_is_generated_when_not_given(mosquitto: Mosquitto) -> None:
    first, second = client_for(mosquitto), client_for(mosquitto)
    assert first.identifier != second.identifier
    assert len(first.identifier) <= 23 and first.identifier.isalnum()
    async with first:
        assert f" as {first.identifier} " in mosquitto.log_text()


@pytest.mark.parametrize("name", ["identifier", "client_id"])
async def test_identifier_and_its_old_name_client_id(mosquitto: Mosquitto, name: str) -> None:
    async with client_for(mosquitto, **{name: f"given-{name}"}) as client:
        assert client.identifier == f"given-{name}"
        assert f" as given-{name} " in mosquitto.log_text()


async def test_username_and_password(make_broker: MakeBroker) -> None:
    broker = await make_broker(users={"alice": "wonderland"})
    async with client_for(broker, username="alice", password="wonderland") as client:
        assert client.is_connected
    async with client_for(broker, username="alice", password=b"wonderland") as client:
        assert client.is_connected


@pytest.mark.parametrize(
    ("protocol", "code"),
    [(V5, ConnAckReasonCode.NOT_AUTHORIZED), (V311, ConnectReturnCode.NOT_AUTHORIZED)],
)
async def test_refused_connection(
    make_broker: MakeBroker, protocol: ProtocolVersion, code: int
) -> None:
    broker = await make_broker(users={"alice": "wonderland"})
    client = client_for(broker, username="alice", password="wrong", protocol=protocol)
    with pytest.raises(MqttConnectError) as caught:
        await client.__aenter__()
    error = caught.value
    assert error.stage == "connack"
    assert error.address == f"mqtt://{broker.host}:{broker.port}"
    assert "refused the connection" in str(error)
    assert isinstance(error.__cause__, MqttCodeError)
    assert error.__cause__.rc == code
    assert not client.is_connected
    # A failed enter leaves the client usable (and not entered).
    await client.__aexit__(None, None, None)


async def test_nothing_listening(unused_tcp_port: int) -> None:
    client = Client("127.0.0.1", unused_tcp_port)
    with pytest.raises(MqttConnectError) as caught:
        async with client:
            pass
    assert caught.value.stage == "tcp"
    assert isinstance(caught.value.__cause__, OSError)


async def test_connect_timeout_without_connack() -> None:
    async def never_answer(session: FakeSession) -> None:
        await session.until_closed()

    async with FakeServer(never_answer) as server:
        client = Client("127.0.0.1", server.port, timeout=0.2, protocol=V5)
        with pytest.raises(MqttConnectError) as caught:
            async with client:
                pass
    assert caught.value.stage == "connack"
    assert "timed out after 0.2 s" in str(caught.value)
    assert caught.value.rc is None


async def test_a_broker_silent_to_mqtt_5_gets_3_1_1_in_the_rest_of_the_timeout() -> None:
    async def answer_311_only(session: FakeSession) -> None:
        connect = await session.expect(Connect)
        if connect.protocol_version is V5:
            await session.until_closed()  # (amqtt 0.12 never answers some 5.0 CONNECTs)
            return
        session.send(ConnAck(False, 0))
        await session.serve()

    async with (
        FakeServer(answer_311_only) as server,
        Client("127.0.0.1", server.port, timeout=2) as client,
    ):
        assert client.protocol is ProtocolVersion.V311
    assert [s.connect.protocol_version for s in server.sessions] == [V5, V311]  # type: ignore[union-attr]


async def test_when_both_versions_fail_the_error_names_both_attempts() -> None:
    async def never_answer(session: FakeSession) -> None:
        await session.until_closed()

    async with FakeServer(never_answer) as server:
        with pytest.raises(MqttConnectError) as caught:
            async with Client("127.0.0.1", server.port, timeout=0.4):
                pass
    text = str(caught.value)
    assert "with MQTT 3.1.1" in text and "with MQTT 5.0 first: no answer to its CONNECT" in text


async def test_keepalive_is_sent_in_connect() -> None:
    async with (
        FakeServer(serve_plainly) as server,
        Client("127.0.0.1", server.port, keepalive=17),
    ):
        pass
    connect = server.sessions[0].connect
    assert connect is not None and connect.keep_alive == 17


async def test_keepalive_pings_a_quiet_broker() -> None:
    pings = asyncio.Queue[float]()

    async def answer_pings(session: FakeSession) -> None:
        await session.accept()
        while (packet := await session.receive()) is not None:
            if isinstance(packet, PingReq):
                session.send(PingResp())
                pings.put_nowait(asyncio.get_running_loop().time())

    async with (
        FakeServer(answer_pings) as server,
        Client("127.0.0.1", server.port, keepalive=1) as client,
    ):
        # Two pings: the first was answered, so the client stayed connected past the
        # 1.5 keepalives in which an unanswered ping would have ended the connection.
        await pings.get()
        await pings.get()
        assert client.is_connected


async def test_keepalive_detects_a_silent_broker() -> None:
    async def accept_then_go_silent(session: FakeSession) -> None:
        await session.accept()
        await session.until_closed()

    async with (
        FakeServer(accept_then_go_silent) as server,
        Client("127.0.0.1", server.port, keepalive=1) as client,
    ):
        with pytest.raises(MqttError) as caught:
            async for _ in client.messages:
                pass
    assert "keepalive" in str(caught.value)
    assert isinstance(caught.value.__cause__, ConnectionLostError)
    assert any(isinstance(p, PingReq) for p in server.sessions[0].received)


async def test_bind_address_and_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    async with (
        FakeServer(serve_plainly) as server,
        Client("127.0.0.1", server.port, bind_address="127.0.0.1", bind_port=local_port),
    ):
        pass
    assert server.sessions[0].peer == ("127.0.0.1", local_port)


async def test_socket_options_are_applied(mosquitto: Mosquitto) -> None:
    options = [
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        (socket.SOL_SOCKET, socket.SO_RCVBUF, 65536),
    ]
    async with client_for(mosquitto, socket_options=options) as client:
        link = client._link
        assert link is not None and link.transport is not None
        sock = link.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1


async def test_bad_socket_option_fails_connect(mosquitto: Mosquitto) -> None:
    client = client_for(mosquitto, socket_options=[(socket.SOL_SOCKET, 987654, 1)])
    with pytest.raises(MqttConnectError) as caught:
        async with client:
            pass
    assert "cannot set socket option (1, 987654, 1)" in str(caught.value)
    assert caught.value.stage == "tcp"


async def test_connect_properties_are_sent() -> None:
    props = Properties(
        session_expiry_interval=30,
        receive_maximum=10,
        topic_alias_maximum=5,
        maximum_packet_size=100_000,
        user_properties=(("app", "test"),),
    )
    async with (
        FakeServer(serve_plainly) as server,
        Client("127.0.0.1", server.port, properties=props),
    ):
        pass
    connect = server.sessions[0].connect
    assert connect is not None
    assert connect.properties.session_expiry_interval == 30
    assert connect.properties.receive_maximum == 10
    assert connect.properties.topic_alias_maximum == 5
    assert connect.properties.maximum_packet_size == 100_000
    assert connect.properties.user_properties == (("app", "test"),)


async def test_will_is_sent_in_connect() -> None:
    will = Will(
        "status/me", "gone", qos=1, retain=True, properties=Properties(will_delay_interval=0)
    )
    async with FakeServer(serve_plainly) as server, Client("127.0.0.1", server.port, will=will):
        pass
    connect = server.sessions[0].connect
    assert connect is not None and connect.will is not None
    assert connect.will.topic == "status/me"
    assert connect.will.payload == b"gone"
    assert connect.will.qos == 1 and connect.will.retain


async def test_will_is_published_when_the_client_vanishes(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as watcher:
        await watcher.subscribe(f"{topic}/will", qos=1)
        doomed = client_for(broker, will=Will(f"{topic}/will", payload=3.5, qos=1))
        await doomed.__aenter__()
        assert doomed._link is not None
        doomed._link.abort()  # the network connection dies without DISCONNECT
        async for message in watcher.messages:
            assert message.topic.value == f"{topic}/will"
            assert message.payload == b"3.5"
            break
        # Nothing in the block saw the loss, so leaving the block reports it.
        with pytest.raises(ConnectionLostError):
            await doomed.__aexit__(None, None, None)


async def test_a_retained_will_keeps_its_properties(broker: AnyBroker, topic: str) -> None:
    will = Will(
        f"{topic}/will",
        payload="gone",
        qos=1,
        retain=True,
        properties=Properties(content_type="text/plain", user_properties=(("why", "test"),)),
    )
    async with client_for(broker) as watcher:
        await watcher.subscribe(f"{topic}/will", qos=1)
        doomed = client_for(broker, will=will)
        await doomed.__aenter__()
        assert doomed._link is not None
        doomed._link.abort()
        live = await next_message(watcher.messages)  # the will was published
        with pytest.raises(ConnectionLostError):
            await doomed.__aexit__(None, None, None)
    assert (live.payload, live.qos) == (b"gone", 1)
    # A client subscribing later gets it as a retained message, properties and all.
    async with client_for(broker) as late:
        await late.subscribe(f"{topic}/will", qos=1)
        message = await next_message(late.messages)
        assert (message.payload, message.retain, message.qos) == (b"gone", True, 1)
        for received in (live, message):
            assert received.properties.content_type == "text/plain"
            assert received.properties.user_properties == (("why", "test"),)
        await late.publish(f"{topic}/will", None, qos=1, retain=True)  # cleared


@pytest.mark.parametrize(
    ("clean_start", "flags"),
    [
        (True, [True, True]),
        (False, [False, False]),
        (3, [True, False]),
        ("first_only", [True, False]),
    ],
)
async def test_clean_start(clean_start: Any, flags: list[bool]) -> None:
    async with FakeServer(serve_plainly) as server:
        client = Client("127.0.0.1", server.port, clean_start=clean_start, identifier="cs")
        for _ in flags:
            async with client:
                pass
    sent = [session.connect.clean_start for session in server.sessions if session.connect]
    assert sent == flags


@pytest.mark.parametrize(("clean_session", "expiry"), [(True, None), (False, 0xFFFFFFFF)])
async def test_clean_session_on_mqtt5(clean_session: bool, expiry: int | None) -> None:
    async with (
        FakeServer(serve_plainly) as server,
        Client("127.0.0.1", server.port, clean_session=clean_session),
    ):
        pass
    connect = server.sessions[0].connect
    assert connect is not None
    assert connect.clean_start is clean_session
    assert connect.properties.session_expiry_interval == expiry


@pytest.mark.parametrize("clean_session", [None, True, False])
async def test_clean_session_on_mqtt311(clean_session: bool | None) -> None:
    async with FakeServer(serve_plainly) as server:
        client = Client(
            "127.0.0.1", server.port, clean_session=clean_session, protocol=V311, identifier="x"
        )
        async with client:
            pass
    connect = server.sessions[0].connect
    assert connect is not None
    assert connect.clean_start is (clean_session is not False)


async def test_message_retry_set_is_accepted_and_has_no_effect(mosquitto: Mosquitto) -> None:
    async with client_for(mosquitto, message_retry_set=20) as client:
        assert client.is_connected


async def test_timeout_is_the_default_for_operations(mosquitto: Mosquitto) -> None:
    assert client_for(mosquitto).timeout == 10.0
    assert client_for(mosquitto, timeout=2.5).timeout == 2.5
    assert client_for(mosquitto, timeout=float("inf")).timeout is None


async def test_logger_receives_the_records(mosquitto: Mosquitto, caplog: Any) -> None:
    logger = logging.getLogger("my.app.mqtt")
    with caplog.at_level(logging.DEBUG, logger="my.app.mqtt"):
        async with client_for(mosquitto, logger=logger):
            pass
    assert any(r.name == "my.app.mqtt" and "connected to" in r.getMessage() for r in caplog.records)
    assert not any(r.name == "asyncmqtt" for r in caplog.records)


# ---------------------------------------------------------------- unix sockets and TLS


async def test_unix_socket_transport(make_mosquitto: MosquittoFactory, tmp_path: Path) -> None:
    path = tmp_path / "mqtt.sock"
    make_mosquitto(extra=[f"listener 0 {path}", "allow_anonymous true"])
    async with Client(str(path), transport="unix") as client:
        await client.subscribe("unix/test")
        await client.publish("unix/test", "over a unix socket")
        async for message in client.messages:
            assert message.payload == b"over a unix socket"
            break


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_websockets_transport(make_mosquitto: MosquittoFactory) -> None:
    port = free_port()
    make_mosquitto(
        extra=[
            f"listener {port} 127.0.0.1",
            "protocol websockets",
            "socket_domain ipv4",
            "allow_anonymous true",
        ]
    )
    client = Client("127.0.0.1", port, transport="websockets", websocket_headers={"X-Test": "1"})
    async with client:
        assert client.protocol is V5
        await client.subscribe("ws/test", qos=1)
        await client.publish("ws/test", "over a WebSocket", qos=1)
        async for message in client.messages:
            assert message.payload == b"over a WebSocket"
            break


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")  # deliberately not 127.0.0.1: see tls_insecure
    files = {
        "ca": directory / "ca.pem",
        "cert": directory / "cert.pem",
        "key": directory / "key.pem",
    }
    ca.cert_pem.write_to_path(files["ca"])
    cert.cert_chain_pems[0].write_to_path(files["cert"])
    cert.private_key_pem.write_to_path(files["key"])
    return files


@pytest.fixture
def tls_broker(make_mosquitto: MosquittoFactory, tls_files: dict[str, Path]) -> int:
    """A mosquitto with a TLS listener; returns the TLS port."""
    port = free_port()
    make_mosquitto(
        extra=[
            f"listener {port} 127.0.0.1",
            f"cafile {tls_files['ca']}",
            f"certfile {tls_files['cert']}",
            f"keyfile {tls_files['key']}",
            "allow_anonymous true",
        ]
    )
    return port


async def test_tls_params(tls_broker: int, tls_files: dict[str, Path]) -> None:
    params = TLSParameters(ca_certs=str(tls_files["ca"]), cert_reqs=ssl.CERT_REQUIRED)
    async with Client("localhost", tls_broker, tls_params=params) as client:
        await client.publish("tls/test", "secret", qos=1)


async def test_tls_context(tls_broker: int, tls_files: dict[str, Path]) -> None:
    context = ssl.create_default_context(cafile=str(tls_files["ca"]))
    async with Client("localhost", tls_broker, tls_context=context) as client:
        await client.publish("tls/test", "secret", qos=1)


async def test_tls_verifies_the_hostname(tls_broker: int, tls_files: dict[str, Path]) -> None:
    params = TLSParameters(ca_certs=str(tls_files["ca"]))
    with pytest.raises(MqttConnectError) as caught:
        async with Client("127.0.0.1", tls_broker, tls_params=params):
            pass
    assert caught.value.stage == "tls"
    # tls_insecure turns the hostname check off (the certificate is still verified).
    async with Client("127.0.0.1", tls_broker, tls_params=params, tls_insecure=True) as client:
        assert client.is_connected


async def test_tls_rejects_an_unknown_authority(tls_broker: int) -> None:
    with pytest.raises(MqttConnectError) as caught:
        async with Client("localhost", tls_broker, tls_params=TLSParameters()):
            pass
    assert caught.value.stage == "tls"


# ---------------------------------------------------------------- protocol fallback


def refuse_mqtt5_with(answer: bytes | None) -> Any:
    """A server that answers an MQTT 5 CONNECT with ``answer`` (None: closes) and accepts 3.1.1."""

    async def handler(session: FakeSession) -> None:
        connect = await session.expect(Connect)
        if connect.protocol_version is V5:
            if answer is not None:
                session.send_bytes(answer)
                await session.until_closed()
            return
        session.send(ConnAck(False, 0))
        await session.serve()

    return handler


CONNACK_V5_UNSUPPORTED = bytes.fromhex("20 03 00 84 00")
CONNACK_V311_UNACCEPTABLE_VERSION = bytes.fromhex("20 02 00 01")


@pytest.mark.parametrize(
    "answer",
    [CONNACK_V5_UNSUPPORTED, CONNACK_V311_UNACCEPTABLE_VERSION, None],
    ids=["connack-0x84", "v311-return-code-1", "closed-before-connack"],
)
async def test_falls_back_to_mqtt311(answer: bytes | None) -> None:
    async with FakeServer(refuse_mqtt5_with(answer)) as server:
        client = Client("127.0.0.1", server.port, properties=Properties(session_expiry_interval=9))
        async with client:
            assert client.protocol is V311
            await client.publish("after/fallback", "yes", qos=1)
        # The choice is remembered: the next entry goes straight to 3.1.1.
        async with client:
            assert client.protocol is V311
    versions = [s.connect.protocol_version for s in server.sessions if s.connect]
    assert versions == [V5, V311, V311]


@pytest.mark.parametrize("answer", [CONNACK_V5_UNSUPPORTED, None], ids=["connack-0x84", "closed"])
async def test_explicit_protocol_never_falls_back(answer: bytes | None) -> None:
    async with FakeServer(refuse_mqtt5_with(answer)) as server:
        with pytest.raises(MqttConnectError) as caught:
            async with Client("127.0.0.1", server.port, protocol=V5):
                pass
    assert caught.value.stage == "connack"
    assert len(server.sessions) == 1
    if answer is None:
        assert isinstance(caught.value.__cause__, ConnectionLostError)
    else:
        assert isinstance(caught.value.__cause__, MqttCodeError)
        assert caught.value.__cause__.rc == ConnAckReasonCode.UNSUPPORTED_PROTOCOL_VERSION


async def test_fallback_that_fails_too_reports_the_311_failure() -> None:
    async def refuse_everything(session: FakeSession) -> None:
        connect = await session.expect(Connect)
        if connect.protocol_version is V5:
            session.send_bytes(CONNACK_V5_UNSUPPORTED)
        else:
            session.send(ConnAck(False, ConnectReturnCode.SERVER_UNAVAILABLE))
        await session.until_closed()

    async with FakeServer(refuse_everything) as server:
        with pytest.raises(MqttConnectError) as caught:
            async with Client("127.0.0.1", server.port):
                pass
    assert "SERVER_UNAVAILABLE" in str(caught.value)


# ---------------------------------------------------------------- a broker breaking the protocol


async def test_garbage_after_connack_is_answered_with_disconnect_0x81() -> None:
    async def accept_then_send_garbage(session: FakeSession) -> None:
        await session.accept()
        session.send_bytes(b"\x00\x00")  # packet type 0 is reserved
        await session.until_closed()

    async with (
        FakeServer(accept_then_send_garbage) as server,
        Client("127.0.0.1", server.port) as client,
    ):
        with pytest.raises(MqttError) as caught:
            async for _ in client.messages:
                pass
    assert str(caught.value).startswith("the connection ended: ")
    assert isinstance(caught.value.__cause__, MalformedPacketError)
    disconnects = [p for p in server.sessions[0].received if isinstance(p, Disconnect)]
    assert [d.reason_code for d in disconnects] == [0x81]


async def test_broker_disconnect_is_reported_with_its_reason() -> None:
    async def accept_then_kick(session: FakeSession) -> None:
        await session.accept()
        session.send(Disconnect(0x98, Properties(reason_string="admin says bye")))
        await session.until_closed()

    async with FakeServer(accept_then_kick) as server:
        with pytest.raises(MqttError) as caught:
            async with Client("127.0.0.1", server.port) as client:
                await client.subscribe("x")
    assert "admin says bye" in str(caught.value)


async def test_connection_lost_in_the_block_is_raised_at_exit() -> None:
    async def accept_then_close(session: FakeSession) -> None:
        await session.accept()
        await session.expect(Publish)  # the marker: the client is inside the block

    async with FakeServer(accept_then_close) as server:
        client = Client("127.0.0.1", server.port)
        with pytest.raises(ConnectionLostError) as caught:
            async with client:
                await client.publish("marker")
                await client._link.closed  # type: ignore[union-attr]
        assert "ended: the connection to the broker was lost" in str(caught.value)


async def test_body_exception_is_never_hidden_by_the_disconnect() -> None:
    async def accept_then_close(session: FakeSession) -> None:
        await session.accept()
        await session.expect(Publish)

    async with FakeServer(accept_then_close) as server:
        client = Client("127.0.0.1", server.port)
        with pytest.raises(KeyError):
            async with client:
                await client.publish("marker")
                await client._link.closed  # type: ignore[union-attr]
                raise KeyError("from the body")


# ---------------------------------------------------------------- reuse and reentrancy


async def test_reusable_after_exit(mosquitto: Mosquitto, topic: str) -> None:
    client = client_for(mosquitto)
    for round_number in range(3):
        async with client:
            await client.subscribe(topic)
            await client.publish(topic, round_number)
            async for message in client.messages:
                assert message.payload == str(round_number).encode()
                break


async def test_nested_entry_raises(mosquitto: Mosquitto) -> None:
    from asyncmqtt import MqttReentrantError

    client = client_for(mosquitto)
    async with client:
        with pytest.raises(MqttReentrantError):
            async with client:
                pass
        assert client.is_connected
        await client.publish("still/usable")


async def test_concurrent_entry_raises(mosquitto: Mosquitto) -> None:
    from asyncmqtt import MqttReentrantError

    client = client_for(mosquitto)
    results = await asyncio.gather(client.__aenter__(), client.__aenter__(), return_exceptions=True)
    assert sum(isinstance(r, MqttReentrantError) for r in results) == 1
    assert client in results
    await client.__aexit__(None, None, None)
    assert not client.is_connected


async def test_aexit_without_enter_or_twice_is_harmless(mosquitto: Mosquitto) -> None:
    client = client_for(mosquitto)
    await client.__aexit__(None, None, None)
    await client.__aenter__()
    await client.__aexit__(None, None, None)
    await client.__aexit__(None, None, None)
    assert not client.is_connected


def test_client_can_be_made_outside_a_running_loop() -> None:
    client = Client("localhost")
    assert not client.is_connected
    assert "localhost:1883" in repr(client)


# ---------------------------------------------------------------- bad constructor arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"hostname": 5}, TypeError, "hostname"),
        ({"hostname": ""}, ValueError, "hostname"),
        ({"port": 0}, ValueError, "port=0"),
        ({"port": 70000}, ValueError, "port=70000"),
        ({"port": "1883"}, TypeError, "port"),
        ({"keepalive": -1}, ValueError, "keepalive=-1"),
        ({"keepalive": 65536}, ValueError, "keepalive=65536"),
        ({"keepalive": 1.5}, TypeError, "keepalive"),
        ({"transport": "carrier-pigeon"}, ValueError, "transport='carrier-pigeon'"),
        ({"websocket_path": "/mqtt"}, ValueError, "websocket_path"),
        ({"websocket_headers": {"a": "b"}}, ValueError, "websocket_headers"),
        (
            {"proxy": ProxySettings(proxy_type=2, proxy_addr="p"), "transport": "unix"},
            ValueError,
            "proxy",
        ),
        ({"proxy": "socks://x"}, TypeError, "proxy"),
        ({"identifier": 7}, TypeError, "identifier"),
        ({"identifier": "a", "client_id": "b"}, ValueError, "client_id"),
        ({"identifier": "bad\x00id"}, ValueError, "client_id"),
        ({"username": 1}, TypeError, "username"),
        ({"password": 1234}, TypeError, "password"),
        ({"logger": "asyncmqtt"}, TypeError, "logger"),
        ({"queue_type": list}, TypeError, "queue_type"),
        ({"protocol": 6}, ValueError, "protocol=6"),
        ({"protocol": "5"}, TypeError, "protocol"),
        ({"will": ("t", "p")}, TypeError, "will"),
        ({"clean_session": 1}, TypeError, "clean_session"),
        ({"clean_start": 2}, ValueError, "clean_start=2"),
        ({"timeout": 0}, ValueError, "timeout=0"),
        ({"timeout": "10"}, TypeError, "timeout"),
        ({"bind_port": -1}, ValueError, "bind_port=-1"),
        ({"bind_address": None}, TypeError, "bind_address"),
        ({"max_queued_incoming_messages": "5"}, TypeError, "max_queued_incoming_messages"),
        ({"max_queued_outgoing_messages": -1}, ValueError, "max_queued_outgoing_messages"),
        ({"max_inflight_messages": 0}, ValueError, "max_inflight_messages=0"),
        ({"max_concurrent_outgoing_calls": 0}, ValueError, "max_concurrent_outgoing_calls=0"),
        ({"session_lost_policy": "drop"}, ValueError, "session_lost_policy='drop' is not a"),
        ({"properties": {"a": 1}}, TypeError, "properties"),
        ({"properties": Properties(topic_alias=3)}, ValueError, "topic_alias"),
        (
            {"properties": Properties(user_properties=(("a", "b"),)), "protocol": V311},
            ValueError,
            "MQTT 5.0",
        ),
        (
            {"will": Will("w", properties=Properties(will_delay_interval=1)), "protocol": V311},
            ValueError,
            "will properties",
        ),
        ({"password": "secret", "protocol": V311}, ValueError, "password without a username"),
        ({"clean_session": False, "identifier": "", "protocol": V311}, ValueError, "client_id"),
        ({"tls_context": "yes"}, TypeError, "tls_context"),
        ({"tls_params": {"ca_certs": None}}, TypeError, "tls_params"),
        ({"tls_insecure": True}, ValueError, "tls_insecure"),
        (
            {"tls_context": ssl.create_default_context(), "tls_params": TLSParameters()},
            ValueError,
            "not both",
        ),
        ({"socket_options": [(1, 2)]}, TypeError, "socket option"),
        ({"socket_options": 5}, TypeError, "socket_options"),
        ({"message_retry_set": -1}, ValueError, "message_retry_set"),
        ({"topic_alias_maximum": -1}, ValueError, "topic_alias_maximum=-1"),
        ({"topic_alias_maximum": 65536}, ValueError, "topic_alias_maximum=65536"),
        ({"topic_alias_maximum": "5"}, TypeError, "topic_alias_maximum"),
        (
            {"topic_alias_maximum": 5, "properties": Properties(topic_alias_maximum=6)},
            ValueError,
            "topic_alias_maximum=5 and the CONNECT property topic_alias_maximum=6 disagree",
        ),
        ({"topic_alias_maximum": 5, "protocol": V311}, ValueError, "needs MQTT 5.0, not 3.1.1"),
        ({"outgoing_topic_aliases": 1}, TypeError, "outgoing_topic_aliases must be a bool"),
        (
            {"outgoing_topic_aliases": True, "protocol": V311},
            ValueError,
            "outgoing_topic_aliases=True needs MQTT 5.0, not 3.1.1",
        ),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], error: type, words: str) -> None:
    arguments: dict[str, Any] = {"hostname": "localhost", **kwargs}
    with pytest.raises(error) as caught:
        Client(**arguments)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"topic": "a/+"}, ValueError, "wildcard"),
        ({"topic": "ok", "qos": 3}, ValueError, "qos=3"),
        ({"topic": "ok", "payload": object()}, TypeError, "payload"),
        ({"topic": "ok", "retain": "yes"}, TypeError, "retain"),
        ({"topic": "ok", "properties": Properties(session_expiry_interval=1)}, ValueError, "will"),
    ],
)
def test_bad_will_arguments(kwargs: dict[str, Any], error: type, words: str) -> None:
    with pytest.raises(error) as caught:
        Will(**kwargs)
    assert words in str(caught.value)
