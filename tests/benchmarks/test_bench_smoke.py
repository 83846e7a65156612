"""The end-to-end benchmark still runs: a tiny --quick run against its own broker.

Speed is never asserted here (the machine is shared and noisy); this only keeps the benchmark
working and checks that it reports every scenario.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    for heading in ("End-to-end throughput", "Latency", "Many clients", "queued message", "Codec"):
        assert heading in table
    assert (tmp_path / "results.json").stat().st_size > 0
    assert "msg/s" in result.stdout
