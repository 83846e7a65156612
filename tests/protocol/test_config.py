"""ClientConfig: checked once when made, immutable, and derived for another protocol version."""

from __future__ import annotations

import dataclasses

import pytest

from asyncmqtt.protocol.config import ClientConfig, SessionLostPolicy, replace_properties
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import WillMessage
from asyncmqtt.protocol.properties import NO_PROPERTIES, Properties

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311


def test_defaults_make_a_clean_first_connect() -> None:
    config = ClientConfig(client_id="c")
    assert config.v5 and config.resumes_after_first
    assert config.connect_packet.client_id == "c"
    assert config.connect_packet.clean_start is True
    assert config.connect_packet.properties == NO_PROPERTIES


def test_limits_are_fields_and_go_into_connect_properties() -> None:
    config = ClientConfig(
        receive_maximum=10,
        maximum_packet_size=1000,
        topic_alias_maximum=5,
        properties=Properties(session_expiry_interval=60),
    )
    assert config.properties == Properties(session_expiry_interval=60)
    assert config.connect_packet.properties == Properties(
        session_expiry_interval=60,
        receive_maximum=10,
        maximum_packet_size=1000,
        topic_alias_maximum=5,
    )


def test_a_config_is_immutable() -> None:
    config = ClientConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.keep_alive = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"outgoing_topic_aliases": 1}, TypeError, "outgoing_topic_aliases must be a bool"),
        ({"manual_ack": "yes"}, TypeError, "manual_ack must be a bool"),
        ({"strict_receive_maximum": 0}, TypeError, "strict_receive_maximum must be a bool"),
        ({"session_lost_policy": "fail"}, TypeError, "session_lost_policy must be a"),
        ({"topic_alias_maximum": -1}, ValueError, "topic_alias_maximum=-1"),
        (
            {"properties": Properties(authentication_method="TOKEN")},
            ValueError,
            "authentication_method is not a CONNECT property to give: .*authenticator=",
        ),
        (
            {"properties": Properties(authentication_data=b"t")},
            ValueError,
            "authentication_data is not a CONNECT property",
        ),
    ],
)
def test_bad_settings_are_refused(options: dict[str, object], error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        ClientConfig(**options)  # type: ignore[arg-type]


def test_for_version_311_leaves_out_what_311_cannot_carry() -> None:
    will = WillMessage("w", b"x", properties=Properties(will_delay_interval=5))
    config = ClientConfig(
        client_id="c",
        clean_start=False,
        properties=Properties(session_expiry_interval=60),
        receive_maximum=10,
        topic_alias_maximum=3,
        maximum_packet_size=500,
        session_lost_policy=SessionLostPolicy.FAIL,
        will=will,
    )
    old = config.for_version(V311)
    assert old.protocol_version is V311 and not old.v5
    assert old.properties == NO_PROPERTIES
    assert old.will == will._replace(properties=NO_PROPERTIES)
    assert (old.receive_maximum, old.topic_alias_maximum) == (65535, 0)
    # What 3.1.1 keeps: our own size limit (enforced locally), policies, the identity.
    assert old.maximum_packet_size == 500
    assert old.session_lost_policy is SessionLostPolicy.FAIL
    assert (old.client_id, old.clean_start) == ("c", False)
    assert old.connect_packet.protocol_version is V311


def test_for_version_keeps_a_will_without_properties_and_the_same_version() -> None:
    config = ClientConfig(will=WillMessage("w", b"x"))
    assert config.for_version(V311).will == WillMessage("w", b"x")
    assert config.for_version(V5) == config


def test_first_only_means_clean_every_time_in_311() -> None:
    assert not ClientConfig(protocol_version=V311).resumes_after_first
    assert not ClientConfig(clean_start=True).resumes_after_first


class Method:
    def __init__(self, method: object = "SCRAM-SHA-256") -> None:
        self.method = method

    def initial_data(self) -> bytes | None:
        return None

    def challenge(self, data: bytes | None) -> bytes | None:
        return None

    def complete(self, data: bytes | None) -> None:
        return None


def test_enhanced_authentication_cannot_be_left_out_for_311() -> None:
    with pytest.raises(ValueError, match=r"enhanced authentication need MQTT 5\.0"):
        ClientConfig(authenticator=Method()).for_version(V311)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", [None, "", b"SCRAM"])
def test_an_authenticator_needs_a_method_name(method: object) -> None:
    with pytest.raises(TypeError, match=r"has method="):
        ClientConfig(authenticator=Method(method))  # type: ignore[arg-type]


def test_an_authenticator_needs_its_three_methods() -> None:
    class Partial:
        method = "TEST"

        def initial_data(self) -> bytes | None:
            return None

        challenge = None

    with pytest.raises(TypeError, match=r"has no method challenge\(\)"):
        ClientConfig(authenticator=Partial())  # type: ignore[arg-type]


def test_a_method_name_mqtt_cannot_carry_fails_when_configured() -> None:
    with pytest.raises(ValueError, match=r"authentication_method=.*U\+0000"):
        ClientConfig(authenticator=Method("SCRAM\x00"))  # type: ignore[arg-type]
    config = ClientConfig(authenticator=Method(), receive_maximum=10)  # type: ignore[arg-type]
    # (The method is not part of the stored CONNECT: each connection asks the authenticator.)
    assert config.connect_packet.properties == Properties(receive_maximum=10)


def test_replace_properties_changes_and_removes_values() -> None:
    props = Properties(session_expiry_interval=5, content_type="a")
    assert replace_properties(props, content_type=None) == Properties(session_expiry_interval=5)
    assert replace_properties(props, session_expiry_interval=9).session_expiry_interval == 9
