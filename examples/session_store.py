"""A meter that keeps its MQTT session in a file, so that a crash loses none of its readings.

It publishes ten readings at QoS 2. Kill it (even with kill -9) and run it again: the readings
the broker had not acknowledged go out first, exactly once, then ten new ones.
"""

import asyncio
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))
STORE = os.environ.get("MQTT_STORE", "meter.mqtt.db")


async def main():
    # One process at a time may use the file; the application closes it (here: `with`).
    with aiomqtt.SQLiteStore(STORE) as store:
        async with aiomqtt.Client(
            HOST,
            port=PORT,
            identifier="meter-1",
            session_store=store,
            reconnect=True,
            # The broker keeps its half of the session for an hour after a crash.
            properties=aiomqtt.Properties(session_expiry_interval=3600),
        ) as client:
            print(f"connected as {client.identifier}")
            outcomes = []
            for reading in range(1, 11):
                payload = f"reading {reading}"
                outcomes.append(client.publish_nowait("meter/energy", payload, qos=2))
                await asyncio.sleep(0.2)
                print(f"{payload} handed to the client")
            await asyncio.gather(*outcomes)
            print("all 10 readings acknowledged")


asyncio.run(main())
