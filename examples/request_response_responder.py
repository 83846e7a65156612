"""A service that answers MQTT 5 requests: it adds up the numbers each request carries.

Runs until stopped (Ctrl-C). Try it with examples/request_response_requester.py, or with
mosquitto's own tool: mosquitto_rr -t services/adder -e replies/me -m "[1, 2]"
"""

import asyncio
import contextlib
import json
import os

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


async def main() -> None:
    client = aiomqtt.Client(HOST, port=PORT, identifier="adder", reconnect=True)
    async with client, client.subscription("services/adder", qos=1) as requests:
        print("ready", flush=True)
        async for request in requests:
            try:
                total = sum(json.loads(request.payload))
            except (ValueError, TypeError):
                # An error is a response too: say it in a user property.
                error = aiomqtt.Properties(user_properties=(("error", "bad numbers"),))
                await client.respond(request, b"", properties=error)
                continue
            await client.respond(request, json.dumps(total))


with contextlib.suppress(KeyboardInterrupt):
    asyncio.run(main())
