"""``Supervisor``: brings a client session onto a network connection, and back onto a new one.

Theory of operation
-------------------
One attempt opens a transport (``transports.open_connection``: TCP, TLS, Unix socket,
WebSocket, proxies) whose protocol is a ``Link`` driving a new ``ClientConnection`` on the
client's one ``Session``; the link writes CONNECT when the transport is made, and the attempt
waits for the core's ``Connected`` or ``Disconnected`` event. One deadline bounds the whole
attempt: transport stages, then CONNACK.

Version negotiation (``protocol=None``): the first attempt speaks MQTT 5.0; if the broker
refuses it (CONNACK 0x84, or it closes or answers garbage before any CONNACK), the supervisor
derives the 3.1.1 configuration from the 5.0 one (``ClientConfig.for_version``) and tries
again with the *same* session. The version that worked is kept for later connections.

The client's event handler sees every event first; it passes ``Connected`` and
``Disconnected`` to ``connection_event``, which resolves the attempt in progress (returning
True) or leaves them to the client (False).

Reconnecting (``Reconnect``, opt-in): a failed attempt that retrying may fix (the broker is
down, busy, unreachable) is retried after a delay from ``Reconnect.delays``: exponential
backoff with full jitter (each delay drawn uniformly below the current ceiling, so that many
clients of one broker spread out), the ceiling growing with the time waited up to
``max_delay``. A refusal that retrying cannot fix (bad credentials, not authorized, banned,
identifier rejected, unsupported protocol version, an untrusted certificate) raises at once.
The first connection retries this way inside ``connect``; when an established connection is
lost, the client calls ``connection_lost`` and the supervisor reconnects in a task of its own,
starting the delays afresh if the connection had stayed up for ``stable_after`` seconds. It
gives up after ``max_attempts`` failures in a row (None: never) and tells the client through
``on_given_up``. Randomness is injected, so the timing is tested offline.

Failover and redirects: a connection attempt (the first connect, and every reconnect) tries
the primary server, then each of ``failover_servers`` in order, with the same settings, each
under a deadline of its own, until one connects. A failure that retrying cannot fix (see
above: bad credentials, ...) stops there: the servers share the settings, so it is about
them, not about one server's health. When every server failed, the error names each
server's failure. A CONNACK 0x9C (Use another server) or 0x9D (Server moved) with a Server
Reference is followed (``follow_redirects``): its servers are tried in order (``_servers``
parses it), each of them possibly redirecting further, at most ``MAX_REDIRECTS`` hops from
the server the chain started at; a reference back to a server already in the chain is a
loop and is refused. A chain that fails counts as its first server's failure, and the next
server of the list is tried. A DISCONNECT 0x9C / 0x9D with a Server Reference on an
established connection makes the next attempt start by following it (at once: no backoff
delay before it). When every hop of the chain that connected was 0x9D, the server moved for
good: it replaces the list entry the chain started at, for this client's later connections
(in memory: a new ``Client`` starts from its arguments again).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import random
import ssl
from collections.abc import Awaitable, Callable, Iterator
from typing import Final, Protocol, TypeAlias

from ._diagnosis import looks_like_another_protocol
from ._link import Link, RecordSink
from ._options import DEFAULT_TIMEOUT, ClientOptions, version_text
from ._reconnect import Reconnect
from ._servers import Server, parse_server_reference
from ._stats import ClientStats
from .errors import (
    ConnectionLostError,
    MqttCodeError,
    MqttConnectError,
    MqttError,
    ProtocolError,
)
from .protocol.config import ClientConfig
from .protocol.connection import ClientConnection
from .protocol.enums import ConnAckReasonCode, ConnectReturnCode, ProtocolVersion
from .protocol.events import Connected, Disconnected, Event
from .protocol.session import Session
from .transports import TransportSettings, explain_no_connack, open_connection

__all__ = ("MAX_REDIRECTS", "Opener", "Supervisor")

MAX_REDIRECTS: Final = 3
"""The most redirects followed in a row within one connection attempt."""
_REDIRECT_CODES: Final = frozenset({0x9C, 0x9D})  # Use another server, Server moved

_V5 = ProtocolVersion.V5
# CONNACK, remaining length 2, no session, return code 1 "unacceptable protocol version": how an
# MQTT 3.1.x broker answers a CONNECT of a version it does not know.
_OLD_REFUSAL: Final = b"\x20\x02\x00\x01"
# CONNACK codes that retrying cannot fix (with the version negotiated, 0x84 / 1 is the
# fallback's business, see _failure): bad credentials, not authorized, banned, identifier
# rejected, bad authentication method, unsupported protocol version.
_FINAL_CODES: Final = {
    _V5: frozenset({0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C}),
    ProtocolVersion.V311: frozenset({1, 2, 4, 5}),
    ProtocolVersion.V31: frozenset({1, 2, 4, 5}),
}


EventHandler: TypeAlias = Callable[[list[Event]], None]


class Opener(Protocol):
    """What opens a transport: ``transports.open_connection`` (tests give their own)."""

    def __call__(
        self,
        protocol_factory: Callable[[], Link],
        settings: TransportSettings,
        *,
        deadline: float | None,
    ) -> Awaitable[tuple[asyncio.BaseTransport, Link]]: ...


class Supervisor:
    """Connects the session: one attempt, or 5.0 then 3.1.1 (see the module docstring)."""

    __slots__ = (
        "_attempt_waiter",
        "_connected_at",
        "_delays",
        "_in_use",
        "_keeper",
        "_on_events",
        "_on_given_up",
        "_on_link",
        "_open",
        "_options",
        "_pending_redirect",
        "_reconnect",
        "_servers",
        "_session",
        "_settings",
        "_sink",
        "_stats",
        "_uniform",
        "config",
        "conn",
        "link",
        "negotiated",
    )

    def __init__(
        self,
        options: ClientOptions,
        session: Session,
        on_events: EventHandler,
        on_link: Callable[[Link | None], None],
        *,
        sink: RecordSink | None = None,
        opener: Opener = open_connection,
        reconnect: Reconnect | None = None,
        on_given_up: Callable[[MqttError], None] | None = None,
        uniform: Callable[[], float] = random.random,
        stats: ClientStats | None = None,
    ) -> None:
        self._stats = ClientStats() if stats is None else stats
        self._options = options
        self._reconnect = reconnect
        self._on_given_up = on_given_up
        self._uniform = uniform
        self._delays: Iterator[float] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._connected_at = 0.0
        self._session = session
        self._on_events = on_events
        self._on_link = on_link
        self._sink = sink
        self._open = opener
        self.config: ClientConfig = options.config
        self.negotiated = not options.negotiate
        self.conn: ClientConnection | None = None  # of the latest attempt
        self.link: Link | None = None  # the open link, if any
        self._attempt_waiter: asyncio.Future[Event] | None = None
        # The servers in the order they are tried: the primary, then the failover servers.
        self._servers: list[TransportSettings] = [options.transport, *options.failover]
        self._settings = options.transport  # the server of the attempt in progress (or last)
        # The server connected to, and the entry of _servers whose chain led there.
        self._in_use: tuple[int, TransportSettings] = (0, options.transport)
        # A DISCONNECT's redirect, for the next attempt: (entry, the server that sent it, it).
        self._pending_redirect: tuple[int, TransportSettings, _Redirected] | None = None

    @property
    def server_address(self) -> Server:
        """(host, port) of the server connected to (the last one), else of the primary."""
        settings = self._in_use[1]
        return settings.hostname, settings.port

    @property
    def address(self) -> str:
        """The server connected to (the last one), else the primary, as error messages say it."""
        return self._in_use[1].address

    def disconnected(self, event: Disconnected) -> None:
        """An established connection ended with ``event``: a DISCONNECT 0x9C / 0x9D with a
        Server Reference is followed by the next attempt (see the module docstring), unless
        ``follow_redirects`` is off (then it is a lost connection like any other)."""
        reference = event.properties.server_reference
        entry, settings = self._in_use
        if (
            event.reason_code in _REDIRECT_CODES
            and reference is not None
            and self.config.protocol_version is _V5
            and self._options.follow_redirects
            and settings.transport != "unix"
        ):
            permanent = event.reason_code == 0x9D
            error = MqttConnectError(
                f"the broker at {settings.address} disconnected the client: "
                f"{_connack_code_text(event.reason_code, _V5)} (server reference {reference!r})",
                stage="connack",
                address=settings.address,
                rc=event.reason_code,
            )
            self._pending_redirect = (entry, settings, _Redirected(reference, permanent, error))

    @property
    def reconnecting(self) -> bool:
        """Whether a lost connection is being made again in the background."""
        return self._keeper is not None and not self._keeper.done()

    async def connect(self) -> Link:
        """The first connection; with ``Reconnect``, failures that retrying may fix are
        retried. Raises ``MqttConnectError``."""
        if self._reconnect is None:
            return await self._connect_once()
        self._delays = self._reconnect.delays(self._uniform)
        return await self._connect_retrying(None)

    def connection_lost(self, cause: BaseException | None) -> None:
        """The established connection ended: make it again in the background (Reconnect)."""
        reconnect = self._reconnect
        assert reconnect is not None and not self.reconnecting
        loop = asyncio.get_running_loop()
        if self._delays is None or loop.time() - self._connected_at >= reconnect.stable_after:
            self._delays = reconnect.delays(self._uniform)
        self._keeper = loop.create_task(self._keep(cause))

    async def stop(self) -> None:
        """Stop reconnecting (the client leaves its ``async with`` block)."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None and not keeper.done():
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _keep(self, cause: BaseException | None) -> None:
        try:
            await self._connect_retrying(cause)
        except MqttConnectError as error:
            if self._on_given_up is not None:
                self._on_given_up(error)

    async def _connect_retrying(self, lost: BaseException | None) -> Link:
        """Attempt after attempt, with the delays in between, until one succeeds or it is no
        use; ``lost``: the cause of the loss that this reconnect follows, if any."""
        reconnect, delays = self._reconnect, self._delays
        assert reconnect is not None and delays is not None
        logger, address = self._options.logger, self.address
        failures = 0
        if lost is not None and self._pending_redirect is not None:
            logger.warning("connection to %s lost: %s; following the redirect", address, lost)
        elif lost is not None:
            delay = next(delays)
            logger.warning(
                "connection to %s lost: %s; reconnecting in %.2f s", address, lost, delay
            )
            await asyncio.sleep(delay)
        while True:
            again = " again" if lost is not None else ""
            try:
                link = await self._connect_once(
                    f"{again} after {failures} failed attempts" if lost or failures else ""
                )
            except MqttConnectError as error:
                failures += 1
                if self._is_final(error):
                    logger.error("%s; not retrying: retrying cannot fix this", error)
                    raise
                if reconnect.max_attempts is not None and failures >= reconnect.max_attempts:
                    logger.error("%s; giving up after %d attempts", error, failures)
                    raise
                delay = next(delays)
                logger.warning("%s; next attempt in %.2f s", error, delay)
                await asyncio.sleep(delay)
                continue
            self._connected_at = asyncio.get_running_loop().time()
            return link

    def _is_final(self, error: MqttConnectError) -> bool:
        """Whether a failed attempt is one that retrying cannot fix."""
        if error.rc is not None:
            return error.rc in _FINAL_CODES[self.config.protocol_version]
        cause = error.__cause__
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError) or _authenticator_said_no(cause):
                return True
            cause = cause.__cause__ or cause.__context__
        return False

    async def _connect_once(self, note: str = "") -> Link:
        """One connection attempt: a pending redirect, then the servers in order, following
        redirects (see the module docstring); raises ``MqttConnectError``.

        ``note`` goes into the log line that says it connected (" again after 2 failed
        attempts").
        """
        failures: list[MqttConnectError] = []
        pending, self._pending_redirect = self._pending_redirect, None
        if pending is not None:
            entry, origin, redirect = pending
            try:
                return self._connected(entry, await self._redirected([origin], redirect, note))
            except MqttConnectError as error:
                if self._is_final(error):
                    raise
                failures.append(error)
        for entry, settings in enumerate(self._servers):
            if failures:
                self._options.logger.warning("%s; trying %s", failures[-1], settings.address)
            try:
                return self._connected(entry, await self._via([settings], True, note))
            except MqttConnectError as error:
                if self._is_final(error):
                    raise
                failures.append(error)
        if len(failures) == 1:
            raise failures[0]
        last = failures[-1]
        summary = "; ".join(str(failure.args[1]) for failure in failures)
        raise MqttConnectError(
            f"could not connect to any of the {len(failures)} servers: {summary}",
            stage=last.stage,
            address=last.address,
        ) from last

    def _connected(self, entry: int, result: tuple[Link, TransportSettings, bool]) -> Link:
        """A chain from entry ``entry`` connected; a chain of 0x9D hops replaces the entry."""
        link, settings, moved = result
        if moved:
            old = self._servers[entry]
            self._servers[entry] = settings
            self._options.logger.warning(
                "the broker at %s moved permanently to %s: this client connects there from now on",
                old.address,
                settings.address,
            )
        self._in_use = (entry, settings)
        return link

    async def _via(
        self, chain: list[TransportSettings], permanent: bool, note: str
    ) -> tuple[Link, TransportSettings, bool]:
        """Connect to the last server of ``chain`` (the servers a redirect chain went
        through), following its redirect if it sends one; returns the link, the server it
        connected to and whether it moved for good (every hop was 0x9D)."""
        settings = chain[-1]
        try:
            link = await self._connect_to(settings, note)
        except _Redirected as redirect:
            redirect.permanent = redirect.permanent and permanent
            return await self._redirected(chain, redirect, note)
        except MqttConnectError as error:
            if len(chain) == 1:
                raise
            # Say how the client got there: the server the application named is elsewhere.
            path = " -> ".join(hop.address for hop in chain)
            failure = MqttConnectError(
                f"{error.args[1]} (redirected there: {path})",
                stage=error.stage,
                address=error.address,
                rc=error.rc,  # type: ignore[arg-type]  # (a CONNACK code, or None)
            )
            raise failure from error.__cause__
        return link, settings, len(chain) > 1 and permanent

    async def _redirected(
        self, chain: list[TransportSettings], redirect: _Redirected, note: str
    ) -> tuple[Link, TransportSettings, bool]:
        """The last server of ``chain`` sent ``redirect``: try the servers it names in order."""
        origin = chain[-1]
        path = " -> ".join(settings.address for settings in chain)
        if not self._options.follow_redirects:
            raise redirect.refused("not followed: follow_redirects=False")
        if origin.transport == "unix":
            raise redirect.refused("a Unix-socket connection cannot follow it")
        if len(chain) > MAX_REDIRECTS:
            raise redirect.refused(f"more than {MAX_REDIRECTS} redirects in a row ({path})")
        try:
            servers = parse_server_reference(redirect.reference, origin.port)
            targets = [
                dataclasses.replace(origin, hostname=host, port=port) for host, port in servers
            ]
        except (TypeError, ValueError) as error:
            raise redirect.refused(str(error)) from None
        seen = {(settings.hostname, settings.port) for settings in chain}
        fresh = [target for target in targets if (target.hostname, target.port) not in seen]
        if not fresh:
            raise redirect.refused(f"a redirect loop ({path} -> {targets[0].address})")
        last: MqttConnectError | None = None
        for target in fresh:
            self._options.logger.info(
                "the broker at %s redirects the client to %s (%s)",
                origin.address,
                target.address,
                "server moved" if redirect.error.rc == 0x9D else "use another server",
            )
            try:
                return await self._via([*chain, target], redirect.permanent, note)
            except MqttConnectError as error:
                if self._is_final(error):
                    raise
                last = error
        assert last is not None
        raise last

    async def _connect_to(self, settings: TransportSettings, note: str) -> Link:
        """One connection to one server (falling back to 3.1.1 if needed); raises
        ``MqttConnectError``, or ``_Redirected`` for a redirect to follow.

        While the version is being negotiated, the 5.0 attempt gets half of the connect timeout
        for its CONNACK: some brokers never answer a CONNECT of a version they do not speak, and
        the other half is left for 3.1.1.
        """
        self._settings = settings
        loop = asyncio.get_running_loop()
        timeout = self._options.timeout
        deadline = None if timeout is None else loop.time() + timeout
        first_deadline = deadline
        if not self.negotiated and self.config.protocol_version is _V5:
            first_deadline = loop.time() + (timeout or DEFAULT_TIMEOUT) / 2
        try:
            link = await self._attempt(first_deadline, deadline)
        except _ProtocolRefused as refused:
            self._options.logger.info(
                "the broker at %s does not accept MQTT 5.0 (%s); connecting with MQTT 3.1.1",
                settings.address,
                refused.detail,
            )
            self._fall_back()
            try:
                link = await self._attempt(deadline, deadline)
            except _ProtocolRefused as again:
                raise again.error from again.error.__cause__
            except MqttConnectError as error:
                raise MqttConnectError(
                    f"{error.args[1]} (with MQTT 3.1.1; with MQTT 5.0 first: {refused.detail})",
                    stage=error.stage,
                    address=error.address,
                    rc=error.rc,  # type: ignore[arg-type]  # (a CONNACK code: an int)
                ) from error.__cause__
        self.negotiated = True
        conn = self.conn
        assert conn is not None
        logger = self._options.logger
        logger.info(
            "connected to %s%s (MQTT %s, client identifier %r, session present: %s)",
            settings.address,
            note,
            version_text(self.config.protocol_version),
            conn.client_id,
            conn.server.session_present,
        )
        if conn.session_lost:
            logger.warning(
                "the broker at %s had lost the session: what was in flight follows "
                "session_lost_policy=%s",
                settings.address,
                self.config.session_lost_policy.value,
            )
        return link

    def _dispatch(self, conn: ClientConnection, events: list[Event]) -> None:
        """Events of the current connection go to the client; those of one given up (an
        attempt that timed out, whose end is reported late) are of no interest any more."""
        if conn is self.conn:
            self._on_events(events)

    def connection_event(self, event: Connected | Disconnected) -> bool:
        """Resolve the attempt in progress with ``event``; False if there is none."""
        waiter = self._attempt_waiter
        if waiter is None or waiter.done():
            return False
        waiter.set_result(event)
        return True

    def drop_link(self, link: Link | None) -> None:
        """Abort ``link`` and forget it (a failed attempt, or a connection given up)."""
        if link is not None:
            link.abort()
        if self.link is link:
            self.link = None
            self._on_link(None)

    def _fall_back(self) -> None:
        config = self.config
        logger = self._options.logger
        if config.will is not None and config.will.properties:
            logger.info("MQTT 3.1.1: the will properties are not sent")
        if config.properties:
            logger.info("MQTT 3.1.1: the CONNECT properties are not sent")
        if config.outgoing_topic_aliases or config.topic_alias_maximum:
            logger.info("MQTT 3.1.1: no topic aliases (MQTT 3.1.1 has none)")
        self.config = config.for_version(ProtocolVersion.V311)

    async def _attempt(self, connack_deadline: float | None, deadline: float | None) -> Link:
        """One network connection and CONNECT / CONNACK exchange, within ``deadline`` (the
        transport) and ``connack_deadline`` (the answer; earlier while negotiating 5.0)."""
        options = self._options
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Event] = loop.create_future()
        self._attempt_waiter = waiter
        conn = self.conn = ClientConnection(self.config, self._session)
        link: Link | None = None
        started = loop.time()
        options.logger.debug(
            "connecting to %s (MQTT %s, client identifier %r)",
            self._settings.address,
            version_text(self.config.protocol_version),
            conn.client_id,
        )
        try:
            _, link = await self._open(
                lambda: Link(
                    conn, functools.partial(self._dispatch, conn), self._sink, self._stats
                ),
                self._settings,
                deadline=deadline,
            )
            self.link = link
            self._on_link(link)
            async with asyncio.timeout_at(connack_deadline):
                event = await waiter
        except TimeoutError:
            self.drop_link(link)
            # (The time it was given, not the clock's reading, which the loop rounds; to the
            # hundredth: the attempt started a little after the deadline was set.)
            waited = round((connack_deadline or loop.time()) - started, 2)
            address = self._settings.address
            failure = MqttConnectError(
                f"connecting to {address} timed out after {waited:g} s (no CONNACK)",
                stage="connack",
                address=address,
            )
            if connack_deadline != deadline:  # (the 5.0 attempt of a negotiation)
                raise _ProtocolRefused(
                    f"no answer to its CONNECT within {waited:.3g} s", failure
                ) from None
            raise failure from None
        except BaseException:
            # Cancelled (the client leaves its block) or worse. A connection the broker
            # already accepted is the client's now (it saw Connected): it ends it properly.
            if not (waiter.done() and isinstance(waiter.result(), Connected)):
                self.drop_link(link)
            raise
        finally:
            self._attempt_waiter = None
        if isinstance(event, Disconnected):
            self.drop_link(link)
            raise self._failure(event, link)
        assert link is not None
        return link

    def _failure(self, event: Disconnected, link: Link | None) -> Exception:
        error = event.error
        code = event.reason_code
        version = self.config.protocol_version
        address = self._settings.address
        fallback = (
            not self.negotiated
            and version is _V5
            and (
                code == ConnAckReasonCode.UNSUPPORTED_PROTOCOL_VERSION
                or isinstance(error, ConnectionLostError | ProtocolError)
            )
        )
        refused = isinstance(error, MqttCodeError) and code is not None
        hint = None
        if link is not None and not refused:
            hint = explain_no_connack(self._settings, link.first_bytes, link.lost_error)
            if looks_like_another_protocol(link.first_bytes) or isinstance(
                link.lost_error, ssl.SSLError
            ):
                fallback = False  # not MQTT, or TLS refused: MQTT 3.1.1 cannot fare better
        authenticator = self.config.authenticator
        if refused:
            assert code is not None
            message = (
                f"the broker at {address} refused the connection: "
                f"{_connack_code_text(code, version)}"
            )
            if authenticator is not None and code in _AUTHENTICATION_CODES:
                message += _AUTHENTICATION_CODES[code].format(method=authenticator.method)
        elif _authenticator_said_no(error):
            message = f"enhanced authentication with the broker at {address} failed: {error}"
        elif isinstance(error, ConnectionLostError):
            message = f"the broker at {address} closed the connection before CONNACK"
        else:
            message = f"the broker at {address} broke the protocol while connecting: {error}"
        if version is _V5 and link is not None and link.first_bytes[:4] == _OLD_REFUSAL:
            # An MQTT 3.1.x broker refusing a version it does not know, in its own words.
            message = (
                f"the broker at {address} does not speak MQTT 5.0: it answered with an MQTT "
                "3.1.x CONNACK refusing the protocol version (return code 1)"
            )
            if authenticator is not None:
                message += "; enhanced authentication (the authenticator) needs MQTT 5.0"
            hint = None
        if hint is not None and link is not None and looks_like_another_protocol(link.first_bytes):
            # Not MQTT at all: what the decoder made of it ("malformed PUBACK") stays the cause.
            message = f"connecting to {address} failed at the connack stage: {hint}"
        elif hint is not None:
            message = f"{message}: {hint}"
        reference = event.properties.server_reference
        if refused and reference is not None:
            message += f" (server reference {reference!r})"
        failure = MqttConnectError(
            message, stage="connack", address=address, rc=code if refused else None
        )
        failure.__cause__ = error
        if fallback:
            return _ProtocolRefused(message, failure)
        if refused and code in _REDIRECT_CODES and reference is not None and version is _V5:
            return _Redirected(reference, code == 0x9D, failure)
        return failure


# What a refusal means for a client that authenticated with an authenticator.
_AUTHENTICATION_CODES: Final[dict[int, str]] = {
    ConnAckReasonCode.NOT_AUTHORIZED: (
        " (enhanced authentication with method {method!r}: the broker did not accept the "
        "credentials)"
    ),
    ConnAckReasonCode.BAD_AUTHENTICATION_METHOD: (
        " (the broker does not support the Authentication Method {method!r})"
    ),
}


def _authenticator_said_no(error: BaseException | None) -> bool:
    """Whether ``error`` is the engine's report that our authenticator rejected the broker
    (the only ``ProtocolError`` with 0x87 Not authorized that it raises)."""
    return type(error) is ProtocolError and error.reason_code == 0x87


class _Redirected(Exception):
    """Internal: the broker sent the client elsewhere (0x9C / 0x9D with a Server Reference)."""

    def __init__(self, reference: str, permanent: bool, error: MqttConnectError) -> None:
        super().__init__(reference)
        self.reference = reference
        self.permanent = permanent  # 0x9D (Server moved), on every hop so far
        self.error = error  # the refusal, as reported when the redirect is not followed

    def refused(self, why: str) -> MqttConnectError:
        """The error for a redirect that is not followed: the refusal, and ``why``."""
        error = self.error
        refusal = MqttConnectError(
            f"{error.args[1]}; {why}",
            stage=error.stage,
            address=error.address,
            rc=error.rc,  # type: ignore[arg-type]  # (a CONNACK code: an int)
        )
        refusal.__cause__ = error.__cause__
        return refusal


class _ProtocolRefused(Exception):
    """Internal: the broker refused MQTT 5.0 in a way that calls for MQTT 3.1.1."""

    def __init__(self, detail: str, error: MqttConnectError) -> None:
        super().__init__(detail)
        self.detail = detail
        self.error = error


def _connack_code_text(code: int, version: ProtocolVersion) -> str:
    table = ConnAckReasonCode if version is _V5 else ConnectReturnCode
    try:
        name = table(code).name
    except ValueError:
        name = "unknown code"
    return f"{int(code):#04x} {name}"
