"""The asyncio-mqtt 0.x streams: one per topic filter, plus one for everything else."""

import asyncio
import contextlib
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def print_messages(messages, template, count):
    for _ in range(count):
        message = await anext(messages)
        print(template.format(message.payload.decode()))


async def main():
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(aiomqtt.Client(HOST, port=PORT))
        # Open the streams before subscribing, so that retained messages reach them too.
        humidity = await stack.enter_async_context(
            client.filtered_messages("measurements/humidity")
        )
        temperature = await stack.enter_async_context(
            client.filtered_messages("measurements/temperature")
        )
        others = await stack.enter_async_context(client.unfiltered_messages())
        await client.subscribe("measurements/#")
        await client.publish("measurements/humidity", 0.38)
        await client.publish("measurements/temperature", 28.3)
        await client.publish("measurements/pressure", 1013)
        await asyncio.gather(
            print_messages(humidity, "[humidity] {}", 1),
            print_messages(temperature, "[temperature] {}", 1),
            print_messages(others, "[unfiltered] {}", 1),
        )
        # subscription(): subscribe on enter, only matching messages, unsubscribe on exit.
        async with client.subscription("alerts/+", qos=1) as alerts:
            await client.publish("alerts/fire", "drill", qos=1)
            await print_messages(alerts, "[alert] {}", 1)


asyncio.run(main())
