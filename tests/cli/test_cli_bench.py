"""``asyncmqtt bench pub|sub|conn`` in this process against mosquitto and the embedded broker:
what they count and report (small runs; the numbers themselves are the benchmark's business,
see benchmarks/README.md)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from broker import Mosquitto
from cli_helpers import Result

from asyncmqtt.broker import Broker
from asyncmqtt.cli import _bench
from asyncmqtt.cli._measure import stamp_writer
from asyncmqtt.protocol.broker_config import Action

Cli = Callable[..., Result]
ACli = Callable[..., Awaitable[Result]]


def _where(mosquitto: Mosquitto) -> list[str]:
    return ["-h", mosquitto.host, "-p", str(mosquitto.port)]


def _json(done: Result) -> dict[str, Any]:
    assert done.code == 0, done.err
    record: dict[str, Any] = json.loads(done.out)
    return record


def test_pub_end_to_end(cli: Cli, mosquitto: Mosquitto, topic: str) -> None:
    done = cli(
        "bench", "pub", *_where(mosquitto), "-t", f"{topic}/%i", "-q", "1", "--count", "200",
        "--subscribers", "1", "--json",
    )  # fmt: skip
    record = _json(done)
    assert record["command"] == "bench pub"
    assert record["completed"] is True
    assert (record["published"], record["acknowledged"], record["received"]) == (200, 200, 200)
    assert (record["expected"], record["lost"], record["errors"]) == (200, 0, 0)
    assert record["latency"]["count"] == 28  # (every 7th message received: 7, 14, ..., 196)
    assert record["ack_latency"]["count"] == 29  # (every 7th publish: 0, 7, ..., 196)
    latency = record["latency"]
    assert 0 < latency["p50_us"] <= latency["p90_us"] <= latency["p99_us"] <= latency["max_us"]
    assert record["throughput"] > 0
    assert record["cpu_seconds"] >= 0
    assert record["payload_bytes"] == 64


def test_pub_at_a_rate_from_several_clients(cli: Cli, mosquitto: Mosquitto, topic: str) -> None:
    done = cli(
        "bench", "pub", *_where(mosquitto), "-t", f"{topic}/%i", "-c", "2", "--rate", "400",
        "--duration", "0.5", "-s", "8", "--json",
    )  # fmt: skip
    record = _json(done)
    # 400 a second for half a second: 200, and never ahead of the schedule (one per client
    # at its start).
    assert 0 < record["published"] <= 202
    assert (record["acknowledged"], record["received"], record["latency"]) == (None, None, None)
    assert record["rate_limit"] == 400


def test_pub_summary_for_people(cli: Cli, mosquitto: Mosquitto, topic: str) -> None:
    done = cli(
        "bench", "pub", *_where(mosquitto), "-t", topic, "-q", "2", "--count", "50",
        "--subscribers", "2",
    )  # fmt: skip
    assert done.code == 0, done.err
    lines = done.lines()
    assert lines[0].startswith("bench pub: 1 publisher, 2 subscribers, QoS 2, 64-byte payloads")
    assert re.match(r"  published +50 in ", lines[1])
    assert any(re.match(r"  received +100 of 100 in .*; lost 0$", line) for line in lines)
    assert any(line.startswith("  latency       publish to receive: p50 ") for line in lines)
    assert any(re.match(r"  throughput +[\d,]+ msg/s$", line) for line in lines)


def test_the_progress_line(
    cli: Cli, mosquitto: Mosquitto, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_bench, "PROGRESS_INTERVAL", 0.01)
    done = cli(
        "bench", "pub", *_where(mosquitto), "-t", topic, "--rate", "200", "--count", "40",
        "--subscribers", "1", "--progress", "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    reports = done.err.splitlines()
    assert reports
    assert all(
        re.fullmatch(
            r"\[ +\d+\.\d s\]  published [\d,]+ \(.+\)  received [\d,]+ \(.+\)  "
            r"in flight \d+  errors 0",
            line,
        )
        for line in reports
    ), reports
    # Without --progress (and with stderr not a terminal), nothing.
    quiet = cli("bench", "pub", *_where(mosquitto), "-t", topic, "--count", "5", "--json")
    assert (quiet.code, quiet.err) == (0, "")


async def test_sub_counts_and_times_stamped_messages(acli: ACli, topic: str) -> None:
    subscriptions: list[str] = []
    both = asyncio.Event()

    def authorize(client_id: str, username: str | None, action: Action, name: str) -> None:
        if action is Action.SUBSCRIBE:
            subscriptions.append(client_id)
            if len(subscriptions) == 2:
                both.set()

    async with Broker(port=0, authorize=authorize) as broker:
        argv = [
            "bench", "sub", "-p", str(broker.port), "-c", "2", "-t", f"{topic}/#", "-q", "1",
            "--count", "5", "--json",
        ]  # fmt: skip
        run = asyncio.create_task(acli(*argv))
        await both.wait()
        stamped = stamp_writer(32)
        for index in range(5):
            broker.publish(f"{topic}/{index}", stamped(), qos=1)
        record = _json(await run)
    assert record["command"] == "bench sub"
    assert (record["received"], record["completed"], record["errors"]) == (10, True, 0)
    assert record["latency"]["count"] == 10


def test_sub_for_a_duration(cli: Cli, mosquitto: Mosquitto, topic: str) -> None:
    record = _json(
        cli("bench", "sub", *_where(mosquitto), "-t", topic, "--duration", "0.2", "--json")
    )
    assert (record["received"], record["completed"], record["throughput"]) == (0, True, 0.0)
    assert record["latency"]["p50_us"] is None


def test_conn(cli: Cli, mosquitto: Mosquitto) -> None:
    record = _json(
        cli("bench", "conn", *_where(mosquitto), "-c", "30", "--concurrency", "10", "--json")
    )
    assert record["command"] == "bench conn"
    assert (record["connected"], record["errors"], record["completed"]) == (30, 0, True)
    assert record["latency"]["count"] == 30
    assert record["throughput"] > 0


async def test_conn_counts_refusals(acli: ACli) -> None:
    async with Broker(port=0, max_connections=5) as broker:
        done = await acli("bench", "conn", "-p", str(broker.port), "-c", "8", "--json")
    record = _json(done)
    assert (record["connected"], record["errors"]) == (5, 3)
    [(message, count)] = record["error_messages"].items()
    assert count == 3
    assert "QUOTA_EXCEEDED" in message


def test_could_not_connect(cli: Cli) -> None:
    done = cli("bench", "pub", "-p", "1", "--count", "1")
    assert done.code == 2
    assert done.err.startswith("asyncmqtt bench: connecting to mqtt://localhost:1 failed")
    done = cli("bench", "conn", "-p", "1", "-c", "3")
    assert done.code == 2
    assert "failed at the tcp stage" in done.err


async def test_pub_counts_refused_publishes_as_errors(acli: ACli, topic: str) -> None:
    def authorize(client_id: str, username: str | None, action: Action, name: str) -> int:
        return 0x87 if action is Action.PUBLISH else 0

    async with Broker(port=0, authorize=authorize) as broker:
        done = await acli(
            "bench", "pub", "-p", str(broker.port), "-t", topic, "-q", "1", "--count", "30",
            "--inflight", "4", "--json",
        )  # fmt: skip
    record = _json(done)
    assert (record["published"], record["acknowledged"], record["errors"]) == (30, 0, 30)
    assert record["ack_latency"]["count"] == 0  # (only successes are timed)
    [(message, count)] = record["error_messages"].items()
    assert (count, "NOT_AUTHORIZED" in message) == (30, True)
