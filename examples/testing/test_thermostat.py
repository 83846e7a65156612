"""The thermostat's tests, on a broker the pytest plugin of asyncmqtt starts for each test.

    pytest examples/testing                          # the embedded broker
    pytest examples/testing --mqtt-broker=mosquitto  # the same tests against mosquitto

Fixtures from the plugin: ``mqtt_broker`` (a fresh broker per test), ``mqtt_client`` (a client
connected to it), ``mqtt_broker_factory`` (a broker with settings or hooks) and
``mqtt_broker_kind``. Every wait below is bounded by ``asyncio.timeout``: a broken thermostat
fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from thermostat import make_client, run

import asyncmqtt
from asyncmqtt.broker import Broker
from asyncmqtt.pytest_plugin import BrokerFactory, MqttBroker

TIMEOUT = 5.0  # seconds: a safety net, never a way to wait for something


@contextlib.asynccontextmanager
async def running_thermostat(broker: MqttBroker, **options: Any) -> AsyncIterator[None]:
    """The thermostat serving on ``broker`` for the duration of the block."""
    async with make_client(broker.host, broker.port, **options) as client:
        ready = asyncio.Event()
        service = asyncio.create_task(run(client, ready))
        try:
            async with asyncio.timeout(TIMEOUT):
                await ready.wait()  # subscribed: readings published from now on reach it
            yield
        finally:
            service.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await service


async def next_payload(client: asyncmqtt.Client) -> tuple[str, str]:
    async with asyncio.timeout(TIMEOUT):
        message = await anext(client.messages)
    return message.topic.value, message.payload.decode()


@pytest.fixture
async def thermostat(mqtt_broker: MqttBroker) -> AsyncIterator[None]:
    async with running_thermostat(mqtt_broker):
        yield


async def test_heating_follows_the_temperature(
    thermostat: None, mqtt_client: asyncmqtt.Client
) -> None:
    await mqtt_client.subscribe("home/+/heating", qos=1)
    await mqtt_client.publish("home/kitchen/temperature", "18.5", qos=1)
    assert await next_payload(mqtt_client) == ("home/kitchen/heating", "on")
    await mqtt_client.publish("home/kitchen/temperature", "21", qos=1)
    assert await next_payload(mqtt_client) == ("home/kitchen/heating", "off")


async def test_a_device_that_starts_later_gets_the_state(
    thermostat: None, mqtt_broker: MqttBroker, mqtt_client: asyncmqtt.Client
) -> None:
    await mqtt_client.subscribe("home/hall/heating", qos=1)
    await mqtt_client.publish("home/hall/temperature", "16", qos=1)
    assert await next_payload(mqtt_client) == ("home/hall/heating", "on")
    # A new client subscribing now gets the retained state at once.
    async with asyncmqtt.Client(mqtt_broker.host, mqtt_broker.port) as device:
        await device.subscribe("home/hall/heating", qos=1)
        async with asyncio.timeout(TIMEOUT):
            message = await anext(device.messages)
        assert (message.payload, message.retain) == (b"on", True)


async def test_a_reading_that_is_not_a_number_is_logged_and_ignored(
    thermostat: None, mqtt_client: asyncmqtt.Client, caplog: pytest.LogCaptureFixture
) -> None:
    await mqtt_client.subscribe("home/+/heating", qos=1)
    await mqtt_client.publish("home/attic/temperature", "warm", qos=1)
    await mqtt_client.publish("home/attic/temperature", "25", qos=1)
    # Messages of one topic arrive in order: "off" comes after "warm" was dealt with.
    assert await next_payload(mqtt_client) == ("home/attic/heating", "off")
    assert "not a number: b'warm'" in caplog.text


async def test_a_wrong_password_stops_it_at_once(mqtt_broker_factory: BrokerFactory) -> None:
    def authenticate(client_id: str, username: str | None, password: bytes | None) -> int | None:
        return None if (username, password) == ("thermostat", b"secret") else 0x86

    broker = await mqtt_broker_factory(authenticate=authenticate)
    async with running_thermostat(broker, username="thermostat", password="secret"):
        pass
    # reconnect=True does not retry a refusal that retrying cannot fix.
    with pytest.raises(asyncmqtt.MqttConnectError) as refused:
        async with running_thermostat(broker, username="thermostat", password="guess"):
            pass
    assert refused.value.rc == 0x86  # Bad user name or password


async def test_readings_sent_during_a_broker_restart_are_handled(
    mqtt_broker: MqttBroker, mqtt_broker_kind: str
) -> None:
    if not isinstance(mqtt_broker, Broker):
        pytest.skip(f"restart() is the embedded broker's; this run uses {mqtt_broker_kind}")
    quick = asyncmqtt.Reconnect(initial_delay=0.05, jitter=False)
    async with running_thermostat(mqtt_broker, reconnect=quick):
        # Every client is disconnected; sessions stay (in memory) and the thermostat comes
        # back to its own, where the broker kept the reading published in between.
        await mqtt_broker.restart()
        async with asyncmqtt.Client(mqtt_broker.host, mqtt_broker.port) as sensor:
            await sensor.subscribe("home/+/heating", qos=1)
            await sensor.publish("home/cellar/temperature", "12", qos=1)
            assert await next_payload(sensor) == ("home/cellar/heating", "on")
    assert mqtt_broker.stats.messages_dropped == 0
