"""Acknowledge each message once it is handled: one left unacknowledged comes again."""

import asyncio
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def main():
    # manual_ack: QoS 1/2 messages are acknowledged when message.ack() is called. A fixed
    # identifier and a persistent session: the broker keeps what was not acknowledged.
    worker = aiomqtt.Client(
        HOST, port=PORT, identifier="resizer", clean_session=False, manual_ack=True
    )
    async with worker:
        await worker.subscribe("jobs/resize", qos=1)
        async with aiomqtt.Client(HOST, port=PORT) as producer:
            for photo in ("photo-1.jpg", "photo-2.jpg"):
                await producer.publish("jobs/resize", photo, qos=1)
        job = await anext(worker.messages)
        print(f"resized {job.payload.decode()}")
        await job.ack()
        job = await anext(worker.messages)
        print(f"left before resizing {job.payload.decode()}: not acknowledged")
    # Back in the same session, the broker delivers the unacknowledged message again.
    async with worker:
        job = await anext(worker.messages)
        print(f"delivered again: {job.payload.decode()}")
        print(f"resized {job.payload.decode()}")
        await job.ack()


asyncio.run(main())
