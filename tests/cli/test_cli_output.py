"""How ``asyncmqtt sub`` (and ``req``) show a message: text, verbose, JSON."""

from __future__ import annotations

import base64
import json

from asyncmqtt import Message, Properties
from asyncmqtt.cli._output import message_json, message_line, payload_text, properties_json


def test_a_utf8_payload_is_shown_as_text() -> None:
    assert payload_text("21.5 °C\nnext line".encode()) == "21.5 °C\nnext line"
    assert payload_text(b"") == ""


def test_other_payloads_are_shown_in_hex_and_marked() -> None:
    assert payload_text(b"\x00\xff\x10") == "<3 bytes, not UTF-8: 00ff10>"
    long = bytes(range(256)) * 2
    shown = payload_text(long)
    assert shown.startswith("<512 bytes, not UTF-8: 000102")
    assert shown.endswith("...>")
    assert len(shown) < 200


def test_the_plain_line_is_the_payload() -> None:
    message = Message("a/b", b"hello", 1, True, 7)
    assert message_line(message, verbose=False) == "hello"


def test_the_verbose_line_has_topic_qos_retain_and_properties() -> None:
    properties = Properties(
        content_type="application/json",
        response_topic="re ply",
        correlation_data=b"\xff\x02",
        user_properties=(("source", "cli"), ("who am", 'i"')),
        subscription_identifiers=(3, 9),
    )
    message = Message("a/b", b'{"x": 1}', 1, True, 7, properties)
    assert message_line(message, verbose=True) == (
        'a/b qos=1 retain=1 content_type=application/json response_topic="re ply" '
        'correlation_data="<2 bytes, not UTF-8: ff02>" subscription_identifiers=3,9 '
        'user:source=cli user:"who am"="i\\"" {"x": 1}'
    )
    plain = Message("t", b"x", 0, False, 0)
    assert message_line(plain, verbose=True) == "t qos=0 retain=0 x"
    control = Message("t", b"x", 0, False, 0, Properties(content_type="a\x01b"))
    assert message_line(control, verbose=True) == 't qos=0 retain=0 content_type="a\\u0001b" x'


def test_json_carries_every_field() -> None:
    properties = Properties(
        content_type="text/plain",
        message_expiry_interval=30,
        correlation_data=b"id-1",
        user_properties=(("k", "v"), ("k", "w")),
        payload_format_indicator=1,
    )
    record = json.loads(message_json(Message("a/b", "héllo", 2, False, 3, properties)))
    assert record == {
        "topic": "a/b",
        "payload": "héllo",
        "qos": 2,
        "retain": False,
        "properties": {
            "payload_format_indicator": 1,
            "message_expiry_interval": 30,
            "content_type": "text/plain",
            "correlation_data": "id-1",
            "user_properties": [["k", "v"], ["k", "w"]],
        },
    }


def test_json_carries_binary_as_base64() -> None:
    data = bytes(range(250, 256))
    properties = Properties(correlation_data=b"\xff")
    record = json.loads(message_json(Message("t", data, 0, True, 0, properties)))
    assert "payload" not in record
    assert base64.b64decode(record["payload_base64"]) == data
    assert record["properties"] == {"correlation_data_base64": "/w=="}
    assert record["retain"] is True
    assert "properties" not in json.loads(message_json(Message("t", b"", 0, False, 0)))


def test_properties_json_lists_what_is_set() -> None:
    assert properties_json(Properties()) == {}
    assert properties_json(Properties(subscription_identifiers=(1,))) == {
        "subscription_identifiers": [1]
    }
