"""gmqtt 0.8 as a benchmark contender (see common.py for the command line).

gmqtt's ``publish`` is a plain call that encodes and writes at once (there is nothing to
await), so its only mode hands every message to it in a loop; received messages arrive in the
``on_message`` callback. MQTT 5.0 (gmqtt's default) unless ``--protocol 4`` (3.1.1).

QoS 1/2 flow control is left to the caller: gmqtt allocates packet ids only up to the broker's
Receive Maximum and raises ``OverflowError`` when all are in flight, with no callback for
PUBACK/PUBCOMP. So the publisher catches it and yields to the event loop (``sleep(0)``, which
reads the pending acknowledgements) until an id is free: the simplest correct use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import common
import gmqtt
from gmqtt.mqtt.constants import MQTTv50, MQTTv311

CONNECT_CONCURRENCY = 100


def _version(options: common.Options) -> int:
    version: int = MQTTv50 if options.protocol == 5 else MQTTv311
    return version


OnMessage = Callable[[str, bytes, int, dict[str, Any]], None]


class _Gmqtt:
    """One gmqtt client whose subscribe can be awaited and whose messages go to ``handle``."""

    def __init__(self, identifier: str) -> None:
        self.client = gmqtt.Client(identifier)
        self.handle: OnMessage = lambda *_args: None
        self._suback: asyncio.Future[None] | None = None
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def _on_message(
        self, _client: object, topic: str, payload: bytes, qos: int, properties: dict[str, Any]
    ) -> int:
        self.handle(topic, payload, qos, properties)
        return 0  # the reason code of the acknowledgement: success

    def _on_subscribe(self, *_args: object) -> None:
        if self._suback is not None and not self._suback.done():
            self._suback.set_result(None)

    async def subscribe(self, topic: str, qos: int) -> None:
        self._suback = asyncio.get_running_loop().create_future()
        self.client.subscribe(topic, qos=qos)
        await self._suback


async def _pair(options: common.Options) -> tuple[_Gmqtt, _Gmqtt]:
    subscriber, publisher = _Gmqtt("gmqtt-sub"), _Gmqtt("gmqtt-pub")
    await subscriber.client.connect(options.host, options.port, version=_version(options))
    await subscriber.subscribe(options.topic, options.qos)
    await publisher.client.connect(options.host, options.port, version=_version(options))
    return subscriber, publisher


async def throughput(options: common.Options) -> dict[str, Any]:
    subscriber, publisher = await _pair(options)
    done = asyncio.get_running_loop().create_future()
    count = 0

    def receive(*_args: object) -> None:
        nonlocal count
        count += 1
        if count == options.n:
            done.set_result(None)

    subscriber.handle = receive
    publish = publisher.client.publish
    topic, payload, qos = options.topic, common.PAYLOAD, options.qos
    window = common.Window(options.broker_pid)
    window.start()
    for _ in range(options.n):
        while True:
            try:
                publish(topic, payload, qos=qos)
                break
            except OverflowError:  # every packet id is in flight: let PUBACKs in
                await asyncio.sleep(0)
    await asyncio.wait_for(done, options.timeout)
    window.stop()
    await publisher.client.disconnect()
    await subscriber.client.disconnect()
    return {"received": count, **window.fields(options.n)}


async def latency(options: common.Options) -> dict[str, Any]:
    count = common.send_times(options.rate, options.duration)
    subscriber, publisher = await _pair(options)
    done = asyncio.get_running_loop().create_future()
    samples: list[float] = []

    def receive(_topic: str, payload: bytes, _qos: int, _properties: object) -> None:
        samples.append(common.latency_us(payload))
        if len(samples) == count:
            done.set_result(None)

    subscriber.handle = receive
    async for _ in common.paced(options.rate, count):
        publisher.client.publish(options.topic, common.stamp_payload(), qos=options.qos)
    await asyncio.wait_for(done, options.timeout)
    await publisher.client.disconnect()
    await subscriber.client.disconnect()
    return {"n": count, **common.latency_fields(samples, count)}


async def many(options: common.Options) -> dict[str, Any]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def enter(client: _Gmqtt) -> None:
        async with gate:
            await client.client.connect(options.host, options.port, version=_version(options))

    async def round_trip(index: int, client: _Gmqtt) -> None:
        arrived = asyncio.get_running_loop().create_future()

        def receive(*_args: object) -> None:
            if not arrived.done():
                arrived.set_result(None)

        client.handle = receive
        topic = f"{options.topic}/many/{index}"
        await client.subscribe(topic, 1)
        client.client.publish(topic, common.PAYLOAD, qos=1)
        await arrived

    warm = _Gmqtt("gmqtt-warm")
    await warm.client.connect(options.host, options.port, version=_version(options))
    await round_trip(-1, warm)
    await warm.client.disconnect()
    return await common.measure_many(
        options,
        lambda index: _Gmqtt(f"gmqtt-many-{index}"),
        enter,
        round_trip,
        lambda client: client.client.disconnect(),
    )


async def queued(options: common.Options) -> dict[str, Any]:
    """gmqtt has no queue of its own: the usual pattern puts messages into an asyncio.Queue."""
    subscriber = _Gmqtt("gmqtt-queue")
    await subscriber.client.connect(options.host, options.port, version=_version(options))
    await subscriber.subscribe(options.topic, 0)
    messages: asyncio.Queue[tuple[str, bytes, int, dict[str, Any]]] = asyncio.Queue()
    subscriber.handle = lambda *message: messages.put_nowait(message)
    before = common.rss_bytes()
    await asyncio.to_thread(common.feed_messages, options, options.n)
    await common.poll(lambda: messages.qsize() >= options.n, options.timeout, "queued messages")
    after = common.rss_bytes()
    waiting = messages.qsize()
    await subscriber.client.disconnect()
    return common.queued_fields(waiting, before, after)


SCENARIOS = {"throughput": throughput, "latency": latency, "many": many, "queued": queued}


def run(options: common.Options) -> dict[str, Any]:
    return common.run_async(options, SCENARIOS[options.scenario](options))


if __name__ == "__main__":
    common.main("gmqtt", run)
