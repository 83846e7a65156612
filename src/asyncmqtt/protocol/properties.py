"""MQTT 5 properties: the table of every property, and ``Properties``, their typed value.

The table (``PROPERTY_SPECS``) is the single source of truth the codec works from: for each
property its identifier, its wire type, the packets it may appear in (``WILL`` stands for the
will properties inside CONNECT) and whether it may appear more than once. ``Properties`` holds
one typed attribute per property; ``None`` (or an empty tuple for the repeatable ones) means
absent. Values are checked when a ``Properties`` is made, so a wrong type or an out-of-range
value raises at the call that made it, naming the property and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Final, NamedTuple

from .enums import PacketType

__all__ = (
    "check_properties",
    "NO_PROPERTIES",
    "PROPERTY_SPECS",
    "PROPERTY_SPECS_BY_NAME",
    "WILL",
    "Properties",
    "PropertyId",
    "PropertySpec",
    "PropertyType",
)


class PropertyId(IntEnum):
    """The identifier of each MQTT 5 property, the byte that precedes its value on the wire.

    The members are named as in the specification; ``Properties`` has the attribute of each
    in lower case (``subscription_identifiers`` and ``user_properties`` in the plural: they
    repeat).
    """

    PAYLOAD_FORMAT_INDICATOR = 0x01
    MESSAGE_EXPIRY_INTERVAL = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_IDENTIFIER = 0x0B
    SESSION_EXPIRY_INTERVAL = 0x11
    ASSIGNED_CLIENT_IDENTIFIER = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTHENTICATION_METHOD = 0x15
    AUTHENTICATION_DATA = 0x16
    REQUEST_PROBLEM_INFORMATION = 0x17
    WILL_DELAY_INTERVAL = 0x18
    REQUEST_RESPONSE_INFORMATION = 0x19
    RESPONSE_INFORMATION = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
    SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
    SHARED_SUBSCRIPTION_AVAILABLE = 0x2A


class PropertyType(IntEnum):
    """How a property value is written on the wire."""

    BYTE = 1
    BOOL = 2  # a byte that must be 0 or 1
    TWO_BYTE_INT = 3
    FOUR_BYTE_INT = 4
    VARIABLE_BYTE_INT = 5
    UTF8_STRING = 6
    BINARY = 7
    UTF8_PAIR = 8


WILL: Final = 0
"""A pseudo packet type, 0 (no packet has it), for the will properties carried in CONNECT's
payload: where a ``PacketType`` says which packet properties belong to, ``WILL`` says "the
will" (``check_properties(properties, WILL, ...)``)."""


class PropertySpec(NamedTuple):
    """One row of the property table: how a property is written and where it may appear."""

    id: PropertyId
    """Its identifier on the wire."""
    name: str
    """The attribute of ``Properties`` that holds it."""
    type: PropertyType
    """How its value is written."""
    packets: frozenset[int]
    """The packets it may appear in: ``PacketType`` values, and ``WILL`` for the will."""
    repeatable: bool = False
    """Whether it may appear more than once (``Properties`` then holds a tuple)."""
    minimum: int = 0
    """For integer types: the smallest value allowed on the wire."""
    maximum: int | None = None
    """For integer types: the largest value allowed, when narrower than the type allows
    (None: the type's own limit)."""


_P = PacketType
_T = PropertyType

PROPERTY_SPECS: Final[dict[int, PropertySpec]] = {
    spec.id: spec
    for spec in (
        PropertySpec(
            PropertyId.PAYLOAD_FORMAT_INDICATOR,
            "payload_format_indicator",
            _T.BYTE,
            frozenset({_P.PUBLISH, WILL}),
            maximum=1,
        ),
        PropertySpec(
            PropertyId.MESSAGE_EXPIRY_INTERVAL,
            "message_expiry_interval",
            _T.FOUR_BYTE_INT,
            frozenset({_P.PUBLISH, WILL}),
        ),
        PropertySpec(
            PropertyId.CONTENT_TYPE, "content_type", _T.UTF8_STRING, frozenset({_P.PUBLISH, WILL})
        ),
        PropertySpec(
            PropertyId.RESPONSE_TOPIC,
            "response_topic",
            _T.UTF8_STRING,
            frozenset({_P.PUBLISH, WILL}),
        ),
        PropertySpec(
            PropertyId.CORRELATION_DATA,
            "correlation_data",
            _T.BINARY,
            frozenset({_P.PUBLISH, WILL}),
        ),
        # Repeatable in PUBLISH (one per matching subscription), single in SUBSCRIBE; the codec
        # enforces the single case.
        PropertySpec(
            PropertyId.SUBSCRIPTION_IDENTIFIER,
            "subscription_identifiers",
            _T.VARIABLE_BYTE_INT,
            frozenset({_P.PUBLISH, _P.SUBSCRIBE}),
            repeatable=True,
            minimum=1,
        ),
        PropertySpec(
            PropertyId.SESSION_EXPIRY_INTERVAL,
            "session_expiry_interval",
            _T.FOUR_BYTE_INT,
            frozenset({_P.CONNECT, _P.CONNACK, _P.DISCONNECT}),
        ),
        PropertySpec(
            PropertyId.ASSIGNED_CLIENT_IDENTIFIER,
            "assigned_client_identifier",
            _T.UTF8_STRING,
            frozenset({_P.CONNACK}),
        ),
        PropertySpec(
            PropertyId.SERVER_KEEP_ALIVE,
            "server_keep_alive",
            _T.TWO_BYTE_INT,
            frozenset({_P.CONNACK}),
        ),
        PropertySpec(
            PropertyId.AUTHENTICATION_METHOD,
            "authentication_method",
            _T.UTF8_STRING,
            frozenset({_P.CONNECT, _P.CONNACK, _P.AUTH}),
        ),
        PropertySpec(
            PropertyId.AUTHENTICATION_DATA,
            "authentication_data",
            _T.BINARY,
            frozenset({_P.CONNECT, _P.CONNACK, _P.AUTH}),
        ),
        PropertySpec(
            PropertyId.REQUEST_PROBLEM_INFORMATION,
            "request_problem_information",
            _T.BOOL,
            frozenset({_P.CONNECT}),
        ),
        PropertySpec(
            PropertyId.WILL_DELAY_INTERVAL,
            "will_delay_interval",
            _T.FOUR_BYTE_INT,
            frozenset({WILL}),
        ),
        PropertySpec(
            PropertyId.REQUEST_RESPONSE_INFORMATION,
            "request_response_information",
            _T.BOOL,
            frozenset({_P.CONNECT}),
        ),
        PropertySpec(
            PropertyId.RESPONSE_INFORMATION,
            "response_information",
            _T.UTF8_STRING,
            frozenset({_P.CONNACK}),
        ),
        PropertySpec(
            PropertyId.SERVER_REFERENCE,
            "server_reference",
            _T.UTF8_STRING,
            frozenset({_P.CONNACK, _P.DISCONNECT}),
        ),
        PropertySpec(
            PropertyId.REASON_STRING,
            "reason_string",
            _T.UTF8_STRING,
            frozenset(
                {
                    _P.CONNACK,
                    _P.PUBACK,
                    _P.PUBREC,
                    _P.PUBREL,
                    _P.PUBCOMP,
                    _P.SUBACK,
                    _P.UNSUBACK,
                    _P.DISCONNECT,
                    _P.AUTH,
                }
            ),
        ),
        PropertySpec(
            PropertyId.RECEIVE_MAXIMUM,
            "receive_maximum",
            _T.TWO_BYTE_INT,
            frozenset({_P.CONNECT, _P.CONNACK}),
            minimum=1,
        ),
        PropertySpec(
            PropertyId.TOPIC_ALIAS_MAXIMUM,
            "topic_alias_maximum",
            _T.TWO_BYTE_INT,
            frozenset({_P.CONNECT, _P.CONNACK}),
        ),
        PropertySpec(
            PropertyId.TOPIC_ALIAS,
            "topic_alias",
            _T.TWO_BYTE_INT,
            frozenset({_P.PUBLISH}),
            minimum=1,
        ),
        PropertySpec(
            PropertyId.MAXIMUM_QOS, "maximum_qos", _T.BYTE, frozenset({_P.CONNACK}), maximum=1
        ),
        PropertySpec(
            PropertyId.RETAIN_AVAILABLE, "retain_available", _T.BOOL, frozenset({_P.CONNACK})
        ),
        PropertySpec(
            PropertyId.USER_PROPERTY,
            "user_properties",
            _T.UTF8_PAIR,
            frozenset(
                {
                    _P.CONNECT,
                    _P.CONNACK,
                    _P.PUBLISH,
                    _P.PUBACK,
                    _P.PUBREC,
                    _P.PUBREL,
                    _P.PUBCOMP,
                    _P.SUBSCRIBE,
                    _P.SUBACK,
                    _P.UNSUBSCRIBE,
                    _P.UNSUBACK,
                    _P.DISCONNECT,
                    _P.AUTH,
                    WILL,
                }
            ),
            repeatable=True,
        ),
        PropertySpec(
            PropertyId.MAXIMUM_PACKET_SIZE,
            "maximum_packet_size",
            _T.FOUR_BYTE_INT,
            frozenset({_P.CONNECT, _P.CONNACK}),
            minimum=1,
        ),
        PropertySpec(
            PropertyId.WILDCARD_SUBSCRIPTION_AVAILABLE,
            "wildcard_subscription_available",
            _T.BOOL,
            frozenset({_P.CONNACK}),
        ),
        PropertySpec(
            PropertyId.SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            "subscription_identifier_available",
            _T.BOOL,
            frozenset({_P.CONNACK}),
        ),
        PropertySpec(
            PropertyId.SHARED_SUBSCRIPTION_AVAILABLE,
            "shared_subscription_available",
            _T.BOOL,
            frozenset({_P.CONNACK}),
        ),
    )
}

"""Every MQTT 5 property's ``PropertySpec``, by identifier: the table the codec works from."""

PROPERTY_SPECS_BY_NAME: Final[dict[str, PropertySpec]] = {
    spec.name: spec for spec in PROPERTY_SPECS.values()
}
"""The same ``PropertySpec`` rows, by their ``Properties`` attribute name."""

_INT_MAXIMUM = {
    PropertyType.BOOL: 1,
    PropertyType.BYTE: 0xFF,
    PropertyType.TWO_BYTE_INT: 0xFFFF,
    PropertyType.FOUR_BYTE_INT: 0xFFFF_FFFF,
    PropertyType.VARIABLE_BYTE_INT: 268_435_455,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Properties:
    """MQTT 5 properties of one packet; every attribute is optional.

    Booleans on the wire (``retain_available``, ``request_problem_information``, ...) are
    ``bool``; ``payload_format_indicator`` and ``maximum_qos`` are the integers 0 or 1.
    ``user_properties`` is a tuple of (name, value) pairs in order, names may repeat.

    All arguments are keyword only; None (or ``()`` for the two tuples) means absent, and is
    the default. A value of the wrong type raises ``TypeError`` and one out of its range
    ``ValueError``, naming the property. Which packets each property belongs in is checked
    where the properties are used (a ``publish()``, a ``Will``, ...): one given where it does
    not belong raises ``ValueError`` there. Intervals are in seconds, sizes in bytes. MQTT 3.1.x
    has no properties: they need MQTT 5.0. A ``Properties`` is false when it holds none.
    """

    payload_format_indicator: int | None = None
    """0: the payload is unspecified bytes; 1: it is UTF-8 text. PUBLISH and will."""
    message_expiry_interval: int | None = None
    """Seconds the broker keeps the message for subscribers it has not yet delivered it to,
    then drops it; a delivered message carries what remained of it. PUBLISH and will."""
    content_type: str | None = None
    """The kind of payload, as the application names it (a MIME type such as
    ``"application/json"``). PUBLISH and will."""
    response_topic: str | None = None
    """Where a receiver should publish its answer (request / response). PUBLISH and will."""
    correlation_data: bytes | None = None
    """Bytes that let the requester tie an answer to its request; the responder sends them
    back. PUBLISH and will."""
    subscription_identifiers: tuple[int, ...] = ()
    """In SUBSCRIBE, one identifier (1 to 268435455) for its subscriptions; in a PUBLISH
    from the broker, the identifiers of every subscription of ours it matched. A client never
    sends it in PUBLISH. SUBSCRIBE and PUBLISH."""
    session_expiry_interval: int | None = None
    """Seconds the broker keeps the session after the network connection ends (absent or 0:
    it ends with the connection; 0xFFFFFFFF: never). CONNECT, CONNACK (the broker's own value)
    and DISCONNECT (a new value, only if CONNECT gave one)."""
    assigned_client_identifier: str | None = None
    """The client identifier the broker assigned to a client that connected with an empty one.
    CONNACK."""
    server_keep_alive: int | None = None
    """The keepalive, in seconds, the broker imposes instead of the client's. CONNACK."""
    authentication_method: str | None = None
    """The name of the enhanced authentication method. CONNECT, CONNACK and AUTH."""
    authentication_data: bytes | None = None
    """The data of a step of enhanced authentication (its content is the method's).
    CONNECT, CONNACK and AUTH."""
    request_problem_information: bool | None = None
    """False asks the broker not to send reason strings and user properties except in
    CONNACK and DISCONNECT (absent: True). CONNECT."""
    will_delay_interval: int | None = None
    """Seconds the broker waits after the connection was lost before it publishes the will
    (not at all if the client reconnects in time). Will only."""
    request_response_information: bool | None = None
    """True asks the broker for ``response_information`` in CONNACK. CONNECT."""
    response_information: str | None = None
    """The basis the broker gives for response topics, when asked. CONNACK."""
    server_reference: str | None = None
    """Another broker for the client to use (temporarily or for good, as the reason code
    says). CONNACK and DISCONNECT."""
    reason_string: str | None = None
    """A human-readable text about the reason code, for diagnostics. CONNACK, PUBACK, PUBREC,
    PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT and AUTH."""
    receive_maximum: int | None = None
    """How many unacknowledged QoS 1/2 publishes the sender of the packet accepts at once
    (1 to 65535; absent: 65535). CONNECT and CONNACK; the client sets its own as
    ``ClientConfig.receive_maximum``, not here."""
    topic_alias_maximum: int | None = None
    """How many topic aliases the sender of the packet accepts (absent: 0, none). CONNECT
    and CONNACK; the client sets its own as ``ClientConfig.topic_alias_maximum``."""
    topic_alias: int | None = None
    """A number (1 to the receiver's Topic Alias Maximum) that stands for the topic name, so
    that later publishes can leave the topic empty. PUBLISH."""
    maximum_qos: int | None = None
    """The highest QoS the broker supports, 0 or 1 (absent: 2). CONNACK."""
    retain_available: bool | None = None
    """Whether the broker supports retained messages (absent: True). CONNACK."""
    user_properties: tuple[tuple[str, str], ...] = ()
    """(name, value) pairs of the application's own, in order; a name may repeat. Every
    packet that has properties, and the will."""
    maximum_packet_size: int | None = None
    """The largest packet, in bytes, the sender of the packet accepts (absent: no limit but
    the protocol's). CONNECT and CONNACK; the client sets its own as
    ``ClientConfig.maximum_packet_size``."""
    wildcard_subscription_available: bool | None = None
    """Whether the broker supports wildcard subscriptions (absent: True). CONNACK."""
    subscription_identifier_available: bool | None = None
    """Whether the broker supports subscription identifiers (absent: True). CONNACK."""
    shared_subscription_available: bool | None = None
    """Whether the broker supports shared subscriptions (absent: True). CONNACK."""

    def __post_init__(self) -> None:
        for spec in _SPECS_IN_FIELD_ORDER:
            value = getattr(self, spec.name)
            if spec.repeatable:
                if not isinstance(value, tuple):
                    raise TypeError(
                        f"property {spec.name} must be a tuple, got {type(value).__name__}"
                    )
                for item in value:
                    _check_value(spec, item)
            elif value is not None:
                _check_value(spec, value)

    def present(self) -> list[tuple[PropertySpec, object]]:
        """The properties that are set, in table order, each with its value."""
        out: list[tuple[PropertySpec, object]] = []
        for spec in _SPECS_IN_FIELD_ORDER:
            value = getattr(self, spec.name)
            if value is not None and value != ():
                out.append((spec, value))
        return out

    def __bool__(self) -> bool:
        return self is not NO_PROPERTIES and bool(self.present())

    def __repr__(self) -> str:
        shown = ", ".join(f"{spec.name}={value!r}" for spec, value in self.present())
        return f"Properties({shown})"


def _check_value(spec: PropertySpec, value: object) -> None:
    kind = spec.type
    if kind in _INT_MAXIMUM:
        if kind is PropertyType.BOOL:
            if not isinstance(value, bool):
                raise TypeError(f"property {spec.name} must be a bool, got {value!r}")
            return
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"property {spec.name} must be an int, got {value!r}")
        maximum = _INT_MAXIMUM[kind] if spec.maximum is None else spec.maximum
        if not spec.minimum <= value <= maximum:
            raise ValueError(
                f"property {spec.name}={value!r} is out of range: it must be between "
                f"{spec.minimum} and {maximum}"
            )
    elif kind is PropertyType.UTF8_STRING:
        if not isinstance(value, str):
            raise TypeError(f"property {spec.name} must be a str, got {value!r}")
    elif kind is PropertyType.BINARY:
        if not isinstance(value, bytes):
            raise TypeError(f"property {spec.name} must be bytes, got {value!r}")
    elif not (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], str)
    ):
        raise TypeError(f"each of {spec.name} must be a (name, value) pair of str, got {value!r}")


_SPECS_IN_FIELD_ORDER: Final = tuple(PROPERTY_SPECS_BY_NAME[f.name] for f in fields(Properties))

NO_PROPERTIES: Final = Properties()
"""The shared empty value: packets without properties all point at it."""


_PLACE_NAMES: Final = {WILL: "will"} | {kind: kind.name for kind in PacketType}


def check_properties(properties: object, packet: int, *, what: str) -> Properties:
    """``properties`` (None meaning none) checked to belong to ``packet`` (a PacketType or WILL).

    ``what`` names the call in error messages, e.g. "publish()". Protocol-version checks are
    the caller's: it knows the version.
    """
    if properties is None:
        return NO_PROPERTIES
    if not isinstance(properties, Properties):
        raise TypeError(
            f"properties of {what} must be an asyncmqtt.Properties, "
            f"got {type(properties).__name__}: {properties!r}"
        )
    for spec, _value in properties.present():
        if packet not in spec.packets:
            allowed = ", ".join(sorted(_PLACE_NAMES[p] for p in spec.packets))
            raise ValueError(
                f"property {spec.name} does not belong in {what} ({_PLACE_NAMES[packet]}); "
                f"it may appear only in: {allowed}"
            )
    return properties
