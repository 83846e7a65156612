"""Logging and client.stats: what a client tells the people who operate it."""

import asyncio
import logging
import os

import asyncmqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def main():
    # The library logs to the "asyncmqtt" logger and configures nothing: the application
    # decides. INFO shows the few records that matter to an operator.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    async with asyncmqtt.Client(HOST, port=PORT, identifier="sensor-1") as client:
        await client.subscribe("measurements/#", qos=1)
        for value in (0.38, 0.39, 0.41):
            await client.publish("measurements/humidity", value, qos=1)
        await client.publish("measurements/pressure", 1013)
        for _ in range(4):
            await anext(client.messages)
        # Counters since the client was made, and depths now: always on, no setup.
        stats = client.stats
        print(f"sent by QoS: {stats.messages_sent}, received: {stats.messages_received}")
        print(f"acknowledged: {stats.publishes_acknowledged}, refused: {stats.publishes_refused}")
        print(f"connections: {stats.connections}, lost: {stats.connection_losses}")
        print(f"in flight: {stats.in_flight}, waiting to be read: {stats.queued_incoming}")
        # Everything at once, e.g. for a health endpoint or a periodic log line.
        print(sorted(stats.as_dict()))


asyncio.run(main())
