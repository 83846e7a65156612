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
    "ReceiveMaximumExceeded",
    "ServerSettings",
    "SubscribeCompleted",
    "SubscriptionsRestored",
    "UnsubscribeCompleted",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """What the broker told us in CONNACK, with the specification's defaults for what it left out.

    MQTT 3.1.x brokers say nothing of these but ``session_present``, so a 3.1.x connection has
    the defaults. Each field's default is what applies when the broker did not send the
    property. Before the first CONNACK (``client.server``, ``ClientConnection.server``) every
    field has its default.
    """

    session_present: bool = False
    """Whether the broker resumed a session it kept for us (CONNACK's Session Present flag);
    False when it started a new one."""
    assigned_client_identifier: str | None = None
    """The client identifier the broker assigned, when we connected with an empty one; None
    when it assigned none."""
    server_keep_alive: int | None = None
    """The keepalive, in seconds, the broker imposes in place of the one we asked for (0: none);
    None when it accepted ours."""
    session_expiry_interval: int | None = None
    """Seconds the broker keeps the session after the connection ends, when it changed what we
    asked for; None when it kept our value."""
    receive_maximum: int = 65535
    """How many of our QoS 1/2 publishes the broker accepts unacknowledged at once; the rest
    wait in the session's queue. Default 65535."""
    maximum_packet_size: int | None = None
    """The largest packet the broker accepts, in bytes; a larger publish raises
    ``ValueError``. None: no limit beyond the protocol's."""
    topic_alias_maximum: int = 0
    """How many topic aliases we may use in what we send; 0 (the default): none."""
    maximum_qos: int = 2
    """The highest QoS the broker supports (0, 1 or 2; default 2); publishing above it raises
    ``ValueError``."""
    retain_available: bool = True
    """Whether the broker supports retained messages (default True); if not, publishing with
    ``retain=True`` raises ``ValueError``."""
    wildcard_subscription_available: bool = True
    """Whether the broker supports wildcard (``+``, ``#``) subscriptions (default True); if
    not, subscribing to one raises ``ValueError``."""
    subscription_identifier_available: bool = True
    """Whether the broker supports subscription identifiers (default True); if not, a
    SUBSCRIBE with one raises ``ValueError``."""
    shared_subscription_available: bool = True
    """Whether the broker supports shared subscriptions, ``$share/...`` (default True); if
    not, subscribing to one raises ``ValueError``."""
    response_information: str | None = None
    """The basis for response topics, which the broker gives when CONNECT asked for it
    (``request_response_information``); None otherwise."""
    server_reference: str | None = None
    """Another broker to use, when this one points to one; None otherwise."""
    reason_string: str | None = None
    """A human-readable text the broker added to CONNACK, for diagnostics; None otherwise."""
    user_properties: tuple[tuple[str, str], ...] = ()
    """CONNACK's user properties, (name, value) pairs in order; empty by default."""


class Connected(NamedTuple):
    """CONNACK accepted the connection; outstanding messages of the session have been resent."""

    settings: ServerSettings
    """What the broker told us in CONNACK (also ``ClientConnection.server`` from now on)."""
    connack: ConnAck
    """The CONNACK packet itself."""


class MessageReceived(NamedTuple):
    """An application message arrived. ``publish.topic`` is already resolved from any alias.

    For QoS 1 and 2 the acknowledgement is queued in ``data_to_send()`` together with this event,
    unless ``manual_ack`` is on: then it waits for ``ClientConnection.acknowledge``. A QoS 2
    message the broker sends again (same packet id, before PUBREL) is not reported twice.
    """

    publish: Publish
    """The PUBLISH packet: ``topic``, ``payload``, ``qos``, ``retain``, ``dup``,
    ``packet_id`` (None for QoS 0) and ``properties``."""


class PublishCompleted(NamedTuple):
    """A QoS 1 or 2 publish ended: PUBACK, PUBCOMP, or a PUBREC that carried a failure code.

    ``reason_code`` >= 0x80 means the broker refused the message. Also reported, with code 0,
    for a QoS 0 publish that waited in the queue (``queue_qos0_offline``) once it is written.
    """

    handle: PublishHandle
    """The handle ``ClientConnection.publish`` returned."""
    reason_code: int
    """The broker's reason code (a ``PubAckReasonCode``, ``PubRecReasonCode`` or
    ``PubCompReasonCode`` value; always 0 in MQTT 3.1.x): below 0x80 the message was
    accepted."""
    properties: Properties = NO_PROPERTIES
    """The properties of the acknowledgement (its ``reason_string``, ``user_properties``)."""


class PublishFailed(NamedTuple):
    """A QoS 1 or 2 publish ended without an acknowledgement (for example the session was lost)."""

    handle: PublishHandle
    """The handle ``ClientConnection.publish`` returned."""
    error: MqttError
    """Why: a ``SessionLostError`` (the broker lost the session and the policy is ``FAIL``),
    or an ``MqttError`` naming the broker's limit (Maximum QoS, Maximum Packet Size) that no
    longer lets it be sent."""


class SubscribeCompleted(NamedTuple):
    """The broker answered a SUBSCRIBE (``ClientConnection.subscribe``) with SUBACK.

    The granted filters are now in the session's subscriptions; the refused ones are not.
    """

    packet_id: int
    """The SUBSCRIBE's packet id, as ``subscribe`` returned it."""
    reason_codes: tuple[int, ...]
    """One ``SubAckReasonCode`` value per topic filter, in order: the granted QoS (0 to 2),
    or a refusal (0x80 and above)."""
    properties: Properties = NO_PROPERTIES
    """The SUBACK's properties (MQTT 5: ``reason_string``, ``user_properties``)."""


class SubscriptionsRestored(NamedTuple):
    """The broker came back without the session, and the client subscribed again (one
    SUBSCRIBE's worth). ``refused`` pairs each filter the broker refused now with its reason
    code; those are no longer held by the session."""

    topic_filters: tuple[str, ...]
    """The filters the broker granted again."""
    refused: tuple[tuple[str, int], ...] = ()
    """(filter, ``SubAckReasonCode``) for each filter it refused (0x80 when the SUBSCRIBE
    could not even be sent, being above the broker's Maximum Packet Size)."""


class UnsubscribeCompleted(NamedTuple):
    """The broker answered an UNSUBSCRIBE (``ClientConnection.unsubscribe``) with UNSUBACK.

    The filters it removed are no longer in the session's subscriptions.
    """

    packet_id: int
    """The UNSUBSCRIBE's packet id, as ``unsubscribe`` returned it."""
    reason_codes: tuple[int, ...]
    """One ``UnsubAckReasonCode`` value per topic filter, in order (0x80 and above: the broker
    refused to remove it); empty for MQTT 3.1.x, where UNSUBACK carries none (every filter is
    removed)."""
    properties: Properties = NO_PROPERTIES
    """The UNSUBACK's properties (MQTT 5: ``reason_string``, ``user_properties``)."""


class ReceiveMaximumExceeded(NamedTuple):
    """The broker sent a QoS 1/2 message beyond our Receive Maximum, and the configuration
    tolerates it (``ClientConfig.strict_receive_maximum=False``): the message is delivered
    (its ``MessageReceived`` follows) and acknowledged as usual, instead of the connection
    ending with DISCONNECT 0x93 (Receive Maximum exceeded)."""

    receive_maximum: int
    """Our Receive Maximum, as announced in CONNECT."""
    unacknowledged: int
    """How many QoS 1/2 messages from the broker were unacknowledged with this one (at least
    ``receive_maximum + 1``)."""
    packet_id: int
    """The packet id of the message that went beyond it."""


class Reauthenticated(NamedTuple):
    """A re-authentication (MQTT 5 AUTH exchange after CONNACK) succeeded."""

    properties: Properties
    """The properties of the broker's final AUTH (0x00 Success)."""


class Disconnected(NamedTuple):
    """The network connection is over; the driving layer closes its transport after flushing.

    ``error`` is None only when we asked for the disconnection. ``reason_code`` is the code of
    the DISCONNECT (ours or the broker's) or of the refusing CONNACK, when there was one.
    """

    error: MqttError | None
    """Why the connection ended: ``MqttCodeError`` for a refusing CONNACK or the broker's
    DISCONNECT, ``ConnectionLostError`` for an end of the stream or a keepalive timeout,
    ``ProtocolError`` when the broker broke the protocol; None when we disconnected."""
    reason_code: int | None = None
    """The code of the refusing CONNACK (``ConnAckReasonCode``, or ``ConnectReturnCode`` in
    MQTT 3.1.x), of the DISCONNECT (``DisconnectReasonCode``, ours or the broker's), the
    ``reason_code`` of a ``ProtocolError``, or None when there was none."""
    properties: Properties = NO_PROPERTIES
    """The properties of that CONNACK or DISCONNECT (its ``reason_string``,
    ``server_reference``, ...)."""


Event = (
    Connected
    | MessageReceived
    | PublishCompleted
    | PublishFailed
    | SubscribeCompleted
    | SubscriptionsRestored
    | UnsubscribeCompleted
    | Reauthenticated
    | ReceiveMaximumExceeded
    | Disconnected
)
"""Any of the events ``ClientConnection.events_received()`` returns."""

strict_equality(
    Connected,
    MessageReceived,
    PublishCompleted,
    PublishFailed,
    SubscribeCompleted,
    SubscriptionsRestored,
    UnsubscribeCompleted,
    Reauthenticated,
    ReceiveMaximumExceeded,
    Disconnected,
)
