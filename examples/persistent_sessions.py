"""A persistent session: the broker keeps QoS 1/2 messages while the client is away."""

import asyncio
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def main():
    # A fixed identifier, and clean_session=False: come back to the same session.
    subscriber = aiomqtt.Client(HOST, port=PORT, identifier="sensor-log", clean_session=False)
    async with subscriber:
        await subscriber.subscribe("measurements/#", qos=1)
    # While the subscriber is away, messages are published...
    async with aiomqtt.Client(HOST, port=PORT) as publisher:
        for value in (0.38, 0.39, 0.41):
            await publisher.publish("measurements/humidity", payload=value, qos=1)
    # ...and the broker delivers them when it comes back.
    async with subscriber:
        print(f"session present: {subscriber.session_present}")
        for _ in range(3):
            message = await anext(subscriber.messages)
            print(f"missed while away: {message.payload.decode()}")


asyncio.run(main())
