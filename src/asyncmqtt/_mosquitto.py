"""A mosquitto process for the pytest plugin's ``--mqtt-broker=mosquitto``: ``MosquittoBroker``.

Theory of operation: ``start()`` makes a temporary directory, picks a free port on 127.0.0.1
(binds a socket to port 0, reads the port, closes it), writes a config there (one anonymous
listener on that port, no persistence, the log on stderr) and runs ``mosquitto -c FILE`` in the
foreground as a child process, its output going to a log file in the directory. The broker is
ready when a TCP connection to the port succeeds. Another program may take the port between
our probe and mosquitto's bind: mosquitto then exits saying "Address already in use", and
``start()`` tries again with a new port. ``close()`` stops that one process by its pid (SIGTERM,
then SIGKILL if it lingers) and removes the directory.

No pytest and no asyncio here: the plugin calls this from a thread.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Final

__all__ = ("MOSQUITTO_INSTALL_HINT", "MosquittoBroker", "MosquittoNotFoundError", "find_mosquitto")

MOSQUITTO_INSTALL_HINT: Final = (
    "install it with your system's package manager, e.g. "
    "`apt-get install mosquitto` (Debian, Ubuntu), `brew install mosquitto` (macOS), "
    "`dnf install mosquitto` (Fedora)"
)
LOOPBACK: Final = "127.0.0.1"
# Debian installs the broker in /usr/sbin, which is not on an ordinary user's PATH.
SBIN_DIRS: tuple[str, ...] = ("/usr/sbin", "/usr/local/sbin")
_START_TIMEOUT: Final = 10.0  # seconds; mosquitto is normally ready in well under 0.1 s
_STOP_TIMEOUT: Final = 5.0  # seconds after SIGTERM before SIGKILL
_PORT_ATTEMPTS: Final = 5  # fresh ports tried when another program took the chosen one
_POLL_INTERVAL: Final = 0.01
_TAIL_BYTES: Final = 16 * 1024


class MosquittoNotFoundError(RuntimeError):
    """The ``mosquitto`` executable is not installed (not on PATH nor in an sbin folder)."""


def find_mosquitto() -> str | None:
    """The path of the ``mosquitto`` executable: on PATH, else in ``SBIN_DIRS``; or None."""
    found = shutil.which("mosquitto")
    if found is not None:
        return found
    for directory in SBIN_DIRS:
        candidate = Path(directory, "mosquitto")
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts_connection(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False


class MosquittoBroker:
    """A mosquitto broker of its own on a free port of 127.0.0.1, anonymous, plain TCP, no
    persistence: what the pytest plugin's ``mqtt_broker`` fixture gives under
    ``--mqtt-broker=mosquitto``. It has the members a test meant for both brokers uses:
    ``host``, ``port``, ``url``, ``client_arguments()`` (``kind`` tells them apart).

    ``start()`` raises ``MosquittoNotFoundError`` when mosquitto is not installed and
    ``RuntimeError`` with the end of its log when it does not start; ``close()`` stops it.
    ``config_lines`` are added to the generated config (e.g. ``["max_packet_size 1000"]``).
    """

    kind: Final = "mosquitto"
    """Which broker this is (``Broker`` has no such member: ``getattr(broker, "kind",
    "embedded")``)."""

    def __init__(self, *, config_lines: tuple[str, ...] = ()) -> None:
        self.host = LOOPBACK
        """The address it listens on."""
        self.port = 0
        """Its port, once started."""
        self.config_lines = config_lines
        self._directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT``."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id of the running mosquitto, or None."""
        return None if self._process is None else self._process.pid

    @property
    def log_path(self) -> Path | None:
        """The broker's log file while it runs, else None."""
        return None if self._directory is None else self._directory / "mosquitto.log"

    def client_arguments(self) -> dict[str, Any]:
        """The arguments of ``asyncmqtt.Client`` that reach the broker (``hostname``,
        ``port``)."""
        return {"hostname": self.host, "port": self.port}

    def log_tail(self) -> str:
        """The last lines of the broker's log (empty once it has been closed)."""
        path = self.log_path
        if path is None or not path.exists():
            return ""
        with path.open("rb") as log:
            log.seek(max(0, path.stat().st_size - _TAIL_BYTES))
            return log.read().decode(errors="replace")

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        if self._process is not None:
            raise RuntimeError("this mosquitto is already running")
        executable = find_mosquitto()
        if executable is None:
            raise MosquittoNotFoundError(
                "--mqtt-broker=mosquitto: the mosquitto executable was not found on PATH "
                f"nor in {', '.join(SBIN_DIRS)}; {MOSQUITTO_INSTALL_HINT}, or run the tests on "
                "the embedded broker (--mqtt-broker=embedded, the default)"
            )
        self._directory = Path(tempfile.mkdtemp(prefix="asyncmqtt-mosquitto-"))
        try:
            for _ in range(_PORT_ATTEMPTS):
                if self._start_on(executable, _free_port()):
                    return
            raise RuntimeError(
                f"mosquitto found every port taken in {_PORT_ATTEMPTS} attempts:\n{self.log_tail()}"
            )
        except BaseException:
            self.close()
            raise

    def _start_on(self, executable: str, port: int) -> bool:
        """Run mosquitto on ``port``; False if another program had taken the port."""
        assert self._directory is not None
        config = self._directory / "mosquitto.conf"
        lines = [
            f"listener {port} {LOOPBACK}",
            "allow_anonymous true",
            "persistence false",
            # stderr goes to a file we opened: mosquitto started as root drops to its own user,
            # which could not open a log file in our private directory.
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            *self.config_lines,
        ]
        config.write_text("\n".join(lines) + "\n")
        with (self._directory / "mosquitto.log").open("ab") as log:
            self._process = subprocess.Popen(
                [executable, "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                if "Address already in use" in self.log_tail():
                    return False
                raise RuntimeError(f"mosquitto exited at start:\n{self.log_tail()}")
            if _accepts_connection(port):
                self.port = port
                return True
            time.sleep(_POLL_INTERVAL)
        raise RuntimeError(
            f"mosquitto did not accept connections within {_START_TIMEOUT} s:\n{self.log_tail()}"
        )

    def close(self) -> None:
        """Stop the broker (SIGTERM to its pid, SIGKILL after 5 s) and remove its files."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM to its pid (TerminateProcess on Windows)
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        directory, self._directory = self._directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self._process is not None else "stopped"
        return f"<MosquittoBroker {self.url} {state}>"
