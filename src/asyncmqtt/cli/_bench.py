"""``asyncmqtt bench pub|sub|conn``: load a broker with many clients and measure it.

Theory of operation
-------------------
Every bench client is an ordinary ``asyncmqtt.Client`` made from the shared connection options
(one TLS context for all of them), in this one process and event loop. Clients connect at most
``CONNECT_CONCURRENCY`` at a time (``bench conn``: ``--concurrency``), subscribers first.

``pub``: each of ``-c`` publishers publishes to its topic (``%i`` in ``-t`` is its number) as
fast as it can, or at its share of ``--rate``, for ``--count`` messages or ``--duration``
seconds. QoS 0 awaits ``publish`` (it returns once the message is written, and waits while the
connection's buffer is full); QoS 1 / 2 keeps up to ``--inflight`` ``publish_nowait`` futures
out per client, and times every ``ACK_SAMPLE_STRIDE``-th from the publish to its
acknowledgement (a sample: a callback per publish would cost the rate measured). With
``--subscribers K``, K clients of this process subscribe first (``%i`` becomes ``+``) and the
run lasts until they have every message (or ``--timeout`` after the last publish): the result
is then end to end, messages delivered per second from the first publish, and the latency of
every ``LATENCY_SAMPLE_STRIDE``-th message received from its time stamp (``_measure.py``).
This is the scenario of the project's own benchmark (one publisher and one subscriber through
the broker).

``sub``: ``-c`` subscribers count what arrives (and its latency, when a ``bench pub``
elsewhere stamped it) until each has ``--count`` messages, ``--duration`` passed or Ctrl-C.

``conn``: ``-c`` clients connect (``--concurrency`` at once, optionally ``--rate`` new
attempts per second); each connect is timed from the start of ``async with`` to CONNACK;
failures are counted by their message. Then they stay connected ``--hold`` seconds and leave.

Ctrl-C during the measurement stops it and still reports what was measured; the clients then
disconnect properly. A live progress line goes to stderr on a terminal (``--progress`` forces
it elsewhere, one line a second); the summary goes to stdout, as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import math
import os
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Final

from ..client import Client
from ..errors import MqttError
from ..transports import TLSParameters
from ._connect import Broker, client_arguments
from ._measure import (
    Latencies,
    Meter,
    Progress,
    cpu_seconds,
    format_count,
    format_duration,
    format_rate,
    stamp_reader,
    stamp_writer,
)
from ._parser import (
    ExitCode,
    Parser,
    UsageError,
    add_connection_options,
    add_subparser,
    duration,
    format_examples,
    non_negative_int,
    positive_int,
    qos,
)
from ._run import describe

__all__ = ("add_parser", "run_conn", "run_pub", "run_sub")

CONNECT_CONCURRENCY: Final = 100
PROGRESS_INTERVAL: Final = 1.0
DEFAULT_TOPIC: Final = "asyncmqtt/bench/%i"
DEFAULT_FILTER: Final = "asyncmqtt/bench/#"
DEFAULT_DURATION: Final = 10.0
# Every 7th QoS 1 / 2 publish is timed to its acknowledgement: a callback per publish costs the
# client more CPU than the rest of what the command adds to the library's publish together
# (a quarter more per message), and would lower the rate measured. 7, prime to the usual
# --inflight windows, so that the timed ones fall on every position of a window.
ACK_SAMPLE_STRIDE: Final = 7
# bench pub's subscribers read the time stamp of every 7th message they receive.
LATENCY_SAMPLE_STRIDE: Final = 7
_ERRORS_SHOWN: Final = 3

SUMMARY: Final = "measure a broker: publish, subscribe or connect with many clients"
EXAMPLES: Final = format_examples(
    [
        (
            "one publisher, one subscriber in this process, QoS 1, 50,000 messages (end to end)",
            "asyncmqtt bench pub -q 1 --count 50000 --subscribers 1",
        ),
        (
            "10 publishers, 1,000 msg/s in all, for 30 s",
            "asyncmqtt bench pub -c 10 --rate 1000 --duration 30",
        ),
        ("in another terminal: count and time what arrives", "asyncmqtt bench sub -c 5"),
        ("connect 5,000 clients, 200 at a time", "asyncmqtt bench conn -c 5000 --concurrency 200"),
    ]
)


def add_parser(subparsers: argparse._SubParsersAction[Parser]) -> None:
    bench = add_subparser(
        subparsers,
        "bench",
        summary=SUMMARY,
        description="Load a broker with many clients in this process and measure it: "
        "throughput, latency p50 / p90 / p99 / max, errors and CPU time. A progress line "
        "shows on stderr while it runs; the summary goes to stdout (--json for machines).",
        examples=EXAMPLES,
    )
    kinds = bench.add_subparsers(
        title="what to measure", dest="bench", required=True, metavar="KIND"
    )
    _add_pub(kinds)
    _add_sub(kinds)
    _add_conn(kinds)


def _add_common(parser: argparse.ArgumentParser) -> None:
    """What every bench kind shares: output, event loop, connection options."""
    measure = parser.add_argument_group("output and event loop")
    measure.add_argument("--json", action="store_true", help="print the summary as JSON")
    measure.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the live progress line on stderr (default: when stderr is a terminal)",
    )
    measure.add_argument("--uvloop", action="store_true", help="run on uvloop (the uvloop extra)")
    add_connection_options(parser, many=True)


def _add_pub(kinds: argparse._SubParsersAction[Parser]) -> None:
    parser = add_subparser(
        kinds,
        "pub",
        summary="publishers (and optionally subscribers in this process)",
        description="Publish from -c clients as fast as possible or at --rate, for --count "
        "messages each or --duration seconds. QoS 1 / 2 publishes are timed to their "
        "acknowledgement (every 7th). With --subscribers, subscribers in this process "
        "receive everything and the result is end to end (delivered messages per second, latency).",
        examples=EXAMPLES,
    )
    parser.add_argument("-c", "--clients", type=positive_int, default=1, help="publishers (1)")
    parser.add_argument(
        "-t",
        "--topic",
        default=DEFAULT_TOPIC,
        help=f"the topic; %%i is the publisher's number ({DEFAULT_TOPIC.replace('%', '%%')})",
    )
    parser.add_argument("-q", "--qos", type=qos, default=0, help="0, 1 or 2 (0)")
    parser.add_argument(
        "-s", "--size", type=non_negative_int, default=64, help="payload bytes (64)"
    )
    parser.add_argument(
        "--rate",
        type=duration,
        default=0.0,
        help="messages per second from all publishers together (0: as fast as possible)",
    )
    _add_extent(parser, "messages per publisher")
    parser.add_argument(
        "--inflight",
        type=positive_int,
        default=20,
        metavar="N",
        help="QoS 1 / 2: unacknowledged publishes per client at most (20)",
    )
    parser.add_argument(
        "--subscribers",
        type=non_negative_int,
        default=0,
        metavar="K",
        help="subscribers in this process that receive every message (0)",
    )
    _add_common(parser)
    parser.set_defaults(client_command=run_pub, make_loop_factory=_loop_factory)


def _add_sub(kinds: argparse._SubParsersAction[Parser]) -> None:
    parser = add_subparser(
        kinds,
        "sub",
        summary="subscribers",
        description="Subscribe with -c clients and count what arrives, with its latency when "
        "the payload carries asyncmqtt bench's time stamp (from bench pub on this machine or "
        "one with a synchronised clock). Ends after --count messages per client, --duration "
        "seconds or Ctrl-C.",
        examples=EXAMPLES,
    )
    parser.add_argument("-c", "--clients", type=positive_int, default=1, help="subscribers (1)")
    parser.add_argument(
        "-t",
        "--topic",
        dest="filters",
        action="append",
        metavar="FILTER",
        help=f"a topic filter, repeatable ({DEFAULT_FILTER})",
    )
    parser.add_argument("-q", "--qos", type=qos, default=0, help="0, 1 or 2 (0)")
    _add_extent(parser, "messages per subscriber", default_duration=None)
    _add_common(parser)
    parser.set_defaults(client_command=run_sub, make_loop_factory=_loop_factory)


def _add_conn(kinds: argparse._SubParsersAction[Parser]) -> None:
    parser = add_subparser(
        kinds,
        "conn",
        summary="connection setup rate",
        description="Connect -c clients (--concurrency at a time, or --rate attempts a second) "
        "and measure how fast: connections per second and each connect's time to CONNACK.",
        examples=EXAMPLES,
    )
    parser.add_argument("-c", "--clients", type=positive_int, default=1000, help="clients (1000)")
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=CONNECT_CONCURRENCY,
        help=f"connections being set up at once at most ({CONNECT_CONCURRENCY})",
    )
    parser.add_argument(
        "--rate", type=duration, default=0.0, help="connection attempts per second (0: no limit)"
    )
    parser.add_argument(
        "--hold",
        type=duration,
        default=0.0,
        metavar="SECONDS",
        help="stay connected this long before leaving (0)",
    )
    _add_common(parser)
    parser.set_defaults(client_command=run_conn, make_loop_factory=_loop_factory)


def _add_extent(
    parser: argparse.ArgumentParser, what: str, default_duration: float | None = DEFAULT_DURATION
) -> None:
    extent = parser.add_mutually_exclusive_group()
    extent.add_argument("--count", type=positive_int, metavar="N", help=what)
    default = "" if default_duration is None else f" ({default_duration:g} without --count)"
    extent.add_argument(
        "--duration", type=duration, metavar="SECONDS", help=f"how long to run{default}"
    )
    parser.set_defaults(default_duration=default_duration)


def _loop_factory(args: argparse.Namespace) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if not args.uvloop:
        return None
    try:
        import uvloop  # noqa: PLC0415 - only when asked for
    except ImportError:
        raise UsageError(
            "--uvloop needs the 'uvloop' package, which is not installed; "
            "install it with: pip install 'asyncmqtt[uvloop]'"
        ) from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


# -- clients -----------------------------------------------------------------------------------


def _client_factory(
    args: argparse.Namespace, broker: Broker, password: str | None
) -> Callable[[str], Client]:
    """Makes the bench's clients: the shared options, one TLS context for all."""
    arguments = client_arguments(args, broker, password)
    params = arguments.pop("tls_params", None)
    if isinstance(params, TLSParameters):
        # (Read the certificate files once, not once per client.)
        arguments["tls_context"] = params.context()
    prefix = args.identifier or f"asyncmqtt-bench-{os.getpid()}"

    def make(name: str) -> Client:
        return Client(**{**arguments, "identifier": f"{prefix}-{name}"})

    return make


async def _connect_all(clients: list[Client], concurrency: int) -> None:
    """Connect every client, at most ``concurrency`` at a time; on any failure (or Ctrl-C),
    disconnect the ones that connected and raise it."""
    gate = asyncio.Semaphore(concurrency)

    async def enter(client: Client) -> None:
        async with gate:
            await client.__aenter__()

    try:
        results = await asyncio.gather(*map(enter, clients), return_exceptions=True)
    except BaseException:
        await _leave_all(clients)
        raise
    for result in results:
        if isinstance(result, BaseException):
            await _leave_all(clients)
            raise result


async def _leave_all(clients: Iterable[Client]) -> None:
    """Leave every connected client's ``async with`` (DISCONNECT), all at once."""
    connected = [client for client in clients if client.is_connected]
    await asyncio.gather(
        *(client.__aexit__(None, None, None) for client in connected), return_exceptions=True
    )


@contextlib.asynccontextmanager
async def _progress(args: argparse.Namespace, line: Callable[[float], str]) -> AsyncIterator[None]:
    """Show ``line(elapsed)`` every second on stderr while the block runs (if wanted)."""
    wanted = sys.stderr.isatty() if args.progress is None else args.progress
    if not wanted:
        yield
        return
    progress = Progress()
    start = time.perf_counter()

    async def report() -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            progress.show(line(time.perf_counter() - start))

    task = asyncio.create_task(report())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        progress.finish()


async def _measured(work: Awaitable[Any]) -> bool:
    """Await ``work``; True when it ran to its end, False when Ctrl-C stopped it (the
    command then still reports what was measured)."""
    try:
        await work
    except asyncio.CancelledError:
        task = asyncio.current_task()
        assert task is not None
        task.uncancel()
        return False
    return True


class _Errors:
    """Failures counted by their message."""

    def __init__(self) -> None:
        self.count = 0
        self.messages: dict[str, int] = {}
        self.first: BaseException | None = None

    def add(self, error: BaseException) -> None:
        self.count += 1
        if self.first is None:
            self.first = error
        text = describe(error)
        self.messages[text] = self.messages.get(text, 0) + 1

    def json(self) -> dict[str, Any]:
        return {"errors": self.count, "error_messages": self.messages}

    def lines(self) -> list[str]:
        shown = sorted(self.messages.items(), key=lambda item: -item[1])[:_ERRORS_SHOWN]
        return [f"  error x{count}: {text}" for text, count in shown]


def _latency_text(latencies: Latencies) -> str:
    summary = latencies.summary()
    return ", ".join(
        f"{name} {format_duration(summary[key])}"
        for name, key in (
            ("p50", "p50_us"),
            ("p90", "p90_us"),
            ("p99", "p99_us"),
            ("max", "max_us"),
        )
    )


def _emit(args: argparse.Namespace, record: dict[str, Any], lines: list[str]) -> None:
    if args.json:
        print(json.dumps(record), flush=True)
    else:
        print("\n".join(lines), flush=True)


def _extent(args: argparse.Namespace) -> tuple[float, float | None]:
    """(messages per client, seconds): --count, or --duration (or the default duration)."""
    if args.count is not None:
        return float(args.count), None
    seconds = args.duration if args.duration is not None else args.default_duration
    return math.inf, seconds


# -- bench pub ---------------------------------------------------------------------------------


@dataclasses.dataclass
class _PubState:
    published: int = 0
    acknowledged: int = 0
    received: int = 0
    expected: float = math.inf  # known once the publishers are done
    last_received: int = 0  # time.time_ns(), the receivers' clock (see _receive)
    ack_latency: Latencies = dataclasses.field(default_factory=Latencies)
    latency: Latencies = dataclasses.field(default_factory=Latencies)
    errors: _Errors = dataclasses.field(default_factory=_Errors)
    all_received: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


async def run_pub(args: argparse.Namespace, broker: Broker, password: str | None) -> int:
    """``bench pub``: publish, measure, report."""
    per_client, seconds = _extent(args)
    _raise_file_limit(args.clients + args.subscribers)
    make = _client_factory(args, broker, password)
    subscribers = [make(f"sub-{index}") for index in range(args.subscribers)]
    publishers = [make(f"pub-{index}") for index in range(args.clients)]
    state = _PubState()
    connect_start = time.perf_counter()
    await _connect_all(subscribers, CONNECT_CONCURRENCY)
    try:
        await _connect_all(publishers, CONNECT_CONCURRENCY)
    except BaseException:
        await _leave_all(subscribers)
        raise
    connect_seconds = time.perf_counter() - connect_start
    receivers: list[asyncio.Task[None]] = []
    try:
        subscription = args.topic.replace("%i", "+")
        await asyncio.gather(*(client.subscribe(subscription, args.qos) for client in subscribers))
        receivers = [asyncio.create_task(_receive(client, state)) for client in subscribers]
        rate = args.rate / args.clients if args.rate else 0.0

        published_meter, received_meter = Meter(), Meter()

        def line(elapsed: float) -> str:
            in_flight = sum(client.stats.in_flight for client in publishers)
            parts = [
                f"[{elapsed:6.1f} s]",
                f"published {published_meter.reading(state.published, elapsed)}",
            ]
            if subscribers:
                parts.append(f"received {received_meter.reading(state.received, elapsed)}")
            parts += [f"in flight {in_flight}", f"errors {state.errors.count}"]
            return "  ".join(parts)

        cpu_start = cpu_seconds()
        start_ns = time.time_ns()
        async with _progress(args, line):
            completed = await _measured(
                asyncio.gather(
                    *(
                        _publish(
                            client,
                            index=index,
                            args=args,
                            state=state,
                            count=per_client,
                            seconds=seconds,
                            rate=rate,
                        )
                        for index, client in enumerate(publishers)
                    )
                )
            )
            publish_seconds = (time.time_ns() - start_ns) / 1e9
            if completed and subscribers:
                state.expected = state.published * len(subscribers)
                if state.received >= state.expected:
                    state.all_received.set()
                with contextlib.suppress(TimeoutError):
                    completed = await _measured(
                        asyncio.wait_for(state.all_received.wait(), args.timeout)
                    )
        cpu = cpu_seconds() - cpu_start
        end_ns = state.last_received if subscribers and state.received else time.time_ns()
        receive_seconds = (end_ns - start_ns) / 1e9
        wall = max(receive_seconds, publish_seconds)
    finally:
        for task in receivers:
            task.cancel()
        await asyncio.gather(*receivers, return_exceptions=True)
        await _leave_all([*publishers, *subscribers])
    record, lines = _pub_summary(
        args,
        broker=broker,
        state=state,
        connect_seconds=connect_seconds,
        publish_seconds=publish_seconds,
        receive_seconds=receive_seconds,
        wall=wall,
        cpu=cpu,
        completed=completed,
    )
    _emit(args, record, lines)
    return ExitCode.OK


async def _publish(
    client: Client,
    *,
    index: int,
    args: argparse.Namespace,
    state: _PubState,
    count: float,
    seconds: float | None,
    rate: float,
) -> None:
    """One publisher's part: ``count`` messages, or until ``seconds`` passed. (The hot loop
    of the benchmark: no call per message beyond the publish and its time stamp, so that the
    command measures what the library can do.)"""
    loop = asyncio.get_running_loop()
    topic = args.topic.replace("%i", str(index))
    payload = stamp_writer(args.size)
    qos_level = args.qos
    start = loop.time()
    timed = seconds is not None
    end = start + seconds if seconds is not None else math.inf
    interval = 1.0 / rate if rate else 0.0
    window: deque[asyncio.Future[int | None]] = deque()
    limit = args.inflight
    publish, publish_nowait, now_ns = client.publish, client.publish_nowait, time.perf_counter_ns
    sent = 0
    try:
        while sent < count and not (timed and loop.time() >= end):
            if interval:
                delay = start + sent * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if not qos_level:
                await publish(topic, payload(), 0)
            else:
                if len(window) >= limit:
                    try:
                        await window.popleft()
                    except MqttError as error:
                        state.errors.add(error)
                    else:
                        state.acknowledged += 1
                future = publish_nowait(topic, payload(), qos_level)
                if not sent % ACK_SAMPLE_STRIDE:
                    future.add_done_callback(functools.partial(_time_ack, state, now_ns()))
                window.append(future)
            sent += 1
            state.published += 1
        while window:
            try:
                await window.popleft()
            except MqttError as error:
                state.errors.add(error)
            else:
                state.acknowledged += 1
    except MqttError as error:
        state.errors.add(error)


def _time_ack(state: _PubState, sent_ns: int, future: asyncio.Future[int | None]) -> None:
    """A sampled publish's time to its acknowledgement (its outcome is counted where the
    publisher awaits it)."""
    if not future.cancelled() and future.exception() is None:
        state.ack_latency.add((time.perf_counter_ns() - sent_ns) / 1000.0)


async def _receive(client: Client, state: _PubState) -> None:
    # The hot loop of an end-to-end run: one clock reading per message (the wall clock, which
    # the time stamps use too) serves as its arrival time, and every LATENCY_SAMPLE_STRIDE-th
    # arrival's time stamp is read for its latency (reading every one cost about a tenth of
    # the rate measured at QoS 0).
    sent_at, now_ns, add = stamp_reader(), time.time_ns, state.latency.add
    stride = LATENCY_SAMPLE_STRIDE
    try:
        async for message in client.messages:
            state.last_received = now = now_ns()
            received = state.received = state.received + 1
            if not received % stride:
                sent = sent_at(message.payload)
                if sent is not None:
                    add((now - sent) / 1000.0)
            if received >= state.expected:
                state.all_received.set()
    except MqttError as error:
        state.errors.add(error)


def _pub_summary(
    args: argparse.Namespace,
    *,
    broker: Broker,
    state: _PubState,
    connect_seconds: float,
    publish_seconds: float,
    receive_seconds: float,
    wall: float,
    cpu: float,
    completed: bool,
) -> tuple[dict[str, Any], list[str]]:
    subscribers = args.subscribers
    expected = state.published * subscribers
    if subscribers:
        throughput = state.received / receive_seconds if receive_seconds > 0 else 0.0
    elif args.qos:
        throughput = state.acknowledged / publish_seconds if publish_seconds > 0 else 0.0
    else:
        throughput = state.published / publish_seconds if publish_seconds > 0 else 0.0
    record: dict[str, Any] = {
        "command": "bench pub",
        "broker": broker.url,
        "clients": args.clients,
        "subscribers": subscribers,
        "qos": args.qos,
        "payload_bytes": args.size,
        "rate_limit": args.rate or None,
        "inflight": args.inflight if args.qos else None,
        "completed": completed,
        "connect_seconds": connect_seconds,
        "published": state.published,
        "publish_seconds": publish_seconds,
        "publish_rate": state.published / publish_seconds if publish_seconds > 0 else 0.0,
        "acknowledged": state.acknowledged if args.qos else None,
        "ack_latency": state.ack_latency.summary() if args.qos else None,
        "received": state.received if subscribers else None,
        "expected": expected if subscribers else None,
        "lost": max(0, expected - state.received) if subscribers else None,
        "receive_seconds": receive_seconds if subscribers else None,
        "latency": state.latency.summary() if subscribers else None,
        "throughput": throughput,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "cpu_percent": 100.0 * cpu / wall if wall > 0 else 0.0,
        **state.errors.json(),
    }
    clients = f"{args.clients} publisher{'s' * (args.clients != 1)}"
    if subscribers:
        clients += f", {subscribers} subscriber{'s' * (subscribers != 1)}"
    lines = [
        f"bench pub: {clients}, QoS {args.qos}, {args.size}-byte payloads, {broker.url}"
        + ("" if completed else " (stopped early)"),
        f"  published     {format_count(state.published)} in {publish_seconds:.2f} s "
        f"({format_rate(state.published, publish_seconds)})",
    ]
    if args.qos:
        lines.append(
            f"  acknowledged  {format_count(state.acknowledged)}; publish to ack: "
            + _latency_text(state.ack_latency)
        )
    if subscribers:
        lines.append(
            f"  received      {format_count(state.received)} of {format_count(expected)} in "
            f"{receive_seconds:.2f} s ({format_rate(state.received, receive_seconds)}); "
            f"lost {format_count(max(0, expected - state.received))}"
        )
        lines.append("  latency       publish to receive: " + _latency_text(state.latency))
    lines.append(f"  throughput    {throughput:,.0f} msg/s")
    lines.append(
        f"  CPU           {cpu:.2f} s ({record['cpu_percent']:.0f}% of one core); "
        f"connecting took {connect_seconds:.2f} s; errors {state.errors.count}"
    )
    lines += state.errors.lines()
    return record, lines


# -- bench sub ---------------------------------------------------------------------------------


async def run_sub(args: argparse.Namespace, broker: Broker, password: str | None) -> int:
    """``bench sub``: subscribe, count, report."""
    per_client, seconds = _extent(args)
    filters = args.filters or [DEFAULT_FILTER]
    _raise_file_limit(args.clients)
    make = _client_factory(args, broker, password)
    clients = [make(f"sub-{index}") for index in range(args.clients)]
    latency = Latencies()
    errors = _Errors()
    counts = [0] * len(clients)
    first = last = 0  # time.time_ns() of the first and the last message
    await _connect_all(clients, CONNECT_CONCURRENCY)
    try:
        await asyncio.gather(
            *(client.subscribe([(text, args.qos) for text in filters]) for client in clients)
        )

        async def receive(index: int, client: Client) -> None:
            nonlocal first, last
            sent_at, now_ns, add = stamp_reader(), time.time_ns, latency.add
            try:
                async for message in client.messages:
                    last = now = now_ns()
                    if not first:
                        first = now
                    counts[index] += 1
                    sent = sent_at(message.payload)
                    if sent is not None:
                        add((now - sent) / 1000.0)
                    if counts[index] >= per_client:
                        return
            except MqttError as error:
                errors.add(error)

        meter = Meter()

        def line(elapsed: float) -> str:
            received = meter.reading(sum(counts), elapsed)
            return f"[{elapsed:6.1f} s]  received {received}  errors {errors.count}"

        cpu_start = cpu_seconds()
        start = time.perf_counter()
        async with _progress(args, line):
            work = asyncio.gather(*(receive(i, client) for i, client in enumerate(clients)))
            completed = await _measured(_within(work, seconds))
        wall = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_start
    finally:
        await _leave_all(clients)
    received = sum(counts)
    span = (last - first) / 1e9
    record: dict[str, Any] = {
        "command": "bench sub",
        "broker": broker.url,
        "clients": args.clients,
        "filters": filters,
        "qos": args.qos,
        "completed": completed,
        "received": received,
        "receive_seconds": span,
        "throughput": received / span if span > 0 else 0.0,
        "latency": latency.summary(),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "cpu_percent": 100.0 * cpu / wall if wall > 0 else 0.0,
        **errors.json(),
    }
    lines = [
        f"bench sub: {args.clients} subscriber{'s' * (args.clients != 1)}, QoS {args.qos}, "
        f"{', '.join(filters)}, {broker.url}",
        f"  received      {format_count(received)} in {span:.2f} s from the first "
        f"({format_rate(received, span)})",
        "  latency       publish to receive (stamped messages "
        f"{format_count(latency.count)}): {_latency_text(latency)}",
        f"  CPU           {cpu:.2f} s ({record['cpu_percent']:.0f}% of one core); "
        f"errors {errors.count}",
        *errors.lines(),
    ]
    _emit(args, record, lines)
    return ExitCode.OK


async def _within(work: asyncio.Future[Any], seconds: float | None) -> None:
    """Await ``work``; after ``seconds`` (if given) cancel it and return."""
    if seconds is None:
        await work
        return
    done, _pending = await asyncio.wait([work], timeout=seconds)
    if not done:
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work


# -- bench conn --------------------------------------------------------------------------------


async def run_conn(args: argparse.Namespace, broker: Broker, password: str | None) -> int:
    """``bench conn``: connect many clients, time each connect, report."""
    _raise_file_limit(args.clients)
    make = _client_factory(args, broker, password)
    clients = [make(f"conn-{index}") for index in range(args.clients)]
    latency = Latencies()
    errors = _Errors()
    gate = asyncio.Semaphore(args.concurrency)
    connected = attempts = 0
    interval = 1.0 / args.rate if args.rate else 0.0

    async def connect(index: int, client: Client) -> None:
        nonlocal connected, attempts
        if interval:
            delay = start + index * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        async with gate:
            attempts += 1
            began = time.perf_counter_ns()
            try:
                await client.__aenter__()
            except MqttError as error:
                errors.add(error)
                return
            latency.add((time.perf_counter_ns() - began) / 1000.0)
            connected += 1

    meter = Meter()

    def line(elapsed: float) -> str:
        setting_up = attempts - connected - errors.count
        return (
            f"[{elapsed:6.1f} s]  connected {meter.reading(connected, elapsed)} of "
            f"{format_count(args.clients)}  connecting {setting_up}  errors {errors.count}"
        )

    loop = asyncio.get_running_loop()
    cpu_start = cpu_seconds()
    start = loop.time()
    began = time.perf_counter()
    try:
        async with _progress(args, line):
            completed = await _measured(
                asyncio.gather(*(connect(i, client) for i, client in enumerate(clients)))
            )
            wall = time.perf_counter() - began
            cpu = cpu_seconds() - cpu_start
            if completed and args.hold:
                completed = await _measured(asyncio.sleep(args.hold))
    finally:
        leave_start = time.perf_counter()
        await _leave_all(clients)
        leave_seconds = time.perf_counter() - leave_start
    if not connected and errors.first is not None:
        raise errors.first  # (none connected: as any other command that could not connect)
    record: dict[str, Any] = {
        "command": "bench conn",
        "broker": broker.url,
        "clients": args.clients,
        "concurrency": args.concurrency,
        "rate_limit": args.rate or None,
        "completed": completed,
        "connected": connected,
        "connect_seconds": wall,
        "throughput": connected / wall if wall > 0 else 0.0,
        "latency": latency.summary(),
        "disconnect_seconds": leave_seconds,
        "cpu_seconds": cpu,
        "cpu_percent": 100.0 * cpu / wall if wall > 0 else 0.0,
        **errors.json(),
    }
    lines = [
        f"bench conn: {format_count(args.clients)} clients, {args.concurrency} at a time, "
        f"{broker.url}" + ("" if completed else " (stopped early)"),
        f"  connected     {format_count(connected)} in {wall:.2f} s "
        f"({format_rate(connected, wall)}); failed {format_count(errors.count)}",
        f"  connect time  {_latency_text(latency)}",
        f"  CPU           {cpu:.2f} s ({record['cpu_percent']:.0f}% of one core); "
        f"disconnecting took {leave_seconds:.2f} s",
        *errors.lines(),
    ]
    _emit(args, record, lines)
    return ExitCode.OK


def _raise_file_limit(clients: int) -> None:
    """Each client holds a socket: allow as many open files as the hard limit does."""
    try:
        import resource  # noqa: PLC0415 - Unix only
    except ImportError:  # pragma: no cover - Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < clients + 100 and soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
