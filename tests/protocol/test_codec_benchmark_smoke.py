"""The codec benchmark runs: ``benchmarks/codec.py --quick`` exits 0 and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "codec.py"


def test_the_codec_benchmark_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| case         |  encode |   mqtt5 |   ratio |  decode |   mqtt5 |   ratio |" in lines
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ")}
    assert set(rows) == {"case", "3.1.1 QoS 0", "3.1.1 QoS 1", "5.0 QoS 0", "5.0 QoS 1"}
    for label in ("5.0 QoS 0", "5.0 QoS 1"):
        cells = [cell.strip() for cell in rows[label].split("|")[2:-1]]
        assert all(cell.replace(".", "").rstrip("x").isdigit() for cell in cells), rows[label]
        assert cells[2].endswith("x") and cells[5].endswith("x")
    mqtt5_cells = [cell.strip() for cell in rows["3.1.1 QoS 1"].split("|")[2:-1]]
    assert mqtt5_cells[1] == mqtt5_cells[2] == "-"  # mqtt5 has no MQTT 3.1.1
