"""``Session``: the part of an MQTT client's state that outlives one network connection.

Theory of operation
-------------------
MQTT separates the *session* (which may last across many network connections, and, with a
store, across restarts of the process) from the *network connection* that carries it for a
while. A ``Session`` holds the first:

* outgoing QoS 1/2 publishes (``PublishHandle``), each with its stage: waiting for a slot
  (``pending``, in order; no packet id yet), written and awaiting PUBACK / PUBREC, or released
  (PUBREC came) and awaiting PUBCOMP (``outgoing``, by packet id, in the order first written);
* the packet-id allocator (ids are allocated when a publish is written and never reused while
  in flight);
* inbound QoS 2 packet ids whose PUBREC was sent and whose PUBREL has not come
  (``inbound_qos2``), so that a retransmitted PUBLISH is not delivered twice; and those
  received but not yet acknowledged by the application (``inbound_unacked``; in memory only);
* the subscriptions the client holds (filter, options and the SUBSCRIBE's properties, among
  them the subscription identifier), to restore them when the broker lost them;
* the client identifier in use (the configured one, or the one the broker assigned), and
  whether the session has started (a CONNACK accepted it).

A ``ClientConnection`` works on the session it is given; when the network connection ends, the
session is handed to the next ``ClientConnection`` (a reconnect, or the 5.0 -> 3.1.1 fallback).

Records: with ``recording`` on, every change is also appended to ``records`` as a small
NamedTuple (``PublishAccepted``, ``PublishSent``, ...) that a store can apply. The connection
appends a record in the same call that queues the bytes which depend on it, and the driving
layer takes the records (``take_records``) and stores them before it writes those bytes: a
publish is stored before it leaves, an inbound QoS 2 id before its PUBREC leaves. ``restore``
rebuilds a session from records (all of them, or a store's compacted ``snapshot``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Final, NamedTuple, TypeAlias

from ..errors import MqttError
from .packets import Publish, Subscription
from .properties import Properties

__all__ = (
    "InboundQoS2Received",
    "InboundQoS2Released",
    "PublishAccepted",
    "PublishEnded",
    "PublishHandle",
    "PublishReleased",
    "PublishSent",
    "PublishUnsent",
    "Session",
    "SessionRecord",
    "SessionStarted",
    "Stage",
    "SubscriptionAdded",
    "SubscriptionRemoved",
)

MAX_PACKET_ID: Final = 65535
"""The largest packet identifier (identifiers are 1 to 65535)."""


class Stage(Enum):
    """Where an outgoing QoS 1/2 publish is in its flow."""

    PENDING = "pending"
    """Queued: not written yet, or to be written again after the broker lost the session,
    waiting for a slot under the Receive Maximum or for a connection; no packet id."""
    AWAITING_PUBACK = "awaiting PUBACK"
    """A QoS 1 publish written, awaiting the broker's PUBACK."""
    AWAITING_PUBREC = "awaiting PUBREC"
    """A QoS 2 publish written, awaiting the broker's PUBREC."""
    AWAITING_PUBCOMP = "awaiting PUBCOMP"
    """A QoS 2 publish whose PUBREC came (the broker accepted it): PUBREL sent, awaiting
    PUBCOMP."""
    DONE = "done"
    """Ended: acknowledged, refused, failed or withdrawn."""


# As module constants for the hot paths (see connection.py: an Enum class's attributes are slow).
_PENDING: Final = Stage.PENDING
_AWAITING_PUBACK: Final = Stage.AWAITING_PUBACK
_AWAITING_PUBREC: Final = Stage.AWAITING_PUBREC
_AWAITING_PUBCOMP: Final = Stage.AWAITING_PUBCOMP
_DONE: Final = Stage.DONE


class PublishHandle:
    """One QoS 1 or 2 publish, from the call until its flow ends.

    ``packet_id`` is None until the publish is first written. ``number`` identifies it in the
    session's records (packet ids are reused, numbers never). The driving layer keys its own
    bookkeeping (futures, timeouts) on the handle. A QoS 0 publish queued while offline
    (``queue_qos0_offline``) has a handle too.

    The engine makes handles (``ClientConnection.publish``): ``packet``
    and ``number`` are the attributes of those names.
    """

    __slots__ = ("number", "packet", "packet_id", "stage")

    def __init__(self, packet: Publish, number: int) -> None:
        self.packet = packet
        """The PUBLISH as the user gave it: full topic, DUP clear, no packet id."""
        self.number = number
        """Its number in the session (from 1, never reused), which its records carry."""
        self.packet_id: int | None = None
        """The packet identifier it was written with (1 to 65535); None while not written."""
        self.stage = _PENDING
        """Where it is in its flow."""

    @property
    def written(self) -> bool:
        """True once the PUBLISH has been handed to the driving layer to write."""
        return self.stage is not _PENDING

    @property
    def done(self) -> bool:
        """True once the flow ended (acknowledged, refused, failed or withdrawn)."""
        return self.stage is _DONE

    def __repr__(self) -> str:
        return (
            f"<PublishHandle topic={self.packet.topic!r} qos={self.packet.qos} "
            f"packet_id={self.packet_id} {self.stage.value}>"
        )


# ---------------------------------------------------------------------- records


class SessionStarted(NamedTuple):
    """A CONNACK accepted the session with this client identifier.

    ``clean``: the broker kept nothing of it (a new session), so inbound QoS 2 ids are
    forgotten; False when only the identifier changed (the broker assigned one).
    """

    client_id: str
    """The client identifier of the session (ours, or the one the broker assigned)."""
    clean: bool = True
    """Whether the broker started a new session."""


class PublishAccepted(NamedTuple):
    """A QoS 1/2 publish entered the session (``publish`` accepted it)."""

    number: int
    """The number the session gave the publish (``PublishHandle.number``)."""
    publish: Publish
    """The PUBLISH as the user gave it (no packet id)."""


class PublishSent(NamedTuple):
    """The publish was written with this packet id; it awaits PUBACK or PUBREC."""

    number: int
    """The publish's ``PublishHandle.number``."""
    packet_id: int
    """The packet identifier it was written with."""


class PublishReleased(NamedTuple):
    """PUBREC came for this QoS 2 publish: it awaits PUBCOMP (PUBREL is resent on resume)."""

    number: int
    """The publish's ``PublishHandle.number``."""


class PublishUnsent(NamedTuple):
    """The broker lost the session: the publish waits to be sent again, without its id."""

    number: int
    """The publish's ``PublishHandle.number``."""


class PublishEnded(NamedTuple):
    """The publish left the session: acknowledged, refused, failed or withdrawn."""

    number: int
    """The publish's ``PublishHandle.number``."""


class InboundQoS2Received(NamedTuple):
    """PUBREC was sent for this inbound QoS 2 message; a retransmission is not delivered."""

    packet_id: int
    """The message's packet identifier."""


class InboundQoS2Released(NamedTuple):
    """PUBREL came and PUBCOMP was sent: the id is free."""

    packet_id: int
    """The message's packet identifier."""


class SubscriptionAdded(NamedTuple):
    """The broker granted this subscription (``properties``: the SUBSCRIBE's, e.g. its id)."""

    subscription: Subscription
    """The topic filter and its options, as subscribed."""
    properties: Properties
    """The SUBSCRIBE's properties (its subscription identifier, user properties), used again
    when the subscription is restored."""


class SubscriptionRemoved(NamedTuple):
    """The session no longer holds this subscription (UNSUBACK removed it, or the broker
    refused it when it was restored)."""

    topic_filter: str
    """The topic filter, as subscribed."""


SessionRecord: TypeAlias = (
    SessionStarted
    | PublishAccepted
    | PublishSent
    | PublishReleased
    | PublishUnsent
    | PublishEnded
    | InboundQoS2Received
    | InboundQoS2Released
    | SubscriptionAdded
    | SubscriptionRemoved
)
"""Any of the records a session makes (``Session.take_records``) and ``Session.restore``
takes: what a ``SessionStore`` stores."""


class Session:
    """What outlives one network connection (see the module docstring).

    ``ClientConnection`` changes the containers directly (they are its hot path); everything
    else goes through the methods here, which keep the records.

    ``client_id`` (keyword only; default "") is the configured client identifier;
    ``recording`` (keyword only; default False) whether changes are recorded in ``records``
    (on when a durable store keeps the session). A driver that keeps the session across
    restarts makes it with ``Session.restore`` instead. The attributes are the engine's state,
    readable by the driving layer; only the engine changes them.
    """

    __slots__ = (
        "client_id",
        "connections",
        "inbound_qos2",
        "inbound_unacked",
        "next_number",
        "next_packet_id",
        "outgoing",
        "pending",
        "queued_qos0",
        "recording",
        "records",
        "started",
        "subscriptions",
    )

    def __init__(self, *, client_id: str = "", recording: bool = False) -> None:
        self.client_id = client_id
        """The client identifier: the configured one, then the one the session started with
        (the broker may have assigned it)."""
        self.started = False
        """True once a CONNACK accepted the session."""
        self.connections = 0
        """Network connections begun so far; it numbers them (``ClientConnection.number``)."""
        self.outgoing: dict[int, PublishHandle] = {}
        """The QoS 1/2 publishes written and not yet acknowledged, by packet id, in the order
        they were first written (the order a resumed session resends them in)."""
        # Made by the first publish that has to wait: an empty deque is 760 bytes, carried for
        # nothing by the many clients that never wait.
        self.pending: deque[PublishHandle] | None = None
        """The publishes waiting to be written, in order: for a slot under the broker's
        Receive Maximum (or ``max_inflight``), or for a connection; resends of a resumed
        session at the head. None until one has to wait."""
        self.queued_qos0 = 0
        """How many of ``pending`` are QoS 0 publishes, made while offline with
        ``queue_qos0_offline`` (they are never recorded: QoS 0 is not kept across restarts)."""
        self.next_packet_id = 1
        """The packet identifier to try first for the next packet that needs one (1 to
        65535, wrapping around)."""
        self.inbound_qos2: set[int] = set()
        """Packet ids of inbound QoS 2 messages whose PUBREC was sent and whose PUBREL has not
        come: a retransmission of one is answered, not delivered again."""
        # Never recorded: after a restart the broker delivers them again, as it should.
        self.inbound_unacked: dict[int, list[int | bool]] = {}
        """Inbound QoS 2 messages delivered but not yet acknowledged by the application
        (``manual_ack``): packet id -> [the number of the connection it came on, whether it
        has been acknowledged since]. In memory only."""
        self.subscriptions: dict[str, SubscriptionAdded] = {}
        """The subscriptions the broker granted, by topic filter, in the order they were
        added, as long as the broker holds them (a broker that lost the session holds none:
        they are made again, with ``ClientConfig.restore_subscriptions``, or forgotten)."""
        self.recording = recording
        """Whether changes are appended to ``records``."""
        self.records: list[SessionRecord] = []
        """The records made since the last ``take_records``."""
        self.next_number = 1
        """The number the next publish gets (``PublishHandle.number``)."""

    # ------------------------------------------------------------------ records

    def take_records(self) -> list[SessionRecord]:
        """The records since the last call, in order (a store applies them)."""
        records = self.records
        if not records:
            return records
        self.records = []
        return records

    def snapshot(self) -> list[SessionRecord]:
        """The fewest records that ``restore`` turns into a session equal to this one."""
        records: list[SessionRecord] = []
        if self.started:
            records.append(SessionStarted(self.client_id))
        for handle in self.outgoing.values():
            records.append(PublishAccepted(handle.number, handle.packet))
            records.append(PublishSent(handle.number, handle.packet_id))  # type: ignore[arg-type]
            if handle.stage is _AWAITING_PUBCOMP:
                records.append(PublishReleased(handle.number))
        # (Resends waiting for a slot are in ``outgoing`` too, so only the others count here.)
        records += [
            PublishAccepted(handle.number, handle.packet)
            for handle in self.pending or ()
            if handle.packet_id is None and handle.packet.qos
        ]
        records += [InboundQoS2Received(packet_id) for packet_id in self.inbound_qos2]
        records += self.subscriptions.values()
        return records

    @classmethod
    def restore(cls, records: Iterable[SessionRecord], *, recording: bool = True) -> Session:
        """A session rebuilt from its records (all since it began, or a ``snapshot``).

        ``records`` come in the order they were made (or that ``SessionStore.load`` gives);
        ``recording`` (default True) is the new session's ``recording``: on, as a session kept
        by a store needs. Raises ``TypeError`` for something that is not a session record, and
        ``KeyError`` for records that do not fit together (a publish sent before it was
        accepted).
        """
        session = cls(recording=False)
        handles: dict[int, PublishHandle] = {}
        outgoing = session.outgoing
        for record in records:
            if isinstance(record, PublishAccepted):
                handles[record.number] = PublishHandle(record.publish, record.number)
                session.next_number = max(session.next_number, record.number + 1)
            elif isinstance(record, PublishSent):
                handle = handles[record.number]
                handle.packet_id = record.packet_id
                qos = handle.packet.qos
                handle.stage = _AWAITING_PUBACK if qos == 1 else _AWAITING_PUBREC
                outgoing[record.packet_id] = handle
            elif isinstance(record, PublishReleased):
                handles[record.number].stage = _AWAITING_PUBCOMP
            elif isinstance(record, PublishUnsent | PublishEnded):
                handle = handles[record.number]
                if handle.packet_id is not None:
                    del outgoing[handle.packet_id]
                handle.packet_id = None
                handle.stage = _PENDING
                if isinstance(record, PublishEnded):
                    del handles[record.number]
            else:
                session._apply(record)
        waiting = sorted(
            (handle for handle in handles.values() if handle.packet_id is None),
            key=lambda handle: handle.number,
        )
        if waiting:
            session.pending = deque(waiting)
        session.recording = recording
        return session

    def _apply(self, record: SessionRecord) -> None:
        """Apply a record that is not about an outgoing publish."""
        if isinstance(record, SessionStarted):
            self.started = True
            self.client_id = record.client_id
            if record.clean:
                self.inbound_qos2.clear()
        elif isinstance(record, InboundQoS2Received):
            self.inbound_qos2.add(record.packet_id)
        elif isinstance(record, InboundQoS2Released):
            self.inbound_qos2.discard(record.packet_id)
        elif isinstance(record, SubscriptionAdded):
            self.subscriptions[record.subscription.topic_filter] = record
        elif isinstance(record, SubscriptionRemoved):
            self.subscriptions.pop(record.topic_filter, None)
        else:
            raise TypeError(f"not a session record: {record!r}")

    # ------------------------------------------------------------------ changes

    def start(self, client_id: str, *, clean: bool) -> None:
        """A CONNACK accepted the session, with ``client_id`` (ours, or the one the broker
        assigned); ``clean`` (keyword only): the broker kept nothing of it, so the inbound QoS 2
        ids are forgotten. Recorded when ``clean``, or when the session had not started or had
        another identifier."""
        changed = not self.started or client_id != self.client_id
        self.started = True
        self.client_id = client_id
        if clean:
            self.inbound_qos2.clear()
            self.inbound_unacked.clear()
        if (clean or changed) and self.recording:
            self.records.append(SessionStarted(client_id, clean))

    def end_publish(self, handle: PublishHandle) -> None:
        """The publish of ``handle`` leaves the session (its packet id, if any, is free
        again); its stage becomes ``DONE``. Recorded for QoS 1/2."""
        if handle.packet_id is not None:
            self.outgoing.pop(handle.packet_id, None)
        handle.stage = _DONE
        if not handle.packet.qos:
            self.queued_qos0 -= 1  # (never recorded: QoS 0 is not kept across restarts)
        elif self.recording:
            self.records.append(PublishEnded(handle.number))

    def subscription_granted(self, subscription: Subscription, properties: Properties) -> None:
        """The broker granted ``subscription``, asked for with the SUBSCRIBE's ``properties``:
        the session holds it (replacing one of the same filter). Recorded."""
        held = SubscriptionAdded(subscription, properties)
        self.subscriptions[subscription.topic_filter] = held
        if self.recording:
            self.records.append(held)

    def subscription_removed(self, topic_filter: str) -> None:
        """The session no longer holds the subscription to ``topic_filter`` (nothing happens
        if it held none). Recorded."""
        if self.subscriptions.pop(topic_filter, None) is not None and self.recording:
            self.records.append(SubscriptionRemoved(topic_filter))

    def allocate_packet_id(self, *also_busy: Mapping[int, object]) -> int:
        """The next packet id in use by no publish in flight nor by ``also_busy`` tables.

        ``also_busy``: further tables keyed by packet ids in use (the SUBSCRIBEs and
        UNSUBSCRIBEs in flight). Raises ``MqttError`` when all 65535 are in use.
        """
        outgoing = self.outgoing
        packet_id = self.next_packet_id
        if packet_id in outgoing or any(packet_id in table for table in also_busy):
            # The next id is taken (rare): search on, unless every id is taken. The tables
            # never share an identifier, so their sizes add up.
            if len(outgoing) + sum(map(len, also_busy)) >= MAX_PACKET_ID:
                raise MqttError("all 65535 packet identifiers are in use")
            while packet_id in outgoing or any(packet_id in table for table in also_busy):
                packet_id = packet_id % MAX_PACKET_ID + 1
        self.next_packet_id = packet_id % MAX_PACKET_ID + 1
        return packet_id

    # ------------------------------------------------------------------ reading

    @property
    def inflight_count(self) -> int:
        """Outgoing QoS 1/2 publishes written and not yet acknowledged."""
        return len(self.outgoing)

    @property
    def pending_count(self) -> int:
        """Publishes waiting in ``pending`` to be written (or resent): QoS 1/2, and QoS 0 ones
        made while offline with ``queue_qos0_offline``."""
        return len(self.pending) if self.pending else 0

    def __repr__(self) -> str:
        return (
            f"<Session client_id={self.client_id!r} in flight={len(self.outgoing)} "
            f"pending={self.pending_count} subscriptions={len(self.subscriptions)}>"
        )
