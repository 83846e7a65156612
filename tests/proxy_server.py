"""Real proxy servers for tests: one pproxy process serving SOCKS4, SOCKS5 and HTTP CONNECT.

Theory of operation: ``Pproxy.start()`` picks a free loopback port for each listener (see
``LISTENERS``: every kind of proxy, with and without authentication) and runs pproxy (PyPI
``pproxy``) in a child process with the test interpreter. It is ready when every port accepts a
TCP connection. pproxy prints one line per tunnel it opens (``-v``), unbuffered, before it
connects to the target, so a test that finished a round trip can read in ``log_text()`` that
the traffic went through the proxy. If another program took a port between our probe and
pproxy's bind, pproxy says "Start server failed" and we retry with new ports.

pproxy is told three more things: ``--auth -1`` (pproxy otherwise trusts, for a month, any
address that authenticated once, which would let a wrong password through after a right one),
a block rule so that it opens tunnels to 127.0.0.1 and localhost only, and not to use uvloop
(pproxy 2.7.9 fails to start under uvloop 0.2x: it asks for an event loop before creating one).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self

__all__ = ("LISTENERS", "PROXY_PASSWORD", "PROXY_USER", "ProxyError", "Pproxy", "ProxyListener")

LOOPBACK: Final = "127.0.0.1"
PROXY_USER: Final = "mqtt-user"
PROXY_PASSWORD: Final = "proxy-secret"
_STARTUP_DEADLINE: Final = 15.0
_POLL_INTERVAL: Final = 0.02
_ATTEMPTS: Final = 5
_START_FAILED: Final = "Start server failed"
# Run pproxy's main() without uvloop; see the module docstring.
_LAUNCHER: Final = (
    "import sys; sys.modules['uvloop'] = None; from pproxy.server import main; main()"
)
_ONLY_LOOPBACK: Final = r"{(?!(127\.0\.0\.1|localhost)$).*}"


@dataclass(frozen=True)
class ProxyListener:
    """One proxy endpoint: its scheme in pproxy's URI and whether it demands credentials."""

    scheme: str  # "socks4", "socks5" or "http"
    authenticated: bool

    def uri(self, port: int) -> str:
        uri = f"{self.scheme}://{LOOPBACK}:{port}"
        if not self.authenticated:
            return uri
        # SOCKS4 has a user id and no password.
        secret = PROXY_USER if self.scheme == "socks4" else f"{PROXY_USER}:{PROXY_PASSWORD}"
        return f"{uri}#{secret}"


LISTENERS: Final = {
    "socks4": ProxyListener("socks4", authenticated=False),
    "socks4_auth": ProxyListener("socks4", authenticated=True),
    "socks5": ProxyListener("socks5", authenticated=False),
    "socks5_auth": ProxyListener("socks5", authenticated=True),
    "http": ProxyListener("http", authenticated=False),
    "http_auth": ProxyListener("http", authenticated=True),
}


class ProxyError(RuntimeError):
    """pproxy could not be started; the message carries its output."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False


class Pproxy:
    """A pproxy process with every listener of ``LISTENERS``; a context manager."""

    host: Final = LOOPBACK

    def __init__(self) -> None:
        self.ports: dict[str, int] = {}
        self._workdir = Path(tempfile.mkdtemp(prefix="asyncmqtt-pproxy-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self._workdir / "pproxy.log"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def failure_report(self) -> tuple[str, str]:
        """A section for a failed test's report: the end of pproxy's log."""
        tail = "\n".join(self.log_text().splitlines()[-40:])
        return ("pproxy log, last lines", tail)

    def port(self, name: str) -> int:
        """The port of the listener called ``name`` in ``LISTENERS``."""
        return self.ports[name]

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("pproxy is already running")
        for _attempt in range(_ATTEMPTS):
            self.ports = {name: _free_port() for name in LISTENERS}
            if self._launch():
                return
        raise ProxyError(f"pproxy found no free ports in {_ATTEMPTS} attempts:\n{self.log_text()}")

    def _launch(self) -> bool:
        """Start pproxy; False if a port was taken meanwhile (it has then been stopped)."""
        arguments = [sys.executable, "-u", "-c", _LAUNCHER, "-v", "--auth", "-1"]
        arguments += ["-b", _ONLY_LOOPBACK]
        for name, listener in LISTENERS.items():
            arguments += ["-l", listener.uri(self.ports[name])]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                arguments, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + _STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if _START_FAILED in self.log_text():
                self.stop()
                return False
            if self._process.poll() is not None:
                status = self._process.returncode
                self._process = None
                raise ProxyError(f"pproxy exited with status {status}:\n{self.log_text()}")
            if all(_accepts(port) for port in self.ports.values()):
                return True
            time.sleep(_POLL_INTERVAL)
        self.stop()
        raise ProxyError(f"pproxy did not listen within {_STARTUP_DEADLINE} s:\n{self.log_text()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
