"""The raw reference: pre-encoded MQTT 5 packets over a minimal ``asyncio.Protocol``.

This is not a client library but the ceiling one could reach on this machine and broker: no
validation, no state machine beyond counting, packets encoded before the clock starts (QoS 0
packets even joined into batches). QoS 1 and 2 keep a window of 20 messages in flight (the
Receive Maximum mosquitto announces by default), refilled as acknowledgements arrive, with every
write batched per received chunk. The subscriber counts PUBLISH packets and answers each one
(PUBACK; PUBREC, then PUBCOMP for the broker's PUBREL), also one write per chunk.

Scenarios: throughput, latency, and ``feed`` (publish N QoS 0 messages and disconnect: the
publisher of the queued-messages scenario, run as a separate process).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import common

WINDOW = 20  # mosquitto's default max_inflight_messages, its Receive Maximum
BATCH = 500  # QoS 0 packets per write


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + _varint(len(body)) + body


def _properties(protocol: int) -> bytes:
    """An empty property list in MQTT 5 (protocol level 5); nothing in 3.1.1 (level 4)."""
    return b"\x00" if protocol == 5 else b""


def connect_packet(client_id: str, protocol: int = 5) -> bytes:
    # Protocol name, level, flags: clean start; keepalive 60 s; no properties.
    header = _string("MQTT") + bytes((protocol, 0x02, 0, 60)) + _properties(protocol)
    return _packet(0x10, header + _string(client_id))


def subscribe_packet(topic_filter: str, qos: int, protocol: int = 5) -> bytes:
    body = (1).to_bytes(2, "big") + _properties(protocol) + _string(topic_filter) + bytes((qos,))
    return _packet(0x82, body)


def publish_packet(
    topic: str, payload: bytes, qos: int, packet_id: int, protocol: int = 5
) -> bytes:
    pid = packet_id.to_bytes(2, "big") if qos else b""
    return _packet(0x30 | qos << 1, _string(topic) + pid + _properties(protocol) + payload)


DISCONNECT = b"\xe0\x00"


def _packet_bounds(buffer: bytes, offset: int, size: int) -> tuple[int, int] | None:
    """Where the body of the packet at ``offset`` starts and ends, or None if it is incomplete."""
    length, shift, index = 0, 0, offset + 1
    while index < size:
        byte = buffer[index]
        index += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            end = index + length
            return (index, end) if end <= size else None
        shift += 7
    return None


class RawClient(asyncio.Protocol):
    """One MQTT connection that splits its input into packets and hands them to a handler.

    ``on_packets(packets)`` gets every whole packet of one read as (first byte, body) pairs, so
    that a handler can answer all of them with one write.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.on_packets: Callable[[list[tuple[int, bytes]]], None] = self._expect_connack
        self._buffer = b""
        loop = asyncio.get_running_loop()
        self.connack: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._drained: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, host: str, port: int, client_id: str, protocol: int = 5) -> RawClient:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(cls, host, port)
        client.write(connect_packet(client_id, protocol))
        await client.connack
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.connack, self.closed):
            if not future.done():
                future.set_result(None)
        self.resume_writing()

    def pause_writing(self) -> None:
        self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    async def drain(self) -> None:
        if self._drained is not None:
            await self._drained

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        packets = []
        offset, size = 0, len(buffer)
        while (bounds := _packet_bounds(buffer, offset, size)) is not None:
            start, end = bounds
            packets.append((buffer[offset], buffer[start:end]))
            offset = end
        self._buffer = buffer[offset:]
        if packets:
            self.on_packets(packets)

    def _expect_connack(self, packets: list[tuple[int, bytes]]) -> None:
        first, body = packets[0]
        if self.connack.done():
            return
        if first != 0x20 or body[1] != 0:
            self.connack.set_exception(RuntimeError(f"no CONNACK success: {first:#x} {body!r}"))
        else:
            self.connack.set_result(None)


class Subscriber:
    """Counts PUBLISH packets and acknowledges them; ``done`` resolves at ``expected``."""

    def __init__(self, client: RawClient, expected: int) -> None:
        self.client = client
        self.expected = expected
        self.count = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_publish: Callable[[bytes, int], None] | None = None  # (body, qos)
        self._suback: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        client.on_packets = self._handle

    async def subscribe(self, topic_filter: str, qos: int) -> None:
        self.client.write(subscribe_packet(topic_filter, qos))
        await self._suback

    def _handle(self, packets: list[tuple[int, bytes]]) -> None:
        replies = []
        on_publish = self.on_publish
        for first, body in packets:
            kind = first >> 4
            if kind == 3:
                qos = (first >> 1) & 3
                if qos:
                    topic_end = 2 + int.from_bytes(body[:2], "big")
                    packet_id = body[topic_end : topic_end + 2]
                    replies.append((b"\x40\x02" if qos == 1 else b"\x50\x02") + packet_id)
                if on_publish is not None:
                    on_publish(body, qos)
                self.count += 1
            elif kind == 6:  # PUBREL
                replies.append(b"\x70\x02" + body[:2])
            elif kind == 9:  # SUBACK
                self._suback.set_result(None)
        if replies:
            self.client.write(b"".join(replies))
        if self.count >= self.expected and not self.done.done():
            self.done.set_result(None)


class WindowPublisher:
    """Keeps up to WINDOW pre-encoded QoS 1/2 PUBLISH packets in flight."""

    def __init__(self, client: RawClient, packets: list[bytes], qos: int) -> None:
        self.client = client
        self.packets = packets
        self.qos = qos
        self.next = 0
        self.acked = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        client.on_packets = self._handle

    def start(self) -> None:
        self._send(min(WINDOW, len(self.packets)))

    def _send(self, count: int) -> None:
        start = self.next
        self.next = min(len(self.packets), start + count)
        if self.next > start:
            self.client.write(b"".join(self.packets[start : self.next]))

    def _handle(self, packets: list[tuple[int, bytes]]) -> None:
        freed = 0
        releases = []
        for first, body in packets:
            kind = first >> 4
            if kind in {4, 7}:  # PUBACK (QoS 1) or PUBCOMP (QoS 2) frees a slot
                freed += 1
            elif kind == 5:  # PUBREC: answer with PUBREL
                releases.append(b"\x62\x02" + body[:2])
        if releases:
            self.client.write(b"".join(releases))
        if freed:
            self.acked += freed
            self._send(freed)
            if self.acked >= len(self.packets) and not self.done.done():
                self.done.set_result(None)


async def _open_pair(options: common.Options, expected: int) -> tuple[RawClient, Subscriber]:
    sub_client = await RawClient.open(options.host, options.port, "raw-sub")
    subscriber = Subscriber(sub_client, expected)
    await subscriber.subscribe(options.topic, options.qos)
    publisher = await RawClient.open(options.host, options.port, "raw-pub")
    return publisher, subscriber


async def _close(*clients: RawClient) -> None:
    for client in clients:
        client.write(DISCONNECT)
        assert client.transport is not None
        client.transport.close()
    for client in clients:
        await client.closed


async def throughput(options: common.Options) -> dict[str, Any]:
    n, qos = options.n, options.qos
    publisher, subscriber = await _open_pair(options, n)
    packets = [publish_packet(options.topic, common.PAYLOAD, qos, i % 65535 + 1) for i in range(n)]
    window = common.Window(options.broker_pid)
    if qos == 0:
        batches = [b"".join(packets[i : i + BATCH]) for i in range(0, n, BATCH)]
        window.start()
        for batch in batches:
            publisher.write(batch)
            await publisher.drain()
    else:
        flow = WindowPublisher(publisher, packets, qos)
        window.start()
        flow.start()
        await asyncio.wait_for(flow.done, options.timeout)
    await asyncio.wait_for(subscriber.done, options.timeout)
    window.stop()
    await _close(publisher, subscriber.client)
    return {"received": subscriber.count, **window.fields(n)}


async def latency(options: common.Options) -> dict[str, Any]:
    count = common.send_times(options.rate, options.duration)
    publisher, subscriber = await _open_pair(options, count)
    samples: list[float] = []
    subscriber.on_publish = lambda body, qos: samples.append(
        common.latency_us(body[-common.PAYLOAD_SIZE :])
    )
    if options.qos:
        # Acknowledgements are only read (and dropped): the rate stays far below the window.
        publisher.on_packets = _answer_pubrec(publisher)
    prefix = bytes((0x30 | options.qos << 1,)) + _varint(
        2 + len(options.topic.encode()) + (2 if options.qos else 0) + 1 + common.PAYLOAD_SIZE
    )
    topic = _string(options.topic)
    async for i in common.paced(options.rate, count):
        pid = (i % 65535 + 1).to_bytes(2, "big") if options.qos else b""
        publisher.write(prefix + topic + pid + b"\x00" + common.stamp_payload())
    try:
        await asyncio.wait_for(subscriber.done, options.timeout)
    finally:
        await _close(publisher, subscriber.client)
    return common.latency_fields(samples, count)


def _answer_pubrec(client: RawClient) -> Callable[[list[tuple[int, bytes]]], None]:
    def handle(packets: list[tuple[int, bytes]]) -> None:
        releases = [b"\x62\x02" + body[:2] for first, body in packets if first >> 4 == 5]
        if releases:
            client.write(b"".join(releases))

    return handle


async def feed(options: common.Options) -> dict[str, Any]:
    """Publish N QoS 0 messages and disconnect (the DISCONNECT follows them in order)."""
    client = await RawClient.open(options.host, options.port, f"raw-feed-{time.monotonic_ns()}")
    packet = publish_packet(options.topic, common.PAYLOAD, 0, 0)
    for start in range(0, options.n, BATCH):
        client.write(packet * min(BATCH, options.n - start))
        await client.drain()
    await _close(client)
    return {"sent": options.n}


SCENARIOS = {"throughput": throughput, "latency": latency, "feed": feed}


def run(options: common.Options) -> dict[str, Any]:
    scenario = SCENARIOS.get(options.scenario)
    if scenario is None:
        raise ValueError(f"raw has no {options.scenario!r} scenario")
    return common.run_async(options, scenario(options))


if __name__ == "__main__":
    common.main("raw", run)
