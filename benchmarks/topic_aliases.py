"""Topic aliases: bytes on the wire and throughput of publishes to one long topic, with and without.

Run: ``.venv/bin/python benchmarks/topic_aliases.py [--messages 1000] [--rounds 7]
[--topic-length 100] [--payload 64] [--quick]``

It starts its own mosquitto (``tests/broker.py``; ``max_topic_alias`` is mosquitto's default,
10) and, for QoS 0 and QoS 1, runs the same scenario with ``outgoing_topic_aliases`` off and on,
alternating the order round by round: a subscriber to the topic, then a publisher that sends
``--messages`` messages to it (QoS 0: ``await publish`` one after the other; QoS 1:
``publish_nowait`` for all, then awaiting them, the client keeping the broker's Receive Maximum
in flight). Both clients run in this process.

What it reports, per case:

* bytes: what the publisher wrote to the network for its publishes (``client.stats.bytes_sent``
  across them: the transport's own count, exact, the same every round); per message too. Only
  the publisher -> broker leg changes: the broker sends the subscriber full topics either way;
* msg/s: messages over the time from the first publish to the last message received by the
  subscriber; the median over the rounds, with the lowest and highest. 1,000 messages take a
  few tens of milliseconds, so single rounds are noisy: compare the medians, on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "tests"))

from broker import Mosquitto  # noqa: E402

from asyncmqtt import Client  # noqa: E402

LOG_TYPES = ("error", "warning", "notice", "information")  # (not every packet: that costs)
GUARD_SECONDS = 60.0  # a hang fails the run instead of blocking it; never reached otherwise


def long_topic(length: int) -> str:
    """A topic of ``length`` characters, shaped like a real one."""
    base = "plant/hall-7/line-3/station-12/cell-4/robot-2/axis-5/encoder/position/raw"
    topic = (base + "/" + "x" * length)[:length]
    return topic.rstrip("/")


async def one_run(  # noqa: PLR0917  (the scenario's parameters, all used)
    host: str, port: int, topic: str, payload: bytes, messages: int, qos: int, aliases: bool
) -> tuple[int, float]:
    """One publisher run: (bytes the publisher wrote for its publishes, seconds)."""
    async with Client(host, port) as subscriber:
        await subscriber.subscribe(topic, qos=qos)
        async with Client(host, port, outgoing_topic_aliases=aliases) as publisher:

            async def receive_all() -> None:
                received = 0
                async for _message in subscriber.messages:
                    received += 1
                    if received == messages:
                        return

            before = publisher.stats.bytes_sent
            start = time.perf_counter()
            receiving = asyncio.ensure_future(receive_all())
            if qos == 0:
                for _ in range(messages):
                    await publisher.publish(topic, payload)
            else:
                futures = [publisher.publish_nowait(topic, payload, qos) for _ in range(messages)]
                await asyncio.gather(*futures)
            async with asyncio.timeout(GUARD_SECONDS):
                await receiving
            elapsed = time.perf_counter() - start
            return publisher.stats.bytes_sent - before, elapsed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--topic-length", type=int, default=100)
    parser.add_argument("--payload", type=int, default=64, help="payload bytes")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 messages, 1 round")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    messages, rounds = (100, 1) if args.quick else (args.messages, args.rounds)
    topic = long_topic(args.topic_length)
    payload = bytes(range(256))[: args.payload].ljust(args.payload, b"\x00")
    results: dict[tuple[int, bool], list[tuple[int, float]]] = {}
    with Mosquitto(log_type=LOG_TYPES, max_queued_messages=max(100_000, 10 * messages)) as broker:
        for round_number in range(rounds):
            order = (False, True) if round_number % 2 == 0 else (True, False)
            for qos in (0, 1):
                for aliases in order:
                    run = one_run(broker.host, broker.port, topic, payload, messages, qos, aliases)
                    results.setdefault((qos, aliases), []).append(asyncio.run(run))
    print(
        f"{messages} publishes of {args.payload} bytes to a {len(topic)}-character topic, "
        f"{rounds} round(s), mosquitto on loopback"
    )
    print()
    print("| QoS | aliases | bytes written | bytes / message | msg/s (median) | lowest-highest |")
    print("|---|---|---|---|---|---|")
    for (qos, aliases), runs in sorted(results.items()):
        sizes = {size for size, _ in runs}
        rates = [messages / seconds for _, seconds in runs]
        size = max(sizes)  # (the same in every round; a difference would be shown)
        shown = f"{size:,}" if len(sizes) == 1 else f"{min(sizes):,}-{size:,}"
        print(
            f"| {qos} | {'on' if aliases else 'off'} | {shown} | {size / messages:.1f} | "
            f"{statistics.median(rates):,.0f} | {min(rates):,.0f}-{max(rates):,.0f} |"
        )
    for qos in (0, 1):
        plain = max(size for size, _ in results[qos, False])
        aliased = max(size for size, _ in results[qos, True])
        print(f"QoS {qos}: aliases write {aliased / plain:.0%} of the bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
