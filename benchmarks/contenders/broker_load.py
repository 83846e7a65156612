"""The broker scenario's load generator: one publisher and K subscribers on one topic, each
costing as little per message as Python allows, so that the broker is the bottleneck.

Command line as every contender's (common.py), with ``--subscribers K`` (1 by default) and
``--protocol 4`` for MQTT 3.1.1 (what run.py uses: amqtt speaks nothing newer); QoS 0 or 1.

It builds on the raw reference (raw.py): pre-encoded packets over a bare ``asyncio.Protocol``.
The publisher is raw.py's: QoS 0 packets joined 500 to a write, waiting only when the socket's
buffer is full; QoS 1 a window of 20 packets in flight, refilled as PUBACKs arrive. The
subscribers are cheaper than raw.py's, because a fan-out to 100 of them in one process would
otherwise make this process the bottleneck: every PUBLISH the broker sends them has the same
length (same topic, payload and QoS, no properties), so a read is counted by its length and
checked with stepped slices at C speed (every packet's first byte and remaining length),
without a Python operation per packet; at QoS 1 the PUBACKs for a whole read are assembled
the same way, from stepped slices of the packet identifiers, and sent in one write.

What it prints: ``rate``, deliveries (messages received, summed over the subscribers) per
second from the first publish to the last delivery; ``published_rate``, messages per second
over the same time; ``client_cpu`` this process's CPU, ``broker_cpu`` the broker's (cores
busy), ``per_broker_cpu_second`` deliveries per second of the broker's CPU time. If the
deliveries stop short of N x K (nothing arrived for 5 s), it reports what arrived, with
``lost`` the number missing and the rate up to the last delivery; ``lost`` is 0 otherwise.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import common
import raw

IDLE_SECONDS = 5.0  # no delivery for this long: the rest is counted as lost
PUBACK = b"\x40"  # first byte of PUBACK; its remaining length is 2
TWO = b"\x02"


def delivered_packet(topic: str, qos: int, protocol: int) -> tuple[bytes, int]:
    """A PUBLISH as the broker sends it to a subscriber (packet identifier 1 at QoS 1), and
    the offset of its packet identifier."""
    packet = raw.publish_packet(topic, common.PAYLOAD, qos, 1, protocol)
    # The identifier comes just before the properties (MQTT 5: one byte, none) and the payload.
    return packet, len(packet) - len(common.PAYLOAD) - (protocol == 5) - 2


class CountingSubscriber(raw.RawClient):
    """A subscriber that, once subscribed, counts fixed-size PUBLISH packets by their length.

    ``done`` resolves when ``expected`` have arrived, or fails when a read holds anything but
    the expected packets (which this way of counting cannot parse).
    """

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.expected = 0
        self.last = 0.0  # perf_counter of the last delivery
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._suback: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._size = 0  # 0 until subscribed: until then RawClient parses packets
        self._rest = b""
        self._first = b""
        self._second = b""
        self._pid_offset = 0
        self._acks = False

    async def subscribe(self, topic: str, qos: int, protocol: int, expected: int) -> None:
        self.on_packets = self._expect_suback
        self.write(raw.subscribe_packet(topic, qos, protocol))
        await self._suback
        packet, self._pid_offset = delivered_packet(topic, qos, protocol)
        self._first, self._second = packet[0:1], packet[1:2]
        self._acks = qos == 1
        self.expected = expected
        self._size = len(packet)

    def _expect_suback(self, packets: list[tuple[int, bytes]]) -> None:
        first, body = packets[0]
        granted = body[-1]
        if first >> 4 != 9 or len(packets) > 1 or granted >= 0x80:
            error = RuntimeError(f"expected one SUBACK granting the QoS, got {packets!r}")
            self._suback.set_exception(error)
        else:
            self._suback.set_result(None)

    def data_received(self, data: bytes) -> None:
        size = self._size
        if not size:
            super().data_received(data)
            return
        buffer = self._rest + data if self._rest else data
        whole = len(buffer) - len(buffer) % size
        self._rest = buffer[whole:]
        if not whole:
            return
        count = whole // size
        if buffer[0:whole:size] != self._first * count or (
            buffer[1:whole:size] != self._second * count
        ):
            self._fail(buffer[:whole])
            return
        if self._acks:
            offset = self._pid_offset
            acks = bytearray(4 * count)
            acks[0::4] = PUBACK * count
            acks[1::4] = TWO * count
            acks[2::4] = buffer[offset:whole:size]
            acks[3::4] = buffer[offset + 1 : whole : size]
            self.write(acks)
        self.count += count
        self.last = time.perf_counter()
        if self.count >= self.expected and not self.done.done():
            self.done.set_result(None)

    def _fail(self, received: bytes) -> None:
        self._size = 0  # count nothing more
        if not self.done.done():
            self.done.set_exception(
                RuntimeError(
                    f"a read held something else than {self._first.hex()} PUBLISH packets "
                    f"of equal length: {received[:48].hex()}..."
                )
            )


async def wait_for_deliveries(subscribers: list[CountingSubscriber], timeout: float) -> None:
    """Until every subscriber has all it expects, nothing arrived for IDLE_SECONDS, or
    ``timeout`` passed; raises what a subscriber failed with."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = -1
    while True:
        pending = [s.done for s in subscribers if not s.done.done()]
        for subscriber in subscribers:
            if subscriber.done.done():
                subscriber.done.result()  # raises a subscriber's failure
        if not pending:
            return
        await asyncio.wait(pending, timeout=min(IDLE_SECONDS, max(0.0, deadline - loop.time())))
        total = sum(s.count for s in subscribers)
        if total == seen or loop.time() >= deadline:
            return
        seen = total


async def throughput(options: common.Options) -> dict[str, Any]:
    n, qos, protocol = options.n, options.qos, options.protocol
    if qos not in (0, 1):
        raise ValueError(f"broker_load runs QoS 0 and 1, not {qos}")
    loop = asyncio.get_running_loop()

    async def subscriber(index: int) -> CountingSubscriber:
        _, client = await loop.create_connection(CountingSubscriber, options.host, options.port)
        client.write(raw.connect_packet(f"load-sub-{index}", protocol))
        await client.connack
        await client.subscribe(options.topic, qos, protocol, n)
        return client

    subscribers = list(await asyncio.gather(*map(subscriber, range(options.subscribers))))
    publisher = await raw.RawClient.open(options.host, options.port, "load-pub", protocol)
    packets = [
        raw.publish_packet(options.topic, common.PAYLOAD, qos, i % 65535 + 1, protocol)
        for i in range(n)
    ]
    window = common.Window(options.broker_pid)
    if qos == 0:
        batches = [b"".join(packets[i : i + raw.BATCH]) for i in range(0, n, raw.BATCH)]
        window.start()
        start = time.perf_counter()
        for batch in batches:
            publisher.write(batch)
            await publisher.drain()
    else:
        flow = raw.WindowPublisher(publisher, packets, qos)
        window.start()
        start = time.perf_counter()
        flow.start()
        await asyncio.wait_for(flow.done, options.timeout)
    await wait_for_deliveries(subscribers, options.timeout)
    window.stop()
    await raw._close(publisher, *subscribers)
    delivered = sum(s.count for s in subscribers)
    seconds = max(s.last for s in subscribers) - start
    return {
        "received": delivered,
        "lost": n * len(subscribers) - delivered,
        "seconds": seconds,
        "rate": delivered / seconds,
        "published_rate": n / seconds,
        "client_cpu": window.cpu / window.wall,
        "broker_cpu": None if window.broker is None else window.broker / window.wall,
        # What the broker did per CPU second: on a loaded machine a broker may get far less
        # than a core, and this moves less than the rate does.
        "per_broker_cpu_second": delivered / window.broker if window.broker else None,
    }


def run(options: common.Options) -> dict[str, Any]:
    if options.scenario != "throughput":
        raise ValueError(f"broker_load runs the throughput scenario only, not {options.scenario}")
    return common.run_async(options, throughput(options))


if __name__ == "__main__":
    common.main("broker load", run, fan_out=True)
