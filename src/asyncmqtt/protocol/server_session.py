"""``ServerSession``: what the broker keeps for one client identifier between its connections.

Theory of operation
-------------------
The broker side reuses the client's ``Session`` for the state MQTT defines the same way on
both sides, seen from the broker:

* ``outgoing`` / ``pending`` / the packet-id allocator: the messages on their way *to* this
  client (QoS 1/2 in flight by packet id, and the queue of those waiting for a Receive
  Maximum slot or for the client to come back);
* ``inbound_qos2``: QoS 2 messages *from* this client whose PUBREC was sent and whose PUBREL
  has not come, so that a retransmission is answered and not published twice;
* ``subscriptions``: the filters this client holds, with their granted options and the
  SUBSCRIBE's properties (its subscription identifier).

``ServerSession`` wraps it with what only a broker needs: the session expiry interval and,
while the client is away, when the session ends; the will and, during a will delay, when it
is due; and the bounded queue (``max_queued_messages``: see ``BrokerConfig`` for the policy
when it is full). Messages queued for the client are ``Delivery`` handles: a ``PublishHandle``
that also remembers when the message expires, so that an expired message is not sent and
one that is sent carries the rest of its Message Expiry Interval.

A ``ServerSession`` knows nothing of network connections; the broker core maps client
identifiers to their live ``ServerConnection``.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from .packets import Publish, WillMessage
from .session import PublishHandle, Session

__all__ = ("NEVER_EXPIRES", "Delivery", "ServerSession")

NEVER_EXPIRES: Final = 0xFFFF_FFFF
"""The Session Expiry Interval that means "never" (MQTT 5 section 3.1.2.11.2)."""


class Delivery(PublishHandle):
    """A message on its way to one client: a ``PublishHandle`` with an expiry time.

    ``packet`` is the PUBLISH as this client gets it (its QoS, RETAIN flag and subscription
    identifiers already decided; once written, with its Message Expiry Interval as written,
    so that a resend repeats it); ``expires_at``: when the message expires, on the broker's
    clock, or None; ``group``: the shared subscription (``$share/{group}/{filter}``) it came
    through, or None.
    """

    __slots__ = ("expires_at", "group")

    def __init__(
        self, packet: Publish, number: int, expires_at: float | None, group: str | None = None
    ) -> None:
        super().__init__(packet, number)
        self.expires_at = expires_at
        """When the message expires (the broker's clock), or None if it never does."""
        self.group = group
        """The shared subscription it came through (another member gets it if this session
        ends before it was accepted), or None."""


class ServerSession:
    """The broker's session for one client identifier (see the module docstring).

    ``client_id``: the identifier; ``expiry_interval``: the Session Expiry Interval in
    seconds (0: the session ends with the connection; ``NEVER_EXPIRES``: never);
    ``max_queued``: the most messages waiting in the queue.
    """

    __slots__ = (
        "client_id",
        "dropped_messages",
        "expired_messages",
        "expires_at",
        "expiry_interval",
        "max_queued",
        "state",
        "username",
        "will",
        "will_at",
    )

    def __init__(self, client_id: str, *, expiry_interval: int, max_queued: int) -> None:
        self.client_id = client_id
        """The client identifier."""
        self.state = Session(client_id=client_id)
        """The state shared with the client side's design: flows, queue, inbound QoS 2 ids,
        subscriptions."""
        self.expiry_interval = expiry_interval
        """The Session Expiry Interval, in seconds, as granted (DISCONNECT may change it)."""
        self.max_queued = max_queued
        """The most messages the queue holds (``BrokerConfig.max_queued_messages``)."""
        self.expires_at: float | None = None
        """While the client is away: when the session ends (None: connected, or never)."""
        self.will: WillMessage | None = None
        """The will of the current (or last) connection, until published or discarded."""
        self.will_at: float | None = None
        """While a will delay runs: when the will is published."""
        self.username: str | None = None
        """The user name of the last connection (the will is authorized as it)."""
        self.dropped_messages = 0
        """Messages dropped for this client: queue full, or too big for its Maximum Packet
        Size."""
        self.expired_messages = 0
        """Messages whose Message Expiry Interval ran out before they could be sent."""

    @property
    def queued_count(self) -> int:
        """Messages waiting in the queue (not yet sent)."""
        return self.state.pending_count

    def enqueue(
        self, packet: Publish, expires_at: float | None, group: str | None = None
    ) -> tuple[Delivery | None, Publish | None]:
        """Queue a message for the client: ``(the new delivery or None, the message dropped
        or None)``. When the queue is full, the oldest QoS 0 message is dropped to make room;
        if it holds none, the new message is dropped (see ``BrokerConfig``). ``group``: the
        shared subscription it came through, if any."""
        state = self.state
        pending = state.pending
        if pending is None:
            pending = state.pending = deque()
        dropped: Publish | None = None
        if len(pending) >= self.max_queued:
            if not state.queued_qos0:
                self.dropped_messages += 1
                return None, packet
            oldest = next(handle for handle in pending if not handle.packet.qos)
            pending.remove(oldest)
            state.end_publish(oldest)
            self.dropped_messages += 1
            dropped = oldest.packet
        number = state.next_number
        state.next_number = number + 1
        delivery = Delivery(packet, number, expires_at, group)
        if not packet.qos:
            state.queued_qos0 += 1
        pending.append(delivery)
        return delivery, dropped

    def purge_expired(self, now: float) -> int:
        """Drop the queued messages that expired by ``now``; returns how many."""
        pending = self.state.pending
        if not pending:
            return 0
        expired = [
            handle
            for handle in pending
            if handle.expires_at is not None and handle.expires_at <= now  # type: ignore[attr-defined]
        ]
        for handle in expired:
            pending.remove(handle)
            self.state.end_publish(handle)
        self.expired_messages += len(expired)
        return len(expired)

    def __repr__(self) -> str:
        return (
            f"<ServerSession client_id={self.client_id!r} expiry={self.expiry_interval} "
            f"in flight={self.state.inflight_count} queued={self.queued_count} "
            f"subscriptions={len(self.state.subscriptions)}>"
        )
