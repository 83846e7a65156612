"""The MQTT 5 property table and the checks ``Properties`` makes on construction."""

from __future__ import annotations

import pytest

from asyncmqtt.protocol.enums import PacketType
from asyncmqtt.protocol.packets import PubAck, Publish, PubRec
from asyncmqtt.protocol.properties import (
    NO_PROPERTIES,
    PROPERTY_SPECS,
    PROPERTY_SPECS_BY_NAME,
    WILL,
    Properties,
    PropertyId,
    PropertyType,
)


def test_the_table_has_every_property_of_the_specification() -> None:
    assert set(PROPERTY_SPECS) == set(PropertyId)
    assert len(PROPERTY_SPECS) == 27
    # Spot checks against MQTT 5.0 section 2.2.2.2.
    assert PROPERTY_SPECS[0x26].repeatable and PROPERTY_SPECS[0x0B].repeatable
    assert PROPERTY_SPECS[0x23].packets == {PacketType.PUBLISH}
    assert PROPERTY_SPECS[0x18].packets == {WILL}
    assert PROPERTY_SPECS[0x0B].type is PropertyType.VARIABLE_BYTE_INT
    assert PROPERTY_SPECS_BY_NAME["receive_maximum"].minimum == 1
    assert PROPERTY_SPECS_BY_NAME["maximum_qos"].maximum == 1


@pytest.mark.parametrize(
    ("values", "error", "text"),
    [
        ({"topic_alias": 0}, ValueError, "topic_alias=0 is out of range: it must be between 1"),
        ({"message_expiry_interval": 2**32}, ValueError, "between 0 and 4294967295"),
        ({"receive_maximum": 70000}, ValueError, "between 1 and 65535"),
        ({"maximum_qos": 2}, ValueError, "between 0 and 1"),
        ({"payload_format_indicator": 3}, ValueError, "between 0 and 1"),
        ({"subscription_identifiers": (0,)}, ValueError, "between 1 and 268435455"),
        ({"message_expiry_interval": "5"}, TypeError, "must be an int"),
        ({"message_expiry_interval": True}, TypeError, "must be an int"),
        ({"retain_available": 1}, TypeError, "must be a bool"),
        ({"content_type": b"x"}, TypeError, "must be a str"),
        ({"correlation_data": "x"}, TypeError, "must be bytes"),
        ({"user_properties": [("a", "b")]}, TypeError, "must be a tuple"),
        ({"user_properties": (("a",),)}, TypeError, "pair of str"),
        ({"user_properties": (("a", 1),)}, TypeError, "pair of str"),
        ({"user_properties": ("ab",)}, TypeError, "pair of str"),
    ],
)
def test_bad_values_raise_naming_the_property(
    values: dict[str, object], error: type, text: str
) -> None:
    with pytest.raises(error, match=text) as info:
        Properties(**values)  # type: ignore[arg-type]
    assert next(iter(values)) in str(info.value)


def test_present_lists_set_properties_in_table_order() -> None:
    props = Properties(
        user_properties=(("k", "v"), ("k", "w")),
        message_expiry_interval=0,
        retain_available=False,
    )
    assert [(spec.name, value) for spec, value in props.present()] == [
        ("message_expiry_interval", 0),
        ("retain_available", False),
        ("user_properties", (("k", "v"), ("k", "w"))),
    ]
    assert props
    assert repr(props) == (
        "Properties(message_expiry_interval=0, retain_available=False, "
        "user_properties=(('k', 'v'), ('k', 'w')))"
    )


def test_empty_properties_are_false() -> None:
    assert not NO_PROPERTIES
    assert not Properties()
    assert Properties() == NO_PROPERTIES
    assert repr(NO_PROPERTIES) == "Properties()"


def test_packets_compare_by_type_as_well_as_fields() -> None:
    assert PubAck(1) == PubAck(1)
    assert PubAck(1) != PubRec(1)
    assert PubAck(1) != (1, 0, NO_PROPERTIES)
    assert PubAck(1).__ne__(PubAck(1)) is False
    assert hash(PubAck(1)) == hash(PubAck(1))
    assert hash(PubAck(1)) != hash(PubRec(1))
    assert len({Publish("a"), Publish("a"), Publish("b")}) == 2
