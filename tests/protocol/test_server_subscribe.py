"""SUBSCRIBE / UNSUBSCRIBE on the broker core, on exact packets: SUBACK codes, options (no
local, retain as published, retain handling), subscription identifiers, shared subscriptions,
retained messages, ``$`` topics."""

from __future__ import annotations

import pytest
from broker_pair import RawClient

from asyncmqtt.protocol.broker import BrokerCore
from asyncmqtt.protocol.broker_config import Action
from asyncmqtt.protocol.enums import ProtocolVersion, RetainHandling
from asyncmqtt.protocol.packets import (
    Disconnect,
    PubAck,
    Publish,
    PubRec,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
)
from asyncmqtt.protocol.properties import Properties

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311


def connected(broker: BrokerCore, client_id: str, version: ProtocolVersion = V5) -> RawClient:
    client = RawClient(broker, version)
    client.connect(client_id)
    return client


def subscribe(client: RawClient, *subscriptions: Subscription, **properties: object) -> list:  # type: ignore[type-arg]
    return client.send(Subscribe(1, subscriptions, Properties(**properties)))  # type: ignore[arg-type]


def payloads(client: RawClient) -> list[bytes]:
    return [p.payload for p in client.received() if isinstance(p, Publish)]


# ---------------------------------------------------------------- SUBACK


def test_suback_golden() -> None:
    client = connected(BrokerCore(), "c", V311)
    client.server.receive_data(b"\x82\x0c\x00\x05\x00\x03a/b\x01\x00\x01c\x02", 0.0)
    assert client.raw() == b"\x90\x04\x00\x05\x01\x02"


def test_refusals_in_suback() -> None:
    broker = BrokerCore(
        shared_subscription_available=False,
        wildcard_subscription_available=False,
        authorize=lambda cid, user, action, topic: 0x87 if topic == "secret" else None,
    )
    client = connected(broker, "c")
    [suback] = subscribe(
        client,
        Subscription("a/#/b"),
        Subscription("$share/g/a"),
        Subscription("a/+"),
        Subscription("secret"),
        Subscription("fine", 1),
    )
    assert suback == SubAck(1, (0x8F, 0x9E, 0xA2, 0x87, 1))
    v3 = connected(broker, "v3", V311)
    [suback] = v3.send(Subscribe(1, (Subscription("a/#/b"), Subscription("secret"))))
    assert suback == SubAck(1, (0x80, 0x80))


def test_subscription_identifiers_refused_when_not_available() -> None:
    client = connected(BrokerCore(subscription_identifier_available=False), "c")
    [suback] = subscribe(client, Subscription("a"), subscription_identifiers=(3,))
    assert suback == SubAck(1, (0xA1,))


def test_no_local_on_a_shared_subscription_is_a_protocol_error() -> None:
    client = connected(BrokerCore(), "c")
    [disconnect] = subscribe(client, Subscription("$share/g/a", no_local=True))
    assert disconnect.reason_code == 0x82


def test_authorize_is_asked_about_subscriptions() -> None:
    asked: list[tuple[object, ...]] = []
    broker = BrokerCore(authorize=lambda *args: asked.append(args))  # type: ignore[arg-type,func-returns-value]
    client = RawClient(broker)
    client.connect("c", username="u")
    subscribe(client, Subscription("$share/g/a/#"))
    assert asked == [("c", "u", Action.SUBSCRIBE, "$share/g/a/#")]


def test_unsuback_codes() -> None:
    broker = BrokerCore()
    client = connected(broker, "c")
    subscribe(client, Subscription("a"), Subscription("$share/g/b"))
    [unsuback] = client.send(Unsubscribe(2, ("a", "never", "a/#/b", "$share/g/b")))
    assert unsuback == UnsubAck(2, (0x00, 0x11, 0x8F, 0x00))
    assert broker.sessions["c"].state.subscriptions == {}
    broker.publish("a", b"x", now=0.0)
    broker.publish("b", b"x", now=0.0)
    assert client.received() == []


def test_unsuback_golden_in_mqtt311() -> None:
    client = connected(BrokerCore(), "c", V311)
    client.server.receive_data(b"\xa2\x05\x00\x07\x00\x01a", 0.0)
    assert client.raw() == b"\xb0\x02\x00\x07"


# ---------------------------------------------------------------- routing options


def test_a_session_gets_a_message_once_with_every_identifier() -> None:
    broker = BrokerCore()
    client = connected(broker, "c")
    subscribe(client, Subscription("a/+", 0), subscription_identifiers=(1,))
    subscribe(client, Subscription("a/#", 2), subscription_identifiers=(2,))
    subscribe(client, Subscription("a/b", 1))
    client.received()
    broker.publish("a/b", b"x", 2, now=0.0)
    [message] = client.received()
    assert message.qos == 2  # type: ignore[union-attr]
    # (In the order the trie finds them: the specification sets none.)
    assert sorted(message.properties.subscription_identifiers) == [1, 2]  # type: ignore[union-attr]


def test_a_replaced_subscription_takes_its_new_options() -> None:
    broker = BrokerCore()
    client = connected(broker, "c")
    subscribe(client, Subscription("a", 2), subscription_identifiers=(1,))
    [suback] = subscribe(client, Subscription("a", 0))
    assert suback == SubAck(1, (0,))
    broker.publish("a", b"x", 2, now=0.0)
    [message] = client.received()
    assert message == Publish("a", b"x", 0)


def test_no_local() -> None:
    broker = BrokerCore()
    me = connected(broker, "me")
    other = connected(broker, "other")
    subscribe(me, Subscription("a", 1, no_local=True))
    subscribe(other, Subscription("a", 1, no_local=True))
    assert me.send(Publish("a", b"x", 1, packet_id=5)) == [PubAck(5)]
    assert payloads(other) == [b"x"]
    # no local skips one subscription, not the session: another still matches.
    subscribe(me, Subscription("#", 0))
    assert me.send(Publish("a", b"y")) == [Publish("a", b"y")]


@pytest.mark.parametrize(("keep", "flag"), [(False, False), (True, True)])
def test_retain_as_published(keep: bool, flag: bool) -> None:
    broker = BrokerCore()
    client = connected(broker, "c")
    subscribe(client, Subscription("a", retain_as_published=keep))
    broker.publish("a", b"x", retain=True, now=0.0)
    [message] = client.received()
    assert message.retain is flag  # type: ignore[union-attr]


def test_dollar_topics_are_not_matched_by_first_level_wildcards() -> None:
    broker = BrokerCore()
    wild = connected(broker, "wild")
    subscribe(wild, Subscription("#"), Subscription("+/info"))
    named = connected(broker, "named")
    subscribe(named, Subscription("$SYS/#"), Subscription("$SYS/+"))
    broker.publish("$SYS/info", b"x", retain=True, now=0.0)
    assert wild.received() == []
    assert payloads(named) == [b"x"]
    # Retained messages follow the same rule.
    late = connected(broker, "late")
    assert subscribe(late, Subscription("#")) == [SubAck(1, (0,))]
    late2 = connected(broker, "late2")
    assert subscribe(late2, Subscription("$SYS/+")) == [
        SubAck(1, (0,)),
        Publish("$SYS/info", b"x", 0, True),
    ]


# ---------------------------------------------------------------- retained messages


def test_retained_messages_are_sent_after_suback_with_retain_set() -> None:
    broker = BrokerCore()
    broker.publish("r/1", b"one", 1, True, now=0.0)
    broker.publish("r/2", b"two", 2, True, now=0.0)
    broker.publish("other", b"no", 0, True, now=0.0)
    client = connected(broker, "c")
    answer = subscribe(client, Subscription("r/+", 1), subscription_identifiers=(9,))
    ids = Properties(subscription_identifiers=(9,))
    assert answer == [
        SubAck(1, (1,)),
        Publish("r/1", b"one", 1, True, packet_id=1, properties=ids),
        Publish("r/2", b"two", 1, True, packet_id=2, properties=ids),
    ]


def test_an_empty_retained_message_clears_the_topic_and_is_still_delivered() -> None:
    broker = BrokerCore()
    broker.publish("r", b"kept", retain=True, now=0.0)
    client = connected(broker, "c")
    subscribe(client, Subscription("r", retain_as_published=True))
    client.received()
    broker.publish("r", b"", retain=True, now=0.0)
    assert client.received() == [Publish("r", b"", 0, True)]
    assert broker.retained == {}
    late = connected(broker, "late")
    assert subscribe(late, Subscription("r")) == [SubAck(1, (0,))]


def test_a_new_retained_message_replaces_the_old() -> None:
    broker = BrokerCore()
    broker.publish("r", b"old", retain=True, now=0.0)
    broker.publish("r", b"new", 1, retain=True, now=0.0)
    assert broker.retained == {"r": Publish("r", b"new", 1, True)}


@pytest.mark.parametrize(
    ("handling", "first", "again"),
    [
        (RetainHandling.SEND_ON_SUBSCRIBE, 1, 1),
        (RetainHandling.SEND_IF_NEW_SUBSCRIPTION, 1, 0),
        (RetainHandling.DO_NOT_SEND, 0, 0),
    ],
)
def test_retain_handling(handling: RetainHandling, first: int, again: int) -> None:
    broker = BrokerCore()
    broker.publish("r", b"x", retain=True, now=0.0)
    client = connected(broker, "c")
    assert len(subscribe(client, Subscription("r", retain_handling=handling))) == 1 + first
    assert len(subscribe(client, Subscription("r", retain_handling=handling))) == 1 + again


def test_shared_subscriptions_get_no_retained_messages() -> None:
    broker = BrokerCore()
    broker.publish("r", b"x", retain=True, now=0.0)
    client = connected(broker, "c")
    assert subscribe(client, Subscription("$share/g/r")) == [SubAck(1, (0,))]


def test_retained_messages_expire() -> None:
    broker = BrokerCore()
    broker.publish("r", b"x", 1, True, Properties(message_expiry_interval=10), now=100.0)
    assert broker.get_timer() == 110.0
    client = connected(broker, "c")
    [_, message] = client.send(Subscribe(1, (Subscription("r", 1),)), now=104.5)
    # The rest of the interval, rounded up.
    assert message.properties.message_expiry_interval == 6  # type: ignore[union-attr]
    late = connected(broker, "late")
    assert late.send(Subscribe(1, (Subscription("r"),)), now=110.0) == [SubAck(1, (0,))]
    assert broker.retained == {}
    # The timer removes one nobody asked for.
    broker.publish("s", b"x", 0, True, Properties(message_expiry_interval=1), now=200.0)
    broker.publish("t", b"x", 0, True, Properties(message_expiry_interval=1), now=200.0)
    broker.publish("t", b"y", 0, True, now=200.5)  # replaced: its old timer finds nothing
    broker.handle_timer(201.0)
    assert broker.retained == {"t": Publish("t", b"y", 0, True)}


def test_a_retained_message_cleared_before_its_expiry() -> None:
    broker = BrokerCore()
    broker.publish("r", b"x", 0, True, Properties(message_expiry_interval=1), now=0.0)
    broker.publish("r", b"", 0, True, now=0.5)
    broker.handle_timer(1.0)
    assert broker.retained == {}


# ---------------------------------------------------------------- shared subscriptions


def test_shared_subscriptions_round_robin() -> None:
    broker = BrokerCore()
    members = [connected(broker, name) for name in ("a", "b", "c")]
    for member in members:
        subscribe(member, Subscription("$share/g/jobs/#", 1))
        member.received()
    other_group = connected(broker, "x")
    subscribe(other_group, Subscription("$share/h/jobs/#", 1))
    plain = connected(broker, "p")
    subscribe(plain, Subscription("jobs/#", 1))
    for index in range(6):
        assert broker.publish("jobs/1", bytes([index]), 1, now=0.0) == 3
    assert [payloads(m) for m in members] == [
        [b"\x00", b"\x03"],
        [b"\x01", b"\x04"],
        [b"\x02", b"\x05"],
    ]
    assert len(payloads(other_group)) == 6
    assert len(payloads(plain)) == 6


def test_shared_subscriptions_prefer_connected_members() -> None:
    broker = BrokerCore()
    away = RawClient(broker)
    away.connect("away", clean_start=False, properties=Properties(session_expiry_interval=100))
    subscribe(away, Subscription("$share/g/t", 1))
    here = connected(broker, "here")
    subscribe(here, Subscription("$share/g/t", 1))
    away.send(Disconnect())
    for index in range(3):
        broker.publish("t", bytes([index]), 1, now=0.0)
    received = [p for p in here.received() if isinstance(p, Publish)]
    assert len(received) == 3
    assert broker.sessions["away"].queued_count == 0
    # With nobody connected, the group's next member queues it.
    here.send(*(PubAck(p.packet_id) for p in received))  # type: ignore[arg-type]
    here.send(Disconnect())
    broker.publish("t", b"q", 1, now=0.0)
    assert broker.sessions["away"].queued_count == 1


def test_leaving_a_shared_group() -> None:
    broker = BrokerCore()
    a = connected(broker, "a")
    b = connected(broker, "b")
    subscribe(a, Subscription("$share/g/t"))
    subscribe(b, Subscription("$share/g/t"))
    a.send(Unsubscribe(2, ("$share/g/t",)))
    for _ in range(2):
        broker.publish("t", b"x", now=0.0)
    assert len(payloads(b)) == 2
    b.send(Unsubscribe(2, ("$share/g/t",)))
    assert broker.publish("t", b"x", now=0.0) == 0


def test_shared_subscription_delivery_is_separate_from_the_sessions_own() -> None:
    broker = BrokerCore()
    client = connected(broker, "c")
    subscribe(client, Subscription("t", 1), Subscription("$share/g/t", 0))
    client.received()
    assert broker.publish("t", b"x", 1, now=0.0) == 2
    assert [m.qos for m in client.received()] == [1, 0]  # type: ignore[union-attr]


def test_a_members_unaccepted_messages_go_to_another_member_when_its_session_ends() -> None:
    broker = BrokerCore()
    # "leaving" takes two QoS 1 and one QoS 2 message at once (Receive Maximum 3) and queues
    # the fourth; it accepts only the QoS 2 one (PUBREC), then its connection ends.
    leaving = RawClient(broker)
    leaving.connect("leaving", properties=Properties(receive_maximum=3))
    subscribe(leaving, Subscription("$share/g/jobs", 2), subscription_identifiers=(5,))
    staying = connected(broker, "staying")
    plain = connected(broker, "plain")
    subscribe(plain, Subscription("jobs", 1))
    for member in (leaving, staying, plain):
        member.received()
    for index, qos in enumerate((1, 1, 2, 1)):
        # (staying subscribes after these: until then, every message is for leaving)
        broker.publish("jobs", bytes([index]), qos, now=0.0)
    sent = [p for p in leaving.received() if isinstance(p, Publish)]
    assert [(p.payload, p.qos) for p in sent] == [(b"\x00", 1), (b"\x01", 1), (b"\x02", 2)]
    assert all(p.properties.subscription_identifiers == (5,) for p in sent)
    assert broker.sessions["leaving"].queued_count == 1
    leaving.send(PubRec(sent[2].packet_id))  # type: ignore[arg-type]
    subscribe(staying, Subscription("$share/g/jobs", 1))
    staying.received()
    leaving.server.connection_lost(1.0)  # a clean session: it ends now
    # The three it had not accepted go to the other member, at its QoS and without the
    # leaving member's subscription identifier; the QoS 2 one it accepted does not.
    handed = [p for p in staying.received() if isinstance(p, Publish)]
    assert [(p.payload, p.qos) for p in handed] == [(b"\x00", 1), (b"\x01", 1), (b"\x03", 1)]
    assert all(not p.properties.subscription_identifiers for p in handed)
    assert broker.stats.messages_handed_over == 3
    assert len(payloads(plain)) == 4  # an ordinary subscription is not concerned


def test_a_last_members_messages_have_nobody_to_go_to() -> None:
    broker = BrokerCore()
    leaving = connected(broker, "leaving")
    subscribe(leaving, Subscription("$share/g/jobs", 1), Subscription("other", 1))
    leaving.received()
    broker.publish("jobs", b"x", 1, now=0.0)
    broker.publish("other", b"y", 1, now=0.0)
    assert len(payloads(leaving)) == 2
    leaving.server.connection_lost(1.0)
    assert broker.stats.messages_handed_over == 0
    assert "leaving" not in broker.sessions
