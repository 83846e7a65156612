"""Hypothesis strategies for every MQTT packet in every protocol version (shared by test modules).

Everything generated here is valid: ``encode`` accepts it and the right decoder gives it back.

- ``mqtt_text``, ``topic_names``, ``topic_filters``: strings MQTT can carry (no U+0000, no
  surrogates); topic names without wildcards; topic filters that use wildcards correctly.
- ``properties_for(packet_type)``: valid ``Properties`` for a packet type, or ``WILL``, drawn
  from the ``PROPERTY_SPECS`` table.
- ``connects(version)``, ``publishes(version, from_server=...)``, ... one strategy per packet.
- ``client_packets(version)`` / ``server_packets(version)``: what each side sends, i.e. what a
  server-side / client-side ``Decoder`` accepts.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from asyncmqtt.protocol.enums import (
    AuthReasonCode,
    ConnAckReasonCode,
    ConnectReturnCode,
    DisconnectReasonCode,
    PacketType,
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
    Subscription,
    UnsubAck,
    Unsubscribe,
    WillMessage,
)
from asyncmqtt.protocol.properties import (
    NO_PROPERTIES,
    PROPERTY_SPECS,
    WILL,
    Properties,
    PropertyId,
    PropertySpec,
    PropertyType,
)

__all__ = (
    "VERSIONS",
    "auths",
    "client_packets",
    "connacks",
    "connects",
    "disconnects",
    "mqtt_text",
    "packet_ids",
    "properties_for",
    "pub_acks",
    "publishes",
    "server_packets",
    "subacks",
    "subscribes",
    "topic_filters",
    "topic_names",
    "unsubacks",
    "unsubscribes",
)

V31 = ProtocolVersion.V31
V311 = ProtocolVersion.V311
V5 = ProtocolVersion.V5
VERSIONS = (V31, V311, V5)


def mqtt_text(
    *, min_size: int = 0, max_size: int = 12, exclude: str = ""
) -> st.SearchStrategy[str]:
    """Strings MQTT allows: any code point but U+0000 and the surrogates."""
    characters = st.characters(codec="utf-8", exclude_characters="\x00" + exclude)
    return st.text(characters, min_size=min_size, max_size=max_size)


topic_names = mqtt_text(min_size=1, exclude="+#")


def _join_filter(levels: list[str], multi_level: bool) -> str:
    return "/".join([*levels, "#"] if multi_level else levels)


# Topic filters that follow the wildcard rules: "+" fills a whole level, "#" ends the filter.
_filter_levels = st.one_of(st.just("+"), mqtt_text(max_size=6, exclude="+#/"))
topic_filters = st.builds(_join_filter, st.lists(_filter_levels, max_size=4), st.booleans()).filter(
    bool
)
packet_ids = st.integers(1, 65535)
qos_values = st.integers(0, 2)
small_binary = st.binary(max_size=16)

_INT_LIMITS = {
    PropertyType.BYTE: 0xFF,
    PropertyType.TWO_BYTE_INT: 0xFFFF,
    PropertyType.FOUR_BYTE_INT: 0xFFFF_FFFF,
    PropertyType.VARIABLE_BYTE_INT: 268_435_455,
}


def property_values(spec: PropertySpec) -> st.SearchStrategy[object]:
    """One valid value of a property (an item, for the repeatable ones)."""
    kind = spec.type
    if kind is PropertyType.BOOL:
        return st.booleans()
    if kind in _INT_LIMITS:
        high = spec.maximum if spec.maximum is not None else _INT_LIMITS[kind]
        return st.integers(spec.minimum, high)
    if spec.id == PropertyId.RESPONSE_TOPIC:
        return topic_names  # a topic name: no wildcards (MQTT-3.3.2-14)
    if kind is PropertyType.UTF8_STRING:
        return mqtt_text()
    if kind is PropertyType.BINARY:
        return small_binary
    return st.tuples(mqtt_text(max_size=6), mqtt_text(max_size=6))


def properties_for(
    packet_type: int, *, exclude: frozenset[str] = frozenset()
) -> st.SearchStrategy[Properties]:
    """Valid properties for ``packet_type`` (a PacketType, or WILL), any subset of them set."""
    optional: dict[str, st.SearchStrategy[object]] = {}
    for spec in PROPERTY_SPECS.values():
        if packet_type not in spec.packets or spec.name in exclude:
            continue
        if spec.repeatable:
            # SUBSCRIBE may carry one subscription identifier; PUBLISH several.
            most = 1 if packet_type == PacketType.SUBSCRIBE else 3
            optional[spec.name] = st.lists(property_values(spec), max_size=most).map(tuple)
        else:
            optional[spec.name] = property_values(spec)
    return st.fixed_dictionaries({}, optional=optional).map(lambda values: Properties(**values))


def _properties(
    version: ProtocolVersion, packet_type: int, *, exclude: frozenset[str] = frozenset()
) -> st.SearchStrategy[Properties]:
    if version is not V5:
        return st.just(NO_PROPERTIES)
    return properties_for(packet_type, exclude=exclude)


def wills(version: ProtocolVersion) -> st.SearchStrategy[WillMessage]:
    return st.builds(
        WillMessage,
        topic=topic_names,
        payload=small_binary,
        qos=qos_values,
        retain=st.booleans(),
        properties=_properties(version, WILL),
    )


@st.composite
def connects(draw: st.DrawFn, version: ProtocolVersion) -> Connect:
    username = draw(st.none() | mqtt_text())
    # MQTT 3.1.x allows a password only together with a user name.
    password = draw(st.none() | small_binary) if username is not None or version is V5 else None
    return Connect(
        client_id=draw(mqtt_text()),
        clean_start=draw(st.booleans()),
        keep_alive=draw(st.integers(0, 65535)),
        username=username,
        password=password,
        will=draw(st.none() | wills(version)),
        protocol_version=version,
        properties=draw(_properties(version, PacketType.CONNECT)),
    )


@st.composite
def connacks(draw: st.DrawFn, version: ProtocolVersion) -> ConnAck:
    codes = ConnAckReasonCode if version is V5 else ConnectReturnCode
    code = draw(st.sampled_from(list(codes)))
    session_present = draw(st.booleans()) if code == 0 else False
    properties = draw(_properties(version, PacketType.CONNACK))
    return ConnAck(session_present, code, properties)


@st.composite
def publishes(draw: st.DrawFn, version: ProtocolVersion, *, from_server: bool = True) -> Publish:
    """PUBLISH; only a server may send subscription identifiers."""
    qos = draw(qos_values)
    exclude = frozenset() if from_server else frozenset({"subscription_identifiers"})
    properties = draw(_properties(version, PacketType.PUBLISH, exclude=exclude))
    # An empty topic name needs a topic alias (MQTT 5).
    topic = draw(topic_names if properties.topic_alias is None else st.just("") | topic_names)
    return Publish(
        topic=topic,
        payload=draw(st.binary(max_size=64)),
        qos=qos,
        retain=draw(st.booleans()),
        dup=draw(st.booleans()) if qos else False,
        packet_id=draw(packet_ids) if qos else None,
        properties=properties,
    )


_ACKS: dict[type, tuple[type, PacketType]] = {
    PubAck: (PubAckReasonCode, PacketType.PUBACK),
    PubRec: (PubRecReasonCode, PacketType.PUBREC),
    PubRel: (PubRelReasonCode, PacketType.PUBREL),
    PubComp: (PubCompReasonCode, PacketType.PUBCOMP),
}


def pub_acks(
    cls: type[PubAck | PubRec | PubRel | PubComp], version: ProtocolVersion
) -> st.SearchStrategy[Packet]:
    codes, packet_type = _ACKS[cls]
    code = st.sampled_from(list(codes)) if version is V5 else st.just(codes(0))
    return st.builds(cls, packet_ids, code, _properties(version, packet_type))


def subscriptions(version: ProtocolVersion) -> st.SearchStrategy[Subscription]:
    if version is not V5:
        return st.builds(
            Subscription,
            topic_filters,
            qos_values,
            st.just(False),
            st.just(False),
            st.just(RetainHandling.SEND_ON_SUBSCRIBE),
        )
    return st.builds(
        Subscription,
        topic_filters,
        qos_values,
        st.booleans(),
        st.booleans(),
        st.sampled_from(list(RetainHandling)),
    )


def subscribes(version: ProtocolVersion) -> st.SearchStrategy[Packet]:
    return st.builds(
        Subscribe,
        packet_ids,
        st.lists(subscriptions(version), min_size=1, max_size=4).map(tuple),
        _properties(version, PacketType.SUBSCRIBE),
    )


def subacks(version: ProtocolVersion) -> st.SearchStrategy[Packet]:
    if version is V5:
        codes = list(SubAckReasonCode)
    else:
        codes = [SubAckReasonCode(code) for code in (0x00, 0x01, 0x02, 0x80)]
    return st.builds(
        SubAck,
        packet_ids,
        st.lists(st.sampled_from(codes), min_size=1, max_size=4).map(tuple),
        _properties(version, PacketType.SUBACK),
    )


def unsubscribes(version: ProtocolVersion) -> st.SearchStrategy[Packet]:
    return st.builds(
        Unsubscribe,
        packet_ids,
        st.lists(topic_filters, min_size=1, max_size=4).map(tuple),
        _properties(version, PacketType.UNSUBSCRIBE),
    )


def unsubacks(version: ProtocolVersion) -> st.SearchStrategy[Packet]:
    if version is not V5:
        return st.builds(UnsubAck, packet_ids, st.just(()), st.just(NO_PROPERTIES))
    return st.builds(
        UnsubAck,
        packet_ids,
        st.lists(st.sampled_from(list(UnsubAckReasonCode)), min_size=1, max_size=4).map(tuple),
        properties_for(PacketType.UNSUBACK),
    )


def disconnects(version: ProtocolVersion) -> st.SearchStrategy[Packet]:
    if version is not V5:
        return st.just(Disconnect())
    return st.builds(
        Disconnect,
        st.sampled_from(list(DisconnectReasonCode)),
        properties_for(PacketType.DISCONNECT),
    )


def auths() -> st.SearchStrategy[Packet]:
    return st.builds(Auth, st.sampled_from(list(AuthReasonCode)), properties_for(PacketType.AUTH))


def _acks(version: ProtocolVersion) -> list[st.SearchStrategy[Packet]]:
    return [pub_acks(cls, version) for cls in (PubAck, PubRec, PubRel, PubComp)]


def client_packets(
    version: ProtocolVersion, *, include_connect: bool = False
) -> st.SearchStrategy[Packet]:
    """What a client sends (a server-side Decoder accepts). CONNECT only on request: a
    decoder accepts one CONNECT, so streams of these usually start with their own."""
    choices: list[st.SearchStrategy[Packet]] = [
        publishes(version, from_server=False),
        *_acks(version),
        subscribes(version),
        unsubscribes(version),
        st.just(PingReq()),
        disconnects(version),
    ]
    if include_connect:
        choices.append(connects(version))
    if version is V5:
        choices.append(auths())
    return st.one_of(choices)


def server_packets(version: ProtocolVersion) -> st.SearchStrategy[Packet]:
    """What a server sends (a client-side Decoder accepts); DISCONNECT only in MQTT 5."""
    choices: list[st.SearchStrategy[Packet]] = [
        connacks(version),
        publishes(version, from_server=True),
        *_acks(version),
        subacks(version),
        unsubacks(version),
        st.just(PingResp()),
    ]
    if version is V5:
        choices.extend((disconnects(version), auths()))
    return st.one_of(choices)


PACKET_STRATEGIES: dict[type, Callable[[ProtocolVersion], st.SearchStrategy[Packet]]] = {
    Connect: connects,
    ConnAck: connacks,
    Publish: publishes,
    PubAck: lambda version: pub_acks(PubAck, version),
    PubRec: lambda version: pub_acks(PubRec, version),
    PubRel: lambda version: pub_acks(PubRel, version),
    PubComp: lambda version: pub_acks(PubComp, version),
    Subscribe: subscribes,
    SubAck: subacks,
    Unsubscribe: unsubscribes,
    UnsubAck: unsubacks,
    PingReq: lambda version: st.just(PingReq()),
    PingResp: lambda version: st.just(PingResp()),
    Disconnect: disconnects,
    Auth: lambda version: auths(),
}
"""Each packet class with the strategy of its valid instances in a version (AUTH: 5.0 only)."""
