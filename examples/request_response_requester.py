"""Ask the adder service (examples/request_response_responder.py) to add numbers up."""

import asyncio
import json
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def add(client: aiomqtt.Client, *numbers: object) -> object:
    response = await client.request("services/adder", json.dumps(numbers), timeout=5)
    for name, value in response.properties.user_properties:
        if name == "error":
            raise ValueError(value)
    return json.loads(response.payload)


async def main() -> None:
    async with aiomqtt.Client(HOST, port=PORT) as client:
        print("1 + 2 + 3 =", await add(client, 1, 2, 3))
        # Concurrent requests: each response is matched to its request.
        totals = await asyncio.gather(*(add(client, n, n) for n in range(1, 6)))
        print("doubles:", totals)
        try:
            await add(client, "one", "two")
        except ValueError as error:
            print("refused:", error)
        try:
            await client.request("services/nobody", b"[]", timeout=5)
        except aiomqtt.MqttCodeError as error:
            print("no such service:", error)


asyncio.run(main())
