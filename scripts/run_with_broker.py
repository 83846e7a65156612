"""Run a command next to a fresh MQTT broker, e.g. the demo: ``make demo``.

Usage: ``python scripts/run_with_broker.py [--broker BROKER] [--] COMMAND [ARG...]``, BROKER
one of ``auto``, ``embedded``, ``mosquitto`` (below).

Starts a broker on a free port of 127.0.0.1, runs COMMAND with ``MQTT_HOST`` and ``MQTT_PORT``
set in its environment, stops the broker and exits with the command's status. If the command
fails, the end of the broker's log is printed.

The broker:

* ``embedded``: asyncmqtt's own (``asyncmqtt.broker``), in this process: nothing to install,
  no root, ready in milliseconds. ``make demo`` uses it.
* ``mosquitto``: an anonymous mosquitto (see ``tests/broker.py``); fails with status 2 when
  mosquitto is not installed.
* ``auto`` (the default): mosquitto when ``mosquitto`` is on PATH, else the embedded broker.

The embedded broker is imported from this checkout's ``src/`` (so this script runs on any
Python 3.11+, with or without the project's virtualenv); COMMAND runs as given.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "tests"))
sys.path.insert(0, str(REPOSITORY / "src"))

from broker import BrokerError, Mosquitto  # noqa: E402  (tests/broker.py, after the path)

BROKERS = ("auto", "embedded", "mosquitto")
LOG_LINES = 40  # of the broker's log, printed when the command fails
STOP_GRACE = 5.0  # seconds an interrupted command has to exit before it is killed


def parse_arguments(argv: list[str]) -> tuple[str, list[str]]:
    parser = argparse.ArgumentParser(
        description="Run COMMAND with MQTT_HOST/MQTT_PORT pointing at a fresh MQTT broker."
    )
    parser.add_argument(
        "--broker",
        choices=BROKERS,
        default="auto",
        help="embedded: asyncmqtt.broker in this process; mosquitto; auto (the default): "
        "mosquitto if it is on PATH, else embedded",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run")
    arguments = parser.parse_args(argv)
    command: list[str] = arguments.command
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        parser.error("give the command to run, e.g.: run_with_broker.py python examples/demo.py")
    return arguments.broker, command


def choose_broker(choice: str) -> str:
    """``auto`` becomes ``mosquitto`` when it is on PATH, else ``embedded``."""
    if choice != "auto":
        return choice
    return "mosquitto" if shutil.which("mosquitto") is not None else "embedded"


def exit_status(returncode: int) -> int:
    # A command killed by a signal reports -N; shells report 128 + N.
    return 128 - returncode if returncode < 0 else returncode


def report_failure(command: list[str], status: int, log_tail: str) -> None:
    if status != 0:
        print(
            f"run_with_broker: {command[0]} exited with status {status};"
            f" the broker log ends with:\n{log_tail}",
            file=sys.stderr,
        )


# -- mosquitto ----------------------------------------------------------------------------------


def run_with_mosquitto(command: list[str]) -> int:
    try:
        with Mosquitto() as broker:
            print(f"run_with_broker: mosquitto on {broker.host}:{broker.port}", file=sys.stderr)
            env = {**os.environ, "MQTT_HOST": broker.host, "MQTT_PORT": str(broker.port)}
            try:
                status = exit_status(subprocess.run(command, env=env, check=False).returncode)
            except FileNotFoundError:
                print(f"run_with_broker: command not found: {command[0]}", file=sys.stderr)
                return 127
            except KeyboardInterrupt:
                return 128 + signal.SIGINT
            report_failure(command, status, broker.log_tail(LOG_LINES))
            return status
    except BrokerError as error:
        print(f"run_with_broker: could not start mosquitto:\n{error}", file=sys.stderr)
        return 2


# -- the embedded broker ------------------------------------------------------------------------


class LogTail(logging.Handler):
    """Keeps the last lines the embedded broker logged, for a failure report."""

    def __init__(self, lines: int) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


async def serve_embedded(command: list[str], tail: LogTail) -> int:
    from asyncmqtt.broker import Broker  # noqa: PLC0415  (from src/, after the path)

    logger = logging.getLogger("run_with_broker.embedded")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(tail)
    async with Broker(port=0, logger=logger) as broker:
        print(
            f"run_with_broker: the embedded broker (asyncmqtt.broker) on {broker.host}:"
            f"{broker.port}",
            file=sys.stderr,
        )
        env = {**os.environ, "MQTT_HOST": broker.host, "MQTT_PORT": str(broker.port)}
        try:
            process = await asyncio.create_subprocess_exec(*command, env=env)
        except FileNotFoundError:
            print(f"run_with_broker: command not found: {command[0]}", file=sys.stderr)
            return 127
        try:
            return exit_status(await process.wait())
        except asyncio.CancelledError:
            # Ctrl-C: the command got SIGINT too; give it time to finish, then kill it.
            try:
                async with asyncio.timeout(STOP_GRACE):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
            raise


def run_embedded(command: list[str]) -> int:
    tail = LogTail(LOG_LINES)
    try:
        status = asyncio.run(serve_embedded(command, tail))
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    report_failure(command, status, tail.text())
    return status


def main(argv: list[str] | None = None) -> int:
    choice, command = parse_arguments(sys.argv[1:] if argv is None else argv)
    if choose_broker(choice) == "mosquitto":
        return run_with_mosquitto(command)
    return run_embedded(command)


if __name__ == "__main__":
    sys.exit(main())
