"""ServerConnection: the broker side of one client's network connection, without I/O.

Theory of operation
-------------------
The broker core (``BrokerCore``, in ``broker.py``) holds what is broker-wide: sessions by
client identifier, the subscriptions, retained messages, wills, timers. A ``ServerConnection``
holds what dies with one network connection: the decoder (one server-side ``Decoder`` that
learns the protocol version from CONNECT: 3.1, 3.1.1 and 5.0 on one port), the keepalive,
the topic aliases the client defined, the limits the client announced (its Receive Maximum
and Maximum Packet Size), an AUTH exchange under way, and the bytes waiting to be written.
It works on the client's ``ServerSession`` (the broker's session for that client id) while it
is connected, and asks the core for everything broker-wide through ``BrokerPort``, the small
interface the core implements. (This module does not import ``broker.py``; the core imports
it.)

A driver (the asyncio ``Broker``) makes connections with ``BrokerCore.new_connection(now)``
and then, per network connection:

* feeds what arrives to ``receive_data(data, now)``, and the end of the stream to
  ``connection_lost(now)``;
* after every input, asks the core which connections have something to write
  (``BrokerCore.connections_to_flush()``: one input can fan out to many), writes each one's
  ``data_to_send()`` and closes the transport of those that are ``closed``;
* keeps one timer at ``BrokerCore.get_timer()`` and calls ``BrokerCore.handle_timer(now)``;
* passes its transport's backpressure on: ``pause_writing()`` / ``resume_writing(now)``
  (while paused, the client's messages wait in its bounded session queue).

Errors of the peer never escape ``receive_data``. Before CONNACK the connection is refused
with a CONNACK code (MQTT 5) or simply closed; after it, it is ended with DISCONNECT and the
reason code of the ``ProtocolError`` (MQTT 5), or closed (MQTT 3.1.x, where a server sends no
DISCONNECT). A connection that ends in any way but a normal DISCONNECT has its will published
(after its Will Delay Interval, by the core).

Messages to the client go out within the client's Receive Maximum (and the broker's
``max_inflight_messages``); the rest wait in the session's queue, QoS 0 included while any
wait, so that a subscriber gets the messages of a topic in the order they were published.
When a session is resumed, the messages in flight are sent again first (PUBLISH with DUP, or
PUBREL once PUBREC came), in their order, within the new connection's limits.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Final, NamedTuple, Protocol

from ..errors import (
    ConnectionLostError,
    MqttError,
    ProtocolError,
    ProtocolViolationError,
    ReceiveMaximumExceededError,
    TopicAliasInvalidError,
)
from .broker_config import (
    Action,
    AuthContinue,
    AuthFailure,
    AuthSuccess,
    BrokerConfig,
    Redirect,
    ServerAuthenticator,
)
from .codec import MAX_PACKET_SIZE, Decoder, encode
from .enums import (
    AuthReasonCode,
    ConnAckReasonCode,
    DisconnectReasonCode,
    ProtocolVersion,
    PubAckReasonCode,
    PubCompReasonCode,
    PubRelReasonCode,
    SubAckReasonCode,
    UnsubAckReasonCode,
)
from .packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
)
from .properties import NO_PROPERTIES, Properties
from .server_session import NEVER_EXPIRES, Delivery, ServerSession
from .session import PublishHandle, Stage
from .topics import parse_shared_subscription, validate_topic_filter, validate_topic_name

__all__ = (
    "BrokerEvent",
    "BrokerPort",
    "ClientConnected",
    "ClientDisconnected",
    "ConnectionRefused",
    "HookFailed",
    "MessageDropped",
    "ServerConnection",
    "ServerState",
    "WillPublished",
    "PUBACK_CODES",
    "hook_verdict",
)

_V31: Final = ProtocolVersion.V31
_V5: Final = ProtocolVersion.V5
_KEEPALIVE_FACTOR: Final = 1.5  # MQTT-3.1.2-22: one and a half times the Keep Alive
_new_tuple: Final = tuple.__new__
_MAX_FIELD: Final = 65535  # the longest string or binary field (a two-byte length)
_PINGRESP: Final = b"\xd0\x00"
_CONNACK_CODES: Final = frozenset(int(code) for code in ConnAckReasonCode)
_DISCONNECT_CODES: Final = frozenset(int(code) for code in DisconnectReasonCode)
PUBACK_CODES: Final = frozenset(int(code) for code in PubAckReasonCode)
_SUBACK_CODES: Final = frozenset(int(code) for code in SubAckReasonCode)
# MQTT 3.1.x CONNACK return codes for the MQTT 5 reason codes a refusal may carry; any other
# refusal is 3 (Server unavailable), the nearest 3.1.x has to "not now, not here".
_V3_RETURN_CODES: Final[dict[int, int]] = {
    ConnAckReasonCode.UNSUPPORTED_PROTOCOL_VERSION: 1,
    ConnAckReasonCode.CLIENT_IDENTIFIER_NOT_VALID: 2,
    ConnAckReasonCode.BAD_USER_NAME_OR_PASSWORD: 4,
    ConnAckReasonCode.NOT_AUTHORIZED: 5,
    ConnAckReasonCode.BANNED: 5,
    ConnAckReasonCode.BAD_AUTHENTICATION_METHOD: 5,
}
# The CONNACK an unknown protocol name or level gets: 3.1.1's "unacceptable protocol version",
# the form every version can read (what mosquitto answers too).
_UNSUPPORTED_VERSION_CONNACK: Final = b"\x20\x02\x00\x01"
# What ``ServerConnection._session`` holds before CONNACK: never used, it spares the checks.
_NO_SESSION: Final = ServerSession("", expiry_interval=0, max_queued=0)


class ServerState(Enum):
    """Where a ``ServerConnection`` is (its ``state``); the value is the text messages use."""

    AWAITING_CONNECT = "awaiting CONNECT"
    """The network connection is open; CONNECT has not come (``connect_timeout`` runs)."""
    AUTHENTICATING = "authenticating"
    """CONNECT came with an Authentication Method: an AUTH exchange runs before CONNACK."""
    CONNECTED = "connected"
    """CONNACK accepted the client: it works on its session."""
    CLOSED = "closed"
    """Over: the driver writes what ``data_to_send()`` still holds and closes the transport."""


# ---------------------------------------------------------------------------------- events


class ClientConnected(NamedTuple):
    """A client was accepted (CONNACK 0x00 queued)."""

    connection: ServerConnection
    """Its connection."""
    client_id: str
    """Its client identifier (assigned by the broker when it sent an empty one)."""
    session_present: bool
    """Whether it resumed a session the broker kept."""


class ConnectionRefused(NamedTuple):
    """A CONNECT was refused (a CONNACK with a failure code queued, then the close)."""

    connection: ServerConnection
    """The connection."""
    client_id: str
    """The client identifier the CONNECT carried (or the one assigned)."""
    reason_code: int
    """The MQTT 5 ``ConnAckReasonCode`` (a 3.1.x client got the matching return code)."""


class ClientDisconnected(NamedTuple):
    """A client's connection ended (after it had been accepted)."""

    connection: ServerConnection
    """Its connection (now ``CLOSED``)."""
    client_id: str
    """Its client identifier."""
    reason_code: int | None
    """The MQTT 5 DISCONNECT reason code, the client's or the broker's; None in MQTT 3.1.x
    (its DISCONNECT carries none, and the broker sends none) and when the network connection
    was lost."""
    error: MqttError | None
    """None for a DISCONNECT from the client; else why the broker ended it: a
    ``ProtocolError`` (the client broke the protocol; its ``reason_code``), or a
    ``ConnectionLostError`` (network lost, keepalive, session taken over, ...)."""


class HookFailed(NamedTuple):
    """A hook raised, or answered something that is not a valid answer; it counted as a
    refusal with 0x80 (Unspecified error)."""

    hook: str
    """Its name: ``authenticate``, ``authorize``, ``enhanced_authentication`` (the hook or
    its authenticator) or ``redirect``."""
    error: Exception
    """What it raised (a ``TypeError`` / ``ValueError`` for an invalid answer)."""
    client_id: str
    """The client it was called for."""


class MessageDropped(NamedTuple):
    """A message was not delivered to a client (see ``BrokerConfig``)."""

    client_id: str
    """The client that does not get it."""
    publish: Publish
    """The message as it would have been sent."""
    reason: str
    """``"queue full"`` or ``"too large"`` (above the client's Maximum Packet Size)."""


class WillPublished(NamedTuple):
    """A client's will was published."""

    client_id: str
    """The client whose will it was."""
    publish: Publish
    """The message published."""


BrokerEvent = (
    ClientConnected
    | ConnectionRefused
    | ClientDisconnected
    | HookFailed
    | MessageDropped
    | WillPublished
)
"""Any of the events ``BrokerCore.events_received()`` returns."""


# ------------------------------------------------------------------------- the core's side


class BrokerPort(Protocol):
    """What a ``ServerConnection`` asks of the broker core (``BrokerCore`` is one)."""

    @property
    def config(self) -> BrokerConfig:
        """The broker's settings."""
        ...

    def mark(self, connection: ServerConnection) -> None:
        """The connection has bytes to write or was closed: the driver flushes it."""
        ...

    def schedule(self, connection: ServerConnection, when: float) -> None:
        """Call ``connection.handle_timer`` at ``when``."""
        ...

    def report(self, event: BrokerEvent) -> None:
        """An event for the driver."""
        ...

    def admit(self, client_id: str) -> bool:
        """Whether one more client may connect (``max_connections``; a client taking over its
        own session does not count twice)."""
        ...

    def assign_client_id(self) -> str:
        """A new client identifier, unused by any session."""
        ...

    def attach(
        self,
        connection: ServerConnection,
        connect: Connect,
        client_id: str,
        expiry: int,
        now: float,
    ) -> tuple[ServerSession, bool]:
        """Give the accepted connection its session: (session, session present). Takes over
        the client id's connection and session (or ends it, on a clean start)."""
        ...

    def detach(
        self, connection: ServerConnection, session: ServerSession, will: bool, now: float
    ) -> None:
        """The connection ended: publish or schedule the will (when ``will``), start the
        session's expiry."""
        ...

    def route(self, packet: Publish, origin: str, now: float) -> int:
        """Publish a message from client ``origin``; returns how many subscriptions took it."""
        ...

    def subscribe(
        self, session: ServerSession, subscription: Subscription, properties: Properties
    ) -> bool:
        """Add (or replace) a granted subscription; True when it replaced one."""
        ...

    def send_retained(
        self, session: ServerSession, subscription: Subscription, identifier: int | None, now: float
    ) -> None:
        """Deliver the retained messages that match a new subscription."""
        ...

    def unsubscribe(self, session: ServerSession, topic_filter: str) -> bool:
        """Remove a subscription; False when there was none."""
        ...

    def dropped(self, session: ServerSession, packet: Publish, reason: str) -> None:
        """A message for the session was dropped (counted and reported)."""
        ...

    def expired(self, session: ServerSession) -> None:
        """A message for the session expired before it could be sent (counted)."""
        ...


# -------------------------------------------------------------------------------- helpers


def _valid_utf8(payload: bytes) -> bool:
    """Whether a payload announced as UTF-8 (Payload Format Indicator 1) is well formed."""
    try:
        payload.decode()
    except UnicodeDecodeError:
        return False
    return True


def _auth_reply_problem(reply: object) -> Exception | None:
    """What is wrong with an authenticator's answer (None: nothing)."""
    if isinstance(reply, AuthContinue | AuthSuccess):
        data = reply.data
        if data is None or (isinstance(data, bytes) and len(data) <= _MAX_FIELD):
            return None
        return TypeError(
            f"the authentication data of {reply!r} is not bytes (of at most {_MAX_FIELD}) or None"
        )
    if isinstance(reply, AuthFailure):
        code = reply.reason_code
        if isinstance(code, int) and code >= 0x80 and code in _CONNACK_CODES:
            return None
        return ValueError(f"{reply!r} does not carry a CONNACK failure code of 0x80 or above")
    return TypeError(f"not an AuthContinue, AuthSuccess or AuthFailure: {reply!r}")


def _valid_text(text: object) -> bool:
    """Whether a hook's text can be sent as an MQTT UTF-8 string."""
    if not isinstance(text, str) or "\x00" in text:
        return False
    try:
        return len(text.encode()) <= _MAX_FIELD
    except UnicodeEncodeError:  # (a lone surrogate)
        return False


def hook_verdict(
    hook: Callable[..., object], codes: frozenset[int], *args: object
) -> tuple[int, Exception | None]:
    """Call a hook that accepts (None or 0) or refuses (a code of 0x80 or above from ``codes``):
    ``(0 or the refusal code, None)``; ``(0x80, the error)`` when it raised or answered
    anything else. (The broker core uses it too, for wills.)"""
    try:
        answer = hook(*args)
    except Exception as error:  # a hook's bug must not take the broker down
        return 0x80, error
    if answer is None or (answer == 0 and type(answer) is not bool):
        return 0, None
    if type(answer) is not bool and isinstance(answer, int) and answer >= 0x80 and answer in codes:
        return answer, None
    return 0x80, ValueError(f"{answer!r} is not None or a refusing reason code of 0x80 or above")


def _without_topic_alias(properties: Properties) -> Properties:
    stripped = dataclasses.replace(properties, topic_alias=None)
    return stripped if stripped else NO_PROPERTIES


# ------------------------------------------------------------------------ the connection


class ServerConnection:
    """The broker side of MQTT 3.1, 3.1.1 and 5.0 over one network connection.

    Made by ``BrokerCore.new_connection(now)``, never directly. Every method that takes
    ``now`` wants the current time in seconds on the broker's monotonic clock (the same for
    every call). See the module docstring for how a driver uses it.
    """

    __slots__ = (
        "_aliases",
        "_assigned",
        "_auth_method",
        "_authenticator",
        "_broker",
        "_client_maximum_packet_size",
        "_connect",
        "_connect_deadline",
        "_decoder",
        "_inflight_limit",
        "_last_received",
        "_out",
        "_paused",
        "_reauthenticating",
        "_requested_expiry",
        "_resends",
        "_session",
        "_v5",
        "_version",
        "client_id",
        "config",
        "keep_alive",
        "number",
        "protocol_version",
        "state",
        "username",
    )

    def __init__(self, broker: BrokerPort, number: int, now: float) -> None:
        config = broker.config
        self._broker = broker
        self.config = config
        """The broker's ``BrokerConfig``."""
        self.number = number
        """The broker's number for this connection (from 1, never reused)."""
        self.state = ServerState.AWAITING_CONNECT
        """Where the connection is (a ``ServerState``)."""
        self.protocol_version: ProtocolVersion | None = None
        """The MQTT version the client speaks; None until CONNECT said it."""
        self.client_id: str | None = None
        """The client identifier (the broker's when it assigned one); None before CONNECT."""
        self.username: str | None = None
        """The user name CONNECT carried, if any."""
        self._session = _NO_SESSION  # (the client's, from CONNACK on)
        self.keep_alive = 0
        """The keepalive in force, in seconds (the client's, or the broker's override); 0:
        none. The connection is closed after 1.5 times it without a packet."""
        self._v5 = False
        self._version = _V5  # (protocol_version, for encode; set by CONNECT before any use)
        self._decoder = Decoder(
            server_side=True, max_packet_size=config.maximum_packet_size or MAX_PACKET_SIZE
        )
        self._out: list[bytes] = []
        self._paused = False
        self._last_received = now
        self._connect_deadline = now + config.connect_timeout
        self._aliases: dict[int, str] = {}
        self._inflight_limit = config.max_inflight_messages
        self._client_maximum_packet_size: int | None = None
        self._requested_expiry = 0
        self._connect: Connect | None = None  # kept during an AUTH exchange before CONNACK
        self._assigned = False  # (and whether the broker assigned its client id)
        self._auth_method: str | None = None
        self._authenticator: ServerAuthenticator | None = None
        self._reauthenticating = False
        # Flows in flight to resend on a resumed session, waiting for a Receive Maximum slot.
        self._resends: deque[PublishHandle] = deque()

    # ------------------------------------------------------------------ outputs

    @property
    def closed(self) -> bool:
        """True once the connection is over: write ``data_to_send()``, then close."""
        return self.state is ServerState.CLOSED

    def data_to_send(self) -> bytes:
        """Everything queued for the network since the last call, in order."""
        out = self._out
        if not out:
            return b""
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    def deadline(self) -> float | None:
        """When ``handle_timer`` has something to check: the connect timeout, or the
        keepalive's 1.5 times after the last packet; None when nothing."""
        state = self.state
        if state is ServerState.CONNECTED:
            if not self.keep_alive:
                return None
            return self._last_received + self.keep_alive * _KEEPALIVE_FACTOR
        if state is ServerState.CLOSED:
            return None
        return self._connect_deadline

    @property
    def session(self) -> ServerSession | None:
        """The client's session, from CONNACK on (it stays readable after the close)."""
        session = self._session
        return None if session is _NO_SESSION else session

    @property
    def inflight_count(self) -> int:
        """QoS 1/2 messages sent to the client and not yet acknowledged on this connection."""
        return len(self._session.state.outgoing) - len(self._resends)

    # ------------------------------------------------------------------ inputs

    def receive_data(self, data: bytes, now: float) -> None:
        """Take bytes from the network; never raises for anything the client sent.

        ``data``: what the network delivered, any amount; ``now``: the current time. Bytes
        that come once the connection is ``CLOSED`` are ignored.
        """
        if self.state is ServerState.CLOSED:
            return
        self._last_received = now
        decoder = self._decoder
        decoder.feed(data)
        try:
            while (packet := decoder.next_packet()) is not None:
                if self.state is ServerState.CONNECTED:
                    self._receive(packet, now)
                else:
                    self._receive_before_connack(packet, now)
                if self.closed:  # (the handler may have closed it)
                    return
        except ProtocolError as error:
            self._fail(error, now)

    def connection_lost(self, now: float) -> None:
        """The network connection ended (EOF or error): an accepted client's will is published
        (after its delay) and its session's expiry starts. Nothing happens once ``CLOSED``."""
        if self.state is ServerState.CLOSED:
            return
        self._close(now, will=True, error=ConnectionLostError("the network connection was lost"))

    def handle_timer(self, now: float) -> None:
        """Enforce the deadlines (``deadline()``): a client silent for 1.5 keepalives gets
        DISCONNECT 0x8D (MQTT 5) and is closed, its will published; a connection without a
        complete CONNECT (and AUTH exchange) after ``connect_timeout`` is closed. Calling it
        early does nothing."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return
        if self.state is ServerState.CONNECTED:
            self._disconnect(
                DisconnectReasonCode.KEEP_ALIVE_TIMEOUT,
                now,
                will=True,
                error=ConnectionLostError(
                    f"no packet from the client in 1.5 times its keepalive of {self.keep_alive} s"
                ),
            )
        else:
            self._close(
                now, will=False, error=ConnectionLostError("CONNECT did not complete in time")
            )

    # ------------------------------------------------------------------ commands

    def disconnect(
        self,
        reason_code: int | None = None,
        *,
        now: float,
        will: bool = True,
        redirect: Redirect | None = None,
    ) -> None:
        """End the connection from the broker's side: DISCONNECT with ``reason_code`` (MQTT 5;
        default 0x98, Administrative action), then close. ``redirect`` sends the client
        elsewhere instead: DISCONNECT 0x9D (Server moved) when ``permanent``, else 0x9C (Use
        another server), with its Server Reference (MQTT 3.1.x clients: closed without a
        word). ``will``: whether the client's will is published (default True: the client did
        not end it normally). Does nothing when the connection is already closed; one not yet
        accepted is closed without a word.

        Raises ``ValueError`` for a code that is not a DISCONNECT reason code, or for both a
        code and a redirect; ``TypeError`` for a redirect that is not a ``Redirect`` with a
        valid server reference.
        """
        properties = NO_PROPERTIES
        if redirect is not None:
            if reason_code is not None:
                raise ValueError(
                    f"reason_code={reason_code!r} and redirect: a redirect has its own code "
                    "(0x9C, or 0x9D when permanent); give one of them"
                )
            if not isinstance(redirect, Redirect) or not _valid_text(redirect.server_reference):
                raise TypeError(
                    f"redirect must be a Redirect with a valid server reference, got {redirect!r}"
                )
            reason_code = (
                DisconnectReasonCode.SERVER_MOVED
                if redirect.permanent
                else DisconnectReasonCode.USE_ANOTHER_SERVER
            )
            properties = Properties(server_reference=redirect.server_reference)
        elif reason_code is None:
            reason_code = DisconnectReasonCode.ADMINISTRATIVE_ACTION
        if reason_code not in _DISCONNECT_CODES:
            raise ValueError(f"reason_code={reason_code!r} is not a DISCONNECT reason code")
        if self.state is ServerState.CLOSED:
            return
        error = ConnectionLostError(f"the broker disconnected the client (0x{reason_code:02X})")
        if self.state is not ServerState.CONNECTED:
            self._close(now, will=False, error=error)
            return
        self._disconnect(reason_code, now, will=will, error=error, properties=properties)

    def pause_writing(self) -> None:
        """The transport's write buffer is full (asyncio's ``pause_writing``): messages for
        this client wait in its session's queue (bounded by ``max_queued_messages``, with its
        drop policy) instead of piling up in the buffer. Replies to what the client sends
        (acknowledgements, SUBACK, ...) are still written: the client's own pace bounds them."""
        self._paused = True

    def resume_writing(self, now: float) -> None:
        """The write buffer drained (asyncio's ``resume_writing``): what waits is sent, as far
        as the client's Receive Maximum allows."""
        self._paused = False
        if self.state is ServerState.CONNECTED:
            self._flush(now)

    @property
    def writing_paused(self) -> bool:
        """Whether ``pause_writing`` holds messages back."""
        return self._paused

    # ------------------------------------------------------------------ for the core

    def take_over(self, now: float) -> None:
        """Another connection took this client's session: DISCONNECT 0x8E (MQTT 5), close;
        the will is published as for any connection that ends abnormally."""
        self._disconnect(
            DisconnectReasonCode.SESSION_TAKEN_OVER,
            now,
            will=True,
            error=ConnectionLostError("another connection took over the session"),
        )

    def can_send_now(self, qos: int) -> bool:
        """Whether a message of ``qos`` for this client can be written at once (nothing is
        queued before it, and QoS 1/2 has a Receive Maximum slot)."""
        state = self._session.state
        if state.pending or self._paused:
            return False
        return not qos or len(state.outgoing) - len(self._resends) < self._inflight_limit

    def send_message(
        self, packet: Publish, expires_at: float | None, now: float, group: str | None = None
    ) -> None:
        """Write a message for this client now (``can_send_now`` said it may); ``group``: the
        shared subscription it came through, if any."""
        if not packet.qos:
            adjusted = self._adjusted(packet, expires_at, now)
            if adjusted is not None:
                self._write_publish(adjusted)
            return
        state = self._session.state
        number = state.next_number
        state.next_number = number + 1
        self._write_delivery(Delivery(packet, number, expires_at, group), now)

    # ------------------------------------------------------------------ before CONNACK

    def _receive_before_connack(self, packet: Packet, now: float) -> None:
        kind = type(packet)
        if kind is Connect:  # (the decoder lets nothing else come first, nor a second one)
            self._receive_connect(packet, now)  # type: ignore[arg-type]
        elif kind is Auth:
            self._receive_auth(packet, now)  # type: ignore[arg-type]
        elif kind is Disconnect:
            self._close(now, will=False, error=None)
        else:
            raise ProtocolViolationError(
                f"{kind.__name__.upper()} arrived during the AUTH exchange, before CONNACK"
            )

    def _receive_connect(self, packet: Connect, now: float) -> None:
        version = packet.protocol_version
        self.protocol_version = self._version = version
        self._v5 = v5 = version is _V5
        self.username = packet.username
        client_id = packet.client_id
        assigned = False
        if not client_id:
            # MQTT 3.1 requires an identifier; 3.1.1 allows none only with a clean session.
            if version is _V31 or (not v5 and not packet.clean_start):
                self.client_id = client_id
                self._refuse(ConnAckReasonCode.CLIENT_IDENTIFIER_NOT_VALID, now)
                return
            client_id = self._broker.assign_client_id()
            assigned = v5
        self.client_id = client_id
        config = self.config
        code = self._check_will(packet)
        if code:
            self._refuse(code, now)
            return
        if config.redirect is not None and self._redirect(config.redirect, packet, now):
            return
        if not self._broker.admit(client_id):
            self._refuse(ConnAckReasonCode.QUOTA_EXCEEDED, now)
            return
        if config.authenticate is not None:
            code = self._refusal_code(
                "authenticate",
                config.authenticate,
                _CONNACK_CODES,
                client_id,
                packet.username,
                packet.password,
            )
            if code:
                self._refuse(code, now)
                return
        method = packet.properties.authentication_method
        if method is None:
            self._accept(packet, assigned, None, now)
            return
        authenticator = self._new_authenticator(method)
        if authenticator is None:
            self._refuse(ConnAckReasonCode.BAD_AUTHENTICATION_METHOD, now)
            return
        self._auth_method = method
        self._authenticator = authenticator
        self._connect = packet
        self._assigned = assigned
        self._auth_step(packet.properties.authentication_data, now)

    def _check_will(self, packet: Connect) -> int:
        """The CONNACK refusal a will deserves (0: none)."""
        will = packet.will
        if will is None:
            return 0
        try:
            validate_topic_name(will.topic)
        except ValueError:
            return ConnAckReasonCode.TOPIC_NAME_INVALID
        config = self.config
        if will.qos > config.maximum_qos:
            return ConnAckReasonCode.QOS_NOT_SUPPORTED
        if will.retain and not config.retain_available:
            return ConnAckReasonCode.RETAIN_NOT_SUPPORTED
        if will.properties.payload_format_indicator == 1 and not _valid_utf8(will.payload):
            return ConnAckReasonCode.PAYLOAD_FORMAT_INVALID
        return 0

    def _redirect(self, hook: Callable[..., object], packet: Connect, now: float) -> bool:
        """Ask the redirect hook; True when the client was refused (sent elsewhere)."""
        try:
            redirect = hook(self.client_id, packet.username)
        except Exception as error:  # a hook's bug must not take the broker down
            self._hook_failed("redirect", error)
            self._refuse(ConnAckReasonCode.UNSPECIFIED_ERROR, now)
            return True
        if redirect is None:
            return False
        if not isinstance(redirect, Redirect) or not _valid_text(redirect.server_reference):
            self._hook_failed(
                "redirect",
                TypeError(f"not a Redirect with a valid server reference, or None: {redirect!r}"),
            )
            self._refuse(ConnAckReasonCode.UNSPECIFIED_ERROR, now)
            return True
        code = (
            ConnAckReasonCode.SERVER_MOVED
            if redirect.permanent
            else ConnAckReasonCode.USE_ANOTHER_SERVER
        )
        self._refuse(code, now, Properties(server_reference=redirect.server_reference))
        return True

    def _new_authenticator(self, method: str) -> ServerAuthenticator | None:
        """A new exchange for ``method`` from the hook; None when there is none for it."""
        hook = self.config.enhanced_authentication
        if hook is None:
            return None
        try:
            return hook(method)
        except Exception as error:  # a hook's bug must not take the broker down
            self._hook_failed("enhanced_authentication", error)
            return None

    def _auth_step(self, data: bytes | None, now: float) -> None:
        """Ask the authenticator for the next step of the exchange, and act on its answer."""
        authenticator = self._authenticator
        assert authenticator is not None
        reply: object
        try:
            reply = authenticator.step(data)
        except Exception as error:  # a hook's bug must not take the broker down
            self._hook_failed("enhanced_authentication", error)
            reply = AuthFailure(ConnAckReasonCode.UNSPECIFIED_ERROR)
        else:
            problem = _auth_reply_problem(reply)
            if problem is not None:
                self._hook_failed("enhanced_authentication", problem)
                reply = AuthFailure(ConnAckReasonCode.UNSPECIFIED_ERROR)
        reauthenticating = self.state is ServerState.CONNECTED
        if isinstance(reply, AuthContinue):
            if not reauthenticating:
                self.state = ServerState.AUTHENTICATING
            self._send_auth(AuthReasonCode.CONTINUE_AUTHENTICATION, reply.data)
        elif isinstance(reply, AuthSuccess):
            if reauthenticating:
                self._reauthenticating = False
                self._send_auth(AuthReasonCode.SUCCESS, reply.data)
                return
            connect = self._connect
            assert connect is not None
            self._connect = None
            self._accept(connect, self._assigned, reply.data, now)
        else:
            assert isinstance(reply, AuthFailure)
            if not reauthenticating:
                self._refuse(reply.reason_code, now)
                return
            code = reply.reason_code
            if code not in _DISCONNECT_CODES:
                code = DisconnectReasonCode.NOT_AUTHORIZED
            self._disconnect(
                code, now, will=True, error=ConnectionLostError("re-authentication failed")
            )

    def _send_auth(self, code: int, data: bytes | None) -> None:
        properties = Properties(authentication_method=self._auth_method, authentication_data=data)
        self._send(Auth(code, properties))

    # ------------------------------------------------------------------ hooks

    def _hook_failed(self, name: str, error: Exception) -> None:
        self._broker.report(HookFailed(name, error, self.client_id or ""))

    def _refusal_code(
        self, name: str, hook: Callable[..., object], codes: frozenset[int], *args: object
    ) -> int:
        code, error = hook_verdict(hook, codes, *args)
        if error is not None:
            self._hook_failed(name, error)
        return code

    # ------------------------------------------------------------------ CONNACK

    def _refuse(self, code: int, now: float, properties: Properties = NO_PROPERTIES) -> None:
        """Refuse the CONNECT with ``code`` (an MQTT 5 ``ConnAckReasonCode``) and close."""
        if self._v5:
            self._send(ConnAck(False, code, properties))
        else:
            self._send(ConnAck(False, _V3_RETURN_CODES.get(code, 3)))
        self._broker.report(ConnectionRefused(self, self.client_id or "", code))
        self._close(now, will=False, error=None)

    def _accept(
        self, connect: Connect, assigned: bool, auth_data: bytes | None, now: float
    ) -> None:
        """Accept the client: its session, CONNACK, then what its session holds for it."""
        config = self.config
        client_id: str = self.client_id  # type: ignore[assignment]  # (set by CONNECT)
        requested = connect.properties
        v5 = self._v5
        keep_alive = connect.keep_alive
        server_keep_alive = None
        limit = config.max_keep_alive
        if v5 and limit is not None and (keep_alive == 0 or keep_alive > limit):
            keep_alive = server_keep_alive = limit
        self.keep_alive = keep_alive
        granted_expiry = None
        if v5:
            expiry = self._requested_expiry = requested.session_expiry_interval or 0
            cap = config.max_session_expiry_interval
            if cap is not None and expiry > cap:
                expiry = granted_expiry = cap
            self._inflight_limit = min(
                requested.receive_maximum or 65535, config.max_inflight_messages
            )
            self._client_maximum_packet_size = requested.maximum_packet_size
        else:
            expiry = 0 if connect.clean_start else NEVER_EXPIRES
        session, resumed = self._broker.attach(self, connect, client_id, expiry, now)
        self._session = session
        self.state = ServerState.CONNECTED
        present = resumed and self.protocol_version is not _V31  # (3.1 has no such flag)
        properties = NO_PROPERTIES
        if v5:
            properties = Properties(
                session_expiry_interval=granted_expiry,
                receive_maximum=config.receive_maximum if config.receive_maximum < 65535 else None,
                maximum_qos=config.maximum_qos if config.maximum_qos < 2 else None,
                retain_available=False if not config.retain_available else None,
                maximum_packet_size=config.maximum_packet_size,
                assigned_client_identifier=client_id if assigned else None,
                topic_alias_maximum=config.topic_alias_maximum or None,
                wildcard_subscription_available=(
                    False if not config.wildcard_subscription_available else None
                ),
                subscription_identifier_available=(
                    False if not config.subscription_identifier_available else None
                ),
                shared_subscription_available=(
                    False if not config.shared_subscription_available else None
                ),
                server_keep_alive=server_keep_alive,
                response_information=(
                    config.response_information if requested.request_response_information else None
                ),
                authentication_method=self._auth_method,
                authentication_data=auth_data,
            )
            if not properties:
                properties = NO_PROPERTIES
        self._send(ConnAck(present, 0, properties))
        self._broker.report(ClientConnected(self, client_id, present))
        if keep_alive:
            self._broker.schedule(self, now + keep_alive * _KEEPALIVE_FACTOR)
        if resumed:
            # The flows in flight are sent again first, in their order (MQTT-4.4.0-1).
            self._resends.extend(session.state.outgoing.values())
        self._flush(now)

    # ------------------------------------------------------------------ connected

    def _receive(self, packet: Packet, now: float) -> None:
        kind = type(packet)
        if kind is Publish:
            self._receive_publish(packet, now)  # type: ignore[arg-type]
        elif kind is PubAck:
            self._receive_puback(packet, now)  # type: ignore[arg-type]
        elif kind is PubRec:
            self._receive_pubrec(packet, now)  # type: ignore[arg-type]
        elif kind is PubComp:
            self._receive_pubcomp(packet, now)  # type: ignore[arg-type]
        elif kind is PubRel:
            self._receive_pubrel(packet)  # type: ignore[arg-type]
        elif kind is Subscribe:
            self._receive_subscribe(packet, now)  # type: ignore[arg-type]
        elif kind is Unsubscribe:
            self._receive_unsubscribe(packet)  # type: ignore[arg-type]
        elif kind is PingReq:
            self._out_append(_PINGRESP)
        elif kind is Disconnect:
            self._receive_disconnect(packet, now)  # type: ignore[arg-type]
        else:  # (the decoder lets nothing else through: AUTH)
            self._receive_auth(packet, now)  # type: ignore[arg-type]

    def _receive_publish(self, packet: Publish, now: float) -> None:
        properties = packet.properties
        if properties is not NO_PROPERTIES and properties.topic_alias is not None:
            packet = self._resolve_alias(packet)
            properties = packet.properties
        qos = packet.qos
        config = self.config
        if qos > config.maximum_qos:
            raise ProtocolError(
                f"PUBLISH with QoS {qos}, above the broker's maximum QoS {config.maximum_qos}",
                DisconnectReasonCode.QOS_NOT_SUPPORTED,
            )
        if packet.retain and not config.retain_available:
            raise ProtocolError(
                "a retained PUBLISH, but the broker does not support retained messages",
                DisconnectReasonCode.RETAIN_NOT_SUPPORTED,
            )
        session = self._session
        packet_id: int = packet.packet_id  # type: ignore[assignment]  # (QoS 1/2)
        v5 = self._v5
        if qos == 2:
            inbound = session.state.inbound_qos2
            if packet_id in inbound:
                # A retransmission of a message already published: answered, not published.
                self._send(PubRec(packet_id))
                return
            if v5 and len(inbound) >= config.receive_maximum:
                raise ReceiveMaximumExceededError(
                    f"the client sent more than the broker's Receive Maximum of "
                    f"{config.receive_maximum} unreleased QoS 2 messages"
                )
        client_id = session.client_id
        code = 0
        if properties.payload_format_indicator == 1 and not _valid_utf8(packet.payload):
            code = PubAckReasonCode.PAYLOAD_FORMAT_INVALID
        elif config.authorize is not None:
            code = self._refusal_code(
                "authorize",
                config.authorize,
                PUBACK_CODES,
                client_id,
                self.username,
                Action.PUBLISH,
                packet.topic,
            )
        if not code and not self._broker.route(packet, client_id, now) and v5:
            code = PubAckReasonCode.NO_MATCHING_SUBSCRIBERS
        if qos == 0:
            return  # (a refused QoS 0 message is dropped: nothing can say so)
        if qos == 1:
            if code and v5:
                self._send(PubAck(packet_id, code))
            else:
                self._out_append(b"\x40\x02" + packet_id.to_bytes(2))
            return
        if code < 0x80:
            session.state.inbound_qos2.add(packet_id)
        self._send(PubRec(packet_id, code if v5 else 0))

    def _resolve_alias(self, packet: Publish) -> Publish:
        properties = packet.properties
        alias: int = properties.topic_alias  # type: ignore[assignment]
        maximum = self.config.topic_alias_maximum
        if alias > maximum:
            raise TopicAliasInvalidError(
                f"the client used topic alias {alias}, above the broker's maximum {maximum}"
            )
        topic = packet.topic
        if topic:
            self._aliases[alias] = topic
        else:
            found = self._aliases.get(alias)
            if found is None:
                raise TopicAliasInvalidError(
                    f"the client used topic alias {alias} before defining it"
                )
            topic = found
        return _new_tuple(
            Publish,
            (
                topic,
                packet.payload,
                packet.qos,
                packet.retain,
                packet.dup,
                packet.packet_id,
                _without_topic_alias(properties),
            ),
        )

    def _receive_puback(self, packet: PubAck, now: float) -> None:
        handle = self._session.state.outgoing.get(packet.packet_id)
        # An acknowledgement of nothing in flight is ignored (as mosquitto does): a client
        # may acknowledge a message of an earlier connection twice, and no harm is done.
        if handle is not None and handle.stage is Stage.AWAITING_PUBACK:
            self._end_flow(handle)
            self._flush(now)

    def _receive_pubrec(self, packet: PubRec, now: float) -> None:
        packet_id = packet.packet_id
        handle = self._session.state.outgoing.get(packet_id)
        if handle is None:
            # The specification's answer to an unknown id (MQTT 5 section 4.3.3).
            code = PubRelReasonCode.PACKET_IDENTIFIER_NOT_FOUND if self._v5 else 0
            self._send(PubRel(packet_id, code))
            return
        if handle.stage is Stage.AWAITING_PUBACK:
            raise ProtocolViolationError(
                f"PUBREC for packet id {packet_id}, a QoS 1 message (it needs PUBACK)"
            )
        if packet.reason_code >= 0x80:  # the client refused it: the flow ends
            self._end_flow(handle)
            self._flush(now)
            return
        self._drop_resend(handle)
        handle.stage = Stage.AWAITING_PUBCOMP
        self._send(PubRel(packet_id))

    def _receive_pubcomp(self, packet: PubComp, now: float) -> None:
        handle = self._session.state.outgoing.get(packet.packet_id)
        if handle is not None and handle.stage is Stage.AWAITING_PUBCOMP:  # (else ignored)
            self._end_flow(handle)
            self._flush(now)

    def _receive_pubrel(self, packet: PubRel) -> None:
        packet_id = packet.packet_id
        inbound = self._session.state.inbound_qos2
        if packet_id in inbound:
            inbound.discard(packet_id)
            self._send(PubComp(packet_id))
        else:
            code = PubCompReasonCode.PACKET_IDENTIFIER_NOT_FOUND if self._v5 else 0
            self._send(PubComp(packet_id, code))

    def _receive_subscribe(self, packet: Subscribe, now: float) -> None:
        for subscription in packet.subscriptions:
            if subscription.no_local and parse_shared_subscription(subscription.topic_filter)[0]:
                raise ProtocolViolationError(
                    f"SUBSCRIBE sets no local on the shared subscription "
                    f"{subscription.topic_filter!r}"
                )
        properties = packet.properties
        identifiers = properties.subscription_identifiers
        identifier = identifiers[0] if identifiers else None
        session = self._session
        maximum_qos = self.config.maximum_qos
        codes: list[int] = []
        granted: list[tuple[Subscription, bool]] = []
        for asked in packet.subscriptions:
            code = self._subscription_refusal(asked, identifier)
            if code:
                codes.append(code if self._v5 else SubAckReasonCode.UNSPECIFIED_ERROR)
                continue
            subscription = asked._replace(qos=maximum_qos) if asked.qos > maximum_qos else asked
            existed = self._broker.subscribe(session, subscription, properties)
            codes.append(subscription.qos)
            granted.append((subscription, existed))
        self._send(SubAck(packet.packet_id, tuple(codes)))
        # Retained messages follow the SUBACK (never for shared subscriptions: section 4.8.2).
        for subscription, existed in granted:
            handling = subscription.retain_handling
            if (handling == 0 or (handling == 1 and not existed)) and parse_shared_subscription(
                subscription.topic_filter
            )[0] is None:
                self._broker.send_retained(session, subscription, identifier, now)

    def _subscription_refusal(self, subscription: Subscription, identifier: int | None) -> int:
        """The SUBACK refusal code for one subscription (0: granted)."""
        topic_filter = subscription.topic_filter
        try:
            validate_topic_filter(topic_filter)
        except ValueError:
            return SubAckReasonCode.TOPIC_FILTER_INVALID
        config = self.config
        group, inner = parse_shared_subscription(topic_filter)
        if group is not None and not config.shared_subscription_available:
            return SubAckReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
        if ("+" in inner or "#" in inner) and not config.wildcard_subscription_available:
            return SubAckReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
        if identifier is not None and not config.subscription_identifier_available:
            return SubAckReasonCode.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED
        if config.authorize is not None:
            return self._refusal_code(
                "authorize",
                config.authorize,
                _SUBACK_CODES,
                self.client_id,
                self.username,
                Action.SUBSCRIBE,
                topic_filter,
            )
        return 0

    def _receive_unsubscribe(self, packet: Unsubscribe) -> None:
        session = self._session
        codes: list[int] = []
        for topic_filter in packet.topic_filters:
            try:
                validate_topic_filter(topic_filter)
            except ValueError:
                codes.append(UnsubAckReasonCode.TOPIC_FILTER_INVALID)
                continue
            removed = self._broker.unsubscribe(session, topic_filter)
            codes.append(
                UnsubAckReasonCode.SUCCESS
                if removed
                else UnsubAckReasonCode.NO_SUBSCRIPTION_EXISTED
            )
        self._send(UnsubAck(packet.packet_id, tuple(codes) if self._v5 else ()))

    def _receive_disconnect(self, packet: Disconnect, now: float) -> None:
        expiry = packet.properties.session_expiry_interval
        if expiry is not None:
            if expiry and not self._requested_expiry:
                # MQTT-3.14.2-2: not a valid DISCONNECT, so the will is published.
                raise ProtocolViolationError(
                    "DISCONNECT sets a Session Expiry Interval, but CONNECT set none"
                )
            cap = self.config.max_session_expiry_interval
            session = self._session
            session.expiry_interval = expiry if cap is None else min(expiry, cap)
        code = packet.reason_code
        # Any code but 0x00 (Normal disconnection) keeps the will: 0x04 asks for it, and the
        # error codes say the client did not end its session as it meant to.
        self._close(now, will=code != 0, error=None, reason_code=code if self._v5 else None)

    def _receive_auth(self, packet: Auth, now: float) -> None:
        method = self._auth_method
        if method is None:
            raise ProtocolViolationError(
                "AUTH from a client that did not connect with an Authentication Method"
            )
        properties = packet.properties
        if properties.authentication_method != method:
            raise ProtocolViolationError(
                f"AUTH names the method {properties.authentication_method!r}, not {method!r}"
            )
        code = packet.reason_code
        if self.state is ServerState.AUTHENTICATING or self._reauthenticating:
            if code != AuthReasonCode.CONTINUE_AUTHENTICATION:
                raise ProtocolViolationError(
                    f"AUTH with reason code 0x{code:02X} during an AUTH exchange (0x18 expected)"
                )
            self._auth_step(properties.authentication_data, now)
            return
        if code != AuthReasonCode.RE_AUTHENTICATE:
            raise ProtocolViolationError(
                f"AUTH with reason code 0x{code:02X} while no AUTH exchange runs "
                "(0x19 starts a re-authentication)"
            )
        authenticator = self._new_authenticator(method)
        if authenticator is None:
            self._disconnect(
                DisconnectReasonCode.NOT_AUTHORIZED,
                now,
                will=True,
                error=ConnectionLostError("re-authentication failed"),
            )
            return
        self._authenticator = authenticator
        self._reauthenticating = True
        self._auth_step(properties.authentication_data, now)

    # ------------------------------------------------------------------ to the client

    def _out_append(self, data: bytes) -> None:
        out = self._out
        if not out:
            self._broker.mark(self)
        out.append(data)

    def _send(self, packet: Packet) -> None:
        self._out_append(encode(packet, self._version))

    def _adjusted(self, packet: Publish, expires_at: float | None, now: float) -> Publish | None:
        """The message as it leaves now: with what remains of its Message Expiry Interval;
        None (counted) if it expired."""
        if expires_at is None:
            return packet
        remaining = expires_at - now
        if remaining <= 0:
            self._broker.expired(self._session)
            return None
        properties = dataclasses.replace(
            packet.properties, message_expiry_interval=math.ceil(remaining)
        )
        return packet._replace(properties=properties)

    def _write_publish(self, packet: Publish) -> bool:
        """Write a PUBLISH, unless it is above the client's Maximum Packet Size: then it is
        dropped (MQTT-3.1.2-25: as if it had been sent) and False returned."""
        wire = packet
        if not self._v5 and packet.properties is not NO_PROPERTIES:
            wire = packet._replace(properties=NO_PROPERTIES)  # (3.1.x carries none)
        data = encode(wire, self._version)
        limit = self._client_maximum_packet_size
        if limit is not None and len(data) > limit:
            self._broker.dropped(self._session, packet, "too large")
            return False
        self._out_append(data)
        return True

    def _write_delivery(self, handle: Delivery, now: float) -> None:
        """Write a QoS 1/2 message with a new packet id (or drop it: expired, too large)."""
        state = self._session.state
        packet = self._adjusted(handle.packet, handle.expires_at, now)
        if packet is None:
            state.end_publish(handle)
            return
        packet_id = state.allocate_packet_id()
        if not self._write_publish(packet._replace(packet_id=packet_id)):
            state.end_publish(handle)
            return
        handle.packet = packet  # (as written: a resend repeats its expiry interval)
        handle.packet_id = packet_id
        handle.stage = Stage.AWAITING_PUBACK if packet.qos == 1 else Stage.AWAITING_PUBREC
        state.outgoing[packet_id] = handle

    def _resend(self, handle: PublishHandle) -> None:
        """Send a flow of a resumed session again: PUBREL once PUBREC came, else the PUBLISH
        with DUP (dropped if it no longer fits the client's Maximum Packet Size)."""
        packet_id: int = handle.packet_id  # type: ignore[assignment]
        if handle.stage is Stage.AWAITING_PUBCOMP:
            self._send(PubRel(packet_id))
        elif not self._write_publish(handle.packet._replace(dup=True, packet_id=packet_id)):
            self._session.state.end_publish(handle)

    def _flush(self, now: float) -> None:
        """Send what waits, as far as the Receive Maximum allows: resends first, then the
        queue in order (QoS 0 messages need no slot, but keep their place)."""
        if self._paused:
            return
        state = self._session.state
        outgoing = state.outgoing
        limit = self._inflight_limit
        resends = self._resends
        while resends:
            if len(outgoing) - len(resends) >= limit:
                return
            self._resend(resends.popleft())
        pending = state.pending
        while pending:
            handle = pending[0]
            if handle.packet.qos:
                if len(outgoing) >= limit:
                    return
                pending.popleft()
                self._write_delivery(handle, now)  # type: ignore[arg-type]
            else:
                pending.popleft()
                packet = self._adjusted(handle.packet, handle.expires_at, now)  # type: ignore[attr-defined]
                if packet is not None:
                    self._write_publish(packet)
                state.end_publish(handle)

    def _end_flow(self, handle: PublishHandle) -> None:
        self._drop_resend(handle)
        self._session.state.end_publish(handle)

    def _drop_resend(self, handle: PublishHandle) -> None:
        """A flow waiting to be resent was acknowledged all the same: it waits no more."""
        resends = self._resends
        if resends and handle in resends:
            resends.remove(handle)

    # ------------------------------------------------------------------ ending

    def _fail(self, error: ProtocolError, now: float) -> None:
        """The client broke the protocol: tell it why (MQTT 5) and end the connection."""
        state = self.state
        code = error.reason_code  # (a DISCONNECT code: the ProtocolError contract)
        if state is ServerState.CONNECTED:
            self._disconnect(code, now, will=True, error=error, reason=str(error))
            return
        if state is ServerState.AUTHENTICATING:  # (only MQTT 5 has AUTH)
            # Before CONNACK only the decoder can fail (0x81, 0x82, 0x95): CONNACK codes too.
            self._refuse(code, now)
            return
        if code == ConnAckReasonCode.UNSUPPORTED_PROTOCOL_VERSION:
            self._out_append(_UNSUPPORTED_VERSION_CONNACK)
        self._close(now, will=False, error=error)

    def _disconnect(
        self,
        code: int,
        now: float,
        *,
        will: bool,
        error: MqttError,
        reason: str | None = None,
        properties: Properties = NO_PROPERTIES,
    ) -> None:
        """End an accepted connection from our side: DISCONNECT (MQTT 5 only), then close."""
        if self._v5:
            packet = Disconnect(code, properties)
            data = encode(packet, _V5)
            if reason:
                # The reason string helps whoever debugs the client; it is left out when the
                # client's Maximum Packet Size has no room for it.
                with_reason = encode(
                    packet._replace(
                        properties=dataclasses.replace(properties, reason_string=reason[:500])
                    ),
                    _V5,
                )
                limit = self._client_maximum_packet_size
                if limit is None or len(with_reason) <= limit:
                    data = with_reason
            self._out_append(data)
        self._close(now, will=will, error=error, reason_code=code if self._v5 else None)

    def _close(
        self,
        now: float,
        *,
        will: bool,
        error: MqttError | None,
        reason_code: int | None = None,
    ) -> None:
        previous = self.state
        self.state = ServerState.CLOSED
        self._broker.mark(self)
        if previous is ServerState.CONNECTED:
            self._resends.clear()  # (they stay in the session, in flight, for the next one)
            session = self._session
            self._broker.detach(self, session, will, now)
            self._broker.report(ClientDisconnected(self, session.client_id, reason_code, error))

    def __repr__(self) -> str:
        return f"<ServerConnection #{self.number} client_id={self.client_id!r} {self.state.value}>"
