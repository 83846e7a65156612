"""Publish to a long topic with topic aliases: after the first message, 2 bytes stand for it."""

import asyncio
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))
TOPIC = "factory/hall-7/line-3/station-12/spindle/temperature"
READINGS = (61.2, 61.4, 61.9, 62.3)


async def publish_readings(aliases: bool) -> int:
    """Publish the readings; return how many bytes the client wrote for them."""
    async with aiomqtt.Client(HOST, port=PORT, outgoing_topic_aliases=aliases) as client:
        if aliases:
            print(f"the broker accepts {client.server.topic_alias_maximum} topic aliases")
        before = client.stats.bytes_sent
        for reading in READINGS:
            await client.publish(TOPIC, reading, qos=1)
        return client.stats.bytes_sent - before


async def main() -> None:
    async with aiomqtt.Client(HOST, port=PORT) as subscriber:
        await subscriber.subscribe("factory/#", qos=1)
        plain = await publish_readings(aliases=False)
        aliased = await publish_readings(aliases=True)
        print(f"{len(READINGS)} publishes: {plain} bytes with the topic, {aliased} with an alias")
        # The subscriber sees every message on its topic either way: the broker resolves it.
        for _ in range(2 * len(READINGS)):
            message = await anext(subscriber.messages)
            print(f"{message.topic}: {message.payload.decode()}")


asyncio.run(main())
