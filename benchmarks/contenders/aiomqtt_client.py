"""aiomqtt 2.5.1 as a benchmark contender (see common.py for the command line).

MQTT 5.0 unless ``--protocol 4`` (3.1.1). ``seq`` awaits each ``publish``; ``concurrent``
runs WORKERS publishing tasks, as asyncmqtt_client.py does. Many-clients connects at most
CONNECT_CONCURRENCY clients at a time, like the asyncmqtt contender.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiomqtt
import common

WORKERS = 64
CONNECT_CONCURRENCY = 100


def _client(options: common.Options, identifier: str) -> aiomqtt.Client:
    version = aiomqtt.ProtocolVersion.V5 if options.protocol == 5 else aiomqtt.ProtocolVersion.V311
    return aiomqtt.Client(options.host, options.port, identifier=identifier, protocol=version)


async def _count(client: aiomqtt.Client, expected: int) -> int:
    count = 0
    async for _message in client.messages:
        count += 1
        if count == expected:
            break
    return count


async def _publish_all(client: aiomqtt.Client, options: common.Options) -> None:
    topic, payload, qos = options.topic, common.PAYLOAD, options.qos
    if options.mode == "seq":
        for _ in range(options.n):
            await client.publish(topic, payload, qos)
        return
    remaining = itertools.repeat(None, options.n)

    async def worker() -> None:
        for _ in remaining:
            await client.publish(topic, payload, qos)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))


async def throughput(options: common.Options) -> dict[str, Any]:
    async with _client(options, "aio-sub") as subscriber, _client(options, "aio-pub") as publisher:
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
    async with _client(options, "aio-sub") as subscriber, _client(options, "aio-pub") as publisher:
        await subscriber.subscribe(options.topic, options.qos)

        async def receive() -> None:
            async for message in subscriber.messages:
                assert isinstance(message.payload, bytes)
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
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def enter(client: aiomqtt.Client) -> None:
        async with gate:
            await client.__aenter__()

    async def round_trip(index: int, client: aiomqtt.Client) -> None:
        topic = f"{options.topic}/many/{index}"
        await client.subscribe(topic, 1)
        await client.publish(topic, common.PAYLOAD, 1)
        await anext(aiter(client.messages))

    warm = _client(options, "aio-warm")
    async with warm:
        await round_trip(-1, warm)
    before = common.rss_bytes()
    # The client objects count: a library may allocate when made or when connecting.
    clients = [_client(options, f"aio-many-{i}") for i in range(options.n)]
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
    async with _client(options, "aio-queue") as subscriber:
        await subscriber.subscribe(options.topic, 0)
        before = common.rss_bytes()
        await asyncio.to_thread(common.feed_messages, options, options.n)
        messages = subscriber.messages
        await common.poll(lambda: len(messages) >= options.n, options.timeout, "queued messages")
        after = common.rss_bytes()
        waiting = len(messages)
    return common.queued_fields(waiting, before, after)


SCENARIOS = {"throughput": throughput, "latency": latency, "many": many, "queued": queued}


def run(options: common.Options) -> dict[str, Any]:
    return common.run_async(options, SCENARIOS[options.scenario](options))


if __name__ == "__main__":
    common.main("aiomqtt", run)
