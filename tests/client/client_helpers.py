"""Helpers the client tests import."""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from both_brokers import AnyBroker
from broker import Mosquitto

from asyncmqtt import Client, Message, MessageStream

# A guard against a test hanging forever on a message that never comes: generous, never reached
# by a passing test, so it is not a timing assumption.
GUARD_SECONDS = 10.0


def client_for(broker: AnyBroker, **options: Any) -> Client:
    """A Client for ``broker`` (MQTT 5 unless ``protocol`` says otherwise)."""
    return Client(broker.host, broker.port, **options)


async def next_message(stream: MessageStream) -> Message:
    """The next message of ``stream``; fails the test instead of hanging if none comes."""
    async with asyncio.timeout(GUARD_SECONDS):
        return await anext(stream)


async def take(stream: MessageStream, count: int) -> list[Message]:
    """The next ``count`` messages of ``stream`` (with the same guard)."""
    async with asyncio.timeout(GUARD_SECONDS):
        return [await anext(stream) for _ in range(count)]


# ---------------------------------------------------------------- running example programs

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLES = REPOSITORY / "examples"


def example_env(broker: Mosquitto, **extra: str) -> dict[str, str]:
    """The environment an example runs in: pointed at ``broker``, output unbuffered."""
    return {
        **os.environ,
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def run_program(path: Path, env: dict[str, str]) -> str:
    """Run a Python program to its end; return its output (fails the test if it fails)."""
    result = subprocess.run(
        [sys.executable, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{path.name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


class RunningProgram:
    """A Python program running in the background whose output lines the test waits for."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, text: str) -> str:
        """Wait for (and return) the next output line containing ``text``."""
        deadline = time.monotonic() + GUARD_SECONDS
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                message = f"no line with {text!r} in:\n" + "\n".join(self.output)
                raise AssertionError(message) from None
            if line is None:
                raise AssertionError(
                    f"the program ended without printing {text!r}:\n" + "\n".join(self.output)
                )
            self.output.append(line)
            if text in line:
                return line

    def wait(self) -> int:
        return self.process.wait(timeout=GUARD_SECONDS)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
