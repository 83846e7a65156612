"""Scenario tests of ClientConnection against a scripted fake broker, on bytes and time."""

from __future__ import annotations

import pytest
from fake_broker import FakeBroker, connected

from asyncmqtt.errors import (
    ConnectionLostError,
    MalformedPacketError,
    MqttCodeError,
    MqttError,
    PacketTooLargeError,
    ProtocolError,
    ProtocolViolationError,
    ReceiveMaximumExceededError,
    SessionLostError,
    TopicAliasInvalidError,
)
from asyncmqtt.protocol.connection import (
    _VALID_TOPICS,
    ClientConnection,
    ConnectionState,
    PublishHandle,
    SessionLostPolicy,
)
from asyncmqtt.protocol.enums import (
    AuthReasonCode,
    ConnAckReasonCode,
    ConnectReturnCode,
    DisconnectReasonCode,
    ProtocolVersion,
    PubAckReasonCode,
    PubRecReasonCode,
    PubRelReasonCode,
    SubAckReasonCode,
    UnsubAckReasonCode,
)
from asyncmqtt.protocol.events import (
    Connected,
    Disconnected,
    MessageReceived,
    PublishCompleted,
    PublishFailed,
    Reauthenticated,
    ReceiveMaximumExceeded,
    SubscribeCompleted,
    UnsubscribeCompleted,
)
from asyncmqtt.protocol.packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    WillMessage,
)
from asyncmqtt.protocol.properties import NO_PROPERTIES, Properties

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311
BOTH = pytest.mark.parametrize("version", [V311, V5])


def only(events: list[object], kind: type) -> list[object]:
    return [e for e in events if isinstance(e, kind)]


# ---------------------------------------------------------------- connecting


def test_connect_sends_connect_with_the_configured_fields() -> None:
    will = WillMessage("will/topic", b"bye", 1, True)
    conn = ClientConnection(
        client_id="me",
        keep_alive=30,
        username="user",
        password=b"secret",
        will=will,
        properties=Properties(session_expiry_interval=60),
        receive_maximum=10,
        maximum_packet_size=4096,
        topic_alias_maximum=5,
    )
    broker = FakeBroker(conn)
    assert conn.state is ConnectionState.IDLE
    conn.connect(0.0)
    assert conn.state is ConnectionState.CONNECTING
    [packet] = broker.received()
    assert packet == Connect(
        client_id="me",
        clean_start=True,
        keep_alive=30,
        username="user",
        password=b"secret",
        will=will,
        protocol_version=V5,
        properties=Properties(
            session_expiry_interval=60,
            receive_maximum=10,
            maximum_packet_size=4096,
            topic_alias_maximum=5,
        ),
    )


def test_connack_negotiation_is_readable() -> None:
    conn = ClientConnection(keep_alive=60)
    broker = FakeBroker(conn)
    props = Properties(
        assigned_client_identifier="auto-1",
        server_keep_alive=20,
        receive_maximum=3,
        maximum_packet_size=1000,
        topic_alias_maximum=4,
        maximum_qos=1,
        retain_available=False,
        wildcard_subscription_available=False,
        subscription_identifier_available=False,
        shared_subscription_available=False,
        response_information="resp/",
        server_reference="other:1883",
        session_expiry_interval=30,
        reason_string="welcome",
        user_properties=(("k", "v"),),
    )
    events = broker.connect(properties=props)
    [event] = events
    assert isinstance(event, Connected)
    s = conn.server
    assert event.settings is s
    assert (s.session_present, s.assigned_client_identifier, s.server_keep_alive) == (
        False,
        "auto-1",
        20,
    )
    assert (s.receive_maximum, s.maximum_packet_size, s.topic_alias_maximum, s.maximum_qos) == (
        3,
        1000,
        4,
        1,
    )
    assert not s.retain_available
    assert not s.wildcard_subscription_available
    assert not s.subscription_identifier_available
    assert not s.shared_subscription_available
    assert (s.response_information, s.server_reference, s.session_expiry_interval) == (
        "resp/",
        "other:1883",
        30,
    )
    assert s.reason_string == "welcome"
    assert s.user_properties == (("k", "v"),)
    assert conn.client_id == "auto-1"
    assert conn.state is ConnectionState.CONNECTED
    # The server keep alive replaces ours.
    assert conn.get_timer() == 20.0


def test_defaults_when_broker_says_nothing() -> None:
    conn, _ = connected(V311)
    s = conn.server
    assert (s.receive_maximum, s.maximum_qos, s.topic_alias_maximum) == (65535, 2, 0)
    assert s.retain_available and s.wildcard_subscription_available
    assert s.maximum_packet_size is None


def test_assigned_identifier_is_used_on_reconnect() -> None:
    conn = ClientConnection(clean_start=False, properties=Properties(session_expiry_interval=60))
    broker = FakeBroker(conn)
    broker.connect(properties=Properties(assigned_client_identifier="given"))
    conn.receive_eof(1.0)
    conn.connect(2.0)
    broker.new_network_connection()
    [packet] = broker.received()
    assert isinstance(packet, Connect)
    assert packet.client_id == "given"


def test_clean_start_first_only_resumes_on_reconnect() -> None:
    conn = ClientConnection(client_id="c")
    broker = FakeBroker(conn)
    conn.connect(0.0)
    [first] = broker.received()
    assert isinstance(first, Connect) and first.clean_start
    broker.send(ConnAck())
    conn.receive_eof(1.0)
    broker.new_network_connection()
    conn.connect(2.0)
    [second] = broker.received()
    assert isinstance(second, Connect) and not second.clean_start


@pytest.mark.parametrize("clean_start", [True, False])
def test_clean_start_always_or_never(clean_start: bool) -> None:
    conn = ClientConnection(client_id="c", clean_start=clean_start)
    broker = FakeBroker(conn)
    for now in (0.0, 2.0):
        broker.new_network_connection()
        conn.connect(now)
        [packet] = broker.received()
        assert isinstance(packet, Connect) and packet.clean_start is clean_start
        broker.send(ConnAck())
        conn.receive_eof(now + 1)


def test_mqtt311_clean_session_is_the_same_every_time() -> None:
    conn = ClientConnection(client_id="c", protocol_version=V311)
    broker = FakeBroker(conn)
    for now in (0.0, 2.0):
        broker.new_network_connection()
        conn.connect(now)
        [packet] = broker.received()
        assert isinstance(packet, Connect) and packet.clean_start
        broker.send(ConnAck())
        conn.receive_eof(now + 1)


@pytest.mark.parametrize(
    ("version", "code"),
    [(V5, ConnAckReasonCode.NOT_AUTHORIZED), (V311, ConnectReturnCode.NOT_AUTHORIZED)],
)
def test_refused_connack_disconnects_with_the_code(version: ProtocolVersion, code: int) -> None:
    conn = ClientConnection(protocol_version=version)
    broker = FakeBroker(conn)
    conn.connect(0.0)
    broker.received()
    [event] = broker.send(ConnAck(False, code))
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, MqttCodeError)
    assert event.error.rc == code
    assert event.reason_code == code
    assert conn.state is ConnectionState.CLOSED


def test_eof_before_connack_says_so() -> None:
    conn = ClientConnection()
    conn.connect(0.0)
    conn.data_to_send()
    conn.receive_eof(1.0)
    [event] = conn.events_received()
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ConnectionLostError)
    assert "before CONNACK" in str(event.error)


def test_eof_after_connect_is_connection_lost_and_idempotent() -> None:
    conn, _ = connected()
    conn.receive_eof(1.0)
    conn.receive_eof(2.0)
    events = conn.events_received()
    assert len(events) == 1
    assert isinstance(events[0], Disconnected)
    assert "lost" in str(events[0].error)


def test_connect_twice_is_an_error() -> None:
    conn, _ = connected()
    with pytest.raises(MqttError, match="in use"):
        conn.connect(1.0)


def test_data_is_ignored_before_connect_and_after_close() -> None:
    conn = ClientConnection()
    conn.receive_data(b"\xff\xff", 0.0)
    assert conn.events_received() == []
    conn, broker = connected()
    conn.disconnect(now=1.0)
    conn.events_received()
    assert broker.send(PingResp()) == []


def test_session_present_after_clean_start_is_a_protocol_error() -> None:
    conn = ClientConnection()
    broker = FakeBroker(conn)
    conn.connect(0.0)
    broker.received()
    [event] = broker.send(ConnAck(True, 0))
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ProtocolViolationError)
    assert "present session" in str(event.error)


def test_second_connack_is_a_protocol_error() -> None:
    _conn, broker = connected()
    [event] = broker.send(ConnAck())
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ProtocolViolationError)
    assert [type(p) for p in broker.received()] == [Disconnect]


@pytest.mark.parametrize(
    "packet", [Publish("a", b"x"), PubAck(1), SubAck(1, (0,)), PingResp(), UnsubAck(1, (0,))]
)
def test_packets_before_connack_are_protocol_errors(packet: object) -> None:
    conn = ClientConnection()
    broker = FakeBroker(conn)
    conn.connect(0.0)
    broker.received()
    [event] = broker.send(packet)  # type: ignore[arg-type]
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ProtocolViolationError)
    assert "before CONNACK" in str(event.error)
    # No DISCONNECT is sent before the connection is accepted.
    assert broker.received() == []


def test_disconnect_before_connack_is_reported() -> None:
    conn = ClientConnection()
    broker = FakeBroker(conn)
    conn.connect(0.0)
    broker.received()
    [event] = broker.send(Disconnect(DisconnectReasonCode.SERVER_BUSY))
    assert isinstance(event, Disconnected)
    assert event.reason_code == DisconnectReasonCode.SERVER_BUSY


# ---------------------------------------------------------------- constructor misuse


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"keep_alive": -1}, ValueError, "keep_alive=-1"),
        ({"keep_alive": 70000}, ValueError, "between 0 and 65535"),
        ({"keep_alive": "60"}, TypeError, "keep_alive must be an int"),
        ({"keep_alive": True}, TypeError, "keep_alive must be an int"),
        ({"receive_maximum": 0}, ValueError, "receive_maximum=0"),
        ({"max_inflight": 0}, ValueError, "max_inflight=0"),
        ({"maximum_packet_size": 1}, ValueError, "maximum_packet_size=1"),
        ({"client_id": 5}, TypeError, "client_id must be a str"),
        ({"protocol_version": 5}, TypeError, "ProtocolVersion"),
        ({"clean_start": "yes"}, ValueError, "clean_start must be"),
        ({"properties": {"a": 1}}, TypeError, "properties must be a Properties"),
        (
            {"properties": Properties(receive_maximum=5)},
            ValueError,
            "give receive_maximum as a parameter",
        ),
        (
            {"protocol_version": V311, "properties": Properties(session_expiry_interval=5)},
            ValueError,
            "need MQTT 5.0",
        ),
        ({"protocol_version": V311, "receive_maximum": 5}, ValueError, "need MQTT 5.0"),
        (
            {"protocol_version": V311, "client_id": "", "clean_start": False},
            ValueError,
            "empty client_id",
        ),
        ({"will": WillMessage("a/+")}, ValueError, "a/\\+"),
        ({"will": WillMessage("a", qos=3)}, ValueError, "qos=3"),
    ],
)
def test_constructor_rejects_bad_values(options: dict[str, object], error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        ClientConnection(**options)  # type: ignore[arg-type]


# ---------------------------------------------------------------- publishing


@BOTH
def test_qos0_publish_is_written_at_once(version: ProtocolVersion) -> None:
    conn, broker = connected(version)
    assert conn.publish("a/b", b"hello", now=1.0) is None
    assert broker.received() == [Publish("a/b", b"hello")]
    assert conn.events_received() == []


@BOTH
def test_qos1_publish_flow(version: ProtocolVersion) -> None:
    conn, broker = connected(version)
    handle = conn.publish("a/b", b"x", qos=1, retain=True, now=1.0)
    assert isinstance(handle, PublishHandle)
    assert handle.written and not handle.done
    assert handle.packet_id == 1
    assert broker.received() == [Publish("a/b", b"x", 1, True, False, 1)]
    assert conn.inflight_count == 1
    [event] = broker.send(PubAck(1))
    assert event == PublishCompleted(handle, 0)
    assert handle.done
    assert conn.inflight_count == 0
    assert "done" in repr(handle)


@BOTH
def test_qos2_publish_flow(version: ProtocolVersion) -> None:
    conn, broker = connected(version)
    handle = conn.publish("a/b", b"x", qos=2, now=1.0)
    assert isinstance(handle, PublishHandle)
    assert broker.received() == [Publish("a/b", b"x", 2, False, False, 1)]
    assert broker.send(PubRec(1)) == []
    assert broker.received() == [PubRel(1)]
    # A repeated PUBREC is answered with PUBREL again.
    assert broker.send(PubRec(1)) == []
    assert broker.received() == [PubRel(1)]
    [event] = broker.send(PubComp(1))
    assert event == PublishCompleted(handle, 0)


def test_negative_acknowledgements_complete_with_the_code() -> None:
    conn, broker = connected()
    h1 = conn.publish("a", b"", qos=1, now=1.0)
    h2 = conn.publish("a", b"", qos=2, now=1.0)
    broker.received()
    props = Properties(reason_string="no")
    events = broker.send(
        PubAck(1, PubAckReasonCode.NOT_AUTHORIZED, props),
        PubRec(2, PubRecReasonCode.QUOTA_EXCEEDED),
    )
    assert events == [
        PublishCompleted(h1, PubAckReasonCode.NOT_AUTHORIZED, props),  # type: ignore[arg-type]
        PublishCompleted(h2, PubRecReasonCode.QUOTA_EXCEEDED),  # type: ignore[arg-type]
    ]
    # No PUBREL after a failed PUBREC.
    assert broker.received() == []


def test_packet_ids_skip_ids_in_flight_and_wrap() -> None:
    conn, broker = connected()
    conn.session.next_packet_id = 65535
    h1 = conn.publish("a", b"", qos=1, now=1.0)
    h2 = conn.publish("a", b"", qos=1, now=1.0)
    assert h1 is not None and h2 is not None
    assert (h1.packet_id, h2.packet_id) == (65535, 1)
    broker.received()
    broker.send(PubAck(1))
    conn.session.next_packet_id = 65535  # wraps onto 65535, still in flight: skipped
    h3 = conn.publish("a", b"", qos=1, now=1.0)
    assert h3 is not None and h3.packet_id == 1


def test_all_packet_ids_in_use_is_an_error() -> None:
    conn, _ = connected()
    conn._subscribes = dict.fromkeys(range(1, 65536), 1)
    with pytest.raises(MqttError, match="65535 packet identifiers"):
        conn.publish("a", b"", qos=1, now=1.0)


def test_publish_validation_errors_send_nothing() -> None:
    conn, broker = connected(properties=Properties(maximum_qos=1, retain_available=False))
    cases: list[tuple[dict[str, object], type, str]] = [
        ({"topic": "a/+"}, ValueError, "a/\\+"),
        ({"topic": ""}, ValueError, "must not be empty"),
        ({"topic": 5}, TypeError, "must be a str"),
        ({"payload": "text"}, TypeError, "payload must be bytes"),
        ({"qos": 3}, ValueError, "qos=3"),
        ({"qos": "1"}, TypeError, "qos must be an int"),
        ({"qos": 2}, ValueError, "maximum QoS 1"),
        ({"retain": True}, ValueError, "retained"),
        ({"retain": 1}, TypeError, "retain must be a bool"),
        ({"properties": "x"}, TypeError, "properties must be a Properties"),
        (
            {"properties": Properties(subscription_identifiers=(1,))},
            ValueError,
            "subscription_identifiers",
        ),
        ({"properties": Properties(topic_alias=1)}, ValueError, "topic alias maximum 0"),
        ({"properties": Properties(session_expiry_interval=1)}, ValueError, "session_expiry"),
    ]
    for options, error, text in cases:
        args: dict[str, object] = {"topic": "a", "payload": b"", "qos": 0, **options}
        with pytest.raises(error, match=text):
            conn.publish(now=1.0, **args)  # type: ignore[arg-type]
    assert broker.received() == []
    assert conn.inflight_count == conn.pending_count == 0
    # Still usable.
    conn.publish("a", b"ok", now=1.0)
    assert broker.received() == [Publish("a", b"ok")]


def test_topic_validation_cache_is_bounded() -> None:
    conn, broker = connected()
    for i in range(1100):
        conn.publish(f"t/{i}", b"", now=1.0)
    assert len(_VALID_TOPICS) == 1024
    assert len(broker.received()) == 1100


def test_other_packets_above_broker_maximum_packet_size_raise() -> None:
    conn, broker = connected(properties=Properties(maximum_packet_size=30))
    with pytest.raises(ValueError, match=r"SUBSCRIBE packet is .* above the broker's maximum"):
        conn.subscribe([Subscription("x" * 40)], now=1.0)
    assert broker.received() == []
    assert conn._subscribes == {}


def test_payload_accepts_bytes_like() -> None:
    conn, broker = connected()
    conn.publish("a", bytearray(b"ab"), now=1.0)
    conn.publish("a", memoryview(b"cd"), now=1.0)
    assert [p.payload for p in broker.received()] == [b"ab", b"cd"]  # type: ignore[union-attr]


def test_publish_above_broker_maximum_packet_size_raises_before_sending() -> None:
    conn, broker = connected(properties=Properties(maximum_packet_size=50))
    with pytest.raises(ValueError, match="maximum packet size of 50 bytes"):
        conn.publish("a", b"x" * 100, now=1.0)
    with pytest.raises(ValueError, match="maximum packet size of 50 bytes"):
        conn.publish("a", b"x" * 100, qos=1, now=1.0)
    assert broker.received() == []
    assert conn.inflight_count == 0
    conn.publish("a", b"x", qos=1, now=1.0)
    assert conn.inflight_count == 1


def test_oversized_publish_is_rejected_while_queued_too() -> None:
    conn, _broker = connected(properties=Properties(receive_maximum=1, maximum_packet_size=50))
    conn.publish("a", b"", qos=1, now=1.0)
    with pytest.raises(ValueError, match="maximum packet size"):
        conn.publish("a", b"x" * 100, qos=1, now=1.0)
    assert conn.pending_count == 0


def test_qos0_needs_a_connection_but_qos1_is_queued_offline() -> None:
    conn = ClientConnection()
    with pytest.raises(MqttError, match="QoS 0 while idle"):
        conn.publish("a", b"", now=0.0)
    handle = conn.publish("a", b"queued", qos=1, now=0.0)
    assert handle is not None and not handle.written
    assert conn.pending_count == 1
    broker = FakeBroker(conn)
    broker.connect()
    assert broker.received() == [Publish("a", b"queued", 1, False, False, 1)]
    assert handle.written


def test_receive_maximum_queues_and_resumes_in_order() -> None:
    conn, broker = connected(properties=Properties(receive_maximum=2))
    handles = [conn.publish("t", bytes([i]), qos=1, now=1.0) for i in range(5)]
    sent = broker.received()
    assert [p.payload for p in sent] == [b"\x00", b"\x01"]  # type: ignore[union-attr]
    assert conn.inflight_count == 2 and conn.pending_count == 3
    assert not handles[2].written  # type: ignore[union-attr]
    broker.send(PubAck(1))
    sent = broker.received()
    assert [p.payload for p in sent] == [b"\x02"]  # type: ignore[union-attr]
    broker.send(PubAck(2), PubAck(3))
    sent = broker.received()
    assert [p.payload for p in sent] == [b"\x03", b"\x04"]  # type: ignore[union-attr]
    assert conn.pending_count == 0


def test_max_inflight_caps_below_receive_maximum() -> None:
    conn, broker = connected(max_inflight=1)
    conn.publish("t", b"1", qos=1, now=1.0)
    conn.publish("t", b"2", qos=1, now=1.0)
    assert len(broker.received()) == 1
    assert conn.pending_count == 1


def test_withdraw_removes_only_unwritten_publishes() -> None:
    conn, broker = connected(properties=Properties(receive_maximum=1))
    first = conn.publish("t", b"1", qos=1, now=1.0)
    second = conn.publish("t", b"2", qos=1, now=1.0)
    assert first is not None and second is not None
    assert conn.withdraw(second) is True
    assert second.done
    assert conn.withdraw(first) is False
    broker.received()
    broker.send(PubAck(1))
    assert broker.received() == []


def test_queued_publish_that_no_longer_fits_fails_explicitly() -> None:
    conn, broker = connected(properties=Properties(receive_maximum=1))
    conn.publish("t", b"1", qos=1, now=1.0)
    queued = conn.publish("t", b"x" * 100, qos=1, now=1.0)
    conn.receive_eof(2.0)
    conn.events_received()
    broker.new_network_connection()
    conn.connect(3.0)
    broker.received()
    events = broker.send(ConnAck(False, 0, Properties(maximum_packet_size=60)))
    failed = only(events, PublishFailed)
    assert len(failed) == 1
    assert failed[0].handle is queued  # type: ignore[attr-defined]
    assert "maximum packet size" in str(failed[0].error)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- receiving


@BOTH
def test_inbound_qos0_and_qos1(version: ProtocolVersion) -> None:
    _conn, broker = connected(version)
    events = broker.send(Publish("x/y", b"0"), Publish("x/y", b"1", 1, False, False, 7))
    assert events == [
        MessageReceived(Publish("x/y", b"0")),
        MessageReceived(Publish("x/y", b"1", 1, False, False, 7)),
    ]
    assert broker.received() == [PubAck(7)]


@BOTH
def test_inbound_qos2_is_delivered_exactly_once(version: ProtocolVersion) -> None:
    _conn, broker = connected(version)
    message = Publish("x", b"2", 2, False, False, 9)
    assert broker.send(message) == [MessageReceived(message)]
    assert broker.received() == [PubRec(9)]
    # The broker retransmits PUBLISH (DUP) before PUBREL: acknowledged, not delivered again.
    assert broker.send(message._replace(dup=True)) == []
    assert broker.received() == [PubRec(9)]
    assert broker.send(PubRel(9)) == []
    assert broker.received() == [PubComp(9)]
    # A retransmitted PUBREL is completed again; in 5.0 with "not found".
    assert broker.send(PubRel(9)) == []
    expected = PubComp(9, PubRelReasonCode.PACKET_IDENTIFIER_NOT_FOUND) if version is V5 else None
    assert broker.received() == [expected or PubComp(9)]
    # The id can then carry a new message.
    assert broker.send(message) == [MessageReceived(message)]


def test_inbound_qos2_survives_reconnect_with_session() -> None:
    conn, broker = connected(client_id="c", clean_start=False)
    message = Publish("x", b"2", 2, False, False, 3)
    broker.send(message)
    broker.received()
    conn.receive_eof(1.0)
    conn.events_received()
    broker.connect(session_present=True)
    assert broker.send(message._replace(dup=True)) == []
    assert broker.received() == [PubRec(3)]


def test_our_receive_maximum_is_enforced() -> None:
    _conn, broker = connected(receive_maximum=2)
    broker.send(Publish("x", b"", 2, False, False, 1), Publish("x", b"", 2, False, False, 2))
    events = broker.send(Publish("x", b"", 2, False, False, 3))
    [event] = events
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ReceiveMaximumExceededError)
    assert event.reason_code == DisconnectReasonCode.RECEIVE_MAXIMUM_EXCEEDED
    assert broker.received()[-1] == Disconnect(DisconnectReasonCode.RECEIVE_MAXIMUM_EXCEEDED)


def test_a_tolerant_connection_reports_a_broker_over_our_receive_maximum_and_goes_on() -> None:
    conn, broker = connected(receive_maximum=2, strict_receive_maximum=False)
    first, second = Publish("x", b"1", 2, packet_id=1), Publish("x", b"2", 2, packet_id=2)
    broker.send(first, second)
    third = Publish("x", b"3", 2, packet_id=3)
    assert broker.send(third) == [ReceiveMaximumExceeded(2, 3, 3), MessageReceived(third)]
    assert broker.received() == [PubRec(1), PubRec(2), PubRec(3)]
    assert conn.state is ConnectionState.CONNECTED
    # Once back under the limit, nothing more is reported.
    broker.send(PubRel(1), PubRel(2), PubRel(3))
    fourth = Publish("x", b"4", 2, packet_id=4)
    assert broker.send(fourth) == [MessageReceived(fourth)]


def test_inbound_topic_aliases() -> None:
    _conn, broker = connected(topic_alias_maximum=2)
    first = Publish("long/topic", b"1", properties=Properties(topic_alias=2))
    second = Publish("", b"2", properties=Properties(topic_alias=2))
    events = broker.send(first, second)
    assert [e.publish.topic for e in events] == ["long/topic", "long/topic"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("packet", "text"),
    [
        (Publish("", b"", properties=Properties(topic_alias=1)), "before defining"),
        (Publish("t", b"", properties=Properties(topic_alias=3)), "above our maximum 2"),
    ],
)
def test_invalid_inbound_topic_alias(packet: Publish, text: str) -> None:
    _conn, broker = connected(topic_alias_maximum=2)
    [event] = broker.send(packet)
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, TopicAliasInvalidError)
    assert text in str(event.error)
    assert broker.received() == [Disconnect(DisconnectReasonCode.TOPIC_ALIAS_INVALID)]


def test_aliases_are_forgotten_on_a_new_network_connection() -> None:
    conn, broker = connected(topic_alias_maximum=2, client_id="c", clean_start=False)
    broker.send(Publish("t", b"", properties=Properties(topic_alias=1)))
    conn.receive_eof(1.0)
    conn.events_received()
    broker.connect(session_present=True)
    [event] = broker.send(Publish("", b"", properties=Properties(topic_alias=1)))
    assert isinstance(event, Disconnected)


def test_empty_topic_without_alias_is_a_protocol_error() -> None:
    _conn, broker = connected()
    # PUBLISH, remaining length 3: empty topic, no properties, empty payload.
    [event] = broker.send_bytes(b"\x30\x03\x00\x00\x00")
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ProtocolViolationError)
    assert "empty topic" in str(event.error)


# ---------------------------------------------------------------- outgoing topic aliases


def test_explicit_outgoing_topic_alias() -> None:
    conn, broker = connected(properties=Properties(topic_alias_maximum=3))
    props = Properties(topic_alias=1)
    conn.publish("unrelated", b"0", properties=Properties(topic_alias=2), now=1.0)
    conn.publish("some/topic", b"1", properties=props, now=1.0)
    conn.publish("some/topic", b"2", properties=props, now=1.0)
    conn.publish("other", b"3", properties=props, now=1.0)  # rebinds alias 1
    conn.publish("some/topic", b"4", now=1.0)
    topics = [(p.topic, p.properties.topic_alias) for p in broker.received()]  # type: ignore[union-attr]
    assert topics == [
        ("unrelated", 2),
        ("some/topic", 1),
        ("", 1),
        ("other", 1),
        ("some/topic", None),
    ]


# ---------------------------------------------------------------- session resumption


def _interrupted_session(
    policy: SessionLostPolicy = SessionLostPolicy.RESEND,
) -> tuple[ClientConnection, FakeBroker, list[PublishHandle]]:
    conn, broker = connected(client_id="c", clean_start=False, session_lost_policy=policy)
    handles = [
        conn.publish("q1", b"a", qos=1, now=1.0),
        conn.publish("q2", b"b", qos=2, now=1.0),
        conn.publish("q2", b"c", qos=2, now=1.0),
        conn.publish("q1", b"d", qos=1, now=1.0),
    ]
    broker.received()
    broker.send(PubRec(2))  # the first QoS 2 message reached the broker
    broker.received()
    conn.receive_eof(2.0)
    [event] = conn.events_received()
    assert isinstance(event, Disconnected)
    return conn, broker, handles  # type: ignore[return-value]


def test_session_resumption_resends_with_dup_and_pubrel_in_order() -> None:
    _conn, broker, handles = _interrupted_session()
    [event] = broker.connect(session_present=True)
    assert isinstance(event, Connected) and event.settings.session_present
    assert broker.received() == [
        Publish("q1", b"a", 1, False, True, 1),
        PubRel(2),
        Publish("q2", b"c", 2, False, True, 3),
        Publish("q1", b"d", 1, False, True, 4),
    ]
    events = broker.send(PubAck(1), PubComp(2), PubRec(3), PubAck(4))
    assert [e.handle for e in events] == [handles[0], handles[1], handles[3]]  # type: ignore[union-attr]


def test_session_lost_resend_policy_publishes_again_as_new_messages() -> None:
    _conn, broker, handles = _interrupted_session()
    events = broker.connect(session_present=False)
    # Every one is sent again, without DUP: even the one whose PUBREC came, which a broker
    # may deliver only at PUBREL, and this broker lost with the session.
    [connected_event] = events
    assert isinstance(connected_event, Connected)
    sent = broker.received()
    assert [(p.payload, p.dup) for p in sent] == [  # type: ignore[union-attr]
        (b"a", False),
        (b"b", False),
        (b"c", False),
        (b"d", False),
    ]
    assert not any(handle.done for handle in handles)


def test_session_lost_fail_policy_reports_each_message() -> None:
    conn, broker, handles = _interrupted_session(SessionLostPolicy.FAIL)
    events = broker.connect(session_present=False)
    failed = only(events, PublishFailed)
    assert [e.handle for e in failed] == handles  # (the one whose PUBREC came too)  # type: ignore[attr-defined]
    assert all(isinstance(e.error, SessionLostError) for e in failed)  # type: ignore[attr-defined]
    assert "session_lost_policy=FAIL" in str(failed[0].error)  # type: ignore[attr-defined]
    assert broker.received() == []
    assert conn.inflight_count == 0


def test_the_policy_applies_to_a_clean_start_too_without_calling_it_a_lost_session() -> None:
    # A connection that starts clean on purpose has nothing to resume: what was in flight
    # follows the policy all the same, but the broker did not lose anything we asked for.
    conn, broker = connected(
        client_id="c", clean_start=True, session_lost_policy=SessionLostPolicy.FAIL
    )
    handle = conn.publish("q1", b"a", qos=1, now=1.0)
    broker.received()
    conn.receive_eof(2.0)
    conn.events_received()
    [failed, connected_event] = broker.connect(session_present=False)
    assert isinstance(connected_event, Connected) and not conn.session_lost
    assert isinstance(failed, PublishFailed) and failed.handle is handle
    assert isinstance(failed.error, SessionLostError)
    assert broker.received() == []


def test_queued_publishes_follow_resent_ones() -> None:
    conn, broker = connected(client_id="c", clean_start=False, max_inflight=1)
    conn.publish("t", b"1", qos=1, now=1.0)
    conn.publish("t", b"2", qos=1, now=1.0)
    broker.received()
    conn.receive_eof(2.0)
    conn.events_received()
    broker.connect(session_present=False)
    [resent] = broker.received()
    assert isinstance(resent, Publish) and resent.payload == b"1"
    assert resent.packet_id is not None
    broker.send(PubAck(resent.packet_id))
    assert [p.payload for p in broker.received()] == [b"2"]  # type: ignore[union-attr]


# ---------------------------------------------------------------- acknowledgements out of place


@pytest.mark.parametrize(
    ("setup_qos", "packet", "text"),
    [
        (None, PubAck(5), "PUBACK for packet id 5"),
        (2, PubAck(1), "PUBACK for packet id 1"),
        (1, PubRec(1), "PUBREC for packet id 1"),
        (1, PubComp(1), "PUBCOMP for packet id 1"),
        (None, SubAck(3, (0,)), "SUBACK for packet id 3"),
        (None, UnsubAck(3, (0,)), "UNSUBACK for packet id 3"),
    ],
)
def test_unexpected_acknowledgements_are_protocol_errors(
    setup_qos: int | None, packet: object, text: str
) -> None:
    conn, broker = connected()
    if setup_qos:
        conn.publish("t", b"", qos=setup_qos, now=1.0)
        broker.received()
    [event] = broker.send(packet)  # type: ignore[arg-type]
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ProtocolViolationError)
    assert text in str(event.error)
    assert broker.received() == [Disconnect(DisconnectReasonCode.PROTOCOL_ERROR)]


def test_pubrec_for_unknown_id_gets_pubrel_not_found_in_v5() -> None:
    _conn, broker = connected()
    assert broker.send(PubRec(8)) == []
    assert broker.received() == [PubRel(8, PubRelReasonCode.PACKET_IDENTIFIER_NOT_FOUND)]


def test_pubrec_for_unknown_id_is_a_protocol_error_in_v311() -> None:
    _conn, broker = connected(V311)
    [event] = broker.send(PubRec(8))
    assert isinstance(event, Disconnected)
    # MQTT 3.1.x has no DISCONNECT from the client to explain: it just closes.
    assert broker.received() == []


# ---------------------------------------------------------------- subscribe / unsubscribe


@BOTH
def test_subscribe_and_unsubscribe(version: ProtocolVersion) -> None:
    conn, broker = connected(version)
    subs = (Subscription("a/#", 1), Subscription("b/+", 2))
    packet_id = conn.subscribe(subs, now=1.0)
    assert broker.received() == [Subscribe(packet_id, subs)]
    codes = (SubAckReasonCode.GRANTED_QOS_1, SubAckReasonCode.UNSPECIFIED_ERROR)
    [event] = broker.send(SubAck(packet_id, codes))
    assert event == SubscribeCompleted(packet_id, codes)
    packet_id = conn.unsubscribe(["a/#"], now=1.0)
    assert broker.received() == [Unsubscribe(packet_id, ("a/#",))]
    codes5 = (UnsubAckReasonCode.SUCCESS,) if version is V5 else ()
    [event] = broker.send(UnsubAck(packet_id, codes5))
    assert event == UnsubscribeCompleted(packet_id, codes5)


def test_subscribe_with_options_and_identifier() -> None:
    conn, broker = connected()
    sub = Subscription("a", 1, no_local=True, retain_as_published=True)
    props = Properties(subscription_identifiers=(7,), user_properties=(("u", "v"),))
    packet_id = conn.subscribe([sub], props, now=1.0)
    assert broker.received() == [Subscribe(packet_id, (sub,), props)]


def test_suback_with_wrong_count_is_a_protocol_error() -> None:
    conn, broker = connected()
    packet_id = conn.subscribe([Subscription("a"), Subscription("b")], now=1.0)
    broker.received()
    [event] = broker.send(SubAck(packet_id, (0,)))
    assert isinstance(event, Disconnected)
    assert "1 reason codes for a SUBSCRIBE of 2" in str(event.error)


def test_unsuback_with_wrong_count_is_a_protocol_error() -> None:
    conn, broker = connected()
    packet_id = conn.unsubscribe(["a", "b"], now=1.0)
    broker.received()
    [event] = broker.send(UnsubAck(packet_id, (0,)))
    assert isinstance(event, Disconnected)
    assert "1 reason codes for an UNSUBSCRIBE of 2" in str(event.error)


def test_subscribe_validation() -> None:
    conn, broker = connected(
        properties=Properties(
            shared_subscription_available=False,
            wildcard_subscription_available=False,
            subscription_identifier_available=False,
        )
    )
    cases: list[tuple[object, object, type, str]] = [
        ([], NO_PROPERTIES, ValueError, "at least one"),
        (["a"], NO_PROPERTIES, TypeError, "expected a Subscription"),
        ([Subscription("a/#/b")], NO_PROPERTIES, ValueError, "a/#/b"),
        ([Subscription("a", 3)], NO_PROPERTIES, ValueError, "qos=3"),
        ([Subscription("$share/g/a")], NO_PROPERTIES, ValueError, "shared subscription"),
        ([Subscription("a/+")], NO_PROPERTIES, ValueError, "wildcard"),
        (
            [Subscription("a")],
            Properties(subscription_identifiers=(1,)),
            ValueError,
            "subscription identifiers",
        ),
        (
            [Subscription("a")],
            Properties(subscription_identifiers=(1, 2)),
            ValueError,
            "at most one",
        ),
    ]
    for subs, props, error, text in cases:
        with pytest.raises(error, match=text):
            conn.subscribe(subs, props, now=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        conn.unsubscribe([], now=1.0)
    with pytest.raises(ValueError, match="a/#/b"):
        conn.unsubscribe(["a/#/b"], now=1.0)
    assert broker.received() == []


def test_no_local_on_shared_subscription_is_refused() -> None:
    conn, _ = connected()
    with pytest.raises(ValueError, match="no_local"):
        conn.subscribe([Subscription("$share/g/a", no_local=True)], now=1.0)


def test_subscribe_options_need_v5() -> None:
    conn, broker = connected(V311)
    with pytest.raises(ValueError):
        conn.subscribe([Subscription("a", no_local=True)], now=1.0)
    assert broker.received() == []
    # The failed call left no packet id behind.
    assert conn._subscribes == {}


@pytest.mark.parametrize("command", ["subscribe", "unsubscribe", "reauthenticate", "disconnect"])
def test_commands_need_a_connection(command: str) -> None:
    conn = ClientConnection()
    with pytest.raises(MqttError, match="while idle"):
        if command == "subscribe":
            conn.subscribe([Subscription("a")], now=0.0)
        elif command == "unsubscribe":
            conn.unsubscribe(["a"], now=0.0)
        elif command == "reauthenticate":
            conn.reauthenticate(0.0)
        else:
            conn.disconnect(now=0.0)


# ---------------------------------------------------------------- keepalive


def test_keepalive_pings_when_idle_and_pong_keeps_alive() -> None:
    conn, broker = connected(keep_alive=10)
    assert conn.get_timer() == 10.0
    conn.handle_timer(5.0)  # early: nothing
    assert broker.received() == []
    conn.handle_timer(10.0)
    assert broker.received() == [PingReq()]
    assert conn.get_timer() == 15.0  # PINGRESP expected within half a keepalive
    broker.now = 11.0
    broker.send(PingResp())
    assert conn.get_timer() == 20.0
    assert conn.state is ConnectionState.CONNECTED


def test_keepalive_timeout_fails_the_connection_within_one_and_a_half_keepalives() -> None:
    conn, broker = connected(keep_alive=10)
    conn.handle_timer(10.0)
    broker.received()
    conn.handle_timer(15.0)
    [event] = conn.events_received()
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ConnectionLostError)
    assert "keepalive" in str(event.error)
    assert conn.get_timer() is None


def test_ping_is_timed_from_the_older_of_last_sent_and_last_received() -> None:
    conn, broker = connected(keep_alive=10)
    broker.now = 8.0
    broker.send(Publish("t", b""))  # received at 8; last sent at 0
    assert conn.get_timer() == 10.0
    conn.publish("t", b"", now=9.0)  # sent at 9; last received 8
    assert conn.get_timer() == 18.0


def test_keepalive_zero_means_no_timer() -> None:
    conn, _ = connected(keep_alive=0)
    assert conn.get_timer() is None
    conn.handle_timer(1000.0)
    assert conn.events_received() == []


def test_no_timer_before_connack() -> None:
    conn = ClientConnection(keep_alive=5)
    conn.connect(0.0)
    assert conn.get_timer() is None


# ---------------------------------------------------------------- disconnect


@BOTH
def test_client_disconnect(version: ProtocolVersion) -> None:
    conn, broker = connected(version)
    conn.disconnect(now=1.0)
    assert broker.received() == [Disconnect()]
    [event] = conn.events_received()
    assert event == Disconnected(None, DisconnectReasonCode.NORMAL_DISCONNECTION)
    assert conn.state is ConnectionState.CLOSED


def test_client_disconnect_with_reason_and_properties() -> None:
    conn, broker = connected(properties=Properties(session_expiry_interval=10))
    props = Properties(session_expiry_interval=0, reason_string="bye")
    conn.disconnect(DisconnectReasonCode.DISCONNECT_WITH_WILL_MESSAGE, props, now=1.0)
    assert broker.received() == [
        Disconnect(DisconnectReasonCode.DISCONNECT_WITH_WILL_MESSAGE, props)
    ]


def test_disconnect_validation() -> None:
    conn, _ = connected()
    with pytest.raises(ValueError, match="reason_code=7"):
        conn.disconnect(7, now=1.0)
    with pytest.raises(ValueError, match="session_expiry_interval cannot"):
        conn.disconnect(properties=Properties(session_expiry_interval=5), now=1.0)
    conn311, _ = connected(V311)
    with pytest.raises(ValueError, match=r"need MQTT 5\.0"):
        conn311.disconnect(DisconnectReasonCode.UNSPECIFIED_ERROR, now=1.0)


def test_broker_disconnect_carries_reason_and_string() -> None:
    _conn, broker = connected()
    props = Properties(reason_string="taken over")
    [event] = broker.send(Disconnect(DisconnectReasonCode.SESSION_TAKEN_OVER, props))
    assert isinstance(event, Disconnected)
    assert event.reason_code == DisconnectReasonCode.SESSION_TAKEN_OVER
    assert isinstance(event.error, MqttCodeError)
    assert "SESSION_TAKEN_OVER" in str(event.error) and "taken over" in str(event.error)
    assert event.properties == props
    assert broker.received() == []


def test_a_broker_disconnect_that_redirects_names_the_server_reference() -> None:
    _conn, broker = connected()
    props = Properties(server_reference="b.example:1884")
    [event] = broker.send(Disconnect(DisconnectReasonCode.USE_ANOTHER_SERVER, props))
    assert isinstance(event, Disconnected) and event.properties == props
    assert str(event.error).endswith(
        "the broker disconnected (USE_ANOTHER_SERVER) (server reference 'b.example:1884')"
    )


# ---------------------------------------------------------------- a broker that misbehaves


def test_garbage_from_the_broker_is_answered_with_malformed_packet() -> None:
    conn, broker = connected()
    events = broker.send_bytes(b"\x00\x00")
    [event] = events
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, MalformedPacketError)
    assert event.reason_code == DisconnectReasonCode.MALFORMED_PACKET
    assert broker.received() == [Disconnect(DisconnectReasonCode.MALFORMED_PACKET)]
    assert conn.state is ConnectionState.CLOSED


def test_packet_above_our_maximum_is_refused_with_0x95() -> None:
    _conn, broker = connected(maximum_packet_size=100)
    [event] = broker.send(Publish("t", b"x" * 200))
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, PacketTooLargeError)
    assert broker.received() == [Disconnect(DisconnectReasonCode.PACKET_TOO_LARGE)]


def test_messages_before_the_garbage_are_still_delivered() -> None:
    _conn, broker = connected()
    from asyncmqtt.protocol.codec import encode

    data = encode(Publish("t", b"ok"), V5) + b"\x00\x00"
    events = broker.send_bytes(data)
    assert isinstance(events[0], MessageReceived)
    assert isinstance(events[1], Disconnected)


# ---------------------------------------------------------------- enhanced authentication


class Scripted:
    """An authenticator that expects the challenges in ``script`` in order."""

    def __init__(self, script: list[tuple[bytes, bytes]], final: bytes | None = b"ok") -> None:
        self.script = list(script)
        self.final = final
        self.completed: list[bytes | None] = []

    @property
    def method(self) -> str:
        return "TEST"

    def initial_data(self) -> bytes | None:
        return b"hello"

    def challenge(self, data: bytes | None) -> bytes | None:
        expected, answer = self.script.pop(0)
        if data != expected:
            raise ValueError(f"unexpected challenge {data!r}")
        return answer

    def complete(self, data: bytes | None) -> None:
        if data != self.final:
            raise ValueError(f"bad final data {data!r}")
        self.completed.append(data)


def _auth(code: int, data: bytes | None, method: str = "TEST") -> Auth:
    return Auth(code, Properties(authentication_method=method, authentication_data=data))


def test_enhanced_authentication_exchange() -> None:
    auth = Scripted([(b"c1", b"r1")])
    conn = ClientConnection(authenticator=auth)
    broker = FakeBroker(conn)
    conn.connect(0.0)
    [connect] = broker.received()
    assert connect.properties.authentication_method == "TEST"  # type: ignore[union-attr]
    assert connect.properties.authentication_data == b"hello"  # type: ignore[union-attr]
    assert broker.send(_auth(AuthReasonCode.CONTINUE_AUTHENTICATION, b"c1")) == []
    assert broker.received() == [_auth(AuthReasonCode.CONTINUE_AUTHENTICATION, b"r1")]
    [event] = broker.send(
        ConnAck(False, 0, Properties(authentication_method="TEST", authentication_data=b"ok"))
    )
    assert isinstance(event, Connected)
    assert auth.completed == [b"ok"]


def test_reauthentication() -> None:
    auth = Scripted([(b"c2", b"r2")])
    conn = ClientConnection(authenticator=auth)
    broker = FakeBroker(conn)
    broker.connect(properties=Properties(authentication_method="TEST", authentication_data=b"ok"))
    conn.reauthenticate(1.0)
    assert broker.received() == [_auth(AuthReasonCode.RE_AUTHENTICATE, b"hello")]
    broker.send(_auth(AuthReasonCode.CONTINUE_AUTHENTICATION, b"c2"))
    assert broker.received() == [_auth(AuthReasonCode.CONTINUE_AUTHENTICATION, b"r2")]
    [event] = broker.send(_auth(AuthReasonCode.SUCCESS, b"ok"))
    assert event == Reauthenticated(
        Properties(authentication_method="TEST", authentication_data=b"ok")
    )


def test_authenticator_rejecting_the_broker_disconnects_not_authorized() -> None:
    conn = ClientConnection(authenticator=Scripted([(b"expected", b"")]))
    broker = FakeBroker(conn)
    conn.connect(0.0)
    broker.received()
    [event] = broker.send(_auth(AuthReasonCode.CONTINUE_AUTHENTICATION, b"other"))
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ProtocolError)
    assert event.reason_code == DisconnectReasonCode.NOT_AUTHORIZED
    assert "unexpected challenge" in str(event.error)


def test_bad_final_data_in_connack_is_rejected() -> None:
    conn = ClientConnection(authenticator=Scripted([]))
    broker = FakeBroker(conn)
    conn.connect(0.0)
    broker.received()
    [event] = broker.send(ConnAck(False, 0, Properties(authentication_method="TEST")))
    assert isinstance(event, Disconnected)
    assert event.reason_code == DisconnectReasonCode.NOT_AUTHORIZED


@pytest.mark.parametrize(
    ("authenticator", "packet", "text"),
    [
        (None, _auth(AuthReasonCode.CONTINUE_AUTHENTICATION, b""), "no authentication"),
        (Scripted([]), _auth(AuthReasonCode.SUCCESS, b"ok"), "reason code 0x00"),
        (Scripted([]), _auth(AuthReasonCode.CONTINUE_AUTHENTICATION, b"", "OTHER"), "OTHER"),
    ],
)
def test_auth_out_of_place_is_a_protocol_error(
    authenticator: Scripted | None, packet: Auth, text: str
) -> None:
    conn = ClientConnection(authenticator=authenticator)
    broker = FakeBroker(conn)
    conn.connect(0.0)
    broker.received()
    [event] = broker.send(packet)
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ProtocolViolationError)
    assert text in str(event.error)


def test_auth_after_connack_without_reauthentication_is_a_protocol_error() -> None:
    conn = ClientConnection(authenticator=Scripted([]))
    broker = FakeBroker(conn)
    broker.connect(properties=Properties(authentication_method="TEST", authentication_data=b"ok"))
    [event] = broker.send(_auth(AuthReasonCode.CONTINUE_AUTHENTICATION, b""))
    assert isinstance(event, Disconnected)


def test_one_reauthentication_at_a_time() -> None:
    auth = Scripted([])
    conn = ClientConnection(authenticator=auth)
    broker = FakeBroker(conn)
    broker.connect(properties=Properties(authentication_method="TEST", authentication_data=b"ok"))
    conn.reauthenticate(1.0)
    broker.received()
    with pytest.raises(MqttError, match="re-authentication is under way"):
        conn.reauthenticate(2.0)
    assert conn.data_to_send() == b""
    [event] = broker.send(_auth(AuthReasonCode.SUCCESS, b"ok"))
    assert isinstance(event, Reauthenticated)
    conn.reauthenticate(3.0)  # the next one may start
    assert broker.received() == [_auth(AuthReasonCode.RE_AUTHENTICATE, b"hello")]


class Failing(Scripted):
    """An authenticator whose ``initial_data`` raises while ``failing`` is set."""

    failing = True

    def initial_data(self) -> bytes | None:
        if self.failing:
            raise RuntimeError("no token")
        return b"hello"


def test_initial_data_raising_leaves_the_connection_as_it_was() -> None:
    auth = Failing([])
    conn = ClientConnection(authenticator=auth)
    with pytest.raises(RuntimeError, match="no token"):
        conn.connect(0.0)
    assert conn.state is ConnectionState.IDLE
    assert conn.number == 0
    assert conn.data_to_send() == b""
    auth.failing = False
    broker = FakeBroker(conn)
    broker.connect(properties=Properties(authentication_method="TEST", authentication_data=b"ok"))
    auth.failing = True
    with pytest.raises(RuntimeError, match="no token"):
        conn.reauthenticate(1.0)
    assert conn.data_to_send() == b""
    auth.failing = False
    conn.reauthenticate(2.0)  # (the failed call did not leave an exchange under way)
    assert broker.received() == [_auth(AuthReasonCode.RE_AUTHENTICATE, b"hello")]


@pytest.mark.parametrize("method", [None, "OTHER"])
def test_a_successful_connack_must_name_the_same_method(method: str | None) -> None:
    auth = Scripted([])
    conn = ClientConnection(authenticator=auth)
    broker = FakeBroker(conn)
    conn.connect(0.0)
    broker.received()
    [event] = broker.send(
        ConnAck(False, 0, Properties(authentication_method=method, authentication_data=b"ok"))
    )
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ProtocolViolationError)
    assert "MQTT-4.12.0-5" in str(event.error)
    assert auth.completed == []  # (the authenticator was not asked)


def test_reauthenticate_needs_an_authenticator() -> None:
    conn, _ = connected()
    with pytest.raises(ValueError, match="authenticator"):
        conn.reauthenticate(1.0)


def test_authenticator_needs_v5() -> None:
    with pytest.raises(ValueError, match=r"MQTT 5\.0"):
        ClientConnection(protocol_version=V311, authenticator=Scripted([]))


def test_subscribe_in_flight_is_forgotten_on_a_new_connection() -> None:
    conn, broker = connected(client_id="c", clean_start=False)
    packet_id = conn.subscribe([Subscription("a")], now=1.0)
    conn.unsubscribe(["b"], now=1.0)
    conn.receive_eof(2.0)
    conn.events_received()
    broker.connect(session_present=True)
    # The ids are free again, and a late SUBACK for the old SUBSCRIBE is a protocol error.
    assert conn._subscribes == {} and conn._unsubscribes == {}
    [event] = broker.send(SubAck(packet_id, (0,)))
    assert isinstance(event, Disconnected)
