"""What the codec refuses: malformed input from the peer, and misuse by a local caller.

Peer errors raise the documented ProtocolError subclass with the reason code to answer with;
local misuse raises TypeError / ValueError naming the field, the value and the rule.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import pytest

from asyncmqtt.errors import (
    MalformedPacketError,
    PacketTooLargeError,
    ProtocolError,
    ProtocolViolationError,
)
from asyncmqtt.protocol.codec import MAX_PACKET_SIZE, Decoder, encode
from asyncmqtt.protocol.enums import ProtocolVersion, RetainHandling
from asyncmqtt.protocol.packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PubAck,
    Publish,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    WillMessage,
)
from asyncmqtt.protocol.properties import Properties

V31 = ProtocolVersion.V31
V311 = ProtocolVersion.V311
V5 = ProtocolVersion.V5

MALFORMED = (MalformedPacketError, 0x81)
VIOLATION = (ProtocolViolationError, 0x82)
UNSUPPORTED = (ProtocolError, 0x84)
TOO_LARGE = (PacketTooLargeError, 0x95)

CLIENT = False  # server_side of a client's decoder
SERVER = True

CONNECT_311 = b"\x00\x04MQTT\x04"  # protocol name and level, for CONNECT bodies
CONNECT_5 = b"\x00\x04MQTT\x05"


class Bad(NamedTuple):
    name: str
    version: ProtocolVersion | None  # None: a server-side decoder waiting for CONNECT
    server_side: bool
    data: bytes
    error: tuple[type[ProtocolError], int]
    message: str  # a piece of the error message that says what is wrong


BAD_INPUT = [
    # ------------------------------------------------------------------------ fixed header
    Bad(
        "remaining length of 5 bytes",
        V311,
        CLIENT,
        b"\x30\xff\xff\xff\xff\x7f",
        MALFORMED,
        "longer than 4 bytes",
    ),
    Bad(
        "remaining length refused at its 4th byte",
        V311,
        CLIENT,
        b"\x30\xff\xff\xff\xff",
        MALFORMED,
        "longer than 4 bytes",
    ),
    Bad("reserved packet type 0", V311, CLIENT, b"\x00\x00", MALFORMED, "reserved packet type 0"),
    Bad("AUTH before MQTT 5", V311, CLIENT, b"\xf0\x00", MALFORMED, "reserved packet type 15"),
    Bad("AUTH in MQTT 3.1", V31, SERVER, b"\xf0\x00", MALFORMED, "reserved packet type 15"),
    Bad(
        "PUBREL flags 0",
        V311,
        CLIENT,
        b"\x60\x02\x00\x01",
        MALFORMED,
        "PUBREL: fixed header flags 0b0000, they must be 0b0010",
    ),
    Bad(
        "SUBSCRIBE flags 0",
        V311,
        SERVER,
        b"\x80\x06\x00\x01\x00\x01a\x00",
        MALFORMED,
        "must be 0b0010",
    ),
    Bad(
        "UNSUBSCRIBE flags 0",
        V5,
        SERVER,
        b"\xa0\x05\x00\x01\x00\x00\x00",
        MALFORMED,
        "must be 0b0010",
    ),
    Bad(
        "PUBACK flags 2",
        V5,
        CLIENT,
        b"\x42\x02\x00\x01",
        MALFORMED,
        "PUBACK: fixed header flags 0b0010, they must be 0b0000",
    ),
    Bad("CONNACK flags 1", V311, CLIENT, b"\x21\x02\x00\x00", MALFORMED, "must be 0b0000"),
    Bad("PINGRESP flags 8", V5, CLIENT, b"\xd8\x00", MALFORMED, "must be 0b0000"),
    Bad("DISCONNECT flags 1", V5, CLIENT, b"\xe1\x00", MALFORMED, "must be 0b0000"),
    # ------------------------------------------------------------------------------ PUBLISH
    Bad("PUBLISH QoS 3", V311, CLIENT, b"\x36\x05\x00\x01t\x00\x01", MALFORMED, "QoS 3"),
    Bad(
        "PUBLISH DUP on QoS 0",
        V311,
        CLIENT,
        b"\x38\x03\x00\x01t",
        MALFORMED,
        "DUP flag is set on a QoS 0",
    ),
    Bad(
        "PUBLISH packet identifier 0",
        V311,
        CLIENT,
        b"\x32\x05\x00\x01t\x00\x00",
        VIOLATION,
        "packet identifier 0",
    ),
    Bad(
        "PUBLISH cut inside its topic",
        V311,
        CLIENT,
        b"\x30\x03\x00\x05t",
        MALFORMED,
        "ends inside the topic name",
    ),
    Bad(
        "PUBLISH cut inside its topic length",
        V311,
        CLIENT,
        b"\x30\x01\x00",
        MALFORMED,
        "ends inside the topic name length",
    ),
    Bad(
        "PUBLISH cut inside its packet identifier",
        V5,
        CLIENT,
        b"\x32\x04\x00\x01t\x00",
        MALFORMED,
        "ends inside the packet identifier",
    ),
    Bad(
        "PUBLISH 5.0 cut before its property length",
        V5,
        CLIENT,
        b"\x30\x03\x00\x01t",
        MALFORMED,
        "ends inside the property length",
    ),
    Bad(
        "PUBLISH topic not UTF-8",
        V311,
        CLIENT,
        b"\x30\x04\x00\x02\xc3\x28",
        MALFORMED,
        "topic name is not valid UTF-8",
    ),
    Bad(
        "PUBLISH topic with an encoded surrogate",
        V311,
        CLIENT,
        b"\x30\x05\x00\x03\xed\xa0\x80",
        MALFORMED,
        "not valid UTF-8",
    ),
    Bad(
        "PUBLISH topic in overlong UTF-8",
        V5,
        CLIENT,
        b"\x30\x05\x00\x02\xc0\xaf\x00",
        MALFORMED,
        "not valid UTF-8",
    ),
    Bad(
        "PUBLISH topic with U+0000",
        V311,
        CLIENT,
        b"\x30\x04\x00\x02a\x00",
        MALFORMED,
        "contains U+0000",
    ),
    Bad(
        "PUBLISH topic with +",
        V311,
        CLIENT,
        b"\x30\x05\x00\x03a/+",
        VIOLATION,
        "contains a wildcard",
    ),
    Bad(
        "PUBLISH topic with #",
        V5,
        SERVER,
        b"\x30\x04\x00\x01#\x00",
        VIOLATION,
        "contains a wildcard",
    ),
    Bad(
        "PUBLISH response topic with #",
        V5,
        CLIENT,
        b"\x30\x0a\x00\x01t\x06\x08\x00\x03a/#",
        VIOLATION,
        "property response_topic 'a/#' contains a wildcard",
    ),
    Bad(
        "PUBLISH 3.1.1 empty topic",
        V311,
        CLIENT,
        b"\x30\x02\x00\x00",
        VIOLATION,
        "empty topic name and no topic alias",
    ),
    Bad(
        "PUBLISH 5.0 empty topic without alias",
        V5,
        CLIENT,
        b"\x30\x03\x00\x00\x00",
        VIOLATION,
        "empty topic name and no topic alias",
    ),
    Bad(
        "PUBLISH to a server with a subscription identifier",
        V5,
        SERVER,
        b"\x30\x06\x00\x01t\x02\x0b\x01",
        VIOLATION,
        "carries a subscription identifier",
    ),
    # ---------------------------------------------------------------------------- CONNECT
    Bad(
        "CONNECT reserved flag",
        None,
        SERVER,
        b"\x10\x0d" + CONNECT_311 + b"\x03\x00\x3c\x00\x01a",
        MALFORMED,
        "reserved bit 0 of the connect flags",
    ),
    Bad(
        "CONNECT will QoS 3",
        None,
        SERVER,
        b"\x10\x0d" + CONNECT_311 + b"\x1e\x00\x3c\x00\x01a",
        MALFORMED,
        "will QoS is 3",
    ),
    Bad(
        "CONNECT will QoS without will",
        None,
        SERVER,
        b"\x10\x0d" + CONNECT_311 + b"\x0a\x00\x3c\x00\x01a",
        MALFORMED,
        "without the will flag",
    ),
    Bad(
        "CONNECT will retain without will",
        None,
        SERVER,
        b"\x10\x0d" + CONNECT_5 + b"\x22\x00\x3c\x00\x00\x01a",
        MALFORMED,
        "without the will flag",
    ),
    Bad(
        "CONNECT 3.1.1 password without user name",
        None,
        SERVER,
        b"\x10\x10" + CONNECT_311 + b"\x42\x00\x3c\x00\x01a\x00\x01p",
        MALFORMED,
        "password flag is set without the user name flag",
    ),
    Bad(
        "CONNECT 3.1 password without user name",
        None,
        SERVER,
        b"\x10\x12\x00\x06MQIsdp\x03\x42\x00\x3c\x00\x01a\x00\x01p",
        MALFORMED,
        "password flag is set without the user name flag",
    ),
    Bad(
        "CONNECT level 6",
        None,
        SERVER,
        b"\x10\x0d\x00\x04MQTT\x06\x02\x00\x3c\x00\x01a",
        UNSUPPORTED,
        "MQTT' level 6",
    ),
    Bad(
        "CONNECT protocol name HTTP",
        None,
        SERVER,
        b"\x10\x0d\x00\x04HTTP\x04\x02\x00\x3c\x00\x01a",
        UNSUPPORTED,
        "unsupported protocol",
    ),
    Bad(
        "CONNECT MQIsdp level 4",
        None,
        SERVER,
        b"\x10\x0f\x00\x06MQIsdp\x04\x02\x00\x3c\x00\x01a",
        UNSUPPORTED,
        "level 4",
    ),
    Bad(
        "CONNECT cut inside the protocol name",
        None,
        SERVER,
        b"\x10\x03\x00\x04M",
        MALFORMED,
        "ends inside the protocol name",
    ),
    Bad(
        "CONNECT cut inside the client identifier",
        None,
        SERVER,
        b"\x10\x0c" + CONNECT_311 + b"\x02\x00\x3c\x00\x02a",
        MALFORMED,
        "ends inside the client identifier",
    ),
    Bad(
        "CONNECT with bytes after the password",
        None,
        SERVER,
        b"\x10\x14" + CONNECT_311 + b"\xc2\x00\x3c\x00\x01a\x00\x01u\x00\x01p\x00",
        MALFORMED,
        "1 unexpected bytes after the last field",
    ),
    Bad(
        "CONNECT will property not allowed in CONNECT",
        None,
        SERVER,
        b"\x10\x12" + CONNECT_5 + b"\x02\x00\x3c\x05\x18\x00\x00\x00\x01\x00\x00",
        MALFORMED,
        "will_delay_interval (0x18) is not allowed in CONNECT",
    ),
    Bad(
        "CONNECT will properties with a topic alias",
        None,
        SERVER,
        b"\x10\x16" + CONNECT_5 + b"\x06\x00\x3c\x00\x00\x00\x03\x23\x00\x01\x00\x01t\x00\x00",
        MALFORMED,
        "topic_alias (0x23) is not allowed in will properties of CONNECT",
    ),
    Bad(
        "anything before CONNECT",
        None,
        SERVER,
        b"\xc0\x00",
        VIOLATION,
        "expected CONNECT as the first packet, got PINGREQ",
    ),
    # ---------------------------------------------------------------------------- CONNACK
    Bad(
        "CONNACK reserved flag bits",
        V311,
        CLIENT,
        b"\x20\x02\x02\x00",
        MALFORMED,
        "reserved bits 1-7 of the acknowledge flags",
    ),
    Bad(
        "CONNACK session present when refused",
        V311,
        CLIENT,
        b"\x20\x02\x01\x05",
        VIOLATION,
        "session present set with the non-zero code 0x05",
    ),
    Bad(
        "CONNACK 5.0 session present when refused",
        V5,
        CLIENT,
        b"\x20\x03\x01\x87\x00",
        VIOLATION,
        "session present",
    ),
    Bad(
        "CONNACK 3.1.1 return code 6",
        V311,
        CLIENT,
        b"\x20\x02\x00\x06",
        MALFORMED,
        "0x06 is not a valid CONNACK return code",
    ),
    Bad(
        "CONNACK 5.0 reason 0x01",
        V5,
        CLIENT,
        b"\x20\x03\x00\x01\x00",
        MALFORMED,
        "0x01 is not a valid CONNACK reason code",
    ),
    Bad(
        "CONNACK 5.0 without property length",
        V5,
        CLIENT,
        b"\x20\x02\x00\x00",
        MALFORMED,
        "ends inside the property length",
    ),
    Bad(
        "CONNACK 3.1.1 too long",
        V311,
        CLIENT,
        b"\x20\x03\x00\x00\x00",
        MALFORMED,
        "unexpected bytes",
    ),
    Bad(
        "CONNACK too short",
        V311,
        CLIENT,
        b"\x20\x01\x00",
        MALFORMED,
        "ends inside the CONNACK return code",
    ),
    # ---------------------------------------------------------------------- acknowledgements
    Bad(
        "PUBACK identifier 0",
        V311,
        SERVER,
        b"\x40\x02\x00\x00",
        VIOLATION,
        "PUBACK has packet identifier 0",
    ),
    Bad(
        "PUBACK 3.1.1 with a reason code",
        V311,
        CLIENT,
        b"\x40\x03\x00\x01\x00",
        MALFORMED,
        "1 unexpected bytes",
    ),
    Bad(
        "PUBACK cut short",
        V311,
        CLIENT,
        b"\x40\x01\x00",
        MALFORMED,
        "ends inside the packet identifier",
    ),
    Bad(
        "PUBACK 5.0 unknown reason",
        V5,
        CLIENT,
        b"\x40\x03\x00\x01\x01",
        MALFORMED,
        "0x01 is not a valid PUBACK reason code",
    ),
    Bad(
        "PUBREC 5.0 reason of PUBREL",
        V5,
        CLIENT,
        b"\x50\x03\x00\x01\x92",
        MALFORMED,
        "0x92 is not a valid PUBREC reason code",
    ),
    Bad(
        "PUBREL 5.0 reason of PUBACK",
        V5,
        SERVER,
        b"\x62\x03\x00\x01\x10",
        MALFORMED,
        "0x10 is not a valid PUBREL reason code",
    ),
    Bad(
        "PUBCOMP 5.0 unknown reason",
        V5,
        SERVER,
        b"\x70\x03\x00\x01\x80",
        MALFORMED,
        "0x80 is not a valid PUBCOMP reason code",
    ),
    Bad(
        "PUBACK 5.0 bytes after the properties",
        V5,
        CLIENT,
        b"\x40\x05\x00\x01\x00\x00\x00",
        MALFORMED,
        "unexpected bytes",
    ),
    Bad(
        "PUBACK with a topic alias",
        V5,
        CLIENT,
        b"\x40\x07\x00\x01\x00\x03\x23\x00\x01",
        MALFORMED,
        "topic_alias (0x23) is not allowed in PUBACK",
    ),
    # -------------------------------------------------------------------- SUBSCRIBE / SUBACK
    Bad(
        "SUBSCRIBE 5.0 reserved option bits",
        V5,
        SERVER,
        b"\x82\x07\x00\x01\x00\x00\x01a\x40",
        MALFORMED,
        "reserved bits 6-7 of the subscription options",
    ),
    Bad(
        "SUBSCRIBE 3.1.1 reserved bits",
        V311,
        SERVER,
        b"\x82\x06\x00\x01\x00\x01a\x04",
        MALFORMED,
        "reserved bits 2-7",
    ),
    Bad(
        "SUBSCRIBE 3.1.1 QoS 3",
        V311,
        SERVER,
        b"\x82\x06\x00\x01\x00\x01a\x03",
        MALFORMED,
        "requests QoS 3",
    ),
    Bad(
        "SUBSCRIBE 5.0 QoS 3",
        V5,
        SERVER,
        b"\x82\x07\x00\x01\x00\x00\x01a\x03",
        VIOLATION,
        "requests QoS 3",
    ),
    Bad(
        "SUBSCRIBE retain handling 3",
        V5,
        SERVER,
        b"\x82\x07\x00\x01\x00\x00\x01a\x30",
        VIOLATION,
        "retain handling 3",
    ),
    Bad(
        "SUBSCRIBE 3.1.1 empty",
        V311,
        SERVER,
        b"\x82\x02\x00\x01",
        VIOLATION,
        "SUBSCRIBE has no topic filters",
    ),
    Bad(
        "SUBSCRIBE 5.0 empty",
        V5,
        SERVER,
        b"\x82\x03\x00\x01\x00",
        VIOLATION,
        "SUBSCRIBE has no topic filters",
    ),
    Bad(
        "SUBSCRIBE identifier 0",
        V311,
        SERVER,
        b"\x82\x06\x00\x00\x00\x01a\x00",
        VIOLATION,
        "SUBSCRIBE has packet identifier 0",
    ),
    Bad(
        "SUBSCRIBE cut inside its options",
        V311,
        SERVER,
        b"\x82\x05\x00\x01\x00\x01a",
        MALFORMED,
        "ends inside the subscription options",
    ),
    Bad(
        "SUBSCRIBE two subscription identifiers",
        V5,
        SERVER,
        b"\x82\x0b\x00\x01\x04\x0b\x01\x0b\x02\x00\x01a\x00",
        VIOLATION,
        "2 subscription identifiers; at most one",
    ),
    Bad(
        "SUBSCRIBE subscription identifier 0",
        V5,
        SERVER,
        b"\x82\x09\x00\x01\x02\x0b\x00\x00\x01a\x00",
        VIOLATION,
        "subscription_identifiers has the value 0, but it must be at least 1",
    ),
    Bad(
        "SUBACK 3.1.1 unknown success code",
        V311,
        CLIENT,
        b"\x90\x03\x00\x01\x03",
        MALFORMED,
        "0x03 is not a valid SUBACK reason code",
    ),
    Bad(
        "SUBACK 5.0 unknown reason",
        V5,
        CLIENT,
        b"\x90\x04\x00\x01\x00\x03",
        MALFORMED,
        "0x03 is not a valid SUBACK reason code",
    ),
    Bad(
        "SUBACK 3.1.1 empty",
        V311,
        CLIENT,
        b"\x90\x02\x00\x01",
        VIOLATION,
        "SUBACK has no reason codes",
    ),
    Bad(
        "SUBACK 5.0 empty",
        V5,
        CLIENT,
        b"\x90\x03\x00\x01\x00",
        VIOLATION,
        "SUBACK has no reason codes",
    ),
    # ---------------------------------------------------------------- UNSUBSCRIBE / UNSUBACK
    Bad(
        "UNSUBSCRIBE empty",
        V311,
        SERVER,
        b"\xa2\x02\x00\x01",
        VIOLATION,
        "UNSUBSCRIBE has no topic filters",
    ),
    Bad(
        "UNSUBSCRIBE filter not UTF-8",
        V311,
        SERVER,
        b"\xa2\x05\x00\x01\x00\x01\xff",
        MALFORMED,
        "topic filter is not valid UTF-8",
    ),
    Bad(
        "UNSUBACK 3.1.1 with reason codes",
        V311,
        CLIENT,
        b"\xb0\x03\x00\x01\x00",
        MALFORMED,
        "unexpected bytes",
    ),
    Bad(
        "UNSUBACK 5.0 empty",
        V5,
        CLIENT,
        b"\xb0\x03\x00\x01\x00",
        VIOLATION,
        "UNSUBACK has no reason codes",
    ),
    Bad(
        "UNSUBACK 5.0 unknown reason",
        V5,
        CLIENT,
        b"\xb0\x04\x00\x01\x00\x01",
        MALFORMED,
        "0x01 is not a valid UNSUBACK reason code",
    ),
    # -------------------------------------------------------- PING, DISCONNECT, AUTH, sides
    Bad("PINGRESP with a body", V311, CLIENT, b"\xd0\x01\x00", MALFORMED, "unexpected bytes"),
    Bad(
        "DISCONNECT 3.1.1 with a body", V311, SERVER, b"\xe0\x01\x00", MALFORMED, "unexpected bytes"
    ),
    Bad(
        "DISCONNECT 5.0 unknown reason",
        V5,
        CLIENT,
        b"\xe0\x01\x01",
        MALFORMED,
        "0x01 is not a valid DISCONNECT reason code",
    ),
    Bad(
        "AUTH unknown reason",
        V5,
        CLIENT,
        b"\xf0\x01\x01",
        MALFORMED,
        "0x01 is not a valid AUTH reason code",
    ),
    Bad(
        "a client receiving SUBSCRIBE",
        V311,
        CLIENT,
        b"\x82\x06\x00\x01\x00\x01a\x00",
        VIOLATION,
        "a client never receives SUBSCRIBE",
    ),
    Bad(
        "a client receiving CONNECT",
        V5,
        CLIENT,
        b"\x10\x0d" + CONNECT_311 + b"\x02\x00\x3c\x00\x01a",
        VIOLATION,
        "a client never receives CONNECT",
    ),
    Bad(
        "a client receiving PINGREQ",
        V5,
        CLIENT,
        b"\xc0\x00",
        VIOLATION,
        "a client never receives PINGREQ",
    ),
    Bad(
        "a 3.1.1 client receiving DISCONNECT",
        V311,
        CLIENT,
        b"\xe0\x00",
        VIOLATION,
        "a client never receives DISCONNECT",
    ),
    Bad(
        "a server receiving SUBACK",
        V311,
        SERVER,
        b"\x90\x03\x00\x01\x00",
        VIOLATION,
        "a server never receives SUBACK",
    ),
    Bad(
        "a server receiving CONNACK",
        V5,
        SERVER,
        b"\x20\x03\x00\x00\x00",
        VIOLATION,
        "a server never receives CONNACK",
    ),
    Bad(
        "a server receiving PINGRESP",
        V311,
        SERVER,
        b"\xd0\x00",
        VIOLATION,
        "a server never receives PINGRESP",
    ),
    # --------------------------------------------------------------------------- properties
    Bad(
        "unknown property identifier",
        V5,
        CLIENT,
        b"\x30\x06\x00\x01t\x02\x05\x00",
        MALFORMED,
        "unknown property identifier 0x05",
    ),
    Bad(
        "property identifier of 5 bytes",
        V5,
        CLIENT,
        b"\x30\x09\x00\x01t\x05\xff\xff\xff\xff\x7f",
        MALFORMED,
        "longer than 4 bytes",
    ),
    Bad(
        "non-repeatable property twice",
        V5,
        CLIENT,
        b"\x30\x0a\x00\x01t\x06\x23\x00\x01\x23\x00\x02",
        VIOLATION,
        "has property topic_alias more than once",
    ),
    Bad(
        "receive maximum 0",
        V5,
        CLIENT,
        b"\x20\x06\x00\x00\x03\x21\x00\x00",
        VIOLATION,
        "receive_maximum has the value 0, but it must be at least 1",
    ),
    Bad(
        "topic alias 0",
        V5,
        CLIENT,
        b"\x30\x07\x00\x01t\x03\x23\x00\x00",
        VIOLATION,
        "topic_alias has the value 0",
    ),
    Bad(
        "maximum packet size 0",
        V5,
        CLIENT,
        b"\x20\x08\x00\x00\x05\x27\x00\x00\x00\x00",
        VIOLATION,
        "maximum_packet_size has the value 0",
    ),
    Bad(
        "boolean property 2",
        V5,
        CLIENT,
        b"\x20\x05\x00\x00\x02\x25\x02",
        VIOLATION,
        "retain_available has the value 2, but it must be at least 0 and at most 1",
    ),
    Bad(
        "request problem information 7",
        None,
        SERVER,
        b"\x10\x10" + CONNECT_5 + b"\x02\x00\x3c\x02\x17\x07\x00\x01a",
        VIOLATION,
        "request_problem_information has the value 7",
    ),
    Bad(
        "payload format indicator 2",
        V5,
        CLIENT,
        b"\x30\x06\x00\x01t\x02\x01\x02",
        VIOLATION,
        "payload_format_indicator has the value 2",
    ),
    Bad(
        "maximum QoS 2",
        V5,
        CLIENT,
        b"\x20\x05\x00\x00\x02\x24\x02",
        VIOLATION,
        "maximum_qos has the value 2",
    ),
    Bad(
        "property length past the end",
        V5,
        CLIENT,
        b"\x30\x05\x00\x01t\x09\x00",
        MALFORMED,
        "property length 9 runs past the end",
    ),
    Bad(
        "property value cut by the property length",
        V5,
        CLIENT,
        b"\x30\x08\x00\x01t\x02\x02\x00\x00\x00",
        MALFORMED,
        "ends inside the property message_expiry_interval",
    ),
    Bad(
        "subscription identifier cut short",
        V5,
        CLIENT,
        b"\x30\x06\x00\x01t\x02\x0b\x80",
        MALFORMED,
        "ends inside the property subscription_identifiers",
    ),
    Bad(
        "property string not UTF-8",
        V5,
        CLIENT,
        b"\x30\x09\x00\x01t\x05\x03\x00\x02\xc3\x28",
        MALFORMED,
        "property content_type is not valid UTF-8",
    ),
    Bad(
        "user property name with U+0000",
        V5,
        CLIENT,
        b"\x40\x0d\x00\x01\x00\x09\x26\x00\x02a\x00\x00\x01b\x00",
        MALFORMED,
        "property user_properties name 'a\\x00' contains U+0000",
    ),
    Bad(
        "binary property cut short",
        V5,
        CLIENT,
        b"\x30\x08\x00\x01t\x04\x09\x00\x05a",
        MALFORMED,
        "ends inside the property correlation_data",
    ),
    # ------------------------------------------------------------------------------- size
    Bad(
        "packet above the maximum packet size",
        V5,
        CLIENT,
        b"\x30\x7f",
        TOO_LARGE,
        "announces 129 bytes, the maximum packet size is 128",
    ),
]


def bad_id(value: object) -> str:
    return value.name if isinstance(value, Bad) else str(value)


def make_decoder(case: Bad) -> Decoder:
    return Decoder(version=case.version, server_side=case.server_side, max_packet_size=128)


@pytest.mark.parametrize("case", BAD_INPUT, ids=bad_id)
def test_malformed_input_raises_the_documented_error(case: Bad) -> None:
    error_class, reason_code = case.error
    decoder = make_decoder(case)
    decoder.feed(case.data)
    with pytest.raises(ProtocolError) as caught:
        decoder.next_packet()
    assert type(caught.value) is error_class
    assert caught.value.reason_code == reason_code
    assert case.message in str(caught.value)


@pytest.mark.parametrize("case", BAD_INPUT, ids=bad_id)
def test_malformed_input_fails_the_decoder_for_good(case: Bad) -> None:
    decoder = make_decoder(case)
    decoder.feed(case.data)
    with pytest.raises(ProtocolError) as first:
        decoder.next_packet()
    # More input, even valid input, changes nothing: the same error comes back every time.
    decoder.feed(b"\xd0\x00\xc0\x00")
    for _ in range(2):
        with pytest.raises(ProtocolError) as again:
            decoder.next_packet()
        assert again.value is first.value
    assert decoder._buf == b"" and decoder._chunks == []


def test_packets_before_the_garbage_are_delivered_first() -> None:
    decoder = Decoder(version=V311)
    decoder.feed(b"\x40\x02\x00\x01\xd0\x00\x00\x00")  # PUBACK, PINGRESP, type 0
    assert decoder.next_packet() == PubAck(1)
    assert decoder.next_packet() is not None
    with pytest.raises(MalformedPacketError):
        decoder.next_packet()


def test_a_second_connect_is_a_protocol_violation() -> None:
    connect = encode(Connect("a", protocol_version=V5), V5)
    decoder = Decoder(server_side=True)
    decoder.feed(connect + connect)
    assert isinstance(decoder.next_packet(), Connect)
    with pytest.raises(ProtocolViolationError, match="second CONNECT"):
        decoder.next_packet()


def test_an_unsupported_protocol_leaves_the_version_unknown() -> None:
    decoder = Decoder(server_side=True)
    decoder.feed(b"\x10\x0d\x00\x04MQTT\x06\x02\x00\x3c\x00\x01a")
    with pytest.raises(ProtocolError) as caught:
        decoder.next_packet()
    assert caught.value.reason_code == 0x84
    assert decoder.version is None


def test_a_preset_server_version_takes_packets_without_connect() -> None:
    decoder = Decoder(version=V5, server_side=True)
    decoder.feed(b"\xc0\x00")
    assert decoder.next_packet() == PingReq()


# ------------------------------------------------------------------------- maximum size


def test_too_large_is_refused_from_the_fixed_header_alone() -> None:
    """The header announces 2**21 bytes; none of the body has arrived or is waited for."""
    decoder = Decoder(version=V5, max_packet_size=1000)
    decoder.feed(b"\x30\x80\x80\x80\x01")
    with pytest.raises(PacketTooLargeError) as caught:
        decoder.next_packet()
    assert caught.value.reason_code == 0x95
    assert "announces 2097157 bytes" in str(caught.value)
    decoder.feed(b"x" * 5000)  # the body, arriving anyway, is not kept
    assert decoder._buf == b"" and decoder._chunks == []


def test_the_maximum_packet_size_counts_the_fixed_header() -> None:
    exactly = encode(Publish("t", b"x" * 120), V311)  # 2 + 3 + 120 bytes
    assert len(exactly) == 125
    decoder = Decoder(version=V311, max_packet_size=125)
    decoder.feed(exactly)
    assert decoder.next_packet() == Publish("t", b"x" * 120)
    decoder = Decoder(version=V311, max_packet_size=124)
    decoder.feed(exactly)
    with pytest.raises(PacketTooLargeError, match="announces 125 bytes"):
        decoder.next_packet()


def test_an_incomplete_packet_waits_within_the_maximum() -> None:
    decoder = Decoder(version=V311, max_packet_size=300)
    data = encode(Publish("t", b"x" * 250), V311)
    for index in range(len(data) - 1):
        decoder.feed(data[index : index + 1])
        assert decoder.next_packet() is None
    decoder.feed(data[-1:])
    assert decoder.next_packet() == Publish("t", b"x" * 250)


# ------------------------------------------------------------------- decoder misuse


def test_a_client_decoder_needs_a_version() -> None:
    with pytest.raises(ValueError, match="client-side Decoder needs version="):
        Decoder()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"version": 6}, ValueError, "version=6 is not a protocol version MQTT defines"),
        ({"version": "5"}, TypeError, "version must be a ProtocolVersion, got '5'"),
        ({"version": True}, TypeError, "version must be a ProtocolVersion, got True"),
        (
            {"version": V5, "max_packet_size": 1},
            ValueError,
            "max_packet_size=1 is out of range: it must be between 2 and 268435460",
        ),
        ({"version": V5, "max_packet_size": MAX_PACKET_SIZE + 1}, ValueError, "out of range"),
        ({"version": V5, "max_packet_size": 10.0}, TypeError, "max_packet_size must be an int"),
        ({"version": V5, "server_side": "yes"}, TypeError, "server_side must be a bool"),
    ],
)
def test_decoder_arguments_are_checked(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        Decoder(**kwargs)  # type: ignore[arg-type]


def test_a_version_given_as_an_int_becomes_the_enum() -> None:
    assert Decoder(version=4).version is V311  # type: ignore[arg-type]


def test_feed_takes_only_bytes() -> None:
    decoder = Decoder(version=V5)
    with pytest.raises(
        TypeError, match="feed\\(\\) takes bytes, bytearray or memoryview, got 'ab'"
    ):
        decoder.feed("ab")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got 5"):
        decoder.feed(5)  # type: ignore[arg-type]


def test_fed_buffers_are_copied() -> None:
    """The caller may reuse its buffer as soon as feed returns."""
    decoder = Decoder(version=V311)
    buffer = bytearray(b"\x40\x02\x00")
    decoder.feed(buffer)
    buffer[:] = b"\xff\xff\xff"
    decoder.feed(memoryview(bytearray(b"\x07")))
    assert decoder.next_packet() == PubAck(7)


# =========================================================================== encode misuse


class Misuse(NamedTuple):
    name: str
    packet: object
    version: object
    error: type[Exception]
    message: str


def big(size: int) -> bytes:
    """Zeroed bytes: the OS maps the pages lazily, so a huge one costs no real memory."""
    return bytes(size)


MISUSE = [
    # PUBLISH
    Misuse(
        "QoS 3",
        Publish("t", qos=3, packet_id=1),
        V5,
        ValueError,
        "Publish qos=3 is out of range: it must be between 0 and 2",
    ),
    Misuse(
        "QoS as text",
        Publish("t", qos="1", packet_id=1),
        V311,
        TypeError,  # type: ignore[arg-type]
        "Publish qos must be an int, got '1'",
    ),
    Misuse(
        "QoS 1 without packet id",
        Publish("t", qos=1),
        V5,
        TypeError,
        "Publish packet_id must be an int, got None",
    ),
    Misuse(
        "packet id 0",
        Publish("t", qos=1, packet_id=0),
        V5,
        ValueError,
        "Publish packet_id=0 is out of range: it must be between 1 and 65535",
    ),
    Misuse(
        "packet id 65536",
        Publish("t", qos=2, packet_id=65536),
        V311,
        ValueError,
        "Publish packet_id=65536 is out of range",
    ),
    Misuse(
        "packet id with QoS 0",
        Publish("t", packet_id=5),
        V5,
        ValueError,
        "Publish packet_id=5 must be None for qos=0",
    ),
    Misuse(
        "DUP with QoS 0",
        Publish("t", dup=True),
        V311,
        ValueError,
        "Publish dup=True is not allowed with qos=0",
    ),
    Misuse(
        "retain not a flag",
        Publish("t", retain="yes"),
        V5,
        TypeError,  # type: ignore[arg-type]
        "Publish retain must be a bool, got 'yes'",
    ),
    Misuse(
        "topic with U+0000",
        Publish("a\x00b"),
        V5,
        ValueError,
        "Publish topic='a\\x00b' is not valid MQTT UTF-8: it contains U+0000",
    ),
    Misuse(
        "topic with a lone surrogate",
        Publish("a\ud800"),
        V311,
        ValueError,
        "Publish topic='a\\ud800' is not valid MQTT UTF-8: it contains a lone surrogate",
    ),
    Misuse(
        "topic of 65536 bytes",
        Publish("é" * 32768),
        V5,
        ValueError,
        "is too long: 65536 bytes in UTF-8, the limit is 65535",
    ),
    Misuse(
        "topic as bytes",
        Publish(b"t"),
        V5,
        TypeError,  # type: ignore[arg-type]
        "Publish topic must be a str, got b't'",
    ),
    Misuse(
        "topic unhashable",
        Publish(["t"]),
        V5,
        TypeError,  # type: ignore[arg-type]
        "Publish topic must be a str, got ['t']",
    ),
    Misuse(
        "empty topic without alias",
        Publish(""),
        V5,
        ValueError,
        "Publish topic='' is only allowed in MQTT 5.0 with a topic_alias property",
    ),
    Misuse("empty topic in 3.1.1", Publish(""), V311, ValueError, "only allowed in MQTT 5.0"),
    Misuse(
        "payload as text",
        Publish("t", "hello"),
        V5,
        TypeError,  # type: ignore[arg-type]
        "Publish payload must be bytes, got 'hello'",
    ),
    Misuse(
        "properties in 3.1.1",
        Publish("t", properties=Properties(content_type="x")),
        V311,
        ValueError,
        "properties exist only in MQTT 5.0 (the protocol version is 3.1.1)",
    ),
    Misuse(
        "properties not Properties",
        Publish("t", properties={"content_type": "x"}),
        V5,  # type: ignore[arg-type]
        TypeError,
        "PUBLISH properties must be Properties",
    ),
    Misuse(
        "property of another packet",
        Publish("t", properties=Properties(session_expiry_interval=1)),
        V5,
        ValueError,
        "property session_expiry_interval is not allowed in PUBLISH: it may appear only in "
        "CONNACK, CONNECT, DISCONNECT",
    ),
    Misuse(
        "correlation data of 65536 bytes",
        Publish("t", properties=Properties(correlation_data=big(65536))),
        V5,
        ValueError,
        "property correlation_data is too long: 65536 bytes, binary data is limited to 65535",
    ),
    Misuse(
        "user property with U+0000",
        Publish("t", properties=Properties(user_properties=(("k", "\x00"),))),
        V5,
        ValueError,
        "property user_properties value='\\x00' is not valid MQTT UTF-8",
    ),
    Misuse(
        "remaining length above the maximum",
        Publish("t", big(268_435_455 - 2)),
        V311,
        ValueError,
        "PUBLISH packet is too large: its remaining length 268435456 exceeds 268435455",
    ),
    # CONNECT
    Misuse(
        "keep alive 65536",
        Connect("c", keep_alive=65536),
        V5,
        ValueError,
        "Connect keep_alive=65536 is out of range: it must be between 0 and 65535",
    ),
    Misuse(
        "client id with U+0000",
        Connect("c\x00"),
        V5,
        ValueError,
        "Connect client_id='c\\x00' is not valid MQTT UTF-8",
    ),
    Misuse(
        "client id not text",
        Connect(7),
        V5,
        TypeError,  # type: ignore[arg-type]
        "Connect client_id must be a str, got 7",
    ),
    Misuse(
        "password without user name in 3.1.1",
        Connect("c", password=b"p", protocol_version=V311),
        V311,
        ValueError,
        "Connect password without a username is not allowed in MQTT 3.1.1",
    ),
    Misuse(
        "password without user name in 3.1",
        Connect("c", password=b"p", protocol_version=V31),
        V31,
        ValueError,
        "not allowed in MQTT 3.1 ",
    ),
    Misuse(
        "password of 65536 bytes",
        Connect("c", username="u", password=big(65536)),
        V5,
        ValueError,
        "Connect password is too long: 65536 bytes",
    ),
    Misuse(
        "password as text",
        Connect("c", username="u", password="p"),
        V5,
        TypeError,  # type: ignore[arg-type]
        "Connect password must be bytes, got 'p'",
    ),
    Misuse(
        "will QoS 3",
        Connect("c", will=WillMessage("w", qos=3)),
        V5,
        ValueError,
        "Connect will.qos=3 is out of range",
    ),
    Misuse(
        "will payload of 65536 bytes",
        Connect("c", will=WillMessage("w", big(65536))),
        V5,
        ValueError,
        "Connect will.payload is too long: 65536 bytes",
    ),
    Misuse(
        "will not a WillMessage",
        Connect("c", will=("w", b"")),
        V5,
        TypeError,  # type: ignore[arg-type]
        "Connect will must be a WillMessage or None, got ('w', b'')",
    ),
    Misuse(
        "will properties in 3.1.1",
        Connect(
            "c",
            will=WillMessage("w", properties=Properties(will_delay_interval=1)),
            protocol_version=V311,
        ),
        V311,
        ValueError,
        "will properties of CONNECT has properties",
    ),
    Misuse(
        "will property of PUBLISH only",
        Connect("c", will=WillMessage("w", properties=Properties(topic_alias=1))),
        V5,
        ValueError,
        "property topic_alias is not allowed in will properties of CONNECT",
    ),
    Misuse(
        "CONNECT property of the will",
        Connect("c", properties=Properties(will_delay_interval=1)),
        V5,
        ValueError,
        "property will_delay_interval is not allowed in CONNECT",
    ),
    Misuse(
        "protocol version 6",
        Connect("c", protocol_version=6),
        V5,
        ValueError,  # type: ignore[arg-type]
        "Connect.protocol_version=6 is not a protocol version MQTT defines",
    ),
    # CONNACK
    Misuse(
        "session present when refused",
        ConnAck(True, 0x87),
        V5,
        ValueError,
        "ConnAck session_present=True with reason_code=0x87",
    ),
    Misuse(
        "CONNACK 5.0 unknown reason",
        ConnAck(False, 0x01),
        V5,
        ValueError,
        "ConnAck reason_code=0x01 is not a code MQTT 5.0 allows there: it must be one of 0x00",
    ),
    Misuse(
        "CONNACK 3.1.1 reason of 5.0",
        ConnAck(False, 0x87),
        V311,
        ValueError,
        "ConnAck reason_code=0x87 is not a code MQTT 3.1.x allows there",
    ),
    Misuse(
        "CONNACK code as text",
        ConnAck(False, "0"),
        V5,
        TypeError,  # type: ignore[arg-type]
        "ConnAck reason_code must be an int, got '0'",
    ),
    # acknowledgements
    Misuse(
        "PUBACK reason in 3.1.1",
        PubAck(1, 0x80),
        V311,
        ValueError,
        "PubAck reason_code=128 cannot be sent: MQTT 3.1.1 has no reason codes in PUBACK",
    ),
    Misuse(
        "PUBACK properties in 3.1",
        PubAck(1, properties=Properties(reason_string="x")),
        V31,
        ValueError,
        "PUBACK has properties",
    ),
    Misuse(
        "PUBACK 3.1.1 properties not Properties",
        PubAck(1, properties=None),  # type: ignore[arg-type]
        V311,
        TypeError,
        "PUBACK properties must be Properties, got None",
    ),
    Misuse("PUBACK identifier 0", PubAck(0), V5, ValueError, "PubAck packet_id=0 is out of range"),
    Misuse(
        "PUBREL unknown reason",
        PubRel(1, 0x10),
        V5,
        ValueError,
        "PubRel reason_code=0x10 is not a code MQTT 5.0 allows there: it must be one of 0x00, 0x92",
    ),
    # SUBSCRIBE and friends
    Misuse(
        "empty SUBSCRIBE",
        Subscribe(1, ()),
        V5,
        ValueError,
        "Subscribe subscriptions is empty: a packet must carry at least one subscription",
    ),
    Misuse(
        "subscriptions not a tuple",
        Subscribe(1, "a/b"),
        V5,
        TypeError,  # type: ignore[arg-type]
        "Subscribe subscriptions must be a tuple, got 'a/b'",
    ),
    Misuse(
        "subscription not a Subscription",
        Subscribe(1, (("a", 1),)),
        V5,
        TypeError,  # type: ignore[arg-type]
        "Subscribe subscriptions[0] must be a Subscription, got ('a', 1)",
    ),
    Misuse(
        "subscription QoS 3",
        Subscribe(1, (Subscription("a", 3),)),
        V5,
        ValueError,
        "Subscribe subscriptions[0].qos=3 is out of range",
    ),
    Misuse(
        "retain handling 3",
        Subscribe(1, (Subscription("a", retain_handling=3),)),
        V5,  # type: ignore[arg-type]
        ValueError,
        "Subscribe subscriptions[0].retain_handling=3 is out of range",
    ),
    Misuse(
        "no local in 3.1.1",
        Subscribe(1, (Subscription("a", no_local=True),)),
        V311,
        ValueError,
        "Subscribe subscriptions[0] sets no_local=True, retain_as_published=False, "
        "retain_handling=0: these options exist only in MQTT 5.0",
    ),
    Misuse(
        "retain handling in 3.1",
        Subscribe(1, (Subscription("a", retain_handling=RetainHandling.DO_NOT_SEND),)),
        V31,
        ValueError,
        "retain_handling=2: these options exist only in MQTT 5.0",
    ),
    Misuse(
        "two subscription identifiers",
        Subscribe(1, (Subscription("a"),), Properties(subscription_identifiers=(1, 2))),
        V5,
        ValueError,
        "has 2 values, but SUBSCRIBE may carry at most one",
    ),
    Misuse(
        "filter with a lone surrogate",
        Subscribe(1, (Subscription("\udfff"),)),
        V5,
        ValueError,
        "Subscribe subscriptions[0].topic_filter='\\udfff' is not valid MQTT UTF-8",
    ),
    Misuse("empty SUBACK", SubAck(1, ()), V5, ValueError, "SubAck reason_codes is empty"),
    Misuse(
        "SUBACK 3.1.1 reason of 5.0",
        SubAck(1, (0x87,)),
        V311,
        ValueError,
        "SubAck reason_codes[0]=0x87 is not a code MQTT 3.1.1 allows there",
    ),
    Misuse(
        "empty UNSUBSCRIBE",
        Unsubscribe(1, ()),
        V311,
        ValueError,
        "Unsubscribe topic_filters is empty: a packet must carry at least one topic filter",
    ),
    Misuse(
        "UNSUBSCRIBE filter not text",
        Unsubscribe(1, (b"a",)),
        V311,
        TypeError,  # type: ignore[arg-type]
        "Unsubscribe topic_filters[0] must be a str, got b'a'",
    ),
    Misuse(
        "UNSUBACK codes in 3.1.1",
        UnsubAck(1, (0,)),
        V311,
        ValueError,
        "UnsubAck reason_codes=(0,) cannot be sent: MQTT 3.1.1 UNSUBACK has no reason codes",
    ),
    Misuse(
        "empty UNSUBACK in 5.0", UnsubAck(1, ()), V5, ValueError, "UnsubAck reason_codes is empty"
    ),
    Misuse(
        "UNSUBACK unknown reason",
        UnsubAck(1, (0x10,)),
        V5,
        ValueError,
        "UnsubAck reason_codes[0]=0x10 is not a code MQTT 5.0 allows there",
    ),
    # DISCONNECT, AUTH, the packet itself
    Misuse(
        "DISCONNECT reason in 3.1.1",
        Disconnect(0x82),
        V311,
        ValueError,
        "Disconnect reason_code=130 cannot be sent: MQTT 3.1.1 DISCONNECT has no reason code",
    ),
    Misuse(
        "DISCONNECT properties in 3.1.1",
        Disconnect(properties=Properties(reason_string="x")),
        V311,
        ValueError,
        "DISCONNECT has properties",
    ),
    Misuse(
        "DISCONNECT unknown reason",
        Disconnect(0x84),
        V5,
        ValueError,
        "Disconnect reason_code=0x84 is not a code MQTT 5.0 allows there",
    ),
    Misuse(
        "AUTH in 3.1.1",
        Auth(),
        V311,
        ValueError,
        "Auth cannot be sent: AUTH exists only in MQTT 5.0 (the protocol version is 3.1.1)",
    ),
    Misuse(
        "AUTH property of CONNACK",
        Auth(0x18, Properties(server_keep_alive=1)),
        V5,
        ValueError,
        "property server_keep_alive is not allowed in AUTH",
    ),
    Misuse(
        "not a packet",
        ("t", b""),
        V5,
        TypeError,
        "cannot encode ('t', b''): it is not an MQTT packet",
    ),
    Misuse(
        "version as text", PubAck(1), "5", TypeError, "version must be a ProtocolVersion, got '5'"
    ),
    Misuse("version 6", PubAck(1), 6, ValueError, "version=6 is not a protocol version"),
    Misuse("PUBLISH version 6", Publish("t"), 6, ValueError, "version=6 is not a protocol version"),
]


@pytest.mark.parametrize("case", MISUSE, ids=lambda case: case.name)
def test_encode_misuse_names_the_value_and_the_rule(case: Misuse) -> None:
    with pytest.raises(case.error) as caught:
        encode(case.packet, case.version)  # type: ignore[arg-type]
    assert case.message in str(caught.value)


def test_a_huge_message_is_shortened_in_errors() -> None:
    with pytest.raises(ValueError) as caught:
        encode(Publish("\x00" * 100_000), V5)
    assert len(str(caught.value)) < 200
    assert "(400002 characters)" in str(caught.value)


def test_flags_may_be_given_as_0_or_1() -> None:
    """The fast path of encode cannot tell 1 from True, so the checked path accepts both too."""
    with_ints = Publish("t", b"", qos=1, retain=1, dup=1, packet_id=1)  # type: ignore[arg-type]
    with_props = with_ints._replace(properties=Properties(content_type="c"))
    assert encode(with_ints, V5)[0] == 0x3B
    assert encode(with_props, V5)[0] == 0x3B
    assert encode(Connect("c", clean_start=0), V5)[9] == 0x00  # type: ignore[arg-type]


def test_a_rejected_packet_is_not_remembered_as_valid() -> None:
    """A topic is cached only once it has been checked: a bad one fails every time."""
    for _ in range(2):
        with pytest.raises(ValueError, match="U\\+0000"):
            encode(Publish("bad\x00topic"), V5)


def test_every_misuse_case_is_a_packet_or_a_deliberate_non_packet() -> None:
    packets: tuple[type, ...] = Packet.__args__  # type: ignore[attr-defined]
    non_packets = [case.name for case in MISUSE if not isinstance(case.packet, packets)]
    assert non_packets == ["not a packet"]


@pytest.mark.parametrize(("byte", "code"), [(0x87, 0x87), (0x8F, 0x8F), (0xFE, 0xFE)])
def test_a_311_suback_refusal_code_311_does_not_define_is_still_a_refusal(
    byte: int, code: int
) -> None:
    decoder = Decoder(version=V311)
    decoder.feed(bytes([0x90, 0x04, 0x00, 0x01, 0x01, byte]))
    packet = decoder.next_packet()
    assert packet == SubAck(1, (1, code))
    assert isinstance(packet, SubAck) and packet.reason_codes[1] >= 0x80
