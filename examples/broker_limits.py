"""The embedded broker's limits, and what happens when each is reached.

- max_connections: one client too many is refused (CONNACK 0x97, Quota exceeded);
- max_queued_messages: a session's queue keeps its QoS 1/2 messages, and a message that finds
  it full is dropped, counted and reported (``on_event`` gets ``MessageDropped``);
- maximum_packet_size: announced to clients, which then refuse a bigger message themselves.
"""

import asyncio

import asyncmqtt
from asyncmqtt.broker import Broker, BrokerEvent, MessageDropped


async def main() -> None:
    dropped: list[MessageDropped] = []

    def on_event(event: BrokerEvent) -> None:
        if isinstance(event, MessageDropped):
            dropped.append(event)

    broker = Broker(
        port=0,
        max_connections=2,
        max_queued_messages=3,  # per session
        maximum_packet_size=1024,  # bytes
        on_event=on_event,
    )
    async with broker:
        address = (broker.host, broker.port)
        away = asyncmqtt.Client(*address, identifier="away", clean_session=False)
        async with away:
            await away.subscribe("jobs", qos=1)
        # "away" is offline: its session queues what it misses, up to 3 messages.
        async with asyncmqtt.Client(*address) as first, asyncmqtt.Client(*address) as second:
            try:
                async with asyncmqtt.Client(*address):
                    pass
            except asyncmqtt.MqttConnectError as error:
                print(f"a third connection: CONNACK {error.rc:#04x}")

            try:
                await first.publish("jobs", b"x" * 2000, qos=1)
            except ValueError as error:
                print(f"2000 bytes, refused by the client: {error}")

            for number in range(1, 6):
                await second.publish("jobs", f"job {number}", qos=1)

        print(f"dropped: {[event.publish.payload.decode() for event in dropped]}")
        print(f"broker.stats.messages_dropped: {broker.stats.messages_dropped}")
        async with away:
            for _ in range(3):
                message = await anext(away.messages)
                print(f"away gets {message.payload.decode()}")


asyncio.run(main())
