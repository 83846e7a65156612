"""Golden bytes: every packet type in every protocol version, worked out by hand from the spec.

Each case is a packet and its exact bytes, commented group by group. ``encode(packet) == bytes``
and decoding the bytes (on the side that receives that packet) gives the packet back. A few
cases are decode-only: longer forms a peer may send that our encoder never writes.

Properties are written in ascending identifier order (the order of ``PROPERTY_SPECS``).
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

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
    Subscription,
    UnsubAck,
    Unsubscribe,
    WillMessage,
)
from asyncmqtt.protocol.properties import NO_PROPERTIES, Properties

V31 = ProtocolVersion.V31
V311 = ProtocolVersion.V311
V5 = ProtocolVersion.V5
V3X = (V31, V311)

CLIENT = "client"  # the client sends it: a server-side decoder reads it
SERVER = "server"  # the server sends it: a client-side decoder reads it
BOTH = "both"


class Case(NamedTuple):
    name: str
    packet: Packet
    versions: tuple[ProtocolVersion, ...]
    sender: str
    data: bytes
    canonical: bool = True  # False: decode-only, encode writes a shorter form


CASES = [
    # ------------------------------------------------------------------------------ CONNECT
    Case(
        "CONNECT 3.1 minimal",
        Connect("abc", clean_start=True, keep_alive=60, protocol_version=V31),
        (V31,),
        CLIENT,
        b"\x10\x11"  # CONNECT, remaining length 17
        b"\x00\x06MQIsdp"  # protocol name of MQTT 3.1
        b"\x03"  # protocol level 3
        b"\x02"  # connect flags: clean session
        b"\x00\x3c"  # keep alive 60 s
        b"\x00\x03abc",  # client identifier
    ),
    Case(
        "CONNECT 3.1.1 minimal",
        Connect("abc", clean_start=True, keep_alive=60, protocol_version=V311),
        (V311,),
        CLIENT,
        b"\x10\x0f"  # CONNECT, remaining length 15
        b"\x00\x04MQTT"  # protocol name
        b"\x04"  # protocol level 4
        b"\x02"  # connect flags: clean session
        b"\x00\x3c"  # keep alive 60 s
        b"\x00\x03abc",  # client identifier
    ),
    Case(
        "CONNECT 3.1.1 with will, user name and password",
        Connect(
            "c",
            clean_start=False,
            keep_alive=10,
            username="u",
            password=b"pw",
            will=WillMessage("w", b"x", qos=1, retain=True),
            protocol_version=V311,
        ),
        (V311,),
        CLIENT,
        b"\x10\x1a"  # CONNECT, remaining length 26
        b"\x00\x04MQTT\x04"  # protocol name, level 4
        b"\xec"  # flags: user name 0x80, password 0x40, will retain 0x20, will QoS 1, will 0x04
        b"\x00\x0a"  # keep alive 10 s
        b"\x00\x01c"  # client identifier
        b"\x00\x01w"  # will topic
        b"\x00\x01x"  # will payload
        b"\x00\x01u"  # user name
        b"\x00\x02pw",  # password
    ),
    Case(
        "CONNECT 5.0 with properties, will properties and a password alone",
        Connect(
            "id",
            clean_start=True,
            keep_alive=30,
            password=b"s",
            will=WillMessage(
                "t",
                b"",
                properties=Properties(payload_format_indicator=1, will_delay_interval=60),
            ),
            protocol_version=V5,
            properties=Properties(
                session_expiry_interval=3600,
                request_problem_information=False,
                receive_maximum=20,
                user_properties=(("k", "v"),),
            ),
        ),
        (V5,),
        CLIENT,
        b"\x10\x30"  # CONNECT, remaining length 48
        b"\x00\x04MQTT\x05"  # protocol name, level 5
        b"\x46"  # flags: password 0x40 (5.0 allows it without a user name), will, clean start
        b"\x00\x1e"  # keep alive 30 s
        b"\x11"  # property length 17
        b"\x11\x00\x00\x0e\x10"  # session expiry interval 3600 (four byte integer)
        b"\x17\x00"  # request problem information: false (byte 0/1)
        b"\x21\x00\x14"  # receive maximum 20 (two byte integer)
        b"\x26\x00\x01k\x00\x01v"  # user property k=v (string pair)
        b"\x00\x02id"  # client identifier
        b"\x07"  # will property length 7
        b"\x01\x01"  # payload format indicator 1 (byte)
        b"\x18\x00\x00\x00\x3c"  # will delay interval 60
        b"\x00\x01t"  # will topic
        b"\x00\x00"  # will payload, empty
        b"\x00\x01s",  # password
    ),
    Case(
        "CONNECT 5.0 with the authentication and limit properties",
        Connect(
            "",
            keep_alive=0,
            username="me",
            protocol_version=V5,
            properties=Properties(
                authentication_method="M",
                authentication_data=b"\x00\xff",
                request_response_information=True,
                topic_alias_maximum=10,
                maximum_packet_size=65536,
            ),
        ),
        (V5,),
        CLIENT,
        b"\x10\x24"  # CONNECT, remaining length 36
        b"\x00\x04MQTT\x05"  # protocol name, level 5
        b"\x82"  # flags: user name, clean start
        b"\x00\x00"  # keep alive off
        b"\x13"  # property length 19
        b"\x15\x00\x01M"  # authentication method "M" (UTF-8 string)
        b"\x16\x00\x02\x00\xff"  # authentication data (binary data)
        b"\x19\x01"  # request response information: true
        b"\x22\x00\x0a"  # topic alias maximum 10
        b"\x27\x00\x01\x00\x00"  # maximum packet size 65536
        b"\x00\x00"  # client identifier, empty
        b"\x00\x02me",  # user name
    ),
    # ------------------------------------------------------------------------------ CONNACK
    Case(
        "CONNACK 3.1.x accepted, session present",
        ConnAck(True, ConnectReturnCode.ACCEPTED),
        V3X,
        SERVER,
        b"\x20\x02"  # CONNACK, remaining length 2
        b"\x01"  # acknowledge flags: session present
        b"\x00",  # return code 0, accepted
    ),
    Case(
        "CONNACK 3.1.x refused",
        ConnAck(False, ConnectReturnCode.NOT_AUTHORIZED),
        V3X,
        SERVER,
        b"\x20\x02\x00"  # CONNACK, remaining length 2, no session
        b"\x05",  # return code 5, not authorized
    ),
    Case(
        "CONNACK 5.0 refused",
        ConnAck(False, ConnAckReasonCode.NOT_AUTHORIZED),
        (V5,),
        SERVER,
        b"\x20\x03\x00"  # CONNACK, remaining length 3, no session
        b"\x87"  # reason code 0x87 not authorized
        b"\x00",  # property length 0 (CONNACK always carries it)
    ),
    Case(
        "CONNACK 5.0 with server limits",
        ConnAck(
            False,
            ConnAckReasonCode.SUCCESS,
            Properties(
                assigned_client_identifier="x",
                server_keep_alive=20,
                topic_alias_maximum=5,
                maximum_qos=1,
                retain_available=False,
                maximum_packet_size=1024,
            ),
        ),
        (V5,),
        SERVER,
        b"\x20\x16"  # CONNACK, remaining length 22
        b"\x00\x00"  # no session, success
        b"\x13"  # property length 19
        b"\x12\x00\x01x"  # assigned client identifier "x"
        b"\x13\x00\x14"  # server keep alive 20
        b"\x22\x00\x05"  # topic alias maximum 5
        b"\x24\x01"  # maximum QoS 1
        b"\x25\x00"  # retain available: false
        b"\x27\x00\x00\x04\x00",  # maximum packet size 1024
    ),
    # ------------------------------------------------------------------------------ PUBLISH
    Case(
        "PUBLISH 3.1.x QoS 0",
        Publish("a/b", b"hi"),
        V3X,
        BOTH,
        b"\x30\x07"  # PUBLISH, QoS 0, remaining length 7
        b"\x00\x03a/b"  # topic name
        b"hi",  # payload
    ),
    Case(
        "PUBLISH 3.1.x QoS 1 with DUP and RETAIN",
        Publish("a/b", b"hi", qos=1, retain=True, dup=True, packet_id=10),
        V3X,
        BOTH,
        b"\x3b\x09"  # PUBLISH with DUP 0x08, QoS 1 0x02, RETAIN 0x01; remaining length 9
        b"\x00\x03a/b"  # topic name
        b"\x00\x0a"  # packet identifier 10
        b"hi",  # payload
    ),
    Case(
        "PUBLISH 3.1.x QoS 2, empty payload, largest packet identifier",
        Publish("t", b"", qos=2, packet_id=65535),
        V3X,
        BOTH,
        b"\x34\x05"  # PUBLISH, QoS 2 0x04, remaining length 5
        b"\x00\x01t"  # topic name
        b"\xff\xff",  # packet identifier 65535; no payload
    ),
    Case(
        "PUBLISH 3.1.x with a two-byte remaining length",
        Publish("t", b"z" * 200),
        V3X,
        BOTH,
        b"\x30\xcb\x01"  # PUBLISH, remaining length 203 = 0x4B + 1 * 128
        b"\x00\x01t" + b"z" * 200,  # topic name, payload
    ),
    Case(
        "PUBLISH 5.0 QoS 0, no properties",
        Publish("a/b", b"hi"),
        (V5,),
        BOTH,
        b"\x30\x08"  # PUBLISH, QoS 0, remaining length 8
        b"\x00\x03a/b"  # topic name
        b"\x00"  # property length 0
        b"hi",  # payload
    ),
    Case(
        "PUBLISH 5.0 QoS 1, no properties",
        Publish("sensors/room1/temperature", b"x" * 64, qos=1, packet_id=1234),
        (V5,),
        BOTH,
        b"\x32\x5e"  # PUBLISH, QoS 1, remaining length 94
        b"\x00\x19sensors/room1/temperature"  # topic name (25 bytes)
        b"\x04\xd2"  # packet identifier 1234
        b"\x00" + b"x" * 64,  # property length 0, payload
    ),
    Case(
        "PUBLISH 5.0 from the server, every PUBLISH property, topic by alias",
        Publish(
            "",
            b"\x01\x02",
            qos=1,
            packet_id=1,
            properties=Properties(
                payload_format_indicator=0,
                message_expiry_interval=30,
                content_type="c",
                response_topic="r",
                correlation_data=b"\xaa",
                subscription_identifiers=(1, 200),
                topic_alias=7,
                user_properties=(("a", "1"), ("a", "2")),
            ),
        ),
        (V5,),
        SERVER,
        b"\x32\x30"  # PUBLISH, QoS 1, remaining length 48
        b"\x00\x00"  # topic name empty: the topic alias names it
        b"\x00\x01"  # packet identifier 1
        b"\x29"  # property length 41
        b"\x01\x00"  # payload format indicator 0
        b"\x02\x00\x00\x00\x1e"  # message expiry interval 30
        b"\x03\x00\x01c"  # content type
        b"\x08\x00\x01r"  # response topic
        b"\x09\x00\x01\xaa"  # correlation data
        b"\x0b\x01"  # subscription identifier 1 (variable byte integer)
        b"\x0b\xc8\x01"  # subscription identifier 200 = 0x48 + 1 * 128
        b"\x23\x00\x07"  # topic alias 7
        b"\x26\x00\x01a\x00\x011"  # user property a=1
        b"\x26\x00\x01a\x00\x012"  # user property a=2 (names repeat, order kept)
        b"\x01\x02",  # payload
    ),
    # ----------------------------------------------------------------- PUBACK .. PUBCOMP
    Case("PUBACK 3.1.x", PubAck(1), V3X, BOTH, b"\x40\x02\x00\x01"),  # type 4, length 2, id 1
    Case("PUBREC 3.1.x", PubRec(1), V3X, BOTH, b"\x50\x02\x00\x01"),  # type 5
    Case("PUBREL 3.1.x", PubRel(1), V3X, BOTH, b"\x62\x02\x00\x01"),  # type 6, flags 0b0010
    Case("PUBCOMP 3.1.x", PubComp(1), V3X, BOTH, b"\x70\x02\x00\x01"),  # type 7
    Case(
        "PUBACK 5.0 success: shortest form",
        PubAck(1, PubAckReasonCode.SUCCESS),
        (V5,),
        BOTH,
        b"\x40\x02"  # PUBACK, remaining length 2: reason 0 and no properties, both left out
        b"\x00\x01",  # packet identifier 1
    ),
    Case(
        "PUBACK 5.0 success, written in full",
        PubAck(1),
        (V5,),
        BOTH,
        b"\x40\x04\x00\x01"  # PUBACK, remaining length 4, packet identifier 1
        b"\x00"  # reason code 0
        b"\x00",  # property length 0
        canonical=False,
    ),
    Case(
        "PUBACK 5.0 reason without properties",
        PubAck(1, PubAckReasonCode.NO_MATCHING_SUBSCRIBERS),
        (V5,),
        BOTH,
        b"\x40\x03\x00\x01"  # PUBACK, remaining length 3, packet identifier 1
        b"\x10",  # reason 0x10 no matching subscribers; no property length
    ),
    Case(
        "PUBACK 5.0 failure with properties",
        PubAck(
            1,
            PubAckReasonCode.UNSPECIFIED_ERROR,
            Properties(reason_string="no", user_properties=(("x", "y"),)),
        ),
        (V5,),
        BOTH,
        b"\x40\x10\x00\x01"  # PUBACK, remaining length 16, packet identifier 1
        b"\x80"  # reason 0x80 unspecified error
        b"\x0c"  # property length 12
        b"\x1f\x00\x02no"  # reason string
        b"\x26\x00\x01x\x00\x01y",  # user property
    ),
    Case(
        "PUBREC 5.0 reason",
        PubRec(4, PubRecReasonCode.QUOTA_EXCEEDED),
        (V5,),
        BOTH,
        b"\x50\x03\x00\x04\x97",  # PUBREC, length 3, packet identifier 4, quota exceeded
    ),
    Case(
        "PUBREL 5.0 reason",
        PubRel(2, PubRelReasonCode.PACKET_IDENTIFIER_NOT_FOUND),
        (V5,),
        BOTH,
        b"\x62\x03\x00\x02\x92",  # PUBREL (flags 0b0010), length 3, id 2, id not found
    ),
    Case(
        "PUBCOMP 5.0 success",
        PubComp(3, PubCompReasonCode.SUCCESS),
        (V5,),
        BOTH,
        b"\x70\x02\x00\x03",  # PUBCOMP, length 2, packet identifier 3
    ),
    # ---------------------------------------------------------------------------- SUBSCRIBE
    Case(
        "SUBSCRIBE 3.1.x",
        Subscribe(10, (Subscription("a/+", 1), Subscription("#", 2))),
        V3X,
        CLIENT,
        b"\x82\x0c"  # SUBSCRIBE (flags 0b0010), remaining length 12
        b"\x00\x0a"  # packet identifier 10
        b"\x00\x03a/+\x01"  # topic filter, requested QoS 1
        b"\x00\x01#\x02",  # topic filter, requested QoS 2
    ),
    Case(
        "SUBSCRIBE 5.0 with every subscription option",
        Subscribe(
            10,
            (
                Subscription(
                    "a/+",
                    1,
                    no_local=True,
                    retain_as_published=True,
                    retain_handling=RetainHandling.DO_NOT_SEND,
                ),
            ),
            Properties(subscription_identifiers=(5,), user_properties=(("k", "v"),)),
        ),
        (V5,),
        CLIENT,
        b"\x82\x12"  # SUBSCRIBE, remaining length 18
        b"\x00\x0a"  # packet identifier 10
        b"\x09"  # property length 9
        b"\x0b\x05"  # subscription identifier 5
        b"\x26\x00\x01k\x00\x01v"  # user property
        b"\x00\x03a/+"  # topic filter
        b"\x2d",  # options: retain handling 2 << 4, retain as published 0x08, no local 0x04, QoS 1
    ),
    Case(
        "SUBSCRIBE 5.0 with two user properties (only the subscription identifier is single)",
        Subscribe(1, (Subscription("a", 0),), Properties(user_properties=(("k", "1"), ("k", "2")))),
        (V5,),
        CLIENT,
        b"\x82\x15"  # SUBSCRIBE, remaining length 21
        b"\x00\x01"  # packet identifier 1
        b"\x0e"  # property length 14
        b"\x26\x00\x01k\x00\x011"  # user property k=1
        b"\x26\x00\x01k\x00\x012"  # user property k=2
        b"\x00\x01a"  # topic filter
        b"\x00",  # options: QoS 0
    ),
    # ------------------------------------------------------------------------------- SUBACK
    Case(
        "SUBACK 3.1.x, every return code",
        SubAck(
            10,
            (
                SubAckReasonCode.GRANTED_QOS_0,
                SubAckReasonCode.GRANTED_QOS_1,
                SubAckReasonCode.GRANTED_QOS_2,
                SubAckReasonCode.UNSPECIFIED_ERROR,
            ),
        ),
        V3X,
        SERVER,
        b"\x90\x06"  # SUBACK, remaining length 6
        b"\x00\x0a"  # packet identifier 10
        b"\x00\x01\x02\x80",  # granted QoS 0, 1, 2, failure
    ),
    Case(
        "SUBACK 5.0",
        SubAck(
            10,
            (SubAckReasonCode.GRANTED_QOS_1, SubAckReasonCode.NOT_AUTHORIZED),
            Properties(reason_string="r"),
        ),
        (V5,),
        SERVER,
        b"\x90\x09"  # SUBACK, remaining length 9
        b"\x00\x0a"  # packet identifier 10
        b"\x04\x1f\x00\x01r"  # property length 4: reason string
        b"\x01\x87",  # granted QoS 1, not authorized
    ),
    # -------------------------------------------------------------------------- UNSUBSCRIBE
    Case(
        "UNSUBSCRIBE 3.1.x",
        Unsubscribe(11, ("a/b", "c")),
        V3X,
        CLIENT,
        b"\xa2\x0a"  # UNSUBSCRIBE (flags 0b0010), remaining length 10
        b"\x00\x0b"  # packet identifier 11
        b"\x00\x03a/b"  # topic filter
        b"\x00\x01c",  # topic filter
    ),
    Case(
        "UNSUBSCRIBE 5.0",
        Unsubscribe(11, ("a",), Properties(user_properties=(("k", "v"),))),
        (V5,),
        CLIENT,
        b"\xa2\x0d"  # UNSUBSCRIBE, remaining length 13
        b"\x00\x0b"  # packet identifier 11
        b"\x07\x26\x00\x01k\x00\x01v"  # property length 7: user property
        b"\x00\x01a",  # topic filter
    ),
    # ----------------------------------------------------------------------------- UNSUBACK
    Case(
        "UNSUBACK 3.1.x",
        UnsubAck(11),
        V3X,
        SERVER,
        b"\xb0\x02\x00\x0b",  # UNSUBACK, remaining length 2, packet identifier 11
    ),
    Case(
        "UNSUBACK 5.0",
        UnsubAck(11, (UnsubAckReasonCode.SUCCESS, UnsubAckReasonCode.NO_SUBSCRIPTION_EXISTED)),
        (V5,),
        SERVER,
        b"\xb0\x05\x00\x0b"  # UNSUBACK, remaining length 5, packet identifier 11
        b"\x00"  # property length 0
        b"\x00\x11",  # success, no subscription existed
    ),
    # ----------------------------------------------------------------------- PINGREQ, PINGRESP
    Case("PINGREQ", PingReq(), (*V3X, V5), CLIENT, b"\xc0\x00"),  # type 12, no body
    Case("PINGRESP", PingResp(), (*V3X, V5), SERVER, b"\xd0\x00"),  # type 13, no body
    # --------------------------------------------------------------------------- DISCONNECT
    Case("DISCONNECT 3.1.x", Disconnect(), V3X, CLIENT, b"\xe0\x00"),  # type 14, no body
    Case(
        "DISCONNECT 5.0 normal: shortest form",
        Disconnect(),
        (V5,),
        BOTH,
        b"\xe0\x00",  # remaining length 0: reason 0, no properties
    ),
    Case(
        "DISCONNECT 5.0 normal, written in full",
        Disconnect(DisconnectReasonCode.NORMAL_DISCONNECTION),
        (V5,),
        BOTH,
        b"\xe0\x02\x00\x00",  # remaining length 2: reason 0, property length 0
        canonical=False,
    ),
    Case(
        "DISCONNECT 5.0 reason without properties",
        Disconnect(DisconnectReasonCode.SESSION_TAKEN_OVER),
        (V5,),
        SERVER,
        b"\xe0\x01\x8e",  # remaining length 1: reason 0x8E session taken over
    ),
    Case(
        "DISCONNECT 5.0 with properties",
        Disconnect(
            DisconnectReasonCode.DISCONNECT_WITH_WILL_MESSAGE,
            Properties(session_expiry_interval=0, server_reference="s", reason_string="bye"),
        ),
        (V5,),
        BOTH,
        b"\xe0\x11"  # DISCONNECT, remaining length 17
        b"\x04"  # reason 0x04 disconnect with will message
        b"\x0f"  # property length 15
        b"\x11\x00\x00\x00\x00"  # session expiry interval 0
        b"\x1c\x00\x01s"  # server reference
        b"\x1f\x00\x03bye",  # reason string
    ),
    # --------------------------------------------------------------------------------- AUTH
    Case(
        "AUTH 5.0 success: shortest form",
        Auth(),
        (V5,),
        BOTH,
        b"\xf0\x00",  # AUTH, remaining length 0: reason 0, no properties
    ),
    Case(
        "AUTH 5.0 continue, with method and data",
        Auth(
            AuthReasonCode.CONTINUE_AUTHENTICATION,
            Properties(authentication_method="SCRAM", authentication_data=b"\x01"),
        ),
        (V5,),
        BOTH,
        b"\xf0\x0e"  # AUTH, remaining length 14
        b"\x18"  # reason 0x18 continue authentication
        b"\x0c"  # property length 12
        b"\x15\x00\x05SCRAM"  # authentication method
        b"\x16\x00\x01\x01",  # authentication data
    ),
    Case(
        "AUTH 5.0 reason without properties keeps its property length",
        Auth(AuthReasonCode.RE_AUTHENTICATE),
        (V5,),
        BOTH,
        b"\xf0\x02\x19\x00",  # remaining length 2: reason 0x19 re-authenticate, no properties
    ),
    Case(
        "AUTH 5.0 reason alone, read like DISCONNECT",
        Auth(AuthReasonCode.RE_AUTHENTICATE),
        (V5,),
        BOTH,
        b"\xf0\x01\x19",  # remaining length 1: the property length is left out
        canonical=False,
    ),
    Case(
        "PUBLISH 3.1.x with a remaining length that uses more bytes than it needs",
        Publish("t", b""),
        V3X,
        BOTH,
        b"\x30\x83\x80\x00"  # remaining length 3, written in three bytes (accepted)
        b"\x00\x01t",  # topic name
        canonical=False,
    ),
]


def expand(cases: list[Case]) -> list[tuple[Case, ProtocolVersion]]:
    return [(case, version) for case in cases for version in case.versions]


def case_id(value: object) -> str:
    if isinstance(value, Case):
        return value.name
    return f"v{int(value)}"  # type: ignore[call-overload]


def receivers(case: Case) -> list[bool]:
    """The server_side values of the decoders that receive this packet."""
    return {CLIENT: [True], SERVER: [False], BOTH: [True, False]}[case.sender]


def decode_one(data: bytes, version: ProtocolVersion, *, server_side: bool) -> Packet:
    if server_side and data[0] >> 4 == 1:
        decoder = Decoder(server_side=True)  # a CONNECT: the decoder learns the version
    else:
        decoder = Decoder(version=version, server_side=server_side)
    decoder.feed(data)
    packet = decoder.next_packet()
    assert packet is not None
    assert decoder.next_packet() is None  # and nothing else was in there
    if isinstance(packet, Connect):
        assert decoder.version is version
    return packet


@pytest.mark.parametrize(
    ("case", "version"), expand([c for c in CASES if c.canonical]), ids=case_id
)
def test_encode_writes_the_golden_bytes(case: Case, version: ProtocolVersion) -> None:
    assert encode(case.packet, version).hex(" ") == case.data.hex(" ")


@pytest.mark.parametrize(("case", "version"), expand(CASES), ids=case_id)
def test_decode_reads_the_golden_packet(case: Case, version: ProtocolVersion) -> None:
    for server_side in receivers(case):
        decoded = decode_one(case.data, version, server_side=server_side)
        assert decoded == case.packet
        assert type(decoded) is type(case.packet)


def test_every_packet_type_has_golden_bytes_in_every_version() -> None:
    covered = {(type(case.packet), version) for case in CASES for version in case.versions}
    for cls in (
        Connect,
        ConnAck,
        Publish,
        PubAck,
        PubRec,
        PubRel,
        PubComp,
        Subscribe,
        SubAck,
        Unsubscribe,
        UnsubAck,
        PingReq,
        PingResp,
        Disconnect,
    ):
        for version in (V31, V311, V5):
            assert (cls, version) in covered, (cls.__name__, version)
    assert (Auth, V5) in covered


def test_decoded_3_1_x_acknowledgements_carry_the_success_members() -> None:
    """3.1.x has no reason codes: the decoder fills the enum's success member, no properties."""
    acks = {
        b"\x40\x02\x00\x01": PubAckReasonCode.SUCCESS,
        b"\x50\x02\x00\x01": PubRecReasonCode.SUCCESS,
        b"\x62\x02\x00\x01": PubRelReasonCode.SUCCESS,
        b"\x70\x02\x00\x01": PubCompReasonCode.SUCCESS,
    }
    for data, success in acks.items():
        packet = decode_one(data, V311, server_side=False)
        assert packet.reason_code is success  # type: ignore[union-attr]
        assert packet.properties is NO_PROPERTIES  # type: ignore[union-attr]
    disconnect = decode_one(b"\xe0\x00", V311, server_side=True)
    assert disconnect == Disconnect()
    assert disconnect.reason_code is DisconnectReasonCode.NORMAL_DISCONNECTION  # type: ignore[union-attr]
    connack = decode_one(b"\x20\x02\x00\x05", V31, server_side=False)
    assert connack.reason_code is ConnectReturnCode.NOT_AUTHORIZED  # type: ignore[union-attr]


def test_packets_without_properties_share_the_empty_value() -> None:
    """Property length 0 gives the shared NO_PROPERTIES: the common case allocates nothing."""
    publish = decode_one(b"\x30\x08\x00\x03a/b\x00hi", V5, server_side=False)
    assert publish.properties is NO_PROPERTIES  # type: ignore[union-attr]
    slow_path = decode_one(b"\x32\x0a\x00\x03a/b\x00\x01\x00hi", V5, server_side=False)
    assert slow_path.properties is NO_PROPERTIES  # type: ignore[union-attr]
    suback = decode_one(b"\x90\x04\x00\x01\x00\x00", V5, server_side=False)
    assert suback.properties is NO_PROPERTIES  # type: ignore[union-attr]
