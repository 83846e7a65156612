"""Opening the byte stream to a broker: TCP, TLS, Unix sockets, WebSockets and proxies.

Theory of operation
-------------------
``open_connection(protocol_factory, settings)`` gives the MQTT protocol an asyncio transport,
whatever lies underneath. A connection is built in stages, each of which either finishes or
raises ``MqttConnectError`` naming itself (``stage``) and the broker (``address``), chained to
the exception that stopped it::

    resolve    look up the broker's name (skipped when a proxy resolves it)
    tcp        connect a socket: TCP, or the Unix socket of transport="unix"
    proxy      connect to the proxy and ask it for a tunnel to the broker (instead of tcp)
    tls        the TLS handshake (only with tls_context / tls_params)
    websocket  the HTTP upgrade to WebSocket (only with transport="websockets")

The client's CONNECT / CONNACK exchange follows as stage "connack", which is the Client's.
Where a failure usually means the wrong kind of port (plain, TLS, WebSocket) or a client
certificate the broker requires, the message says so and what to check (``_diagnosis``);
``explain_no_connack`` does the same for a connection that ends before its CONNACK.
One deadline covers all of it: ``settings.timeout`` starts counting when ``open_connection``
is called, or the caller passes ``deadline`` (a ``loop.time()`` value) and keeps using it for
the CONNACK. When the deadline passes during a stage, ``MqttConnectError`` names that stage
and is chained to ``TimeoutError``.

We create the socket ourselves: ``socket_options`` are set and ``bind_address``/``bind_port``
bound before it connects, then ``loop.sock_connect`` connects it and
``loop.create_connection(sock=...)`` wraps it (TLS included). A name with several addresses is
connected with Happy Eyeballs (RFC 8305): attempts to its addresses, their families
alternating, start ``HAPPY_EYEBALLS_DELAY`` (0.25 s) apart or as soon as one fails, and the
first to connect wins, so an address that never answers (a broken IPv6 route) costs a quarter
of a second, not the whole timeout. (asyncio's own ``happy_eyeballs_delay`` cannot be used: it
gives no way to set socket options before connecting, and uvloop does not have it.) Through a
proxy, python-socks makes the socket (bound as asked) and we set the options once it is
connected. Everything goes
through loop methods that every asyncio loop has (no ``add_reader``), so the same code runs on
the default loop of every OS and on uvloop. The only blocking work, reading certificate files
for ``tls_params``, runs in the loop's default executor.

Optional extras are imported only when used: ``websockets`` for transport="websockets", and
``python-socks`` for proxies. A missing one raises ``ImportError`` naming what to install.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import os
import socket
import ssl
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Final, Literal, TypeAlias, TypeVar

from . import _diagnosis
from ._checks import check_headers, check_optional_str, check_timeout
from ._diagnosis import explain_tls_error, explain_websocket_failure
from .errors import MqttConnectError

if TYPE_CHECKING:
    from ._websocket import WebSocketProtocol

__all__ = (
    "DEFAULT_WEBSOCKET_PATH",
    "ProxySettings",
    "ProxyType",
    "SocketOption",
    "TLSParameters",
    "TransportSettings",
    "WebSocketHeaders",
    "explain_no_connack",
    "open_connection",
)

TransportKind: TypeAlias = Literal["tcp", "websockets", "unix"]
"""The transport kinds: ``"tcp"``, ``"websockets"`` or ``"unix"``."""
SocketOption: TypeAlias = tuple[int, int, int | bytes] | tuple[int, int, None, int]
"""The arguments of one ``socket.setsockopt`` call: (level, option, value) or
(level, option, None, length), such as ``(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)``. The
client sets them on its socket before it connects (through a proxy: once connected); an
option the system refuses fails the connection at the tcp stage."""
WebSocketHeaders: TypeAlias = dict[str, str] | Callable[[dict[str, str]], dict[str, str]]
"""Extra headers for the WebSocket upgrade request: a dict added to ours (replacing ours of the
same name), or a callable that gets our headers as a dict and returns the headers to send. A
callable is called for every connection, so it can give a fresh token each time (see the
guide WebSockets)."""

DEFAULT_WEBSOCKET_PATH: Final = "/mqtt"
"""The WebSocket request path when none is given (paho-mqtt's)."""
_TRANSPORTS: Final = ("tcp", "websockets", "unix")
_PROXY_DEFAULT_PORTS: Final = {1: 1080, 2: 1080, 3: 8080}  # PySocks' defaults
# Libraries' own timeouts (asyncio's TLS handshake, python-socks) are set this much beyond our
# deadline so that ours fires first and names the stage; "no timeout" becomes one day.
_TIMEOUT_MARGIN: Final = 1.0
_NO_TIMEOUT: Final = 86400.0
HAPPY_EYEBALLS_DELAY: Final = 0.25
"""Seconds between the starts of two connection attempts to a name's addresses (RFC 8305's
recommended "Connection Attempt Delay")."""

_Protocol = TypeVar("_Protocol", bound=asyncio.Protocol)
_Address: TypeAlias = tuple[int, int, int, tuple[object, ...]]
"""One resolved address: (family, socket type, protocol, socket address)."""


# -- public settings values ---------------------------------------------------------------------


class ProxyType(enum.IntEnum):
    """The kinds of proxy; the values are PySocks' ``socks.SOCKS4``, ``SOCKS5`` and ``HTTP``."""

    SOCKS4 = 1
    """SOCKS version 4 (with the 4a extension when the proxy resolves the broker's name)."""
    SOCKS5 = 2
    """SOCKS version 5."""
    HTTP = 3
    """An HTTP proxy, through the CONNECT method."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxySettings:
    """Connect to the broker through a SOCKS4, SOCKS5 or HTTP CONNECT proxy (aiomqtt's shape).

    ``proxy_type`` is a ``ProxyType`` (PySocks' integers 1, 2, 3 are accepted and converted).
    ``proxy_port`` defaults to 1080 for SOCKS and 8080 for HTTP, as in PySocks.
    ``proxy_rdns``: let the proxy resolve the broker's hostname (True); False or None resolve
    it here, as PySocks does. ``proxy_username``/``proxy_password`` authenticate with the proxy
    (SOCKS4 has a user id and no password). Needs the ``proxy`` extra (python-socks).

    Every field is keyword only. Checked when made: ``TypeError`` / ``ValueError`` for a value
    of the wrong type or out of range, a ``proxy_password`` without a ``proxy_username``, or a
    password for SOCKS4. Give it as ``Client(proxy=...)``; see the guide Proxies.
    """

    proxy_type: ProxyType
    """The kind of proxy (required): a ``ProxyType``, or PySocks' integer 1, 2 or 3."""
    proxy_addr: str
    """The proxy's host name or IP address (required)."""
    proxy_port: int | None = None
    """The proxy's port; None (the default): 1080 for SOCKS, 8080 for HTTP (see ``port``)."""
    proxy_rdns: bool | None = True
    """True (the default): the proxy resolves the broker's host name (needed when only the
    proxy can); False or None: it is resolved here and the proxy gets an address."""
    proxy_username: str | None = None
    """The user name for the proxy (for SOCKS4, the user id), or None (the default)."""
    proxy_password: str | None = field(default=None, repr=False)
    """The password for the proxy, or None (the default); kept out of ``repr``."""

    def __post_init__(self) -> None:
        kind = self.proxy_type
        if not isinstance(kind, int) or isinstance(kind, bool) or kind not in (1, 2, 3):
            raise ValueError(
                f"proxy_type={kind!r} is not a proxy type: use ProxyType.SOCKS4, SOCKS5 or "
                "HTTP (or PySocks' socks.SOCKS4 / SOCKS5 / HTTP, the integers 1, 2, 3)"
            )
        object.__setattr__(self, "proxy_type", ProxyType(kind))
        _check_host("proxy_addr", self.proxy_addr)
        if self.proxy_port is not None:
            _check_port("proxy_port", self.proxy_port)
        if self.proxy_rdns is not None and not isinstance(self.proxy_rdns, bool):
            raise TypeError(f"proxy_rdns must be a bool or None, got {self.proxy_rdns!r}")
        check_optional_str("proxy_username", self.proxy_username)
        check_optional_str("proxy_password", self.proxy_password)
        if self.proxy_password is not None and self.proxy_username is None:
            raise ValueError("proxy_password needs a proxy_username")
        if self.proxy_password is not None and self.proxy_type is ProxyType.SOCKS4:
            raise ValueError(
                "a SOCKS4 proxy takes a user id (proxy_username) and no password; "
                "drop proxy_password or use ProxyType.SOCKS5"
            )

    @property
    def port(self) -> int:
        """The proxy's port: ``proxy_port``, or the usual port of this kind of proxy."""
        return self.proxy_port or _PROXY_DEFAULT_PORTS[self.proxy_type]

    def describe(self) -> str:
        """The proxy as error messages name it, such as ``"SOCKS5 proxy proxy.example:1080"``."""
        return f"{self.proxy_type.name} proxy {_host_port(self.proxy_addr, self.port)}"


_LEGACY_TLS_VERSIONS: Final = {
    name: version
    for name, version in (
        ("PROTOCOL_TLSv1", ssl.TLSVersion.TLSv1),
        ("PROTOCOL_TLSv1_1", ssl.TLSVersion.TLSv1_1),
        ("PROTOCOL_TLSv1_2", ssl.TLSVersion.TLSv1_2),
    )
    if hasattr(ssl, name)
}


@dataclass(frozen=True, slots=True)
class TLSParameters:
    """TLS settings in the shape of paho-mqtt's ``tls_set`` (aiomqtt's ``TLSParameters``).

    ``ca_certs``: a PEM file of the CAs to trust; None trusts the system's default CAs.
    ``certfile``/``keyfile``/``keyfile_password``: a client certificate (mutual TLS).
    ``cert_reqs``: ``ssl.CERT_REQUIRED`` when None; ``ssl.CERT_NONE`` turns verification off
    (and with it the hostname check). ``tls_version``: None or ``ssl.PROTOCOL_TLS`` for the
    best version both sides support; ``ssl.PROTOCOL_TLSv1_2`` (or another such constant) for
    exactly that version; an ``ssl.TLSVersion`` for that version or newer.
    ``ciphers``: an OpenSSL cipher string.

    Every field defaults to None. Checked when made: ``TypeError`` / ``ValueError`` for a value
    of the wrong type or not valid (``cert_reqs=7``, a ``keyfile`` without a ``certfile``, a
    ``tls_version`` that is not a client TLS version). The files are read only when a context
    is made (``context()``). Give it as ``Client(tls_params=...)``; see the guide TLS.
    """

    ca_certs: str | os.PathLike[str] | None = None
    """A PEM file of the certificate authorities to trust; None: the system's default CAs."""
    certfile: str | os.PathLike[str] | None = None
    """A PEM file with our certificate (and its chain), for mutual TLS; None: none."""
    keyfile: str | os.PathLike[str] | None = None
    """The private key of ``certfile``, when it is not in that file; needs ``certfile``."""
    cert_reqs: ssl.VerifyMode | None = None
    """``ssl.CERT_REQUIRED`` (what None means), ``ssl.CERT_OPTIONAL``, or ``ssl.CERT_NONE``
    (no verification of the broker's certificate, and no hostname check)."""
    tls_version: int | None = None
    """None or ``ssl.PROTOCOL_TLS``: the best version both sides support;
    ``ssl.PROTOCOL_TLSv1_2`` (or another such constant): exactly that version; an
    ``ssl.TLSVersion``: that version or newer."""
    ciphers: str | None = None
    """An OpenSSL cipher string (TLS 1.2 and older); None: OpenSSL's default."""
    keyfile_password: str | None = field(default=None, repr=False)
    """The password of an encrypted ``keyfile`` (or ``certfile``); None: none. Kept out of
    ``repr``."""

    def __post_init__(self) -> None:
        for name in ("ca_certs", "certfile", "keyfile"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | os.PathLike):
                raise TypeError(f"{name} must be a file path (str or PathLike), got {value!r}")
        if self.keyfile is not None and self.certfile is None:
            raise ValueError("keyfile needs a certfile (the client certificate it belongs to)")
        if self.cert_reqs is not None:
            try:
                object.__setattr__(self, "cert_reqs", ssl.VerifyMode(self.cert_reqs))
            except ValueError:
                raise ValueError(
                    f"cert_reqs={self.cert_reqs!r} is not valid: use ssl.CERT_NONE, "
                    "ssl.CERT_OPTIONAL or ssl.CERT_REQUIRED"
                ) from None
        _tls_version_range(self.tls_version)  # raises for a value we cannot honour
        check_optional_str("ciphers", self.ciphers)
        check_optional_str("keyfile_password", self.keyfile_password)

    def context(self) -> ssl.SSLContext:
        """A new client ``ssl.SSLContext`` as these parameters describe.

        It reads the certificate files, so call it off the event loop (``open_connection``
        runs it in the loop's executor). Raises what ``ssl`` raises for files it cannot read
        or use (``OSError``, ``ssl.SSLError``).
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        minimum, maximum = _tls_version_range(self.tls_version)
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
        cert_reqs = ssl.CERT_REQUIRED if self.cert_reqs is None else self.cert_reqs
        if cert_reqs == ssl.CERT_NONE:
            context.check_hostname = False  # must go first: it needs verification on
        context.verify_mode = cert_reqs
        if self.ca_certs is not None:
            context.load_verify_locations(cafile=self.ca_certs)
        else:
            context.load_default_certs()
        if self.certfile is not None:
            context.load_cert_chain(self.certfile, self.keyfile, self.keyfile_password)
        if self.ciphers is not None:
            context.set_ciphers(self.ciphers)
        return context


def _tls_version_range(
    version: object,
) -> tuple[ssl.TLSVersion | None, ssl.TLSVersion | None]:
    """(minimum, maximum) TLS versions for a ``tls_version`` value."""
    if version is None or version in (ssl.PROTOCOL_TLS, ssl.PROTOCOL_TLS_CLIENT):
        return None, None
    if isinstance(version, ssl.TLSVersion):
        return version, None
    for name, pinned in _LEGACY_TLS_VERSIONS.items():
        if version == getattr(ssl, name):
            return pinned, pinned
    raise ValueError(
        f"tls_version={version!r} is not a client TLS version: use None, ssl.PROTOCOL_TLS, "
        "ssl.PROTOCOL_TLSv1_2 (one exact version) or an ssl.TLSVersion (that version or newer)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportSettings:
    """Everything needed to open the byte stream to a broker (the Client builds one).

    ``hostname`` is the broker's name or address, or the socket path for transport="unix".
    TLS is used when ``tls_context`` or ``tls_params`` is given; ``tls_insecure=True`` skips
    the hostname check only (with a ``tls_context``, it sets the context's ``check_hostname``
    to False, as paho-mqtt does). ``timeout`` (seconds, None for none) bounds the whole
    connect; see the module docstring. The fields are ``Client``'s parameters of the same
    names (see the guide Connecting to the broker); each is checked when the settings are
    made (``TypeError`` / ``ValueError``), and a transport or proxy whose extra is not
    installed raises ``ImportError`` naming it.
    """

    hostname: str
    port: int = 1883
    transport: TransportKind = "tcp"
    tls_context: ssl.SSLContext | None = None
    tls_params: TLSParameters | None = None
    tls_insecure: bool = False
    proxy: ProxySettings | None = None
    websocket_path: str | None = None
    websocket_headers: WebSocketHeaders | None = None
    bind_address: str = ""
    bind_port: int = 0
    socket_options: Iterable[SocketOption] = ()
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.transport not in _TRANSPORTS:
            raise ValueError(
                f"transport={self.transport!r} is not one of {', '.join(map(repr, _TRANSPORTS))}"
            )
        if self.transport == "unix":
            _check_unix_path(self.hostname)
        else:
            _check_host("hostname", self.hostname)
            _check_port("port", self.port)
        self._check_tls()
        if self.proxy is not None and not isinstance(self.proxy, ProxySettings):
            raise TypeError(f"proxy must be a ProxySettings, got {self.proxy!r}")
        self._check_websocket()
        self._check_local_address()
        object.__setattr__(self, "socket_options", _check_socket_options(self.socket_options))
        object.__setattr__(self, "timeout", check_timeout("timeout", self.timeout))
        if self.transport == "unix" and self.proxy is not None:
            raise ValueError("a proxy cannot reach a Unix socket: drop proxy or use 'tcp'")
        if self.proxy is not None:
            require_extra("python_socks", "proxy", "a proxy")
        if self.transport == "websockets":
            require_extra("websockets", "websockets", "transport='websockets'")

    def _check_tls(self) -> None:
        if self.tls_context is not None and not isinstance(self.tls_context, ssl.SSLContext):
            raise TypeError(f"tls_context must be an ssl.SSLContext, got {self.tls_context!r}")
        if self.tls_params is not None and not isinstance(self.tls_params, TLSParameters):
            raise TypeError(f"tls_params must be a TLSParameters, got {self.tls_params!r}")
        if self.tls_context is not None and self.tls_params is not None:
            raise ValueError("give tls_context or tls_params, not both")
        if not isinstance(self.tls_insecure, bool):
            raise TypeError(f"tls_insecure must be a bool, got {self.tls_insecure!r}")
        if self.tls_insecure and not self.uses_tls:
            raise ValueError("tls_insecure=True needs TLS: give tls_context or tls_params")
        if self.uses_tls and self.transport == "unix":
            raise ValueError("TLS over a Unix socket is not supported: drop the TLS settings")

    def _check_websocket(self) -> None:
        path, headers = self.websocket_path, self.websocket_headers
        if self.transport != "websockets":
            for name, value in (("websocket_path", path), ("websocket_headers", headers)):
                if value is not None:
                    raise ValueError(f"{name} is only used with transport='websockets'")
            return
        if path is not None:
            if not isinstance(path, str):
                raise TypeError(f"websocket_path must be a str, got {path!r}")
            if not path.startswith("/") or any(char.isspace() for char in path):
                raise ValueError(
                    f"websocket_path={path!r} must start with '/' and contain no whitespace"
                )
        if headers is not None and not callable(headers):
            check_headers(headers, "websocket_headers")

    def _check_local_address(self) -> None:
        address, port = self.bind_address, self.bind_port
        if not isinstance(address, str):
            raise TypeError(f"bind_address must be a str, got {address!r}")
        if address:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(
                    f"bind_address={address!r} must be an IP address of this machine "
                    "(or '' for any)"
                ) from None
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"bind_port={port!r} must be an int from 0 to 65535")
        if self.transport == "unix" and (address or port):
            raise ValueError("bind_address and bind_port do not apply to transport='unix'")

    @property
    def uses_tls(self) -> bool:
        """Whether the connection uses TLS (``tls_context`` or ``tls_params`` given)."""
        return self.tls_context is not None or self.tls_params is not None

    @property
    def address(self) -> str:
        """The broker as a URL-like text for messages: mqtt://, mqtts://, ws://, wss://, unix:."""
        if self.transport == "unix":
            return f"unix:{self.hostname}"
        if self.transport == "websockets":
            scheme = "wss" if self.uses_tls else "ws"
            return f"{scheme}://{_host_port(self.hostname, self.port)}{self.path}"
        scheme = "mqtts" if self.uses_tls else "mqtt"
        return f"{scheme}://{_host_port(self.hostname, self.port)}"

    @property
    def path(self) -> str:
        """The WebSocket request path."""
        return self.websocket_path or DEFAULT_WEBSOCKET_PATH

    @property
    def local_address(self) -> tuple[str, int] | None:
        """The (address, port) to bind before connecting, or None to let the OS choose."""
        if self.bind_address or self.bind_port:
            return self.bind_address, self.bind_port
        return None


# -- opening a connection -----------------------------------------------------------------------


async def open_connection(
    protocol_factory: Callable[[], _Protocol],
    settings: TransportSettings,
    *,
    deadline: float | None = None,
) -> tuple[asyncio.Transport, _Protocol]:
    """Open the byte stream that ``settings`` describe and connect ``protocol_factory()`` to it.

    ``deadline`` is a ``loop.time()`` by which everything must be done; by default it is
    ``settings.timeout`` seconds from now (none if that is None). Each failure raises
    ``MqttConnectError`` with its stage (see the module docstring). Cancelling the call closes
    whatever was opened.
    """
    loop = asyncio.get_running_loop()
    if deadline is None and settings.timeout is not None:
        deadline = loop.time() + settings.timeout
    connector = _Connector(loop, settings, deadline)
    return await connector.run(protocol_factory)


class _Connector:
    """One connection attempt: walks the stages, remembering which one is running."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, settings: TransportSettings, deadline: float | None
    ) -> None:
        self._loop = loop
        self._settings = settings
        self._deadline = deadline
        self._started = loop.time()
        self._stage = _first_stage(settings)

    async def run(
        self, protocol_factory: Callable[[], _Protocol]
    ) -> tuple[asyncio.Transport, _Protocol]:
        timeout = asyncio.timeout_at(self._deadline)
        try:
            async with timeout:
                return await self._open(protocol_factory)
        except TimeoutError as exc:
            if not timeout.expired():
                raise  # not our deadline: an error raised as TimeoutError by a stage
            raise self._error(f"timed out after {self._loop.time() - self._started:.3g} s") from exc

    def _error(self, detail: str, stage: str | None = None) -> MqttConnectError:
        """The error for a failure of ``stage`` (default: the current one); raise it ``from``."""
        stage = stage or self._stage
        address = self._settings.address
        return MqttConnectError(
            f"connecting to {address} failed at the {stage} stage: {detail}",
            stage=stage,
            address=address,
        )

    def _remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(self._deadline - self._loop.time(), 0.0)

    async def _open(
        self, protocol_factory: Callable[[], _Protocol]
    ) -> tuple[asyncio.Transport, _Protocol]:
        settings = self._settings
        context = await self._tls_context()
        if settings.transport == "unix":
            sock = await self._connect_unix()
        elif settings.proxy is not None:
            sock = await self._connect_through_proxy(settings.proxy)
        else:
            sock = await self._connect_tcp(await self._resolve())
        try:
            if settings.transport == "websockets":
                return await self._open_websocket(sock, context, protocol_factory)
            return await self._wrap(sock, context, protocol_factory)
        except BaseException:
            sock.close()  # no-op once a transport owns it (it detaches on close)
            raise

    # -- tls settings -------------------------------------------------------------------------

    async def _tls_context(self) -> ssl.SSLContext | None:
        settings = self._settings
        context = settings.tls_context
        if settings.tls_params is not None:
            self._stage = "tls"
            try:
                context = await self._loop.run_in_executor(None, settings.tls_params.context)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise self._error(f"cannot build the TLS context from tls_params: {exc}") from exc
        if context is not None and settings.tls_insecure:
            context.check_hostname = False
        return context

    # -- resolve / tcp / unix -----------------------------------------------------------------

    async def _resolve(self) -> list[_Address]:
        settings = self._settings
        self._stage = "resolve"
        family = _family_of(settings.bind_address)
        try:
            infos = await _getaddrinfo(self._loop, settings.hostname, settings.port, family)
        except OSError as exc:
            raise self._error(f"cannot resolve {settings.hostname!r}: {exc}") from exc
        if not infos:  # pragma: no cover - getaddrinfo raises rather than answer nothing
            raise self._error(f"{settings.hostname!r} has no address") from OSError("no address")
        return [(fam, kind, proto, address) for fam, kind, proto, _, address in infos]

    async def _connect_tcp(self, addresses: list[_Address]) -> socket.socket:
        """Happy Eyeballs (RFC 8305): the first of the addresses to connect wins.

        The addresses are tried in an order that alternates their families (the first family
        of the resolver's answer first), each attempt ``HAPPY_EYEBALLS_DELAY`` seconds after
        the one before, or at once when an attempt fails; several attempts may be under way at
        once, and the first to connect wins while the others are cancelled and their sockets
        closed. A fixed ``bind_port`` cannot be bound by two sockets at once, so then each
        attempt waits for the one before it to fail. The connect's one deadline covers it all.
        """
        self._stage = "tcp"
        ordered = _interleave(addresses)
        delay = None if self._settings.bind_port else HAPPY_EYEBALLS_DELAY
        errors: dict[int, OSError] = {}
        attempts: dict[asyncio.Task[socket.socket], int] = {}
        try:
            winner = None
            for index, address in enumerate(ordered):
                attempts[self._loop.create_task(self._connect_one(address))] = index
                last = index == len(ordered) - 1
                winner = await self._wait_for_attempts(attempts, errors, None if last else delay)
                if winner is not None:
                    break
            while winner is None and attempts:
                winner = await self._wait_for_attempts(attempts, errors, None)
            if winner is not None:
                return winner
        finally:
            await _cancel_attempts(attempts)
        # Every address failed: name them all (in the order tried), chain the last.
        failures = [errors[index] for index in sorted(errors)]
        raise self._error("; ".join(str(error) for error in failures)) from failures[-1]

    async def _wait_for_attempts(
        self,
        attempts: dict[asyncio.Task[socket.socket], int],
        errors: dict[int, OSError],
        delay: float | None,
    ) -> socket.socket | None:
        """Wait until an attempt ends, or ``delay`` passes; return the first connected socket.

        Attempts that ended leave ``attempts``: a failure's ``OSError`` goes into ``errors``
        under its attempt's number. Any other error (a socket option that cannot be set) ends
        the whole connect.
        """
        done, _ = await asyncio.wait(attempts, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        winner: socket.socket | None = None
        fatal: BaseException | None = None
        for task in sorted(done, key=attempts.__getitem__):  # ties: the earlier attempt wins
            index = attempts.pop(task)
            error = task.exception()
            if error is None:
                if winner is None:
                    winner = task.result()
                else:
                    task.result().close()  # connected at the same moment as the winner
            elif isinstance(error, OSError):
                errors[index] = error
            else:
                fatal = fatal or error
        if fatal is not None:
            if winner is not None:
                winner.close()
            raise fatal
        return winner

    async def _connect_one(self, address: _Address) -> socket.socket:
        """One connection attempt: a socket with our options, bound as asked, connected."""
        family, kind, proto, sockaddr = address
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            self._set_socket_options(sock)
            self._bind(sock, family)
            await self._loop.sock_connect(sock, sockaddr)
        except BaseException:
            sock.close()
            raise
        return sock

    async def _connect_unix(self) -> socket.socket:
        self._stage = "tcp"
        if not hasattr(socket, "AF_UNIX"):  # pragma: no cover - Windows without AF_UNIX
            raise self._error("this platform has no Unix sockets") from OSError("no AF_UNIX")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            self._set_socket_options(sock)
            await self._loop.sock_connect(sock, self._settings.hostname)
        except OSError as exc:
            sock.close()
            raise self._error(str(exc)) from exc
        except BaseException:
            sock.close()
            raise
        return sock

    def _bind(self, sock: socket.socket, family: int) -> None:
        local = self._settings.local_address
        if local is None:
            return
        address, port = local
        if family == socket.AF_INET6:
            sock.bind((address or "::", port, 0, 0))
        else:
            sock.bind((address or "0.0.0.0", port))

    def _set_socket_options(self, sock: socket.socket) -> None:
        for option in self._settings.socket_options:
            try:
                sock.setsockopt(*option)
            except OSError as exc:
                raise self._error(
                    f"cannot set socket option {option!r}: {exc}", stage="tcp"
                ) from exc

    # -- proxy ----------------------------------------------------------------------------------

    async def _connect_through_proxy(self, proxy: ProxySettings) -> socket.socket:
        require_extra("python_socks", "proxy", "a proxy")
        # The optional extra is imported only when a proxy is used.
        from python_socks import ProxyConnectionError, ProxyError  # noqa: PLC0415
        from python_socks import ProxyType as SocksProxyType  # noqa: PLC0415
        from python_socks.async_.asyncio import Proxy  # noqa: PLC0415

        settings = self._settings
        host = settings.hostname
        if not proxy.proxy_rdns and not _is_ip_address(host):
            # As PySocks: without remote DNS we resolve the name and send the proxy an address.
            host = await self._resolve_for_proxy(proxy)
        self._stage = "proxy"
        client = Proxy(
            proxy_type=SocksProxyType(int(proxy.proxy_type)),
            host=proxy.proxy_addr,
            port=proxy.port,
            username=proxy.proxy_username,
            password=proxy.proxy_password,
            rdns=bool(proxy.proxy_rdns),
            loop=self._loop,
        )
        remaining = self._remaining()
        try:
            sock: socket.socket = await client.connect(
                host,
                settings.port,
                # Our deadline decides; python-socks' own timeout must only never fire first.
                timeout=_NO_TIMEOUT if remaining is None else remaining + _TIMEOUT_MARGIN,
                local_addr=settings.local_address,
            )
        except (ProxyError, ProxyConnectionError, OSError) as exc:
            raise self._error(f"{proxy.describe()}: {_proxy_error_text(exc)}") from exc
        try:
            self._set_socket_options(sock)
        except BaseException:
            sock.close()
            raise
        return sock

    async def _resolve_for_proxy(self, proxy: ProxySettings) -> str:
        settings = self._settings
        self._stage = "resolve"
        # A SOCKS4 request carries an IPv4 address only.
        family = socket.AF_INET if proxy.proxy_type is ProxyType.SOCKS4 else socket.AF_UNSPEC
        try:
            infos = await _getaddrinfo(self._loop, settings.hostname, settings.port, family)
        except OSError as exc:
            raise self._error(f"cannot resolve {settings.hostname!r}: {exc}") from exc
        return str(infos[0][4][0])

    # -- tls / websocket ----------------------------------------------------------------------

    async def _wrap(
        self,
        sock: socket.socket,
        context: ssl.SSLContext | None,
        protocol_factory: Callable[[], _Protocol],
    ) -> tuple[asyncio.Transport, _Protocol]:
        """Make the asyncio transport for a connected socket; the TLS handshake happens here."""
        if context is not None:
            self._stage = "tls"
        try:
            if self._settings.transport == "unix":
                transport, protocol = await self._loop.create_unix_connection(
                    protocol_factory, sock=sock
                )
            else:
                transport, protocol = await self._loop.create_connection(
                    protocol_factory,
                    sock=sock,
                    ssl=context,
                    server_hostname=None if context is None else self._settings.hostname,
                    ssl_handshake_timeout=self._tls_handshake_timeout(context),
                )
        except (OSError, ssl.SSLError) as exc:
            if context is None:
                raise self._error(f"cannot use the socket: {exc}") from exc
            hint = explain_tls_error(exc, client_certificate=_client_certificate(self._settings))
            detail = f"TLS handshake failed: {exc}" if hint is None else f"{hint} ({exc})"
            raise self._error(detail) from exc
        return transport, protocol

    def _tls_handshake_timeout(self, context: ssl.SSLContext | None) -> float | None:
        remaining = self._remaining()
        if context is None or remaining is None:
            return None  # asyncio's default (60 s) for TLS; plain TCP must not be given one
        # asyncio's own handshake timeout must not fire before our deadline.
        return remaining + _TIMEOUT_MARGIN

    async def _open_websocket(
        self,
        sock: socket.socket,
        context: ssl.SSLContext | None,
        protocol_factory: Callable[[], _Protocol],
    ) -> tuple[asyncio.Transport, _Protocol]:
        require_extra("websockets", "websockets", "transport='websockets'")
        from ._websocket import WebSocketProtocol  # noqa: PLC0415  (needs the optional extra)

        settings = self._settings
        scheme = "wss" if context is not None else "ws"
        uri = f"{scheme}://{_host_port(settings.hostname, settings.port)}{settings.path}"
        inner = WebSocketProtocol(uri, settings.websocket_headers, protocol_factory)
        _, ws = await self._wrap(sock, context, lambda: inner)
        self._stage = "websocket"
        try:
            await asyncio.shield(ws.handshake)
        except ConnectionError as exc:
            ws.transport.abort()
            hint = explain_websocket_failure(
                exc.__cause__,
                tls=context is not None,
                client_certificate=_client_certificate(settings),
            )
            raise self._error(str(exc) if hint is None else f"{exc}: {hint}") from exc
        except BaseException:
            ws.transport.abort()
            raise
        return _websocket_result(ws)


async def _getaddrinfo(
    loop: asyncio.AbstractEventLoop, host: str, port: int, family: int
) -> list[tuple[int, int, int, str, tuple[object, ...]]]:
    """The one place a broker's name is resolved (tests replace it to control the answer)."""
    infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    return [(fam, kind, proto, name, tuple(address)) for fam, kind, proto, name, address in infos]


def _interleave(addresses: list[_Address]) -> list[_Address]:
    """RFC 8305 section 4: alternate the address families, the resolver's first family first."""
    by_family: dict[int, list[_Address]] = {}
    for address in addresses:
        by_family.setdefault(address[0], []).append(address)
    queues = list(by_family.values())
    ordered: list[_Address] = []
    for rank in range(max(len(queue) for queue in queues)):
        ordered.extend(queue[rank] for queue in queues if rank < len(queue))
    return ordered


async def _cancel_attempts(attempts: dict[asyncio.Task[socket.socket], int]) -> None:
    """End the attempts still under way (they lost, or the connect gave up).

    A cancelled attempt closes its own socket; this waits until they all have. An attempt
    that ended meanwhile has its socket closed here, its error retrieved.
    """
    if not attempts:
        return
    for task in attempts:
        task.cancel()
    await asyncio.wait(attempts)
    for task in attempts:
        if not task.cancelled() and task.exception() is None:
            task.result().close()


def _client_certificate(settings: TransportSettings) -> bool | None:
    """Whether a client certificate is offered: None when a tls_context may or may not hold one."""
    if settings.tls_params is not None:
        return settings.tls_params.certfile is not None
    return None


def explain_no_connack(
    settings: TransportSettings, received: bytes, lost: BaseException | None
) -> str | None:
    """What probably went wrong when a connection opened with ``settings`` ended before CONNACK.

    ``received``: the first bytes the server sent (empty if none); ``lost``: the exception that
    ended the connection, if any. Returns a sentence saying what to check, or None. (TLS or HTTP
    bytes where CONNACK should be, or a silent close, usually mean the wrong kind of port; a TLS
    broker that requires a client certificate closes after a TLS 1.3 handshake.)
    """
    return _diagnosis.explain_no_connack(
        received=received,
        lost=lost,
        tls=settings.uses_tls,
        websocket=settings.transport == "websockets",
        client_certificate=_client_certificate(settings) if settings.uses_tls else False,
    )


def _first_stage(settings: TransportSettings) -> str:
    """The stage a connect is in before it starts one (a deadline already passed)."""
    if settings.transport == "unix":
        return "tcp"
    return "resolve" if settings.proxy is None else "proxy"


def _websocket_result(ws: WebSocketProtocol) -> tuple[asyncio.Transport, _Protocol]:
    outer, app = ws.outer, ws.app
    assert outer is not None and app is not None
    return outer, app  # type: ignore[return-value]  # app came from the caller's factory


# -- optional extras ----------------------------------------------------------------------------


def require_extra(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or raise ImportError saying which extra installs it."""
    try:
        __import__(module)
    except ImportError as exc:
        package = {"python_socks": "python-socks"}.get(module, module)
        raise ImportError(
            f"{feature} needs the {package!r} package, which is not installed; "
            f"install it with: pip install 'asyncmqtt[{extra}]'",
            name=module,
        ) from exc
    return sys.modules[module]


# -- helpers ------------------------------------------------------------------------------------


def _proxy_error_text(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    cause = error.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return text


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _family_of(bind_address: str) -> int:
    """Only addresses of the bound address's family can be reached from it."""
    if not bind_address:
        return socket.AF_UNSPEC
    version = ipaddress.ip_address(bind_address).version
    return socket.AF_INET6 if version == 6 else socket.AF_INET


def _check_host(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {value!r}")
    if not value or any(char.isspace() for char in value):
        raise ValueError(f"{name}={value!r} must be a non-empty host name or address")


def _check_unix_path(value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(
            f"hostname must be the socket path (a str) for transport='unix', got {value!r}"
        )
    if not value or "\0" in value:
        raise ValueError(f"hostname={value!r} must be the path of a Unix socket")


def _check_port(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not 1 <= value <= 65535:
        raise ValueError(f"{name}={value} must be from 1 to 65535")


def _check_socket_options(options: object) -> tuple[SocketOption, ...]:
    if isinstance(options, str | bytes) or not isinstance(options, Iterable):
        raise TypeError(f"socket_options must be an iterable of tuples, got {options!r}")
    checked: list[SocketOption] = []
    for option in options:
        if not isinstance(option, tuple) or len(option) not in (3, 4):
            raise TypeError(
                "each socket option must be a tuple (level, option, value) or "
                f"(level, option, None, length), got {option!r}"
            )
        if not all(isinstance(part, int) and not isinstance(part, bool) for part in option[:2]):
            raise TypeError(f"a socket option's level and option must be ints, got {option!r}")
        if len(option) == 3 and not isinstance(option[2], int | bytes):
            raise TypeError(f"a socket option's value must be an int or bytes, got {option!r}")
        if len(option) == 4 and (option[2] is not None or not isinstance(option[3], int)):
            raise TypeError(
                f"a 4-part socket option must be (level, option, None, length), got {option!r}"
            )
        checked.append(option)
    return tuple(checked)
