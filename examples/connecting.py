"""Connect to a broker and publish one message (seed: "Connecting to the broker")."""

import asyncio
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def main():
    async with aiomqtt.Client(HOST, port=PORT) as client:
        await client.publish("temperature/outside", payload=28.4)


asyncio.run(main())
