"""The exception tree.

Every failure the library reports derives from ``MqttError``:

    MqttError
    ├── MqttCodeError            the broker answered with a failure reason code
    │   └── MqttConnectError     the connection could not be established (carries the stage,
    │                            and the CONNACK code when the broker refused)
    ├── MqttReentrantError       a Client entered while it is already in use
    ├── MqttTimeoutError         an operation got no answer in time (also a TimeoutError)
    ├── ConnectionLostError      an established connection ended
    ├── SessionLostError         the broker had no session for messages still in flight
    ├── PublishWithdrawnError    a publish timed out / was cancelled before it was written
    └── ProtocolError            the peer broke the protocol; carries the reason code to answer with
        ├── MalformedPacketError        0x81
        ├── ProtocolViolationError      0x82
        ├── PacketTooLargeError         0x95
        ├── ReceiveMaximumExceededError 0x93
        └── TopicAliasInvalidError      0x94

Local misuse (a bad topic, an out-of-range QoS, a property that does not belong to the packet)
is not an ``MqttError``: it raises ``TypeError`` or ``ValueError`` at the call, before anything is
sent. This module is pure: the sans-I/O core imports it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .protocol.properties import Properties

__all__ = (
    "ConnectionLostError",
    "MalformedPacketError",
    "MqttCodeError",
    "MqttConnectError",
    "MqttError",
    "MqttReentrantError",
    "MqttTimeoutError",
    "PacketTooLargeError",
    "ProtocolError",
    "ProtocolViolationError",
    "PublishWithdrawnError",
    "ReceiveMaximumExceededError",
    "SessionLostError",
    "TopicAliasInvalidError",
)


class MqttError(Exception):
    """The root of every error this library raises for a failure of MQTT or of the network."""


class MqttCodeError(MqttError):
    """The broker answered with a reason code that means failure.

    ``rc`` (also ``reason_code``) is the code: an int-valued enum for one code, or for
    SUBACK / UNSUBACK the tuple of codes, one per topic filter. ``properties`` are the
    properties of the packet that carried it (MQTT 5), if any.

    The library raises it; a program makes one only to stand in for a broker's answer (in
    tests). The parameters, as in aiomqtt:

    * ``rc``: the reason code (or the tuple of them), or None when there is none;
    * ``*args``: the message, in one or more parts (``str()`` joins them with spaces);
    * ``properties``: the packet's MQTT 5 properties (keyword only; default None).

    ``str()`` gives ``[code:<value> <NAME>] <message>``.
    """

    def __init__(
        self,
        rc: int | tuple[int, ...] | None,
        *args: object,
        properties: Properties | None = None,
    ) -> None:
        super().__init__(rc, *args)
        self.rc = rc
        """The reason code: an int-valued enum (``PubAckReasonCode``, ``ConnAckReasonCode``,
        ...), for SUBACK / UNSUBACK a tuple of them, one per topic filter; or None."""
        self.properties = properties
        """The MQTT 5 properties of the packet that carried the code (its ``reason_string``
        says why, when the broker gave a reason), or None."""

    @property
    def reason_code(self) -> int | tuple[int, ...] | None:
        """The same as ``rc`` (the name MQTT 5 and paho-mqtt 2 use)."""
        return self.rc

    def __str__(self) -> str:
        rc = self.rc
        if isinstance(rc, tuple):
            code = ", ".join(_describe_code(c) for c in rc)
        else:
            code = _describe_code(rc)
        text = " ".join(str(a) for a in self.args[1:])
        return f"[code:{code}] {text}".rstrip()


def _describe_code(code: int | None) -> str:
    if code is None:
        return "None"
    name = getattr(code, "name", None)
    return f"{int(code)} {name}" if name else str(int(code))


class MqttReentrantError(MqttError):
    """A Client was entered while it was already entered (nested or concurrent use)."""


class MqttTimeoutError(MqttError, TimeoutError):
    """An operation got no answer from the broker in time. Both an ``MqttError`` (as in
    aiomqtt, whose timeouts are ``MqttError``) and a ``TimeoutError`` (as in asyncio).

    ``outcome``: for a QoS 1/2 publish that was already written, an awaitable of how it ends
    after all (the broker's reason code, or the ``MqttError`` that says why it failed); None
    otherwise.
    """

    outcome: Awaitable[int] | None = None
    """An awaitable of how a QoS 1/2 publish already written ends after all (it returns the
    broker's reason code, or raises the ``MqttError`` that says why it failed); None for
    anything else."""


class MqttConnectError(MqttCodeError):
    """Connecting failed. ``stage`` names where: resolve, tcp, proxy, tls, websocket, connack.

    As in aiomqtt 2, it is an ``MqttCodeError``: ``rc`` is the broker's CONNACK code when the
    broker refused the connection (a ``ConnAckReasonCode`` or, for MQTT 3.1.x, a
    ``ConnectReturnCode``), and None when connecting failed before any CONNACK. The exception
    that stopped the stage, if any, is chained as ``__cause__`` (a ``TimeoutError`` when the
    time ran out). The guide Connecting to the broker says more about each stage.

    The client raises it. Its parameters are its attributes: ``message`` (what ``str()`` gives
    when there is no ``rc``), then, keyword only, ``stage``, ``address`` and ``rc`` (default
    None).
    """

    def __init__(self, message: str, *, stage: str, address: str, rc: int | None = None) -> None:
        super().__init__(rc, message)
        self.stage = stage
        """Where connecting failed: ``"resolve"`` (looking up the broker's name), ``"tcp"``
        (connecting the socket, TCP or Unix), ``"proxy"`` (connecting through the proxy),
        ``"tls"`` (the TLS handshake), ``"websocket"`` (the HTTP upgrade) or ``"connack"``
        (the MQTT CONNECT / CONNACK exchange: refused, or no answer in time)."""
        self.address = address
        """The broker, as the URL-like text the error messages use: ``mqtt://host:port``,
        ``mqtts://host:port`` (TLS), ``ws://host:port/path``, ``wss://host:port/path`` or
        ``unix:/path/of/the/socket``."""

    def __str__(self) -> str:
        return str(self.args[1]) if self.rc is None else super().__str__()


class ConnectionLostError(MqttError):
    """The network connection ended (the cause, if any, is chained as ``__cause__``).

    ``outcome``: raised by a QoS 1/2 publish that was already written (it stays in the session
    and is resent on the next connection with that session), an awaitable of how it ends after
    all (the broker's reason code, or the ``MqttError`` that says why it failed); else None.
    """

    outcome: Awaitable[int] | None = None
    """An awaitable of how a QoS 1/2 publish already written ends after all (it returns the
    broker's reason code, or raises the ``MqttError`` that says why it failed); None for
    anything else."""


class SessionLostError(MqttError):
    """A connection started without the broker's session (CONNACK session present 0) while
    this QoS 1/2 publish was unacknowledged, and ``session_lost_policy`` was ``FAIL``: it is
    not sent again."""


class PublishWithdrawnError(MqttError):
    """A publish was cancelled or timed out before any of its bytes were written.

    It was removed from the session: the broker never saw it. Compare ``TimeoutError`` /
    ``CancelledError`` for a publish already written, which stays in the session.
    """


class ProtocolError(MqttError):
    """The peer sent something the protocol forbids.

    ``reason_code`` is the MQTT 5 DISCONNECT reason code to answer with. The protocol engine
    raises it (the decoder, for bytes the peer sent) and answers it itself: it queues a
    DISCONNECT with that code (MQTT 5) and reports ``Disconnected`` with this error; the client
    reports it as the reason the connection ended. Parameters: ``message``, what was wrong;
    ``reason_code``, the code to answer with (default None: the class's
    ``default_reason_code``).
    """

    default_reason_code = 0x82
    """The reason code when none is given: 0x82 (Protocol Error) here; each subclass sets its
    own (0x81, 0x82, 0x93, 0x94 or 0x95)."""

    def __init__(self, message: str, reason_code: int | None = None) -> None:
        super().__init__(message)
        self.reason_code = self.default_reason_code if reason_code is None else reason_code
        """The MQTT 5 DISCONNECT reason code to answer with (a ``DisconnectReasonCode``
        value)."""


class MalformedPacketError(ProtocolError):
    """The bytes cannot be parsed as the packet they claim to be (0x81)."""

    default_reason_code = 0x81
    """0x81 (Malformed Packet)."""


class ProtocolViolationError(ProtocolError):
    """The packet parses but breaks a rule of the protocol (0x82)."""

    default_reason_code = 0x82
    """0x82 (Protocol Error)."""


class PacketTooLargeError(ProtocolError):
    """A packet exceeds the maximum packet size we announced (0x95)."""

    default_reason_code = 0x95
    """0x95 (Packet too large)."""


class ReceiveMaximumExceededError(ProtocolError):
    """The peer sent more unacknowledged QoS 1/2 publishes than our Receive Maximum (0x93)."""

    default_reason_code = 0x93
    """0x93 (Receive Maximum exceeded)."""


class TopicAliasInvalidError(ProtocolError):
    """The peer used a topic alias that is zero, above our maximum, or not yet defined (0x94)."""

    default_reason_code = 0x94
    """0x94 (Topic Alias invalid)."""
