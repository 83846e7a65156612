"""What the sans-I/O core costs per QoS 1 message, with no network and no event loop.

Run: ``.venv/bin/python benchmarks/core_cost.py [--messages 20000] [--rounds 15]``

The end-to-end QoS 1 numbers of ``run.py`` move by a third from one minute to the next on a
shared machine, far more than a change to the core does. This replays, in one process and
without I/O, what the core does for each message of the concurrent QoS 1 throughput scenario:

- publisher: ``publish`` while Receive Maximum (20) is full, so the message waits in the queue;
  then a read of 10 PUBACKs, which frees 10 slots and writes 10 waiting publishes;
- subscriber: a read of 10 PUBLISH packets, answered with 10 PUBACKs.

It prints the best round's microseconds per message (both sides). Timing loops on one core
are steady to a few percent, so this is the number to compare before and after a change to
the core; ``run.py`` says what it is worth end to end.
"""

from __future__ import annotations

import argparse
import sys
import time

from asyncmqtt.protocol.codec import encode
from asyncmqtt.protocol.connection import ClientConnection
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import ConnAck, Publish
from asyncmqtt.protocol.properties import Properties

TOPIC = "bench/throughput"
PAYLOAD = bytes(range(64))
WINDOW = 20  # the broker's Receive Maximum, as mosquitto's default max_inflight_messages
WAITING = 44  # publishes queued behind the window (run.py's 64 workers less the window)
BATCH = 10  # messages per read, as counted in the end-to-end runs
V5 = ProtocolVersion.V5


def connected() -> ClientConnection:
    conn = ClientConnection(client_id="core-cost", protocol_version=V5)
    conn.connect(0.0)
    conn.data_to_send()  # the CONNECT
    conn.receive_data(encode(ConnAck(False, 0, Properties(receive_maximum=WINDOW)), V5), 0.0)
    conn.events_received()
    return conn


def puback_reads(count: int) -> list[bytes]:
    """The PUBACKs of packet ids 1, 2, ... in reads of BATCH (ids wrap after 65535)."""
    return [
        b"".join(b"\x40\x02" + ((read * BATCH + k) % 65535 + 1).to_bytes(2) for k in range(BATCH))
        for read in range(count)
    ]


def one_round(messages: int, acks: list[bytes]) -> float:
    """Microseconds per message for ``messages`` messages through a fresh pair of connections."""
    publisher, subscriber = connected(), connected()
    for _ in range(WINDOW + WAITING):
        publisher.publish(TOPIC, PAYLOAD, 1, now=0.0)
    publisher.data_to_send()
    incoming = b"".join(
        encode(Publish(TOPIC, PAYLOAD, 1, False, False, k + 1), V5) for k in range(BATCH)
    )
    start = time.perf_counter()
    for read in range(messages // BATCH):
        publisher.receive_data(acks[read], 1.0)
        publisher.data_to_send()
        if len(publisher.events_received()) != BATCH:
            raise RuntimeError("the publisher did not complete a read's worth of publishes")
        for _ in range(BATCH):
            publisher.publish(TOPIC, PAYLOAD, 1, now=1.0)
        subscriber.receive_data(incoming, 1.0)
        subscriber.data_to_send()
        subscriber.events_received()
    return (time.perf_counter() - start) / messages * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    acks = puback_reads(args.messages // BATCH)  # each round's publisher starts at id 1
    best = min(one_round(args.messages, acks) for _ in range(args.rounds))
    rounds = args.rounds
    print(f"core, QoS 1, publisher and subscriber: {best:.2f} us per message (best of {rounds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
