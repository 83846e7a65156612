"""What the client state machine reports to the layer that drives it.

``ClientConnection.events_received()`` returns these in the order they happened. They are
NamedTuples for the same reason packets are (``MessageReceived`` is built once per message),
with the same type-aware equality.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from .packets import ConnAck, Publish, strict_equality
from .properties import NO_PROPERTIES, Properties

if TYPE_CHECKING:
    from ..errors import MqttError
    from .session import PublishHandle

__all__ = (
    "Connected",
    "Disconnected",
    "Event",
    "MessageReceived",
    "PublishCompleted",
    "PublishFailed",
    "Reauthenticated",
    "ServerSettings",
    "SubscribeCompleted",
    "SubscriptionsRestored",
    "UnsubscribeCompleted",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """What the broker told us in CONNACK, with the specification's defaults for what it left out.

    MQTT 3.1.x brokers say nothing of these, so a 3.1.x connection has the defaults.
    """

    session_present: bool = False
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    session_expiry_interval: int | None = None
    receive_maximum: int = 65535
    maximum_packet_size: int | None = None
    topic_alias_maximum: int = 0
    maximum_qos: int = 2
    retain_available: bool = True
    wildcard_subscription_available: bool = True
    subscription_identifier_available: bool = True
    shared_subscription_available: bool = True
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    user_properties: tuple[tuple[str, str], ...] = ()


class Connected(NamedTuple):
    """CONNACK accepted the connection; outstanding messages of the session have been resent."""

    settings: ServerSettings
    connack: ConnAck


class MessageReceived(NamedTuple):
    """An application message arrived. ``publish.topic`` is already resolved from any alias.

    For QoS 1 and 2 the acknowledgement is queued in ``data_to_send()`` together with this event.
    """

    publish: Publish


class PublishCompleted(NamedTuple):
    """A QoS 1 or 2 publish ended: PUBACK, PUBCOMP, or a PUBREC that carried a failure code.

    ``reason_code`` >= 0x80 means the broker refused the message.
    """

    handle: PublishHandle
    reason_code: int
    properties: Properties = NO_PROPERTIES


class PublishFailed(NamedTuple):
    """A QoS 1 or 2 publish ended without an acknowledgement (for example the session was lost)."""

    handle: PublishHandle
    error: MqttError


class SubscribeCompleted(NamedTuple):
    packet_id: int
    reason_codes: tuple[int, ...]
    properties: Properties = NO_PROPERTIES


class SubscriptionsRestored(NamedTuple):
    """The broker came back without the session, and the client subscribed again (one
    SUBSCRIBE's worth). ``refused`` pairs each filter the broker refused now with its reason
    code; those are no longer held by the session."""

    topic_filters: tuple[str, ...]
    refused: tuple[tuple[str, int], ...] = ()


class UnsubscribeCompleted(NamedTuple):
    packet_id: int
    reason_codes: tuple[int, ...]  # empty for MQTT 3.1.x, where UNSUBACK carries none
    properties: Properties = NO_PROPERTIES


class Reauthenticated(NamedTuple):
    """A re-authentication (MQTT 5 AUTH exchange after CONNACK) succeeded."""

    properties: Properties


class Disconnected(NamedTuple):
    """The network connection is over; the driving layer closes its transport after flushing.

    ``error`` is None only when we asked for the disconnection. ``reason_code`` is the code of
    the DISCONNECT (ours or the broker's) or of the refusing CONNACK, when there was one.
    """

    error: MqttError | None
    reason_code: int | None = None
    properties: Properties = NO_PROPERTIES


Event = (
    Connected
    | MessageReceived
    | PublishCompleted
    | PublishFailed
    | SubscribeCompleted
    | SubscriptionsRestored
    | UnsubscribeCompleted
    | Reauthenticated
    | Disconnected
)

strict_equality(
    Connected,
    MessageReceived,
    PublishCompleted,
    PublishFailed,
    SubscribeCompleted,
    SubscriptionsRestored,
    UnsubscribeCompleted,
    Reauthenticated,
    Disconnected,
)
