"""``BrokerConfig``: the settings, limits and hooks of the embedded broker, checked once.

The broker side mirrors the client's ``ClientConfig``: one immutable value, made when the
broker is made, read by the broker core (``BrokerCore``) and by every server-side connection
(``ServerConnection``); nothing changes it afterwards.

Limits and what happens when one is reached
-------------------------------------------
``max_connections``
    A CONNECT that would take the number of connected clients above it is refused: CONNACK
    0x97 (Quota exceeded) in MQTT 5, return code 3 (Server unavailable) in 3.1.x, then the
    network connection is closed. A client taking over its own session does not count twice.
``max_queued_messages``
    Per session: the messages waiting to be sent to that client (offline, or online beyond its
    Receive Maximum). Messages in flight (sent, not yet acknowledged) do not count. When the
    queue is full, the oldest QoS 0 message in it is dropped to make room; when it holds no
    QoS 0 message, the new message is dropped instead (a QoS 1/2 message the broker already
    queued is never dropped for a newer one). Each drop is counted
    (``ServerSession.dropped_messages``, ``BrokerStats.messages_dropped``) and reported
    (``MessageDropped``).
``maximum_packet_size``
    Announced in CONNACK; a bigger packet from a client ends its connection with DISCONNECT
    0x95 (MQTT 5) or a close, before its body is buffered. Packets to a client are held to
    the Maximum Packet Size *it* announced: a message too big for it is not sent to it (as
    the specification says), counted and reported as dropped.
``receive_maximum``
    Announced in CONNACK: how many QoS 2 messages a client may have unreleased (PUBREL not
    yet sent) at once; one more ends its connection with DISCONNECT 0x93. (QoS 1 messages are
    acknowledged as they arrive, so they never accumulate.)

Hooks
-----
Every hook is optional (the default accepts everything) and is called synchronously by the
core, so it must not block. An exception raised by a hook never escapes the core: it is
reported as ``HookFailed`` and counts as a refusal with 0x80 (Unspecified error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple, Protocol, TypeAlias, TypedDict

from .checks import check_bool, check_int, check_qos, check_str
from .codec import MAX_PACKET_SIZE

__all__ = (
    "Action",
    "AuthContinue",
    "AuthFailure",
    "AuthReply",
    "AuthSuccess",
    "AuthenticateHook",
    "AuthorizeHook",
    "BrokerConfig",
    "BrokerSettings",
    "EnhancedAuthHook",
    "Redirect",
    "RedirectHook",
    "ServerAuthenticator",
)

_MAX_FOUR_BYTE = 0xFFFF_FFFF


class Action(Enum):
    """What ``authorize`` is asked about."""

    PUBLISH = "publish"
    """Publishing a message to the topic (a will included, when it is published)."""
    SUBSCRIBE = "subscribe"
    """Subscribing with the topic filter (shared subscriptions: the whole ``$share/...``)."""


class Redirect(NamedTuple):
    """The answer of a ``redirect`` hook that sends a client elsewhere.

    MQTT 5 clients get CONNACK 0x9D (Server moved) when ``permanent``, 0x9C (Use another
    server) otherwise, with ``server_reference`` as the Server Reference property; MQTT 3.1.x
    clients, which have neither, get return code 3 (Server unavailable).
    """

    server_reference: str
    """Where to go, as the specification's Server Reference: ``host``, ``host:port``, or
    several separated by spaces."""
    permanent: bool = False
    """True: the server moved for good (0x9D); False: use another server for now (0x9C)."""


class AuthContinue(NamedTuple):
    """A step of enhanced authentication: send AUTH 0x18 with this data and wait for more."""

    data: bytes | None = None
    """The Authentication Data of the AUTH sent to the client (None: none)."""


class AuthSuccess(NamedTuple):
    """Enhanced authentication succeeded: CONNACK 0x00 (or AUTH 0x00 when re-authenticating)."""

    data: bytes | None = None
    """The final Authentication Data for the client (None: none)."""


class AuthFailure(NamedTuple):
    """Enhanced authentication failed: CONNACK (or, when re-authenticating, DISCONNECT) with
    ``reason_code``, then the connection is closed."""

    reason_code: int = 0x87
    """A failure code valid in CONNACK and in DISCONNECT (default 0x87, Not authorized; 0x8C
    Bad authentication method is CONNACK only and becomes 0x87 in a DISCONNECT)."""


AuthReply: TypeAlias = AuthContinue | AuthSuccess | AuthFailure
"""What a ``ServerAuthenticator`` answers at each step."""


class ServerAuthenticator(Protocol):
    """One enhanced authentication exchange (MQTT 5 AUTH), on the server side.

    The ``enhanced_authentication`` hook makes one per exchange: for the CONNECT that names
    an Authentication Method, and again for each re-authentication (AUTH 0x19). ``step`` is
    called first with the client's initial Authentication Data (from CONNECT or AUTH 0x19),
    then with the data of each AUTH 0x18 the client answers with, until it returns
    ``AuthSuccess`` or ``AuthFailure``.
    """

    def step(self, data: bytes | None) -> AuthReply:
        """The next step, given the client's Authentication Data (None when it sent none)."""
        ...


AuthenticateHook: TypeAlias = Callable[[str, str | None, bytes | None], int | None]
"""``authenticate(client_id, username, password)``: None (or 0) accepts the connection; a
``ConnAckReasonCode`` of 0x80 or above refuses it (MQTT 3.1.x clients get the closest return
code: 0x86 -> 4, 0x87 -> 5, 0x85 -> 2, others -> 3)."""

AuthorizeHook: TypeAlias = Callable[[str, str | None, Action, str], int | None]
"""``authorize(client_id, username, action, topic)``: None (or 0) allows; a reason code of
0x80 or above refuses. For ``PUBLISH`` the code goes into PUBACK / PUBREC (a refused QoS 0
message, or any in MQTT 3.1.x, is dropped silently); for ``SUBSCRIBE`` into SUBACK (0x80 in
3.1.x). An invalid code counts as 0x80."""

EnhancedAuthHook: TypeAlias = Callable[[str], ServerAuthenticator | None]
"""``enhanced_authentication(method)``: a new ``ServerAuthenticator`` for the Authentication
Method the client named, or None when the method is not supported (CONNACK 0x8C, or
DISCONNECT 0x87 for a re-authentication)."""

RedirectHook: TypeAlias = Callable[[str, str | None], Redirect | None]
"""``redirect(client_id, username)``: a ``Redirect`` sends the client elsewhere; None lets it
connect here."""


def _check_text(name: str, value: object) -> None:
    """A setting sent to clients as an MQTT string: no U+0000, valid UTF-8, short enough."""
    check_str(name, value)
    assert isinstance(value, str)
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        raise ValueError(f"{name}={value!r} is not valid UTF-8: it has a lone surrogate") from None
    if "\x00" in value or size > 60000:
        raise ValueError(f"{name}={value!r} must hold no U+0000 and at most 60000 bytes")


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerConfig:
    """The broker's settings (all keyword only, each with its default); see the module
    docstring for what happens when a limit is reached.

    Raises ``TypeError`` for a value of the wrong type and ``ValueError`` for one out of range.
    """

    max_connections: int | None = None
    """The most clients connected at once (None: no limit)."""
    max_queued_messages: int = 1000
    """Per session, the most messages waiting to be sent (0 or more)."""
    queue_qos0_offline: bool = False
    """Whether QoS 0 messages are queued for a client whose persistent session is offline
    (the specification allows either; False, like mosquitto's default)."""
    maximum_packet_size: int | None = None
    """The largest packet accepted from a client, in bytes (None: the protocol's limit, and
    not announced)."""
    receive_maximum: int = 65535
    """How many unreleased QoS 2 messages each client may have at once (1 to 65535;
    announced when below 65535)."""
    topic_alias_maximum: int = 10
    """How many topic aliases each client may use (0 to 65535; 0: none, not announced)."""
    maximum_qos: int = 2
    """The highest QoS accepted (0 to 2; announced when below 2). A PUBLISH above it ends the
    connection with 0x9B; subscriptions are granted at most this QoS."""
    retain_available: bool = True
    """Whether retained messages are supported; if not, a retained PUBLISH ends the
    connection with 0x9A."""
    wildcard_subscription_available: bool = True
    """Whether ``+`` / ``#`` subscriptions are allowed (refused with SUBACK 0xA2 if not)."""
    subscription_identifier_available: bool = True
    """Whether subscription identifiers are supported (SUBACK 0xA1 if not)."""
    shared_subscription_available: bool = True
    """Whether ``$share/...`` subscriptions are supported (SUBACK 0x9E if not)."""
    max_keep_alive: int | None = None
    """The longest keepalive a client may use, in seconds (1 to 65535; None: any). An MQTT 5
    client asking for more (or for none, 0) gets this one as Server Keep Alive; MQTT 3.1.x
    cannot be told, so its own value is kept."""
    max_session_expiry_interval: int | None = None
    """The longest Session Expiry Interval granted, in seconds (None: any). A longer request
    gets this value, announced in CONNACK. MQTT 3.1.x persistent sessions never expire."""
    max_inflight_messages: int = 65535
    """The most QoS 1/2 messages sent to a client and not yet acknowledged (1 to 65535), also
    bounded by the client's own Receive Maximum (MQTT 5)."""
    connect_timeout: float = 10.0
    """Seconds a new network connection has to complete CONNECT (and any AUTH exchange)
    before it is closed (more than 0)."""
    response_information: str | None = None
    """Sent in CONNACK to an MQTT 5 client that asks for response information."""
    assigned_client_id_prefix: str = "auto-"
    """Client identifiers the broker assigns are this prefix and a number."""
    authenticate: AuthenticateHook | None = None
    """Checks user name and password (see ``AuthenticateHook``); None accepts everyone."""
    authorize: AuthorizeHook | None = None
    """Allows or refuses each publish and subscription (see ``AuthorizeHook``); None allows
    everything."""
    enhanced_authentication: EnhancedAuthHook | None = None
    """Makes the ``ServerAuthenticator`` of an AUTH exchange (see ``EnhancedAuthHook``); None:
    a CONNECT with an Authentication Method is refused with 0x8C."""
    redirect: RedirectHook | None = None
    """Sends clients to another server (see ``RedirectHook``); None: never."""

    def __post_init__(self) -> None:
        if self.max_connections is not None:
            check_int("max_connections", self.max_connections, 0, 2**31)
        check_int("max_queued_messages", self.max_queued_messages, 0, 2**31)
        check_bool(self.queue_qos0_offline, "queue_qos0_offline")
        if self.maximum_packet_size is not None:
            # (A CONNACK must fit; 2 is the smallest packet, the decoder's own lower bound.)
            check_int("maximum_packet_size", self.maximum_packet_size, 2, MAX_PACKET_SIZE)
        check_int("receive_maximum", self.receive_maximum, 1, 65535)
        check_int("topic_alias_maximum", self.topic_alias_maximum, 0, 65535)
        check_qos(self.maximum_qos, "maximum_qos")
        for name in (
            "retain_available",
            "wildcard_subscription_available",
            "subscription_identifier_available",
            "shared_subscription_available",
        ):
            check_bool(getattr(self, name), name)
        if self.max_keep_alive is not None:
            check_int("max_keep_alive", self.max_keep_alive, 1, 65535)
        if self.max_session_expiry_interval is not None:
            check_int(
                "max_session_expiry_interval", self.max_session_expiry_interval, 0, _MAX_FOUR_BYTE
            )
        check_int("max_inflight_messages", self.max_inflight_messages, 1, 65535)
        timeout = self.connect_timeout
        if not isinstance(timeout, int | float) or isinstance(timeout, bool):
            raise TypeError(f"connect_timeout must be a number of seconds, got {timeout!r}")
        if not timeout > 0:
            raise ValueError(f"connect_timeout={timeout!r} must be more than 0 seconds")
        if self.response_information is not None:
            _check_text("response_information", self.response_information)
        _check_text("assigned_client_id_prefix", self.assigned_client_id_prefix)
        for name in ("authenticate", "authorize", "enhanced_authentication", "redirect"):
            hook = getattr(self, name)
            if hook is not None and not callable(hook):
                raise TypeError(f"{name} must be callable or None, got {hook!r}")


class BrokerSettings(TypedDict, total=False):
    """The keyword arguments of ``BrokerConfig``, for signatures that pass them on
    (``BrokerCore(**settings)``); each key is the field of that name."""

    max_connections: int | None
    max_queued_messages: int
    queue_qos0_offline: bool
    maximum_packet_size: int | None
    receive_maximum: int
    topic_alias_maximum: int
    maximum_qos: int
    retain_available: bool
    wildcard_subscription_available: bool
    subscription_identifier_available: bool
    shared_subscription_available: bool
    max_keep_alive: int | None
    max_session_expiry_interval: int | None
    max_inflight_messages: int
    connect_timeout: float
    response_information: str | None
    assigned_client_id_prefix: str
    authenticate: AuthenticateHook | None
    authorize: AuthorizeHook | None
    enhanced_authentication: EnhancedAuthHook | None
    redirect: RedirectHook | None
