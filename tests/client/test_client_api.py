"""The public names: what aiomqtt 2.x code imports, and what asyncmqtt adds."""

from __future__ import annotations

import asyncmqtt

AIOMQTT_NAMES = {
    "Client",
    "Message",
    "MqttCodeError",
    "MqttError",
    "MqttReentrantError",
    "ProtocolVersion",
    "ProxySettings",
    "TLSParameters",
    "Topic",
    "TopicLike",
    "Wildcard",
    "WildcardLike",
    "Will",
}


def test_aiomqtt_names_are_all_there() -> None:
    assert set(asyncmqtt.__all__) >= AIOMQTT_NAMES
    assert isinstance(asyncmqtt.__all__, tuple)


def test_every_public_name_exists_once() -> None:
    assert len(set(asyncmqtt.__all__)) == len(asyncmqtt.__all__)
    for name in asyncmqtt.__all__:
        assert getattr(asyncmqtt, name) is not None


def test_the_exception_tree() -> None:
    for name in (
        "MqttCodeError",
        "MqttConnectError",
        "MqttReentrantError",
        "MqttTimeoutError",
        "ConnectionLostError",
        "PublishWithdrawnError",
        "SessionLostError",
        "ProtocolError",
    ):
        assert issubclass(getattr(asyncmqtt, name), asyncmqtt.MqttError)
    assert issubclass(asyncmqtt.MqttTimeoutError, TimeoutError)


def test_values_match_aiomqtt() -> None:
    assert [int(v) for v in asyncmqtt.ProtocolVersion] == [3, 4, 5]
    assert [int(q) for q in asyncmqtt.QoS] == [0, 1, 2]
    assert asyncmqtt.CLEAN_START_FIRST_ONLY == 3


def test_session_lost_policy_is_a_client_choice() -> None:
    policy = asyncmqtt.SessionLostPolicy
    assert asyncmqtt.Client("h")._options.config.session_lost_policy is policy.RESEND
    for given in (policy.FAIL, "fail"):
        client = asyncmqtt.Client("h", session_lost_policy=given)  # type: ignore[arg-type]
        assert client._options.config.session_lost_policy is policy.FAIL
