"""Publish with each QoS, retained, with MQTT 5 properties, and see a refusal."""

import asyncio
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def main():
    async with aiomqtt.Client(HOST, port=PORT) as client:
        # QoS 0: returns once the message is handed to the network.
        await client.publish("measurements/humidity", payload=0.38)
        # QoS 1 and 2: return once the broker acknowledged, with its reason code.
        code = await client.publish("measurements/humidity", payload=0.39, qos=1)
        print(f"QoS 1 acknowledged: {code!r}")
        await client.publish("measurements/humidity", payload=0.40, qos=2)
        # Retained: the broker keeps the last one for future subscribers.
        await client.publish("measurements/latest", payload="0.40", qos=1, retain=True)
        # MQTT 5 properties are typed values.
        properties = aiomqtt.Properties(content_type="text/plain", message_expiry_interval=60)
        await client.publish("measurements/note", "dry today", qos=1, properties=properties)
        # Payloads: str, bytes, bytearray, int, float or None.
        for payload in ("text", b"\x00\x01", 42, 3.5, None):
            await client.publish("measurements/kinds", payload)
        # Bad input raises at the call, before anything is sent.
        try:
            await client.publish("measurements/#", payload="no wildcards in topic names")
        except ValueError as error:
            print(f"refused locally: {error}")
        # Clear the retained message again.
        await client.publish("measurements/latest", payload=None, qos=1, retain=True)


asyncio.run(main())
