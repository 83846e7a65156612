"""Encode MQTT control packets to bytes, and decode them incrementally (MQTT 3.1, 3.1.1 and 5.0).

Theory of operation
===================

Encoding
--------
``encode(packet, version)`` checks every field that decides whether the bytes are well formed and
raises ``TypeError`` / ``ValueError`` naming the field, the value and the rule. It never changes
what a packet means: a reason code or a property that MQTT 3.1.x cannot carry is an error, not
something quietly dropped. Acknowledgements, DISCONNECT and AUTH are written in their shortest
form (reason code and property length left out when they are 0 and empty), as brokers do.
PUBLISH, the hot path, is encoded inline in ``encode`` when it is plain (no properties);
anything else goes to the checked encoder, as does every other packet (a table of small
per-packet encoders). A bounded dict maps each topic to its checked, length-prefixed UTF-8
field, so a repeated topic is checked and encoded once: a str is immutable, so an entry can
never be wrong, and the dict is emptied when full. Headers of PUBLISH under 128 bytes are
precomputed.

Decoding
--------
``Decoder`` turns a byte stream into packets. It keeps the current chunk of input as one
immutable ``bytes`` (``_buf``) with a read offset (``_pos``): packets are parsed straight out of
it by index, so a chunk holding many packets is never copied or re-scanned. When a packet is
split across chunks, the later chunks wait in a list (``_chunks``) and are joined to the
unread tail only once the list holds enough bytes to finish the packet (or its fixed header).
Every byte is therefore copied a small, bounded number of times, and total work is O(n).

The fixed header is checked before anything else: a remaining length that is not a valid
Variable Byte Integer, or a packet larger than ``max_packet_size``, fails at once, before its
body is waited for. After ``next_packet`` has returned ``None`` the decoder holds only the
prefix of one packet no larger than ``max_packet_size``. (Input fed but not yet read is kept
until it is read: a caller drains ``next_packet`` after each ``feed``.)

``next_packet`` first tries a fast path for a complete, well formed PUBLISH whose remaining
length fits in one byte (no properties): it reads the fields by index, looks the raw topic up
in a bounded dict of topics already checked (so a repeated topic is decoded once and every
message on it shares one str), and builds the NamedTuple with ``tuple.__new__``. Anything else,
including every malformed PUBLISH, goes through the general decoder, which reads fields with
``_Reader`` (bounds-checked, naming the field in each error). The fast path therefore never
decides an error itself; a test checks that both paths agree on mutated input.

A decoding error fails the decoder for good: the buffers are dropped, later input is ignored and
every later ``next_packet`` raises the same error, so a caller can never read past garbage.

Error classes (and the MQTT 5 reason code the peer should be told)
-----------------------------------------------------------------
``MalformedPacketError`` (0x81), the bytes cannot be parsed as the packet they claim to be:
a remaining length longer than 4 bytes; a packet whose fields run past its remaining length,
or that has bytes left over; wrong fixed-header flags (PUBREL, SUBSCRIBE and UNSUBSCRIBE need
0b0010, the others 0, PUBLISH aside); a reserved packet type (0, or 15 before MQTT 5); PUBLISH
with QoS 3 or with DUP on QoS 0; reserved bits (CONNECT flags bit 0, CONNACK flags bits 1-7,
subscription options bits 6-7, or 2-7 before MQTT 5); inconsistent CONNECT flags (a will QoS or
retain without a will, will QoS 3, before MQTT 5 a password without a user name); strings that
are not well formed UTF-8 or contain U+0000 (MQTT-1.5.4-1, -2); an unknown property
identifier, a property not allowed in the packet, or a property value that is cut short (section
2.2.2.2 calls these malformed); and a reason code that is not one the packet may carry. The
specification lists each packet's reason codes as the values of that field and says the sender
MUST use one of them; a byte outside the list has no meaning in that field, so it "cannot be
parsed according to this specification", the definition of a Malformed Packet (section 1.2).
The same holds for MQTT 3.1.x CONNACK return codes above 5 and for 3.1.x SUBACK return codes
below 0x80 other than 0, 1 and 2. A 3.1.x SUBACK code of 0x80 or above that 3.1.x does not
define is read as the refusal it plainly is (some brokers send MQTT 5's codes, such as 0x8F, to
3.1.1 clients): the subscription failed, the packet is not garbage.

``ProtocolViolationError`` (0x82), the packet parses but breaks a rule: a packet the decoder's
side never receives (a client getting SUBSCRIBE, a server getting SUBACK, a 3.1.x client getting
DISCONNECT); anything but CONNECT first on a server-side decoder that has no version yet, and a
second CONNECT; packet identifier 0; a PUBLISH topic name or a Response Topic containing ``+``
or ``#`` (we answer 0x82 rather than 0x90, because 0x90 means "correctly formed but not
accepted", and a wildcard in a topic name is not correctly formed); an empty topic name without
a topic alias; a subscription identifier in a PUBLISH sent to a server; a property given twice
that may appear only once (subscription identifier included, in SUBSCRIBE); a property value out
of its range (receive maximum, topic alias, maximum packet size or subscription identifier 0, a
0/1 byte with another value); a subscription with QoS 3 or retain handling 3 (MQTT 5, section
3.8.3.1); an empty SUBSCRIBE or UNSUBSCRIBE payload, or an empty list of reason codes in SUBACK /
UNSUBACK; a CONNACK with session present set and a non-zero code.

``ProtocolError`` with reason code 0x84 (Unsupported Protocol Version): a CONNECT with an unknown
protocol name or level, so that a server can answer CONNACK 0x84 (MQTT 5) or return code 1.

``PacketTooLargeError`` (0x95): a fixed header announcing more than ``max_packet_size`` bytes.

Lenient by choice: a Variable Byte Integer that uses more bytes than it needs is accepted (it is
unambiguous), and an AUTH packet of remaining length 1 is read as a reason code without
properties, as for DISCONNECT.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from enum import IntEnum
from operator import attrgetter
from typing import Final, NoReturn

from ..errors import (
    MalformedPacketError,
    PacketTooLargeError,
    ProtocolError,
    ProtocolViolationError,
)
from .enums import (
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
from .packets import (
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
from .properties import (
    NO_PROPERTIES,
    PROPERTY_SPECS,
    PROPERTY_SPECS_BY_NAME,
    WILL,
    Properties,
    PropertyId,
    PropertySpec,
    PropertyType,
)

__all__ = (
    "MAX_PACKET_SIZE",
    "Decoder",
    "encode",
    "encode_checked_publish",
    "encode_publish_with_alias",
)

MAX_PACKET_SIZE: Final = 268_435_460
"""The largest packet MQTT can express: the largest remaining length plus a 5-byte fixed header."""

_MAX_REMAINING_LENGTH: Final = 268_435_455
_MAX_FIELD_LENGTH: Final = 65_535  # strings and binary data carry a two-byte length

_V31: Final = ProtocolVersion.V31
_V311: Final = ProtocolVersion.V311
_V5: Final = ProtocolVersion.V5
# The packet types the general decoder tests every packet against, as plain ints: an Enum
# class's attributes are slow to look up on Python 3.11 (its metaclass's __getattr__ hook).
_CONNECT: Final = int(PacketType.CONNECT)
_PUBLISH: Final = int(PacketType.PUBLISH)
_DISCONNECT: Final = int(PacketType.DISCONNECT)

_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")

# Precomputed one-byte Variable Byte Integers, the common case for lengths.
_SMALL_VARINTS: Final = tuple(bytes((n,)) for n in range(128))

_PACKET_NAMES: Final = {int(t): t.name for t in PacketType}
_PACKET_NAMES[WILL] = "will properties of CONNECT"

# Fixed-header flags every packet but PUBLISH must carry (MQTT 5 section 2.1.3).
_REQUIRED_FLAGS: Final = {
    int(t): 0x02 if t in (PacketType.PUBREL, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE) else 0
    for t in PacketType
}


# ----------------------------------------------------------------------------------- messages


def _show(value: object) -> str:
    """The repr of a value, shortened so that a huge string does not flood an error message."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:45]}... ({len(text)} characters)"


def _codes(enum: type[IntEnum]) -> dict[int, IntEnum]:
    return {int(member): member for member in enum}


_CONNACK_CODES: Final = _codes(ConnAckReasonCode)
_CONNECT_RETURN_CODES: Final = _codes(ConnectReturnCode)
_PUBACK_CODES: Final = _codes(PubAckReasonCode)
_PUBREC_CODES: Final = _codes(PubRecReasonCode)
_PUBREL_CODES: Final = _codes(PubRelReasonCode)
_PUBCOMP_CODES: Final = _codes(PubCompReasonCode)
_SUBACK_CODES: Final = _codes(SubAckReasonCode)
_SUBACK_CODES_V3: Final = {
    code: member for code, member in _SUBACK_CODES.items() if code in (0x00, 0x01, 0x02, 0x80)
}
_UNSUBACK_CODES: Final = _codes(UnsubAckReasonCode)
_DISCONNECT_CODES: Final = _codes(DisconnectReasonCode)
_AUTH_CODES: Final = _codes(AuthReasonCode)


# ==================================================================================== encoding


def _varint(value: int) -> bytes:
    """A Variable Byte Integer (value already known to be at most 268,435,455)."""
    if value < 128:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _frame(first_byte: int, parts: list[bytes], packet: str) -> bytes:
    """The packet: fixed header, then the body ``parts`` joined (their only copy)."""
    length = sum(map(len, parts))
    if length > _MAX_REMAINING_LENGTH:
        raise ValueError(
            f"{packet} packet is too large: its remaining length {length} exceeds "
            f"{_MAX_REMAINING_LENGTH}, the most MQTT can express"
        )
    return b"".join([bytes((first_byte,)), _varint(length), *parts])


def _utf8(value: object, field: str) -> bytes:
    """A UTF-8 Encoded String field: two-byte length, then the text."""
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, got {_show(value)}")
    try:
        data = value.encode()
    except UnicodeEncodeError:
        raise ValueError(
            f"{field}={_show(value)} is not valid MQTT UTF-8: it contains a lone surrogate"
        ) from None
    if "\x00" in value:
        raise ValueError(f"{field}={_show(value)} is not valid MQTT UTF-8: it contains U+0000")
    if len(data) > _MAX_FIELD_LENGTH:
        raise ValueError(
            f"{field}={_show(value)} is too long: {len(data)} bytes in UTF-8, "
            f"the limit is {_MAX_FIELD_LENGTH}"
        )
    return _U16.pack(len(data)) + data


def _bytes_like(value: object, field: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{field} must be bytes, got {_show(value)}")


def _binary(value: object, field: str) -> bytes:
    """A Binary Data field: two-byte length, then the bytes."""
    data = _bytes_like(value, field)
    if len(data) > _MAX_FIELD_LENGTH:
        raise ValueError(
            f"{field} is too long: {len(data)} bytes, binary data is limited to "
            f"{_MAX_FIELD_LENGTH} bytes"
        )
    return _U16.pack(len(data)) + data


def _check_int(value: object, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{field} must be an int, got {_show(value)}")
    if not low <= value <= high:
        raise ValueError(f"{field}={value!r} is out of range: it must be between {low} and {high}")
    return value


def _check_bool(value: object, field: str) -> bool:
    """A one-bit flag: a bool, or the int 0 or 1 (the fast path of encode cannot tell apart)."""
    if value is True or value is False:
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{field} must be a bool, got {_show(value)}")


def _packet_id(value: object, packet: str) -> bytes:
    return _U16.pack(_check_int(value, f"{packet} packet_id", 1, 65535))


def _check_qos(value: object, field: str) -> int:
    return _check_int(value, field, 0, 2)


def _check_version(version: object, field: str = "version") -> ProtocolVersion:
    if isinstance(version, ProtocolVersion):
        return version
    if isinstance(version, int) and not isinstance(version, bool):
        try:
            return ProtocolVersion(version)
        except ValueError:
            pass
        raise ValueError(
            f"{field}={version!r} is not a protocol version MQTT defines: "
            "it must be 3 (3.1), 4 (3.1.1) or 5 (5.0)"
        )
    raise TypeError(f"{field} must be a ProtocolVersion, got {_show(version)}")


def _check_code(value: object, allowed: dict[int, IntEnum], field: str, version: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{field} must be an int, got {_show(value)}")
    if value not in allowed:
        shown = ", ".join(f"0x{code:02X}" for code in allowed)
        raise ValueError(
            f"{field}=0x{value:02X} is not a code MQTT {version} allows there: "
            f"it must be one of {shown}"
        )
    return value


def _no_properties(properties: object, packet: str, version: ProtocolVersion) -> None:
    """MQTT 3.1.x has no properties: refuse any rather than silently drop them."""
    if properties is NO_PROPERTIES:
        return
    if not isinstance(properties, Properties):
        raise TypeError(f"{packet} properties must be Properties, got {_show(properties)}")
    if properties:
        raise ValueError(
            f"{packet} has properties {properties!r}, but properties exist only in MQTT 5.0 "
            f"(the protocol version is {_version_name(version)})"
        )


def _version_name(version: ProtocolVersion) -> str:
    return {_V31: "3.1", _V311: "3.1.1", _V5: "5.0"}[version]


# ------------------------------------------------------------------------- property encoding


def _write_byte(value: int, spec: PropertySpec) -> bytes:
    return bytes((value,))  # Properties has checked the range, spec.maximum included


def _write_bool(value: bool, spec: PropertySpec) -> bytes:
    return b"\x01" if value else b"\x00"


def _write_two(value: int, spec: PropertySpec) -> bytes:
    return _U16.pack(value)


def _write_four(value: int, spec: PropertySpec) -> bytes:
    return _U32.pack(value)


def _write_varint(value: int, spec: PropertySpec) -> bytes:
    return _varint(value)


def _write_utf8(value: str, spec: PropertySpec) -> bytes:
    return _utf8(value, f"property {spec.name}")


def _write_binary(value: bytes, spec: PropertySpec) -> bytes:
    return _binary(value, f"property {spec.name}")


def _write_pair(value: tuple[str, str], spec: PropertySpec) -> bytes:
    name, text = value
    return _utf8(name, f"property {spec.name} name") + _utf8(text, f"property {spec.name} value")


_PROPERTY_WRITERS: Final[dict[PropertyType, Callable[[object, PropertySpec], bytes]]] = {
    PropertyType.BYTE: _write_byte,  # type: ignore[dict-item]
    PropertyType.BOOL: _write_bool,  # type: ignore[dict-item]
    PropertyType.TWO_BYTE_INT: _write_two,  # type: ignore[dict-item]
    PropertyType.FOUR_BYTE_INT: _write_four,  # type: ignore[dict-item]
    PropertyType.VARIABLE_BYTE_INT: _write_varint,  # type: ignore[dict-item]
    PropertyType.UTF8_STRING: _write_utf8,  # type: ignore[dict-item]
    PropertyType.BINARY: _write_binary,  # type: ignore[dict-item]
    PropertyType.UTF8_PAIR: _write_pair,  # type: ignore[dict-item]
}

# Properties is a slotted dataclass: one attrgetter call reads every attribute at C speed.
_PROPERTY_SPECS_IN_ORDER: Final = tuple(PROPERTY_SPECS_BY_NAME.values())
_read_all_properties: Final = attrgetter(*(spec.name for spec in _PROPERTY_SPECS_IN_ORDER))


def _encode_properties(properties: object, packet_type: int) -> bytes:
    """The property block (length prefix included) for an MQTT 5 packet."""
    if properties is NO_PROPERTIES:
        return b"\x00"
    packet = _PACKET_NAMES[packet_type]
    if not isinstance(properties, Properties):
        raise TypeError(f"{packet} properties must be Properties, got {_show(properties)}")
    parts: list[bytes] = []
    for spec, value in zip(_PROPERTY_SPECS_IN_ORDER, _read_all_properties(properties), strict=True):
        if value is None or value == ():
            continue
        if packet_type not in spec.packets:
            allowed = ", ".join(sorted(_PACKET_NAMES[t] for t in spec.packets))
            raise ValueError(
                f"property {spec.name} is not allowed in {packet}: it may appear only in {allowed}"
            )
        write = _PROPERTY_WRITERS[spec.type]
        identifier = _SMALL_VARINTS[spec.id]
        if spec.repeatable:
            # (User Property may repeat in any packet; a SUBSCRIBE has one Subscription
            # Identifier at most, MQTT-3.8.2.1.2.)
            if (
                packet_type == PacketType.SUBSCRIBE
                and spec.id == PropertyId.SUBSCRIPTION_IDENTIFIER
                and len(value) > 1
            ):
                raise ValueError(
                    f"property {spec.name}={value!r} has {len(value)} values, but SUBSCRIBE "
                    "may carry at most one"
                )
            parts.extend(identifier + write(item, spec) for item in value)
        else:
            parts.append(identifier + write(value, spec))
    body = b"".join(parts)
    # A block too large for any packet makes the packet too large: _frame reports it.
    return _varint(len(body)) + body


def _properties_for(properties: object, packet_type: int, version: ProtocolVersion) -> bytes:
    """The property block in MQTT 5, nothing (after checking there is nothing) before."""
    if version is _V5:
        return _encode_properties(properties, packet_type)
    _no_properties(properties, _PACKET_NAMES[packet_type], version)
    return b""


# --------------------------------------------------------------------------- packet encoders


def _encode_publish_slowly(packet: Publish, version: ProtocolVersion) -> bytes:
    """PUBLISH with every check spelled out; ``encode`` inlines the common case."""
    topic, payload, qos, retain, dup, packet_id, properties = packet
    qos = _check_qos(qos, "Publish qos")
    retain = _check_bool(retain, "Publish retain")
    dup = _check_bool(dup, "Publish dup")
    if dup and qos == 0:
        raise ValueError("Publish dup=True is not allowed with qos=0: DUP must be 0 for QoS 0")
    topic_field = _topic_field(topic)
    if qos:
        identifier = _packet_id(packet_id, "Publish")
    elif packet_id is not None:
        raise ValueError(f"Publish packet_id={packet_id!r} must be None for qos=0")
    else:
        identifier = b""
    props = _properties_for(properties, PacketType.PUBLISH, version)
    if not topic and (version is not _V5 or properties.topic_alias is None):
        raise ValueError("Publish topic='' is only allowed in MQTT 5.0 with a topic_alias property")
    body = [topic_field, identifier, props, _bytes_like(payload, "Publish payload")]
    return _frame(0x30 | dup << 3 | qos << 1 | retain, body, "PUBLISH")


def _encode_connect(packet: Connect, _version: ProtocolVersion) -> bytes:
    version = _check_version(packet.protocol_version, "Connect.protocol_version")
    v5 = version is _V5
    flags = 0x02 if _check_bool(packet.clean_start, "Connect clean_start") else 0
    keep_alive = _check_int(packet.keep_alive, "Connect keep_alive", 0, 65535)
    payload = [_utf8(packet.client_id, "Connect client_id")]
    will = packet.will
    if will is not None:
        if not isinstance(will, WillMessage):
            raise TypeError(f"Connect will must be a WillMessage or None, got {_show(will)}")
        will_qos = _check_qos(will.qos, "Connect will.qos")
        flags |= 0x04 | will_qos << 3
        if _check_bool(will.retain, "Connect will.retain"):
            flags |= 0x20
        payload.append(_properties_for(will.properties, WILL, version))
        payload.append(_utf8(will.topic, "Connect will.topic"))
        payload.append(_binary(will.payload, "Connect will.payload"))
    if packet.username is not None:
        flags |= 0x80
        payload.append(_utf8(packet.username, "Connect username"))
    if packet.password is not None:
        if not v5 and packet.username is None:
            raise ValueError(
                f"Connect password without a username is not allowed in MQTT "
                f"{_version_name(version)} (only MQTT 5.0 allows it)"
            )
        flags |= 0x40
        payload.append(_binary(packet.password, "Connect password"))
    name = b"\x00\x06MQIsdp" if version is _V31 else b"\x00\x04MQTT"
    header = name + bytes((version, flags)) + _U16.pack(keep_alive)
    props = _properties_for(packet.properties, PacketType.CONNECT, version)
    return _frame(0x10, [header, props, *payload], "CONNECT")


def _encode_connack(packet: ConnAck, version: ProtocolVersion) -> bytes:
    session_present = _check_bool(packet.session_present, "ConnAck session_present")
    if version is _V5:
        code = _check_code(packet.reason_code, _CONNACK_CODES, "ConnAck reason_code", "5.0")
    else:
        code = _check_code(
            packet.reason_code, _CONNECT_RETURN_CODES, "ConnAck reason_code", "3.1.x"
        )
    if session_present and code:
        raise ValueError(
            f"ConnAck session_present=True with reason_code=0x{code:02X}: session present "
            "must be False when the connection is refused"
        )
    props = _properties_for(packet.properties, PacketType.CONNACK, version)
    return _frame(0x20, [bytes((session_present, code)), props], "CONNACK")


def _ack_encoder(
    packet_type: PacketType, cls_name: str, codes: dict[int, IntEnum]
) -> Callable[[PubAck | PubRec | PubRel | PubComp, ProtocolVersion], bytes]:
    """PUBACK, PUBREC, PUBREL and PUBCOMP share one layout and one short form."""
    first_byte = packet_type << 4 | _REQUIRED_FLAGS[packet_type]
    name = packet_type.name

    def encode_ack(packet: PubAck | PubRec | PubRel | PubComp, version: ProtocolVersion) -> bytes:
        identifier = _packet_id(packet.packet_id, cls_name)
        if version is _V5:
            code = _check_code(packet.reason_code, codes, f"{cls_name} reason_code", "5.0")
            props = _encode_properties(packet.properties, packet_type)
            if props != b"\x00":
                return _frame(first_byte, [identifier, bytes((code,)), props], name)
            # Short forms: no properties means no property length; reason 0 may go too.
            if code:
                return bytes((first_byte, 3)) + identifier + bytes((code,))
            return bytes((first_byte, 2)) + identifier
        if packet.reason_code != 0:
            raise ValueError(
                f"{cls_name} reason_code={packet.reason_code!r} cannot be sent: MQTT "
                f"{_version_name(version)} has no reason codes in {name}"
            )
        _no_properties(packet.properties, name, version)
        return bytes((first_byte, 2)) + identifier

    return encode_ack


def _subscription_options(subscription: object, version: ProtocolVersion, index: int) -> bytes:
    field = f"Subscribe subscriptions[{index}]"
    if not isinstance(subscription, Subscription):
        raise TypeError(f"{field} must be a Subscription, got {_show(subscription)}")
    topic_filter, qos, no_local, retain_as_published, retain_handling = subscription
    options = _check_qos(qos, f"{field}.qos")
    no_local = _check_bool(no_local, f"{field}.no_local")
    retain_as_published = _check_bool(retain_as_published, f"{field}.retain_as_published")
    handling = _check_int(retain_handling, f"{field}.retain_handling", 0, 2)
    if version is _V5:
        options |= no_local << 2 | retain_as_published << 3 | handling << 4
    elif no_local or retain_as_published or handling:
        raise ValueError(
            f"{field} sets no_local={no_local}, retain_as_published={retain_as_published}, "
            f"retain_handling={handling}: these options exist only in MQTT 5.0 "
            f"(the protocol version is {_version_name(version)})"
        )
    return _utf8(topic_filter, f"{field}.topic_filter") + bytes((options,))


def _non_empty(items: object, field: str, what: str) -> tuple[object, ...]:
    if not isinstance(items, tuple | list):
        raise TypeError(f"{field} must be a tuple, got {_show(items)}")
    if not items:
        raise ValueError(f"{field} is empty: a packet must carry at least one {what}")
    return tuple(items)


def _encode_subscribe(packet: Subscribe, version: ProtocolVersion) -> bytes:
    identifier = _packet_id(packet.packet_id, "Subscribe")
    subscriptions = _non_empty(packet.subscriptions, "Subscribe subscriptions", "subscription")
    props = _properties_for(packet.properties, PacketType.SUBSCRIBE, version)
    payload = b"".join(
        _subscription_options(subscription, version, index)
        for index, subscription in enumerate(subscriptions)
    )
    return _frame(0x82, [identifier, props, payload], "SUBSCRIBE")


def _encode_suback(packet: SubAck, version: ProtocolVersion) -> bytes:
    identifier = _packet_id(packet.packet_id, "SubAck")
    codes = _non_empty(packet.reason_codes, "SubAck reason_codes", "reason code")
    allowed = _SUBACK_CODES if version is _V5 else _SUBACK_CODES_V3
    label = _version_name(version)
    payload = bytes(
        _check_code(code, allowed, f"SubAck reason_codes[{index}]", label)
        for index, code in enumerate(codes)
    )
    props = _properties_for(packet.properties, PacketType.SUBACK, version)
    return _frame(0x90, [identifier, props, payload], "SUBACK")


def _encode_unsubscribe(packet: Unsubscribe, version: ProtocolVersion) -> bytes:
    identifier = _packet_id(packet.packet_id, "Unsubscribe")
    topic_filters = _non_empty(packet.topic_filters, "Unsubscribe topic_filters", "topic filter")
    props = _properties_for(packet.properties, PacketType.UNSUBSCRIBE, version)
    payload = b"".join(
        _utf8(topic_filter, f"Unsubscribe topic_filters[{index}]")
        for index, topic_filter in enumerate(topic_filters)
    )
    return _frame(0xA2, [identifier, props, payload], "UNSUBSCRIBE")


def _encode_unsuback(packet: UnsubAck, version: ProtocolVersion) -> bytes:
    identifier = _packet_id(packet.packet_id, "UnsubAck")
    if version is not _V5:
        if packet.reason_codes != ():
            raise ValueError(
                f"UnsubAck reason_codes={_show(packet.reason_codes)} cannot be sent: MQTT "
                f"{_version_name(version)} UNSUBACK has no reason codes (use ())"
            )
        _no_properties(packet.properties, "UNSUBACK", version)
        return b"\xb0\x02" + identifier
    codes = _non_empty(packet.reason_codes, "UnsubAck reason_codes", "reason code")
    payload = bytes(
        _check_code(code, _UNSUBACK_CODES, f"UnsubAck reason_codes[{index}]", "5.0")
        for index, code in enumerate(codes)
    )
    props = _encode_properties(packet.properties, PacketType.UNSUBACK)
    return _frame(0xB0, [identifier, props, payload], "UNSUBACK")


def _encode_pingreq(packet: PingReq, version: ProtocolVersion) -> bytes:
    return b"\xc0\x00"


def _encode_pingresp(packet: PingResp, version: ProtocolVersion) -> bytes:
    return b"\xd0\x00"


def _encode_disconnect(packet: Disconnect, version: ProtocolVersion) -> bytes:
    if version is not _V5:
        if packet.reason_code != 0:
            raise ValueError(
                f"Disconnect reason_code={packet.reason_code!r} cannot be sent: MQTT "
                f"{_version_name(version)} DISCONNECT has no reason code"
            )
        _no_properties(packet.properties, "DISCONNECT", version)
        return b"\xe0\x00"
    code = _check_code(packet.reason_code, _DISCONNECT_CODES, "Disconnect reason_code", "5.0")
    props = _encode_properties(packet.properties, PacketType.DISCONNECT)
    if props != b"\x00":
        return _frame(0xE0, [bytes((code,)), props], "DISCONNECT")
    # Short forms: no properties means no property length; reason 0 may go too.
    return b"\xe0\x01" + bytes((code,)) if code else b"\xe0\x00"


def _encode_auth(packet: Auth, version: ProtocolVersion) -> bytes:
    if version is not _V5:
        raise ValueError(
            f"Auth cannot be sent: AUTH exists only in MQTT 5.0 "
            f"(the protocol version is {_version_name(version)})"
        )
    code = _check_code(packet.reason_code, _AUTH_CODES, "Auth reason_code", "5.0")
    props = _encode_properties(packet.properties, PacketType.AUTH)
    if code == 0 and props == b"\x00":
        return b"\xf0\x00"
    # The specification only defines leaving out both fields, so a code keeps its property length.
    return _frame(0xF0, [bytes((code,)), props], "AUTH")


_ENCODERS: Final[dict[type, Callable[[Packet, ProtocolVersion], bytes]]] = {
    Connect: _encode_connect,  # type: ignore[dict-item]
    ConnAck: _encode_connack,  # type: ignore[dict-item]
    Publish: _encode_publish_slowly,  # type: ignore[dict-item]
    PubAck: _ack_encoder(PacketType.PUBACK, "PubAck", _PUBACK_CODES),  # type: ignore[dict-item]
    PubRec: _ack_encoder(PacketType.PUBREC, "PubRec", _PUBREC_CODES),  # type: ignore[dict-item]
    PubRel: _ack_encoder(PacketType.PUBREL, "PubRel", _PUBREL_CODES),  # type: ignore[dict-item]
    PubComp: _ack_encoder(PacketType.PUBCOMP, "PubComp", _PUBCOMP_CODES),  # type: ignore[dict-item]
    Subscribe: _encode_subscribe,  # type: ignore[dict-item]
    SubAck: _encode_suback,  # type: ignore[dict-item]
    Unsubscribe: _encode_unsubscribe,  # type: ignore[dict-item]
    UnsubAck: _encode_unsuback,  # type: ignore[dict-item]
    PingReq: _encode_pingreq,  # type: ignore[dict-item]
    PingResp: _encode_pingresp,  # type: ignore[dict-item]
    Disconnect: _encode_disconnect,  # type: ignore[dict-item]
    Auth: _encode_auth,  # type: ignore[dict-item]
}

# PUBLISH fixed headers: for each valid (qos, retain, dup), the 2-byte header for every remaining
# length below 128. One dict lookup checks the three fields and finds the header; bool and int
# hash alike, so True / 1 and QoS members find the same entries.
_PUBLISH_HEADERS: Final = {
    (qos, retain, dup): tuple(
        bytes((0x30 | dup << 3 | qos << 1 | retain, length)) for length in range(128)
    )
    for qos in (0, 1, 2)
    for retain in (False, True)
    for dup in (False, True)
    if qos or not dup
}

# The same headers with DUP 0 by ``qos << 1 | retain``, for fields already checked: an index,
# where a key would build a tuple and hash it for every message.
_NEW_PUBLISH_HEADERS: Final = tuple(
    _PUBLISH_HEADERS[qos, retain, False] for qos in (0, 1, 2) for retain in (False, True)
)

# Topic name -> its checked, length-prefixed UTF-8 field. A str is immutable, so an entry can
# never go stale; the dict is emptied when it reaches _TOPIC_CACHE_SIZE entries, which bounds
# its memory when topics are all different, and costs one re-encode per topic when they repeat.
_TOPIC_FIELDS: Final[dict[str, bytes]] = {}
_TOPIC_CACHE_SIZE: Final = 4096


def _topic_field(topic: object) -> bytes:
    field = _utf8(topic, "Publish topic")
    if topic.__class__ is str and topic:
        if len(_TOPIC_FIELDS) >= _TOPIC_CACHE_SIZE:
            _TOPIC_FIELDS.clear()
        _TOPIC_FIELDS[topic] = field
    return field


def encode(packet: Packet, version: ProtocolVersion) -> bytes:
    """Encode any of the 15 packet types for the given protocol version.

    ``packet`` is an instance of one of the classes of ``asyncmqtt.protocol.packets``;
    ``version`` the ``ProtocolVersion`` of the connection. Returns the whole packet, fixed
    header included. For ``Connect`` the packet's own ``protocol_version`` decides and
    ``version`` is ignored. Raises ``TypeError`` or ``ValueError``, naming the field, the value
    and the rule, for a packet that cannot be written as well formed bytes in that version
    (a reason code or a property MQTT 3.1.x cannot carry included), and ``TypeError`` for
    something that is not a packet.
    """
    if packet.__class__ is Publish:
        # The hot path: a PUBLISH with a non-empty str topic, a bytes payload and no properties,
        # in MQTT 5.0 or 3.1.1. Anything else goes to the checked encoder, which does all checks.
        topic, payload, qos, retain, dup, packet_id, properties = packet
        try:
            topic_field = _TOPIC_FIELDS.get(topic)
            headers = _PUBLISH_HEADERS.get((qos, retain, dup))
        except TypeError:  # an unhashable field: let the checked encoder name it
            return _encode_publish_slowly(packet, _check_version(version))
        if topic_field is None and topic.__class__ is str and topic:
            topic_field = _topic_field(topic)  # checks it (raising if invalid), remembers it
        if (
            topic_field is not None
            and headers is not None
            and properties is NO_PROPERTIES
            and payload.__class__ is bytes
        ):
            if qos:
                if packet_id.__class__ is int and 0 < packet_id <= 65535:
                    if version is _V5:
                        tail = (packet_id << 8).to_bytes(3)  # identifier, property length 0
                    elif version is _V311:
                        tail = packet_id.to_bytes(2)
                    else:
                        tail = None
                else:
                    tail = None
            elif packet_id is None:
                tail = b"\x00" if version is _V5 else b"" if version is _V311 else None
            else:
                tail = None
            if tail is not None:
                length = len(topic_field) + len(tail) + len(payload)
                if length < 128:
                    return b"".join((headers[length], topic_field, tail, payload))
                if length <= _MAX_REMAINING_LENGTH:
                    header = headers[0][:1] + _varint(length)
                    return b"".join((header, topic_field, tail, payload))
        return _encode_publish_slowly(packet, _check_version(version))
    encoder = _ENCODERS.get(packet.__class__)
    if encoder is None:
        raise TypeError(f"cannot encode {_show(packet)}: it is not an MQTT packet")
    return encoder(packet, _check_version(version))


def encode_checked_publish(
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    packet_id: int | None,
    *,
    version: ProtocolVersion,
) -> bytes:
    """Encode a PUBLISH without properties and with DUP 0 from fields its caller has checked.

    The same bytes as ``encode`` of that packet, without ``encode``'s checks of each field: for
    a client connection writing its own publishes, whose ``publish`` checked the fields when it
    took them (one owner per check) and numbered them. ``topic``: a valid topic name (one not
    seen before is still checked here, raising as ``encode`` does); ``payload``: bytes; ``qos``
    0, 1 or 2, with ``packet_id`` 1-65535 (None for QoS 0); ``retain``: a bool; ``version``: the
    connection's protocol version.
    """
    topic_field = _TOPIC_FIELDS.get(topic) or _topic_field(topic)
    v5 = version is _V5
    if qos:
        tail = (packet_id << 8).to_bytes(3) if v5 else packet_id.to_bytes(2)  # type: ignore[operator, union-attr]
    else:
        tail = b"\x00" if v5 else b""
    length = len(topic_field) + len(tail) + len(payload)
    headers = _NEW_PUBLISH_HEADERS[qos << 1 | retain]
    if length < 128:
        header = headers[length]
    elif length <= _MAX_REMAINING_LENGTH:
        header = headers[0][:1] + _varint(length)
    else:  # (too large for MQTT: the checked encoder says so)
        return encode(
            _new_tuple(Publish, (topic, payload, qos, retain, False, packet_id, NO_PROPERTIES)),
            version,
        )
    return b"".join((header, topic_field, tail, payload))


def encode_publish_with_alias(packet: Publish, alias: int, *, with_topic: bool = True) -> bytes:
    """Encode an MQTT 5.0 PUBLISH with ``alias`` as its Topic Alias property.

    ``with_topic``: send ``packet``'s topic name, which binds the alias to it (the default);
    False sends an empty topic name instead: the alias alone names the topic. The packet's own
    properties are kept, any topic alias among them replaced. The same bytes as ``encode`` of
    the packet with that property, made without building a ``Properties`` for the common case
    of a PUBLISH with no other property: this is the hot path of automatic topic aliases.
    Raises what ``encode`` raises.
    """
    topic, payload, qos, retain, dup, packet_id, properties = packet
    if properties is NO_PROPERTIES and payload.__class__ is bytes:
        headers = _PUBLISH_HEADERS.get((qos, retain, dup))
        # (A topic not seen before is checked, raising if invalid, and remembered.)
        if not with_topic or not topic:
            topic_field = b"\x00\x00"
        else:
            topic_field = _TOPIC_FIELDS.get(topic) or _topic_field(topic)
        identifier: bytes | None = b"" if packet_id is None else None
        if qos:
            valid = packet_id.__class__ is int and 0 < packet_id <= 65535
            identifier = packet_id.to_bytes(2) if valid else None  # type: ignore[union-attr]
        if headers is not None and identifier is not None and 0 < alias <= 65535:
            length = len(topic_field) + len(identifier) + 4 + len(payload)
            if length <= _MAX_REMAINING_LENGTH:
                header = headers[length] if length < 128 else headers[0][:1] + _varint(length)
                # Property length 3: Topic Alias (0x23) and its two bytes.
                alias_field = b"\x03\x23" + alias.to_bytes(2)
                return b"".join((header, topic_field, identifier, alias_field, payload))
    # Anything else (other properties, a field to complain about) takes the checked encoder.
    with_alias = packet._replace(
        topic=topic if with_topic else "",
        properties=dataclasses.replace(properties, topic_alias=alias),
    )
    return _encode_publish_slowly(with_alias, _V5)


# ==================================================================================== decoding


def _malformed(message: str) -> NoReturn:
    raise MalformedPacketError(message)


def _violation(message: str) -> NoReturn:
    raise ProtocolViolationError(message)


class _Reader:
    """Reads the fields of one packet body, ``data[pos:end]``, checking every bound."""

    __slots__ = ("data", "end", "packet", "pos")

    def __init__(self, data: bytes, pos: int, end: int, packet: str) -> None:
        self.data = data
        self.pos = pos
        self.end = end
        self.packet = packet

    def _take(self, size: int, field: str) -> int:
        start = self.pos
        if start + size > self.end:
            _malformed(
                f"malformed {self.packet}: the packet ends inside the {field} "
                f"({size} bytes needed, {self.end - start} left)"
            )
        self.pos = start + size
        return start

    def byte(self, field: str) -> int:
        return self.data[self._take(1, field)]

    def u16(self, field: str) -> int:
        start = self._take(2, field)
        return self.data[start] << 8 | self.data[start + 1]

    def u32(self, field: str) -> int:
        start = self._take(4, field)
        return int.from_bytes(self.data[start : start + 4], "big")

    def varint(self, field: str) -> int:
        value, self.pos = _read_varint(self.data, self.pos, self.end, f"{self.packet} {field}")
        if value < 0:
            _malformed(f"malformed {self.packet}: the packet ends inside the {field}")
        return value

    def binary(self, field: str) -> bytes:
        size = self.u16(f"{field} length")
        start = self._take(size, field)
        return self.data[start : start + size]

    def utf8(self, field: str) -> str:
        raw = self.binary(field)
        try:
            text = raw.decode()
        except UnicodeDecodeError as error:
            _malformed(f"malformed {self.packet}: the {field} is not valid UTF-8 ({error.reason})")
        if "\x00" in text:
            _malformed(f"malformed {self.packet}: the {field} {_show(text)} contains U+0000")
        return text

    def packet_id(self) -> int:
        value = self.u16("packet identifier")
        if value == 0:
            _violation(f"{self.packet} has packet identifier 0; identifiers are 1..65535")
        return value

    def rest(self) -> bytes:
        start, self.pos = self.pos, self.end
        return self.data[start : self.end]

    def at_end(self) -> bool:
        return self.pos >= self.end

    def expect_end(self) -> None:
        if self.pos != self.end:
            _malformed(
                f"malformed {self.packet}: {self.end - self.pos} unexpected bytes after the "
                "last field (the remaining length is too long)"
            )


def _read_varint(data: bytes, pos: int, end: int, field: str) -> tuple[int, int]:
    """A Variable Byte Integer at ``data[pos:end]``: (value, next position).

    The value is -1 when ``end`` comes before its last byte; more than 4 bytes is malformed.
    """
    value = 0
    for shift in (0, 7, 14, 21):
        if pos >= end:
            return -1, pos
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
    _malformed(f"malformed {field}: a Variable Byte Integer longer than 4 bytes")


# --------------------------------------------------------------------------- property decoding


def _read_property_value(reader: _Reader, spec: PropertySpec) -> object:
    kind = spec.type
    field = f"property {spec.name}"
    if kind is PropertyType.BYTE or kind is PropertyType.BOOL:
        value: int = reader.byte(field)
    elif kind is PropertyType.TWO_BYTE_INT:
        value = reader.u16(field)
    elif kind is PropertyType.FOUR_BYTE_INT:
        value = reader.u32(field)
    elif kind is PropertyType.VARIABLE_BYTE_INT:
        value = reader.varint(field)
    elif kind is PropertyType.UTF8_STRING:
        text = reader.utf8(field)
        if spec.id == PropertyId.RESPONSE_TOPIC and ("+" in text or "#" in text):
            _violation(
                f"{reader.packet} property response_topic {_show(text)} contains a wildcard "
                "character (+ or #)"
            )
        return text
    elif kind is PropertyType.BINARY:
        return reader.binary(field)
    else:
        return (reader.utf8(f"{field} name"), reader.utf8(f"{field} value"))
    maximum = 1 if kind is PropertyType.BOOL else spec.maximum
    if value < spec.minimum or (maximum is not None and value > maximum):
        high = "" if maximum is None else f" and at most {maximum}"
        _violation(
            f"{reader.packet} property {spec.name} has the value {value}, "
            f"but it must be at least {spec.minimum}{high}"
        )
    return bool(value) if kind is PropertyType.BOOL else value


def _read_properties(reader: _Reader, packet_type: int) -> Properties:
    """The property block of an MQTT 5 packet, checked against ``PROPERTY_SPECS``."""
    length = reader.varint("property length")
    if length == 0:
        return NO_PROPERTIES
    packet = _PACKET_NAMES[packet_type]
    stop = reader.pos + length
    end = reader.end
    if stop > end:
        _malformed(
            f"malformed {reader.packet}: the property length {length} runs past the end "
            f"of the packet ({end - reader.pos} bytes left)"
        )
    reader.end = stop  # values must not run past the property block
    values: dict[str, object] = {}
    repeated: dict[str, list[object]] = {}
    while reader.pos < stop:
        identifier = reader.varint("property identifier")
        spec = PROPERTY_SPECS.get(identifier)
        if spec is None:
            _malformed(f"malformed {reader.packet}: unknown property identifier 0x{identifier:02X}")
        if packet_type not in spec.packets:
            _malformed(
                f"malformed {reader.packet}: property {spec.name} (0x{identifier:02X}) "
                f"is not allowed in {packet}"
            )
        value = _read_property_value(reader, spec)
        if spec.repeatable:
            repeated.setdefault(spec.name, []).append(value)
        elif spec.name in values:
            _violation(f"{reader.packet} has property {spec.name} more than once")
        else:
            values[spec.name] = value
    reader.end = end
    for name, items in repeated.items():
        values[name] = tuple(items)
    subscription_ids = repeated.get("subscription_identifiers", ())
    if packet_type == PacketType.SUBSCRIBE and len(subscription_ids) > 1:
        _violation(
            f"SUBSCRIBE has {len(subscription_ids)} subscription identifiers; "
            "at most one is allowed"
        )
    return Properties(**values)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- packet decoders


def _read_code(reader: _Reader, allowed: dict[int, IntEnum], field: str) -> IntEnum:
    code = reader.byte(field)
    member = allowed.get(code)
    if member is None:
        _malformed(f"malformed {reader.packet}: 0x{code:02X} is not a valid {field}")
    return member


def _decode_connect(reader: _Reader) -> Connect:
    """CONNECT, whose own protocol name and level say which version the rest is in."""
    name_length = reader.u16("protocol name length")
    start = reader._take(name_length, "protocol name")
    name = reader.data[start : start + name_length]
    level = reader.byte("protocol level")
    if (name, level) == (b"MQIsdp", 3):
        version = _V31
    elif name == b"MQTT" and level in (4, 5):
        version = ProtocolVersion(level)
    else:
        raise ProtocolError(
            f"unsupported protocol: CONNECT names protocol {_show(name)} level {level}; "
            "supported are MQIsdp 3 (MQTT 3.1), MQTT 4 (3.1.1) and MQTT 5 (5.0)",
            ConnAckReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
        )
    v5 = version is _V5
    flags = reader.byte("connect flags")
    if flags & 0x01:
        _malformed("malformed CONNECT: the reserved bit 0 of the connect flags is set")
    has_will = bool(flags & 0x04)
    will_qos = flags >> 3 & 0x03
    will_retain = bool(flags & 0x20)
    if will_qos == 3:
        _malformed("malformed CONNECT: the will QoS is 3")
    if not has_will and (will_qos or will_retain):
        _malformed("malformed CONNECT: will QoS or will retain is set without the will flag")
    has_username = bool(flags & 0x80)
    has_password = bool(flags & 0x40)
    if has_password and not has_username and not v5:
        _malformed("malformed CONNECT: the password flag is set without the user name flag")
    keep_alive = reader.u16("keep alive")
    properties = _read_properties(reader, PacketType.CONNECT) if v5 else NO_PROPERTIES
    client_id = reader.utf8("client identifier")
    will = None
    if has_will:
        will_properties = _read_properties(reader, WILL) if v5 else NO_PROPERTIES
        will_topic = reader.utf8("will topic")
        will_payload = reader.binary("will payload")
        will = WillMessage(will_topic, will_payload, will_qos, will_retain, will_properties)
    username = reader.utf8("user name") if has_username else None
    password = reader.binary("password") if has_password else None
    reader.expect_end()
    return Connect(
        client_id,
        bool(flags & 0x02),
        keep_alive,
        username,
        password,
        will,
        version,
        properties,
    )


def _decode_connack(reader: _Reader, version: ProtocolVersion) -> ConnAck:
    flags = reader.byte("acknowledge flags")
    if flags & 0xFE:
        _malformed("malformed CONNACK: reserved bits 1-7 of the acknowledge flags are set")
    if version is _V5:
        code = _read_code(reader, _CONNACK_CODES, "CONNACK reason code")
        properties = _read_properties(reader, PacketType.CONNACK)
    else:
        code = _read_code(reader, _CONNECT_RETURN_CODES, "CONNACK return code")
        properties = NO_PROPERTIES
    reader.expect_end()
    if flags and code:
        _violation(f"CONNACK has session present set with the non-zero code 0x{code:02X}")
    return ConnAck(bool(flags), code, properties)


def _ack_decoder(
    cls: type[PubAck | PubRec | PubRel | PubComp],
    packet_type: PacketType,
    codes: dict[int, IntEnum],
) -> Callable[[_Reader, ProtocolVersion], PubAck | PubRec | PubRel | PubComp]:
    success = codes[0]

    def decode_ack(reader: _Reader, version: ProtocolVersion) -> PubAck | PubRec | PubRel | PubComp:
        packet_id = reader.packet_id()
        code: IntEnum = success
        properties = NO_PROPERTIES
        if version is _V5 and not reader.at_end():
            # Remaining length 2: reason 0, no properties; 3: a reason, no properties.
            code = _read_code(reader, codes, f"{reader.packet} reason code")
            if not reader.at_end():
                properties = _read_properties(reader, packet_type)
        reader.expect_end()
        return tuple.__new__(cls, (packet_id, code, properties))

    return decode_ack


def _decode_subscription(reader: _Reader, version: ProtocolVersion) -> Subscription:
    topic_filter = reader.utf8("topic filter")
    options = reader.byte("subscription options")
    qos = options & 0x03
    if version is not _V5:
        if options & 0xFC:
            _malformed("malformed SUBSCRIBE: reserved bits 2-7 of the requested QoS byte are set")
        if qos == 3:
            _malformed("malformed SUBSCRIBE: a subscription requests QoS 3")
        return tuple.__new__(
            Subscription, (topic_filter, qos, False, False, RetainHandling.SEND_ON_SUBSCRIBE)
        )
    if options & 0xC0:
        _malformed("malformed SUBSCRIBE: reserved bits 6-7 of the subscription options are set")
    if qos == 3:
        _violation(f"SUBSCRIBE to {_show(topic_filter)} requests QoS 3")
    retain_handling = options >> 4 & 0x03
    if retain_handling == 3:
        _violation(f"SUBSCRIBE to {_show(topic_filter)} has retain handling 3")
    return tuple.__new__(
        Subscription,
        (
            topic_filter,
            qos,
            bool(options & 0x04),
            bool(options & 0x08),
            RetainHandling(retain_handling),
        ),
    )


def _decode_subscribe(reader: _Reader, version: ProtocolVersion) -> Subscribe:
    packet_id = reader.packet_id()
    properties = _read_properties(reader, PacketType.SUBSCRIBE) if version is _V5 else NO_PROPERTIES
    if reader.at_end():
        _violation("SUBSCRIBE has no topic filters; it must carry at least one")
    subscriptions = []
    while not reader.at_end():
        subscriptions.append(_decode_subscription(reader, version))
    return Subscribe(packet_id, tuple(subscriptions), properties)


def _decode_suback(reader: _Reader, version: ProtocolVersion) -> SubAck:
    packet_id = reader.packet_id()
    if version is _V5:
        properties = _read_properties(reader, PacketType.SUBACK)
        allowed = _SUBACK_CODES
    else:
        properties = NO_PROPERTIES
        allowed = _SUBACK_CODES_V3
    if reader.at_end():
        _violation("SUBACK has no reason codes; it must carry one per topic filter")
    codes: list[int] = []
    while not reader.at_end():
        if version is not _V5 and reader.data[reader.pos] >= 0x80:
            code = reader.byte("SUBACK reason code")  # a refusal, whatever its number
            codes.append(_SUBACK_CODES.get(code, code))
            continue
        codes.append(_read_code(reader, allowed, "SUBACK reason code"))
    return SubAck(packet_id, tuple(codes), properties)


def _decode_unsubscribe(reader: _Reader, version: ProtocolVersion) -> Unsubscribe:
    packet_id = reader.packet_id()
    properties = (
        _read_properties(reader, PacketType.UNSUBSCRIBE) if version is _V5 else NO_PROPERTIES
    )
    if reader.at_end():
        _violation("UNSUBSCRIBE has no topic filters; it must carry at least one")
    topic_filters = []
    while not reader.at_end():
        topic_filters.append(reader.utf8("topic filter"))
    return Unsubscribe(packet_id, tuple(topic_filters), properties)


def _decode_unsuback(reader: _Reader, version: ProtocolVersion) -> UnsubAck:
    packet_id = reader.packet_id()
    if version is not _V5:
        reader.expect_end()
        return UnsubAck(packet_id, (), NO_PROPERTIES)
    properties = _read_properties(reader, PacketType.UNSUBACK)
    if reader.at_end():
        _violation("UNSUBACK has no reason codes; it must carry one per topic filter")
    codes = []
    while not reader.at_end():
        codes.append(_read_code(reader, _UNSUBACK_CODES, "UNSUBACK reason code"))
    return UnsubAck(packet_id, tuple(codes), properties)


def _decode_empty(cls: type[PingReq | PingResp]) -> Callable[[_Reader, ProtocolVersion], Packet]:
    def decode_empty(reader: _Reader, version: ProtocolVersion) -> Packet:
        reader.expect_end()
        return cls()

    return decode_empty


def _reason_and_properties(
    cls: type[Disconnect | Auth], codes: dict[int, IntEnum], packet_type: PacketType
) -> Callable[[_Reader, ProtocolVersion], Packet]:
    """DISCONNECT and AUTH: an optional reason code, then optional properties (MQTT 5)."""
    success = codes[0]

    def decode(reader: _Reader, version: ProtocolVersion) -> Packet:
        code: IntEnum = success
        properties = NO_PROPERTIES
        if version is _V5 and not reader.at_end():
            code = _read_code(reader, codes, f"{reader.packet} reason code")
            if not reader.at_end():
                properties = _read_properties(reader, packet_type)
        reader.expect_end()
        return cls(code, properties)

    return decode


def _decode_publish(
    reader: _Reader, flags: int, version: ProtocolVersion, server_side: bool
) -> Publish:
    qos = flags >> 1 & 0x03
    if qos == 3:
        _malformed("malformed PUBLISH: QoS 3 (both QoS bits set)")
    dup = bool(flags & 0x08)
    if dup and not qos:
        _malformed("malformed PUBLISH: the DUP flag is set on a QoS 0 message")
    topic = reader.utf8("topic name")
    if "+" in topic or "#" in topic:
        _violation(f"PUBLISH topic name {_show(topic)} contains a wildcard character (+ or #)")
    packet_id = reader.packet_id() if qos else None
    if version is _V5:
        properties = _read_properties(reader, PacketType.PUBLISH)
        if server_side and properties.subscription_identifiers:
            _violation("PUBLISH from a client carries a subscription identifier")
    else:
        properties = NO_PROPERTIES
    if not topic and properties.topic_alias is None:
        _violation("PUBLISH has an empty topic name and no topic alias")
    return tuple.__new__(
        Publish, (topic, reader.rest(), qos, bool(flags & 0x01), dup, packet_id, properties)
    )


_DECODERS: Final[dict[int, Callable[[_Reader, ProtocolVersion], Packet]]] = {
    PacketType.CONNACK: _decode_connack,
    PacketType.PUBACK: _ack_decoder(PubAck, PacketType.PUBACK, _PUBACK_CODES),
    PacketType.PUBREC: _ack_decoder(PubRec, PacketType.PUBREC, _PUBREC_CODES),
    PacketType.PUBREL: _ack_decoder(PubRel, PacketType.PUBREL, _PUBREL_CODES),
    PacketType.PUBCOMP: _ack_decoder(PubComp, PacketType.PUBCOMP, _PUBCOMP_CODES),
    PacketType.SUBSCRIBE: _decode_subscribe,
    PacketType.SUBACK: _decode_suback,
    PacketType.UNSUBSCRIBE: _decode_unsubscribe,
    PacketType.UNSUBACK: _decode_unsuback,
    PacketType.PINGREQ: _decode_empty(PingReq),
    PacketType.PINGRESP: _decode_empty(PingResp),
    PacketType.DISCONNECT: _reason_and_properties(
        Disconnect, _DISCONNECT_CODES, PacketType.DISCONNECT
    ),
    PacketType.AUTH: _reason_and_properties(Auth, _AUTH_CODES, PacketType.AUTH),
}

_P = PacketType
_CLIENT_RECEIVES: Final = frozenset(
    {_P.CONNACK, _P.PUBLISH, _P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP, _P.SUBACK}
    | {_P.UNSUBACK, _P.PINGRESP, _P.DISCONNECT, _P.AUTH}
)
_SERVER_RECEIVES: Final = frozenset(
    {_P.CONNECT, _P.PUBLISH, _P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP, _P.SUBSCRIBE}
    | {_P.UNSUBSCRIBE, _P.PINGREQ, _P.DISCONNECT, _P.AUTH}
)


# For the PUBLISH fast path, by first byte, one table per protocol version: (qos, retain, dup,
# the length of the fields between topic name and payload, v5) for a PUBLISH with valid flags;
# None for every other byte, where the general decoder decides (QoS 3, DUP on QoS 0, ...). A
# decoder that cannot take the fast path (version unknown yet, or a maximum packet size below
# the path's 129 bytes) has the table of None only.
def _fast_publish_table(v5: bool) -> tuple[tuple[int, bool, bool, int, bool] | None, ...]:
    return tuple(
        (
            first >> 1 & 3,
            bool(first & 0x01),
            bool(first & 0x08),
            (2 if first & 0x06 else 0) + v5,
            v5,
        )
        if first >> 4 == PacketType.PUBLISH
        and (first >> 1 & 3) != 3
        and (first & 0x06 or not first & 0x08)
        else None
        for first in range(256)
    )


_FAST_PUBLISH_V5: Final = _fast_publish_table(True)
_FAST_PUBLISH_V3: Final = _fast_publish_table(False)
_FAST_PATH_OFF: Final[tuple[None, ...]] = (None,) * 256

# For the acknowledgement fast path, by first byte: the class and the Success reason code of
# PUBACK, PUBREC, PUBREL and PUBCOMP with their required flags; None for every other byte. (A
# decoder that cannot take the path has _FAST_PATH_OFF instead.)
_FAST_ACKS: Final = tuple(
    {
        0x40: (PubAck, PubAckReasonCode.SUCCESS),
        0x50: (PubRec, PubRecReasonCode.SUCCESS),
        0x62: (PubRel, PubRelReasonCode.SUCCESS),
        0x70: (PubComp, PubCompReasonCode.SUCCESS),
    }.get(first)
    for first in range(256)
)

# Raw topic name -> its checked str, for the PUBLISH fast path. Like _TOPIC_FIELDS, entries
# cannot go stale and the dict is emptied when full. A repeated topic is then decoded once and
# its str shared, hash included, by every message on it.
_TOPIC_NAMES: Final[dict[bytes, str]] = {}

_new_tuple: Final = tuple.__new__


def _topic_name(raw: bytes) -> str | None:
    """The topic name, if it is valid (UTF-8, no U+0000, no wildcard); None if not."""
    try:
        topic = raw.decode()
    except UnicodeDecodeError:
        return None
    if "\x00" in topic or "+" in topic or "#" in topic:
        return None
    if len(_TOPIC_NAMES) >= _TOPIC_CACHE_SIZE:
        _TOPIC_NAMES.clear()
    _TOPIC_NAMES[raw] = topic
    return topic


class Decoder:
    """Incremental decoder of the packets one side of a connection receives.

    ``feed`` buffers bytes as they arrive; ``next_packet`` returns the next complete packet, or
    None when more bytes are needed. A client-side decoder (the default) accepts what a server
    sends; ``server_side=True`` accepts what a client sends and, when ``version`` is None,
    requires CONNECT first and takes ``version`` from it. A client-side decoder must be given
    ``version`` (the one its CONNECT used): a server's packets do not say which they are in.
    ``version`` stays a public attribute. ``max_packet_size`` is the largest packet accepted
    (the Maximum Packet Size we announced), in bytes, fixed header included: 2 to
    ``MAX_PACKET_SIZE``, the default. All three are keyword only.

    Raises ``ValueError`` for a client-side decoder without ``version``, a version MQTT does
    not define or a ``max_packet_size`` out of range, and ``TypeError`` for arguments of the
    wrong type.
    """

    __slots__ = (
        "_buf",
        "_chunked",
        "_chunks",
        "_connect_seen",
        "_error",
        "_fast_acks",
        "_fast_publish",
        "_max_packet_size",
        "_pos",
        "_receives",
        "server_side",
        "version",
    )

    def __init__(
        self,
        *,
        version: ProtocolVersion | None = None,
        server_side: bool = False,
        max_packet_size: int = MAX_PACKET_SIZE,
    ) -> None:
        self.server_side = _check_bool(server_side, "server_side")
        """Whether it decodes what a client sends (True) or what a server sends (False)."""
        if version is not None:
            version = _check_version(version)
        elif not server_side:
            raise ValueError(
                "a client-side Decoder needs version=, the protocol version it connects with; "
                "only a server-side decoder can learn it from CONNECT"
            )
        self.version: ProtocolVersion | None = version
        """The protocol version it decodes; for a server-side decoder made without one, None
        until CONNECT said which."""
        self._max_packet_size = _check_int(max_packet_size, "max_packet_size", 2, MAX_PACKET_SIZE)
        self._set_fast_paths()
        self._receives = _SERVER_RECEIVES if server_side else _CLIENT_RECEIVES
        self._connect_seen = False
        self._buf = b""  # the chunk being read ...
        self._pos = 0  # ... from this offset
        self._chunks: list[bytes] = []  # later input, joined to _buf[_pos:] when needed
        self._chunked = 0  # total size of _chunks
        self._error: ProtocolError | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer incoming bytes. Never raises for their content; ``next_packet`` does.

        ``data``: the bytes as they came from the network, any amount (a part of a packet,
        several packets); a ``bytearray`` or ``memoryview`` is copied, so the caller may reuse
        its buffer. Raises ``TypeError`` for anything else. A failed decoder ignores them.
        Call ``next_packet`` until it returns None after each ``feed``: input not yet read is
        kept.
        """
        if data.__class__ is not bytes:
            if not isinstance(data, bytes | bytearray | memoryview):
                raise TypeError(f"feed() takes bytes, bytearray or memoryview, got {_show(data)}")
            data = bytes(data)  # our own copy: the caller may reuse its buffer
        if self._error is not None:
            return  # a failed decoder keeps nothing
        if self._pos >= len(self._buf) and not self._chunked:
            self._buf = data
            self._pos = 0
        elif data:
            self._chunks.append(data)
            self._chunked += len(data)

    def next_packet(self) -> Packet | None:
        """The next complete packet, or None when more bytes are needed.

        Raises a ``ProtocolError`` subclass for malformed input; the decoder is failed from then
        on and every later call raises the same error.
        """
        buf = self._buf
        pos = self._pos
        # (A failed decoder has an empty buffer, so it never gets into the fast paths.)
        if pos + 3 < len(buf):
            first = buf[pos]
            fast = self._fast_publish[first]
            if fast is not None:
                # Fast path: a complete PUBLISH of remaining length < 128 without properties.
                # It only ever accepts; anything it does not recognise as valid goes to the
                # general path.
                length = buf[pos + 1]
                end = pos + 2 + length
                if length < 128 and end <= len(buf):
                    qos, retain, dup, fields, v5 = fast
                    topic_end = pos + 4 + (buf[pos + 2] << 8 | buf[pos + 3])
                    fields_end = topic_end + fields  # (packet id, property length)
                    if pos + 4 < topic_end and fields_end <= end:
                        raw_topic = buf[pos + 4 : topic_end]
                        topic = _TOPIC_NAMES.get(raw_topic) or _topic_name(raw_topic)
                        packet_id = buf[topic_end] << 8 | buf[topic_end + 1] if qos else None
                        if (
                            topic is not None
                            and packet_id != 0
                            and (not v5 or buf[fields_end - 1] == 0)
                        ):
                            self._pos = end
                            return _new_tuple(
                                Publish,
                                (
                                    topic,
                                    buf[fields_end:end],
                                    qos,
                                    retain,
                                    dup,
                                    packet_id,
                                    NO_PROPERTIES,
                                ),
                            )
            elif buf[pos + 1] == 2 and (ack := self._fast_acks[first]) is not None:
                # Fast path: PUBACK, PUBREC, PUBREL or PUBCOMP in its 4-byte form (Success, no
                # properties), the other half of every QoS 1 and 2 exchange. Again it only
                # accepts.
                packet_id = buf[pos + 2] << 8 | buf[pos + 3]
                if packet_id:
                    self._pos = pos + 4
                    # (tuple.__new__ on one of four packet classes: mypy cannot see which.)
                    return _new_tuple(ack[0], (packet_id, ack[1], NO_PROPERTIES))  # type: ignore[return-value]
        elif pos == len(buf) and not self._chunked and self._error is None:
            # Everything read, the end of every read: let go of the chunk (it may be the
            # transport's read buffer, a whole page an idle connection would otherwise keep)
            # without the general path's two calls.
            self._buf = b""
            self._pos = 0
            return None
        return self._next_packet_checked()

    def _set_fast_paths(self) -> None:
        """Choose the fast paths' tables: off until the version is known, and for a maximum
        packet size below the largest packet they accept (129 bytes), which only the general
        path measures."""
        version, limit = self.version, self._max_packet_size
        self._fast_publish: tuple[tuple[int, bool, bool, int, bool] | None, ...]
        if version is None or limit < 129:
            self._fast_publish = _FAST_PATH_OFF
        else:
            self._fast_publish = _FAST_PUBLISH_V5 if version is _V5 else _FAST_PUBLISH_V3
        self._fast_acks: tuple[tuple[type[tuple[int, int, Properties]], IntEnum] | None, ...] = (
            _FAST_PATH_OFF if version is None or limit < 4 else _FAST_ACKS
        )

    # ------------------------------------------------------------------------- general path

    def _next_packet_checked(self) -> Packet | None:
        if self._error is not None:
            raise self._error
        try:
            return self._next_packet_general()
        except ProtocolError as error:
            self._fail(error)
            raise

    def _fail(self, error: ProtocolError) -> None:
        self._error = error
        self._buf = b""
        self._pos = 0
        self._chunks = []
        self._chunked = 0

    def _next_packet_general(self) -> Packet | None:
        while True:
            buf = self._buf
            pos = self._pos
            size = len(buf)
            if pos + 1 < size:
                remaining, body_start = _read_varint(buf, pos + 1, size, "remaining length")
            else:
                remaining = -1  # the fixed header is incomplete
            if remaining >= 0:
                total = body_start - pos + remaining
                if total > self._max_packet_size:
                    raise PacketTooLargeError(
                        f"packet too large: the fixed header announces {total} bytes, "
                        f"the maximum packet size is {self._max_packet_size}"
                    )
                if pos + total <= size:
                    self._pos = pos + total
                    return self._decode(buf[pos], buf, body_start, pos + total)
                missing = pos + total - size
            else:
                missing = 1
            if not self._chunked or self._chunked < missing:
                return None  # (with some bytes unread: next_packet lets go of a chunk read whole)
            # Enough has arrived to go on: join it to the unread tail, once.
            self._buf = b"".join([memoryview(buf)[pos:], *self._chunks])
            self._pos = 0
            self._chunks = []
            self._chunked = 0

    def _decode(self, first: int, buf: bytes, start: int, end: int) -> Packet:
        packet_type = first >> 4
        flags = first & 0x0F
        version = self.version
        if packet_type == 0 or (packet_type == 15 and version is not None and version < _V5):
            _malformed(f"malformed packet: the reserved packet type {packet_type}")
        name = _PACKET_NAMES[packet_type]
        if version is None and packet_type != _CONNECT:
            _violation(f"expected CONNECT as the first packet, got {name}")
        if packet_type not in self._receives or (
            packet_type == _DISCONNECT and not self.server_side and version != _V5
        ):
            side = "server" if self.server_side else "client"
            _violation(f"a {side} never receives {name}, but one arrived")
        if packet_type != _PUBLISH and flags != _REQUIRED_FLAGS[packet_type]:
            _malformed(
                f"malformed {name}: fixed header flags 0b{flags:04b}, "
                f"they must be 0b{_REQUIRED_FLAGS[packet_type]:04b}"
            )
        reader = _Reader(buf, start, end, name)
        if packet_type == _PUBLISH:
            assert version is not None
            return _decode_publish(reader, flags, version, self.server_side)
        if packet_type == _CONNECT:
            if self._connect_seen:
                _violation("a second CONNECT arrived on the same connection")
            connect = _decode_connect(reader)
            self._connect_seen = True
            self.version = connect.protocol_version
            self._set_fast_paths()
            return connect
        assert version is not None
        return _DECODERS[packet_type](reader, version)
