"""The end-to-end benchmark still runs: a tiny --quick run against its own broker.

Speed is never asserted here (the machine is shared and noisy); this only keeps the benchmark
working and checks that it reports every scenario.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from broker import Mosquitto

from asyncmqtt.protocol.codec import encode
from asyncmqtt.protocol.enums import ProtocolVersion

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def test_quick_benchmark_runs_and_writes_its_tables(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,  # a safety net against a hang, not a speed check
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table = (tmp_path / "results.md").read_text()
    headings = (
        "End-to-end throughput",
        "window of 20",
        "SQLiteStore against MemoryStore",
        "Latency",
        "Many clients",
        "queued message",
        "Reconnect after a broker restart",
        "Issue 11 targets",
        "`asyncmqtt bench` against the library",
        "The embedded broker against mosquitto and amqtt",
        "Codec",
    )
    for heading in headings:
        assert heading in table
    assert (tmp_path / "results.json").stat().st_size > 0
    assert "msg/s" in result.stdout


def test_profile_client_runs_the_scenario_under_the_profiler() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "profile_client.py"), "--n", "200", "--limit", "5"],
        capture_output=True,
        text=True,
        timeout=120,  # a safety net against a hang, not a speed check
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "200 messages at QoS 1 (concurrent)" in result.stdout
    assert "'received': 200" in result.stdout
    assert "ncalls" in result.stdout  # the profile table


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_encode_floor_writes_the_same_bytes_as_encode_and_mqtt5() -> None:
    floor = _load("encode_floor")
    for qos in (0, 1):
        packet, theirs = floor.packets(qos)
        expected = encode(packet, ProtocolVersion.V5)
        assert floor.floor(packet, ProtocolVersion.V5) == expected == bytes(theirs.write())


def test_contenders_option_keeps_only_the_named_contenders() -> None:
    run = _load("run")
    plan = run.only_contenders(run.full_plan(1, ["throughput", "many"]), ["raw", "gmqtt"])
    for case in plan.cases:
        labels = {contender.label for contender in case.contenders}
        assert labels <= {"raw reference", "gmqtt 0.8"}
    # "many" has no raw reference but has gmqtt; a case left with nobody is dropped.
    assert [case.key for case in plan.cases] == [
        "throughput QoS 0",
        "throughput QoS 1",
        "throughput QoS 2",
        "many 1,000 clients",
        "many 250 clients",
    ]
    assert run.only_contenders(plan, ["nobody"]).cases == []


def test_core_cost_replays_the_qos1_exchange_and_reports_its_cost() -> None:
    core_cost = _load("core_cost")
    acks = core_cost.puback_reads(3)
    assert acks[0] == b"".join(b"\x40\x02" + k.to_bytes(2) for k in range(1, 11))
    # one_round raises if a read of PUBACKs does not complete its publishes: the replay works.
    assert core_cost.one_round(30, acks) > 0


def test_the_topic_alias_benchmark_counts_the_bytes_exactly() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "topic_aliases.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,  # a safety net against a hang, not a speed check
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [
        line.split(" | ")[:4] for line in result.stdout.splitlines() if line[:3] in ("| 0", "| 1")
    ]
    # 100 QoS 0 publishes of 64 bytes to a 100-character topic: 170 bytes each with the
    # topic; with aliases the first is 173 (topic and alias) and the others 72 (alias only).
    # QoS 1 adds the packet id's 2 bytes to each.
    assert rows == [
        ["| 0", "off", "17,000", "170.0"],
        ["| 0", "on", "7,301", "73.0"],
        ["| 1", "off", "17,200", "172.0"],
        ["| 1", "on", "7,501", "75.0"],
    ]


def test_the_instruction_count_workers_deliver_every_message(mosquitto: Mosquitto) -> None:
    # instructions.py runs these under callgrind; here without it (callgrind takes minutes).
    script = str(BENCHMARKS / "instructions.py")
    address = [mosquitto.host, str(mosquitto.port), "50"]
    with subprocess.Popen(
        [sys.executable, script, "--worker", "sub", *address], stdout=subprocess.PIPE
    ) as subscriber:
        assert subscriber.stdout is not None
        assert subscriber.stdout.readline().strip() == b"ready"
        publisher = subprocess.run(
            [sys.executable, script, "--worker", "pub", *address], timeout=120, check=False
        )
        assert publisher.returncode == 0
        # The subscriber exits only once it has counted all 50 messages.
        assert subscriber.wait(timeout=120) == 0


def test_the_instruction_count_is_read_from_callgrinds_totals(tmp_path: Path) -> None:
    instructions = _load("instructions")
    out = tmp_path / "callgrind.out"
    out.write_text("version: 1\nevents: Ir\nfn=(1) main\n0 5\ntotals: 123456\n")
    assert instructions._total(out) == 123456
