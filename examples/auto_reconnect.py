"""Reconnect automatically: the message loop carries on when the connection comes back.

Runs until a message with the payload "stop" arrives on measurements/control.
"""

import asyncio
import logging
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def main():
    # The client logs each lost connection and each reconnection: show them.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    async with aiomqtt.Client(HOST, port=PORT, reconnect=True) as client:
        await client.subscribe("measurements/#")
        print("connected and subscribed", flush=True)
        async for message in client.messages:
            if message.topic.matches("measurements/control"):
                if message.payload == b"stop":
                    return
            else:
                print(f"{message.topic}: {message.payload.decode()}", flush=True)


asyncio.run(main())
