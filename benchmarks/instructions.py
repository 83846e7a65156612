"""Instructions per QoS 1 message, publisher and subscriber apart, counted by callgrind.

Run: ``.venv/bin/python benchmarks/instructions.py [--roles pub,sub] [--small 1000]
[--large 6000] [--keep DIR]``

Wall-clock throughput on a shared machine moves by a third from one run to the next; the
instructions a process executes hardly move. This starts a mosquitto as ``run.py`` does (Receive
Maximum 20), then runs under ``valgrind --tool=callgrind``:

- ``pub``: one asyncmqtt client publishing N QoS 1 messages through ``publish_nowait`` with a
  window of 20, as the ``window`` scenario's publisher does, to a subscriber in a plain
  process (not counted);
- ``sub``: one asyncmqtt client subscribed at QoS 1 counting N messages, as that scenario's
  subscriber does, fed by the same publisher in a plain process (not counted).

for N = ``--small`` and ``--large``, and prints (I(large) - I(small)) / (large - small): the
instructions per message, startup and connection costs cancelled out. ``--keep DIR`` keeps
the callgrind output files (read them with ``callgrind_annotate``).

Caveats: under callgrind the counted process runs some 50 times slower, so each read finds
more packets waiting than in a real run; costs per loop turn weigh less here than there, and
how the batches fall still varies a little from run to run (two runs of the same code: about
2% apart). Only the user-space side of system calls is counted.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH / "contenders"))
sys.path.insert(0, str(BENCH))

TOPIC = "bench/instructions"
WINDOW = 20


async def _publisher(host: str, port: int, n: int) -> None:
    import common

    import asyncmqtt

    async with asyncmqtt.Client(host, port, identifier="instr-pub") as client:
        publish, out = client.publish_nowait, deque[asyncio.Future[int | None]]()
        for _ in range(n):
            if len(out) == WINDOW:
                await out.popleft()
            out.append(publish(TOPIC, common.PAYLOAD, 1))
        for future in out:
            await future


async def _subscriber(host: str, port: int, n: int) -> None:
    import asyncmqtt

    async with asyncmqtt.Client(host, port, identifier="instr-sub") as client:
        await client.subscribe(TOPIC, 1)
        print("ready", flush=True)
        count = 0
        async for _message in client.messages:
            count += 1
            if count == n:
                break


def _worker(role: str, host: str, port: int, n: int) -> None:
    asyncio.run((_publisher if role == "pub" else _subscriber)(host, port, n))


def _total(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def _count(role: str, host: str, port: int, n: int, out: Path) -> int:
    me = [sys.executable, __file__, "--worker", role, host, str(port), str(n)]
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *me]
    if role == "pub":
        # A subscriber (not counted) as in the benchmark: without one, mosquitto answers each
        # PUBLISH with PUBACK "no matching subscribers", which the client decodes differently.
        reader = [sys.executable, __file__, "--worker", "sub", host, str(port), str(n)]
        with subprocess.Popen(reader, stdout=subprocess.PIPE) as sub:
            assert sub.stdout is not None
            if sub.stdout.readline().strip() != b"ready":
                raise RuntimeError("the subscriber did not get ready")
            subprocess.run(command, check=True, capture_output=True)
            if sub.wait() != 0:
                raise RuntimeError("the subscriber failed")
        return _total(out)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as sub:
        assert sub.stdout is not None
        if sub.stdout.readline().strip() != b"ready":
            raise RuntimeError("the subscriber did not get ready")
        feeder = [sys.executable, __file__, "--worker", "pub", host, str(port), str(n)]
        subprocess.run(feeder, check=True)
        if sub.wait() != 0:
            raise RuntimeError("the subscriber failed")
    return _total(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=4, metavar=("ROLE", "HOST", "PORT", "N"))
    parser.add_argument("--roles", default="pub,sub")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=6000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    if args.worker:
        role, host, port, n = args.worker
        _worker(role, host, int(port), int(n))
        return
    from run import LOG_TYPES, RECEIVE_MAXIMUM, Mosquitto

    directory = args.keep or Path(tempfile.mkdtemp(prefix="asyncmqtt-callgrind-"))
    directory.mkdir(parents=True, exist_ok=True)
    with Mosquitto(
        log_type=LOG_TYPES, max_queued_messages=1_000_000, max_inflight_messages=RECEIVE_MAXIMUM
    ) as broker:
        for role in args.roles.split(","):
            small = _count(role, broker.host, broker.port, args.small, directory / f"{role}.small")
            large = _count(role, broker.host, broker.port, args.large, directory / f"{role}.large")
            per = (large - small) / (args.large - args.small)
            print(f"{role}: {per:,.0f} instructions per message ({small:,} / {large:,})")
    if args.keep is None:
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()


if __name__ == "__main__":
    main()
