"""The embedded broker (``asyncmqtt.broker.Broker``) in a process of its own, for run.py's
``broker`` scenario.

Run: ``python benchmarks/embedded_broker.py [--port 0] [--loop asyncio|uvloop]
[--max-inflight 20] [--max-queued 1000000]``. It serves plain TCP on 127.0.0.1, prints
``port N`` on stdout once it accepts connections, and runs until it is terminated (SIGTERM or
SIGINT). Unlike ``asyncmqtt broker`` it takes the two limits the benchmark sets on every broker
it compares: ``max_inflight_messages`` (mosquitto's option of the same name, 20 in run.py) and
a queue per client far above the message count, so that the broker drops nothing. It logs
warnings only: a log line per connection is not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from asyncmqtt.broker import Broker


async def serve(port: int, max_inflight: int, max_queued: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    async with Broker(
        host="127.0.0.1",
        port=port,
        max_inflight_messages=max_inflight,
        max_queued_messages=max_queued,
    ) as broker:
        print(f"port {broker.port}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free one (default)")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--max-inflight", type=int, default=20)
    parser.add_argument("--max-queued", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    coroutine = serve(args.port, args.max_inflight, args.max_queued)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(coroutine)
    else:
        asyncio.run(coroutine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
