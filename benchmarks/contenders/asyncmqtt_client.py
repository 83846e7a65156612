"""asyncmqtt as a benchmark contender (see common.py for the command line).

Modes: ``seq`` awaits each ``publish`` before the next (the natural way to write it);
``concurrent`` runs WORKERS tasks that each await their share of the publishes, so up to
WORKERS QoS 1/2 publishes are outstanding (the client itself keeps no more than the broker's
Receive Maximum in flight and queues the rest).

The scenario functions are plain coroutines so that benchmarks/profile_client.py can run them
in-process under a profiler.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import common

import asyncmqtt

WORKERS = 64  # concurrent publisher tasks in ``concurrent`` mode
CONNECT_CONCURRENCY = 100  # many-clients: connections opened at once (see run.py README)


def _client(options: common.Options, identifier: str) -> asyncmqtt.Client:
    version = (
        asyncmqtt.ProtocolVersion.V5 if options.protocol == 5 else asyncmqtt.ProtocolVersion.V311
    )
    return asyncmqtt.Client(options.host, options.port, identifier=identifier, protocol=version)


async def _count(client: asyncmqtt.Client, expected: int) -> int:
    count = 0
    async for _message in client.messages:
        count += 1
        if count == expected:
            break
    return count


async def _publish_all(client: asyncmqtt.Client, options: common.Options) -> None:
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


async def throughput(options: common.Options) -> dict[str, Any]:
    async with _client(options, "am-sub") as subscriber, _client(options, "am-pub") as publisher:
        await subscriber.subscribe(options.topic, options.qos)
        counter = asyncio.create_task(_count(subscriber, options.n))
        window = common.Window(options.broker_pid)
        window.start()
        await _publish_all(publisher, options)
        received = await asyncio.wait_for(counter, options.timeout)
        window.stop()
    return {"received": received, **window.fields(options.n)}


async def latency(options: common.Options) -> dict[str, Any]:
    count = common.send_times(options.rate, options.duration)
    samples: list[float] = []
    async with _client(options, "am-sub") as subscriber, _client(options, "am-pub") as publisher:
        await subscriber.subscribe(options.topic, options.qos)

        async def receive() -> None:
            async for message in subscriber.messages:
                samples.append(common.latency_us(message.payload))
                if len(samples) == count:
                    return

        receiver = asyncio.create_task(receive())
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(count):
            delay = start + i / options.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await publisher.publish(options.topic, common.stamp_payload(), options.qos)
        await asyncio.wait_for(receiver, options.timeout)
    return {"n": count, **common.latency_fields(samples, count)}


async def many(options: common.Options) -> dict[str, Any]:
    """N clients: connect all, each subscribes to its own topic, publishes to it, receives it."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def enter(client: asyncmqtt.Client) -> None:
        async with gate:
            await client.__aenter__()

    async def round_trip(index: int, client: asyncmqtt.Client) -> None:
        topic = f"{options.topic}/many/{index}"
        await client.subscribe(topic, 1)
        await client.publish(topic, common.PAYLOAD, 1)
        await anext(client.messages)

    warm = _client(options, "am-warm")  # imports and first-use caches, outside the delta
    async with warm:
        await round_trip(-1, warm)
    before = common.rss_bytes()
    # The client objects count: a library may allocate when made or when connecting.
    clients = [_client(options, f"am-many-{i}") for i in range(options.n)]
    connect = common.Window(options.broker_pid)
    connect.start()
    await asyncio.wait_for(asyncio.gather(*map(enter, clients)), options.timeout)
    connect.stop()
    connected = common.rss_bytes()
    work = common.Window(options.broker_pid)
    work.start()
    await asyncio.wait_for(
        asyncio.gather(*itertools.starmap(round_trip, enumerate(clients))), options.timeout
    )
    work.stop()
    active = common.rss_bytes()
    await asyncio.gather(*(client.__aexit__(None, None, None) for client in clients))
    return common.many_fields(
        clients=options.n,
        before=before,
        connected=connected,
        active=active,
        connect=connect,
        work=work,
    )


async def queued(options: common.Options) -> dict[str, Any]:
    """Memory per message waiting in the incoming queue of a subscriber that does not read."""
    async with _client(options, "am-queue") as subscriber:
        await subscriber.subscribe(options.topic, 0)
        before = common.rss_bytes()
        await asyncio.to_thread(common.feed_messages, options, options.n)
        stream = subscriber.messages
        await common.poll(lambda: len(stream) >= options.n, options.timeout, "queued messages")
        after = common.rss_bytes()
        waiting = len(stream)
    return common.queued_fields(waiting, before, after)


SCENARIOS = {"throughput": throughput, "latency": latency, "many": many, "queued": queued}


def run(options: common.Options) -> dict[str, Any]:
    return common.run_async(options, SCENARIOS[options.scenario](options))


if __name__ == "__main__":
    common.main("asyncmqtt", run)
