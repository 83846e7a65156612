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


class Stage(Enum):
    """Where an outgoing QoS 1/2 publish is in its flow."""

    PENDING = "pending"  # queued for a slot under Receive Maximum, no packet id
    AWAITING_PUBACK = "awaiting PUBACK"
    AWAITING_PUBREC = "awaiting PUBREC"
    AWAITING_PUBCOMP = "awaiting PUBCOMP"
    DONE = "done"


class PublishHandle:
    """One QoS 1 or 2 publish, from the call until its flow ends.

    ``packet_id`` is None until the publish is first written. ``number`` identifies it in the
    session's records (packet ids are reused, numbers never). The driving layer keys its own
    bookkeeping (futures, timeouts) on the handle.
    """

    __slots__ = ("number", "packet", "packet_id", "stage")

    def __init__(self, packet: Publish, number: int) -> None:
        self.packet = packet  # as the user gave it: full topic, DUP clear, no packet id
        self.number = number
        self.packet_id: int | None = None
        self.stage = Stage.PENDING

    @property
    def written(self) -> bool:
        """True once the PUBLISH has been handed to the driving layer to write."""
        return self.stage is not Stage.PENDING

    @property
    def done(self) -> bool:
        return self.stage is Stage.DONE

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
    clean: bool = True


class PublishAccepted(NamedTuple):
    """A QoS 1/2 publish entered the session (``publish`` accepted it)."""

    number: int
    publish: Publish


class PublishSent(NamedTuple):
    """The publish was written with this packet id; it awaits PUBACK or PUBREC."""

    number: int
    packet_id: int


class PublishReleased(NamedTuple):
    """PUBREC came for this QoS 2 publish: it awaits PUBCOMP (PUBREL is resent on resume)."""

    number: int


class PublishUnsent(NamedTuple):
    """The broker lost the session: the publish waits to be sent again, without its id."""

    number: int


class PublishEnded(NamedTuple):
    """The publish left the session: acknowledged, refused, failed or withdrawn."""

    number: int


class InboundQoS2Received(NamedTuple):
    """PUBREC was sent for this inbound QoS 2 message; a retransmission is not delivered."""

    packet_id: int


class InboundQoS2Released(NamedTuple):
    """PUBREL came and PUBCOMP was sent: the id is free."""

    packet_id: int


class SubscriptionAdded(NamedTuple):
    """The broker granted this subscription (``properties``: the SUBSCRIBE's, e.g. its id)."""

    subscription: Subscription
    properties: Properties


class SubscriptionRemoved(NamedTuple):
    topic_filter: str


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


class Session:
    """What outlives one network connection (see the module docstring).

    ``ClientConnection`` changes the containers directly (they are its hot path); everything
    else goes through the methods here, which keep the records.
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
        self.started = False  # True once a CONNACK accepted the session
        self.connections = 0  # network connections begun so far (numbers them)
        self.outgoing: dict[int, PublishHandle] = {}  # by packet id, in first-written order
        # Publishes waiting for a Receive Maximum slot; made by the first that has to wait (an
        # empty deque is 760 bytes, carried for nothing by the many clients that never wait).
        self.pending: deque[PublishHandle] | None = None
        self.queued_qos0 = 0  # QoS 0 publishes in ``pending`` (made while offline; not stored)
        self.next_packet_id = 1
        self.inbound_qos2: set[int] = set()
        # Inbound QoS 2 messages delivered but not yet acknowledged by the application:
        # packet id -> [number of the connection it came on, acknowledged since]. Never
        # recorded: after a restart the broker delivers them again, as it should.
        self.inbound_unacked: dict[int, list[int | bool]] = {}
        self.subscriptions: dict[str, SubscriptionAdded] = {}
        self.recording = recording
        self.records: list[SessionRecord] = []
        self.next_number = 1  # numbers publishes in the records

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
            if handle.stage is Stage.AWAITING_PUBCOMP:
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
        """A session rebuilt from its records (all since it began, or a ``snapshot``)."""
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
                handle.stage = Stage.AWAITING_PUBACK if qos == 1 else Stage.AWAITING_PUBREC
                outgoing[record.packet_id] = handle
            elif isinstance(record, PublishReleased):
                handles[record.number].stage = Stage.AWAITING_PUBCOMP
            elif isinstance(record, PublishUnsent | PublishEnded):
                handle = handles[record.number]
                if handle.packet_id is not None:
                    del outgoing[handle.packet_id]
                handle.packet_id = None
                handle.stage = Stage.PENDING
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

    def new_handle(self, packet: Publish) -> PublishHandle:
        """A QoS 1/2 publish enters the session (recorded)."""
        number = self.next_number
        self.next_number = number + 1
        handle = PublishHandle(packet, number)
        if self.recording:
            self.records.append(PublishAccepted(number, packet))
        return handle

    def start(self, client_id: str, *, clean: bool) -> None:
        """A CONNACK accepted the session; ``clean``: the broker kept nothing of it."""
        changed = not self.started or client_id != self.client_id
        self.started = True
        self.client_id = client_id
        if clean:
            self.inbound_qos2.clear()
            self.inbound_unacked.clear()
        if (clean or changed) and self.recording:
            self.records.append(SessionStarted(client_id, clean))

    def end_publish(self, handle: PublishHandle) -> None:
        """The publish leaves the session (its packet id, if any, is free again)."""
        if handle.packet_id is not None:
            self.outgoing.pop(handle.packet_id, None)
        handle.stage = Stage.DONE
        if not handle.packet.qos:
            self.queued_qos0 -= 1  # (never recorded: QoS 0 is not kept across restarts)
        elif self.recording:
            self.records.append(PublishEnded(handle.number))

    def subscription_granted(self, subscription: Subscription, properties: Properties) -> None:
        held = SubscriptionAdded(subscription, properties)
        self.subscriptions[subscription.topic_filter] = held
        if self.recording:
            self.records.append(held)

    def subscription_removed(self, topic_filter: str) -> None:
        if self.subscriptions.pop(topic_filter, None) is not None and self.recording:
            self.records.append(SubscriptionRemoved(topic_filter))

    def allocate_packet_id(self, *also_busy: Mapping[int, object]) -> int:
        """The next packet id in use by no publish in flight nor by ``also_busy`` tables."""
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
        """Outgoing QoS 1/2 publishes waiting for a slot to be written (or resent)."""
        return len(self.pending) if self.pending else 0

    def __repr__(self) -> str:
        return (
            f"<Session client_id={self.client_id!r} in flight={len(self.outgoing)} "
            f"pending={self.pending_count} subscriptions={len(self.subscriptions)}>"
        )
