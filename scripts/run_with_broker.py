"""Run a command next to a fresh mosquitto broker, e.g. the demo: ``make demo``.

Usage: ``python scripts/run_with_broker.py [--] COMMAND [ARG...]``

Starts an anonymous mosquitto on a free port of 127.0.0.1 (see ``tests/broker.py``), runs
COMMAND with ``MQTT_HOST`` and ``MQTT_PORT`` set in its environment, stops the broker and exits
with the command's status. If the command fails, the end of the broker log is printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from broker import BrokerError, Mosquitto


def parse_command(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(
        description="Run COMMAND with MQTT_HOST/MQTT_PORT pointing at a fresh mosquitto broker."
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run")
    command: list[str] = parser.parse_args(argv).command
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        parser.error("give the command to run, e.g.: run_with_broker.py python examples/demo.py")
    return command


def run(command: list[str], broker: Mosquitto) -> int:
    env = {**os.environ, "MQTT_HOST": broker.host, "MQTT_PORT": str(broker.port)}
    try:
        status = subprocess.run(command, env=env, check=False).returncode
    except FileNotFoundError:
        print(f"run_with_broker: command not found: {command[0]}", file=sys.stderr)
        return 127
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    # A command killed by a signal reports -N; shells report 128 + N.
    return 128 - status if status < 0 else status


def main(argv: list[str] | None = None) -> int:
    command = parse_command(sys.argv[1:] if argv is None else argv)
    try:
        with Mosquitto() as broker:
            print(f"run_with_broker: mosquitto on {broker.host}:{broker.port}", file=sys.stderr)
            status = run(command, broker)
            if status != 0:
                print(
                    f"run_with_broker: {command[0]} exited with status {status};"
                    f" the broker log ends with:\n{broker.log_tail(40)}",
                    file=sys.stderr,
                )
            return status
    except BrokerError as error:
        print(f"run_with_broker: could not start mosquitto:\n{error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
