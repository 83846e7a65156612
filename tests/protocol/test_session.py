"""Session: what outlives a network connection, its records, and restoring it from them."""

from __future__ import annotations

import pytest
from fake_broker import FakeBroker

from asyncmqtt.errors import MqttError
from asyncmqtt.protocol.config import ClientConfig
from asyncmqtt.protocol.connection import ClientConnection
from asyncmqtt.protocol.events import Connected, MessageReceived
from asyncmqtt.protocol.packets import (
    ConnAck,
    Connect,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscription,
    UnsubAck,
)
from asyncmqtt.protocol.properties import Properties
from asyncmqtt.protocol.session import (
    InboundQoS2Received,
    InboundQoS2Released,
    PublishAccepted,
    PublishEnded,
    PublishReleased,
    PublishSent,
    PublishUnsent,
    Session,
    SessionStarted,
    Stage,
    SubscriptionAdded,
    SubscriptionRemoved,
)

PERSISTENT = ClientConfig(
    client_id="c", clean_start=False, properties=Properties(session_expiry_interval=60)
)


def recorded(
    config: ClientConfig = PERSISTENT, **connack: object
) -> tuple[ClientConnection, FakeBroker]:
    conn = ClientConnection(config, Session(client_id=config.client_id, recording=True))
    broker = FakeBroker(conn)
    broker.connect(**connack)  # type: ignore[arg-type]
    return conn, broker


def test_a_qos1_flow_is_recorded_before_its_bytes_are_taken() -> None:
    conn, broker = recorded()
    assert conn.session.take_records() == [SessionStarted("c")]
    handle = conn.publish("t", b"x", qos=1, now=1.0)
    assert handle is not None
    # The records and the bytes come from the same call: the driver stores, then writes.
    assert conn.session.take_records() == [
        PublishAccepted(handle.number, Publish("t", b"x", 1)),
        PublishSent(handle.number, 1),
    ]
    assert broker.received() == [Publish("t", b"x", 1, packet_id=1)]
    broker.send(PubAck(1))
    assert conn.session.take_records() == [PublishEnded(handle.number)]
    assert conn.session.take_records() == []


def test_a_qos2_flow_records_its_stages() -> None:
    conn, broker = recorded()
    conn.session.take_records()
    handle = conn.publish("t", b"x", qos=2, now=1.0)
    assert handle is not None
    broker.received()
    broker.send(PubRec(1))
    broker.send(PubRec(1))  # a repeated PUBREC is answered again, but changes nothing
    assert broker.received() == [PubRel(1), PubRel(1)]
    broker.send(PubComp(1))
    number = handle.number
    assert conn.session.take_records() == [
        PublishAccepted(number, Publish("t", b"x", 2)),
        PublishSent(number, 1),
        PublishReleased(number),
        PublishEnded(number),
    ]


def test_with_manual_ack_an_inbound_qos2_id_is_recorded_when_acknowledged() -> None:
    config = ClientConfig(client_id="c", manual_ack=True)
    conn, broker = recorded(config)
    conn.session.take_records()
    [event] = broker.send(Publish("in", b"m", 2, packet_id=7))
    assert isinstance(event, MessageReceived)
    # Delivered, not yet acknowledged: after a crash the broker must deliver it again.
    assert conn.session.take_records() == []
    conn.acknowledge(7, 2, conn.number, 2.0)
    assert conn.session.take_records() == [InboundQoS2Received(7)]
    assert broker.received() == [PubRec(7)]


def test_auto_acknowledged_inbound_qos2_is_recorded() -> None:
    conn, broker = recorded(ClientConfig(client_id="c"))
    conn.session.take_records()
    broker.send(Publish("in", b"m", 2, packet_id=7))
    assert conn.session.take_records() == [InboundQoS2Received(7)]
    assert broker.received() == [PubRec(7)]
    broker.send(PubRel(7))
    assert conn.session.take_records() == [InboundQoS2Released(7)]


def test_granted_subscriptions_are_held_and_removed() -> None:
    conn, broker = recorded()
    conn.session.take_records()
    props = Properties(subscription_identifiers=(4,))
    subs = (Subscription("a/#", 1), Subscription("b", 2), Subscription("c", 0))
    packet_id = conn.subscribe(subs, props, now=1.0)
    broker.send(SubAck(packet_id, (1, 0x87, 0)))  # "b" refused: not held
    assert set(conn.session.subscriptions) == {"a/#", "c"}
    assert conn.session.take_records() == [
        SubscriptionAdded(subs[0], props),
        SubscriptionAdded(subs[2], props),
    ]
    packet_id = conn.unsubscribe(["a/#", "c", "never"], now=1.0)
    broker.send(UnsubAck(packet_id, (0, 0x80, 0x11)))  # "c" failed: still held
    assert set(conn.session.subscriptions) == {"c"}
    assert conn.session.take_records() == [SubscriptionRemoved("a/#")]


def test_a_311_unsuback_removes_every_filter() -> None:
    from asyncmqtt.protocol.enums import ProtocolVersion

    config = ClientConfig(client_id="c", protocol_version=ProtocolVersion.V311)
    conn, broker = recorded(config)
    packet_id = conn.subscribe([Subscription("a"), Subscription("b")], now=1.0)
    broker.send(SubAck(packet_id, (0, 0)))
    packet_id = conn.unsubscribe(["a", "b"], now=1.0)
    broker.send(UnsubAck(packet_id, ()))
    assert conn.session.subscriptions == {}


def test_session_lost_records_unsent_publishes_and_a_new_start() -> None:
    conn, broker = recorded()
    first = conn.publish("t", b"1", qos=1, now=1.0)
    assert first is not None
    broker.received()
    conn.receive_eof(2.0)
    conn.session.take_records()
    broker.connect(session_present=False)
    records = conn.session.take_records()
    assert records[:2] == [SessionStarted("c"), PublishUnsent(first.number)]
    assert records[2] == PublishSent(first.number, 2)  # sent again as a new message


def test_an_assigned_identifier_is_recorded_and_used_on_the_next_connect() -> None:
    config = ClientConfig(clean_start=False, properties=Properties(session_expiry_interval=60))
    conn, _broker = recorded(config, properties=Properties(assigned_client_identifier="auto-7"))
    assert conn.session.take_records() == [SessionStarted("auto-7")]
    assert conn.client_id == "auto-7"
    again = ClientConnection(config, conn.session)
    again.connect(3.0)
    connect = FakeBroker(again).received()[0]
    assert isinstance(connect, Connect)
    assert (connect.client_id, connect.clean_start) == ("auto-7", False)


def test_nothing_is_recorded_unless_asked() -> None:
    conn = ClientConnection(PERSISTENT)
    FakeBroker(conn).connect()
    conn.publish("t", b"x", qos=1, now=1.0)
    assert conn.session.records == []
    assert conn.session.take_records() == []


# ---------------------------------------------------------------- restoring


def busy_session() -> tuple[ClientConnection, FakeBroker, list[object]]:
    """A session with every kind of state, and all its records since it began."""
    conn, broker = recorded(properties=Properties(receive_maximum=3))
    log: list[object] = []
    packet_id = conn.subscribe(
        [Subscription("s/#", 1)], Properties(subscription_identifiers=(2,)), now=1.0
    )
    broker.send(SubAck(packet_id, (1,)))
    handles = [conn.publish("t", bytes([n]), qos=1 + n % 2, now=1.0) for n in range(6)]
    sent = broker.received()
    assert len([p for p in sent if isinstance(p, Publish)]) == 3  # receive maximum 3
    broker.send(PubAck(2))  # the first QoS 1 ... (ids 2, 3, 4: SUBSCRIBE took 1)
    broker.send(PubRec(3))  # the QoS 2 one is released
    broker.send(Publish("in", b"q2", 2, packet_id=9))  # an inbound QoS 2 awaiting PUBREL
    broker.received()
    log += conn.session.take_records()
    assert handles[0] is not None and handles[0].done
    return conn, broker, log


def test_restore_from_every_record_or_from_a_snapshot_gives_the_same_session() -> None:
    conn, _broker, log = busy_session()
    snapshot = conn.session.snapshot()
    assert Session.restore(log).snapshot() == snapshot  # type: ignore[arg-type]
    assert Session.restore(snapshot).snapshot() == snapshot
    restored = Session.restore(snapshot)
    assert restored.recording  # (restored sessions go on recording for their store)
    assert restored.client_id == "c" and restored.started
    assert restored.inflight_count == conn.session.inflight_count == 3
    assert restored.pending_count == conn.session.pending_count == 2
    assert set(restored.subscriptions) == {"s/#"}


def test_a_restored_session_resumes_on_a_new_connection() -> None:
    conn, _broker, _log = busy_session()
    restored = Session.restore(conn.session.snapshot())
    again = ClientConnection(PERSISTENT, restored)
    broker = FakeBroker(again)
    again.connect(5.0)
    [connect] = broker.received()
    assert isinstance(connect, Connect) and not connect.clean_start
    events = broker.send(ConnAck(True, 0))
    assert isinstance(events[-1], Connected)
    resent = broker.received()
    # The released QoS 2 gets PUBREL, the other ones in flight their PUBLISH again (DUP, the
    # same ids), then the waiting ones go out as new messages.
    assert resent[0] == PubRel(3)
    assert [(p.packet_id, p.dup) for p in resent[1:]] == [  # type: ignore[union-attr]
        (4, True),
        (5, True),
        (1, False),  # (ids are allocated afresh, skipping those in flight)
        (2, False),
    ]
    # Its inbound QoS 2 state came back too: a retransmission is not delivered again.
    assert broker.send(Publish("in", b"q2", 2, dup=True, packet_id=9)) == []


def test_restore_applies_unsent_and_ended_publishes() -> None:
    first = Publish("t", b"1", 1)
    records = [
        SessionStarted("c"),
        PublishAccepted(1, first),
        PublishSent(1, 5),
        PublishUnsent(1),  # the broker lost the session: waits again, without its id
        PublishAccepted(2, first),
        PublishEnded(2),
        InboundQoS2Received(3),
        InboundQoS2Received(4),
        InboundQoS2Released(3),
        SessionStarted("assigned", clean=False),  # a new identifier, the session kept
        SubscriptionAdded(Subscription("x"), Properties()),
        SubscriptionRemoved("x"),
        SubscriptionRemoved("never held"),
    ]
    session = Session.restore(records, recording=False)
    assert not session.recording
    assert session.outgoing == {}
    assert [h.number for h in session.pending or ()] == [1]
    assert session.pending is not None and session.pending[0].stage is Stage.PENDING
    assert session.inbound_qos2 == {4}
    assert session.client_id == "assigned"
    assert session.subscriptions == {}
    assert session.next_number == 3  # numbers go on after the restored ones


def test_restore_refuses_what_is_not_a_record() -> None:
    with pytest.raises(TypeError, match="not a session record"):
        Session.restore(["nonsense"])  # type: ignore[list-item]


def test_packet_ids_skip_those_in_use_and_wrap() -> None:
    session = Session()
    assert [session.allocate_packet_id() for _ in range(2)] == [1, 2]
    session.next_packet_id = 65535
    assert session.allocate_packet_id({65535: None}, {1: None}) == 2


def test_all_packet_ids_in_use_is_an_error() -> None:
    session = Session()
    with pytest.raises(MqttError, match="65535 packet identifiers"):
        session.allocate_packet_id(dict.fromkeys(range(1, 65536)))


def test_repr_says_what_the_session_holds() -> None:
    conn, _broker, _log = busy_session()
    assert repr(conn.session) == ("<Session client_id='c' in flight=3 pending=2 subscriptions=1>")
    handle = next(iter(conn.session.outgoing.values()))
    assert "awaiting" in repr(handle)


def test_a_withdrawn_publish_is_recorded_as_ended() -> None:
    conn, broker = recorded(properties=Properties(receive_maximum=1))
    conn.publish("t", b"1", qos=1, now=1.0)
    waiting = conn.publish("t", b"2", qos=1, now=1.0)
    assert waiting is not None and conn.withdraw(waiting)
    assert conn.session.take_records()[-1] == PublishEnded(waiting.number)
    assert broker.received() == [Publish("t", b"1", 1, packet_id=1)]


def test_a_session_that_never_started_has_only_its_publishes_in_a_snapshot() -> None:
    conn = ClientConnection(PERSISTENT, Session(recording=True))
    handle = conn.publish("t", b"x", qos=1, now=0.0)  # queued: not connected yet
    assert handle is not None
    assert conn.session.snapshot() == [PublishAccepted(handle.number, Publish("t", b"x", 1))]


def test_a_publish_refused_at_the_call_leaves_no_record() -> None:
    conn, _broker = recorded(properties=Properties(maximum_packet_size=50))
    conn.session.take_records()
    with pytest.raises(ValueError, match="maximum packet size of 50 bytes"):
        conn.publish("t", b"x" * 100, qos=1, now=1.0)
    assert conn.session.take_records() == []
    assert conn.inflight_count == conn.pending_count == 0
