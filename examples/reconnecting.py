"""Reconnect when the connection is lost: enter the same client again.

Runs until a message with the payload "stop" arrives on measurements/control.
"""

import asyncio
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))
RECONNECT_INTERVAL = 1  # seconds


async def main():
    client = aiomqtt.Client(HOST, port=PORT)
    while True:
        try:
            async with client:
                await client.subscribe("measurements/#")
                print("connected and subscribed", flush=True)
                async for message in client.messages:
                    if message.topic.matches("measurements/control"):
                        if message.payload == b"stop":
                            return
                    else:
                        print(f"{message.topic}: {message.payload.decode()}", flush=True)
        except aiomqtt.MqttError as error:
            print(f'Error "{error}". Reconnecting in {RECONNECT_INTERVAL} s.', flush=True)
            await asyncio.sleep(RECONNECT_INTERVAL)


asyncio.run(main())
