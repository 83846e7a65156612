"""Automatic outgoing topic aliases (``outgoing_topic_aliases``) on exact bytes: binding,
reuse, least-recently-used replacement, the broker's limits, reconnects and resends."""

from __future__ import annotations

import pytest
from fake_broker import FakeBroker, connected

from asyncmqtt.protocol.connection import ClientConnection
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.events import Disconnected, PublishCompleted
from asyncmqtt.protocol.packets import PubAck, Publish
from asyncmqtt.protocol.properties import Properties

TOPIC = "sensors/room1/temperature"  # 25 bytes
FIELD = b"\x00\x19" + TOPIC.encode()


def aliased(
    maximum: int, size_limit: int | None = None, **options: object
) -> tuple[ClientConnection, FakeBroker]:
    """A connection with automatic aliases to a broker allowing ``maximum`` of them (and
    packets up to ``size_limit`` bytes)."""
    return connected(
        properties=Properties(topic_alias_maximum=maximum, maximum_packet_size=size_limit),
        outgoing_topic_aliases=True,
        **options,
    )


def sent(broker: FakeBroker) -> list[tuple[str, int | None]]:
    """(topic, topic alias) of each PUBLISH the client wrote since the last call."""
    return [(p.topic, p.properties.topic_alias) for p in broker.received()]  # type: ignore[union-attr]


def test_the_first_publish_binds_the_alias_and_later_ones_use_it_alone() -> None:
    conn, _broker = aliased(5)
    conn.publish(TOPIC, b"21.5", now=1.0)
    conn.publish(TOPIC, b"21.6", now=1.0)
    handle = conn.publish(TOPIC, b"21.7", qos=1, now=1.0)
    # QoS 0, remaining length 35: the topic, properties (length 3: Topic Alias 1), payload.
    first = b"\x30\x23" + FIELD + b"\x03\x23\x00\x01" + b"21.5"
    # The same topic again: an empty topic name and the alias (12 bytes instead of 34).
    second = b"\x30\x0a\x00\x00\x03\x23\x00\x01" + b"21.6"
    # QoS 1: the packet id (1) before the properties.
    third = b"\x32\x0c\x00\x00\x00\x01\x03\x23\x00\x01" + b"21.7"
    assert conn.data_to_send() == first + second + third
    assert handle is not None and handle.packet.topic == TOPIC  # (the session keeps the name)


def test_each_topic_gets_its_own_alias_up_to_the_maximum() -> None:
    conn, broker = aliased(3)
    for topic in ("room/a", "room/b", "room/a", "room/c", "room/b", "room/c"):
        conn.publish(topic, b"", now=1.0)
    assert sent(broker) == [
        ("room/a", 1),
        ("room/b", 2),
        ("", 1),
        ("room/c", 3),
        ("", 2),
        ("", 3),
    ]


def test_a_full_table_gives_the_least_recently_used_topics_alias_to_a_new_topic() -> None:
    conn, broker = aliased(2)
    for topic in ("room/a", "room/b", "room/a", "room/c", "room/a", "room/b", "room/c"):
        conn.publish(topic, b"", now=1.0)
    assert sent(broker) == [
        ("room/a", 1),
        ("room/b", 2),
        ("", 1),  # room/a is now the most recently used
        ("room/c", 2),  # replaces room/b, the least recently used
        ("", 1),
        ("room/b", 2),  # replaces room/c: room/a was published since
        ("room/c", 1),  # replaces room/a
    ]


def test_what_the_broker_decodes_is_every_topic_in_order() -> None:
    """A check independent of our own table: the broker side resolves the aliases."""
    conn, broker = aliased(2)
    topics = ["x/1", "long/topic/a", "long/topic/b", "long/topic/a", "long/topic/c"] * 3
    for topic in topics:
        conn.publish(topic, topic.encode(), now=1.0)
    bound: dict[int, str] = {}
    resolved = []
    for packet in broker.received():
        assert isinstance(packet, Publish)
        alias = packet.properties.topic_alias
        if alias is not None and packet.topic:
            assert 1 <= alias <= 2
            bound[alias] = packet.topic
        resolved.append(packet.topic or bound[alias])  # type: ignore[index]
        assert resolved[-1].encode() == packet.payload
    assert resolved == topics


def test_topics_of_three_characters_or_fewer_get_no_alias() -> None:
    conn, broker = aliased(5)
    for topic in ("a/b", "a/b", "a/bc", "a/bc"):
        conn.publish(topic, b"", now=1.0)
    assert sent(broker) == [("a/b", None), ("a/b", None), ("a/bc", 1), ("", 1)]


@pytest.mark.parametrize(
    ("version", "properties"),
    [
        (ProtocolVersion.V5, Properties()),  # the broker allows no aliases (the default)
        (ProtocolVersion.V5, Properties(topic_alias_maximum=0)),
        (ProtocolVersion.V311, Properties()),  # MQTT 3.1.1 has none
    ],
)
def test_no_alias_when_the_broker_allows_none(
    version: ProtocolVersion, properties: Properties
) -> None:
    conn, broker = connected(version, properties, outgoing_topic_aliases=True)
    conn.publish(TOPIC, b"1", now=1.0)
    conn.publish(TOPIC, b"2", now=1.0)
    assert sent(broker) == [(TOPIC, None), (TOPIC, None)]


def test_off_by_default() -> None:
    conn, broker = connected(properties=Properties(topic_alias_maximum=5))
    conn.publish(TOPIC, b"1", now=1.0)
    conn.publish(TOPIC, b"2", now=1.0)
    assert sent(broker) == [(TOPIC, None), (TOPIC, None)]


def test_other_properties_are_kept_beside_the_alias() -> None:
    conn, broker = aliased(5)
    properties = Properties(user_properties=(("k", "v"),), content_type="text/plain")
    conn.publish(TOPIC, b"1", properties=properties, now=1.0)
    conn.publish(TOPIC, b"2", properties=properties, now=1.0)
    first, second = broker.received()
    assert isinstance(first, Publish) and isinstance(second, Publish)
    assert (first.topic, second.topic) == (TOPIC, "")
    for packet in (first, second):
        assert packet.properties.topic_alias == 1
        assert packet.properties.user_properties == (("k", "v"),)
        assert packet.properties.content_type == "text/plain"


def test_an_alias_of_the_applications_own_is_refused_at_the_call() -> None:
    conn, broker = aliased(5)
    with pytest.raises(ValueError, match=r"topic_alias=1 cannot be given with outgoing_topic_al"):
        conn.publish(TOPIC, b"", properties=Properties(topic_alias=1), now=1.0)
    assert broker.received() == []
    conn.publish(TOPIC, b"", now=1.0)  # the connection is still usable
    assert sent(broker) == [(TOPIC, 1)]


def test_a_reconnect_starts_an_empty_table_within_the_new_brokers_maximum() -> None:
    conn, broker = aliased(2, client_id="c", clean_start=False)
    conn.publish("room/a", b"", now=1.0)
    conn.publish("room/b", b"", now=1.0)
    conn.publish("room/a", b"", now=1.0)
    assert sent(broker) == [("room/a", 1), ("room/b", 2), ("", 1)]
    conn.receive_eof(2.0)
    conn.events_received()
    broker.connect(properties=Properties(topic_alias_maximum=1))
    for topic in ("room/b", "room/b", "room/a", "room/a"):
        conn.publish(topic, b"", now=3.0)
    # Nothing is sent as if the broker still knew the old aliases.
    assert sent(broker) == [("room/b", 1), ("", 1), ("room/a", 1), ("", 1)]
    conn.receive_eof(4.0)
    conn.events_received()
    broker.connect()  # this broker allows none
    conn.publish("room/a", b"", now=5.0)
    assert sent(broker) == [("room/a", None)]


def test_resends_carry_the_full_topic_and_bind_nothing() -> None:
    conn, broker = aliased(5, client_id="c", clean_start=False)
    conn.publish(TOPIC, b"1", qos=1, now=1.0)
    conn.publish(TOPIC, b"2", qos=1, now=1.0)
    assert sent(broker) == [(TOPIC, 1), ("", 1)]
    conn.receive_eof(2.0)
    conn.events_received()
    broker.connect(session_present=True, properties=Properties(topic_alias_maximum=5))
    resent = broker.received()
    assert [(p.topic, p.dup, p.properties.topic_alias) for p in resent] == [  # type: ignore[union-attr]
        (TOPIC, True, None),
        (TOPIC, True, None),
    ]
    # The resends bound no alias at the broker: the next publish binds it.
    conn.publish(TOPIC, b"3", qos=1, now=3.0)
    assert sent(broker) == [(TOPIC, 1)]


def test_publishes_queued_offline_get_aliases_on_the_connection_that_writes_them() -> None:
    conn, broker = aliased(5, client_id="c", clean_start=False, queue_qos0_offline=True)
    conn.receive_eof(1.0)
    conn.events_received()
    for payload in (b"1", b"2"):
        conn.publish(TOPIC, payload, now=1.5)
    conn.publish(TOPIC, b"3", qos=1, now=1.5)
    broker.connect(session_present=True, properties=Properties(topic_alias_maximum=5))
    assert sent(broker) == [(TOPIC, 1), ("", 1), ("", 1)]


def test_a_publish_that_the_alias_would_push_over_the_size_limit_goes_without_one() -> None:
    # With 5 bytes of payload the PUBLISH is 35 bytes without an alias, 38 with one.
    conn, broker = aliased(5, 36)
    conn.publish(TOPIC, bytes(5), now=1.0)
    conn.publish(TOPIC, bytes(5), now=1.0)  # not bound by the first: again the full topic
    conn.publish(TOPIC, b"", now=1.0)  # small enough for the alias: binds it
    conn.publish(TOPIC, bytes(5), now=1.0)  # and now it is small
    assert sent(broker) == [(TOPIC, None), (TOPIC, None), (TOPIC, 1), ("", 1)]


def test_a_publish_too_large_even_without_the_alias_is_refused_and_binds_nothing() -> None:
    conn, broker = aliased(5, 40)
    with pytest.raises(ValueError, match="above the broker's maximum packet size of 40"):
        conn.publish(TOPIC, bytes(11), now=1.0)  # 41 bytes without an alias
    conn.publish(TOPIC, b"", now=1.0)
    assert sent(broker) == [(TOPIC, 1)]


def test_an_aliased_publish_above_the_limit_is_refused() -> None:
    conn, broker = aliased(5, 40)
    conn.publish(TOPIC, b"", now=1.0)
    with pytest.raises(ValueError, match="would be 41 bytes"):
        conn.publish(TOPIC, bytes(33), now=1.0)
    assert sent(broker) == [(TOPIC, 1)]


def test_the_broker_accepts_what_it_was_sent() -> None:
    """QoS 1 through aliases completes like any other publish."""
    conn, broker = aliased(1)
    handles = [conn.publish(topic, b"", qos=1, now=1.0) for topic in ("room/a", "room/a")]
    assert sent(broker) == [("room/a", 1), ("", 1)]
    events = broker.send(PubAck(1), PubAck(2))
    assert [e.handle for e in events if isinstance(e, PublishCompleted)] == handles
    assert not any(isinstance(e, Disconnected) for e in events)


# ---------------------------------------------------------------- aliases the application gives


def test_a_given_alias_queued_for_a_broker_that_now_allows_fewer_is_left_out() -> None:
    conn, broker = connected(
        properties=Properties(topic_alias_maximum=5), client_id="c", clean_start=False
    )
    conn.receive_eof(1.0)
    conn.events_received()
    conn.publish(TOPIC, b"", qos=1, properties=Properties(topic_alias=4), now=1.5)
    broker.connect(session_present=True, properties=Properties(topic_alias_maximum=2))
    assert sent(broker) == [(TOPIC, None)]


def test_a_given_alias_refused_by_the_size_limit_binds_nothing() -> None:
    conn, broker = connected(properties=Properties(topic_alias_maximum=5, maximum_packet_size=40))
    given = Properties(topic_alias=1)
    with pytest.raises(ValueError, match="above the broker's maximum packet size"):
        conn.publish(TOPIC, bytes(8), properties=given, now=1.0)  # 41 bytes
    conn.publish(TOPIC, b"", properties=given, now=1.0)
    conn.publish(TOPIC, b"", properties=given, now=1.0)
    assert sent(broker) == [(TOPIC, 1), ("", 1)]


def test_a_resend_leaves_out_a_given_alias() -> None:
    conn, broker = connected(
        properties=Properties(topic_alias_maximum=5), client_id="c", clean_start=False
    )
    conn.publish(TOPIC, b"", qos=1, properties=Properties(topic_alias=3), now=1.0)
    assert sent(broker) == [(TOPIC, 3)]
    conn.receive_eof(2.0)
    conn.events_received()
    broker.connect(session_present=True, properties=Properties(topic_alias_maximum=5))
    assert sent(broker) == [(TOPIC, None)]
