"""Waiters: futures by publish handle and packet id, and outcomes nobody waits for (offline)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from asyncmqtt import MqttCodeError, SessionLostError
from asyncmqtt._waiters import Waiters
from asyncmqtt.protocol.events import (
    Disconnected,
    PublishCompleted,
    PublishFailed,
    SubscribeCompleted,
    UnsubscribeCompleted,
)
from asyncmqtt.protocol.packets import Publish
from asyncmqtt.protocol.session import PublishHandle

LOGGER = logging.getLogger("asyncmqtt")


def handle(topic: str = "t/x", qos: int = 1) -> PublishHandle:
    return PublishHandle(Publish(topic, b"the secret payload", qos), 1)


async def test_a_waiting_publish_gets_its_event() -> None:
    waiters = Waiters(LOGGER)
    flow = handle()
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    waiters.publishes[flow] = future  # type: ignore[assignment]
    event = PublishCompleted(flow, 0)
    waiters.publish_ended(event)
    assert future.result() == event and waiters.publishes == {}


async def test_an_outcome_nobody_waits_for_is_never_silent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    waiters = Waiters(LOGGER)
    caplog.set_level(logging.DEBUG, logger="asyncmqtt")
    waiters.publish_ended(PublishCompleted(handle("t/ok"), 0))
    waiters.publish_ended(PublishCompleted(handle("t/refused"), 0x87))
    waiters.publish_ended(PublishFailed(handle("t/lost", 2), SessionLostError("session lost")))
    levels = {record.getMessage().split("(")[0]: record.levelno for record in caplog.records}
    assert levels == {
        "publish to 't/ok' completed in the background": logging.DEBUG,
        "publish to 't/refused' ": logging.WARNING,
        "publish to 't/lost' ": logging.WARNING,
    }
    assert "[code:135] the broker refused the publish to 't/refused'" in caplog.text
    assert "session lost" in caplog.text
    assert "secret" not in caplog.text  # never the payload


async def test_an_abandoned_publish_resolves_its_outcome() -> None:
    waiters = Waiters(LOGGER)
    done, refused, failed = handle("t/a"), handle("t/b"), handle("t/c")
    outcomes = [waiters.abandon(flow) for flow in (done, refused, failed)]
    waiters.publish_ended(PublishCompleted(done, 0x10))
    waiters.publish_ended(PublishCompleted(refused, 0x87))
    waiters.publish_ended(PublishFailed(failed, SessionLostError("gone")))
    assert await outcomes[0] == 0x10
    with pytest.raises(MqttCodeError) as caught:
        await outcomes[1]
    assert caught.value.rc == 0x87 and "'t/b'" in str(caught.value)
    with pytest.raises(SessionLostError, match="gone"):
        await outcomes[2]
    assert waiters.outcomes == {}


async def test_an_outcome_failure_nobody_awaits_is_not_reported_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    waiters = Waiters(LOGGER)
    flow = handle()
    outcome = waiters.abandon(flow)
    waiters.publish_ended(PublishFailed(flow, SessionLostError("gone")))
    del outcome  # never awaited: asyncio must not log "exception was never retrieved" too
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


async def test_acknowledgements_resolve_by_packet_id(caplog: pytest.LogCaptureFixture) -> None:
    waiters = Waiters(LOGGER)
    future = waiters.wait_for_ack(3)
    event = SubscribeCompleted(3, (1,))
    waiters.ack_received(event)
    assert future.result() == event
    caplog.set_level(logging.DEBUG, logger="asyncmqtt")
    waiters.ack_received(UnsubscribeCompleted(4, ()))  # nobody waits: a debug line
    assert "nobody waits" in caplog.text


async def test_the_end_of_a_connection_reaches_every_waiting_call() -> None:
    waiters = Waiters(LOGGER)
    loop = asyncio.get_running_loop()
    publish: asyncio.Future[object] = loop.create_future()
    waiters.publishes[handle()] = publish  # type: ignore[assignment]
    ack = waiters.wait_for_ack(9)
    ended = Disconnected(None)
    waiters.connection_ended(ended)
    assert publish.result() == ended and ack.result() == ended
    assert waiters.publishes == {} and waiters.acks == {}


async def test_deadlines_follow_the_running_loop() -> None:
    waiters = Waiters(LOGGER)
    loop = asyncio.get_running_loop()
    deadlines = waiters.deadlines(loop)
    assert waiters.deadlines(loop) is deadlines
    other = asyncio.new_event_loop()
    try:
        assert waiters.deadlines(other) is not deadlines
    finally:
        other.close()
