"""BrokerConfig: every setting checked once, with a message naming it; TimerQueue."""

from __future__ import annotations

import math

import pytest

from asyncmqtt.protocol.broker_config import Action, BrokerConfig, Redirect
from asyncmqtt.protocol.timers import TimerQueue


def test_the_defaults() -> None:
    config = BrokerConfig()
    assert config.max_connections is None
    assert config.max_queued_messages == 1000
    assert config.queue_qos0_offline is False
    assert config.receive_maximum == 65535
    assert config.topic_alias_maximum == 10
    assert config.maximum_qos == 2
    assert config.connect_timeout == 10.0
    assert Redirect("host").permanent is False
    assert Action.PUBLISH.value == "publish"


@pytest.mark.parametrize(
    ("settings", "error", "match"),
    [
        ({"max_connections": -1}, ValueError, "max_connections"),
        ({"max_connections": "1"}, TypeError, "max_connections"),
        ({"max_queued_messages": -1}, ValueError, "max_queued_messages"),
        ({"queue_qos0_offline": 1}, TypeError, "queue_qos0_offline"),
        ({"maximum_packet_size": 1}, ValueError, "maximum_packet_size"),
        ({"receive_maximum": 0}, ValueError, "receive_maximum"),
        ({"topic_alias_maximum": 65536}, ValueError, "topic_alias_maximum"),
        ({"maximum_qos": 3}, ValueError, "maximum_qos"),
        ({"retain_available": None}, TypeError, "retain_available"),
        ({"shared_subscription_available": "no"}, TypeError, "shared_subscription"),
        ({"max_keep_alive": 0}, ValueError, "max_keep_alive"),
        ({"max_session_expiry_interval": 2**32}, ValueError, "max_session_expiry"),
        ({"max_inflight_messages": 0}, ValueError, "max_inflight_messages"),
        ({"connect_timeout": 0}, ValueError, "connect_timeout"),
        ({"connect_timeout": math.nan}, ValueError, "connect_timeout"),
        ({"connect_timeout": "1"}, TypeError, "connect_timeout"),
        ({"connect_timeout": True}, TypeError, "connect_timeout"),
        ({"response_information": 1}, TypeError, "response_information"),
        ({"response_information": "a\x00"}, ValueError, "response_information"),
        ({"response_information": "\ud800"}, ValueError, "lone surrogate"),
        ({"assigned_client_id_prefix": "x" * 60001}, ValueError, "assigned_client_id"),
        ({"assigned_client_id_prefix": None}, TypeError, "assigned_client_id_prefix"),
        ({"authenticate": "yes"}, TypeError, "authenticate must be callable"),
        ({"redirect": 1}, TypeError, "redirect must be callable"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        BrokerConfig(**settings)  # type: ignore[arg-type]


def test_good_settings_are_kept() -> None:
    config = BrokerConfig(
        max_connections=0,
        maximum_packet_size=2,
        max_keep_alive=65535,
        max_session_expiry_interval=0,
        connect_timeout=0.5,
        response_information="r/",
        authenticate=lambda *_: None,
    )
    assert config.maximum_packet_size == 2
    assert config.connect_timeout == 0.5


def test_timer_queue() -> None:
    timers: TimerQueue[str] = TimerQueue()
    assert timers.next_deadline() is None
    assert timers.pop_due(100.0) == []
    timers.schedule(5.0, "b")
    timers.schedule(1.0, "a")
    timers.schedule(5.0, "c")  # same time: in the order scheduled
    assert len(timers) == 3
    assert timers.next_deadline() == 1.0
    assert timers.pop_due(0.5) == []
    assert timers.pop_due(5.0) == ["a", "b", "c"]
    assert len(timers) == 0
