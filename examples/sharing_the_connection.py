"""Share one connection by passing the client around (seed: "Sharing the connection")."""

import asyncio
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def publish_temperature(client):
    await client.publish("temperature/outside", payload=28.4)


async def publish_humidity(client):
    await client.publish("humidity/inside", payload=0.38)


async def main():
    async with aiomqtt.Client(HOST, port=PORT) as client:
        await publish_temperature(client)
        await publish_humidity(client)
        # Tasks can share it at the same time, too.
        await asyncio.gather(publish_temperature(client), publish_humidity(client))


asyncio.run(main())
