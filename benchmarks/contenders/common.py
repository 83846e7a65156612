"""What every contender script shares: its command line, measurements and its one JSON line.

A contender is one script per client library, run as its own process by ``benchmarks/run.py``
so that CPU time and resident memory belong to that library alone. Its command line is::

    python CONTENDER.py HOST PORT --scenario throughput|latency|many|queued|reconnect
        [--qos Q] [--n N] [--mode seq|concurrent|window] [--loop asyncio|uvloop]
        [--rate R] [--duration S] [--broker-pid PID] [--protocol 5|4] [--timeout S]
        [--window W] [--store memory|sqlite|sqlite-full] [--jitter] [--down S|LOW-HIGH]
        [--subscribers K]

and it prints exactly one line of JSON on stdout: the ``Result`` fields it measured, or an
``error`` field saying what failed (then it exits with status 1).

Only the asyncmqtt contender knows ``--mode window`` (a sliding window of ``--window``
``publish_nowait`` futures, 20 by default), ``--store`` (its session store) and the
``reconnect`` scenario (``--n`` broker restarts, each down for ``--down`` seconds, with
``--jitter`` on or off; it starts a broker of its own to restart, so HOST and PORT are not
used); the other contenders refuse the first two and have no such scenario. Only the broker
scenario's load generator (``broker_load.py``) knows ``--subscribers`` (K subscribers to the
one topic, a fan-out); the others refuse more than one.

Measurements are read from the kernel, not from a library, so the same numbers mean the same
thing for every contender and need nothing installed: CPU time of this process (every thread,
paho's network threads included) from ``resource.getrusage``, the broker's CPU time from
``/proc/PID/stat``, and this process's current resident memory from ``/proc/self/statm``
(``ru_maxrss`` is a peak, useless for deltas).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

TOPIC = "bench/throughput"
PAYLOAD_SIZE = 64
PAYLOAD = bytes(range(PAYLOAD_SIZE))
# Latency payloads start with the send time (perf_counter_ns, 8 bytes) and are padded to 64.
_STAMP = struct.Struct("!Q")
_PADDING = bytes(PAYLOAD_SIZE - _STAMP.size)

# feed: raw.py only; reconnect: asyncmqtt only
SCENARIOS = ("throughput", "latency", "many", "queued", "reconnect", "feed")
MODES = ("seq", "concurrent", "window")  # window: asyncmqtt only (publish_nowait)
STORES = ("memory", "sqlite", "sqlite-full")  # asyncmqtt's session store; sqlite-full fsyncs
RAW_SCRIPT = Path(__file__).with_name("raw.py")

_Client = TypeVar("_Client")

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Options:
    host: str
    port: int
    scenario: str
    qos: int
    n: int
    mode: str
    loop: str
    rate: float
    duration: float
    broker_pid: int | None
    timeout: float
    protocol: int = 5  # the MQTT protocol level: 5 for 5.0, 4 for 3.1.1
    topic: str = TOPIC
    store: str = "memory"  # asyncmqtt's session store (STORES)
    window: int = 20  # --mode window: publish_nowait futures out at once
    jitter: bool = False  # reconnect: Reconnect(jitter=...)
    down: tuple[float, float] = (0.05, 0.45)  # reconnect: the broker's downtime range, seconds
    subscribers: int = 1  # broker_load.py: subscribers to the topic (fan-out)


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--scenario", choices=SCENARIOS, default="throughput")
    parser.add_argument("--qos", type=int, choices=(0, 1, 2), default=0)
    parser.add_argument("--n", type=int, default=10_000, help="messages (or clients for many)")
    parser.add_argument("--mode", choices=MODES, default="seq")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--rate", type=float, default=2000.0, help="latency: messages per s")
    parser.add_argument("--duration", type=float, default=5.0, help="latency: seconds")
    parser.add_argument("--broker-pid", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this many s")
    parser.add_argument("--topic", default=TOPIC)
    parser.add_argument("--protocol", type=int, choices=(4, 5), default=5, help="4 is 3.1.1")
    parser.add_argument("--store", choices=STORES, default="memory", help="asyncmqtt only")
    parser.add_argument("--window", type=int, default=20, help="--mode window: futures out")
    parser.add_argument("--jitter", action="store_true", help="reconnect: Reconnect(jitter=True)")
    parser.add_argument(
        "--down",
        default="0.05-0.45",
        help="reconnect: seconds the broker stays down, one number or LOW-HIGH (each restart "
        "draws its downtime from its own equal slice of the range)",
    )
    parser.add_argument(
        "--subscribers", type=int, default=1, help="broker_load.py: subscribers (fan-out)"
    )
    args = parser.parse_args(argv)
    if args.subscribers < 1:
        parser.error(f"--subscribers must be at least 1, got {args.subscribers}")
    if args.n < 1:
        parser.error(f"--n must be at least 1, got {args.n}")
    if args.window < 1:
        parser.error(f"--window must be at least 1, got {args.window}")
    try:
        down = parse_down(args.down)
    except ValueError as error:
        parser.error(str(error))
    return Options(
        host=args.host,
        port=args.port,
        scenario=args.scenario,
        qos=args.qos,
        n=args.n,
        mode=args.mode,
        loop=args.loop,
        rate=args.rate,
        duration=args.duration,
        broker_pid=args.broker_pid,
        timeout=args.timeout,
        protocol=args.protocol,
        topic=args.topic,
        store=args.store,
        window=args.window,
        jitter=args.jitter,
        down=down,
        subscribers=args.subscribers,
    )


def parse_down(text: str) -> tuple[float, float]:
    """``"0.2"`` -> (0.2, 0.2); ``"0.05-0.45"`` -> (0.05, 0.45)."""
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise ValueError(f"--down must be S or LOW-HIGH in seconds, got {text!r}") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise ValueError(f"--down needs 0 <= LOW <= HIGH, got {text!r}")
    return bounds


# -- measuring ------------------------------------------------------------------------------


def cpu_seconds() -> float:
    """CPU time (user + system) of this process so far, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def broker_cpu_seconds(pid: int | None) -> float | None:
    """CPU time of the broker process so far, or None when its pid is unknown."""
    if pid is None:
        return None
    with open(f"/proc/{pid}/stat", "rb") as stat:
        text = stat.read()
    # Field 2 (the command) may hold spaces, so split after its closing parenthesis;
    # utime and stime are fields 14 and 15 of the whole line.
    fields = text[text.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def rss_bytes() -> int:
    """This process's resident memory now, after a full garbage collection."""
    gc.collect()
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE_SIZE


def raise_fd_limit() -> None:
    """Allow as many open files as the hard limit does (1,000 clients need 1,000 sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Window:
    """Wall time, our CPU time and the broker's CPU time over one measured stretch."""

    broker_pid: int | None
    wall: float = 0.0
    cpu: float = 0.0
    broker: float | None = None
    _start: tuple[float, float, float | None] = field(default=(0.0, 0.0, None), repr=False)

    def start(self) -> None:
        self._start = (time.perf_counter(), cpu_seconds(), broker_cpu_seconds(self.broker_pid))

    def stop(self) -> None:
        wall, cpu, broker = self._start
        self.wall = time.perf_counter() - wall
        self.cpu = cpu_seconds() - cpu
        now = broker_cpu_seconds(self.broker_pid)
        self.broker = None if now is None or broker is None else now - broker

    def fields(self, messages: int) -> dict[str, Any]:
        """The throughput fields for ``messages`` delivered in this window."""
        wall = self.wall or float("nan")  # a zero window would divide by zero
        return {
            "seconds": self.wall,
            "rate": messages / wall,
            "client_cpu": self.cpu / wall,  # cores busy: 1.0 is one core all the time
            "broker_cpu": None if self.broker is None else self.broker / wall,
        }


def stamp_payload() -> bytes:
    """A 64-byte latency payload carrying the time it was made."""
    return _STAMP.pack(time.perf_counter_ns()) + _PADDING


def latency_us(payload: bytes) -> float:
    """Microseconds since ``stamp_payload`` made this payload (same process, same clock)."""
    sent: int = _STAMP.unpack_from(payload)[0]
    return (time.perf_counter_ns() - sent) / 1000.0


def latency_fields(samples: list[float], expected: int) -> dict[str, Any]:
    """p50 / p99 / max of the latency samples (microseconds), and how many arrived."""
    if not samples:
        return {"received": 0, "expected": expected}
    ordered = sorted(samples)

    def percentile(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    return {
        "received": len(ordered),
        "expected": expected,
        "p50_us": percentile(0.50),
        "p99_us": percentile(0.99),
        "max_us": ordered[-1],
        "mean_us": sum(ordered) / len(ordered),
    }


def send_times(rate: float, duration: float) -> int:
    """How many messages a latency run sends."""
    return max(1, round(rate * duration))


def feed_messages(options: Options, count: int) -> None:
    """Publish ``count`` QoS 0 messages to ``options.topic`` from another process (raw.py).

    The queued-messages scenario measures how much memory a *subscriber* holds per message;
    a publisher in the same process would add its own buffers to that number.
    """
    command = [
        sys.executable,
        str(RAW_SCRIPT),
        options.host,
        str(options.port),
        "--scenario",
        "feed",
        "--n",
        str(count),
        "--topic",
        options.topic,
    ]
    subprocess.run(command, check=True, timeout=options.timeout, stdout=subprocess.DEVNULL)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` (for thread-based clients) until true; raise TimeoutError after."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.001)


# -- running --------------------------------------------------------------------------------


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def main(
    contender: str,
    run: Callable[[Options], dict[str, Any]],
    argv: Sequence[str] | None = None,
    *,
    asyncmqtt_options: bool = False,
    fan_out: bool = False,
) -> None:
    """Parse the command line, run the scenario, print its JSON line (or the error).

    ``asyncmqtt_options``: whether this contender knows ``--mode window`` and ``--store``;
    the others exit with an error rather than run something else under that name.
    ``fan_out``: whether it knows ``--subscribers`` (broker_load.py)."""
    options = parse_options(argv)
    if not asyncmqtt_options and (options.mode == "window" or options.store != "memory"):
        emit({"contender": contender, "error": "--mode window and --store are asyncmqtt's"})
        sys.exit(1)
    if not fan_out and options.subscribers != 1:
        emit({"contender": contender, "error": "--subscribers is broker_load.py's"})
        sys.exit(1)
    raise_fd_limit()
    header = {
        "contender": contender,
        "scenario": options.scenario,
        "qos": options.qos,
        "n": options.n,
        "mode": options.mode,
        "loop": options.loop,
        "protocol": options.protocol,
        "store": options.store,
        **({"window": options.window} if options.mode == "window" else {}),
        **({"subscribers": options.subscribers} if fan_out else {}),
    }
    try:
        result = run(options)
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        emit({**header, "error": f"{type(error).__name__}: {error}"})
        sys.exit(1)
    emit({**header, **result})


def run_async(options: Options, coroutine: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run ``coroutine`` on the event loop the options name."""
    if options.loop == "uvloop":
        import uvloop

        return uvloop.run(coroutine)
    import asyncio

    return asyncio.run(coroutine)


async def paced(rate: float, count: int) -> AsyncIterator[int]:
    """Yield 0, 1, ... count - 1, each at its time on a fixed schedule of ``rate`` per second
    (the latency scenario's sender: it never sends early, and catches up when late)."""
    import asyncio

    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(count):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield i


async def poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait in the event loop until ``condition`` is true; raise TimeoutError after ``timeout``.

    For states a library exposes no event for (how many messages its queue holds)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.005)


async def measure_many(
    options: Options,
    make: Callable[[int], _Client],
    enter: Callable[[_Client], Awaitable[object]],
    round_trip: Callable[[int, _Client], Awaitable[object]],
    leave: Callable[[_Client], Awaitable[object]],
) -> dict[str, Any]:
    """The many-clients scenario of an asyncio library, after its warm-up client.

    Makes ``options.n`` clients with ``make(index)``, connects them all (``enter``), runs
    ``round_trip(index, client)`` on every one at once, then ``leave``s them, measuring time
    and resident memory from before the client objects exist: a library may allocate when a
    client is made or when it connects, and both count.
    """
    import asyncio
    import itertools

    before = rss_bytes()
    clients = [make(index) for index in range(options.n)]
    connect = Window(options.broker_pid)
    connect.start()
    await asyncio.wait_for(asyncio.gather(*map(enter, clients)), options.timeout)
    connect.stop()
    connected = rss_bytes()
    work = Window(options.broker_pid)
    work.start()
    await asyncio.wait_for(
        asyncio.gather(*itertools.starmap(round_trip, enumerate(clients))), options.timeout
    )
    work.stop()
    active = rss_bytes()
    await asyncio.gather(*map(leave, clients))
    return many_fields(
        clients=options.n,
        before=before,
        connected=connected,
        active=active,
        connect=connect,
        work=work,
    )


def many_fields(
    *, clients: int, before: int, connected: int, active: int, connect: Window, work: Window
) -> dict[str, Any]:
    """The many-clients results: connect time, round-trip time, memory per client."""
    return {
        "clients": clients,
        "connect_seconds": connect.wall,
        "connect_cpu_seconds": connect.cpu,
        "round_trip_seconds": work.wall,
        "rss_per_idle_client": (connected - before) / clients,
        "rss_per_active_client": (active - before) / clients,
    }


def queued_fields(waiting: int, before: int, after: int) -> dict[str, Any]:
    return {"queued": waiting, "rss_per_queued_message": (after - before) / waiting}
