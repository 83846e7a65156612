"""The Python brokers of run.py's ``broker`` scenario, each in a process of its own on a free
loopback port: asyncmqtt's embedded broker (``embedded_broker.py``) and amqtt.

Both look to run.py like ``tests/broker.py``'s ``Mosquitto``: a context manager with ``host``,
``port`` and ``pid`` (the contenders read the broker's CPU time through it). ``start()``
returns once the broker accepts TCP connections; ``stop()`` sends SIGTERM and waits for the
process to exit (SIGKILL after 5 s). The broker's stderr goes to a log file in a temporary
folder, whose tail a failure to start reports.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 20.0  # a Python broker on a loaded machine may take a few seconds to import


def free_port() -> int:
    """A loopback TCP port that nobody held a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False


class BrokerProcess:
    """One broker process; subclasses say how to start it (``command``)."""

    host = LOOPBACK
    name = "broker"

    def __init__(self) -> None:
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._folder: Path | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def command(self, port: int, folder: Path) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-"))
        self.port = free_port()
        log = (self._folder / "broker.log").open("wb")
        with log:
            self._process = subprocess.Popen(
                self.command(self.port, self._folder),
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=self._folder,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not accepts_connections(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"{self.name} did not start on port {self.port}: {tail}")
            time.sleep(0.05)

    def log_tail(self) -> str:
        if self._folder is None:
            return ""
        try:
            text = (self._folder / "broker.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return " | ".join(text.strip().splitlines()[-5:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> BrokerProcess:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedBroker(BrokerProcess):
    """``asyncmqtt.broker.Broker`` through ``embedded_broker.py``, on the default event loop
    or uvloop, with mosquitto's limits of the same run."""

    name = "asyncmqtt-broker"

    def __init__(self, python: str, loop: str, max_inflight: int, max_queued: int) -> None:
        super().__init__()
        self._python = python
        self._loop = loop
        self._limits = (max_inflight, max_queued)

    def command(self, port: int, folder: Path) -> list[str]:
        script = Path(__file__).with_name("embedded_broker.py")
        max_inflight, max_queued = self._limits
        return [
            self._python,
            str(script),
            "--port",
            str(port),
            "--loop",
            self._loop,
            "--max-inflight",
            str(max_inflight),
            "--max-queued",
            str(max_queued),
        ]


# amqtt's own command with a configuration of its own: the default one listens on 0.0.0.0:1883
# and loads plugins that log every packet and publish $SYS topics. Here: one listener on the
# loopback port, anonymous clients allowed, nothing else (its defaults for everything not set).
AMQTT_CONFIG = """\
listeners:
  default:
    type: tcp
    bind: {host}:{port}
plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: true
"""


class AmqttBroker(BrokerProcess):
    """amqtt's ``amqtt`` command (installed next to ``python``) with a generated config."""

    name = "amqtt"

    def __init__(self, python: str) -> None:
        super().__init__()
        self._python = python

    def command(self, port: int, folder: Path) -> list[str]:
        config = folder / "amqtt.yaml"
        config.write_text(AMQTT_CONFIG.format(host=LOOPBACK, port=port))
        executable = Path(self._python).parent / "amqtt"
        if not os.access(executable, os.X_OK):
            raise RuntimeError(f"amqtt is not installed next to {self._python}")
        return [str(executable), "-c", str(config)]


def amqtt_installed(python: str) -> bool:
    """Whether ``python``'s environment has amqtt's command (the peers' environment does)."""
    return os.access(Path(python).parent / "amqtt", os.X_OK)
