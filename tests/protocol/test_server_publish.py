"""ServerConnection and BrokerCore: PUBLISH both ways, on exact bytes. QoS 0/1/2 from clients
(acknowledgements, duplicates, Receive Maximum, topic aliases, limits, authorization),
delivery to subscribers (QoS, flow control by the client's Receive Maximum, its Maximum
Packet Size, order), acknowledgements from subscribers."""

from __future__ import annotations

import pytest
from broker_pair import RawClient

from asyncmqtt.protocol.broker import BrokerCore
from asyncmqtt.protocol.broker_config import Action
from asyncmqtt.protocol.codec import encode
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import (
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
)
from asyncmqtt.protocol.properties import Properties
from asyncmqtt.protocol.server import HookFailed, MessageDropped

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311
V31 = ProtocolVersion.V31
BOTH = pytest.mark.parametrize("version", [V311, V5])


def connected(
    broker: BrokerCore, client_id: str, version: ProtocolVersion = V5, **fields: object
) -> RawClient:
    client = RawClient(broker, version)
    [connack] = client.connect(client_id, **fields)
    assert connack.reason_code == 0  # type: ignore[union-attr]
    return client


def subscriber(
    broker: BrokerCore,
    client_id: str = "sub",
    topic_filter: str = "t/#",
    qos: int = 2,
    version: ProtocolVersion = V5,
    **fields: object,
) -> RawClient:
    client = connected(broker, client_id, version, **fields)
    [suback] = client.send(Subscribe(1, (Subscription(topic_filter, qos),)))
    assert suback.reason_codes == (qos,)  # type: ignore[union-attr]
    return client


# ---------------------------------------------------------------- from the publisher


def test_qos0_publish_is_forwarded_golden_in_mqtt311() -> None:
    broker = BrokerCore()
    sub = subscriber(broker, version=V311)
    pub = connected(broker, "pub", V311)
    pub.server.receive_data(b"\x30\x07\x00\x03t/ahi", 0.0)
    assert pub.raw() == b""
    assert sub.raw() == b"\x30\x07\x00\x03t/ahi"


def test_qos0_publish_is_forwarded_golden_in_mqtt5() -> None:
    broker = BrokerCore()
    sub = subscriber(broker)
    pub = connected(broker, "pub")
    broker.connections_to_flush()
    pub.server.receive_data(b"\x30\x08\x00\x03t/a\x00hi", 0.0)
    assert broker.connections_to_flush() == [sub.server]  # the publisher has nothing to write
    assert pub.raw() == b""
    assert sub.raw() == b"\x30\x08\x00\x03t/a\x00hi"
    assert broker.connections_to_flush() == []


def test_qos1_publish_is_acknowledged_and_forwarded_golden() -> None:
    broker = BrokerCore()
    sub = subscriber(broker, version=V311)
    pub = connected(broker, "pub", V311)
    pub.server.receive_data(b"\x32\x09\x00\x03t/a\x00\x07hi", 0.0)
    assert pub.raw() == b"\x40\x02\x00\x07"  # PUBACK 7
    assert sub.raw() == b"\x32\x09\x00\x03t/a\x00\x01hi"  # our own packet id, 1
    sub.server.receive_data(b"\x40\x02\x00\x01", 0.0)
    assert sub.server.inflight_count == 0


def test_qos2_publish_golden() -> None:
    broker = BrokerCore()
    sub = subscriber(broker, version=V311)
    pub = connected(broker, "pub", V311)
    pub.server.receive_data(b"\x34\x09\x00\x03t/a\x00\x07hi", 0.0)
    assert pub.raw() == b"\x50\x02\x00\x07"  # PUBREC 7
    assert sub.raw() == b"\x34\x09\x00\x03t/a\x00\x01hi"  # delivered on PUBLISH
    pub.server.receive_data(b"\x62\x02\x00\x07", 0.0)
    assert pub.raw() == b"\x70\x02\x00\x07"  # PUBCOMP 7
    sub.server.receive_data(b"\x50\x02\x00\x01", 0.0)
    assert sub.raw() == b"\x62\x02\x00\x01"  # PUBREL 1
    sub.server.receive_data(b"\x70\x02\x00\x01", 0.0)
    assert sub.server.inflight_count == 0


def test_no_matching_subscribers_is_said_in_mqtt5_only() -> None:
    broker = BrokerCore()
    pub = connected(broker, "pub")
    assert pub.send(Publish("t", b"", 1, packet_id=1)) == [PubAck(1, 0x10)]
    assert pub.send(Publish("t", b"", 2, packet_id=2)) == [PubRec(2, 0x10)]
    assert pub.send(PubRel(2)) == [PubComp(2)]
    v3 = connected(broker, "v3", V311)
    assert v3.send(Publish("t", b"", 1, packet_id=1)) == [PubAck(1)]


@BOTH
def test_a_qos2_retransmission_is_answered_not_published_again(version: ProtocolVersion) -> None:
    broker = BrokerCore()
    sub = subscriber(broker)
    pub = connected(broker, "pub", version)
    message = Publish("t/a", b"once", 2, packet_id=5)
    assert pub.send(message) == [PubRec(5)]
    assert pub.send(message._replace(dup=True)) == [PubRec(5)]
    assert len(sub.received()) == 1
    assert pub.send(PubRel(5)) == [PubComp(5)]
    # After PUBCOMP the id is free: the same id is a new message.
    pub.send(message)
    assert len(sub.received()) == 1


@BOTH
def test_pubrel_for_an_unknown_id(version: ProtocolVersion) -> None:
    pub = connected(BrokerCore(), "pub", version)
    expected = PubComp(9, 0x92) if version is V5 else PubComp(9)
    assert pub.send(PubRel(9)) == [expected]


def test_receive_maximum_is_enforced_on_qos2_from_the_client() -> None:
    broker = BrokerCore(receive_maximum=2)
    pub = connected(broker, "pub")
    pub.send(Publish("t", b"", 2, packet_id=1), Publish("t", b"", 2, packet_id=2))
    [disconnect] = pub.send(Publish("t", b"", 2, packet_id=3))
    assert disconnect.reason_code == 0x93  # type: ignore[union-attr]
    # Released messages free their slots.
    pub = connected(broker, "pub2")
    for packet_id in range(1, 6):
        pub.send(Publish("t", b"", 2, packet_id=packet_id), PubRel(packet_id))
    assert not pub.server.closed
    # QoS 1 messages are acknowledged at once: they never count.
    for packet_id in range(1, 6):
        pub.send(Publish("t", b"", 1, packet_id=packet_id))
    assert not pub.server.closed


def test_mqtt311_has_no_receive_maximum() -> None:
    pub = connected(BrokerCore(receive_maximum=1), "pub", V311)
    pub.send(Publish("t", b"", 2, packet_id=1), Publish("t", b"", 2, packet_id=2))
    assert not pub.server.closed


def test_topic_aliases_from_the_client() -> None:
    broker = BrokerCore(topic_alias_maximum=2)
    sub = subscriber(broker)
    pub = connected(broker, "pub")
    pub.send(
        Publish("t/a", b"1", properties=Properties(topic_alias=1, user_properties=(("k", "v"),)))
    )
    pub.send(Publish("", b"2", properties=Properties(topic_alias=1)))
    pub.send(Publish("t/b", b"3", properties=Properties(topic_alias=1)))  # redefined
    pub.send(Publish("", b"4", properties=Properties(topic_alias=1)))
    assert [(m.topic, m.payload, m.properties) for m in sub.received()] == [  # type: ignore[union-attr]
        ("t/a", b"1", Properties(user_properties=(("k", "v"),))),
        ("t/a", b"2", Properties()),
        ("t/b", b"3", Properties()),
        ("t/b", b"4", Properties()),
    ]


@pytest.mark.parametrize(
    "packet",
    [
        Publish("", b"", properties=Properties(topic_alias=2)),  # undefined
        Publish("t", b"", properties=Properties(topic_alias=3)),  # above the maximum
    ],
)
def test_invalid_topic_aliases_get_disconnect_0x94(packet: Publish) -> None:
    pub = connected(BrokerCore(topic_alias_maximum=2), "pub")
    [disconnect] = pub.send(packet)
    assert disconnect.reason_code == 0x94  # type: ignore[union-attr]


def test_a_topic_alias_when_the_broker_allows_none() -> None:
    pub = connected(BrokerCore(topic_alias_maximum=0), "pub")
    [disconnect] = pub.send(Publish("t", b"", properties=Properties(topic_alias=1)))
    assert disconnect.reason_code == 0x94  # type: ignore[union-attr]


def test_qos_above_the_maximum_gets_0x9b() -> None:
    broker = BrokerCore(maximum_qos=1)
    pub = connected(broker, "pub")
    [disconnect] = pub.send(Publish("t", b"", 2, packet_id=1))
    assert disconnect.reason_code == 0x9B  # type: ignore[union-attr]
    v3 = connected(broker, "v3", V311)
    v3.server.receive_data(encode(Publish("t", b"", 2, packet_id=1), V311), 0.0)
    assert v3.raw() == b""
    assert v3.server.closed


def test_retain_when_not_available_gets_0x9a() -> None:
    pub = connected(BrokerCore(retain_available=False), "pub")
    [disconnect] = pub.send(Publish("t", b"x", retain=True))
    assert disconnect.reason_code == 0x9A  # type: ignore[union-attr]


def test_an_invalid_utf8_payload_is_refused_with_0x99() -> None:
    broker = BrokerCore()
    sub = subscriber(broker)
    pub = connected(broker, "pub")
    utf8 = Properties(payload_format_indicator=1)
    assert pub.send(Publish("t/a", b"\xff", 1, packet_id=1, properties=utf8)) == [PubAck(1, 0x99)]
    assert pub.send(Publish("t/a", b"\xff", 2, packet_id=2, properties=utf8)) == [PubRec(2, 0x99)]
    pub.send(Publish("t/a", b"\xff", 0, properties=utf8))  # dropped
    assert pub.send(PubRel(2)) == [PubComp(2, 0x92)]  # (the refused id was not kept)
    assert sub.received() == []
    pub.send(Publish("t/a", "ü".encode(), 0, properties=utf8))
    assert len(sub.received()) == 1


def test_a_publish_above_the_maximum_packet_size_gets_0x95() -> None:
    pub = connected(BrokerCore(maximum_packet_size=50), "pub")
    [disconnect] = pub.send(Publish("t", b"x" * 60))
    assert disconnect.reason_code == 0x95  # type: ignore[union-attr]


def test_authorize_refuses_publishes() -> None:
    asked: list[tuple[object, ...]] = []

    def authorize(client_id: str, username: str | None, action: Action, topic: str) -> int | None:
        asked.append((client_id, username, action, topic))
        return 0x87 if topic.startswith("secret") else None

    broker = BrokerCore(authorize=authorize)
    sub = subscriber(broker, topic_filter="#")
    pub = connected(broker, "pub", username="u")
    assert pub.send(Publish("secret", b"", 1, packet_id=1)) == [PubAck(1, 0x87)]
    assert pub.send(Publish("secret", b"", 2, packet_id=2)) == [PubRec(2, 0x87)]
    assert pub.send(Publish("secret", b"")) == []
    assert pub.send(Publish("open", b"", 1, packet_id=3)) == [PubAck(3)]
    assert [m.topic for m in sub.received()] == ["open"]  # type: ignore[union-attr]
    assert ("pub", "u", Action.PUBLISH, "secret") in asked
    v3 = connected(broker, "v3", V311)
    assert v3.send(Publish("secret", b"", 1, packet_id=1)) == [PubAck(1)]
    assert v3.send(Publish("secret", b"", 2, packet_id=2)) == [PubRec(2)]
    assert v3.send(PubRel(2)) == [PubComp(2)]
    assert sub.received() == []


def test_an_authorize_hook_that_raises_refuses_with_0x80() -> None:
    def authorize(*_: object) -> None:
        raise KeyError("bug")

    broker = BrokerCore(authorize=authorize)
    pub = connected(broker, "pub")
    assert pub.send(Publish("t", b"", 1, packet_id=1)) == [PubAck(1, 0x80)]
    assert any(isinstance(e, HookFailed) for e in broker.events_received())


def test_pingreq_gets_pingresp_golden() -> None:
    client = connected(BrokerCore(), "c", V311)
    client.server.receive_data(b"\xc0\x00", 0.0)
    assert client.raw() == b"\xd0\x00"


# ---------------------------------------------------------------- to the subscriber


@pytest.mark.parametrize(("published", "granted", "delivered"), [(2, 1, 1), (1, 2, 1), (0, 2, 0)])
def test_qos_is_the_lower_of_published_and_granted(
    published: int, granted: int, delivered: int
) -> None:
    broker = BrokerCore()
    sub = subscriber(broker, qos=granted)
    pub = connected(broker, "pub")
    pub.send(Publish("t/a", b"x", published, packet_id=1 if published else None))
    [message] = sub.received()
    assert message.qos == delivered  # type: ignore[union-attr]


def test_subscribed_qos_is_capped_by_the_broker_maximum() -> None:
    broker = BrokerCore(maximum_qos=1)
    sub = connected(broker, "sub")
    assert sub.send(Subscribe(1, (Subscription("t", 2),))) == [SubAck(1, (1,))]


def test_flow_control_by_the_subscribers_receive_maximum() -> None:
    broker = BrokerCore()
    sub = subscriber(broker, properties=Properties(receive_maximum=2))
    pub = connected(broker, "pub")
    for index in range(5):
        pub.send(Publish("t/a", bytes([index]), 1, packet_id=index + 1))
    first = sub.received()
    assert [m.payload for m in first] == [b"\x00", b"\x01"]  # type: ignore[union-attr]
    assert broker.sessions["sub"].queued_count == 3
    assert sub.server.inflight_count == 2
    # QoS 0 messages wait behind them, in order.
    pub.send(Publish("t/a", b"q0"))
    assert sub.received() == []
    assert sub.send(PubAck(first[0].packet_id)) == [  # type: ignore[union-attr]
        Publish("t/a", b"\x02", 1, packet_id=3)
    ]
    rest = sub.send(PubAck(first[1].packet_id), PubAck(3))  # type: ignore[union-attr]
    assert [m.payload for m in rest] == [b"\x03", b"\x04", b"q0"]  # type: ignore[union-attr]


def test_max_inflight_messages_bounds_mqtt3_subscribers() -> None:
    broker = BrokerCore(max_inflight_messages=1)
    sub = subscriber(broker, version=V311)
    pub = connected(broker, "pub")
    pub.send(Publish("t/a", b"1", 1, packet_id=1), Publish("t/a", b"2", 1, packet_id=2))
    assert [m.payload for m in sub.received()] == [b"1"]  # type: ignore[union-attr]
    assert [m.payload for m in sub.send(PubAck(1))] == [b"2"]  # type: ignore[union-attr]


def test_qos2_to_the_subscriber_frees_its_slot_at_pubcomp() -> None:
    broker = BrokerCore()
    sub = subscriber(broker, properties=Properties(receive_maximum=1))
    pub = connected(broker, "pub")
    pub.send(Publish("t/a", b"1", 2, packet_id=1), Publish("t/a", b"2", 2, packet_id=2))
    assert [m.payload for m in sub.received()] == [b"1"]  # type: ignore[union-attr]
    assert sub.send(PubRec(1)) == [PubRel(1)]
    assert sub.send(PubRec(1)) == [PubRel(1)]  # a repeated PUBREC gets PUBREL again
    assert [m.payload for m in sub.send(PubComp(1))] == [b"2"]  # type: ignore[union-attr]


def test_a_pubrec_with_a_failure_code_ends_the_flow() -> None:
    broker = BrokerCore()
    sub = subscriber(broker, properties=Properties(receive_maximum=1))
    pub = connected(broker, "pub")
    pub.send(Publish("t/a", b"1", 2, packet_id=1), Publish("t/a", b"2", 2, packet_id=2))
    sub.received()
    assert [m.payload for m in sub.send(PubRec(1, 0x80))] == [b"2"]  # type: ignore[union-attr]


@BOTH
def test_acknowledgements_of_nothing_are_ignored_or_answered(version: ProtocolVersion) -> None:
    broker = BrokerCore()
    sub = subscriber(broker, version=version, qos=2)
    assert sub.send(PubAck(7)) == []
    assert sub.send(PubComp(7)) == []
    expected = PubRel(7, 0x92) if version is V5 else PubRel(7)
    assert sub.send(PubRec(7)) == [expected]
    pub = connected(broker, "pub")
    pub.send(Publish("t/a", b"1", 2, packet_id=1))
    [message] = sub.received()
    # PUBACK and PUBCOMP of the wrong stage are ignored too.
    assert sub.send(PubAck(message.packet_id), PubComp(message.packet_id)) == []  # type: ignore[union-attr]
    assert sub.server.inflight_count == 1
    assert not sub.server.closed


def test_pubrec_for_a_qos1_message_is_a_protocol_error() -> None:
    broker = BrokerCore()
    sub = subscriber(broker, qos=1)
    pub = connected(broker, "pub")
    pub.send(Publish("t/a", b"1", 1, packet_id=1))
    [message] = sub.received()
    [disconnect] = sub.send(PubRec(message.packet_id))  # type: ignore[union-attr]
    assert disconnect == Disconnect(0x82, disconnect.properties)  # type: ignore[union-attr]


def test_a_message_too_large_for_the_subscriber_is_not_sent_to_it() -> None:
    broker = BrokerCore()
    small = subscriber(broker, "small", properties=Properties(maximum_packet_size=30))
    large = subscriber(broker, "large")
    pub = connected(broker, "pub")
    pub.send(Publish("t/a", b"x" * 40, 1, packet_id=1), Publish("t/a", b"ok", 1, packet_id=2))
    assert [m.payload for m in small.received()] == [b"ok"]  # type: ignore[union-attr]
    assert len(large.received()) == 2
    assert small.server.inflight_count == 1
    [dropped] = [e for e in broker.events_received() if isinstance(e, MessageDropped)]
    assert dropped.client_id == "small"
    assert dropped.reason == "too large"
    assert broker.sessions["small"].dropped_messages == 1
    assert broker.stats.messages_dropped == 1
    pub.send(Publish("t/a", b"x" * 40))  # QoS 0: the same
    assert small.received() == []


def test_messages_keep_their_order_per_topic_across_qos() -> None:
    broker = BrokerCore()
    sub = subscriber(broker, properties=Properties(receive_maximum=1))
    pub = connected(broker, "pub")
    sent = []
    for index in range(12):
        qos = index % 3
        sent.append(bytes([index]))
        pub.send(Publish("t/a", bytes([index]), qos, packet_id=index + 1 if qos else None))
        if qos == 2:
            pub.send(PubRel(index + 1))
    got: list[bytes] = []
    for _ in range(40):
        packets = sub.received()
        if not packets:
            break
        for packet in packets:
            assert isinstance(packet, Publish | PubRel)
            if isinstance(packet, Publish):
                got.append(packet.payload)
                if packet.qos == 1:
                    sub.server.receive_data(encode(PubAck(packet.packet_id), V5), 0.0)  # type: ignore[arg-type]
                elif packet.qos == 2:
                    sub.server.receive_data(encode(PubRec(packet.packet_id), V5), 0.0)  # type: ignore[arg-type]
            else:
                sub.server.receive_data(encode(PubComp(packet.packet_id), V5), 0.0)
    assert got == sent


def test_properties_are_forwarded_as_published() -> None:
    broker = BrokerCore()
    sub = subscriber(broker)
    v3 = subscriber(broker, "v3", version=V311)
    pub = connected(broker, "pub")
    properties = Properties(
        payload_format_indicator=1,
        content_type="text/plain",
        response_topic="reply/here",
        correlation_data=b"\x01\x02",
        user_properties=(("a", "1"), ("a", "2")),
    )
    pub.send(Publish("t/a", b"hi", 1, packet_id=1, properties=properties))
    [message] = sub.received()
    assert message.properties == properties  # type: ignore[union-attr]
    [message] = v3.received()
    assert message == Publish("t/a", b"hi", 1, packet_id=1)  # (3.1.1 carries none)


def test_ping_and_publish_in_one_read() -> None:
    broker = BrokerCore()
    sub = subscriber(broker)
    pub = connected(broker, "pub")
    answer = pub.send(PingReq(), Publish("t/a", b"x", 1, packet_id=1), PingReq())
    assert answer == [PingResp(), PubAck(1), PingResp()]
    assert len(sub.received()) == 1
    flushed = broker.connections_to_flush()
    assert flushed.count(pub.server) == 1


def test_a_client_that_subscribed_to_its_own_topic_gets_its_message() -> None:
    broker = BrokerCore()
    client = subscriber(broker, "me")
    answer = client.send(Publish("t/a", b"x", 1, packet_id=9))
    assert answer == [Publish("t/a", b"x", 1, packet_id=1), PubAck(9)]


def test_broker_publish_from_the_broker_itself() -> None:
    broker = BrokerCore()
    sub = subscriber(broker)
    assert broker.publish("t/a", b"x", 1, now=0.0) == 1
    assert broker.publish("t/b", bytearray(b"y"), 0, True, now=0.0) == 1
    assert broker.publish("other", now=0.0) == 0
    assert [m.payload for m in sub.received()] == [b"x", b"y"]  # type: ignore[union-attr]
    assert broker.retained == {"t/b": Publish("t/b", b"y", 0, True)}
    with pytest.raises(ValueError, match="wildcards"):
        broker.publish("t/#", now=0.0)
    with pytest.raises(TypeError, match="payload must be bytes"):
        broker.publish("t", "text", now=0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="topic_alias"):
        broker.publish("t", properties=Properties(topic_alias=1), now=0.0)
    assert broker.publish("t/c", properties=None, now=0.0) == 1  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Properties"):
        broker.publish("t", properties={"content_type": "x"}, now=0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not belong"):
        broker.publish("t", properties=Properties(session_expiry_interval=1), now=0.0)
    with pytest.raises(ValueError, match="QoS"):
        broker.publish("t", b"", 3, now=0.0)
    with pytest.raises(TypeError, match="retain"):
        broker.publish("t", b"", 0, 1, now=0.0)  # type: ignore[arg-type]


def test_paused_writing_holds_messages_in_the_bounded_queue() -> None:
    broker = BrokerCore(max_queued_messages=3)
    sub = subscriber(broker)
    pub = connected(broker, "pub")
    sub.server.pause_writing()
    assert sub.server.writing_paused
    for index in range(5):
        pub.send(
            Publish("t/a", bytes([index]), index % 2, packet_id=index + 1 if index % 2 else None)
        )
    assert sub.received() == []
    # Replies to the client itself still go out.
    assert sub.send(PingReq()) == [PingResp()]
    assert broker.sessions["sub"].queued_count == 3
    assert broker.stats.messages_dropped == 2  # the oldest QoS 0 messages made room
    sub.server.resume_writing(1.0)
    assert [m.payload for m in sub.received()] == [b"\x01", b"\x03", b"\x04"]  # type: ignore[union-attr]
    sub.server.resume_writing(1.0)  # (again: nothing more)
    assert sub.received() == []


def test_acknowledgements_while_paused_send_nothing_more() -> None:
    broker = BrokerCore()
    sub = subscriber(broker, properties=Properties(receive_maximum=1))
    pub = connected(broker, "pub")
    pub.send(Publish("t/a", b"1", 1, packet_id=1), Publish("t/a", b"2", 1, packet_id=2))
    [first] = sub.received()
    sub.server.pause_writing()
    assert sub.send(PubAck(first.packet_id)) == []  # type: ignore[union-attr]
    sub.server.resume_writing(0.0)
    assert [m.payload for m in sub.received()] == [b"2"]  # type: ignore[union-attr]


def test_resume_writing_before_connack_or_after_the_end_does_nothing() -> None:
    broker = BrokerCore()
    client = RawClient(broker)
    client.server.pause_writing()
    client.server.resume_writing(0.0)
    assert client.raw() == b""
    client.connect()
    client.server.connection_lost(1.0)
    client.server.resume_writing(2.0)
    assert client.raw() == b""
