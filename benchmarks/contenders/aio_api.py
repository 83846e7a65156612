"""The scenarios of a client with aiomqtt 2.x's API: asyncmqtt, and aiomqtt itself.

asyncmqtt is meant to be a changed import away from aiomqtt, so both libraries run the very
same benchmark code; only the module (and the client identifiers' prefix) differ.

Modes: ``seq`` awaits each ``publish`` before the next (the natural way to write it);
``concurrent`` runs WORKERS tasks that each await their share of the publishes, so up to
WORKERS QoS 1/2 publishes are outstanding (the client keeps no more than the broker's Receive
Maximum in flight and queues the rest). Many-clients opens at most CONNECT_CONCURRENCY
connections at a time.

The scenarios are plain coroutines so that benchmarks/profile_client.py can run them in-process
under a profiler.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any

import common

WORKERS = 64  # concurrent publisher tasks in ``concurrent`` mode
CONNECT_CONCURRENCY = 100  # many-clients: connections opened at once (see run.py README)

Scenario = Callable[[common.Options], Coroutine[Any, Any, dict[str, Any]]]


class AioApiContender:
    """The four scenarios for ``library`` (a module with aiomqtt 2.x's ``Client``)."""

    def __init__(self, library: ModuleType, prefix: str) -> None:
        self.library = library
        self.prefix = prefix  # of client identifiers, so the broker log tells contenders apart
        self.scenarios: dict[str, Scenario] = {
            "throughput": self.throughput,
            "latency": self.latency,
            "many": self.many,
            "queued": self.queued,
        }

    def client(self, options: common.Options, name: str) -> Any:
        versions = self.library.ProtocolVersion
        version = versions.V5 if options.protocol == 5 else versions.V311
        return self.library.Client(
            options.host, options.port, identifier=f"{self.prefix}-{name}", protocol=version
        )

    async def throughput(self, options: common.Options) -> dict[str, Any]:
        async with (
            self.client(options, "sub") as subscriber,
            self.client(options, "pub") as publisher,
        ):
            await subscriber.subscribe(options.topic, options.qos)
            counter = asyncio.create_task(_count(subscriber, options.n))
            window = common.Window(options.broker_pid)
            window.start()
            await self.publish_all(publisher, options)
            received = await asyncio.wait_for(counter, options.timeout)
            window.stop()
        return {"received": received, **window.fields(options.n)}

    async def latency(self, options: common.Options) -> dict[str, Any]:
        count = common.send_times(options.rate, options.duration)
        samples: list[float] = []
        async with (
            self.client(options, "sub") as subscriber,
            self.client(options, "pub") as publisher,
        ):
            await subscriber.subscribe(options.topic, options.qos)

            async def receive() -> None:
                async for message in subscriber.messages:
                    samples.append(common.latency_us(message.payload))
                    if len(samples) == count:
                        return

            receiver = asyncio.create_task(receive())
            async for _ in common.paced(options.rate, count):
                await publisher.publish(options.topic, common.stamp_payload(), options.qos)
            await asyncio.wait_for(receiver, options.timeout)
        return {"n": count, **common.latency_fields(samples, count)}

    async def many(self, options: common.Options) -> dict[str, Any]:
        """N clients: connect all, each subscribes to its own topic, publishes, receives it."""
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def enter(client: Any) -> None:
            async with gate:
                await client.__aenter__()

        async def round_trip(index: int, client: Any) -> None:
            topic = f"{options.topic}/many/{index}"
            await client.subscribe(topic, 1)
            await client.publish(topic, common.PAYLOAD, 1)
            await anext(aiter(client.messages))

        warm = self.client(options, "warm")  # imports and first-use caches, outside the delta
        async with warm:
            await round_trip(-1, warm)
        return await common.measure_many(
            options,
            lambda index: self.client(options, f"many-{index}"),
            enter,
            round_trip,
            lambda client: client.__aexit__(None, None, None),
        )

    async def queued(self, options: common.Options) -> dict[str, Any]:
        """Memory per message waiting in the queue of a subscriber that does not read."""
        async with self.client(options, "queue") as subscriber:
            await subscriber.subscribe(options.topic, 0)
            before = common.rss_bytes()
            await asyncio.to_thread(common.feed_messages, options, options.n)
            stream = subscriber.messages
            await common.poll(lambda: len(stream) >= options.n, options.timeout, "queued messages")
            after = common.rss_bytes()
            waiting = len(stream)
        return common.queued_fields(waiting, before, after)

    async def publish_all(self, client: Any, options: common.Options) -> None:
        """The throughput scenario's publishing, in ``options.mode``."""
        await _publish_all(client, options)

    def run(self, options: common.Options) -> dict[str, Any]:
        scenario = self.scenarios.get(options.scenario)
        if scenario is None:
            raise ValueError(f"{self.library.__name__} has no {options.scenario!r} scenario")
        return common.run_async(options, scenario(options))


async def _count(client: Any, expected: int) -> int:
    count = 0
    async for _message in client.messages:
        count += 1
        if count == expected:
            break
    return count


async def _publish_all(client: Any, options: common.Options) -> None:
    topic, payload, qos = options.topic, common.PAYLOAD, options.qos
    if options.mode == "seq":
        for _ in range(options.n):
            await client.publish(topic, payload, qos)
        return
    remaining = itertools.repeat(None, options.n)  # shared: each worker takes the next

    async def worker() -> None:
        for _ in remaining:
            await client.publish(topic, payload, qos)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
