"""The API floor: the raw reference plus the bare asyncio shape of a client's API, no MQTT logic.

The raw reference (``raw.py``) refills its window inside the read that brought the PUBACKs and
counts PUBLISH packets where it parses them: no future, no task, no queue. A client library
cannot work that way: ``publish_nowait`` returns a future, the application's task awaits it,
and received messages reach the application through ``async for``. This contender is the
cheapest implementation of that shape we could write, to measure what the shape itself costs
on this machine and loop, whatever the library behind it does:

- the publisher: ``publish_nowait(packet, packet_id)`` creates an ``asyncio.Future``, keeps it
  by packet id, adds the (pre-encoded) packet to a batch and schedules one write for the next
  loop turn; the read that brings PUBACKs resolves their futures and schedules that write
  right away, so the packets the woken application task publishes go out in the same turn. The
  application task keeps 20 out exactly as asyncmqtt's window mode does (awaits the oldest
  future once 20 are out).
- the subscriber: each read answers its PUBLISH packets with PUBACKs in one write (as raw.py
  does), appends the packets to a deque and wakes the consumer task, which counts them through
  ``async for``.

It runs the throughput scenario at QoS 1 only: ``run.py``'s window table reports asyncmqtt's
window mode against it, and it against the raw reference.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import common
import raw


class Publisher:
    """``publish_nowait`` for pre-encoded QoS 1 packets: a future each, one write per turn."""

    def __init__(self, client: raw.RawClient) -> None:
        self.client = client
        self.loop = asyncio.get_running_loop()
        self._batch: list[bytes] = []
        self._futures: dict[int, asyncio.Future[None]] = {}
        self._write_scheduled = False
        client.on_packets = self._handle

    def publish_nowait(self, packet: bytes, packet_id: int) -> asyncio.Future[None]:
        future = self.loop.create_future()
        self._futures[packet_id] = future
        self._batch.append(packet)
        self._schedule_write()
        return future

    def _schedule_write(self) -> None:
        if not self._write_scheduled:
            self._write_scheduled = True
            self.loop.call_soon(self._write)

    def _write(self) -> None:
        self._write_scheduled = False
        if self._batch:
            self.client.write(b"".join(self._batch))
            self._batch.clear()

    def _handle(self, packets: list[tuple[int, bytes]]) -> None:
        futures = self._futures
        for first, body in packets:
            if first >> 4 == 4:  # PUBACK
                futures.pop(int.from_bytes(body[:2], "big")).set_result(None)
        # After the wake-ups the resolved futures scheduled: what the woken task publishes
        # joins this write.
        self._schedule_write()


class Subscriber:
    """Acknowledges PUBLISH packets as they are read and hands them out through ``async for``."""

    def __init__(self, client: raw.RawClient) -> None:
        self.client = client
        self._received: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._suback: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        client.on_packets = self._handle

    async def subscribe(self, topic_filter: str) -> None:
        self.client.write(raw.subscribe_packet(topic_filter, 1))
        await self._suback

    def _handle(self, packets: list[tuple[int, bytes]]) -> None:
        acks = []
        for first, body in packets:
            kind = first >> 4
            if kind == 3:  # PUBLISH, QoS 1: PUBACK with its packet id
                topic_end = 2 + int.from_bytes(body[:2], "big")
                acks.append(b"\x40\x02" + body[topic_end : topic_end + 2])
                self._received.append(body)
            elif kind == 9:  # SUBACK
                self._suback.set_result(None)
        if acks:
            self.client.write(b"".join(acks))
        waiter = self._waiter
        if waiter is not None and self._received and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> bytes:
        while not self._received:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._received.popleft()


async def _consume(subscriber: Subscriber, expected: int) -> int:
    count = 0
    async for _packet in subscriber:
        count += 1
        if count == expected:
            break
    return count


async def throughput(options: common.Options) -> dict[str, Any]:
    if options.qos != 1:
        raise ValueError("the API floor runs the throughput scenario at QoS 1 only")
    n = options.n
    sub_client = await raw.RawClient.open(options.host, options.port, "floor-sub")
    subscriber = Subscriber(sub_client)
    await subscriber.subscribe(options.topic)
    pub_client = await raw.RawClient.open(options.host, options.port, "floor-pub")
    publisher = Publisher(pub_client)
    packet_ids = [i % 65535 + 1 for i in range(n)]
    packets = [raw.publish_packet(options.topic, common.PAYLOAD, 1, pid) for pid in packet_ids]
    window = common.Window(options.broker_pid)
    window.start()
    consumer = asyncio.create_task(_consume(subscriber, n))
    out: deque[asyncio.Future[None]] = deque()
    for packet, packet_id in zip(packets, packet_ids, strict=True):
        if len(out) == raw.WINDOW:
            await out.popleft()
        out.append(publisher.publish_nowait(packet, packet_id))
    for future in out:
        await future
    received = await asyncio.wait_for(consumer, options.timeout)
    window.stop()
    await raw._close(pub_client, sub_client)
    return {"received": received, **window.fields(n)}


def run(options: common.Options) -> dict[str, Any]:
    if options.scenario != "throughput":
        raise ValueError(f"the API floor has no {options.scenario!r} scenario")
    return common.run_async(options, throughput(options))


if __name__ == "__main__":
    common.main("api-floor", run)
