"""ClientConnection across network connections: handing the session over, resuming it within
the limits the broker gives on the new connection, and manual acknowledgements."""

from __future__ import annotations

import pytest
from fake_broker import FakeBroker, connected

from asyncmqtt.errors import MqttError, ReceiveMaximumExceededError
from asyncmqtt.protocol.config import ClientConfig
from asyncmqtt.protocol.connection import ClientConnection, ConnectionState
from asyncmqtt.protocol.events import (
    Connected,
    Disconnected,
    MessageReceived,
    PublishCompleted,
    PublishFailed,
    ReceiveMaximumExceeded,
    SubscriptionsRestored,
)
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
)
from asyncmqtt.protocol.properties import Properties
from asyncmqtt.protocol.session import PublishHandle, Session, SubscriptionRemoved

PERSISTENT = ClientConfig(
    client_id="c", clean_start=False, properties=Properties(session_expiry_interval=60)
)


def handover(
    conn: ClientConnection, *, session_present: bool = True, **limits: object
) -> tuple[ClientConnection, FakeBroker, list[object]]:
    """End ``conn``'s network connection; a new ClientConnection takes its session over."""
    conn.receive_eof(9.0)
    conn.events_received()
    again = ClientConnection(conn.config, conn.session)
    broker = FakeBroker(again)
    again.connect(10.0)
    broker.received()
    events = broker.send(ConnAck(session_present, 0, Properties(**limits)))  # type: ignore[arg-type]
    return again, broker, events  # type: ignore[return-value]


def in_flight(
    count: int, qos: int = 1, **options: object
) -> tuple[ClientConnection, FakeBroker, list[PublishHandle]]:
    conn, broker = connected(**{"client_id": "c", "clean_start": False, **options})
    handles = [conn.publish("t", bytes([n]), qos=qos, now=1.0) for n in range(count)]
    broker.received()
    return conn, broker, handles  # type: ignore[return-value]


# ---------------------------------------------------------------- construction


def test_a_config_and_a_session_or_settings_but_not_both() -> None:
    config = ClientConfig(client_id="x", keep_alive=7)
    conn = ClientConnection(config)
    assert conn.config is config and conn.session.client_id == "x"
    assert (conn.keep_alive, conn.receive_maximum, conn.client_id) == (7, 65535, "x")
    with pytest.raises(TypeError, match="not both"):
        ClientConnection(config, keep_alive=5)
    with pytest.raises(TypeError, match="config must be a ClientConfig"):
        ClientConnection("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="session must be a Session"):
        ClientConnection(config, {})  # type: ignore[arg-type]


def test_connections_of_one_session_are_numbered() -> None:
    conn, _ = connected(client_id="c")
    assert conn.number == 1
    again, _broker, _events = handover(conn)
    assert (again.number, again.session.connections) == (2, 2)


# ---------------------------------------------------------------- resuming within new limits


def test_resending_respects_a_smaller_receive_maximum() -> None:
    conn, _old, handles = in_flight(8)
    again, broker, events = handover(conn, receive_maximum=3)
    assert isinstance(events[-1], Connected)
    resent = broker.received()
    assert [(p.packet_id, p.dup) for p in resent] == [(1, True), (2, True), (3, True)]  # type: ignore[union-attr]
    # Acknowledgements free slots; the rest go out in order, DUP, with their own ids.
    broker.send(PubAck(1), PubAck(2))
    assert [(p.packet_id, p.dup) for p in broker.received()] == [(4, True), (5, True)]  # type: ignore[union-attr]
    again.publish("t", b"new", qos=1, now=11.0)  # waits behind the resends
    assert broker.received() == []
    done = broker.send(*(PubAck(n) for n in range(3, 9)))
    sent = broker.received()
    assert [(p.packet_id, p.dup) for p in sent] == [(6, True), (7, True), (8, True), (9, False)]  # type: ignore[union-attr]
    assert [e.handle for e in done] == handles[2:]  # type: ignore[union-attr]


def test_waiting_resends_are_decided_anew_by_the_next_connection() -> None:
    conn, _old, _handles = in_flight(4)
    again, _broker, _events = handover(conn, receive_maximum=1)
    assert again.session.pending_count == 3
    third, broker, _events = handover(again)  # no limit this time: all four at once
    assert [(p.packet_id, p.dup) for p in broker.received()] == [  # type: ignore[union-attr]
        (1, True),
        (2, True),
        (3, True),
        (4, True),
    ]
    assert third.session.pending_count == 0


def test_a_message_above_the_new_maximum_packet_size_fails_and_the_rest_resume() -> None:
    conn, broker = connected(client_id="c", clean_start=False)
    small = conn.publish("t", b"s", qos=1, now=1.0)
    big = conn.publish("t", b"x" * 500, qos=1, now=1.0)
    last = conn.publish("t", b"l", qos=2, now=1.0)
    broker.received()
    again, broker, events = handover(conn, maximum_packet_size=100)
    [failed] = [e for e in events if isinstance(e, PublishFailed)]
    assert failed.handle is big and big is not None and big.done
    assert "maximum packet size of 100 bytes" in str(failed.error)
    assert "not resent" in str(failed.error)
    assert isinstance(failed.error, MqttError)
    assert [p.payload for p in broker.received()] == [b"s", b"l"]  # type: ignore[union-attr]
    assert again.state is ConnectionState.CONNECTED
    assert small is not None and last is not None and again.inflight_count == 2


def test_a_resend_that_waited_for_a_slot_can_still_fail_by_size() -> None:
    conn, old, handles = in_flight(2)
    conn.publish("t", b"x" * 500, qos=1, now=1.0)
    old.received()
    again, broker, _events = handover(conn, receive_maximum=1, maximum_packet_size=100)
    broker.received()
    events = broker.send(PubAck(1), PubAck(2))
    failed = [e for e in events if isinstance(e, PublishFailed)]
    assert len(failed) == 1 and "maximum packet size" in str(failed[0].error)
    assert again.inflight_count == 0
    assert [e.handle for e in events if isinstance(e, PublishCompleted)] == handles


def test_qos2_above_the_new_maximum_qos_fails_and_qos1_resumes() -> None:
    conn, broker = connected(client_id="c", clean_start=False)
    q2 = conn.publish("t", b"2", qos=2, now=1.0)
    released = conn.publish("t", b"r", qos=2, now=1.0)
    q1 = conn.publish("t", b"1", qos=1, now=1.0)
    broker.received()
    broker.send(PubRec(2))  # released: the broker has it; PUBREL is still owed
    broker.received()
    again, broker, events = handover(conn, maximum_qos=1)
    [failed] = [e for e in events if isinstance(e, PublishFailed)]
    assert failed.handle is q2
    assert "maximum QoS is now 1" in str(failed.error) and "'t'" in str(failed.error)
    assert broker.received() == [PubRel(2), Publish("t", b"1", 1, dup=True, packet_id=3)]
    done = broker.send(PubComp(2), PubAck(3))
    assert [e.handle for e in done] == [released, q1]  # type: ignore[union-attr]
    assert again.state is ConnectionState.CONNECTED


def test_a_waiting_qos2_publish_fails_when_the_maximum_qos_dropped() -> None:
    conn, broker = connected(client_id="c", clean_start=False, max_inflight=1)
    conn.publish("t", b"1", qos=1, now=1.0)
    waiting = conn.publish("t", b"2", qos=2, now=1.0)
    broker.received()
    _again, broker, _events = handover(conn, maximum_qos=1)
    broker.received()
    [failed] = broker.send(PubAck(1))[1:]
    assert isinstance(failed, PublishFailed) and failed.handle is waiting


def test_a_waiting_resend_fails_when_the_maximum_qos_dropped_meanwhile() -> None:
    conn, _old, handles = in_flight(2, qos=2)
    again, _broker, _events = handover(conn, receive_maximum=1)
    third, broker, events = handover(again, maximum_qos=1)
    assert [e.handle for e in events if isinstance(e, PublishFailed)] == handles
    assert broker.received() == [] and third.inflight_count == 0


def test_a_waiting_resend_past_the_new_limit_fails_when_its_turn_comes() -> None:
    conn, _old, handles = in_flight(2, qos=2)
    _again, broker, _events = handover(conn, receive_maximum=1)
    broker.received()
    # The broker lowers its Maximum QoS on this very connection? It cannot: a CONNACK is once.
    # A resend that waits is checked against the limits when its turn comes all the same.
    broker.conn.server = broker.conn.server.__class__(receive_maximum=1, maximum_qos=1)
    events = broker.send(PubRec(1), PubComp(1))
    assert [type(e) for e in events] == [PublishCompleted, PublishFailed]
    assert events[1].handle is handles[1]  # type: ignore[union-attr]


# ---------------------------------------------------------------- manual acknowledgements


def manual(**options: object) -> tuple[ClientConnection, FakeBroker]:
    return connected(client_id="c", clean_start=False, manual_ack=True, **options)


def test_manual_acks_go_out_in_arrival_order() -> None:
    conn, broker = manual()
    events = broker.send(
        Publish("a", b"1", 1, packet_id=1),
        Publish("a", b"2", 2, packet_id=2),
        Publish("a", b"3", 1, packet_id=3),
        Publish("a", b"0", 0),
    )
    assert len([e for e in events if isinstance(e, MessageReceived)]) == 4
    assert broker.received() == []  # nothing acknowledged by itself
    conn.acknowledge(3, 1, conn.number, 2.0)  # early: waits for the two before it
    conn.acknowledge(2, 2, conn.number, 2.0)
    assert broker.received() == []
    conn.acknowledge(1, 1, conn.number, 2.0)
    assert broker.received() == [PubAck(1), PubRec(2), PubAck(3)]
    assert conn.session.inbound_qos2 == {2}


def test_acknowledging_what_does_not_wait_is_an_error() -> None:
    conn, broker = manual()
    broker.send(Publish("a", b"1", 1, packet_id=1))
    with pytest.raises(ValueError, match="packet id 9"):
        conn.acknowledge(9, 1, conn.number, 2.0)
    plain, _ = connected()
    with pytest.raises(ValueError, match="needs manual_ack=True"):
        plain.acknowledge(1, 1, plain.number, 2.0)


def test_unacknowledged_messages_count_against_our_receive_maximum() -> None:
    _conn, broker = manual(receive_maximum=2)
    broker.send(Publish("a", b"1", 1, packet_id=1), Publish("a", b"2", 2, packet_id=2))
    [event] = broker.send(Publish("a", b"3", 1, packet_id=3))
    assert isinstance(event, Disconnected)
    assert isinstance(event.error, ReceiveMaximumExceededError)
    assert "unacknowledged QoS 1/2 messages" in str(event.error)


def test_a_tolerant_connection_delivers_and_acknowledges_messages_over_the_limit() -> None:
    conn, broker = manual(receive_maximum=2, strict_receive_maximum=False)
    broker.send(Publish("a", b"1", 1, packet_id=1), Publish("a", b"2", 2, packet_id=2))
    third = Publish("a", b"3", 1, packet_id=3)
    assert broker.send(third) == [ReceiveMaximumExceeded(2, 3, 3), MessageReceived(third)]
    conn.acknowledge_first(3, 2.0)
    assert broker.received() == [PubAck(1), PubRec(2), PubAck(3)]


def test_a_qos1_message_of_an_ended_connection_is_not_acknowledged() -> None:
    conn, broker = manual()
    broker.send(Publish("a", b"1", 1, packet_id=1))
    old = conn.number
    again, broker, _events = handover(conn)
    # The broker sends it again (it kept the session); the late acknowledgement of the first
    # copy is not taken for the second, which is a new delivery to acknowledge on its own.
    [event] = broker.send(Publish("a", b"1", 1, dup=True, packet_id=1))
    assert isinstance(event, MessageReceived)
    again.acknowledge(1, 1, old, 11.0)
    assert broker.received() == []
    again.acknowledge(1, 1, again.number, 11.0)
    assert broker.received() == [PubAck(1)]


def test_a_qos2_message_acknowledged_after_its_connection_ended_is_answered_not_redelivered() -> (
    None
):
    conn, broker = manual()
    broker.send(Publish("a", b"m", 2, packet_id=5))
    old = conn.number
    conn.receive_eof(3.0)
    conn.acknowledge(5, 2, old, 3.5)  # the application was done with it meanwhile
    assert broker.received() == []
    again, broker, _events = handover(conn)
    assert broker.send(Publish("a", b"m", 2, dup=True, packet_id=5)) == []
    assert broker.received() == [PubRec(5)]
    assert again.session.inbound_qos2 == {5}


def test_a_qos2_retransmission_waits_for_the_late_acknowledgement() -> None:
    conn, broker = manual()
    broker.send(Publish("a", b"m", 2, packet_id=5))
    old = conn.number
    again, broker, _events = handover(conn)
    assert broker.send(Publish("a", b"m", 2, dup=True, packet_id=5)) == []  # not again
    assert broker.received() == []
    again.acknowledge(5, 2, old, 11.0)
    assert broker.received() == [PubRec(5)]


def test_a_late_acknowledgement_from_a_lost_session_is_ignored() -> None:
    conn, broker = manual()
    broker.send(Publish("a", b"m", 2, packet_id=5))
    old = conn.number
    again, broker, _events = handover(conn, session_present=False)
    [event] = broker.send(Publish("b", b"new", 2, packet_id=5))  # a new message, same id
    assert isinstance(event, MessageReceived)
    again.acknowledge(5, 2, old, 11.0)
    assert broker.received() == []  # the new message is not acknowledged by the old one's ack
    again.acknowledge(5, 2, again.number, 11.0)
    assert broker.received() == [PubRec(5)]


def test_a_retransmission_of_an_acknowledged_qos2_message_is_answered_in_order() -> None:
    conn, broker = manual()
    broker.send(Publish("a", b"m", 2, packet_id=5))
    conn.acknowledge(5, 2, conn.number, 2.0)
    broker.received()
    broker.send(Publish("a", b"1", 1, packet_id=6))
    assert broker.send(Publish("a", b"m", 2, dup=True, packet_id=5)) == []
    assert broker.received() == []  # its PUBREC waits behind the unacknowledged message 6
    conn.acknowledge(6, 1, conn.number, 3.0)
    assert broker.received() == [PubAck(6), PubRec(5)]


def test_stale_connection_numbers_and_acknowledgements_on_a_closed_connection() -> None:
    conn, broker = manual()
    broker.send(Publish("a", b"1", 2, packet_id=1))
    conn.acknowledge(1, 2, conn.number + 7, 2.0)  # no such connection: nothing happens
    conn.receive_eof(3.0)
    conn.acknowledge(1, 1, conn.number, 3.0)  # QoS 1 of a closed connection: nothing to do
    assert conn.session.inbound_unacked == {1: [1, False]}
    assert broker.received() == []


def test_resend_order_is_kept_when_connect_is_called_again_on_the_same_object() -> None:
    conn, _old, _handles = in_flight(3)
    conn.receive_eof(2.0)
    conn.events_received()
    broker = FakeBroker(conn)
    broker.connect(session_present=True, properties=Properties(receive_maximum=1))
    assert [p.packet_id for p in broker.received()] == [1]  # type: ignore[union-attr]
    conn.receive_eof(3.0)
    conn.events_received()
    broker.connect(session_present=True)
    assert [p.packet_id for p in broker.received()] == [1, 2, 3]  # type: ignore[union-attr]


def test_a_restored_session_connects_with_its_identifier() -> None:
    session = Session.restore([])
    session.start("stored-id", clean=True)
    conn = ClientConnection(PERSISTENT, session)
    conn.connect(0.0)
    [connect] = FakeBroker(conn).received()
    assert isinstance(connect, Connect) and connect.client_id == "stored-id"


def test_resends_that_wait_go_ahead_of_publishes_already_waiting() -> None:
    conn, old, _handles = in_flight(2, max_inflight=2)
    queued = conn.publish("t", b"queued", qos=1, now=1.0)  # waits for a slot
    old.received()
    _again, broker, _events = handover(conn, receive_maximum=1)
    assert [(p.packet_id, p.dup) for p in broker.received()] == [(1, True)]  # type: ignore[union-attr]
    broker.send(PubAck(1))
    broker.send(PubAck(2))
    sent = broker.received()
    assert [(p.payload, p.dup) for p in sent] == [(b"\x01", True), (b"queued", False)]  # type: ignore[union-attr]
    assert queued is not None and queued.written


def test_acknowledge_first_acknowledges_the_oldest_in_one_call() -> None:
    conn, broker = manual()
    broker.send(
        Publish("a", b"1", 1, packet_id=1),
        Publish("a", b"2", 2, packet_id=2),
        Publish("a", b"3", 1, packet_id=3),
        Publish("a", b"4", 1, packet_id=4),
    )
    conn.acknowledge_first(1, 2.0)
    assert broker.received() == [PubAck(1)]
    conn.acknowledge(4, 1, conn.number, 2.0)  # early: held back behind message 3
    conn.acknowledge_first(1, 2.0)
    assert broker.received() == [PubRec(2)]
    assert conn.session.inbound_qos2 == {2}
    conn.acknowledge_first(1, 2.0)  # message 3, and the early acknowledgement of 4 with it
    assert broker.received() == [PubAck(3), PubAck(4)]


def test_acknowledge_first_counts_past_messages_acknowledged_out_of_order() -> None:
    conn, broker = manual()
    broker.send(
        Publish("a", b"1", 1, packet_id=1),
        Publish("response", b"r", 2, packet_id=2),  # taken at once by the driver
        Publish("a", b"3", 1, packet_id=3),
        Publish("response", b"r", 1, packet_id=4),
        Publish("a", b"5", 1, packet_id=5),
    )
    conn.acknowledge(2, 2, conn.number, 2.0)
    conn.acknowledge(4, 1, conn.number, 2.0)
    assert broker.received() == []  # held back behind message 1
    conn.acknowledge_first(2, 3.0)  # messages 1 and 3, not the early ones
    assert broker.received() == [PubAck(1), PubRec(2), PubAck(3), PubAck(4)]
    conn.acknowledge_first(1, 4.0)
    assert broker.received() == [PubAck(5)]


def test_acknowledge_first_on_an_ended_connection_sends_nothing() -> None:
    conn, broker = manual()
    broker.send(Publish("a", b"1", 1, packet_id=1))
    conn.receive_eof(2.0)
    conn.acknowledge_first(1, 2.0)
    assert broker.received() == []


# ---------------------------------------------------------------- offline QoS 0, restoring


def test_qos0_made_offline_waits_in_order_and_is_written_on_the_next_connection() -> None:
    conn, _old, _handles = in_flight(0, queue_qos0_offline=True, max_inflight=1)
    conn.receive_eof(2.0)
    conn.events_received()
    first = conn.publish("t", b"a", now=3.0)
    conn.publish("t", b"b", qos=1, now=3.0)
    conn.publish("t", b"c", qos=1, now=3.0)
    fourth = conn.publish("t", b"d", now=3.0)
    assert first is not None and fourth is not None and conn.session.queued_qos0 == 2
    again, broker, events = handover(conn)
    # QoS 0 takes no Receive Maximum slot, but keeps its place: "d" waits behind "c", which
    # waits for the one slot (max_inflight=1) that "b" took.
    assert [(p.payload, p.qos) for p in broker.received()] == [(b"a", 0), (b"b", 1)]  # type: ignore[union-attr]
    assert [e.handle for e in events if isinstance(e, PublishCompleted)] == [first]
    assert again.publish("t", b"later", now=11.0) is not None  # behind the waiting QoS 0
    done = broker.send(PubAck(1))
    assert [p.payload for p in broker.received()] == [b"c", b"d", b"later"]  # type: ignore[union-attr]
    assert fourth in [e.handle for e in done]  # type: ignore[union-attr]
    assert again.session.queued_qos0 == 0
    assert again.publish("t", b"now", now=12.0) is None  # nothing waits: written at once


def test_qos0_offline_raises_unless_asked_to_queue_and_is_never_recorded() -> None:
    conn = ClientConnection(ClientConfig(client_id="c"))
    with pytest.raises(MqttError, match="cannot publish with QoS 0 while idle"):
        conn.publish("t", b"x", now=0.0)
    config = ClientConfig(client_id="c", queue_qos0_offline=True)
    recording = ClientConnection(config, Session(recording=True))
    handle = recording.publish("t", b"x", now=0.0)
    assert handle is not None and recording.session.records == []
    assert recording.session.snapshot() == []
    assert recording.withdraw(handle) and recording.session.queued_qos0 == 0
    assert recording.session.records == []


def test_a_queued_qos0_that_no_longer_fits_fails() -> None:
    config = ClientConfig(client_id="c", queue_qos0_offline=True)
    conn = ClientConnection(config)
    handle = conn.publish("t", b"x" * 500, now=0.0)
    broker = FakeBroker(conn)
    events = broker.connect(properties=Properties(maximum_packet_size=100))
    [failed] = [e for e in events if isinstance(e, PublishFailed)]
    assert failed.handle is handle and "maximum packet size" in str(failed.error)


def restoring(**options: object) -> tuple[ClientConnection, FakeBroker]:
    conn, broker = connected(
        client_id="c", clean_start=False, restore_subscriptions=True, **options
    )
    with_id = Properties(subscription_identifiers=(7,))
    first = conn.subscribe([Subscription("a/#", 1), Subscription("b", 2)], with_id, now=1.0)
    second = conn.subscribe([Subscription("c", 0, no_local=True)], now=1.0)
    broker.send(SubAck(first, (1, 2)), SubAck(second, (0,)))
    broker.received()
    return conn, broker


def test_subscriptions_are_restored_when_the_broker_lost_the_session() -> None:
    conn, _ = restoring()
    again, broker, events = handover(conn, session_present=False)
    assert isinstance(events[-1], Connected)
    sent = broker.received()
    assert [(p.subscriptions, p.properties) for p in sent] == [  # type: ignore[union-attr]
        (
            (Subscription("a/#", 1), Subscription("b", 2)),
            Properties(subscription_identifiers=(7,)),
        ),
        ((Subscription("c", 0, no_local=True),), Properties()),
    ]
    first, second = (p.packet_id for p in sent)  # type: ignore[union-attr]
    events = broker.send(SubAck(first, (1, 0x87)), SubAck(second, (0,)))
    assert events == [
        SubscriptionsRestored(("a/#",), (("b", 0x87),)),
        SubscriptionsRestored(("c",)),
    ]
    assert set(again.session.subscriptions) == {"a/#", "c"}  # "b" refused: no longer held


def test_without_restoring_a_lost_session_holds_no_subscriptions() -> None:
    conn, broker = connected(client_id="c", clean_start=False)
    conn.session.recording = True
    packet_id = conn.subscribe([Subscription("a/#", 1), Subscription("b", 2)], now=1.0)
    broker.send(SubAck(packet_id, (1, 2)))
    kept, _broker, _events = handover(conn, session_present=True)
    assert set(kept.session.subscriptions) == {"a/#", "b"}
    kept.session.take_records()
    again, broker, _events = handover(kept, session_present=False)
    assert broker.received() == []  # nothing subscribed again
    assert again.session.subscriptions == {}
    assert again.session.take_records()[-2:] == [
        SubscriptionRemoved("a/#"),
        SubscriptionRemoved("b"),
    ]


def test_subscriptions_are_not_restored_when_the_broker_kept_them() -> None:
    conn, _ = restoring()
    _again, broker, _events = handover(conn, session_present=True)
    assert broker.received() == []


def test_subscriptions_that_no_longer_fit_are_reported_not_kept() -> None:
    conn, _ = restoring()
    again, broker, events = handover(conn, session_present=False, maximum_packet_size=12)
    restored = [e for e in events if isinstance(e, SubscriptionsRestored)]
    assert restored == [SubscriptionsRestored((), (("a/#", 0x80), ("b", 0x80)))]
    assert [p.subscriptions for p in broker.received()] == [  # type: ignore[union-attr]
        (Subscription("c", 0, no_local=True),)
    ]
    assert set(again.session.subscriptions) == {"c"}


def test_a_lost_session_is_reported_only_when_one_was_asked_for() -> None:
    conn, _ = connected(client_id="c", clean_start=False)
    assert not conn.session_lost  # (the first connection had no session to lose)
    again, _broker, _events = handover(conn, session_present=False)
    assert again.session_lost
    kept, _broker, _events = handover(again, session_present=True)
    assert not kept.session_lost
    clean, _ = connected(client_id="c", clean_start=True)
    fresh, _broker, _events = handover(clean, session_present=False)
    assert not fresh.session_lost  # it asked for a clean start
