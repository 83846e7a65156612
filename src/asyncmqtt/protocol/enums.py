"""Wire values: packet types, protocol versions, QoS and every reason code, as IntEnums.

MQTT 5 reuses a reason code value with a different meaning in different packets (0x00 is
"Success" in PUBACK, "Normal disconnection" in DISCONNECT and "Granted QoS 0" in SUBACK), so
each packet gets its own enum, holding exactly the codes the specification allows in it. The
decoder uses them to reject codes that do not belong to a packet. In every MQTT 5 reason code
enum, a value below 0x80 means success and 0x80 or above means failure.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = (
    "AuthReasonCode",
    "ConnAckReasonCode",
    "ConnectReturnCode",
    "DisconnectReasonCode",
    "PacketType",
    "ProtocolVersion",
    "PubAckReasonCode",
    "PubCompReasonCode",
    "PubRecReasonCode",
    "PubRelReasonCode",
    "QoS",
    "RetainHandling",
    "SubAckReasonCode",
    "UnsubAckReasonCode",
)


class PacketType(IntEnum):
    """The control packet type, the high nibble of the first byte."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15


class ProtocolVersion(IntEnum):
    """The MQTT version, by its protocol level byte in CONNECT."""

    V31 = 3
    """MQTT 3.1."""
    V311 = 4
    """MQTT 3.1.1."""
    V5 = 5
    """MQTT 5.0."""


class QoS(IntEnum):
    """The quality of service of a message (every MQTT version): how often it may arrive.

    A plain int works wherever a ``QoS`` is asked for (``qos=1``); messages carry their QoS as
    an int.
    """

    AT_MOST_ONCE = 0
    """QoS 0: sent once, never acknowledged; lost if the connection drops on the way."""
    AT_LEAST_ONCE = 1
    """QoS 1: acknowledged by PUBACK, sent again until it is; may arrive twice."""
    EXACTLY_ONCE = 2
    """QoS 2: a four-packet exchange (PUBLISH, PUBREC, PUBREL, PUBCOMP); arrives once."""


class RetainHandling(IntEnum):
    """Subscription option (MQTT 5): when the broker sends retained messages."""

    SEND_ON_SUBSCRIBE = 0
    """On every SUBSCRIBE, even one that replaces an existing subscription (the default)."""
    SEND_IF_NEW_SUBSCRIPTION = 1
    """Only when the subscription did not exist before."""
    DO_NOT_SEND = 2
    """Never."""


class ConnectReturnCode(IntEnum):
    """CONNACK return codes of MQTT 3.1 and 3.1.1: 0 accepts the connection, 1 to 5 refuse it.

    MQTT 5 replaces them with ``ConnAckReasonCode``.
    """

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL_VERSION = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USER_NAME_OR_PASSWORD = 4
    NOT_AUTHORIZED = 5


class ConnAckReasonCode(IntEnum):
    """CONNACK reason codes (MQTT 5.0): whether the broker accepted the connection.

    0x00 accepts it; 0x80 and above refuse it, and the broker closes the connection. MQTT
    3.1.x has ``ConnectReturnCode`` instead.
    """

    SUCCESS = 0x00
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    BAD_USER_NAME_OR_PASSWORD = 0x86
    NOT_AUTHORIZED = 0x87
    SERVER_UNAVAILABLE = 0x88
    SERVER_BUSY = 0x89
    BANNED = 0x8A
    BAD_AUTHENTICATION_METHOD = 0x8C
    TOPIC_NAME_INVALID = 0x90
    PACKET_TOO_LARGE = 0x95
    QUOTA_EXCEEDED = 0x97
    PAYLOAD_FORMAT_INVALID = 0x99
    RETAIN_NOT_SUPPORTED = 0x9A
    QOS_NOT_SUPPORTED = 0x9B
    USE_ANOTHER_SERVER = 0x9C
    SERVER_MOVED = 0x9D
    CONNECTION_RATE_EXCEEDED = 0x9F


class PubAckReasonCode(IntEnum):
    """PUBACK reason codes (MQTT 5.0): the broker's answer to a QoS 1 publish.

    Below 0x80 the broker accepted the message (0x10: accepted, but no subscriber matched);
    0x80 and above it refused it. MQTT 3.1.x PUBACK carries no code (success).
    """

    SUCCESS = 0x00
    NO_MATCHING_SUBSCRIBERS = 0x10
    UNSPECIFIED_ERROR = 0x80
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    NOT_AUTHORIZED = 0x87
    TOPIC_NAME_INVALID = 0x90
    PACKET_IDENTIFIER_IN_USE = 0x91
    QUOTA_EXCEEDED = 0x97
    PAYLOAD_FORMAT_INVALID = 0x99


class PubRecReasonCode(IntEnum):
    """PUBREC reason codes (MQTT 5.0): the broker's answer to a QoS 2 publish.

    PUBREC allows exactly the codes PUBACK allows. Below 0x80 the broker accepted the message
    and the exchange goes on with PUBREL; 0x80 and above it refused it, which ends the
    exchange. MQTT 3.1.x PUBREC carries no code (success).
    """

    SUCCESS = 0x00
    NO_MATCHING_SUBSCRIBERS = 0x10
    UNSPECIFIED_ERROR = 0x80
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    NOT_AUTHORIZED = 0x87
    TOPIC_NAME_INVALID = 0x90
    PACKET_IDENTIFIER_IN_USE = 0x91
    QUOTA_EXCEEDED = 0x97
    PAYLOAD_FORMAT_INVALID = 0x99


class PubRelReasonCode(IntEnum):
    """PUBREL reason codes (MQTT 5.0), the third packet of a QoS 2 exchange.

    0x92 (0x80 and above: failure) answers a PUBREC for a packet identifier the sender does
    not know. MQTT 3.1.x PUBREL carries no code.
    """

    SUCCESS = 0x00
    PACKET_IDENTIFIER_NOT_FOUND = 0x92


class PubCompReasonCode(IntEnum):
    """PUBCOMP reason codes (MQTT 5.0), the last packet of a QoS 2 exchange.

    0x92 (0x80 and above: failure) answers a PUBREL for a packet identifier the receiver
    does not know. MQTT 3.1.x PUBCOMP carries no code.
    """

    SUCCESS = 0x00
    PACKET_IDENTIFIER_NOT_FOUND = 0x92


class SubAckReasonCode(IntEnum):
    """SUBACK reason codes, one per topic filter of the SUBSCRIBE.

    0x00 to 0x02 grant the subscription at that QoS (which may be lower than the one asked
    for); 0x80 and above refuse it. MQTT 3.1.1 uses only the three grants and 0x80.
    """

    GRANTED_QOS_0 = 0x00
    GRANTED_QOS_1 = 0x01
    GRANTED_QOS_2 = 0x02
    UNSPECIFIED_ERROR = 0x80
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    NOT_AUTHORIZED = 0x87
    TOPIC_FILTER_INVALID = 0x8F
    PACKET_IDENTIFIER_IN_USE = 0x91
    QUOTA_EXCEEDED = 0x97
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2


class UnsubAckReasonCode(IntEnum):
    """UNSUBACK reason codes (MQTT 5.0), one per topic filter of the UNSUBSCRIBE.

    Below 0x80 the filter is no longer subscribed (0x11: it was not); 0x80 and above the
    broker refused to remove it. MQTT 3.1.x UNSUBACK carries no codes.
    """

    SUCCESS = 0x00
    NO_SUBSCRIPTION_EXISTED = 0x11
    UNSPECIFIED_ERROR = 0x80
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    NOT_AUTHORIZED = 0x87
    TOPIC_FILTER_INVALID = 0x8F
    PACKET_IDENTIFIER_IN_USE = 0x91


class DisconnectReasonCode(IntEnum):
    """DISCONNECT reason codes (MQTT 5.0), sent by the client or by the broker.

    0x00 is a normal disconnection (the broker discards the will); 0x04 asks the broker to
    publish the will all the same; 0x80 and above say what went wrong. MQTT 3.1.x DISCONNECT
    carries no code, and only the client sends it.
    """

    NORMAL_DISCONNECTION = 0x00
    DISCONNECT_WITH_WILL_MESSAGE = 0x04
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    NOT_AUTHORIZED = 0x87
    SERVER_BUSY = 0x89
    SERVER_SHUTTING_DOWN = 0x8B
    KEEP_ALIVE_TIMEOUT = 0x8D
    SESSION_TAKEN_OVER = 0x8E
    TOPIC_FILTER_INVALID = 0x8F
    TOPIC_NAME_INVALID = 0x90
    RECEIVE_MAXIMUM_EXCEEDED = 0x93
    TOPIC_ALIAS_INVALID = 0x94
    PACKET_TOO_LARGE = 0x95
    MESSAGE_RATE_TOO_HIGH = 0x96
    QUOTA_EXCEEDED = 0x97
    ADMINISTRATIVE_ACTION = 0x98
    PAYLOAD_FORMAT_INVALID = 0x99
    RETAIN_NOT_SUPPORTED = 0x9A
    QOS_NOT_SUPPORTED = 0x9B
    USE_ANOTHER_SERVER = 0x9C
    SERVER_MOVED = 0x9D
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    CONNECTION_RATE_EXCEEDED = 0x9F
    MAXIMUM_CONNECT_TIME = 0xA0
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2


class AuthReasonCode(IntEnum):
    """AUTH reason codes (MQTT 5.0 enhanced authentication; MQTT 3.1.x has no AUTH).

    0x18 carries the next step of an exchange, 0x19 starts a re-authentication (client only),
    0x00 ends one with success. AUTH has no failure codes: a failed authentication ends with
    a CONNACK or DISCONNECT whose code is 0x80 or above.
    """

    SUCCESS = 0x00
    CONTINUE_AUTHENTICATION = 0x18
    RE_AUTHENTICATE = 0x19
