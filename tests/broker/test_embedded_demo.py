"""``make demo`` and ``scripts/run_with_broker.py`` on a machine without mosquitto: the embedded
broker stands in, with nothing to install and no root (the demo target installs no system
packages)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPT = REPOSITORY / "scripts" / "run_with_broker.py"
CONNECT_V311 = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"  # clean session, no client id
CONNACK_ACCEPTED = b"\x20\x02\x00\x00"


def environment_without_mosquitto() -> dict[str, str]:
    """This environment with every directory holding a ``mosquitto`` left out of PATH."""
    directories = [
        directory
        for directory in os.environ.get("PATH", "").split(os.pathsep)
        if directory and not (Path(directory) / "mosquitto").exists()
    ]
    path = os.pathsep.join(directories)
    assert shutil.which("mosquitto", path=path) is None
    return {**os.environ, "PATH": path}


def test_make_demo_runs_on_the_embedded_broker_without_mosquitto() -> None:
    env = environment_without_mosquitto()
    make = shutil.which("make", path=env["PATH"])
    if make is None:
        pytest.fail("make is not installed", pytrace=False)
    venv = Path(sys.prefix)
    # This environment's virtualenv as make's, taken as installed (-o: never reinstalled here).
    result = subprocess.run(
        [make, f"VENV={venv}", "-o", str(venv / ".installed"), "demo"],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "the embedded broker (asyncmqtt.broker) on 127.0.0.1:" in output
    assert "received all 7 readings; done" in output
    assert "system-packages" not in output and "apt-get" not in output


def test_run_with_broker_falls_back_to_the_embedded_broker() -> None:
    env = environment_without_mosquitto()
    command = (
        "import os, socket, sys\n"
        "address = (os.environ['MQTT_HOST'], int(os.environ['MQTT_PORT']))\n"
        "with socket.create_connection(address, timeout=5) as connection:\n"
        f"    connection.sendall({CONNECT_V311!r})\n"
        "    answer = connection.makefile('rb').read(4)\n"
        f"sys.exit(0 if answer == {CONNACK_ACCEPTED!r} else 42)\n"
    )
    passed = subprocess.run(
        [sys.executable, SCRIPT, sys.executable, "-c", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert passed.returncode == 0, passed.stderr
    assert "the embedded broker (asyncmqtt.broker)" in passed.stderr

    failed = subprocess.run(
        [sys.executable, SCRIPT, "--broker", "embedded", "--", sys.executable, "-c", "exit(7)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 7
    assert "exited with status 7; the broker log ends with:" in failed.stderr
    assert "broker listening on mqtt://127.0.0.1:" in failed.stderr

    missing = subprocess.run(
        [sys.executable, SCRIPT, "--broker", "embedded", "no-such-command-here"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 127
    assert "command not found: no-such-command-here" in missing.stderr
