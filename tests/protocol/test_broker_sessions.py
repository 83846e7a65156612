"""BrokerCore sessions and wills, on exact packets and time: clean start, session present,
session expiry, takeover, offline queues and their limit, message expiry, resending on
resume, wills with and without delay."""

from __future__ import annotations

import pytest
from broker_pair import RawClient

from asyncmqtt.protocol.broker import BrokerCore
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import (
    ConnAck,
    Disconnect,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    Subscribe,
    Subscription,
    WillMessage,
)
from asyncmqtt.protocol.properties import Properties
from asyncmqtt.protocol.server import ClientDisconnected, HookFailed, MessageDropped, WillPublished
from asyncmqtt.protocol.server_session import NEVER_EXPIRES

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311
V31 = ProtocolVersion.V31


def persistent(
    broker: BrokerCore,
    client_id: str = "p",
    *,
    expiry: int = 100,
    now: float = 0.0,
    clean_start: bool = False,
    will: WillMessage | None = None,
    **properties: object,
) -> tuple[RawClient, ConnAck]:
    """Connect with a session expiry; returns the client and its CONNACK (what came after
    CONNACK waits in the client's backlog)."""
    client = RawClient(broker, V5, now=now)
    connack, *client.backlog = client.connect(
        client_id,
        clean_start=clean_start,
        will=will,
        properties=Properties(session_expiry_interval=expiry, **properties),  # type: ignore[arg-type]
        now=now,
    )
    assert isinstance(connack, ConnAck)
    return client, connack


def watcher(broker: BrokerCore, topic_filter: str = "#") -> RawClient:
    client = RawClient(broker)
    client.connect("watcher")
    client.send(Subscribe(1, (Subscription(topic_filter, 1),)))
    return client


def messages(client: RawClient) -> list[Publish]:
    return [p for p in client.received() if isinstance(p, Publish)]


# ---------------------------------------------------------------- sessions


def test_a_session_is_resumed_with_session_present() -> None:
    broker = BrokerCore()
    client, connack = persistent(broker)
    assert connack.session_present is False
    client.send(Subscribe(1, (Subscription("t", 1),)))
    client.send(Disconnect())
    client, connack = persistent(broker, now=5.0)
    assert connack.session_present is True
    broker.publish("t", b"x", 1, now=6.0)
    assert [m.payload for m in messages(client)] == [b"x"]


def test_clean_start_discards_the_session() -> None:
    broker = BrokerCore()
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    client.send(Disconnect())
    client, connack = persistent(broker, clean_start=True)
    assert connack.session_present is False
    assert broker.publish("t", b"x", 1, now=0.0) == 0


def test_no_session_expiry_ends_the_session_with_the_connection() -> None:
    broker = BrokerCore()
    client = RawClient(broker)
    client.connect("c", clean_start=False)
    client.send(Disconnect())
    assert "c" not in broker.sessions
    [connack] = RawClient(broker).connect("c", clean_start=False)
    assert connack.session_present is False  # type: ignore[union-attr]


@pytest.mark.parametrize("version", [V311, V31])
def test_mqtt3_clean_session(version: ProtocolVersion) -> None:
    broker = BrokerCore()
    client = RawClient(broker, version)
    client.connect("c", clean_start=False)
    assert broker.sessions["c"].expiry_interval == NEVER_EXPIRES
    client.server.connection_lost(0.0)
    assert broker.get_timer() is None or broker.get_timer() == 10.0  # (only connect timeouts)
    client = RawClient(broker, version)
    [connack] = client.connect("c", clean_start=False)
    # 3.1 has no Session Present flag: its CONNACK says 0 even when the session is resumed.
    assert connack.session_present is (version is V311)  # type: ignore[union-attr]
    client = RawClient(broker, version)
    client.connect("c", clean_start=True)
    client.server.connection_lost(0.0)
    assert "c" not in broker.sessions


def test_mqtt31_resends_what_is_in_flight_though_connack_cannot_say_so() -> None:
    broker = BrokerCore()
    client = RawClient(broker, V31)
    client.connect("c", clean_start=False)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    broker.publish("t", b"x", 1, now=0.0)
    [message] = messages(client)
    client.server.connection_lost(1.0)
    client = RawClient(broker, V31)
    [connack, resent] = client.connect("c", clean_start=False)
    assert connack == ConnAck(False, 0)
    assert resent == message._replace(dup=True)


def test_the_session_expires_after_its_interval() -> None:
    broker = BrokerCore(connect_timeout=1)
    client, _ = persistent(broker, expiry=30)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    client.send(Disconnect(), now=10.0)
    assert broker.sessions["p"].expires_at == 40.0
    broker.handle_timer(39.0)
    assert "p" in broker.sessions
    assert broker.get_timer() == 40.0
    broker.handle_timer(40.0)
    assert "p" not in broker.sessions
    assert broker.publish("t", b"x", 1, now=41.0) == 0


def test_a_session_resumed_in_time_does_not_expire() -> None:
    broker = BrokerCore(connect_timeout=1)
    client, _ = persistent(broker, expiry=30)
    client.send(Disconnect(), now=10.0)
    persistent(broker, expiry=30, now=20.0)
    broker.handle_timer(40.0)
    assert "p" in broker.sessions


def test_disconnect_changes_the_session_expiry() -> None:
    broker = BrokerCore(connect_timeout=1, max_session_expiry_interval=50)
    client, _ = persistent(broker, expiry=30)
    client.send(Disconnect(properties=Properties(session_expiry_interval=60)), now=10.0)
    assert broker.sessions["p"].expires_at == 60.0  # capped at 50
    client, _ = persistent(broker, expiry=30, now=20.0)
    client.send(Disconnect(properties=Properties(session_expiry_interval=0)), now=21.0)
    assert "p" not in broker.sessions


def test_disconnect_may_not_set_an_expiry_when_connect_set_none() -> None:
    broker = BrokerCore()
    watch = watcher(broker, "will")
    client = RawClient(broker)
    client.connect("c", will=WillMessage("will", b"gone"))
    [disconnect] = client.send(Disconnect(properties=Properties(session_expiry_interval=5)))
    assert disconnect.reason_code == 0x82  # type: ignore[union-attr]
    assert [m.payload for m in messages(watch)] == [b"gone"]  # not a valid DISCONNECT


def test_disconnect_with_expiry_zero_when_connect_set_none_is_fine() -> None:
    client = RawClient(BrokerCore())
    client.connect("c")
    assert client.send(Disconnect(properties=Properties(session_expiry_interval=0))) == []


def test_session_takeover() -> None:
    broker = BrokerCore()
    first, _ = persistent(broker)
    first.send(Subscribe(1, (Subscription("t", 1),)))
    second, connack = persistent(broker, now=1.0)
    assert connack.session_present is True
    assert first.raw() == b"\xe0\x01\x8e"  # DISCONNECT, session taken over
    assert first.server.closed
    assert broker.clients["p"] is second.server
    [event] = [e for e in broker.events_received() if isinstance(e, ClientDisconnected)]
    assert event.reason_code == 0x8E
    broker.publish("t", b"x", 1, now=2.0)
    assert [m.payload for m in messages(second)] == [b"x"]
    # An MQTT 3.1.1 client is just closed.
    old = RawClient(broker, V311)
    old.connect("v3")
    RawClient(broker, V311).connect("v3")
    assert old.raw() == b""
    assert old.server.closed


def test_inflight_messages_are_resent_with_dup_on_resume() -> None:
    broker = BrokerCore()
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 2),)))
    broker.publish("t", b"one", 1, now=0.0)
    broker.publish("t", b"two", 2, now=0.0)
    broker.publish("t", b"three", 2, now=0.0)
    [one, two, three] = messages(client)
    assert client.send(PubRec(three.packet_id)) == [PubRel(three.packet_id)]  # type: ignore[arg-type]
    client.server.connection_lost(1.0)
    client, connack = persistent(broker, now=2.0)
    assert connack.session_present is True
    assert client.received() == [
        one._replace(dup=True),
        two._replace(dup=True),
        PubRel(three.packet_id),  # type: ignore[arg-type]
    ]
    client.send(PubAck(one.packet_id), PubRec(two.packet_id))  # type: ignore[arg-type]
    client.send(PubComp(two.packet_id), PubComp(three.packet_id))  # type: ignore[arg-type]
    assert client.server.inflight_count == 0


def test_resends_respect_a_smaller_receive_maximum() -> None:
    broker = BrokerCore()
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    for index in range(3):
        broker.publish("t", bytes([index]), 1, now=0.0)
    first = messages(client)
    client.server.connection_lost(1.0)
    broker.publish("t", b"queued", 1, now=1.5)
    client, _ = persistent(broker, now=2.0, receive_maximum=1)
    [resent] = client.received()
    assert resent == first[0]._replace(dup=True)
    assert client.server.inflight_count == 1
    [resent] = client.send(PubAck(first[0].packet_id))  # type: ignore[arg-type]
    assert resent == first[1]._replace(dup=True)
    # Acknowledging one still waiting to be resent is fine: it waits no more.
    assert client.send(PubAck(first[2].packet_id)) == []  # type: ignore[arg-type]
    [queued] = client.send(PubAck(first[1].packet_id))  # type: ignore[arg-type]
    assert queued.payload == b"queued"  # type: ignore[union-attr]
    assert client.send(PubAck(queued.packet_id)) == []  # type: ignore[union-attr]
    assert client.server.inflight_count == 0


def test_a_pubrec_for_a_flow_waiting_to_be_resent() -> None:
    broker = BrokerCore()
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 2),)))
    broker.publish("t", b"a", 2, now=0.0)
    broker.publish("t", b"b", 2, now=0.0)
    first = messages(client)
    client.server.connection_lost(1.0)
    client, _ = persistent(broker, now=2.0, receive_maximum=1)
    client.received()
    assert client.send(PubRec(first[1].packet_id)) == [PubRel(first[1].packet_id)]  # type: ignore[arg-type]
    assert client.send(PubRec(first[0].packet_id)) == [PubRel(first[0].packet_id)]  # type: ignore[arg-type]
    assert client.send(PubComp(first[0].packet_id), PubComp(first[1].packet_id)) == []  # type: ignore[arg-type]


def test_a_resend_too_large_for_the_new_connection_is_dropped() -> None:
    broker = BrokerCore()
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    broker.publish("t", b"x" * 50, 1, now=0.0)
    client.server.connection_lost(1.0)
    client, _ = persistent(broker, now=2.0, maximum_packet_size=40)
    assert client.received() == []
    assert client.server.inflight_count == 0


def test_inbound_qos2_ids_survive_a_reconnect() -> None:
    broker = BrokerCore()
    watch = watcher(broker)
    client, _ = persistent(broker)
    client.send(Publish("t", b"once", 2, packet_id=3))
    client.server.connection_lost(1.0)
    client, _ = persistent(broker, now=2.0)
    assert client.send(Publish("t", b"once", 2, dup=True, packet_id=3)) == [PubRec(3)]
    assert client.send(PubRel(3)) == [PubComp(3)]
    assert [m.payload for m in messages(watch)] == [b"once"]


# ---------------------------------------------------------------- offline queues


def test_messages_for_an_offline_session_are_queued_and_delivered_on_return() -> None:
    broker = BrokerCore()
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 2),)))
    client.send(Disconnect())
    broker.publish("t", b"q0", 0, now=1.0)  # not queued by default
    broker.publish("t", b"q1", 1, now=1.0)
    broker.publish("t", b"q2", 2, now=1.0)
    assert broker.sessions["p"].queued_count == 2
    client, _ = persistent(broker, now=2.0)
    assert [(m.payload, m.qos) for m in messages(client)] == [(b"q1", 1), (b"q2", 2)]


def test_qos0_is_queued_offline_when_configured() -> None:
    broker = BrokerCore(queue_qos0_offline=True)
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 2),)))
    client.send(Disconnect())
    broker.publish("t", b"q0", 0, now=1.0)
    client, _ = persistent(broker, now=2.0)
    assert [m.payload for m in messages(client)] == [b"q0"]


def test_a_full_queue_drops_the_oldest_qos0_then_the_newest() -> None:
    broker = BrokerCore(max_queued_messages=3, queue_qos0_offline=True)
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    client.send(Disconnect())
    for payload, qos in [(b"a0", 0), (b"b1", 1), (b"c0", 0), (b"d1", 1), (b"e1", 1), (b"f0", 0)]:
        broker.publish("t", payload, qos, now=1.0)
    dropped = [e for e in broker.events_received() if isinstance(e, MessageDropped)]
    assert [(e.publish.payload, e.reason) for e in dropped] == [
        (b"a0", "queue full"),
        (b"c0", "queue full"),
        (b"f0", "queue full"),
    ]
    assert broker.sessions["p"].dropped_messages == 3
    assert broker.stats.messages_dropped == 3
    client, _ = persistent(broker, now=2.0)
    assert [m.payload for m in messages(client)] == [b"b1", b"d1", b"e1"]


def test_a_queue_of_one_replaces_its_qos0_message() -> None:
    broker = BrokerCore(max_queued_messages=1, queue_qos0_offline=True)
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    client.send(Disconnect())
    broker.publish("t", b"old", 0, now=1.0)
    broker.publish("t", b"new", 1, now=1.0)
    client, _ = persistent(broker, now=2.0)
    assert [m.payload for m in messages(client)] == [b"new"]


def test_max_queued_messages_zero_queues_nothing() -> None:
    broker = BrokerCore(max_queued_messages=0)
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    client.send(Disconnect())
    broker.publish("t", b"x", 1, now=1.0)
    assert broker.sessions["p"].queued_count == 0
    assert broker.stats.messages_dropped == 1


def test_the_queue_limit_applies_online_beyond_the_receive_maximum() -> None:
    broker = BrokerCore(max_queued_messages=1)
    client = RawClient(broker)
    client.connect("c", properties=Properties(receive_maximum=1))
    client.send(Subscribe(1, (Subscription("t", 1),)))
    for index in range(3):
        broker.publish("t", bytes([index]), 1, now=0.0)
    [first] = messages(client)
    assert [m.payload for m in client.send(PubAck(first.packet_id))] == [b"\x01"]  # type: ignore[arg-type,union-attr]
    assert broker.stats.messages_dropped == 1


# ---------------------------------------------------------------- message expiry


def test_queued_messages_expire_and_carry_what_remains() -> None:
    broker = BrokerCore(connect_timeout=1)
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    client.send(Disconnect())
    broker.publish("t", b"short", 1, properties=Properties(message_expiry_interval=5), now=10.0)
    broker.publish("t", b"long", 1, properties=Properties(message_expiry_interval=50), now=10.0)
    broker.publish("t", b"forever", 1, now=10.0)
    broker.handle_timer(10.0)  # (the connect timeouts go)
    assert broker.get_timer() == 15.0
    broker.handle_timer(15.0)
    assert broker.sessions["p"].queued_count == 2
    assert broker.stats.messages_expired == 1
    assert broker.sessions["p"].expired_messages == 1
    client, _ = persistent(broker, now=20.0)
    [long, forever] = messages(client)
    assert long.properties.message_expiry_interval == 40
    assert forever.properties.message_expiry_interval is None


def test_a_message_that_expires_while_waiting_for_a_slot_is_not_sent() -> None:
    broker = BrokerCore()
    client = RawClient(broker)
    client.connect("c", properties=Properties(receive_maximum=1))
    client.send(Subscribe(1, (Subscription("t", 1),)))
    broker.publish("t", b"first", 1, now=0.0)
    expiring = Properties(message_expiry_interval=2)
    broker.publish("t", b"late", 1, properties=expiring, now=0.0)
    broker.publish("t", b"late0", 0, properties=expiring, now=0.0)
    broker.publish("t", b"last", 1, now=0.0)
    [first] = messages(client)
    assert [m.payload for m in client.send(PubAck(first.packet_id), now=3.0)] == [b"last"]  # type: ignore[arg-type,union-attr]
    assert broker.stats.messages_expired == 2


def test_a_message_sent_at_once_carries_its_interval() -> None:
    broker = BrokerCore()
    client = RawClient(broker)
    client.connect("c")
    client.send(Subscribe(1, (Subscription("t", 1),)))
    broker.publish("t", b"x", 0, properties=Properties(message_expiry_interval=7), now=0.0)
    [message] = messages(client)
    assert message.properties.message_expiry_interval == 7


def test_a_resent_message_repeats_its_interval() -> None:
    broker = BrokerCore()
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    broker.publish("t", b"x", 1, properties=Properties(message_expiry_interval=7), now=0.0)
    [message] = messages(client)
    client.server.connection_lost(1.0)
    client, _ = persistent(broker, now=20.0)  # (past its expiry: it was on its way already)
    assert messages(client) == [message._replace(dup=True)]


def test_the_queue_timer_after_the_queue_was_delivered() -> None:
    broker = BrokerCore(connect_timeout=1)
    client, _ = persistent(broker)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    client.send(Disconnect())
    broker.publish("t", b"x", 1, properties=Properties(message_expiry_interval=5), now=0.0)
    persistent(broker, now=1.0)
    broker.handle_timer(5.0)
    assert broker.stats.messages_expired == 0


def test_a_qos0_message_with_expiry_zero_is_never_sent() -> None:
    broker = BrokerCore()
    client = RawClient(broker)
    client.connect("c")
    client.send(Subscribe(1, (Subscription("t", 1),)))
    broker.publish("t", b"x", 0, properties=Properties(message_expiry_interval=0), now=0.0)
    assert messages(client) == []
    assert broker.stats.messages_expired == 1


def test_the_queue_timer_of_an_ended_session_does_nothing() -> None:
    broker = BrokerCore(connect_timeout=1)
    client, _ = persistent(broker, expiry=2)
    client.send(Subscribe(1, (Subscription("t", 1),)))
    client.send(Disconnect())
    broker.publish("t", b"x", 1, properties=Properties(message_expiry_interval=5), now=0.0)
    broker.handle_timer(10.0)
    assert broker.stats.messages_expired == 0
    assert "p" not in broker.sessions


# ---------------------------------------------------------------- wills


def test_a_will_is_published_at_once_without_delay() -> None:
    broker = BrokerCore()
    watch = watcher(broker, "will/#")
    client = RawClient(broker)
    properties = Properties(
        content_type="text/plain", user_properties=(("k", "v"),), will_delay_interval=0
    )
    client.connect("c", will=WillMessage("will/c", b"gone", 1, True, properties))
    client.server.connection_lost(1.0)
    [message] = messages(watch)
    assert message == Publish(
        "will/c",
        b"gone",
        1,
        False,
        packet_id=1,
        properties=Properties(content_type="text/plain", user_properties=(("k", "v"),)),
    )
    assert broker.retained["will/c"].payload == b"gone"


def test_disconnect_with_will_message_publishes_it() -> None:
    broker = BrokerCore()
    watch = watcher(broker, "will")
    client = RawClient(broker)
    client.connect("c", will=WillMessage("will", b"gone"))
    client.send(Disconnect(0x04))
    assert [m.payload for m in messages(watch)] == [b"gone"]


def test_the_will_delay_and_its_cancellation() -> None:
    broker = BrokerCore(connect_timeout=1)
    watch = watcher(broker, "will")
    delayed = WillMessage("will", b"gone", properties=Properties(will_delay_interval=10))
    client, _ = persistent(broker, expiry=100, will=delayed)
    client.server.connection_lost(5.0)
    broker.handle_timer(5.0)  # (the connect timeouts go)
    assert broker.get_timer() == 15.0
    # Back in time: the will is never published.
    persistent(broker, expiry=100, now=8.0)
    broker.handle_timer(15.0)
    assert messages(watch) == []
    assert broker.stats.wills_published == 0


def test_a_delayed_will_is_published_when_the_delay_runs_out() -> None:
    broker = BrokerCore(connect_timeout=1)
    watch = watcher(broker, "will")
    delayed = WillMessage("will", b"gone", properties=Properties(will_delay_interval=10))
    client, _ = persistent(broker, expiry=100, will=delayed)
    client.server.connection_lost(5.0)
    broker.handle_timer(14.9)
    assert messages(watch) == []
    broker.handle_timer(15.0)
    [message] = messages(watch)
    assert message.properties.will_delay_interval is None
    assert [type(e) for e in broker.events_received()].count(WillPublished) == 1


def test_a_delayed_will_is_published_when_the_session_ends_first() -> None:
    broker = BrokerCore(connect_timeout=1)
    watch = watcher(broker, "will")
    delayed = WillMessage("will", b"gone", properties=Properties(will_delay_interval=60))
    client, _ = persistent(broker, expiry=10, will=delayed)
    client.server.connection_lost(0.0)
    broker.handle_timer(10.0)
    assert [m.payload for m in messages(watch)] == [b"gone"]
    broker.handle_timer(60.0)  # (the will's own timer finds nothing left)
    assert messages(watch) == []


def test_a_delayed_will_without_session_expiry_is_published_at_once() -> None:
    broker = BrokerCore()
    watch = watcher(broker, "will")
    client = RawClient(broker)
    client.connect(
        "c", will=WillMessage("will", b"gone", properties=Properties(will_delay_interval=60))
    )
    client.server.connection_lost(0.0)
    assert [m.payload for m in messages(watch)] == [b"gone"]


def test_a_clean_start_publishes_a_waiting_will() -> None:
    broker = BrokerCore(connect_timeout=1)
    watch = watcher(broker, "will")
    delayed = WillMessage("will", b"gone", properties=Properties(will_delay_interval=60))
    client, _ = persistent(broker, expiry=100, will=delayed)
    client.server.connection_lost(0.0)
    persistent(broker, clean_start=True, now=1.0)
    assert [m.payload for m in messages(watch)] == [b"gone"]


def test_takeover_publishes_the_will_unless_delayed_and_resumed() -> None:
    broker = BrokerCore()
    watch = watcher(broker, "will")
    persistent(broker, "a", will=WillMessage("will", b"a"))
    persistent(broker, "a")  # no delay: published
    delayed = WillMessage("will", b"b", properties=Properties(will_delay_interval=5))
    persistent(broker, "b", will=delayed)
    persistent(broker, "b")  # resumed before the delay ran out: not published
    assert [m.payload for m in messages(watch)] == [b"a"]


def test_a_will_refused_by_authorize_is_not_published() -> None:
    def authorize(client_id: str, username: str | None, action: object, topic: str) -> int | None:
        if topic == "will" and client_id == "c":
            return 0x87
        if topic == "broken":
            raise RuntimeError("bug")
        return None

    broker = BrokerCore(authorize=authorize)
    watch = watcher(broker, "#")
    client = RawClient(broker)
    client.connect("c", will=WillMessage("will", b"gone"))
    client.server.connection_lost(0.0)
    other = RawClient(broker)
    other.connect("d", will=WillMessage("broken", b"gone"))
    other.server.connection_lost(0.0)
    assert messages(watch) == []
    assert any(isinstance(e, HookFailed) for e in broker.events_received())
    allowed = RawClient(broker)
    allowed.connect("e", will=WillMessage("will", b"e"))
    allowed.server.connection_lost(0.0)
    assert [m.payload for m in messages(watch)] == [b"e"]


def test_a_will_from_a_no_local_subscriber_is_not_sent_back_to_itself() -> None:
    broker = BrokerCore()
    client, _ = persistent(broker, "c", will=WillMessage("will", b"gone"))
    client.send(Subscribe(1, (Subscription("will", 1, no_local=True),)))
    client.server.connection_lost(0.0)
    assert broker.sessions["c"].queued_count == 0


def test_the_session_repr() -> None:
    broker = BrokerCore()
    persistent(broker)
    assert "client_id='p' expiry=100" in repr(broker.sessions["p"])
    assert "connections_accepted=1" in repr(broker.stats)
