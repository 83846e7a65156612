"""Logging: the library's records, and what must never appear in them or in reprs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest
from client_helpers import client_for, next_message

from asyncmqtt import MqttConnectError, Will

if TYPE_CHECKING:
    from conftest import MosquittoFactory

PASSWORD = "hunter2-very-secret"
PAYLOAD = "payload-that-must-not-be-logged"


async def test_passwords_and_payloads_never_appear_in_logs_or_reprs(
    make_mosquitto: MosquittoFactory, topic: str, caplog: Any
) -> None:
    broker = make_mosquitto(anonymous=False, users={"alice": PASSWORD})
    with caplog.at_level(logging.DEBUG):
        client = client_for(
            broker, username="alice", password=PASSWORD, will=Will(f"{topic}/will", PAYLOAD)
        )
        async with client:
            await client.subscribe(topic, qos=1)
            await client.publish(topic, PAYLOAD, qos=1)
            message = await next_message(client.messages)
            texts = [repr(client), repr(message), repr(client.server)]
        with pytest.raises(MqttConnectError) as caught:
            async with client_for(broker, username="alice", password=PASSWORD + "x"):
                pass
        texts.append(str(caught.value))
    assert caplog.records, "the client logs at DEBUG"
    for text in [*texts, caplog.text]:
        assert PASSWORD not in text
    # Payloads: never above DEBUG (in fact, never at all).
    assert not any(PAYLOAD in record.getMessage() for record in caplog.records)


async def test_library_never_configures_logging(
    make_mosquitto: MosquittoFactory, topic: str
) -> None:
    logger = logging.getLogger("asyncmqtt")
    before = (logger.level, list(logger.handlers), logger.propagate)
    broker = make_mosquitto()
    async with client_for(broker) as client:
        await client.publish(topic, "x", qos=1)
    assert (logger.level, list(logger.handlers), logger.propagate) == before
    # Its only handler is the NullHandler it gets on import (records go nowhere by default,
    # not to stderr through logging's last resort); no level is set, records propagate.
    assert logger.level == logging.NOTSET and logger.propagate
    assert [type(handler) for handler in logger.handlers] == [logging.NullHandler]


async def test_a_lost_connection_is_logged_as_a_warning(
    make_mosquitto: MosquittoFactory, caplog: Any
) -> None:
    broker = make_mosquitto()
    with caplog.at_level(logging.WARNING, logger="asyncmqtt"):
        client = client_for(broker)
        async with client:
            broker.stop()
            await client._link.closed  # type: ignore[union-attr]
            with pytest.raises(Exception, match="ended"):
                await client.publish("t", "x")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("lost" in r.getMessage() for r in warnings)


async def test_info_and_above_say_what_an_operator_needs_and_little_else(
    make_mosquitto: MosquittoFactory, topic: str, caplog: Any
) -> None:
    broker = make_mosquitto()
    with caplog.at_level(logging.INFO, logger="asyncmqtt"):
        async with client_for(broker) as client:
            await client.subscribe(topic, qos=1)
            for number in range(20):
                await client.publish(topic, number, qos=1)
            for _ in range(20):
                await next_message(client.messages)
    # A busy connection: one INFO line, the connection; none per message.
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        f"connected to mqtt://127.0.0.1:{broker.port}"
    ]
