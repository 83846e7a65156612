"""Issue 15's benchmark scenario still runs: the ``asyncmqtt bench`` contender and run.py's
``cli`` plan and table. Speed is never asserted (the machine is shared and noisy)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import MosquittoFactory

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_command_as_a_contender(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto(max_inflight_messages=20)
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "contenders" / "cli_bench.py"),
            broker.host,
            str(broker.port),
            "--scenario=throughput",
            "--qos=1",
            "--n=300",
            f"--broker-pid={broker.pid}",
            "--timeout=60",
        ],
        capture_output=True,
        text=True,
        timeout=120,  # a safety net against a hang, not a speed check
        check=False,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["contender"] == "asyncmqtt bench (command)"
    assert record["received"] == 300
    assert record["seconds"] > 0 and record["rate"] > 0
    # (0 can happen: the kernel may count CPU time in whole clock ticks, and a run of 300
    # messages can now fit within one.)
    assert 0 <= record["client_cpu"] < 4
    assert record["broker_cpu"] is not None and record["broker_cpu"] >= 0
    assert record["latency_p50_us"] <= record["latency_p99_us"]


def test_the_command_runs_the_throughput_scenario_only() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "contenders" / "cli_bench.py"),
            "127.0.0.1",
            "1",
            "--scenario=latency",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "throughput scenario only" in json.loads(done.stdout)["error"]


def _runs(case: str, label: str, rates: list[float]) -> list[dict[str, Any]]:
    return [
        {"case": case, "label": label, "round": r, "rate": rate, "client_cpu": 0.9}
        for r, rate in enumerate(rates, 1)
    ]


def test_the_plan_and_the_table() -> None:
    run = _load("run")
    plan = run.full_plan(3, ["cli"])
    qos0, qos1 = plan.cases
    assert (qos0.key, qos1.key) == ("cli QoS 0", "cli QoS 1")
    assert qos0.contenders == (run.AM_SEQ, run.CLI)
    assert qos1.contenders == (run.AM_WINDOW, run.CLI)
    assert qos0.runs == qos1.runs == "throughput"
    assert {"cli QoS 0", "cli QoS 1"} <= {c.key for c in run.quick_plan(["cli"]).cases}
    records = [
        *_runs("cli QoS 0", run.AM_SEQ.label, [100.0, 100.0, 100.0]),
        *_runs("cli QoS 0", run.CLI.label, [90.0, 85.0, 95.0]),
        *_runs("cli QoS 1", run.AM_WINDOW.label, [100.0, 100.0, 100.0]),
        *_runs("cli QoS 1", run.CLI.label, [70.0, 75.0, 80.0]),
    ]
    table = "\n".join(run.cli_table(plan, run.summarise(plan, records)))
    assert "| QoS 0 (N=100,000) | asyncmqtt seq: 100 (100-100) | 90 (85-95) |" in table
    assert "| 0.90x (0.85-0.95) | yes |" in table
    assert "| 0.75x (0.70-0.80) | **no** |" in table
