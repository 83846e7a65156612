"""Publish whether or not the broker is reachable: what is published while the connection is
down waits in the client, and goes out in order when it is back.

Publishes a reading every 0.2 s, twenty in all, then waits until the broker has them all.
"""

import asyncio
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def main():
    async with aiomqtt.Client(HOST, port=PORT, reconnect=True) as client:
        outcomes = []
        for reading in range(1, 21):
            # Never waits: queued while the client is disconnected, sent when it is back.
            outcomes.append(client.publish_nowait("measurements/counter", reading, qos=1))
            state = "connected" if client.is_connected else "disconnected: queued"
            print(f"reading {reading} ({state})")
            await asyncio.sleep(0.2)
        await asyncio.gather(*outcomes)
        print("the broker acknowledged all 20 readings")


asyncio.run(main())
