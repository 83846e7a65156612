"""The embedded broker: an MQTT broker inside your own program, nothing to install.

It starts on a free port, carries messages between clients, publishes and retains messages of
its own, and keeps persistent sessions across a restart (in memory: gone with the process).
"""

import asyncio

import asyncmqtt
from asyncmqtt.broker import Broker


async def main() -> None:
    async with Broker(host="127.0.0.1", port=0) as broker:  # port 0: any free port
        print(f"listening on {broker.url}")  # mqtt://127.0.0.1:<the port it got>
        async with asyncmqtt.Client(broker.host, broker.port) as client:
            await client.subscribe("greetings/#", qos=1)
            await client.publish("greetings/en", "hello", qos=1)
            message = await anext(client.messages)
            print(f"{message.topic}: {message.payload.decode()}")

        # The broker publishes too, here a retained message for every later subscriber.
        broker.publish("status/broker", "up", qos=1, retain=True)

        # A persistent session (a fixed identifier, clean_session=False) subscribes, goes away...
        logger = asyncmqtt.Client(
            broker.host, broker.port, identifier="logger", clean_session=False
        )
        async with logger:
            await logger.subscribe("alerts/#", qos=1)
        broker.publish("alerts/door", "open", qos=1)  # ...and misses this one.

        # A restart disconnects every client; sessions and retained messages stay in memory.
        await broker.restart()
        print(f"sessions kept: {sorted(broker.core.sessions)}")
        async with logger:
            print(f"session present: {logger.session_present}")
            message = await anext(logger.messages)
            print(f"queued while away: {message.topic} = {message.payload.decode()}")
            await logger.subscribe("status/#", qos=1)
            message = await anext(logger.messages)
            print(f"retained: {message.topic} = {message.payload.decode()}")
    # Stopped. Nothing was written anywhere: the state lived in this Broker object only.


asyncio.run(main())
