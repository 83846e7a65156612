"""``ClientConfig``: everything a client session is configured with, checked once.

A configuration is an immutable value made when the client is made. Each network connection's
``ClientConnection`` reads it; nothing changes it afterwards. The 5.0 -> 3.1.1 fallback does
not rebuild anything from loose settings: ``for_version`` derives the 3.1.1 configuration from
the 5.0 one, leaving out what 3.1.1 cannot carry.

Limits and policies are fields: the limits we announce to the broker (``receive_maximum``,
``maximum_packet_size``, ``topic_alias_maximum``) are never hidden inside ``properties``, and
``ClientConfig`` refuses them there, so there is one place to read each.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, Protocol, TypedDict

from .checks import check_bool, check_int, check_qos, check_str, show
from .codec import MAX_PACKET_SIZE, encode
from .enums import ProtocolVersion
from .packets import Connect, WillMessage
from .properties import NO_PROPERTIES, Properties
from .topics import validate_topic_name

__all__ = ("Authenticator", "ClientConfig", "ClientSettings", "SessionLostPolicy")


class SessionLostPolicy(Enum):
    """What to do with unacknowledged QoS 1/2 publishes when the broker has no session for us.

    It applies on every connection whose CONNACK says *session present: 0* while QoS 1/2
    publishes are written but not acknowledged: a resumption the broker could not honour (it
    restarted without persistence, or the session expired: with MQTT 5 the default Session
    Expiry Interval of 0 ends it when the connection drops), a clean start, or a process
    resuming from a session store the broker no longer matches. Publishes never written, QoS 0
    and received messages are not concerned.

    ``RESEND`` (the default) publishes them again as new messages, before anything published
    since (the broker never confirmed them, so they may arrive twice but are never lost).
    ``FAIL`` ends each with ``PublishFailed`` carrying a ``SessionLostError``: the client's
    ``publish`` raises it. A QoS 2 publish whose PUBREC came but not its PUBCOMP is among them:
    a broker may deliver a QoS 2 message only when PUBREL comes (mosquitto does), and this one
    lost it with the session. The guide: Persistent sessions, "When the broker lost the
    session".
    """

    RESEND = "resend"
    """Publish them again as new messages (the default)."""
    FAIL = "fail"
    """End each with ``PublishFailed`` carrying a ``SessionLostError``."""


class Authenticator(Protocol):
    """An MQTT 5 enhanced authentication mechanism (SCRAM, Kerberos, ...), plugged into the core.

    ``method`` goes into CONNECT as Authentication Method. ``initial_data`` is the client's first
    message (CONNECT, or AUTH 0x19 when re-authenticating). ``challenge`` answers each AUTH
    0x18 from the broker with the next client message. ``complete`` sees the broker's final data
    (in CONNACK or AUTH 0x00). To reject the broker, raise ``ValueError`` from ``challenge`` or
    ``complete``: the connection then ends with reason 0x87 (Not authorized) and the error is
    reported (see ``challenge``).

    Any class with these members is one (a structural protocol: no need to inherit). Give it
    as ``ClientConfig(authenticator=...)``; it needs MQTT 5.0. The engine calls it from the
    command or input that needs it (``connect``, ``reauthenticate``, ``receive_data``), so its
    methods must not block.

    One object serves every exchange of a client session, one exchange at a time: each
    ``connect`` (every reconnect included) and each ``reauthenticate`` starts a new one with
    ``initial_data``, which must therefore forget whatever an earlier exchange left behind (a
    lost connection can cut one short halfway). Give each client its own authenticator.
    ``asyncmqtt.ScramSha256Authenticator`` is a complete example.
    """

    @property
    def method(self) -> str:
        """The Authentication Method's name (such as ``"SCRAM-SHA-256"``): sent in CONNECT and
        every AUTH; an AUTH from the broker that names another method is a protocol error."""
        ...

    def initial_data(self) -> bytes | None:
        """Start a new exchange, and return the Authentication Data of the client's first
        message: that of CONNECT (once per ``connect``) or of the AUTH 0x19 that starts a
        re-authentication (``reauthenticate``); None sends none. State kept from an earlier
        exchange must be dropped here. What it raises propagates out of that command, which
        then changes nothing."""
        ...

    def challenge(self, data: bytes | None) -> bytes | None:
        """The answer to an AUTH 0x18 (Continue authentication) from the broker.

        ``data`` is the broker's Authentication Data (None if it sent none); the return value
        is the Authentication Data of the AUTH 0x18 sent back (None sends none). Raising
        ``ValueError`` rejects the broker: the engine ends the connection (with a DISCONNECT
        0x87 when it was established, that is during a re-authentication) and reports
        ``Disconnected`` with a ``ProtocolError`` of reason code 0x87 chained to the
        ``ValueError``. Any other exception propagates out of ``receive_data``.
        """
        ...

    def complete(self, data: bytes | None) -> None:
        """The end of a successful exchange: ``data`` is the broker's final Authentication Data
        (None if it sent none), from the CONNACK that accepted the connection or from the AUTH
        0x00 that ended a re-authentication. Raising ``ValueError`` (a server signature that
        does not verify, say) rejects the broker, as for ``challenge``."""
        ...


class ClientSettings(TypedDict, total=False):
    """The keyword arguments of ``ClientConfig``, for signatures that pass them on.

    Each key is the ``ClientConfig`` field of that name, with its type, meaning and default;
    any may be left out (``total=False``). ``ClientConnection(**settings)`` takes them.
    """

    client_id: str
    """``ClientConfig.client_id``."""
    protocol_version: ProtocolVersion
    """``ClientConfig.protocol_version``."""
    clean_start: bool | Literal["first_only"]
    """``ClientConfig.clean_start``."""
    keep_alive: int
    """``ClientConfig.keep_alive``."""
    username: str | None
    """``ClientConfig.username``."""
    password: bytes | None
    """``ClientConfig.password``."""
    will: WillMessage | None
    """``ClientConfig.will``."""
    properties: Properties
    """``ClientConfig.properties``."""
    receive_maximum: int
    """``ClientConfig.receive_maximum``."""
    maximum_packet_size: int | None
    """``ClientConfig.maximum_packet_size``."""
    topic_alias_maximum: int
    """``ClientConfig.topic_alias_maximum``."""
    max_inflight: int
    """``ClientConfig.max_inflight``."""
    outgoing_topic_aliases: bool
    """``ClientConfig.outgoing_topic_aliases``."""
    session_lost_policy: SessionLostPolicy
    """``ClientConfig.session_lost_policy``."""
    authenticator: Authenticator | None
    """``ClientConfig.authenticator``."""
    manual_ack: bool
    """``ClientConfig.manual_ack``."""
    queue_qos0_offline: bool
    """``ClientConfig.queue_qos0_offline``."""
    restore_subscriptions: bool
    """``ClientConfig.restore_subscriptions``."""
    strict_receive_maximum: bool
    """``ClientConfig.strict_receive_maximum``."""


_LIMIT_PROPERTIES = ("receive_maximum", "maximum_packet_size", "topic_alias_maximum")
_AUTHENTICATION_PROPERTIES = ("authentication_method", "authentication_data")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """The settings of an MQTT client session, checked when made.

    Every field is keyword only and has a default. A setting of the wrong type raises
    ``TypeError``; a value out of its range, or one the protocol version cannot carry
    (properties, ``receive_maximum`` or ``topic_alias_maximum`` with MQTT 3.1.x, an empty
    ``client_id`` with ``clean_start=False`` in MQTT 3.1.x), raises ``ValueError``, naming the
    setting. The CONNECT packet is built and encoded once here, so that a setting it cannot
    carry fails now rather than at the first connection.
    """

    client_id: str = ""
    """The client identifier. "" (the default) lets the broker assign one (MQTT 5 tells us
    which, in CONNACK); MQTT 3.1.x cannot find such a session again, so there "" cannot go
    with ``clean_start=False``."""
    protocol_version: ProtocolVersion = ProtocolVersion.V5
    """The MQTT version of every connection of the session (default 5.0)."""
    clean_start: bool | Literal["first_only"] = "first_only"
    """True: start a new session on every connection (MQTT 3.1.x's clean session). False:
    always resume the broker's session. ``"first_only"`` (the default): start clean on the
    session's first connection and resume on the later ones (MQTT 5; with MQTT 3.1.x, which
    cannot resume a clean session, it means clean every time)."""
    keep_alive: int = 60
    """The keepalive, in seconds (0 to 65535; default 60), announced in CONNECT: when nothing has
    been sent, or nothing received, for that long, PINGREQ is sent, and when nothing arrives
    within half of it more, the connection is lost (``ConnectionLostError``). 0 turns keepalive
    off. The broker's Server Keep Alive, when it sends one, replaces it."""
    username: str | None = None
    """The user name of CONNECT, or None (the default) for none."""
    password: bytes | None = None
    """The password of CONNECT (bytes), or None (the default) for none."""
    will: WillMessage | None = None
    """The will: the message the broker publishes if the connection ends without a
    DISCONNECT (or with DISCONNECT 0x04). None (the default): no will."""
    properties: Properties = NO_PROPERTIES
    """Further CONNECT properties (MQTT 5 only), such as ``session_expiry_interval`` (seconds
    the broker keeps the session after the connection ends), ``user_properties``,
    ``request_problem_information`` and ``request_response_information``. The three limits
    below are fields of their own and refused here, as are the authentication method and data
    (``authenticator`` gives them). Default: none."""
    receive_maximum: int = 65535
    """How many unacknowledged QoS 1/2 messages the broker may send us at once (1 to 65535;
    default 65535), announced in CONNECT (MQTT 5 only). More is a protocol error
    (``ReceiveMaximumExceededError``), unless ``strict_receive_maximum`` is False. Without
    ``manual_ack`` QoS 1 messages are acknowledged as they arrive, so in effect it bounds the
    QoS 2 ones awaiting PUBREL."""
    maximum_packet_size: int | None = None
    """The largest packet we accept, in bytes, fixed header included (2 to 268435460),
    announced in CONNECT for MQTT 5; a larger one is a protocol error
    (``PacketTooLargeError``). None (the default): the protocol's own limit, 268435460."""
    topic_alias_maximum: int = 0
    """How many topic aliases the broker may use in what it sends us (0 to 65535; MQTT 5
    only). 0 (the default): none."""
    max_inflight: int = 65535
    """A cap on our outgoing QoS 1/2 publishes written and not yet acknowledged (1 to 65535;
    default 65535), applied below the broker's Receive Maximum; the others wait in the
    session's queue, in order."""
    outgoing_topic_aliases: bool = False
    """MQTT 5: give each topic we publish to a topic alias, as long as the broker's Topic Alias
    Maximum allows, and send later publishes to it with the alias and an empty topic name (fewer
    bytes for long topics). Default False: aliases only where ``properties.topic_alias`` asks."""
    session_lost_policy: SessionLostPolicy = SessionLostPolicy.RESEND
    """What happens to unacknowledged QoS 1/2 publishes when a connection starts without the
    broker's session (CONNACK session present 0): see ``SessionLostPolicy``. Default
    ``RESEND``."""
    authenticator: Authenticator | None = None
    """MQTT 5 enhanced authentication (an ``Authenticator``), or None (the default)."""
    manual_ack: bool = False
    """True: QoS 1/2 messages received are acknowledged only when the driving layer calls
    ``ClientConnection.acknowledge`` (or ``acknowledge_first``), in arrival order. False (the
    default): as they are received."""
    queue_qos0_offline: bool = False
    """True: a QoS 0 publish made while not connected waits in the session's queue (as QoS 1/2
    ones always do), in memory only. False (the default): it raises ``MqttError``."""
    restore_subscriptions: bool = False
    """True: when the broker comes back without the session, subscribe again to what the
    session held (``SubscriptionsRestored`` reports it). False (the default): the session
    forgets them, as the broker did (``Session.subscriptions`` is then empty)."""
    strict_receive_maximum: bool = True
    """True (the default): a broker that sends more unacknowledged QoS 1/2 messages than our
    ``receive_maximum`` breaks the protocol, and the connection ends with DISCONNECT 0x93
    (``ReceiveMaximumExceededError``), as the specification says. False: such a message is
    delivered and acknowledged as usual, and a ``ReceiveMaximumExceeded`` event reports it
    (mosquitto 2.0.11 sends one QoS 2 message too many with a small Receive Maximum)."""
    # Encoded once here, so that a bad field fails now.
    connect_packet: Connect = field(init=False, repr=False, compare=False)
    """The CONNECT packet these settings make (not a parameter), without the authentication
    data, which the authenticator gives per connection."""

    def __post_init__(self) -> None:
        version = self.protocol_version
        if not isinstance(version, ProtocolVersion):
            raise TypeError(f"protocol_version must be a ProtocolVersion, got {show(version)}")
        v5 = version is ProtocolVersion.V5
        check_str("client_id", self.client_id)
        check_int("keep_alive", self.keep_alive, 0, 65535)
        check_int("receive_maximum", self.receive_maximum, 1, 65535)
        check_int("topic_alias_maximum", self.topic_alias_maximum, 0, 65535)
        check_int("max_inflight", self.max_inflight, 1, 65535)
        if self.maximum_packet_size is not None:
            check_int("maximum_packet_size", self.maximum_packet_size, 2, MAX_PACKET_SIZE)
        check_bool(self.outgoing_topic_aliases, "outgoing_topic_aliases")
        check_bool(self.manual_ack, "manual_ack")
        check_bool(self.queue_qos0_offline, "queue_qos0_offline")
        check_bool(self.restore_subscriptions, "restore_subscriptions")
        check_bool(self.strict_receive_maximum, "strict_receive_maximum")
        policy = self.session_lost_policy
        if not isinstance(policy, SessionLostPolicy):
            raise TypeError(f"session_lost_policy must be a SessionLostPolicy, got {show(policy)}")
        if self.clean_start not in (True, False, "first_only"):
            raise ValueError(
                f"clean_start must be True, False or 'first_only', got {self.clean_start!r}"
            )
        if not v5 and not self.client_id and self.clean_start is False:
            raise ValueError(
                "an empty client_id needs clean_start=True (clean session) in MQTT 3.1.x: "
                "the broker could not find the session again"
            )
        properties = self.properties
        if not isinstance(properties, Properties):
            raise TypeError(f"properties must be a Properties, got {show(properties)}")
        for name in _LIMIT_PROPERTIES:
            if getattr(properties, name) is not None:
                raise ValueError(f"give {name} as a parameter of its own, not a CONNECT property")
        for name in _AUTHENTICATION_PROPERTIES:
            # The core could not answer the broker's AUTH challenges: an Authenticator can.
            if getattr(properties, name) is not None:
                raise ValueError(
                    f"{name} is not a CONNECT property to give: enhanced authentication is an "
                    "Authenticator (authenticator=...), which supplies the method and its data"
                )
        if (properties or self.authenticator is not None) and not v5:
            raise ValueError("CONNECT properties and enhanced authentication need MQTT 5.0")
        method = None if self.authenticator is None else _check_authenticator(self.authenticator)
        if not v5 and (self.receive_maximum != 65535 or self.topic_alias_maximum):
            raise ValueError("receive_maximum and topic_alias_maximum need MQTT 5.0")
        if self.will is not None:
            validate_topic_name(self.will.topic)
            check_qos(self.will.qos, "will qos")
        packet = Connect(
            client_id=self.client_id,
            clean_start=self.clean_start is not False,
            keep_alive=self.keep_alive,
            username=self.username,
            password=self.password,
            will=self.will,
            protocol_version=version,
            properties=self._connect_properties() if v5 else properties,
        )
        # (Encoded with the authenticator's method: a name MQTT cannot carry fails now.)
        trial = packet
        if method is not None:
            trial = packet._replace(
                properties=replace_properties(packet.properties, authentication_method=method)
            )
        encode(trial, version)
        object.__setattr__(self, "connect_packet", packet)

    @property
    def v5(self) -> bool:
        """Whether ``protocol_version`` is MQTT 5.0."""
        return self.protocol_version is ProtocolVersion.V5

    @property
    def resumes_after_first(self) -> bool:
        """Whether connections after the session's first one resume it (``"first_only"``).

        MQTT 3.1.x cannot resume a clean session, so there ``"first_only"`` means clean every
        time.
        """
        return self.clean_start == "first_only" and self.v5

    def for_version(self, version: ProtocolVersion) -> ClientConfig:
        """This configuration for another protocol version, without what it cannot carry.

        Going to MQTT 3.1.x leaves out the CONNECT and will properties and the limits MQTT 5
        announces (receive_maximum, topic_alias_maximum); enhanced authentication cannot be
        left out, so it raises ``ValueError`` (as does an empty ``client_id`` with
        ``clean_start=False``). ``version`` is a ``ProtocolVersion``.
        """
        if version is ProtocolVersion.V5 or version is self.protocol_version:
            return dataclasses.replace(self, protocol_version=version)
        will = self.will
        if will is not None and will.properties:
            will = will._replace(properties=NO_PROPERTIES)
        return dataclasses.replace(
            self,
            protocol_version=version,
            properties=NO_PROPERTIES,
            will=will,
            receive_maximum=65535,
            topic_alias_maximum=0,
        )

    def _connect_properties(self) -> Properties:
        extra: dict[str, int] = {}
        if self.receive_maximum != 65535:
            extra["receive_maximum"] = self.receive_maximum
        if self.maximum_packet_size is not None:
            extra["maximum_packet_size"] = self.maximum_packet_size
        if self.topic_alias_maximum:
            extra["topic_alias_maximum"] = self.topic_alias_maximum
        return replace_properties(self.properties, **extra) if extra else self.properties


def _check_authenticator(authenticator: object) -> str:
    """The method of ``authenticator``, once it is known to have an ``Authenticator``'s members."""
    method = getattr(authenticator, "method", None)
    if not isinstance(method, str) or not method:
        raise TypeError(
            "authenticator must be an Authenticator, whose method is its Authentication Method's "
            f"name (a non-empty str): {authenticator!r} has method={method!r}"
        )
    for name in ("initial_data", "challenge", "complete"):
        if not callable(getattr(authenticator, name, None)):
            raise TypeError(
                f"authenticator must be an Authenticator (method, initial_data, challenge, "
                f"complete): {authenticator!r} has no method {name}()"
            )
    return method


def replace_properties(properties: Properties, **changes: object) -> Properties:
    """``properties`` with some values changed (None removes one)."""
    values = {spec.name: value for spec, value in properties.present()}
    values.update(changes)
    return Properties(**values)  # type: ignore[arg-type]
