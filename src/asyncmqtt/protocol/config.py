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

    ``RESEND`` publishes them again as new messages (the broker never confirmed them, so they
    may arrive twice but are never lost). ``FAIL`` ends each with ``PublishFailed`` carrying a
    ``SessionLostError``. Either way a publish whose PUBREC already came is complete: the broker
    took responsibility for it before the session was lost.
    """

    RESEND = "resend"
    FAIL = "fail"


class Authenticator(Protocol):
    """An MQTT 5 enhanced authentication mechanism (SCRAM, Kerberos, ...), plugged into the core.

    ``method`` goes into CONNECT as Authentication Method. ``initial_data`` is the client's first
    message (CONNECT, or AUTH 0x19 when re-authenticating). ``challenge`` answers each AUTH
    0x18 from the broker with the next client message. ``complete`` sees the broker's final data
    (in CONNACK or AUTH 0x00). To reject the broker, raise ``ValueError``: the connection is then
    closed with reason 0x87 (not authorized) and the error is reported.
    """

    @property
    def method(self) -> str: ...

    def initial_data(self) -> bytes | None: ...

    def challenge(self, data: bytes | None) -> bytes | None: ...

    def complete(self, data: bytes | None) -> None: ...


class ClientSettings(TypedDict, total=False):
    """The keyword arguments of ``ClientConfig``, for signatures that pass them on."""

    client_id: str
    protocol_version: ProtocolVersion
    clean_start: bool | Literal["first_only"]
    keep_alive: int
    username: str | None
    password: bytes | None
    will: WillMessage | None
    properties: Properties
    receive_maximum: int
    maximum_packet_size: int | None
    topic_alias_maximum: int
    max_inflight: int
    outgoing_topic_aliases: bool
    session_lost_policy: SessionLostPolicy
    authenticator: Authenticator | None
    manual_ack: bool
    queue_qos0_offline: bool
    restore_subscriptions: bool


_LIMIT_PROPERTIES = ("receive_maximum", "maximum_packet_size", "topic_alias_maximum")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """The settings of an MQTT client session, checked when made.

    ``clean_start``: True (always start a new session), False (always resume) or
    ``"first_only"`` (start clean on the first connection of this session, resume after).
    Limits: ``receive_maximum`` (how many unacknowledged QoS 2 messages we accept at once;
    announced in CONNECT for MQTT 5), ``maximum_packet_size`` (the largest packet we accept;
    None means the protocol's limit), ``topic_alias_maximum`` (inbound topic aliases we accept),
    ``max_inflight`` (a cap on our unacknowledged outgoing QoS 1/2 publishes, below the broker's
    Receive Maximum). ``properties`` are further CONNECT properties (session expiry interval,
    user properties, request flags). ``manual_ack``: QoS 1/2 messages received are acknowledged
    only when the driving layer calls ``ClientConnection.acknowledge``, in arrival order.
    ``queue_qos0_offline``: a QoS 0 publish made while not connected waits in the session's
    queue (as QoS 1/2 ones always do) instead of raising. ``restore_subscriptions``: when the
    broker comes back without the session, subscribe again to what the session held.
    """

    client_id: str = ""
    protocol_version: ProtocolVersion = ProtocolVersion.V5
    clean_start: bool | Literal["first_only"] = "first_only"
    keep_alive: int = 60
    username: str | None = None
    password: bytes | None = None
    will: WillMessage | None = None
    properties: Properties = NO_PROPERTIES
    receive_maximum: int = 65535
    maximum_packet_size: int | None = None
    topic_alias_maximum: int = 0
    max_inflight: int = 65535
    outgoing_topic_aliases: bool = False
    session_lost_policy: SessionLostPolicy = SessionLostPolicy.RESEND
    authenticator: Authenticator | None = None
    manual_ack: bool = False
    queue_qos0_offline: bool = False
    restore_subscriptions: bool = False
    # The CONNECT packet these settings make (without authentication data, which the
    # authenticator gives per connection); encoded once here, so that a bad field fails now.
    connect_packet: Connect = field(init=False, repr=False, compare=False)

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
        if (properties or self.authenticator is not None) and not v5:
            raise ValueError("CONNECT properties and enhanced authentication need MQTT 5.0")
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
        encode(packet, version)
        object.__setattr__(self, "connect_packet", packet)

    @property
    def v5(self) -> bool:
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
        left out, so it raises ``ValueError``.
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


def replace_properties(properties: Properties, **changes: object) -> Properties:
    """``properties`` with some values changed (None removes one)."""
    values = {spec.name: value for spec, value in properties.present()}
    values.update(changes)
    return Properties(**values)  # type: ignore[arg-type]
