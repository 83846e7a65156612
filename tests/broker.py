"""Start real mosquitto brokers for tests, benchmarks and the demo.

Theory of operation: a ``Mosquitto`` object owns one temporary directory holding the config file,
the password and ACL files, the broker log and the persistence database. ``start()`` picks a free
loopback port for every listener that has none yet (bind a socket to port 0, read the port, close
it), writes the config and runs ``mosquitto -c FILE`` in the foreground as a child process. The
broker is ready when its log says "running" (it writes that line only after every listener is
open) and a TCP connection to every listener succeeds. Another program may grab a chosen port
between our probe and mosquitto's bind; mosquitto then exits with "Address already in use", and
``start()`` picks new ports and tries again. ``stop()`` sends SIGTERM (which also saves the
persistence database) and SIGKILL if the broker lingers, but keeps the ports, so ``restart()``
brings the same broker back on the same port with its persisted sessions. ``close()`` stops the
broker and deletes the directory.

Fault injection: ``kill()`` stops the broker with SIGKILL, as a crash or power cut would, so
nothing is saved on the way out; ports and data stay as with ``stop()``. ``restart(kill=True)``
is kill + start. ``restart(**changes)`` also takes new limits (``max_inflight_messages``,
``max_queued_messages``, ``max_packet_size``, ``max_qos``; None means mosquitto's default),
written to the config before the broker starts again and kept from then on, so a test can bring
the same broker (same port, same persisted sessions) back with, say, a smaller packet size. The
changes are checked before the broker is stopped: a bad one leaves it running as it was.

Persistence after SIGKILL: with ``persistence=True`` alone mosquitto saves its database only at
a clean exit and every 1800 s, so ``kill()`` loses everything since the start. With
``autosave_on_changes=True`` too, the config has ``autosave_on_changes true`` and
``autosave_interval 1``: mosquitto then saves after every loop turn that changed something
(a persistent session created, a subscription, a retained message, a QoS 1/2 message queued).
It saves *after* sending the acknowledgement of the change, so a SIGKILL right after that
acknowledgement can interrupt the save, which leaves the previous database in place.
``wait_for_save()`` closes that gap: mosquitto runs one thread, so once it answers a packet sent
after the acknowledgement, the save that followed the acknowledgement has finished. Measured on
mosquitto 2.0.11: a persistent MQTT 3.1.1 client subscribed at QoS 1 and went offline, another
client published 5 messages to it (each acknowledged), then ``kill()`` and ``start()``:

* ``persistence=True`` only: no session came back (3 of 3 runs), as with a bare persistent
  session or a retained message;
* with ``autosave_on_changes``, killed straight after the last PUBACK: the session and 4 of
  the 5 messages came back in 20 of 20 runs (QoS 2: 4 messages in 18 runs, 5 in 2); a bare
  persistent session came back in 1 of 10 runs, a retained message in 3 of 10;
* with ``autosave_on_changes`` and ``wait_for_save()`` before ``kill()``: everything came back
  every time (5 of 5 messages in 20 of 20 runs at QoS 1 and at QoS 2; the bare session and the
  retained message in 10 of 10).

QoS 0 messages are never queued for an offline client (mosquitto's ``queue_qos0_messages`` is
off), so none of them survive a kill, nor even a clean restart.

Listeners are kept as a list of blocks: the plain TCP one that every broker has, and any TLS,
WebSocket (plain or TLS) and Unix-socket listeners added before ``start()`` (``add_tls_listener``,
``add_websocket_listener``, ``add_unix_listener``). Every network listener binds 127.0.0.1
only; WebSocket listeners also need ``socket_domain ipv4`` for that on mosquitto 2.0.11. A
listener is ready when ``accepts_connection()`` says so (a TCP or Unix-socket connect). The
lines every listener block gets (``allow_anonymous``, the password and ACL files, and
``max_qos``, a listener option in mosquitto 2.0.11) are passed to ``config_lines``.

No pytest here: benchmarks and scripts import this module too, after putting ``tests/`` on
``sys.path``::

    from broker import Mosquitto

    with Mosquitto() as broker:
        print(broker.host, broker.port)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, TypedDict, TypeVar, Unpack

__all__ = (
    "INSTALL_HINT",
    "BrokerError",
    "BrokerLimits",
    "Listener",
    "Mosquitto",
    "MosquittoOptions",
    "TcpListener",
    "TlsFiles",
    "TlsListener",
    "UnixListener",
    "WebSocketListener",
    "find_mosquitto",
)

INSTALL_HINT = "apt-get update && apt-get install -y mosquitto mosquitto-clients"
LOOPBACK = "127.0.0.1"

# Debian installs the broker in /usr/sbin, which is not on an ordinary user's PATH.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin")
_STARTUP_DEADLINE = 10.0  # seconds; mosquitto is normally ready in well under 0.1 s
_STOP_TIMEOUT = 5.0  # seconds to wait after SIGTERM before SIGKILL
_PORT_ATTEMPTS = 5  # fresh port choices before giving up on "Address already in use"
_POLL_INTERVAL = 0.01
_TAIL_BYTES = 64 * 1024
_RUNNING_LINE = " running"  # the tail of "mosquitto version X running"
_ADDRESS_IN_USE = "Address already in use"
_SAVE_TIMEOUT = 10.0  # seconds for wait_for_save()'s round trip
# MQTT 3.1.1 CONNECT (clean session, keepalive 60 s, empty client id), and DISCONNECT.
_PROBE_CONNECT = bytes.fromhex("10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00")
_PROBE_DISCONNECT = bytes.fromhex("e0 00")
_CONNACK_PREFIX = bytes.fromhex("20 02")  # CONNACK, 2 bytes follow


_ListenerT = TypeVar("_ListenerT", bound="Listener")


class BrokerError(RuntimeError):
    """The broker could not be started or stopped; the message carries its output."""


class MosquittoOptions(TypedDict, total=False):
    """The keyword arguments of ``Mosquitto``, for typed factories such as the test fixture."""

    anonymous: bool
    users: Mapping[str, str] | None
    acl: str | None
    persistence: bool
    autosave_on_changes: bool
    max_inflight_messages: int | None
    max_queued_messages: int | None
    max_packet_size: int | None
    max_qos: int | None
    extra: str | Sequence[str]
    log_type: str | Sequence[str]


class BrokerLimits(TypedDict, total=False):
    """The limits ``Mosquitto.restart(**changes)`` can change; None is mosquitto's default."""

    max_inflight_messages: int | None
    max_queued_messages: int | None
    max_packet_size: int | None
    max_qos: int | None


_GLOBAL_LIMITS = ("max_inflight_messages", "max_queued_messages", "max_packet_size")
_LIMITS = (*_GLOBAL_LIMITS, "max_qos")  # max_qos is a listener option: see _config_text


def find_mosquitto(name: str = "mosquitto") -> str | None:
    """Return the path of a mosquitto executable (``mosquitto``, ``mosquitto_passwd``) or None."""
    found = shutil.which(name)
    if found is not None:
        return found
    for directory in _SBIN_DIRS:
        candidate = Path(directory, name)
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    """A loopback TCP port that nobody held a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


class Listener(Protocol):
    """One ``listener`` block of the config."""

    port: int | None  # None until start() picks a free one; 0 for a Unix socket (no port)

    def config_lines(self, shared_lines: Sequence[str]) -> list[str]:
        """The block, ending with ``shared_lines`` (authentication, max_qos)."""
        ...

    def accepts_connection(self) -> bool: ...


def _tcp_accepts(port: int | None) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port or 0), timeout=0.2):
            return True
    except OSError:
        return False


def _port_line(port: int | None) -> str:
    if port is None:
        raise RuntimeError("a listener needs its port before the config is written")
    return f"listener {port} {LOOPBACK}"


@dataclass
class TcpListener:
    """A plain MQTT-over-TCP listener on the loopback interface."""

    port: int | None = None

    def config_lines(self, shared_lines: Sequence[str]) -> list[str]:
        return [_port_line(self.port), "protocol mqtt", *shared_lines]

    def accepts_connection(self) -> bool:
        return _tcp_accepts(self.port)


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of a TLS listener; ``require_certificate`` asks clients for theirs."""

    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False

    def config_lines(self) -> list[str]:
        return [
            f"cafile {self.cafile}",
            f"certfile {self.certfile}",
            f"keyfile {self.keyfile}",
            f"require_certificate {str(self.require_certificate).lower()}",
        ]


@dataclass
class TlsListener:
    """MQTT over TLS on the loopback interface."""

    tls: TlsFiles
    port: int | None = None

    def config_lines(self, shared_lines: Sequence[str]) -> list[str]:
        return [_port_line(self.port), "protocol mqtt", *self.tls.config_lines(), *shared_lines]

    def accepts_connection(self) -> bool:
        return _tcp_accepts(self.port)


@dataclass
class WebSocketListener:
    """MQTT over WebSocket (over TLS when ``tls`` is given) on the loopback interface."""

    tls: TlsFiles | None = None
    port: int | None = None

    def config_lines(self, shared_lines: Sequence[str]) -> list[str]:
        # mosquitto 2.0.11 ignores the bind address of a WebSocket listener (and listens on
        # every interface) unless the socket domain is given.
        lines = [_port_line(self.port), "protocol websockets", "socket_domain ipv4"]
        if self.tls is not None:
            lines += self.tls.config_lines()
        return [*lines, *shared_lines]

    def accepts_connection(self) -> bool:
        return _tcp_accepts(self.port)


@dataclass
class UnixListener:
    """MQTT over a Unix domain socket at ``path`` (mosquitto's ``listener 0 PATH``)."""

    path: Path
    port: int | None = 0  # never None: start() must not give it a TCP port

    def config_lines(self, shared_lines: Sequence[str]) -> list[str]:
        return [f"listener 0 {self.path}", "protocol mqtt", *shared_lines]

    def accepts_connection(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.2)
            try:
                probe.connect(str(self.path))
            except OSError:
                return False
            return True


class _Runtime:
    """What must be released even if a Mosquitto object is dropped without close()."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="asyncmqtt-mosquitto-"))
        self.process: subprocess.Popen[bytes] | None = None

    def release(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Mosquitto:
    """A mosquitto broker on 127.0.0.1, usable as a sync or async context manager.

    Keyword arguments:
        anonymous: allow clients without a username.
        users: ``{"name": "password"}`` written to a password file.
        acl: the text of an ACL file (mosquitto's ``user``/``topic``/``pattern`` lines).
        persistence: keep sessions and retained messages across ``restart()``.
        autosave_on_changes: with ``persistence``, save the database after every change
            (``autosave_on_changes true``, ``autosave_interval 1``), so that what the broker
            acknowledged survives ``kill()``; see ``wait_for_save()`` and the module docstring.
        max_inflight_messages, max_queued_messages, max_packet_size: the mosquitto options of
            the same names (left at mosquitto's defaults when None).
        max_qos: the highest QoS clients may use (0, 1 or 2; mosquitto's default 2 when None),
            in every listener block. MQTT 5 clients see it in CONNACK.
        extra: raw config lines, placed before the listeners.
        log_type: mosquitto ``log_type`` values; must include "notice" or "all", because
            ``start()`` waits for the "running" notice. Benchmarks pass
            ``("error", "warning", "notice")`` so that the log does not cost throughput.
    """

    host = LOOPBACK

    def __init__(
        self,
        *,
        anonymous: bool = True,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        persistence: bool = False,
        autosave_on_changes: bool = False,
        max_inflight_messages: int | None = None,
        max_queued_messages: int | None = None,
        max_packet_size: int | None = None,
        max_qos: int | None = None,
        extra: str | Sequence[str] = (),
        log_type: str | Sequence[str] = "all",
    ) -> None:
        self._anonymous = _check_bool("anonymous", anonymous)
        self._users = _check_users(users)
        self._acl = _check_optional_str("acl", acl)
        self._persistence = _check_bool("persistence", persistence)
        self._autosave = _check_bool("autosave_on_changes", autosave_on_changes)
        if self._autosave and not self._persistence:
            raise ValueError("autosave_on_changes=True needs persistence=True")
        self._limits: BrokerLimits = _check_limits(
            {
                "max_inflight_messages": max_inflight_messages,
                "max_queued_messages": max_queued_messages,
                "max_packet_size": max_packet_size,
                "max_qos": max_qos,
            }
        )
        self._extra = _check_lines("extra", extra)
        self._log_types = _check_log_types(log_type)
        self.listeners: list[Listener] = [TcpListener()]
        self._runtime = _Runtime()
        self._closed = False
        weakref.finalize(self, self._runtime.release)

    # -- public attributes ------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port of the plain TCP listener, chosen by the first ``start()``."""
        port = next(item.port for item in self.listeners if isinstance(item, TcpListener))
        if port is None:
            raise RuntimeError("Mosquitto.port is chosen by start(); start the broker first")
        return port

    def add_tls_listener(self, tls: TlsFiles) -> TlsListener:
        """Add an MQTT-over-TLS listener (before ``start()``); its port is chosen then."""
        return self._add(TlsListener(tls))

    def add_websocket_listener(self, tls: TlsFiles | None = None) -> WebSocketListener:
        """Add a WebSocket listener, over TLS when ``tls`` is given (before ``start()``)."""
        return self._add(WebSocketListener(tls))

    def add_unix_listener(self, name: str = "mqtt.sock") -> UnixListener:
        """Add a Unix-socket listener at ``name`` in the broker's directory (before ``start()``)."""
        return self._add(UnixListener(self._path(name)))

    def _add(self, listener: _ListenerT) -> _ListenerT:
        if self.running:
            raise RuntimeError("add listeners before start(): mosquitto reads them at start")
        self.listeners.append(listener)
        return listener

    @property
    def limits(self) -> BrokerLimits:
        """The limits in the config (a copy); ``restart(**changes)`` changes them."""
        return BrokerLimits(**self._limits)

    @property
    def config_path(self) -> Path:
        """The config file the broker was last started with."""
        return self._path("mosquitto.conf")

    @property
    def log_path(self) -> Path:
        return self._runtime.workdir / "mosquitto.log"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (benchmarks read its CPU time), else None."""
        process = self._runtime.process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        process = self._runtime.process
        return process is not None and process.poll() is None

    def log_text(self) -> str:
        """The whole broker log so far ("" before the first start)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 10.0) -> str:
        """Wait until the log holds ``text`` at least ``count`` times; return the log.

        The broker is another process that logs a packet when it gets round to it, so a
        test that has sent something without an acknowledgement (QoS 0, DISCONNECT) must
        wait for the line instead of reading the log at once.
        """
        deadline = time.monotonic() + timeout
        while (log := self.log_text()).count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the broker logged {text!r} {log.count(text)} times, not {count}, "
                    f"within {timeout} s"
                )
            time.sleep(0.01)
        return log

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        """The last ``lines`` lines of the broker log, for failure reports."""
        try:
            size = self.log_path.stat().st_size
        except FileNotFoundError:
            return ""
        # Only the end of the file: a session broker's log can grow large.
        text = self._log_since(max(0, size - _TAIL_BYTES))
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the broker and return once it accepts connections on every listener."""
        if self._closed:
            raise RuntimeError("this Mosquitto was closed; create a new one")
        if self.running:
            raise RuntimeError(f"mosquitto is already running on port {self.port}")
        executable = find_mosquitto()
        if executable is None:
            raise BrokerError(f"mosquitto is not installed; install it with: {INSTALL_HINT}")
        self._write_auth_files()
        for _attempt in range(_PORT_ATTEMPTS):
            fresh = [listener for listener in self.listeners if listener.port is None]
            for listener in fresh:
                listener.port = _free_port()
            try:
                self._launch(executable)
            except _AddressInUse as error:
                if not fresh:
                    # A restart must keep its port, so there is nothing to retry with.
                    raise BrokerError(str(error)) from None
                for listener in fresh:
                    listener.port = None
            else:
                return
        raise BrokerError(f"no free port found for mosquitto in {_PORT_ATTEMPTS} attempts")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL); ports and persisted data are kept."""
        process = self._runtime.process
        if process is None:
            return
        self._runtime.process = None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill(self) -> None:
        """Stop the broker with SIGKILL, as a crash would: nothing is saved on the way out.

        Ports and persisted data are kept, as with ``stop()``; the database holds what the last
        autosave wrote (see ``autosave_on_changes`` and ``wait_for_save()``).
        """
        process = self._runtime.process
        if process is None:
            return
        self._runtime.process = None
        if process.poll() is None:
            process.kill()
        process.wait()

    def restart(self, *, kill: bool = False, **changes: Unpack[BrokerLimits]) -> None:
        """Stop and start again on the same ports, with the persisted sessions.

        ``kill=True`` stops with SIGKILL (``kill()``) instead of SIGTERM (``stop()``).
        ``changes`` are new limits (``max_inflight_messages``, ``max_queued_messages``,
        ``max_packet_size``, ``max_qos``; None for mosquitto's default) for the config of this
        and every later start. They are checked before the broker is stopped.
        """
        _check_bool("kill", kill)
        unknown = sorted(set(changes) - set(_LIMITS))
        if unknown:
            raise TypeError(
                f"restart() can change only {', '.join(_LIMITS)}; got {', '.join(unknown)}"
            )
        limits = _check_limits({**self._limits, **changes})
        if kill:
            self.kill()
        else:
            self.stop()
        self._limits = limits
        self.start()

    def wait_for_save(self, timeout: float = _SAVE_TIMEOUT) -> None:
        """Return once every change the broker has acknowledged is in its database file.

        Needs ``autosave_on_changes=True``. "Acknowledged" means the broker sent the packet that
        answers the change (CONNACK of a persistent session, SUBACK, PUBACK, PUBREC) before this
        call: mosquitto saves at the end of the loop turn that sent it, so a CONNACK to a fresh
        connection made now (a later turn) proves the save is over. Call it before ``kill()``
        when the test needs to know what the broker will come back with.
        """
        if not self._autosave:
            raise RuntimeError(
                "wait_for_save() needs autosave_on_changes=True: without it mosquitto saves "
                "only at exit and every 1800 s"
            )
        if not self.running:
            raise RuntimeError("wait_for_save() needs a running broker")
        with socket.create_connection((LOOPBACK, self.port), timeout=timeout) as probe:
            probe.sendall(_PROBE_CONNECT)
            # Any CONNACK will do, even "not authorized": it was sent after the save.
            answer = b""
            while len(answer) < len(_CONNACK_PREFIX) and (chunk := probe.recv(4)):
                answer += chunk
            if not answer.startswith(_CONNACK_PREFIX):
                raise BrokerError(f"the broker answered a CONNECT with {answer!r}, not CONNACK")
            probe.sendall(_PROBE_DISCONNECT)

    def close(self) -> None:
        """Stop the broker and delete its directory (config, log, persistence)."""
        self.stop()
        self._closed = True
        self._runtime.release()

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

    async def __aenter__(self) -> Self:
        # start() blocks for a few tens of milliseconds; keep the event loop responsive.
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)

    # -- internals --------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self._runtime.workdir / name

    def _write_auth_files(self) -> None:
        if self._users:
            _write_password_file(self._path("passwd"), self._users)
        if self._acl is not None:
            self._path("acl").write_text(self._acl.rstrip("\n") + "\n")

    def _config_text(self) -> str:
        lines = ["per_listener_settings true"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Started as root, mosquitto drops to user "mosquitto", which cannot read our
            # root-owned temporary files.
            lines.append("user root")
        lines += [f"log_dest file {self.log_path}", "log_timestamp_format %Y-%m-%dT%H:%M:%S"]
        lines += [f"log_type {log_type}" for log_type in self._log_types]
        if self._persistence:
            data_dir = self._path("data")
            data_dir.mkdir(exist_ok=True)
            lines += ["persistence true", f"persistence_location {data_dir}/"]
        if self._autosave:
            # Save when the number of changes reaches autosave_interval: after every change.
            lines += ["autosave_on_changes true", "autosave_interval 1"]
        limits = self._limits
        lines += [
            f"{name} {value}"
            for name, value in limits.items()
            if name in _GLOBAL_LIMITS and value is not None
        ]
        lines += self._extra
        shared_lines = [f"allow_anonymous {str(self._anonymous).lower()}"]
        if self._users:
            shared_lines.append(f"password_file {self._path('passwd')}")
        if self._acl is not None:
            shared_lines.append(f"acl_file {self._path('acl')}")
        if limits["max_qos"] is not None:
            shared_lines.append(f"max_qos {limits['max_qos']}")
        for listener in self.listeners:
            lines += listener.config_lines(shared_lines)
        return "\n".join(lines) + "\n"

    def _launch(self, executable: str) -> None:
        config = self.config_path
        config.write_text(self._config_text())
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        stderr_path = self._path("stderr.txt")
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [executable, "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        self._runtime.process = process
        try:
            self._wait_until_ready(process, log_start, stderr_path)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(
        self, process: subprocess.Popen[bytes], log_start: int, stderr_path: Path
    ) -> None:
        deadline = time.monotonic() + _STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log = self._log_since(log_start)
                report = _failure_report(
                    f"mosquitto exited with status {process.returncode} while starting",
                    log,
                    stderr_path.read_text(errors="replace"),
                )
                if _ADDRESS_IN_USE in log:
                    raise _AddressInUse(report)
                raise BrokerError(report)
            if _RUNNING_LINE in self._log_since(log_start) and self._accepts_connections():
                return
            time.sleep(_POLL_INTERVAL)
        raise BrokerError(
            _failure_report(
                f"mosquitto did not accept connections within {_STARTUP_DEADLINE} s",
                self._log_since(log_start),
                stderr_path.read_text(errors="replace"),
            )
        )

    def _accepts_connections(self) -> bool:
        return all(listener.accepts_connection() for listener in self.listeners)


class _AddressInUse(BrokerError):
    """mosquitto could not bind a chosen port: someone took it after we probed it."""


def _failure_report(summary: str, log: str, stderr: str) -> str:
    return f"{summary}\n--- mosquitto log ---\n{log.strip()}\n--- stderr ---\n{stderr.strip()}"


def _write_password_file(path: Path, users: Mapping[str, str]) -> None:
    tool = find_mosquitto("mosquitto_passwd")
    if tool is None:
        raise BrokerError(f"mosquitto_passwd is not installed; install it with: {INSTALL_HINT}")
    path.unlink(missing_ok=True)
    for index, (name, password) in enumerate(users.items()):
        create = ["-c"] if index == 0 else []
        result = subprocess.run(
            [tool, *create, "-b", str(path), name, password],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerError(f"mosquitto_passwd failed for user {name!r}: {result.stderr}")


# -- argument checks: a bad option raises at the call, naming the value and the rule ----------


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def _check_optional_str(name: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {value!r}")
    return value


def _check_users(users: object) -> dict[str, str]:
    if users is None:
        return {}
    if not isinstance(users, Mapping):
        raise TypeError(f"users must be a mapping of name to password, got {users!r}")
    checked: dict[str, str] = {}
    for name, password in users.items():
        if not isinstance(name, str) or not isinstance(password, str):
            raise TypeError(f"users must map str to str, got {name!r}: {type(password).__name__}")
        # mosquitto's password file is "name:hash" lines.
        if not name or ":" in name or "\n" in name:
            raise ValueError(f"user name {name!r} must be non-empty without ':' or newlines")
        if "\n" in password:
            raise ValueError(f"the password of user {name!r} must not contain a newline")
        checked[name] = password
    return checked


def _check_limit(name: str, value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int or None, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _check_limits(limits: BrokerLimits) -> BrokerLimits:
    checked = BrokerLimits(
        max_inflight_messages=_check_limit(
            "max_inflight_messages", limits.get("max_inflight_messages")
        ),
        max_queued_messages=_check_limit("max_queued_messages", limits.get("max_queued_messages")),
        max_packet_size=_check_limit("max_packet_size", limits.get("max_packet_size")),
        max_qos=_check_limit("max_qos", limits.get("max_qos")),
    )
    max_qos = checked["max_qos"]
    if max_qos is not None and max_qos > 2:
        raise ValueError(f"max_qos must be 0, 1 or 2, got {max_qos}")
    return checked


def _check_lines(name: str, value: object) -> list[str]:
    if isinstance(value, str):
        return value.splitlines()
    if not isinstance(value, Sequence) or not all(isinstance(line, str) for line in value):
        raise TypeError(f"{name} must be a str or a sequence of str, got {value!r}")
    lines: list[str] = []
    for line in value:
        lines += line.splitlines()
    return lines


def _check_log_types(value: object) -> list[str]:
    log_types = _check_lines("log_type", value.split() if isinstance(value, str) else value)
    if "all" not in log_types and "notice" not in log_types:
        raise ValueError(
            f"log_type must include 'notice' or 'all' (start() waits for the 'running' notice),"
            f" got {value!r}"
        )
    return log_types
