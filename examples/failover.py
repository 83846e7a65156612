"""Failover and redirects, with three embedded brokers standing in for a cluster.

The client names a primary broker and a failover one. When the primary goes down, the client
reconnects to the failover broker by itself. When a broker sends it elsewhere (an MQTT 5
DISCONNECT 0x9D, Server moved, with a Server Reference), it follows, and remembers.
"""

import asyncio

import asyncmqtt
from asyncmqtt.broker import Broker, Redirect


async def main() -> None:
    async with Broker(port=0) as primary, Broker(port=0) as backup, Broker(port=0) as spare:
        names = {
            (primary.host, primary.port): "primary",
            (backup.host, backup.port): "backup",
            (spare.host, spare.port): "spare",
        }
        client = asyncmqtt.Client(
            primary.host,
            primary.port,
            identifier="sensor-7",
            failover_servers=[(backup.host, backup.port)],  # tried in order after the primary
            reconnect=asyncmqtt.Reconnect(initial_delay=0.1, jitter=False),
        )
        async with client:
            await client.subscribe("alerts", qos=1)
            print(f"connected to {names[client.server_address]}")

            await primary.close()  # the primary goes down
            await client.publish("alerts", "still here", qos=1)  # waits for the reconnection
            message = await anext(client.messages)
            print(f"{names[client.server_address]}: received {message.payload!r}")

            # The backup's operator moves its clients to the spare, for good.
            spare_reference = f"{spare.host}:{spare.port}"
            backup.disconnect("sensor-7", redirect=Redirect(spare_reference, permanent=True))
            await client.publish("alerts", "moved", qos=1)
            message = await anext(client.messages)
            print(f"{names[client.server_address]}: received {message.payload!r}")

        # A new connection: the primary is still down, and the backup's entry is the spare now.
        async with client:
            print(f"connected again to {names[client.server_address]}")


asyncio.run(main())
