"""A publish whose caller already got an exception still ends visibly, later.

A QoS 1/2 publish that times out after it was written raises ``MqttTimeoutError`` carrying
``outcome``; the message stays in the session. When it later fails (here: the broker lost the
session and the policy is "fail"), ``await outcome`` raises the reason and a WARNING on logger
"asyncmqtt" names the topic (never the payload); when it later succeeds (resent on the next
connection with the session present), ``outcome`` gives the reason code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from fault_helpers import pending, persistent_client, settle, take, wait_until
from relay import Relay

import asyncmqtt
from asyncmqtt import Client

if TYPE_CHECKING:
    from conftest import MosquittoFactory

MakeRelay = Callable[[int], Relay]
SECRET = b"payload that must never be logged 5ec7e7"


async def time_out_in_blackhole(
    client: Client, relay: Relay, topic: str, qos: int
) -> asyncmqtt.MqttTimeoutError:
    """Inside ``client``'s block: a publish written into a blackhole times out; then cut, and
    wait for the client to notice. Returns the timeout error (its outcome is pending)."""
    reached_broker = relay.bytes_to_target
    relay.blackhole()
    with pytest.raises(asyncmqtt.MqttTimeoutError) as caught:
        await client.publish(topic, SECRET, qos=qos, timeout=0.5)
    assert relay.dropped_to_target >= len(SECRET)  # it was written...
    assert relay.bytes_to_target == reached_broker  # ...and never reached the broker
    assert isinstance(caught.value, TimeoutError)
    assert pending(caught.value.outcome)
    relay.cut()
    await wait_until(lambda: not client.is_connected, "the client to see the cut")
    return caught.value


@pytest.mark.parametrize("qos", [1, 2])
async def test_timed_out_publish_fails_later_when_the_session_is_lost(
    make_mosquitto: MosquittoFactory,
    make_relay: Callable[[int], Relay],
    topic: str,
    qos: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="asyncmqtt")
    broker = make_mosquitto()  # no persistence: a restart forgets every session
    relay = make_relay(broker.port)
    publisher = persistent_client(
        relay.host, relay.port, f"loses-its-session-q{qos}", session_lost_policy="fail"
    )
    name = f"{topic}/important"
    with pytest.raises(asyncmqtt.ConnectionLostError):  # nothing in the block saw the cut
        async with publisher:
            error = await time_out_in_blackhole(publisher, relay, name, qos)
    await asyncio.to_thread(broker.restart)
    relay.forward()
    async with Client(broker.host, broker.port) as subscriber:
        await subscriber.subscribe(f"{topic}/#", qos=qos)
        async with publisher:
            assert not publisher.session_present
            with pytest.raises(asyncmqtt.SessionLostError):
                await settle(error.outcome)
            # Not resent: the next message the subscriber sees is a later one.
            assert await publisher.publish(f"{topic}/later", b"later", qos=qos) == 0
            (message,) = await take(subscriber.messages, 1)
            assert message.topic.value == f"{topic}/later"
            assert publisher.is_connected
    failures = [
        record
        for record in caplog.records
        if record.name == "asyncmqtt"
        and record.levelno == logging.WARNING
        and name in record.getMessage()
    ]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
    assert "session" in failures[0].getMessage()
    for record in caplog.records:
        text = record.getMessage()
        assert SECRET.decode() not in text and repr(SECRET) not in text


@pytest.mark.parametrize("qos", [1, 2])
async def test_timed_out_publish_completes_in_the_background(
    make_mosquitto: MosquittoFactory,
    make_relay: Callable[[int], Relay],
    topic: str,
    qos: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncmqtt")
    broker = make_mosquitto()  # the session lives in the broker's memory across connections
    relay = make_relay(broker.port)
    publisher = persistent_client(relay.host, relay.port, f"completes-later-q{qos}")
    name = f"{topic}/important"
    async with Client(broker.host, broker.port) as subscriber:
        await subscriber.subscribe(f"{topic}/#", qos=qos)
        with pytest.raises(asyncmqtt.ConnectionLostError):
            async with publisher:
                error = await time_out_in_blackhole(publisher, relay, name, qos)
        relay.forward()
        assert pending(error.outcome)
        async with publisher:
            assert publisher.session_present
            assert await settle(error.outcome) == 0  # resent, and acknowledged this time
            (message,) = await take(subscriber.messages, 1)
            assert (message.topic.value, message.payload) == (name, SECRET)
            # Exactly once: the next message is a later one.
            await publisher.publish(f"{topic}/later", b"later", qos=qos)
            (message,) = await take(subscriber.messages, 1)
            assert message.topic.value == f"{topic}/later"
            assert publisher.is_connected
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [text for text in warnings if name in text], "a success is not a failure"
    for record in caplog.records:
        assert SECRET.decode() not in record.getMessage()
