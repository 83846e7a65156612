"""Profile asyncmqtt's hot paths: one benchmark scenario run in-process under cProfile.

Run: ``.venv/bin/python benchmarks/profile_client.py [--qos 1] [--n 20000]
[--mode seq|concurrent|window] [--store memory|sqlite|sqlite-full] [--sort tottime] [--limit 30]
[--out FILE.prof]``

It starts its own mosquitto (as ``run.py`` does), runs the asyncmqtt contender's throughput
scenario with the publisher and the subscriber in this process, and prints the functions that
cost the most. Everything the client does per message shows up: receive, decode, route and
deliver on the subscriber side; publish, encode and write on the publisher side, and the event
loop in between. Profiling slows Python code down several times, so read the table for where
the time goes, not for rates (``run.py`` measures those).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH / "contenders"))
sys.path.insert(0, str(BENCH))

import asyncmqtt_client  # noqa: E402
import common  # noqa: E402
from run import LOG_TYPES, RECEIVE_MAXIMUM, Mosquitto  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--mode", choices=common.MODES, default="concurrent")
    parser.add_argument("--store", choices=common.STORES, default="memory")
    parser.add_argument("--sort", default="tottime", help="a pstats sort key")
    parser.add_argument("--limit", type=int, default=30, help="rows to print")
    parser.add_argument("--out", type=Path, help="also save the raw profile here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with Mosquitto(
        log_type=LOG_TYPES,
        max_queued_messages=max(1_000_000, 10 * args.n),
        max_inflight_messages=RECEIVE_MAXIMUM,
    ) as broker:
        arguments = [broker.host, str(broker.port), f"--qos={args.qos}", f"--n={args.n}"]
        arguments += [f"--mode={args.mode}", f"--store={args.store}", f"--broker-pid={broker.pid}"]
        options = common.parse_options(arguments)
        profiler = cProfile.Profile()
        result = profiler.runcall(asyncio.run, asyncmqtt_client.CONTENDER.throughput(options))
    store = "" if args.store == "memory" else f", {args.store} store"
    print(f"{args.n} messages at QoS {args.qos} ({args.mode}{store}), under the profiler: {result}")
    stats = pstats.Stats(profiler).strip_dirs().sort_stats(args.sort)
    stats.print_stats(args.limit)
    if args.out is not None:
        stats.dump_stats(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
