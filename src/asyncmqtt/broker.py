"""An embedded MQTT broker for tests, development and small setups: ``Broker``.

```python
import asyncmqtt
from asyncmqtt.broker import Broker

async with Broker(port=0) as broker:          # 127.0.0.1, a free port
    async with asyncmqtt.Client(broker.host, broker.port) as client:
        ...
```

The broker speaks MQTT 3.1, 3.1.1 and 5.0 on every listener, with QoS 0/1/2 both ways,
retained messages, wills (with their delay), persistent sessions with their expiry, shared
subscriptions, subscription identifiers, topic aliases, flow control and enhanced
authentication; its logic is the sans-I/O broker core of ``asyncmqtt.protocol``
(``BrokerCore``), which this module runs on asyncio.

Its state is in memory only: sessions, queued messages and retained messages are gone when
the broker stops. It is meant for tests, development and small embedded setups; production
deployments, and anything that outgrows one process, belong on mosquitto, EMQX, HiveMQ or
VerneMQ (clustered), with shared subscriptions to spread consumers across processes.

Listeners: plain TCP (the default), TLS (an ``ssl.SSLContext``), WebSocket (plain or TLS,
the ``websockets`` extra) and Unix sockets, any number of each on one broker (``Listener``).

Settings: the keyword arguments of ``BrokerConfig`` (limits, what is announced to clients,
the hooks ``authenticate``, ``authorize``, ``enhanced_authentication`` and ``redirect``) are
passed to it unchanged; its docstring says what each does and what happens when a limit is
reached. This module re-exports what using them takes, so that one import does: the hooks'
answers (``Action``, ``Redirect``, ``AuthContinue``, ``AuthSuccess``, ``AuthFailure``,
``ServerAuthenticator``), ``BrokerConfig``, ``BrokerStats``, and the events ``on_event`` gets
(``ClientConnected``, ``ConnectionRefused``, ``ClientDisconnected``, ``HookFailed``,
``MessageDropped``, ``WillPublished``).

Logging, on the logger ``asyncmqtt.broker`` unless another is given: listeners opened and
closed, clients connected, refused and disconnected, wills published (INFO); hook failures
(WARNING); a bug of the broker core, which closes the one connection it happened on
(ERROR); dropped messages (DEBUG). Passwords and payloads are never logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import ssl
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, Unpack

from ._broker_link import BrokerDriver, BrokerLink
from ._checks import Logger, check_timeout
from .protocol.broker import BrokerCore, BrokerStats
from .protocol.broker_config import (
    Action,
    AuthContinue,
    AuthFailure,
    AuthSuccess,
    BrokerConfig,
    BrokerSettings,
    Redirect,
    ServerAuthenticator,
)
from .protocol.properties import NO_PROPERTIES, Properties
from .protocol.server import (
    BrokerEvent,
    ClientConnected,
    ClientDisconnected,
    ConnectionRefused,
    HookFailed,
    MessageDropped,
    WillPublished,
)
from .transports import DEFAULT_WEBSOCKET_PATH, require_extra
from .types import PayloadType, encode_payload, topic_text

__all__ = (
    "DEFAULT_HOST",
    "Broker",
    "Listener",
    # Re-exported from the core, for one import: the settings, the hooks' answers, the events.
    "BrokerConfig",
    "BrokerStats",
    "Action",
    "Redirect",
    "AuthContinue",
    "AuthSuccess",
    "AuthFailure",
    "ServerAuthenticator",
    "BrokerEvent",
    "ClientConnected",
    "ConnectionRefused",
    "ClientDisconnected",
    "HookFailed",
    "MessageDropped",
    "WillPublished",
)

DEFAULT_HOST: Final = "127.0.0.1"
"""Where listeners bind when no host is given: the loopback interface only, so that a broker
started for a test is never reachable from the network by accident."""
_DEFAULT_PORTS: Final = {"tcp": 1883, "tls": 8883}
_MIN_WEBSOCKET_FRAME: Final = 1024 * 1024  # the smallest limit on one incoming frame

ListenerTransport = Literal["tcp", "websockets", "unix"]
"""The kinds of listener, named as ``Client``'s ``transport`` names them."""


def _check_host(host: object) -> str:
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, got {host!r}")
    if not host or any(char.isspace() for char in host):
        raise ValueError(f"host={host!r} must be a non-empty host name or address")
    return host


def _check_port(port: object) -> int:
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int, got {port!r}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port={port} must be from 0 (any free port) to 65535")
    return port


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Listener:
    """Where the broker accepts connections: one TCP, TLS, WebSocket or Unix-socket listener.

    Make one with ``Listener.tcp``, ``Listener.tls``, ``Listener.websocket`` or
    ``Listener.unix`` and give a list of them as ``Broker(listeners=[...])``. Once the broker
    has started, ``Broker.listeners`` holds them with the ports they got (port 0 asks for any
    free port). Raises ``TypeError`` / ``ValueError`` for a field of the wrong type or out of
    range, and ``ImportError`` for a WebSocket listener without the ``websockets`` extra.
    """

    transport: ListenerTransport
    """``"tcp"`` (TLS too, with a ``tls_context``), ``"websockets"`` or ``"unix"``."""
    host: str | None = None
    """The address (or name) to bind, for TCP and WebSocket listeners (default
    ``DEFAULT_HOST``, 127.0.0.1); None for a Unix socket."""
    port: int | None = None
    """The port, for TCP and WebSocket listeners (0: any free port; the bound port once the
    broker has started); None for a Unix socket."""
    tls_context: ssl.SSLContext | None = None
    """A server-side ``ssl.SSLContext`` (with its certificate chain loaded): TLS on this TCP or
    WebSocket listener (wss); None: plain."""
    websocket_path: str | None = None
    """The HTTP request path a WebSocket client must ask for (WebSocket listeners only; default
    ``/mqtt``); other paths are answered with 404."""
    socket_path: str | None = None
    """The file system path of a Unix socket (Unix-socket listeners only)."""

    def __post_init__(self) -> None:
        transport = self.transport
        if transport not in ("tcp", "websockets", "unix"):
            raise ValueError(f"transport={transport!r} is not one of 'tcp', 'websockets', 'unix'")
        if self.tls_context is not None and not isinstance(self.tls_context, ssl.SSLContext):
            raise TypeError(f"tls_context must be an ssl.SSLContext, got {self.tls_context!r}")
        if transport == "unix":
            path = self.socket_path
            if not isinstance(path, str):
                raise TypeError(f"a Unix-socket listener needs socket_path as a str, got {path!r}")
            if not path or "\0" in path:
                raise ValueError(f"socket_path={path!r} must be the path of a Unix socket")
            for name in ("host", "port", "tls_context", "websocket_path"):
                if getattr(self, name) is not None:
                    raise ValueError(f"a Unix-socket listener takes no {name}")
            return
        if self.socket_path is not None:
            raise ValueError("socket_path is only for a Unix-socket listener")
        if self.host is None:
            object.__setattr__(self, "host", DEFAULT_HOST)
        _check_host(self.host)
        if self.port is None:
            raise TypeError(f"a {transport} listener needs a port (0 for any free port)")
        _check_port(self.port)
        if transport == "tcp":
            if self.websocket_path is not None:
                raise ValueError("websocket_path is only for a WebSocket listener")
            return
        require_extra("websockets", "websockets", "a WebSocket listener")
        if self.websocket_path is None:
            object.__setattr__(self, "websocket_path", DEFAULT_WEBSOCKET_PATH)
        path = self.websocket_path
        if not isinstance(path, str):
            raise TypeError(f"websocket_path must be a str, got {path!r}")
        if not path.startswith("/") or any(char.isspace() for char in path) or "?" in path:
            raise ValueError(
                f"websocket_path={path!r} must start with '/' and hold no whitespace nor '?'"
            )

    @classmethod
    def tcp(cls, port: int = 1883, host: str = DEFAULT_HOST) -> Listener:
        """Plain MQTT over TCP on ``host``:``port`` (0: any free port)."""
        return cls(transport="tcp", host=host, port=port)

    @classmethod
    def tls(
        cls, tls_context: ssl.SSLContext, port: int = 8883, host: str = DEFAULT_HOST
    ) -> Listener:
        """MQTT over TLS on ``host``:``port`` with ``tls_context`` (a server context with its
        certificate chain loaded; require client certificates with its ``verify_mode``)."""
        return cls(transport="tcp", host=host, port=port, tls_context=tls_context)

    @classmethod
    def websocket(
        cls,
        port: int = 8080,
        host: str = DEFAULT_HOST,
        *,
        path: str = DEFAULT_WEBSOCKET_PATH,
        tls_context: ssl.SSLContext | None = None,
    ) -> Listener:
        """MQTT over WebSocket (subprotocol ``mqtt``) on ``host``:``port``, request ``path``;
        wss with a ``tls_context``. Needs the ``websockets`` extra (``ImportError`` if not)."""
        return cls(
            transport="websockets",
            host=host,
            port=port,
            websocket_path=path,
            tls_context=tls_context,
        )

    @classmethod
    def unix(cls, path: str | os.PathLike[str]) -> Listener:
        """MQTT over the Unix socket at ``path`` (made when the broker starts, removed when it
        stops; a stale socket file there is replaced)."""
        return cls(transport="unix", socket_path=os.fspath(path))

    @property
    def uses_tls(self) -> bool:
        """Whether the listener speaks TLS."""
        return self.tls_context is not None

    @property
    def url(self) -> str:
        """The listener as a URL-like text: ``mqtt://``, ``mqtts://``, ``ws://``, ``wss://`` or
        ``unix:`` (the form the client's error messages use)."""
        if self.transport == "unix":
            return f"unix:{self.socket_path}"
        address = _host_port(self.host, self.port)  # type: ignore[arg-type]
        if self.transport == "websockets":
            return f"{'wss' if self.uses_tls else 'ws'}://{address}{self.websocket_path}"
        return f"{'mqtts' if self.uses_tls else 'mqtt'}://{address}"

    def client_arguments(self) -> dict[str, Any]:
        """The arguments of ``asyncmqtt.Client`` that reach this listener: ``hostname``,
        ``port``, ``transport`` and ``websocket_path`` (not TLS: give the client a context
        that trusts the listener's certificate as ``tls_context``)."""
        if self.transport == "unix":
            return {"hostname": self.socket_path, "transport": "unix"}
        arguments: dict[str, Any] = {"hostname": self.host, "port": self.port}
        if self.transport == "websockets":
            arguments.update(transport="websockets", websocket_path=self.websocket_path)
        return arguments


class Broker:
    """An embedded MQTT broker on asyncio (see the module docstring); use it with
    ``async with``, or ``start()`` and ``close()``.

    Listeners, in the simple form: MQTT on ``host``:``port`` (default 127.0.0.1:1883; port 0
    picks a free port, read it from ``broker.port``), TLS instead when ``tls_context`` is given
    (default port 8883); ``websocket_port`` adds a WebSocket listener on ``host`` (request path
    ``websocket_path``, default ``/mqtt``); ``unix_path`` adds a Unix-socket listener. Or give
    ``listeners``, a list of ``Listener`` (then none of the simple form's arguments): any number
    of listeners of any kind; an empty list makes a broker with no listener (``publish`` only).

    ``logger``: where the broker logs (default ``logging.getLogger("asyncmqtt.broker")``).
    ``on_event``: called with each event of the core (``ClientConnected``,
    ``ConnectionRefused``, ``ClientDisconnected``, ``HookFailed``, ``MessageDropped``,
    ``WillPublished``), in order, when the broker next flushes its output (the loop iteration
    after the input that caused it at the latest); it runs on the loop, so it must not block;
    what it raises is logged and ignored. ``close_timeout``:
    seconds the connections have to close cleanly when the broker stops before they are
    aborted (default 5; ``math.inf``: no limit).

    ``config``: a ``BrokerConfig``, or its fields as keyword arguments (``settings``; not both):
    limits (``max_connections``, ``max_queued_messages``, ``maximum_packet_size``, ...) and
    hooks (``authenticate``, ``authorize``, ``enhanced_authentication``, ``redirect``).

    Raises ``TypeError`` / ``ValueError`` for bad arguments (the settings' as ``BrokerConfig``
    raises them), ``ImportError`` for a WebSocket listener without the ``websockets`` extra.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
        websocket_port: int | None = None,
        websocket_path: str | None = None,
        unix_path: str | os.PathLike[str] | None = None,
        listeners: Iterable[Listener] | None = None,
        logger: Logger | None = None,
        on_event: Callable[[BrokerEvent], None] | None = None,
        close_timeout: float = 5.0,
        config: BrokerConfig | None = None,
        **settings: Unpack[BrokerSettings],
    ) -> None:
        self._core = BrokerCore(config, **settings)
        if listeners is None:
            specs = self._simple_listeners(
                host, port, tls_context, websocket_port, websocket_path, unix_path
            )
        else:
            given = {
                "host": host,
                "port": port,
                "tls_context": tls_context,
                "websocket_port": websocket_port,
                "websocket_path": websocket_path,
                "unix_path": unix_path,
            }
            mixed = [name for name, value in given.items() if value is not None]
            if mixed:
                raise ValueError(
                    f"give listeners or {', '.join(mixed)}, not both "
                    "(put every listener in the list)"
                )
            specs = list(listeners)
            for spec in specs:
                if not isinstance(spec, Listener):
                    raise TypeError(f"listeners must hold Listener objects, got {spec!r}")
        self._listeners: tuple[Listener, ...] = tuple(specs)
        if logger is None:
            logger = logging.getLogger("asyncmqtt.broker")
        elif not isinstance(logger, logging.Logger | logging.LoggerAdapter):
            raise TypeError(f"logger must be a logging.Logger, got {logger!r}")
        self._logger: Logger = logger
        if on_event is not None and not callable(on_event):
            raise TypeError(f"on_event must be callable or None, got {on_event!r}")
        self._on_event = on_event
        self._close_timeout = check_timeout("close_timeout", close_timeout)
        self._driver: BrokerDriver | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._unix_sockets: list[tuple[str, int, int]] = []  # (path, device, inode)
        self._state = "new"  # -> "starting" -> "running" -> "closing" -> "stopped" (-> "starting")

    @staticmethod
    def _simple_listeners(  # noqa: PLR0917  (Broker's own arguments, passed on)
        host: str | None,
        port: int | None,
        tls_context: ssl.SSLContext | None,
        websocket_port: int | None,
        websocket_path: str | None,
        unix_path: str | os.PathLike[str] | None,
    ) -> list[Listener]:
        host = DEFAULT_HOST if host is None else host
        if port is None:
            port = _DEFAULT_PORTS["tcp" if tls_context is None else "tls"]
        specs = [Listener(transport="tcp", host=host, port=port, tls_context=tls_context)]
        if websocket_port is not None:
            specs.append(
                Listener(
                    transport="websockets",
                    host=host,
                    port=websocket_port,
                    websocket_path=websocket_path,
                )
            )
        elif websocket_path is not None:
            raise ValueError("websocket_path needs websocket_port (the WebSocket listener)")
        if unix_path is not None:
            specs.append(Listener.unix(unix_path))
        return specs

    # ------------------------------------------------------------------ state

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """The listeners, in the order given; once started, with the ports they got."""
        return self._listeners

    @property
    def host(self) -> str:
        """The address of the first TCP or WebSocket listener. Raises ``RuntimeError`` if
        there is none."""
        host = self._network_listener().host
        assert host is not None
        return host

    @property
    def port(self) -> int:
        """The port of the first TCP or WebSocket listener (the one it got, once started: port
        0 asks for any free port). Raises ``RuntimeError`` if there is none."""
        port = self._network_listener().port
        assert port is not None
        return port

    @property
    def url(self) -> str:
        """The first listener as a URL-like text (``mqtt://127.0.0.1:1883``, ``mqtts://...``,
        ``ws://...``, ``unix:...``). Raises ``RuntimeError`` if there is no listener."""
        if not self._listeners:
            raise RuntimeError("the broker has no listener")
        return self._listeners[0].url

    def client_arguments(self) -> dict[str, Any]:
        """The arguments of ``asyncmqtt.Client`` that reach the first listener:
        ``Client(**broker.client_arguments())`` (see ``Listener.client_arguments``). Raises
        ``RuntimeError`` if there is no listener."""
        if not self._listeners:
            raise RuntimeError("the broker has no listener")
        return self._listeners[0].client_arguments()

    @property
    def core(self) -> BrokerCore:
        """The sans-I/O core: its ``sessions``, ``clients``, ``retained`` and ``stats`` show
        the broker's state (read them; change nothing but through the broker)."""
        return self._core

    @property
    def config(self) -> BrokerConfig:
        """The ``BrokerConfig``."""
        return self._core.config

    @property
    def stats(self) -> BrokerStats:
        """Counters since the broker was made (``BrokerStats``)."""
        return self._core.stats

    @property
    def is_serving(self) -> bool:
        """Whether the broker has started and not yet been closed."""
        return self._state == "running"

    def _network_listener(self) -> Listener:
        for listener in self._listeners:
            if listener.transport != "unix":
                return listener
        raise RuntimeError("the broker has no TCP or WebSocket listener")

    # ------------------------------------------------------------------ lifetime

    async def __aenter__(self) -> Broker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Open the listeners and start serving.

        After ``close``, ``start`` serves again: on the same ports (a listener given port 0
        keeps the port it got) and with what the broker kept in memory (persistent sessions,
        their queued messages, retained messages), like a broker restarted with its
        persistence. Raises ``RuntimeError`` when already started (or still closing), and
        ``OSError`` when a listener cannot be opened (an address in use: the listeners opened
        before it are closed again, and the broker stays stopped).
        """
        if self._state not in ("new", "stopped"):
            raise RuntimeError(f"the broker cannot start: it is {self._state}")
        self._state = "starting"
        self._driver = BrokerDriver(self._core, self._logger, self._on_event)
        try:
            bound = [await self._serve(spec) for spec in self._listeners]
        except BaseException:
            await self._stop_servers()
            self._state = "stopped"
            raise
        self._listeners = tuple(bound)
        self._state = "running"
        self._logger.info(
            "broker listening on %s", ", ".join(listener.url for listener in bound) or "nothing"
        )

    async def close(self) -> None:
        """Stop: close the listeners, end every connection (DISCONNECT 0x8B, Server shutting
        down, to MQTT 5 clients; wills are not published), wait for the transports to close
        (aborting them after ``close_timeout``), remove Unix socket files. Nothing is left
        running. Does nothing when not running.

        What the broker keeps in memory stays (``start`` serves it again): sessions that
        outlive their connection, their queued messages, retained messages.
        """
        if self._state != "running":
            return
        self._state = "closing"
        for server in self._servers:
            server.close()
        driver = self._driver
        assert driver is not None
        try:
            await driver.shutdown(self._close_timeout)
            await self._stop_servers()
        finally:
            self._state = "stopped"
        self._logger.info("broker stopped")

    async def restart(self) -> None:
        """``close``, then ``start``: every client is disconnected (DISCONNECT 0x8B) and may
        come back, on the same ports, to the sessions and retained messages kept in memory.
        Raises what ``start`` raises."""
        await self.close()
        await self.start()

    async def serve_forever(self) -> None:
        """Start if not started, then serve until cancelled; closes the broker on the way
        out."""
        if self._state in ("new", "stopped"):
            await self.start()
        try:
            await asyncio.get_running_loop().create_future()  # (until cancelled)
        finally:
            await self.close()

    async def _serve(self, spec: Listener) -> Listener:
        loop = asyncio.get_running_loop()
        driver = self._driver
        assert driver is not None
        if spec.transport == "unix":
            path = spec.socket_path
            assert path is not None
            server = await loop.create_unix_server(lambda: BrokerLink(driver, spec.url), path)
            self._servers.append(server)
            info = os.stat(path)
            self._unix_sockets.append((path, info.st_dev, info.st_ino))
            return spec
        handshake_timeout = self.config.connect_timeout
        if spec.transport == "websockets":
            factory = self._websocket_factory(spec, driver)
        else:
            url = spec.url
            factory = lambda: BrokerLink(driver, url)  # noqa: E731
        assert spec.port is not None
        server = await loop.create_server(
            factory,
            spec.host,
            spec.port,
            ssl=spec.tls_context,
            ssl_handshake_timeout=handshake_timeout if spec.tls_context is not None else None,
        )
        self._servers.append(server)
        port = server.sockets[0].getsockname()[1] if server.sockets else spec.port
        return dataclasses.replace(spec, port=port)

    def _websocket_factory(
        self, spec: Listener, driver: BrokerDriver
    ) -> Callable[[], asyncio.Protocol]:
        from ._broker_websocket import WebSocketServerProtocol  # noqa: PLC0415  (the extra)

        path = spec.websocket_path
        assert path is not None
        url = spec.url
        max_frame = max(self.config.maximum_packet_size or 0, _MIN_WEBSOCKET_FRAME)
        timeout = self.config.connect_timeout

        def factory() -> asyncio.Protocol:
            return WebSocketServerProtocol(
                path,
                lambda: BrokerLink(driver, url, tracked=False),
                handshake_timeout=timeout,
                max_frame=max_frame,
                track=driver.track,
                untrack=driver.untrack,
            )

        return factory

    async def _stop_servers(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()
        sockets, self._unix_sockets = self._unix_sockets, []
        for path, device, inode in sockets:
            # Only the socket we made: another process may have replaced it since.
            try:
                info = os.stat(path)
                if stat.S_ISSOCK(info.st_mode) and (info.st_dev, info.st_ino) == (device, inode):
                    os.unlink(path)
            except OSError:
                pass

    # ------------------------------------------------------------------ commands

    def publish(
        self,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> int:
        """Publish a message from the broker itself, routed and retained as a client's would
        be; returns how many subscriptions took it. ``payload`` follows ``Client.publish``'s
        rules (str as UTF-8, numbers as text, None as empty); ``properties``: MQTT 5 PUBLISH
        properties (no topic alias nor subscription identifiers).

        Raises ``RuntimeError`` when the broker is not running, ``TypeError`` /
        ``ValueError`` for an invalid topic name, payload, QoS, retain flag or properties.
        """
        driver = self._running()
        count = self._core.publish(
            topic_text(topic),
            encode_payload(payload),
            qos,
            retain,
            NO_PROPERTIES if properties is None else properties,
            now=driver.loop.time(),
        )
        driver.flush_soon()
        return count

    def disconnect(
        self,
        client_id: str,
        reason_code: int | None = None,
        *,
        redirect: Redirect | None = None,
    ) -> bool:
        """End a connected client's connection from the broker's side: DISCONNECT with
        ``reason_code`` (MQTT 5; default 0x98, Administrative action), then close; its will
        is published. Returns False when no client with that identifier is connected.

        ``redirect`` (instead of a code) sends the client elsewhere: DISCONNECT 0x9D (Server
        moved) when ``Redirect.permanent``, else 0x9C (Use another server), with the Server
        Reference; an asyncmqtt client follows it (see the guide Failover and redirects).

        Raises ``RuntimeError`` when the broker is not running, ``ValueError`` for a code
        that is not a DISCONNECT reason code or for both a code and a redirect, ``TypeError``
        for a redirect that is not a ``Redirect`` with a valid server reference.
        """
        driver = self._running()
        connection = self._core.clients.get(client_id)
        if connection is None:
            return False
        connection.disconnect(reason_code, now=driver.loop.time(), redirect=redirect)
        driver.flush_soon()
        return True

    def _running(self) -> BrokerDriver:
        if self._state != "running" or self._driver is None:
            raise RuntimeError("the broker is not running: start it first (async with Broker())")
        return self._driver

    def __repr__(self) -> str:
        where = ", ".join(listener.url for listener in self._listeners)
        return f"<Broker {self._state} [{where}] {self._core!r}>"
