"""The wire model: one immutable value type per MQTT control packet.

Packets are ``NamedTuple`` classes rather than frozen dataclasses: a frozen dataclass spends
about 2 us in ``__init__`` on this machine (every field goes through ``object.__setattr__``),
while a NamedTuple is built in about 0.15 us, and the decoder builds one for every PUBLISH it
reads. They stay immutable and typed. Tuple equality would let a ``PubAck`` equal a ``PubRec``
with the same fields, so ``__eq__`` and ``__hash__`` are replaced to take the type into account.

Field names follow the specification. ``reason_code`` fields are plain ints typed by the enum of
their packet (see ``enums``); MQTT 3.1.x packets carry ``NO_PROPERTIES``.
"""

from __future__ import annotations

from typing import NamedTuple

from .enums import PacketType, ProtocolVersion, RetainHandling
from .properties import NO_PROPERTIES, Properties

__all__ = (
    "Auth",
    "ConnAck",
    "Connect",
    "Disconnect",
    "Packet",
    "PingReq",
    "PingResp",
    "PubAck",
    "PubComp",
    "PubRec",
    "PubRel",
    "Publish",
    "SubAck",
    "Subscribe",
    "Subscription",
    "UnsubAck",
    "Unsubscribe",
    "WillMessage",
)


class WillMessage(NamedTuple):
    """The will carried in CONNECT: published by the broker if we vanish.

    ``topic`` (a topic name), ``payload`` (bytes), ``qos`` (0 to 2), ``retain``, and
    ``properties``: the will properties (MQTT 5), such as ``will_delay_interval``.
    """

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Properties = NO_PROPERTIES


class Connect(NamedTuple):
    """CONNECT, the client's first packet: ``client_id``, ``clean_start`` (Clean Session in
    MQTT 3.1.x), ``keep_alive`` (seconds, 0 for none), ``username``, ``password`` (bytes),
    ``will``, the ``protocol_version`` it speaks and its ``properties`` (MQTT 5)."""

    client_id: str = ""
    clean_start: bool = True  # "clean session" in MQTT 3.1.x
    keep_alive: int = 60
    username: str | None = None
    password: bytes | None = None
    will: WillMessage | None = None
    protocol_version: ProtocolVersion = ProtocolVersion.V5
    properties: Properties = NO_PROPERTIES


class ConnAck(NamedTuple):
    """CONNACK, the broker's answer to CONNECT: ``session_present`` (it resumed a session),
    ``reason_code`` (a ``ConnAckReasonCode``, or a ``ConnectReturnCode`` in MQTT 3.1.x; 0
    accepts) and ``properties`` (the broker's limits and settings, MQTT 5)."""

    session_present: bool = False
    reason_code: int = 0  # ConnAckReasonCode (5.0) or ConnectReturnCode (3.1.x)
    properties: Properties = NO_PROPERTIES


class Publish(NamedTuple):
    """An application message on the wire.

    ``topic`` may be "" when ``properties.topic_alias`` names the topic (MQTT 5).
    ``packet_id`` is None for QoS 0 and an int in 1..65535 otherwise.
    """

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    properties: Properties = NO_PROPERTIES


class PubAck(NamedTuple):
    """PUBACK, the acknowledgement of a QoS 1 PUBLISH: ``packet_id``, ``reason_code`` (a
    ``PubAckReasonCode``; always 0 in MQTT 3.1.x) and ``properties``."""

    packet_id: int
    reason_code: int = 0  # PubAckReasonCode
    properties: Properties = NO_PROPERTIES


class PubRec(NamedTuple):
    """PUBREC, the first answer to a QoS 2 PUBLISH: ``packet_id``, ``reason_code`` (a
    ``PubRecReasonCode``; 0x80 and above end the exchange) and ``properties``."""

    packet_id: int
    reason_code: int = 0  # PubRecReasonCode
    properties: Properties = NO_PROPERTIES


class PubRel(NamedTuple):
    """PUBREL, the QoS 2 sender's answer to PUBREC: ``packet_id``, ``reason_code`` (a
    ``PubRelReasonCode``) and ``properties``."""

    packet_id: int
    reason_code: int = 0  # PubRelReasonCode
    properties: Properties = NO_PROPERTIES


class PubComp(NamedTuple):
    """PUBCOMP, the end of a QoS 2 exchange: ``packet_id``, ``reason_code`` (a
    ``PubCompReasonCode``) and ``properties``."""

    packet_id: int
    reason_code: int = 0  # PubCompReasonCode
    properties: Properties = NO_PROPERTIES


class Subscription(NamedTuple):
    """One topic filter of a SUBSCRIBE with its options (the options other than QoS are 5.0).

    ``topic_filter``, ``qos`` (the highest QoS wanted), ``no_local`` (not our own messages),
    ``retain_as_published`` (keep the publisher's RETAIN flag) and ``retain_handling``.
    """

    topic_filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: RetainHandling = RetainHandling.SEND_ON_SUBSCRIBE


class Subscribe(NamedTuple):
    """SUBSCRIBE: ``packet_id``, ``subscriptions`` (at least one ``Subscription``) and
    ``properties`` (MQTT 5: at most one subscription identifier, user properties)."""

    packet_id: int
    subscriptions: tuple[Subscription, ...]
    properties: Properties = NO_PROPERTIES


class SubAck(NamedTuple):
    """SUBACK, the answer to SUBSCRIBE: ``packet_id``, ``reason_codes`` (one
    ``SubAckReasonCode`` per filter, in order) and ``properties``."""

    packet_id: int
    reason_codes: tuple[int, ...]  # SubAckReasonCode, one per filter
    properties: Properties = NO_PROPERTIES


class Unsubscribe(NamedTuple):
    """UNSUBSCRIBE: ``packet_id``, ``topic_filters`` (at least one) and ``properties``."""

    packet_id: int
    topic_filters: tuple[str, ...]
    properties: Properties = NO_PROPERTIES


class UnsubAck(NamedTuple):
    """UNSUBACK, the answer to UNSUBSCRIBE: ``packet_id``, ``reason_codes`` (one
    ``UnsubAckReasonCode`` per filter in MQTT 5; empty in 3.1.x) and ``properties``."""

    packet_id: int
    reason_codes: tuple[int, ...] = ()  # UnsubAckReasonCode per filter; empty in 3.1.x
    properties: Properties = NO_PROPERTIES


class PingReq(NamedTuple):
    """PINGREQ, the client's keepalive probe (no fields)."""


class PingResp(NamedTuple):
    """PINGRESP, the broker's answer to PINGREQ (no fields)."""


class Disconnect(NamedTuple):
    """DISCONNECT: ``reason_code`` (a ``DisconnectReasonCode``; MQTT 3.1.x carries none) and
    ``properties`` (MQTT 5: ``session_expiry_interval``, ``reason_string``, ...)."""

    reason_code: int = 0  # DisconnectReasonCode
    properties: Properties = NO_PROPERTIES


class Auth(NamedTuple):
    """AUTH, a step of MQTT 5 enhanced authentication: ``reason_code`` (an
    ``AuthReasonCode``) and ``properties`` (``authentication_method``,
    ``authentication_data``, ...)."""

    reason_code: int = 0  # AuthReasonCode
    properties: Properties = NO_PROPERTIES


Packet = (
    Connect
    | ConnAck
    | Publish
    | PubAck
    | PubRec
    | PubRel
    | PubComp
    | Subscribe
    | SubAck
    | Unsubscribe
    | UnsubAck
    | PingReq
    | PingResp
    | Disconnect
    | Auth
)
"""Any of the 15 packet classes: what ``encode`` takes and ``Decoder.next_packet`` returns."""

PACKET_TYPES: dict[type[tuple[object, ...]], PacketType] = {
    Connect: PacketType.CONNECT,
    ConnAck: PacketType.CONNACK,
    Publish: PacketType.PUBLISH,
    PubAck: PacketType.PUBACK,
    PubRec: PacketType.PUBREC,
    PubRel: PacketType.PUBREL,
    PubComp: PacketType.PUBCOMP,
    Subscribe: PacketType.SUBSCRIBE,
    SubAck: PacketType.SUBACK,
    Unsubscribe: PacketType.UNSUBSCRIBE,
    UnsubAck: PacketType.UNSUBACK,
    PingReq: PacketType.PINGREQ,
    PingResp: PacketType.PINGRESP,
    Disconnect: PacketType.DISCONNECT,
    Auth: PacketType.AUTH,
}
"""Each packet class with its control packet type."""


def _typed_eq(self: tuple[object, ...], other: object) -> bool:
    return type(self) is type(other) and tuple.__eq__(self, other)


def _typed_ne(self: tuple[object, ...], other: object) -> bool:
    return not _typed_eq(self, other)


def _typed_hash(self: tuple[object, ...]) -> int:
    return hash((type(self).__name__, tuple(self)))


def strict_equality(*classes: type[tuple[object, ...]]) -> None:
    """Make NamedTuple classes compare equal only to instances of the same class."""
    for cls in classes:
        cls.__eq__ = _typed_eq  # type: ignore[method-assign]
        cls.__ne__ = _typed_ne  # type: ignore[assignment,method-assign]
        cls.__hash__ = _typed_hash  # type: ignore[method-assign]


strict_equality(*PACKET_TYPES, WillMessage, Subscription)
