"""Issue 13's benchmark scenario still works: the load generator's counting subscribers, the
brokers run.py starts, its plan and its table. Speed is never asserted (the machine is shared
and noisy); the tiny end-to-end run is part of the --quick smoke test."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from asyncmqtt.broker import Broker

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"
CONTENDERS = BENCHMARKS / "contenders"
TOPIC = "bench/throughput"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """broker_load.py, which imports its neighbours common and raw by name."""
    monkeypatch.syspath_prepend(str(CONTENDERS))
    yield _load(CONTENDERS / "broker_load.py")


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))


async def _subscribed(load: ModuleType, qos: int, expected: int) -> tuple[Any, FakeTransport]:
    """A CountingSubscriber past CONNACK and SUBACK (granted ``qos``), on a fake transport."""
    subscriber = load.CountingSubscriber()
    transport = FakeTransport()
    subscriber.connection_made(transport)
    subscriber.data_received(b"\x20\x02\x00\x00")  # CONNACK, accepted
    await subscriber.connack
    subscribing = asyncio.ensure_future(subscriber.subscribe(TOPIC, qos, 4, expected))
    await asyncio.sleep(0)  # the SUBSCRIBE is written
    subscriber.data_received(b"\x90\x03\x00\x01" + bytes((qos,)))  # SUBACK
    await subscribing
    transport.written.clear()
    return subscriber, transport


def _publishes(load: ModuleType, qos: int, identifiers: range) -> bytes:
    raw = sys.modules["raw"]
    return b"".join(raw.publish_packet(TOPIC, load.common.PAYLOAD, qos, i, 4) for i in identifiers)


async def test_a_subscriber_counts_packets_split_anywhere_and_acknowledges_each(
    load: ModuleType,
) -> None:
    subscriber, transport = await _subscribed(load, 1, 50)
    stream = _publishes(load, 1, range(300, 350))
    # Reads that cut packets at every kind of place: inside the header, the identifier, the
    # payload, and reads smaller than one packet.
    cuts = [0, 1, 3, 21, 22, 100, 101, 190, 500, 1000, 1001, 2500, len(stream)]
    for start, end in itertools.pairwise(cuts):
        subscriber.data_received(stream[start:end])
    assert subscriber.count == 50
    assert subscriber.done.done() and subscriber.done.result() is None
    acks = b"".join(transport.written)
    assert acks == b"".join(b"\x40\x02" + i.to_bytes(2, "big") for i in range(300, 350))


async def test_a_qos0_subscriber_counts_and_writes_nothing(load: ModuleType) -> None:
    subscriber, transport = await _subscribed(load, 0, 30)
    stream = _publishes(load, 0, range(30))
    subscriber.data_received(stream[:1000])
    assert not subscriber.done.done()
    subscriber.data_received(stream[1000:])
    assert subscriber.count == 30
    assert subscriber.done.done()
    assert transport.written == []


async def test_a_read_with_another_packet_fails_the_subscriber(load: ModuleType) -> None:
    subscriber, _ = await _subscribed(load, 1, 10)
    stream = _publishes(load, 1, range(1, 4))
    # A PUBLISH with another topic (so another length) among them: not what is counted.
    other = sys.modules["raw"].publish_packet("other", b"x", 1, 9, 4)
    subscriber.data_received(stream + other + stream)
    with pytest.raises(RuntimeError, match="something else than 32 PUBLISH"):
        subscriber.done.result()


async def test_the_load_generator_fans_out_through_the_embedded_broker(load: ModuleType) -> None:
    async with Broker(port=0, max_inflight_messages=20) as broker:
        options = load.common.Options(
            host=broker.host,
            port=broker.port,
            scenario="throughput",
            qos=1,
            n=200,
            mode="seq",
            loop="asyncio",
            rate=0.0,
            duration=0.0,
            broker_pid=None,
            timeout=30.0,
            protocol=4,
            subscribers=3,
        )
        record = await load.throughput(options)
    assert (record["received"], record["lost"]) == (600, 0)
    assert record["rate"] == pytest.approx(3 * record["published_rate"])
    assert record["broker_cpu"] is record["per_broker_cpu_second"] is None  # no pid given


def test_other_contenders_refuse_subscribers(
    load: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = sys.modules["raw"]
    with pytest.raises(SystemExit) as exited:
        load.common.main("raw", raw.run, ["127.0.0.1", "1", "--subscribers=2"])
    assert exited.value.code == 1
    assert "--subscribers is broker_load.py's" in capsys.readouterr().out


def test_the_plan_runs_every_broker_on_the_same_3_1_1_load() -> None:
    run = _load(BENCHMARKS / "run.py")
    plan = run.full_plan(5, ["broker"])
    assert [case.key for case in plan.cases] == [
        "broker QoS 0 1->1",
        "broker QoS 1 1->1",
        "broker QoS 0 1->100",
        "broker QoS 1 1->100",
    ]
    fan_out = plan.cases[3]
    labels = [c.label for c in fan_out.contenders]
    assert labels == ["mosquitto", "asyncmqtt Broker", "asyncmqtt Broker uvloop", "amqtt 0.12.1"]
    for contender in fan_out.contenders:
        command = contender.command("python", fan_out, None, 60.0)
        assert command[1].endswith("broker_load.py")
        options = dict(zip(command[4::2], command[5::2], strict=False))
        # The load generator is the same for every broker: its loop too (uvloop is a broker's).
        assert options["--protocol"] == "4"
        assert options["--loop"] == "asyncio"
        assert options["--subscribers"] == "100"
        assert options["--n"] == ("200" if contender.broker == "amqtt" else "2000")
    uvloop = run.broker_process(fan_out.contenders[2], fan_out, sys.executable)
    assert "uvloop" in uvloop.command(1883, Path("."))


def _record(run: ModuleType, key: str, label: str, round_: int, rate: float) -> dict[str, Any]:
    return {
        "case": key,
        "label": label,
        "round": round_,
        "rate": rate,
        "client_cpu": 0.2,
        "broker_cpu": 0.9,
        "lost": 0,
        "per_broker_cpu_second": rate / 0.9,
    }


def test_the_table_gives_the_ratios_and_the_verdict_against_amqtt() -> None:
    run = _load(BENCHMARKS / "run.py")
    plan = run.full_plan(2, ["broker"])
    plan.cases[:] = plan.cases[:2]
    rates = {  # per case: mosquitto, embedded, embedded uvloop, amqtt; two rounds
        "broker QoS 0 1->1": ((100_000, 120_000), (40_000, 36_000), (50_000, 48_000), (2000, 3000)),
        "broker QoS 1 1->1": ((40_000, 40_000), (5000, 7000), (8000, 8000), (2000, 2000)),
    }
    records = [
        _record(run, key, contender.label, round_ + 1, rate)
        for key, per_broker in rates.items()
        for contender, rounds in zip(plan.cases[0].contenders, per_broker, strict=True)
        for round_, rate in enumerate(rounds)
    ]
    records[-1]["lost"] = 7  # amqtt lost messages in one run: the table says so
    text = "\n".join(run.broker_table(plan, run.summarise(plan, records)))
    # QoS 0: embedded 38,000 / amqtt 2,500 = 15.2x (rounds 20x and 12x); / mosquitto 0.35x.
    assert "| QoS 0, 1 → 1 | asyncmqtt Broker | 100,000 | 38,000 (36,000-40,000) |" in text
    assert "| QoS 0, 1 → 1 | amqtt 0.12.1 | 10,000 |" in text
    assert "15.20x (12.00-20.00) | met, every round | 0.35x (0.30-0.40) |" in text
    # QoS 1: 6,000 / 2,000 = 3.0x, but round 1 was 2.5x: met in the median only.
    assert "/ amqtt ≥ 3 | 3.00x (2.50-3.50) | met (median), not in every one |" in text
    assert (
        "| QoS 1, 1 → 1 | amqtt 0.12.1 | 2,000 | 2,000 (2,000-2,000) | 90% / 20% | 2,222 | **7** |"
        in text
    )
