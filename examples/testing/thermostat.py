"""A small MQTT service, and the application that examples/testing/test_thermostat.py tests.

The thermostat reads temperatures from ``home/<room>/temperature`` and publishes, for each
room, whether its heating should be on to ``home/<room>/heating`` (retained, so that a device
that starts later learns the state at once).

It keeps a persistent session and reconnects by itself, so readings published while it is
away (a broker restart, a network loss) are kept by the broker and handled when it is back.

    MQTT_HOST=localhost MQTT_PORT=1883 python examples/testing/thermostat.py
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import asyncmqtt

SETPOINT = 20.0  # °C
READINGS = "home/+/temperature"
logger = logging.getLogger("thermostat")


def make_client(host: str, port: int, **options: Any) -> asyncmqtt.Client:
    """The thermostat's client; ``options`` (any of ``Client``'s) override the defaults."""
    settings: dict[str, Any] = {
        "identifier": "thermostat",
        "clean_session": False,  # a persistent session: the broker keeps what we miss
        "reconnect": True,
    }
    settings.update(options)
    return asyncmqtt.Client(host, port, **settings)


async def run(client: asyncmqtt.Client, ready: asyncio.Event | None = None) -> None:
    """Serve on a connected client until cancelled; ``ready`` is set once subscribed."""
    await client.subscribe(READINGS, qos=1)
    if ready is not None:
        ready.set()
    async for message in client.messages:
        room = message.topic.value.split("/")[1]
        try:
            temperature = float(message.payload)
        except ValueError:
            logger.warning(
                "ignored a reading for %s that is not a number: %r", room, message.payload
            )
            continue
        heating = "on" if temperature < SETPOINT else "off"
        await client.publish(f"home/{room}/heating", heating, qos=1, retain=True)


async def main() -> None:
    host = os.environ.get("MQTT_HOST", "localhost")
    port = int(os.environ.get("MQTT_PORT", "1883"))
    username = os.environ.get("MQTT_USERNAME")
    password = os.environ.get("MQTT_PASSWORD")
    async with make_client(host, port, username=username, password=password) as client:
        await run(client)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
