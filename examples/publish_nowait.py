"""Publish without waiting for each acknowledgement: many at once, or a sliding window."""

import asyncio
import collections
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def main():
    async with aiomqtt.Client(HOST, port=PORT) as client:
        # Fire a thousand QoS 1 messages, then await every outcome.
        outcomes = [
            client.publish_nowait("measurements/counter", payload=n, qos=1) for n in range(1000)
        ]
        results = await asyncio.gather(*outcomes, return_exceptions=True)
        failed = [result for result in results if isinstance(result, aiomqtt.MqttError)]
        print(f"{len(results) - len(failed)} acknowledged, {len(failed)} failed")
        # A sliding window: at most 20 waiting for their acknowledgement at any time.
        window = collections.deque()
        for n in range(1000):
            if len(window) == 20:
                await window.popleft()  # raises the MqttError of a failed one
            window.append(client.publish_nowait("measurements/window", payload=n, qos=1))
        await asyncio.gather(*window)
        print("window: all 1000 acknowledged")


asyncio.run(main())
