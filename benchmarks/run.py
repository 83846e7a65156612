"""The end-to-end benchmark of issue 5: asyncmqtt against the other Python MQTT clients.

Run: ``make bench`` or ``.venv/bin/python benchmarks/run.py [--quick] [--rounds N]
[--scenarios throughput,window,store,latency,many,queued,reconnect,cli,broker,codec]
[--out DIR]``

Theory of operation
-------------------
Each contender (a client library in one way of using it) is a script under
``benchmarks/contenders/`` that runs one scenario once and prints one JSON line; it runs in a
process of its own, so its CPU time and resident memory are its own. This script:

1. makes sure the peers' virtual environment ``benchmarks/.venv`` holds the pinned versions of
   ``benchmarks/requirements.txt`` plus asyncmqtt itself (editable), reinstalling only when that
   file changed (``--quick`` skips this and uses the running interpreter, with asyncmqtt and the
   raw reference only);
2. for each scenario starts a mosquitto of its own on a free loopback port (``tests/broker.py``)
   with ``max_queued_messages`` far above the message count, so the broker drops nothing
   (see shared/BROKERS.md), and hands the contenders its pid so they can read its CPU time;
3. runs the contenders in turn, round after round (all contenders in round 1, then all in
   round 2, ...), so that a slow patch of the shared machine hurts every contender alike;
4. reports the median and the min-max spread of each number over the rounds, in
   ``results.md`` (Markdown), ``results.json`` (every run, raw) and ``results.png`` (a chart,
   drawn by ``chart.py`` in an interpreter that has matplotlib), and prints the headline table.

The latency scenario's broker runs with ``set_tcp_nodelay true``: without it mosquitto's
Nagle algorithm holds back small packets (up to 40 ms on loopback), and every client would
measure the broker's socket option rather than itself.

The scenarios of issue 11 are cases like the others: ``window`` is the QoS 1 throughput
scenario with asyncmqtt's ``publish_nowait`` window of 20 (``--mode window``) next to the raw
reference (whose window is also 20) and the ``concurrent`` mode; ``store`` the same window with
``SQLiteStore`` and with the default ``MemoryStore``; ``reconnect`` the time from a restarted
broker accepting connections to the first message flowing again. Their tables report the
ratios the issue's targets are stated in, the median over the rounds and the range of the
ratios of each round (the contenders of one round run one after the other). The reconnect
contender starts a broker of its own, since it has to restart it.

The ``cli`` scenario (issue 15) runs the throughput scenario through the command line's
benchmark, ``asyncmqtt bench pub`` (``contenders/cli_bench.py``), next to the library
contender that publishes the same way, and reports whether the two agree within 20%.

The ``broker`` scenario (issue 13) turns things round: one load generator
(``contenders/broker_load.py``, the raw reference's pre-encoded packets with subscribers that
count by length) and the brokers as contenders, each started for its run on a free loopback
port (``broker_processes.py``): mosquitto, asyncmqtt's embedded ``Broker`` (on the default
loop and on uvloop) and amqtt, all spoken to in MQTT 3.1.1 (amqtt's only version), at QoS 0
and 1, one subscriber and a fan-out to 100.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CONTENDERS = BENCH / "contenders"
PEERS_VENV = BENCH / ".venv"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
REQUIREMENTS = BENCH / "requirements.txt"
STAMP = PEERS_VENV / ".requirements.sha256"

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(BENCH))  # already there when run as a script, not when imported
from broker import Mosquitto  # noqa: E402
from broker_processes import AmqttBroker, BrokerProcess, EmbeddedBroker  # noqa: E402

# mosquitto 2.0.11 writes its "running" line (which Mosquitto.start waits for) at the
# "information" level; the per-message debug levels stay off so logging costs nothing.
LOG_TYPES = ("error", "warning", "notice", "information")
RECEIVE_MAXIMUM = 20  # mosquitto's default max_inflight_messages, stated explicitly

ALL_SCENARIOS = (
    "throughput",
    "window",
    "store",
    "latency",
    "many",
    "queued",
    "reconnect",
    "cli",
    "broker",
    "codec",
)
# Issue 11's targets: window / raw on the default loop, SQLiteStore / MemoryStore, and the
# reconnect time (seconds).
WINDOW_TARGET = 0.9
STORE_TARGET = 0.6
RECONNECT_TARGET = 0.5
# Issue 15: `asyncmqtt bench` within 20% of the library on the same scenario.
CLI_TOLERANCE = 0.2
# Issue 13: the embedded broker's throughput at least 3x amqtt's.
BROKER_TARGET = 3.0
FAN_OUT = 100  # subscribers of the broker scenario's fan-out cases


@dataclass(frozen=True)
class Contender:
    """One library used one way: the script and the options that select the way."""

    label: str
    script: str
    mode: str = "seq"
    loop: str = "asyncio"
    protocol: int = 5
    peer: bool = False  # needs the peers' environment
    extra: tuple[str, ...] = ()  # more options of its script
    # The broker scenario: the broker this contender stands for (run_case starts it for each
    # run), and the share of the case's N it gets (amqtt: a tenth, see full_plan).
    broker: str = ""
    n_scale: float = 1.0

    def n(self, case: Case) -> int:
        return max(1, round(case.n * self.n_scale))

    def command(
        self, python: str, case: Case, broker: Mosquitto | BrokerProcess | None, timeout: float
    ) -> list[str]:
        # A case whose contenders start their own broker (reconnect) has none here.
        host, port, pid = ("127.0.0.1", 0, 0) if broker is None else broker_address(broker)
        return [
            python,
            str(CONTENDERS / self.script),
            host,
            str(port),
            "--scenario",
            case.runs,
            "--qos",
            str(case.qos),
            "--n",
            str(self.n(case)),
            "--mode",
            self.mode,
            "--loop",
            self.loop,
            "--protocol",
            str(self.protocol),
            *(("--broker-pid", str(pid)) if pid else ()),
            "--timeout",
            str(timeout),
            *self.extra,
            *case.extra,
            *(("--subscribers", str(case.subscribers)) if case.subscribers != 1 else ()),
        ]


AM_SEQ = Contender("asyncmqtt seq", "asyncmqtt_client.py")
AM_CONC = Contender("asyncmqtt concurrent", "asyncmqtt_client.py", mode="concurrent")
AM_SEQ_UV = Contender("asyncmqtt seq uvloop", "asyncmqtt_client.py", loop="uvloop")
AM_CONC_UV = Contender(
    "asyncmqtt concurrent uvloop", "asyncmqtt_client.py", mode="concurrent", loop="uvloop"
)
AM_UV = Contender("asyncmqtt uvloop", "asyncmqtt_client.py", loop="uvloop")
AM_WINDOW = Contender("asyncmqtt window", "asyncmqtt_client.py", mode="window")
AM_WINDOW_UV = Contender(
    "asyncmqtt window uvloop", "asyncmqtt_client.py", mode="window", loop="uvloop"
)
# The same with 40 out: 20 in flight (Receive Maximum) and 20 queued in the client, which it
# writes as PUBACKs arrive, without waiting for the publisher task to wake up.
AM_WINDOW_40 = Contender(
    "asyncmqtt window 40", "asyncmqtt_client.py", mode="window", extra=("--window", "40")
)
AM_WINDOW_SQLITE = Contender(
    "asyncmqtt window SQLiteStore",
    "asyncmqtt_client.py",
    mode="window",
    extra=("--store", "sqlite"),
)
AM_RECONNECT = Contender("asyncmqtt reconnect, jitter off", "asyncmqtt_client.py")
AM_RECONNECT_JITTER = Contender(
    "asyncmqtt reconnect, jitter on", "asyncmqtt_client.py", extra=("--jitter",)
)
RAW = Contender("raw reference", "raw.py")
# The raw reference plus a future per publish, an awaiting task and `async for`: what the
# shape of the API costs, with no client behind it (contenders/api_floor.py).
API_FLOOR = Contender("API floor", "api_floor.py")
# The command line's benchmark (`asyncmqtt bench pub --subscribers 1`): its QoS 0 publishes
# like `asyncmqtt seq`, its QoS 1 like `asyncmqtt window`.
CLI = Contender("asyncmqtt bench (command)", "cli_bench.py")
AIOMQTT = Contender("aiomqtt 2.5.1", "aiomqtt_client.py", peer=True)
PAHO = Contender("paho-mqtt 2.2", "paho_client.py", mode="concurrent", peer=True)
GMQTT = Contender("gmqtt 0.8", "gmqtt_client.py", peer=True)
AM_V311 = Contender("asyncmqtt (3.1.1)", "asyncmqtt_client.py", protocol=4)
AIOMQTT_V311 = Contender("aiomqtt 2.5.1 (3.1.1)", "aiomqtt_client.py", protocol=4, peer=True)
PAHO_V311 = Contender("paho-mqtt 2.2 (3.1.1)", "paho_client.py", protocol=4, peer=True)
GMQTT_V311 = Contender("gmqtt 0.8 (3.1.1)", "gmqtt_client.py", protocol=4, peer=True)
# The broker scenario: the contenders are brokers, the load the same for each (MQTT 3.1.1).
BROKER_MOSQUITTO = Contender("mosquitto", "broker_load.py", protocol=4, broker="mosquitto")
BROKER_EMBEDDED = Contender("asyncmqtt Broker", "broker_load.py", protocol=4, broker="embedded")
BROKER_EMBEDDED_UV = Contender(
    "asyncmqtt Broker uvloop", "broker_load.py", protocol=4, broker="embedded uvloop"
)
# amqtt is some 30-50 times slower (first runs here): a tenth of N keeps its runs to seconds,
# each still long enough for a steady rate (see benchmarks/README.md).
BROKER_AMQTT = Contender(
    "amqtt 0.12.1", "broker_load.py", protocol=4, broker="amqtt", peer=True, n_scale=0.1
)

ASYNCMQTT_VARIANTS = (AM_SEQ, AM_CONC, AM_SEQ_UV, AM_CONC_UV)
PEERS = (AIOMQTT, PAHO, GMQTT)
# QoS 1 with a window of 20: publish_nowait against the raw reference and concurrent tasks.
WINDOW_CONTENDERS = (RAW, API_FLOOR, AM_WINDOW, AM_CONC, AM_WINDOW_UV, AM_CONC_UV, AM_WINDOW_40)
STORE_CONTENDERS = (AM_WINDOW, AM_WINDOW_SQLITE)  # MemoryStore (the default), SQLiteStore


@dataclass(frozen=True)
class Case:
    """One scenario at one QoS and size, and who runs it."""

    scenario: str
    qos: int
    n: int
    contenders: tuple[Contender, ...]
    rounds: int
    extra: tuple[str, ...] = ()
    nodelay: bool = False  # mosquitto's set_tcp_nodelay (see the module docstring)
    contender_scenario: str | None = None  # the contenders' --scenario, if not ``scenario``
    own_broker: bool = False  # the contenders start (and restart) a broker of their own
    subscribers: int = 1  # the broker scenario's subscribers (its fan-out)

    @property
    def runs(self) -> str:
        """The scenario the contender scripts run."""
        return self.contender_scenario or self.scenario

    @property
    def key(self) -> str:
        if self.scenario in {"throughput", "latency", "window", "store", "cli"}:
            return f"{self.scenario} QoS {self.qos}"
        if self.scenario == "many":
            return f"many {self.n:,} clients"
        if self.scenario == "broker":
            return f"broker QoS {self.qos} 1->{self.subscribers}"
        return self.scenario


@dataclass
class Plan:
    cases: list[Case]
    codec_args: tuple[str, ...]
    quick: bool
    rounds: int


def full_plan(rounds: int, scenarios: Sequence[str]) -> Plan:
    throughput_contenders = (*ASYNCMQTT_VARIANTS, RAW, *PEERS)
    latency_contenders = (AM_SEQ, AM_SEQ_UV, RAW, *PEERS)
    memory_rounds = min(rounds, 3)  # memory barely varies; these runs are the slow ones
    latency = ("--rate", "2000", "--duration", "5")
    cases = [
        Case("throughput", 0, 100_000, throughput_contenders, rounds),
        Case("throughput", 1, 20_000, throughput_contenders, rounds),
        Case("throughput", 2, 10_000, throughput_contenders, rounds),
        Case("window", 1, 50_000, WINDOW_CONTENDERS, rounds, contender_scenario="throughput"),
        Case("store", 1, 50_000, STORE_CONTENDERS, rounds, contender_scenario="throughput"),
        Case("latency", 0, 10_000, latency_contenders, rounds, latency, nodelay=True),
        Case("latency", 1, 10_000, latency_contenders, rounds, latency, nodelay=True),
        # paho-mqtt cannot run 1,000 clients in one process (select(), see paho_client.many);
        # 250 it can, so every peer is measured there.
        Case("many", 1, 1000, (AM_SEQ, AM_UV, AIOMQTT, GMQTT), memory_rounds),
        Case("many", 1, 250, (AM_SEQ, AM_UV, *PEERS), memory_rounds),
        Case(
            "queued",
            0,
            100_000,
            (AM_SEQ, *PEERS, AM_V311, AIOMQTT_V311, PAHO_V311, GMQTT_V311),
            memory_rounds,
        ),
        # --n: broker restarts per run; --rate: the publisher's messages per second.
        Case(
            "reconnect",
            1,
            4,
            (AM_RECONNECT, AM_RECONNECT_JITTER),
            rounds,
            ("--rate", "500", "--down", "0.05-0.45"),
            own_broker=True,
        ),
        # The command's benchmark against the library doing the same (issue 15).
        Case("cli", 0, 100_000, (AM_SEQ, CLI), rounds, contender_scenario="throughput"),
        Case("cli", 1, 50_000, (AM_WINDOW, CLI), rounds, contender_scenario="throughput"),
        # The brokers against each other (issue 13): N messages published, N x subscribers
        # deliveries; amqtt gets a tenth of N (BROKER_AMQTT).
        *broker_cases(
            (BROKER_MOSQUITTO, BROKER_EMBEDDED, BROKER_EMBEDDED_UV, BROKER_AMQTT),
            rounds,
            ((0, 1, 100_000), (1, 1, 20_000), (0, FAN_OUT, 5_000), (1, FAN_OUT, 2_000)),
        ),
    ]
    return Plan([c for c in cases if c.scenario in scenarios], (), quick=False, rounds=rounds)


def broker_cases(
    brokers: tuple[Contender, ...], rounds: int, sizes: Sequence[tuple[int, int, int]]
) -> list[Case]:
    """The broker scenario's cases: (QoS, subscribers, N) each, every broker in each."""
    return [
        Case(
            "broker",
            qos,
            n,
            brokers,
            rounds,
            contender_scenario="throughput",
            subscribers=subscribers,
        )
        for qos, subscribers, n in sizes
    ]


def quick_plan(scenarios: Sequence[str]) -> Plan:
    """Tiny sizes, one round, asyncmqtt and the raw reference only: a smoke test."""
    ours: tuple[Contender, ...] = (AM_SEQ, AM_CONC)
    if importlib.util.find_spec("uvloop") is not None:
        ours = (*ours, AM_SEQ_UV)
    latency = ("--rate", "1000", "--duration", "0.3")
    cases = [
        Case("throughput", 0, 2000, (*ours, RAW), 1),
        Case("throughput", 1, 500, (*ours, RAW), 1),
        Case("throughput", 2, 300, (*ours, RAW), 1),
        Case(
            "window",
            1,
            500,
            (RAW, API_FLOOR, AM_WINDOW, AM_CONC),
            1,
            contender_scenario="throughput",
        ),
        Case("store", 1, 500, STORE_CONTENDERS, 1, contender_scenario="throughput"),
        Case("latency", 0, 300, (AM_SEQ, RAW), 1, latency, nodelay=True),
        Case("latency", 1, 300, (AM_SEQ, RAW), 1, latency, nodelay=True),
        Case("many", 1, 20, (AM_SEQ,), 1),
        Case("queued", 0, 2000, (AM_SEQ,), 1),
        Case(
            "reconnect",
            1,
            1,
            (AM_RECONNECT,),
            1,
            ("--rate", "500", "--down", "0.05"),
            own_broker=True,
        ),
        Case("cli", 0, 2000, (AM_SEQ, CLI), 1, contender_scenario="throughput"),
        Case("cli", 1, 500, (AM_WINDOW, CLI), 1, contender_scenario="throughput"),
        # No amqtt: it lives in the peers' environment, which a quick run does without.
        *broker_cases(
            (BROKER_MOSQUITTO, BROKER_EMBEDDED),
            1,
            # One case (a broker start and a load process cost about a second each): QoS 1
            # fan-out, the load generator's every path but QoS 0's (tested offline).
            ((1, 10, 100),),
        ),
    ]
    return Plan([c for c in cases if c.scenario in scenarios], ("--quick",), quick=True, rounds=1)


def only_contenders(plan: Plan, words: Sequence[str]) -> Plan:
    """The plan with only the contenders whose label contains one of ``words``."""

    def wanted(contender: Contender) -> bool:
        return any(word and word in contender.label for word in words)

    cases = [
        dataclasses.replace(case, contenders=tuple(filter(wanted, case.contenders)))
        for case in plan.cases
    ]
    return dataclasses.replace(plan, cases=[case for case in cases if case.contenders])


# -- environment ----------------------------------------------------------------------------


def ensure_peers_env() -> str:
    """Create or update benchmarks/.venv with the pinned peers; return its python."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if PEERS_PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == digest:
        return str(PEERS_PYTHON)
    if not PEERS_PYTHON.exists():
        print(f"creating {PEERS_VENV.relative_to(REPO)} for the peers", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    print(f"installing {REQUIREMENTS.relative_to(REPO)} into it", flush=True)
    pip = [str(PEERS_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS), "-e", str(REPO)], check=True)
    STAMP.write_text(digest + "\n")
    return str(PEERS_PYTHON)


def raise_fd_limit() -> None:
    """1,000 clients need 1,000 sockets here and in the broker, which inherits this limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def versions(python: str) -> dict[str, str]:
    """The versions the contenders ran with, asked of the interpreter that ran them."""
    script = (
        "import importlib.metadata as m, json, sys\n"
        "names = ('asyncmqtt', 'aiomqtt', 'paho-mqtt', 'gmqtt', 'amqtt', 'uvloop', 'matplotlib')\n"
        "found = {}\n"
        "for name in names:\n"
        "    try: found[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: pass\n"
        "found['python'] = sys.version.split()[0]\n"
        "print(json.dumps(found))\n"
    )
    result = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True)
    found: dict[str, str] = json.loads(result.stdout)
    return found


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mosquitto = subprocess.run(
        ["/usr/sbin/mosquitto", "-h"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "system": platform.platform(),
        "mosquitto": mosquitto[0] if mosquitto else "unknown",
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


# -- running --------------------------------------------------------------------------------


def broker_for(case: Case) -> Mosquitto:
    extra = ["set_tcp_nodelay true"] if case.nodelay else []
    return Mosquitto(
        log_type=LOG_TYPES,
        max_queued_messages=max(1_000_000, 10 * case.n),
        max_inflight_messages=RECEIVE_MAXIMUM,
        extra=extra,
    )


def broker_address(broker: Mosquitto) -> tuple[str, int, int]:
    return broker.host, broker.port, broker.pid or 0


def run_one(
    python: str, contender: Contender, case: Case, broker: Mosquitto | None
) -> dict[str, Any]:
    timeout = 300.0
    command = contender.command(python, case, broker, timeout)
    record: dict[str, Any] = {"label": contender.label, "case": case.key}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout + 60, check=False
        )
    except subprocess.TimeoutExpired:
        return {**record, "error": f"no result within {timeout + 60:g} s"}
    lines = done.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = done.stderr.strip().splitlines()[-5:]
        return {**record, "error": f"exit {done.returncode}: " + " | ".join(tail)}
    return {**record, **result}


def broker_process(contender: Contender, case: Case, python: str) -> Mosquitto | BrokerProcess:
    """The broker scenario's broker for ``contender``, not started (a new one for each run)."""
    if contender.broker == "mosquitto":
        return broker_for(case)
    if contender.broker == "amqtt":
        return AmqttBroker(python)
    loop = "uvloop" if contender.broker == "embedded uvloop" else "asyncio"
    # The same limits as mosquitto's in broker_for: inflight 20, a queue above N.
    queued = max(1_000_000, 10 * case.n)
    return EmbeddedBroker(python, loop, RECEIVE_MAXIMUM, queued)


def run_case(python_for: dict[bool, str], case: Case) -> Iterator[dict[str, Any]]:
    if case.scenario == "broker":
        yield from run_broker_case(python_for, case)
        return
    with contextlib.nullcontext(None) if case.own_broker else broker_for(case) as broker:
        for round_number in range(1, case.rounds + 1):
            for contender in case.contenders:
                record = run_one(python_for[contender.peer], contender, case, broker)
                record["round"] = round_number
                status = record.get("error") or _short(case.runs, record)
                print(f"  {case.key:<16} round {round_number}  {contender.label:<32} {status}")
                yield record


def run_broker_case(python_for: dict[bool, str], case: Case) -> Iterator[dict[str, Any]]:
    """Each run with a broker of its own, started for it and stopped after it; the load
    generator runs in this run's interpreter for every broker."""
    for round_number in range(1, case.rounds + 1):
        for contender in case.contenders:
            python = python_for[contender.peer]
            try:
                with broker_process(contender, case, python) as broker:
                    record = run_one(python_for[False], contender, case, broker)
            except (RuntimeError, OSError) as error:  # the broker did not start
                record = {"label": contender.label, "case": case.key, "error": str(error)}
            record["round"] = round_number
            status = record.get("error") or _short("broker", record)
            print(f"  {case.key:<20} round {round_number}  {contender.label:<26} {status}")
            yield record


def _short(scenario: str, record: dict[str, Any]) -> str:
    if scenario == "throughput":
        return f"{record['rate']:,.0f} msg/s"
    if scenario == "broker":
        lost = f", {record['lost']:,} lost" if record.get("lost") else ""
        broker = record.get("broker_cpu")
        cpu = "" if broker is None else f" (broker CPU {broker:.0%})"
        return f"{record['rate']:,.0f} deliveries/s{cpu}{lost}"
    if scenario == "latency":
        return f"p50 {record['p50_us']:,.0f} us  p99 {record['p99_us']:,.0f} us"
    if scenario == "reconnect":
        return (
            f"first message {record['median_s'] * 1000:,.0f} ms after the broker was back "
            f"(median; max {record['max_s'] * 1000:,.0f} ms) over {record['restarts']} restarts"
        )
    if scenario == "many":
        return (
            f"connect {record['connect_seconds']:.2f} s, "
            f"{record['rss_per_idle_client'] / 1024:.1f} KiB per idle client"
        )
    return f"{record['rss_per_queued_message']:.0f} B per queued message"


def run_codec(args: Sequence[str]) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / "codec.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"codec.py failed (exit {done.returncode}):\n{done.stderr.strip()}"
    return done.stdout.strip()


# -- summarising ----------------------------------------------------------------------------

METRICS = {
    "throughput": ("rate", "client_cpu", "broker_cpu"),
    "latency": ("p50_us", "p99_us", "max_us"),
    "many": (
        "connect_seconds",
        "round_trip_seconds",
        "rss_per_idle_client",
        "rss_per_active_client",
    ),
    "queued": ("rss_per_queued_message",),
    "reconnect": ("median_s", "max_s"),
}
METRICS["window"] = METRICS["store"] = METRICS["cli"] = METRICS["throughput"]
METRICS["broker"] = (*METRICS["throughput"], "lost", "per_broker_cpu_second")


@dataclass(frozen=True)
class Stat:
    median: float
    low: float
    high: float
    runs: int


@dataclass
class Summary:
    """Per case, per contender label, per metric: the median and spread over the rounds."""

    stats: dict[str, dict[str, dict[str, Stat]]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # the successful ones

    def values(self, case: str, label: str, metric: str) -> dict[int, Any]:
        """Round -> ``metric`` of the successful runs of ``label`` in ``case``."""
        return {
            r["round"]: r[metric]
            for r in self.runs
            if r["case"] == case and r["label"] == label and r.get(metric) is not None
        }

    def get(self, case: str, label: str, metric: str) -> Stat | None:
        return self.stats.get(case, {}).get(label, {}).get(metric)

    def median(self, case: str, label: str, metric: str) -> float | None:
        stat = self.get(case, label, metric)
        return None if stat is None else stat.median


def summarise(plan: Plan, records: list[dict[str, Any]]) -> Summary:
    summary = Summary()
    for case in plan.cases:
        per_label: dict[str, dict[str, Stat]] = {}
        for contender in case.contenders:
            runs = [r for r in records if r["case"] == case.key and r["label"] == contender.label]
            good = [r for r in runs if "error" not in r]
            summary.failures += [r for r in runs if "error" in r]
            summary.runs += good
            metrics: dict[str, Stat] = {}
            for metric in METRICS[case.scenario]:
                values = [r[metric] for r in good if r.get(metric) is not None]
                if values:
                    metrics[metric] = Stat(
                        statistics.median(values), min(values), max(values), len(values)
                    )
            per_label[contender.label] = metrics
        summary.stats[case.key] = per_label
    return summary


# -- reporting ------------------------------------------------------------------------------


def _cell(stat: Stat | None, scale: float = 1.0, digits: int = 0, spread: bool = True) -> str:
    if stat is None:
        return "failed"
    text = f"{stat.median * scale:,.{digits}f}"
    if spread and stat.runs > 1:
        text += f" ({stat.low * scale:,.{digits}f}-{stat.high * scale:,.{digits}f})"
    return text


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _labels(plan: Plan, scenario: str) -> list[str]:
    seen: dict[str, None] = {}
    for case in plan.cases:
        if case.scenario == scenario:
            seen.update(dict.fromkeys(c.label for c in case.contenders))
    return list(seen)


def throughput_tables(plan: Plan, summary: Summary) -> list[str]:
    cases = [c for c in plan.cases if c.scenario == "throughput"]
    if not cases:
        return []
    labels = _labels(plan, "throughput")
    header = ["contender", *(f"QoS {c.qos} msg/s (N={c.n:,})" for c in cases)]
    rows = [[label, *(_cell(summary.get(c.key, label, "rate")) for c in cases)] for label in labels]
    cpu_header = ["contender", *(f"QoS {c.qos} client / broker CPU" for c in cases)]
    cpu_rows = []
    for label in labels:
        cells = []
        for case in cases:
            client = summary.get(case.key, label, "client_cpu")
            broker = summary.get(case.key, label, "broker_cpu")
            cells.append(
                f"{_cell(client, 100, spread=False)}% / {_cell(broker, 100, spread=False)}%"
            )
        cpu_rows.append([label, *cells])
    return [
        "## End-to-end throughput",
        "",
        "One publisher and one subscriber client in one process, 64-byte payloads, timed from "
        "the first publish until the subscriber has all N messages. Messages per second: "
        f"median (min-max) of {cases[0].rounds} rounds.",
        "",
        *_table(header, rows),
        "",
        "CPU use during the same runs (median; 100% is one core busy all the time; the "
        "contender's whole process, publisher and subscriber, and the broker process):",
        "",
        *_table(cpu_header, cpu_rows),
        "",
    ]


def latency_table(plan: Plan, summary: Summary) -> list[str]:
    cases = [c for c in plan.cases if c.scenario == "latency"]
    if not cases:
        return []
    rate = dict(zip(cases[0].extra[::2], cases[0].extra[1::2], strict=True))
    header = ["contender"]
    for case in cases:
        header += [f"QoS {case.qos} p50 µs", f"QoS {case.qos} p99 µs", f"QoS {case.qos} max µs"]
    rows = []
    for label in _labels(plan, "latency"):
        row = [label]
        for case in cases:
            row += [_cell(summary.get(case.key, label, m)) for m in ("p50_us", "p99_us", "max_us")]
        rows.append(row)
    return [
        "## Latency",
        "",
        f"{rate['--rate']} messages/s for {rate['--duration']} s, each carrying its send time; "
        "latency is receive time minus send time (same process, same clock). Median (min-max) "
        f"over {cases[0].rounds} rounds of each run's percentile. Broker with "
        "`set_tcp_nodelay true`.",
        "",
        *_table(header, rows),
        "",
    ]


def many_table(plan: Plan, summary: Summary) -> list[str]:
    cases = [c for c in plan.cases if c.scenario == "many"]
    if not cases:
        return []
    header = [
        "contender",
        "clients",
        "connect all (s)",
        "subscribe+publish+receive all (s)",
        "KiB per idle client",
        "KiB per client after",
    ]
    rows = [
        [
            contender.label,
            f"{case.n:,}",
            _cell(summary.get(case.key, contender.label, "connect_seconds"), digits=2),
            _cell(summary.get(case.key, contender.label, "round_trip_seconds"), digits=2),
            _cell(summary.get(case.key, contender.label, "rss_per_idle_client"), 1 / 1024, 1),
            _cell(summary.get(case.key, contender.label, "rss_per_active_client"), 1 / 1024, 1),
        ]
        for case in cases
        for contender in case.contenders
    ]
    counts = " and ".join(f"{case.n:,}" for case in cases)
    return [
        f"## Many clients and memory per client ({counts} clients in one process)",
        "",
        "Every client connects (at most 100 connections opening at once), then each subscribes "
        "to a topic of its own, publishes one QoS 1 message to it and receives it. Memory is the "
        "growth of the process's resident set (after a garbage collection) divided by the "
        "number of clients, from before the client objects were made (a library may allocate "
        "when a client is made or when it connects), after one warm-up client ran the same "
        "steps. Median "
        f"(min-max) of {cases[0].rounds} rounds. paho-mqtt runs a network thread per client; "
        "its network loop uses select(), so it cannot run more than about 300 clients in one "
        "process and is measured with 250 only.",
        "",
        *_table(header, rows),
        "",
    ]


def queued_table(plan: Plan, summary: Summary) -> list[str]:
    case = next((c for c in plan.cases if c.scenario == "queued"), None)
    if case is None:
        return []
    rows = [
        [label, _cell(summary.get(case.key, label, "rss_per_queued_message"))]
        for label in _labels(plan, "queued")
    ]
    return [
        f"## Memory per queued message ({case.n:,} messages waiting)",
        "",
        "A subscriber that does not read while another process publishes N QoS 0 messages with "
        "64-byte payloads; the growth of its resident set once all N wait in its incoming queue "
        "(asyncmqtt and aiomqtt: `client.messages`; paho-mqtt and gmqtt have no queue of their "
        "own, so their `on_message` puts each message into a `queue.Queue` / `asyncio.Queue`), "
        f"divided by N. Bytes per message, median (min-max) of {case.rounds} rounds. MQTT 5.0 "
        "unless marked 3.1.1.",
        "",
        *_table(["contender", "bytes per queued message"], rows),
        "",
    ]


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or theirs == 0:
        return "-"
    return f"{ours / theirs:.2f}x"


def targets_table(plan: Plan, summary: Summary) -> list[str]:
    """The ratios the issue's targets are stated in, for each asyncmqtt variant."""
    keys = {c.key for c in plan.cases}
    if "throughput QoS 0" not in keys or "throughput QoS 1" not in keys:
        return []
    rate = summary.median
    q0, q1 = "throughput QoS 0", "throughput QoS 1"
    checks = (
        ("QoS 0 / raw (≥ 0.85)", q0, RAW.label),
        ("QoS 0 / gmqtt (≥ 1.3)", q0, GMQTT.label),
        ("QoS 0 / aiomqtt (≥ 10)", q0, AIOMQTT.label),
        ("QoS 1 / raw (≥ 0.8)", q1, RAW.label),
        ("QoS 1 / gmqtt", q1, GMQTT.label),
        ("QoS 1 / aiomqtt (≥ 10)", q1, AIOMQTT.label),
    )
    labels = [c.label for c in ASYNCMQTT_VARIANTS if c.label in _labels(plan, "throughput")]
    rows = [
        [
            label,
            *(_ratio(rate(key, label, "rate"), rate(key, peer, "rate")) for _, key, peer in checks),
        ]
        for label in labels
    ]
    return [
        "## Throughput ratios (issue 5 targets in brackets)",
        "",
        "Medians of the same run divided; `-` where the peer was not measured or failed.",
        "",
        *_table(["asyncmqtt variant", *(name for name, _, _ in checks)], rows),
        "",
    ]


def _round_ratios(summary: Summary, key: str, ours: str, theirs: str) -> list[float]:
    """Each round's ``ours`` rate over the same round's ``theirs`` (they ran one after the
    other in that round)."""
    mine, other = summary.values(key, ours, "rate"), summary.values(key, theirs, "rate")
    return [mine[r] / other[r] for r in sorted(mine) if other.get(r)]


def _ratio_with_rounds(summary: Summary, key: str, ours: str, theirs: str) -> str:
    """The ratio of the medians, and the lowest and highest ratio of one round."""
    text = _ratio(summary.median(key, ours, "rate"), summary.median(key, theirs, "rate"))
    rounds = _round_ratios(summary, key, ours, theirs)
    if text != "-" and len(rounds) > 1:
        text += f" ({min(rounds):.2f}-{max(rounds):.2f})"
    return text


def _rate_and_cpu(summary: Summary, key: str, label: str) -> list[str]:
    client = summary.get(key, label, "client_cpu")
    broker = summary.get(key, label, "broker_cpu")
    return [
        _cell(summary.get(key, label, "rate")),
        f"{_cell(client, 100, spread=False)}% / {_cell(broker, 100, spread=False)}%",
    ]


def window_table(plan: Plan, summary: Summary) -> list[str]:
    case = next((c for c in plan.cases if c.scenario == "window"), None)
    if case is None:
        return []
    labels = [c.label for c in case.contenders]
    rows = []
    for label in labels:
        same_loop = AM_CONC_UV.label if "uvloop" in label else AM_CONC.label
        versus_tasks = "-"
        if "window" in label and same_loop in labels:
            versus_tasks = _ratio_with_rounds(summary, case.key, label, same_loop)
        versus_raw = "-" if label == RAW.label else None
        versus_floor = "-"
        if label.startswith("asyncmqtt window") and API_FLOOR.label in labels:
            versus_floor = _ratio_with_rounds(summary, case.key, label, API_FLOOR.label)
        rows.append(
            [
                label,
                *_rate_and_cpu(summary, case.key, label),
                versus_raw or _ratio_with_rounds(summary, case.key, label, RAW.label),
                versus_floor,
                versus_tasks,
            ]
        )
    return [
        f"## QoS 1 with a window of 20 (`publish_nowait`, N={case.n:,})",
        "",
        "The throughput scenario at QoS 1 with the publisher keeping 20 messages out. "
        "`asyncmqtt window`: `publish_nowait` for each message, awaiting the oldest future "
        "once 20 are out; `raw reference`: 20 pre-encoded packets in flight, refilled as "
        "PUBACKs arrive (its QoS 1 window is 20, mosquitto's Receive Maximum here); "
        "`API floor`: the raw reference with the shape of the API and nothing else (a future "
        "per publish awaited by the publishing task in the same window, a write scheduled per "
        "loop turn, `async for` on the subscriber side), the most a client with this API "
        "can reach here; "
        "`asyncmqtt concurrent`: 64 tasks each awaiting `publish` (the client keeps 20 in "
        "flight and queues the rest); `asyncmqtt window 40`: the window mode with 40 out (20 "
        "in flight, 20 queued in the client). Messages per second, median (min-max) of "
        f"{case.rounds} rounds; ratios are the medians divided, with the lowest and highest "
        "ratio within one round in brackets. Issue 11's target: window / raw ≥ "
        f"{WINDOW_TARGET} on the default loop.",
        "",
        *_table(
            [
                "contender",
                "msg/s",
                "client / broker CPU",
                "/ raw",
                "/ API floor",
                "/ concurrent (same loop)",
            ],
            rows,
        ),
        "",
    ]


def store_table(plan: Plan, summary: Summary) -> list[str]:
    case = next((c for c in plan.cases if c.scenario == "store"), None)
    if case is None:
        return []
    rows = [
        [
            label,
            *_rate_and_cpu(summary, case.key, label),
            "-"
            if label == AM_WINDOW.label
            else _ratio_with_rounds(summary, case.key, label, AM_WINDOW.label),
        ]
        for label in (c.label for c in case.contenders)
    ]
    return [
        f"## Session store: SQLiteStore against MemoryStore (QoS 1, window of 20, N={case.n:,})",
        "",
        "The window scenario above with `session_store=SQLiteStore(path)` (synchronous "
        '"normal", WAL; one file each for the publisher and the subscriber, in a temporary '
        "directory removed afterwards) and with the default `MemoryStore`. Median (min-max) "
        f"of {case.rounds} rounds; the ratio as above. Issue 11's target: SQLiteStore / "
        f"MemoryStore ≥ {STORE_TARGET}.",
        "",
        *_table(["contender", "msg/s", "client / broker CPU", "/ MemoryStore"], rows),
        "",
    ]


def cli_table(plan: Plan, summary: Summary) -> list[str]:
    """Issue 15: `asyncmqtt bench pub` against the library on the same scenario."""
    cases = [c for c in plan.cases if c.scenario == "cli"]
    if not cases:
        return []
    rows = []
    for case in cases:
        library = next(c.label for c in case.contenders if c is not CLI)
        ratio = _median_ratio(summary, case.key, CLI.label, library)
        within = "-"
        if ratio is not None:
            within = "yes" if abs(ratio - 1) <= CLI_TOLERANCE else "**no**"
        rows.append(
            [
                f"QoS {case.qos} (N={case.n:,})",
                f"{library}: " + _cell(summary.get(case.key, library, "rate")),
                _cell(summary.get(case.key, CLI.label, "rate")),
                _rate_and_cpu(summary, case.key, CLI.label)[1],
                _ratio_with_rounds(summary, case.key, CLI.label, library),
                within,
            ]
        )
    return [
        "## `asyncmqtt bench` against the library (issue 15)",
        "",
        "The throughput scenario (one publisher, one subscriber, 64-byte payloads, through "
        "this run's mosquitto) measured by the command users run to measure their broker, "
        "`python -m asyncmqtt bench pub --subscribers 1 --count N --json` "
        "(`contenders/cli_bench.py`), next to the library contender that publishes the same "
        "way: `asyncmqtt seq` at QoS 0 (each publish awaited), `asyncmqtt window` at QoS 1 "
        "(20 `publish_nowait` futures out). Messages per second, median (min-max) of "
        f"{cases[0].rounds} rounds; the ratio of the medians with the lowest and highest "
        f"ratio within one round. Issue 15's target: within {CLI_TOLERANCE:.0%} of the "
        "library.",
        "",
        *_table(
            [
                "scenario",
                "library msg/s",
                "`asyncmqtt bench` msg/s",
                "its client / broker CPU",
                "bench / library",
                f"within {CLI_TOLERANCE:.0%}",
            ],
            rows,
        ),
        "",
    ]


def _broker_rows(case: Case, summary: Summary) -> list[list[str]]:
    rows = []
    for contender in case.contenders:
        label = contender.label
        ours = contender.broker.startswith("embedded")
        lost = sum(summary.values(case.key, label, "lost").values())
        broker_cpu = summary.get(case.key, label, "broker_cpu")
        load_cpu = summary.get(case.key, label, "client_cpu")
        rows.append(
            [
                f"QoS {case.qos}, 1 → {case.subscribers}",
                label,
                f"{contender.n(case):,}",
                _cell(summary.get(case.key, label, "rate")),
                f"{_cell(broker_cpu, 100, spread=False)}% / {_cell(load_cpu, 100, spread=False)}%",
                _cell(summary.get(case.key, label, "per_broker_cpu_second"), spread=False),
                f"**{lost:,}**" if lost else "0",
                _ratio_with_rounds(summary, case.key, label, BROKER_AMQTT.label) if ours else "-",
                _ratio_with_rounds(summary, case.key, label, BROKER_MOSQUITTO.label)
                if ours
                else "-",
            ]
        )
    return rows


def broker_targets(cases: Sequence[Case], summary: Summary) -> list[list[str]]:
    """Issue 13's target for each case and each embedded broker row: ≥ 3x amqtt."""
    rows = []
    for case in cases:
        labels = {c.label for c in case.contenders}
        if BROKER_AMQTT.label not in labels:
            continue
        for contender in case.contenders:
            if not contender.broker.startswith("embedded"):
                continue
            key, label = case.key, contender.label
            ratio = _median_ratio(summary, key, label, BROKER_AMQTT.label)
            rounds = _round_ratios(summary, key, label, BROKER_AMQTT.label)
            rows.append(
                [
                    f"QoS {case.qos}, 1 → {case.subscribers}: {label} / amqtt ≥ {BROKER_TARGET:g}",
                    _ratio_with_rounds(summary, key, label, BROKER_AMQTT.label),
                    _verdict(ratio, rounds, BROKER_TARGET, above=True),
                    _ratio_with_rounds(summary, key, label, BROKER_MOSQUITTO.label),
                ]
            )
    return rows


def broker_table(plan: Plan, summary: Summary) -> list[str]:
    """Issue 13: the embedded broker against mosquitto and amqtt, the same load on each."""
    cases = [c for c in plan.cases if c.scenario == "broker"]
    if not cases:
        return []
    rows = [row for case in cases for row in _broker_rows(case, summary)]
    targets = broker_targets(cases, summary)
    lines = [
        "## The embedded broker against mosquitto and amqtt (issue 13)",
        "",
        "The brokers are the contenders here: each run starts one (in a process of its own, "
        "on a free loopback port) and puts the same load on it, `contenders/broker_load.py`: "
        "one publisher and 1 or more subscribers (the case column) to its topic in one "
        "process, pre-encoded MQTT 3.1.1 packets (amqtt speaks nothing newer), 64-byte "
        "payloads; QoS 0 written 500 packets at a time, QoS 1 with 20 in flight; subscribers "
        "that count what they read by its length and acknowledge a whole read in one write. "
        "Deliveries (messages received, over all subscribers) per second from the first "
        f"publish to the last delivery, median (min-max) of {cases[0].rounds} rounds; the "
        "broker's CPU and the load generator's (100% is one core; a broker near 100% is the "
        "bottleneck), and the deliveries per second of the broker's CPU time (what it does "
        "with the CPU it got: on a loaded machine this moves less than the rate). Every "
        "broker with inflight 20 and a queue per client above N (mosquitto "
        "`max_inflight_messages` / `max_queued_messages`, `Broker(max_inflight_messages=, "
        "max_queued_messages=)`); amqtt with its defaults, anonymous clients allowed, no "
        "other plugin. amqtt gets a tenth of N (the N column), being that much slower. "
        "Ratios: the medians divided, with the lowest and highest ratio within one round in "
        'brackets. "lost": deliveries missing, summed over the rounds (a run stops waiting 5 '
        "s after the last delivery).",
        "",
        *_table(
            [
                "case",
                "broker",
                "N",
                "deliveries/s",
                "broker / load CPU",
                "deliveries per broker CPU second",
                "lost",
                "/ amqtt",
                "/ mosquitto",
            ],
            rows,
        ),
        "",
    ]
    if targets:
        lines += [
            f"Issue 13's target: the embedded broker at least {BROKER_TARGET:g}x amqtt's "
            "throughput; its ratio to mosquitto stated beside it.",
            "",
            *_table(["target", "this run", "verdict", "/ mosquitto"], targets),
            "",
        ]
    return lines


def reconnect_samples(summary: Summary, case: str, label: str) -> list[dict[str, Any]]:
    """Every restart of every successful run of ``label``."""
    return [
        sample
        for run in summary.runs
        if run["case"] == case and run["label"] == label
        for sample in run.get("samples", ())
    ]


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "failed"
    return f"{statistics.median(values) * 1000:,.0f} / {max(values) * 1000:,.0f}"


def reconnect_table(plan: Plan, summary: Summary) -> list[str]:
    case = next((c for c in plan.cases if c.scenario == "reconnect"), None)
    if case is None:
        return []
    options = dict(zip(case.extra[::2], case.extra[1::2], strict=True))
    rows = []
    for contender in case.contenders:
        samples = reconnect_samples(summary, case.key, contender.label)
        failures = sum(
            run.get("publish_failures", 0)
            for run in summary.runs
            if run["case"] == case.key and run["label"] == contender.label
        )
        downs = [sample["broker_back_s"] for sample in samples]
        rows.append(
            [
                contender.label,
                str(len(samples)),
                _ms([sample["first_message_s"] for sample in samples]),
                _ms([sample["subscriber_connected_s"] for sample in samples]),
                _ms([sample["publisher_connected_s"] for sample in samples]),
                f"{min(downs):.2f}-{max(downs):.2f}" if downs else "-",
                str(failures),
            ]
        )
    down_note = ""
    if "-" in options["--down"]:
        down_note = " (each restart of a run drawn from its own equal slice of that range)"
    header = [
        "contender",
        "restarts",
        "first message ms (median / max)",
        "subscriber connected ms (median / max)",
        "publisher connected ms (median / max)",
        "broker down s",
        "publishes failed",
    ]
    return [
        "## Reconnect after a broker restart",
        "",
        "A subscriber and a publisher, both with `Reconnect(initial_delay=0.1, jitter=...)`, "
        "on one mosquitto (no persistence: the client restores the subscription); the "
        f"publisher publishes a QoS 1 message with `publish_nowait` {options['--rate']} times "
        "a second all along (while the broker is down they wait in the offline queue). The "
        f"broker is stopped (SIGTERM), kept down for {options['--down']} s{down_note}, and "
        "started on the same port. Times are from the moment it "
        "accepts TCP connections again (a thread polling with connects every 0.5 ms) to the "
        "first message the subscriber receives, and to each client being connected again; "
        f"{case.n} restarts per run, {case.rounds} runs, all restarts pooled. The broker's "
        "downtime column is from its exit to its first accepted connection. Issue 11's "
        f"target: under {RECONNECT_TARGET} s.",
        "",
        *_table(header, rows),
        "",
    ]


def _ratio_row(
    summary: Summary, key: str, name: str, ours: str, theirs: str, *, target: float | None
) -> list[str]:
    """One row of the targets table: ``ours / theirs`` against ``target`` (None: none)."""
    rounds = _round_ratios(summary, key, ours, theirs)
    ratio = _median_ratio(summary, key, ours, theirs)
    return [
        name + (f" ≥ {target:g}" if target else " (no target)"),
        _ratio_with_rounds(summary, key, ours, theirs),
        _verdict(ratio, rounds, target, above=True),
    ]


def issue11_targets(plan: Plan, summary: Summary) -> list[str]:
    """Issue 11's performance targets, each with what this run measured."""
    rows = []
    window = next((c for c in plan.cases if c.scenario == "window"), None)
    if window is not None:
        key = window.key
        labels = {c.label for c in window.contenders}
        comparisons = [
            (f"{AM_WINDOW.label} / raw", AM_WINDOW.label, RAW.label, WINDOW_TARGET),
            (f"{AM_WINDOW_UV.label} / raw", AM_WINDOW_UV.label, RAW.label, None),
            (f"{API_FLOOR.label} / {RAW.label}", API_FLOOR.label, RAW.label, None),
            (f"{AM_WINDOW.label} / {API_FLOOR.label}", AM_WINDOW.label, API_FLOOR.label, None),
            ("window / concurrent publish tasks", AM_WINDOW.label, AM_CONC.label, 1.0),
            # More out than the broker's Receive Maximum, as the 64 tasks keep: the client
            # refills from its own queue.
            ("window 40 / concurrent publish tasks", AM_WINDOW_40.label, AM_CONC.label, 1.0),
        ]
        rows += [
            _ratio_row(summary, key, name, ours, theirs, target=target)
            for name, ours, theirs, target in comparisons
            if {ours, theirs} <= labels
        ]
    store = next((c for c in plan.cases if c.scenario == "store"), None)
    if store is not None:
        name = "SQLiteStore / MemoryStore"
        ours, theirs = AM_WINDOW_SQLITE.label, AM_WINDOW.label
        rows.append(_ratio_row(summary, store.key, name, ours, theirs, target=STORE_TARGET))
    reconnect = next((c for c in plan.cases if c.scenario == "reconnect"), None)
    if reconnect is not None:
        for contender in reconnect.contenders:
            firsts = [
                s["first_message_s"]
                for s in reconnect_samples(summary, reconnect.key, contender.label)
            ]
            median = statistics.median(firsts) if firsts else None
            measured = "failed"
            if median is not None:
                measured = f"median {median * 1000:,.0f} ms, max {max(firsts) * 1000:,.0f} ms"
            rows.append(
                [
                    f"{contender.label}: first message < {RECONNECT_TARGET} s",
                    measured,
                    _verdict(median, firsts, RECONNECT_TARGET, above=False),
                ]
            )
    if not rows:
        return []
    return [
        "## Issue 11 targets",
        "",
        "Ratios of the medians of this run, with the lowest and highest ratio within one round "
        'in brackets; reconnect times over every restart. "met" when the median meets the '
        'target, "every round" / "every restart" when each one did.',
        "",
        *_table(["target", "this run", "verdict"], rows),
        "",
    ]


def _median_ratio(summary: Summary, key: str, ours: str, theirs: str) -> float | None:
    mine, other = summary.median(key, ours, "rate"), summary.median(key, theirs, "rate")
    return None if mine is None or not other else mine / other


def _verdict(
    value: float | None, each: Sequence[float], target: float | None, *, above: bool
) -> str:
    if target is None:
        return "-"
    if value is None:
        return "not measured"

    def meets(x: float) -> bool:
        return x >= target if above else x < target

    if not meets(value):
        return "**missed**"
    every = "every round" if above else "every restart"
    return f"met, {every}" if all(map(meets, each)) else "met (median), not in every one"


def failures_section(summary: Summary) -> list[str]:
    if not summary.failures:
        return []
    lines = ["## Failed runs", ""]
    lines += [
        f"- {f['case']}, {f['label']}, round {f.get('round')}: {f['error']}"
        for f in summary.failures
    ]
    return [*lines, ""]


def markdown(
    plan: Plan, summary: Summary, meta: dict[str, Any], codec: str | None, chart: str | None
) -> str:
    env = meta["versions"]
    peers = ", ".join(f"{k} {v}" for k, v in env.items() if k not in {"python", "matplotlib"})
    lines = [
        "# asyncmqtt benchmark results" + (" (--quick smoke run: not a measurement)" * plan.quick),
        "",
        f"Command: `{meta['command']}`. {meta['machine']['date']}, {meta['machine']['cpu']} "
        f"({meta['machine']['cores']} cores, shared), {meta['machine']['system']}, "
        f"{meta['machine']['mosquitto']} on loopback (max_inflight_messages "
        f"{RECEIVE_MAXIMUM}, max_queued_messages above N). Python {env.get('python')}; {peers}. "
        "All clients speak MQTT 5.0 unless marked. Runs vary by up to 20% on this machine: "
        "compare within one run only.",
        "",
    ]
    if chart:
        lines += [f"![results]({chart})", ""]
    lines += throughput_tables(plan, summary)
    lines += targets_table(plan, summary)
    lines += window_table(plan, summary)
    lines += store_table(plan, summary)
    lines += cli_table(plan, summary)
    lines += broker_table(plan, summary)
    lines += latency_table(plan, summary)
    lines += many_table(plan, summary)
    lines += queued_table(plan, summary)
    lines += reconnect_table(plan, summary)
    lines += issue11_targets(plan, summary)
    if codec is not None:
        lines += ["## Codec (benchmarks/codec.py)", "", "```", codec, "```", ""]
    lines += failures_section(summary)
    return "\n".join(lines)


def headline(plan: Plan, summary: Summary) -> str:
    lines = throughput_headline(plan, summary)
    lines += broker_headline(plan, summary)
    targets = issue11_targets(plan, summary)
    if targets:
        lines += ["", "issue 11 targets:"]
        lines += [f"  {row}" for row in targets[4:] if row.startswith("| ") and "---" not in row]
    return "\n".join(lines)


def throughput_headline(plan: Plan, summary: Summary) -> list[str]:
    cases = [c for c in plan.cases if c.scenario == "throughput"]
    if not cases:
        return []
    lines = ["throughput, msg/s (median):"]
    lines.append(f"  {'contender':<30}" + "".join(f"{f'QoS {c.qos}':>12}" for c in cases))
    for label in _labels(plan, "throughput"):
        cells = []
        for case in cases:
            value = summary.median(case.key, label, "rate")
            cells.append(f"{'failed' if value is None else f'{value:,.0f}':>12}")
        lines.append(f"  {label:<30}" + "".join(cells))
    return lines


def broker_headline(plan: Plan, summary: Summary) -> list[str]:
    cases = [c for c in plan.cases if c.scenario == "broker"]
    if not cases:
        return []
    lines = ["", "brokers, deliveries/s (median), MQTT 3.1.1:"]
    lines.append(f"  {'broker':<26}" + "".join(f"{case.key[7:]:>16}" for case in cases))
    for label in _labels(plan, "broker"):
        cells = []
        for case in cases:
            value = summary.median(case.key, label, "rate")
            cells.append(f"{'failed' if value is None else f'{value:,.0f}':>16}")
        lines.append(f"  {label:<26}" + "".join(cells))
    targets = broker_targets(cases, summary)
    if targets:
        lines += ["", "issue 13 target (embedded / amqtt, verdict, / mosquitto):"]
        lines += [f"  {' | '.join(row)}" for row in targets]
    return lines


def draw_chart(python: str | None, results: Path, image: Path) -> bool:
    if python is None:
        return False
    done = subprocess.run(
        [python, str(BENCH / "chart.py"), str(results), str(image)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"chart.py failed: {done.stderr.strip()}", file=sys.stderr)
        return False
    return True


def chart_python(quick: bool) -> str | None:
    """An interpreter with matplotlib: the peers' one, or this one in a quick run if it has it."""
    if not quick:
        return str(PEERS_PYTHON)
    return sys.executable if importlib.util.find_spec("matplotlib") is not None else None


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny N, 1 round, no peers")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per scenario (default 5)")
    parser.add_argument(
        "--scenarios",
        default=",".join(ALL_SCENARIOS),
        help=f"comma-separated subset of {','.join(ALL_SCENARIOS)}",
    )
    parser.add_argument(
        "--contenders",
        default="",
        help="run only the contenders whose label contains one of these comma-separated words "
        "(for a quick comparison while working; use --out to keep the full results)",
    )
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args(argv)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(ALL_SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {ALL_SCENARIOS}")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.out is None:
        args.out = BENCH / "results" / ("quick" if args.quick else "")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    plan = quick_plan(args.scenarios) if args.quick else full_plan(args.rounds, args.scenarios)
    if args.contenders:
        plan = only_contenders(plan, args.contenders.split(","))
    peers_python = sys.executable if args.quick else ensure_peers_env()
    python_for = {False: peers_python, True: peers_python}
    meta: dict[str, Any] = {
        "command": " ".join(["benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "versions": versions(peers_python),
        "quick": plan.quick,
    }
    records: list[dict[str, Any]] = []
    for case in plan.cases:
        print(f"{case.key} (N={case.n:,}, {case.rounds} rounds)", flush=True)
        records += run_case(python_for, case)
    codec = run_codec(plan.codec_args) if "codec" in args.scenarios else None
    summary = summarise(plan, records)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    results.write_text(json.dumps({"meta": meta, "runs": records}, indent=1) + "\n")
    chart = (
        "results.png"
        if draw_chart(chart_python(plan.quick), results, out / "results.png")
        else None
    )
    (out / "results.md").write_text(markdown(plan, summary, meta, codec, chart) + "\n")
    print()
    print(headline(plan, summary))
    if codec is not None:
        print(codec)
    print(f"\nwrote {out / 'results.md'}, {results.name}" + (f", {chart}" if chart else ""))
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
