"""Route messages to handlers by topic, with parameters taken from the topic.

A home's sensors publish to home/{room}/temperature and home/{room}/{device}/battery; a
handler per kind of message, and one for the logs below logs/. Publish "stop" to
home/control to end it.
"""

import asyncio
import os

import asyncmqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))

router = asyncmqtt.Router(max_concurrency=20)
stop = asyncio.Event()


@router.route("home/{room}/temperature", qos=1)
async def temperature(message: asyncmqtt.Message, room: str) -> None:
    print(f"{room}: {float(message.payload):.1f} °C")


@router.route("home/{room}/{device}/battery")
async def battery(message: asyncmqtt.Message, room: str, device: str) -> None:
    level = int(message.payload)
    if level < 20:
        print(f"{device} in the {room}: battery low ({level} %)")


@router.route("logs/{path:path}")
async def log(message: asyncmqtt.Message, path: str) -> None:
    print(f"log {path}: {message.payload.decode()}")


@router.route("home/control")
async def control(message: asyncmqtt.Message) -> None:
    if message.payload == b"stop":
        stop.set()


async def main() -> None:
    async with asyncmqtt.Client(HOST, port=PORT) as client, asyncio.TaskGroup() as tasks:
        subscribed = asyncio.Event()
        routing = tasks.create_task(router.run(client, subscribed=subscribed))
        await subscribed.wait()  # one SUBSCRIBE for all the routes
        print("routing", ", ".join(topic_filter for topic_filter, _ in router.subscriptions))
        # The sensors would publish these; here the example does.
        await client.publish("home/kitchen/temperature", 21.5, qos=1)
        await client.publish("home/hall/door/battery", 12)
        await client.publish("logs/heating/boiler", "burner on")
        await client.publish("home/control", "stop")
        await stop.wait()
        routing.cancel()


asyncio.run(main())
