"""Round trips of generated packets through encode and Decoder, whole and in arbitrary pieces."""

from __future__ import annotations

import dataclasses
import itertools
import sys
from enum import IntEnum

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    PACKET_STRATEGIES,
    VERSIONS,
    client_packets,
    connects,
    publishes,
    server_packets,
    topic_names,
)

from asyncmqtt.protocol import codec
from asyncmqtt.protocol.codec import Decoder, encode
from asyncmqtt.protocol.enums import (
    AuthReasonCode,
    ConnAckReasonCode,
    ConnectReturnCode,
    DisconnectReasonCode,
    ProtocolVersion,
    PubAckReasonCode,
    PubCompReasonCode,
    PubRecReasonCode,
    PubRelReasonCode,
    RetainHandling,
    SubAckReasonCode,
    UnsubAckReasonCode,
)
from asyncmqtt.protocol.packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
)
from asyncmqtt.protocol.properties import NO_PROPERTIES, Properties

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311

CLIENT_SENDS = {Connect, Publish, PubAck, PubRec, PubRel, PubComp, Subscribe, Unsubscribe}
CLIENT_SENDS |= {PingReq, Disconnect, Auth}
SERVER_SENDS = {ConnAck, Publish, PubAck, PubRec, PubRel, PubComp, SubAck, UnsubAck, PingResp}
SERVER_SENDS |= {Disconnect, Auth}

ROUND_TRIP = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])

REASON_ENUMS: dict[type, type[IntEnum]] = {
    PubAck: PubAckReasonCode,
    PubRec: PubRecReasonCode,
    PubRel: PubRelReasonCode,
    PubComp: PubCompReasonCode,
    Disconnect: DisconnectReasonCode,
    Auth: AuthReasonCode,
}


def decoder_for(cls: type, version: ProtocolVersion, *, server_side: bool) -> Decoder:
    if cls is Connect:
        return Decoder(server_side=True)  # learns the version from CONNECT itself
    return Decoder(version=version, server_side=server_side)


def decode_all(decoder: Decoder) -> list[Packet]:
    packets = []
    while (packet := decoder.next_packet()) is not None:
        packets.append(packet)
    return packets


def assert_enum_typed(packet: Packet, version: ProtocolVersion) -> None:
    """Decoded codes are members of the packet's enum; retain handling a RetainHandling."""
    if isinstance(packet, ConnAck):
        expected: type[IntEnum] = ConnAckReasonCode if version is V5 else ConnectReturnCode
        assert type(packet.reason_code) is expected
    elif type(packet) in REASON_ENUMS:
        assert type(packet.reason_code) is REASON_ENUMS[type(packet)]  # type: ignore[union-attr]
    elif isinstance(packet, SubAck):
        assert all(type(code) is SubAckReasonCode for code in packet.reason_codes)
    elif isinstance(packet, UnsubAck):
        assert all(type(code) is UnsubAckReasonCode for code in packet.reason_codes)
    elif isinstance(packet, Subscribe):
        for subscription in packet.subscriptions:
            assert type(subscription.retain_handling) is RetainHandling
            assert type(subscription.qos) is int


CASES = [
    (cls, version)
    for version in VERSIONS
    for cls in PACKET_STRATEGIES
    if not (cls is Auth and version is not V5)
]


@pytest.mark.parametrize(("cls", "version"), CASES, ids=lambda x: getattr(x, "__name__", x))
@ROUND_TRIP
@given(data=st.data())
def test_every_packet_round_trips(cls: type, version: ProtocolVersion, data: st.DataObject) -> None:
    packet = data.draw(PACKET_STRATEGIES[cls](version))
    encoded = encode(packet, version)
    sides = [side for side, sends in ((True, CLIENT_SENDS), (False, SERVER_SENDS)) if cls in sends]
    if cls is Disconnect and version is not V5:
        sides = [True]  # before MQTT 5 only clients send DISCONNECT
    if isinstance(packet, Publish) and packet.properties.subscription_identifiers:
        sides = [False]  # only a server sends subscription identifiers
    assert sides
    for server_side in sides:
        decoder = decoder_for(cls, version, server_side=server_side)
        decoder.feed(encoded)
        decoded = decoder.next_packet()
        assert decoded == packet
        assert type(decoded) is cls
        assert decoder.next_packet() is None
        assert_enum_typed(decoded, version)
        # What we decode re-encodes to the same bytes: the encoding is canonical.
        assert encode(decoded, version) == encoded


@pytest.mark.parametrize("version", VERSIONS)
@ROUND_TRIP
@given(data=st.data())
def test_every_strict_prefix_needs_more(version: ProtocolVersion, data: st.DataObject) -> None:
    server_side = data.draw(st.booleans())
    if server_side:
        packet = data.draw(client_packets(version, include_connect=True))
    else:
        packet = data.draw(server_packets(version))
    encoded = encode(packet, version)
    for cut in range(len(encoded)):
        decoder = decoder_for(type(packet), version, server_side=server_side)
        decoder.feed(encoded[:cut])
        assert decoder.next_packet() is None, f"a packet came out of {cut} of {len(encoded)} bytes"
    # One decoder fed a byte at a time also waits for the very last byte.
    decoder = decoder_for(type(packet), version, server_side=server_side)
    for index in range(len(encoded) - 1):
        decoder.feed(encoded[index : index + 1])
        assert decoder.next_packet() is None
    decoder.feed(encoded[-1:])
    assert decoder.next_packet() == packet


def split_points(draw: st.DrawFn, size: int) -> list[int]:
    cuts = draw(st.lists(st.integers(0, size), max_size=12))
    return sorted(cuts)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = [0, *split_points(draw, len(data)), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(cuts)]


@pytest.mark.parametrize("version", VERSIONS)
@ROUND_TRIP
@given(data=st.data())
def test_any_split_of_a_server_stream_gives_the_same_packets(
    version: ProtocolVersion, data: st.DataObject
) -> None:
    packets = data.draw(st.lists(server_packets(version), min_size=1, max_size=8))
    stream = b"".join(encode(packet, version) for packet in packets)
    chunks = data.draw(chunked(stream))
    decoder = Decoder(version=version)
    received: list[Packet] = []
    for chunk in chunks:
        decoder.feed(chunk)
        received.extend(decode_all(decoder))
    assert received == packets


@pytest.mark.parametrize("version", VERSIONS)
@ROUND_TRIP
@given(data=st.data())
def test_any_split_of_a_client_stream_gives_the_same_packets(
    version: ProtocolVersion, data: st.DataObject
) -> None:
    """A server-side decoder reads CONNECT, learns the version, then the rest."""
    connect = data.draw(connects(version))
    packets = [connect, *data.draw(st.lists(client_packets(version), max_size=8))]
    stream = b"".join(encode(packet, version) for packet in packets)
    chunks = data.draw(chunked(stream))
    # Mix the input types feed() takes.
    kinds = data.draw(st.lists(st.sampled_from([bytes, bytearray, memoryview]), min_size=1))
    decoder = Decoder(server_side=True)
    assert decoder.version is None
    received: list[Packet] = []
    for index, chunk in enumerate(chunks):
        decoder.feed(kinds[index % len(kinds)](chunk))
        received.extend(decode_all(decoder))
    assert received == packets
    assert decoder.version is version


@pytest.mark.parametrize("version", VERSIONS)
@ROUND_TRIP
@given(data=st.data())
def test_feeding_everything_before_reading_gives_the_same_packets(
    version: ProtocolVersion, data: st.DataObject
) -> None:
    """Feeds that pile up unread (many chunks, no next_packet between) lose nothing."""
    packets = data.draw(st.lists(server_packets(version), min_size=1, max_size=8))
    stream = b"".join(encode(packet, version) for packet in packets)
    decoder = Decoder(version=version)
    for chunk in data.draw(chunked(stream)):
        decoder.feed(chunk)
    assert decode_all(decoder) == packets


def test_a_read_chunk_is_let_go_once_every_packet_in_it_is_decoded() -> None:
    """The transport's read buffer may be a whole page; an idle connection must not keep it."""
    chunk = encode(PubAck(7), V5) + encode(Publish("t", b"data", 1, packet_id=8), V5)
    decoder = Decoder(version=V5)
    references = sys.getrefcount(chunk)
    decoder.feed(chunk)
    assert decode_all(decoder) == [PubAck(7), Publish("t", b"data", 1, packet_id=8)]
    assert sys.getrefcount(chunk) == references
    # A chunk that ends inside a packet is kept: its tail is still needed.
    partial = encode(PubAck(9), V5)[:3]
    references = sys.getrefcount(partial)
    decoder.feed(partial)
    assert decoder.next_packet() is None
    assert sys.getrefcount(partial) == references + 1
    decoder.feed(b"\x09")
    assert decode_all(decoder) == [PubAck(9)]


def test_binary_fields_may_be_bytearray_or_memoryview() -> None:
    expected = encode(Publish("t", b"data", properties=Properties(correlation_data=b"id")), V5)
    for kind in (bytearray, memoryview):
        properties = Properties(correlation_data=b"id")
        assert encode(Publish("t", kind(b"data"), properties=properties), V5) == expected  # type: ignore[arg-type]
    connect = Connect("c", username="u", password=b"pw", protocol_version=V311)
    as_view = connect._replace(password=memoryview(b"pw"))
    assert encode(as_view, V311) == encode(connect, V311)


def test_empty_properties_are_fine_before_mqtt_5() -> None:
    """An empty Properties that is not the shared NO_PROPERTIES carries nothing either."""
    assert encode(Publish("t", properties=Properties()), V311) == encode(Publish("t"), V311)
    assert encode(PubAck(1, properties=Properties()), ProtocolVersion.V31) == b"\x40\x02\x00\x01"


def test_the_topic_cache_stays_bounded() -> None:
    """Checked topics are remembered to skip re-encoding them, but never more than a few
    thousand: a stream of distinct topics does not grow memory."""
    for index in range(codec._TOPIC_CACHE_SIZE + 10):
        topic = f"devices/{index}/state"
        expected = b"\x30" + bytes((3 + len(topic),)) + len(topic).to_bytes(2) + topic.encode()
        assert encode(Publish(topic), V5) == expected + b"\x00"
        assert len(codec._TOPIC_FIELDS) <= codec._TOPIC_CACHE_SIZE
    assert codec._TOPIC_FIELDS["devices/4105/state"] == b"\x00\x12devices/4105/state"


def test_a_repeated_topic_is_decoded_once_and_shared() -> None:
    decoder = Decoder(version=V5)
    decoder.feed(
        encode(Publish("a/b", b"1"), V5) + encode(Publish("a/b", b"2", 1, packet_id=3), V5)
    )
    first, second = decode_all(decoder)
    assert first.topic == "a/b" and first.topic is second.topic  # type: ignore[union-attr]


def test_the_decoded_topic_cache_stays_bounded() -> None:
    decoder = Decoder(version=V311)
    for index in range(codec._TOPIC_CACHE_SIZE + 10):
        topic = f"devices/{index}/state"
        decoder.feed(encode(Publish(topic, b"x"), V311))
        assert decoder.next_packet() == Publish(topic, b"x")
        assert len(codec._TOPIC_NAMES) <= codec._TOPIC_CACHE_SIZE
    assert codec._TOPIC_NAMES[b"devices/4105/state"] == "devices/4105/state"


# ---------------------------------------------------------------- the topic alias fast path


@ROUND_TRIP
@given(
    packet=publishes(V5, from_server=False),
    alias=st.integers(1, 65535),
    empty_topic=st.booleans(),
    size=st.sampled_from([0, 100, 200, 20_000]),
)
def test_a_publish_with_an_alias_is_the_packet_with_that_property(
    packet: Publish, alias: int, empty_topic: bool, size: int
) -> None:
    """The fast path writes the same bytes as encode() of the packet with the property added,
    with other properties or none, any topic alias replaced, short and long packets."""
    packet = packet._replace(payload=packet.payload + bytes(size))
    if empty_topic:
        packet = packet._replace(topic="")
    expected = encode(
        packet._replace(properties=dataclasses.replace(packet.properties, topic_alias=alias)), V5
    )
    assert codec.encode_publish_with_alias(packet, alias) == expected
    plain = packet._replace(properties=Properties())
    assert codec.encode_publish_with_alias(plain._replace(properties=NO_PROPERTIES), alias) == (
        encode(plain._replace(properties=Properties(topic_alias=alias)), V5)
    )


def test_a_publish_with_an_alias_on_exact_bytes() -> None:
    topic = "sensors/room1/temperature"
    first = codec.encode_publish_with_alias(Publish(topic, b"21.5", 1, packet_id=7), 2)
    assert first == (
        b"\x32\x25"  # PUBLISH QoS 1, remaining length 37
        + b"\x00\x19"
        + topic.encode()
        + b"\x00\x07"  # packet id 7
        + b"\x03\x23\x00\x02"  # properties: Topic Alias 2
        + b"21.5"
    )
    later = codec.encode_publish_with_alias(Publish("", b"21.5"), 2)
    assert later == b"\x30\x0a\x00\x00\x03\x23\x00\x0221.5"


@pytest.mark.parametrize(
    ("packet", "alias", "error", "text"),
    [
        (Publish("\x00", b""), 1, ValueError, "U\\+0000"),
        (Publish("t", b"", 1, packet_id=None), 1, TypeError, "packet_id"),
        (Publish("t", b"", 0, packet_id=5), 1, ValueError, "packet_id"),
        (Publish("t", b"", 0, dup=True), 1, ValueError, "dup"),
        (Publish("t", b""), 0, ValueError, "topic_alias"),
        (Publish("t", b""), 65536, ValueError, "topic_alias"),
        (Publish("t", bytes(268_435_455)), 1, ValueError, "too large|remaining length"),
    ],
)
def test_a_publish_with_an_alias_is_checked_as_encode_checks(
    packet: Publish, alias: int, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        codec.encode_publish_with_alias(packet, alias)


# ---------------------------------------------------------------- the connection's own publishes


@ROUND_TRIP
@given(
    topic=topic_names,
    payload=st.binary(max_size=64),
    qos=st.integers(0, 2),
    retain=st.booleans(),
    packet_id=st.integers(1, 65535),
    version=st.sampled_from(VERSIONS),
    size=st.sampled_from([0, 100, 200, 20_000]),
)
def test_a_checked_publish_is_what_encode_writes(
    *,
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    packet_id: int,
    version: ProtocolVersion,
    size: int,
) -> None:
    """encode_checked_publish, encode without its checks, writes encode's bytes: every QoS and
    version, short and long packets."""
    payload += bytes(size)
    packet_id_or_none = packet_id if qos else None
    expected = encode(Publish(topic, payload, qos, retain, False, packet_id_or_none), version)
    written = codec.encode_checked_publish(
        topic, payload, qos, retain, packet_id_or_none, version=version
    )
    assert written == expected


def test_a_checked_publish_still_checks_a_new_topic_and_the_size_mqtt_allows() -> None:
    with pytest.raises(ValueError, match=r"U\+0000"):
        codec.encode_checked_publish("a/\x00", b"", 0, False, None, version=V5)
    with pytest.raises(ValueError, match="remaining length 268435456 exceeds 268435455"):
        codec.encode_checked_publish("t", bytes(268_435_455 - 2), 0, False, None, version=V311)
