"""What a session store costs per QoS 1 message, offline (no network, no event loop).

Run: ``.venv/bin/python benchmarks/store_cost.py [--messages 100000] [--batch 20] [--rounds 5]``

It replays what the client hands its store for the QoS 1 pattern: every event-loop turn, a
batch of ``--batch`` messages accepted and sent (``PublishAccepted`` + ``PublishSent``) and the
previous turn's messages acknowledged (``PublishEnded``), as the turn in which their PUBACKs
arrive. It prints the best round's microseconds per message for ``SQLiteStore`` (synchronous
"normal" and, with ``--full``, "full") and for ``MemoryStore``, in a temporary directory
(``--dir`` to put the file elsewhere, e.g. on the disk the client would use).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from asyncmqtt.protocol.packets import Publish
from asyncmqtt.protocol.session import PublishAccepted, PublishEnded, PublishSent, SessionRecord
from asyncmqtt.store import MemoryStore, SessionStore, SQLiteStore

TOPIC = "bench/throughput"
PAYLOAD = bytes(range(64))


def turns(messages: int, batch: int) -> list[list[SessionRecord]]:
    """The batches of one round: turn k sends messages of turn k and ends those of turn k-1."""
    publish = Publish(TOPIC, PAYLOAD, 1)
    result: list[list[SessionRecord]] = []
    previous: list[int] = []
    for first in range(1, messages + 1, batch):
        numbers = list(range(first, min(first + batch, messages + 1)))
        records: list[SessionRecord] = []
        for number in numbers:
            records.append(PublishAccepted(number, publish))
            records.append(PublishSent(number, (number - 1) % 65535 + 1))
        records += [PublishEnded(number) for number in previous]
        result.append(records)
        previous = numbers
    result.append([PublishEnded(number) for number in previous])
    return result


def one_round(store: SessionStore, batches: list[list[SessionRecord]], messages: int) -> float:
    apply = store.apply
    start = time.perf_counter()
    for records in batches:
        apply(records)
    return (time.perf_counter() - start) / messages * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--full", action="store_true", help='also synchronous="full"')
    parser.add_argument("--dir", help="directory for the store file (default: a temporary one)")
    args = parser.parse_args()
    modes: list[Literal["normal", "full"]] = ["normal", "full"] if args.full else ["normal"]
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        for mode in modes:
            best = float("inf")
            for index in range(args.rounds):
                batches = turns(args.messages, args.batch)  # (fresh: numbers never repeat)
                path = Path(directory) / f"{mode}-{index}.db"
                with SQLiteStore(path, synchronous=mode) as store:
                    best = min(best, one_round(store, batches, args.messages))
                    assert store.load() == []
            print(f"SQLiteStore(synchronous={mode!r}): {best:.2f} us per message")
        memory = min(
            one_round(MemoryStore(), turns(args.messages, args.batch), args.messages)
            for _ in range(args.rounds)
        )
        print(f"MemoryStore: {memory:.3f} us per message")
    print(f"({args.messages} QoS 1 messages in batches of {args.batch}, best of {args.rounds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
