"""Subscribe and iterate over client.messages (here: until three messages arrived)."""

import asyncio
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def main():
    async with aiomqtt.Client(HOST, port=PORT) as client:
        granted = await client.subscribe("measurements/#", qos=1)
        print(f"subscribed, granted QoS {granted}")
        # Publishing to ourselves, so that this example has something to receive.
        for value in (0.38, 0.39, 0.41):
            await client.publish("measurements/humidity", payload=value, qos=1)
        received = 0
        async for message in client.messages:
            if message.topic.matches("measurements/humidity"):
                print(f"humidity: {message.payload.decode()}")
            received += 1
            if received == 3:
                break


asyncio.run(main())
