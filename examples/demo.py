"""A subscriber and three publishers sharing one connection; ends by itself.

Every publisher sends a few measurements at QoS 1; the subscriber prints what arrives until it
has seen them all.
"""

import asyncio
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))
SENSORS = {"humidity": [0.38, 0.39, 0.41], "temperature": [28.3, 28.4], "pressure": [1013, 1012]}


async def publish_readings(client, sensor, readings):
    for reading in readings:
        await client.publish(f"demo/{sensor}", payload=reading, qos=1)
        await asyncio.sleep(0.2)


async def print_readings(client, expected):
    async for message in client.messages:
        print(f"{message.topic}: {message.payload.decode()}")
        expected -= 1
        if expected == 0:
            return


async def main():
    async with aiomqtt.Client(HOST, port=PORT) as client:
        print(f"connected to {HOST}:{PORT} with MQTT {client.protocol.name}")
        await client.subscribe("demo/#", qos=1)
        expected = sum(len(readings) for readings in SENSORS.values())
        async with asyncio.TaskGroup() as group:
            group.create_task(print_readings(client, expected))
            for sensor, readings in SENSORS.items():
                group.create_task(publish_readings(client, sensor, readings))
    print(f"received all {expected} readings; done")


asyncio.run(main())
