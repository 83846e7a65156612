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


# Pseudo packet type for the will properties carried in CONNECT's payload.
WILL: Final = 0


class PropertySpec(NamedTuple):
    id: PropertyId
    name: str  # the attribute of Properties
    type: PropertyType
    packets: frozenset[int]  # PacketType values, or WILL
    repeatable: bool = False
    minimum: int = 0  # for integer types: the smallest value allowed on the wire
    maximum: int | None = None  # for integer types, when narrower than the type allows


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

PROPERTY_SPECS_BY_NAME: Final[dict[str, PropertySpec]] = {
    spec.name: spec for spec in PROPERTY_SPECS.values()
}

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
    """

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: tuple[int, ...] = ()
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: bool | None = None
    will_delay_interval: int | None = None
    request_response_information: bool | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: bool | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    maximum_packet_size: int | None = None
    wildcard_subscription_available: bool | None = None
    subscription_identifier_available: bool | None = None
    shared_subscription_available: bool | None = None

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
