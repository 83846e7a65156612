"""BrokerCore: the embedded broker's state and logic, without I/O.

Theory of operation
-------------------
``BrokerCore`` is what is broker-wide: the sessions by client identifier (``ServerSession``),
the subscriptions (a ``FilterTrie`` of subscribers and shared groups), the retained messages,
the wills and every deadline (one ``TimerQueue``). Each network connection is a
``ServerConnection`` (``server.py``) that the core makes and that calls back into the core
through ``BrokerPort`` for everything that concerns more than itself.

The driver's side (the asyncio ``Broker`` owns sockets and the clock)::

    core = BrokerCore(BrokerConfig(...))
    connection = core.new_connection(now)          # a network connection was accepted
    connection.receive_data(data, now)             # bytes arrived on it
    connection.connection_lost(now)                # it ended
    connection.pause_writing() / .resume_writing(now)   # its transport's backpressure
    for c in core.connections_to_flush():          # after each input or timer
        write(c, c.data_to_send()); close(c) if c.closed
    core.get_timer() / core.handle_timer(now)      # one timer for all deadlines
    core.events_received()                         # for logs and tests

One input may change many connections (a PUBLISH fans out; a CONNECT takes over another
connection): ``connections_to_flush`` lists each connection that got bytes or was closed
since the last call, once, so the driver writes each once per input. ``publish`` injects a
message from the broker itself, ``shutdown`` ends every connection (DISCONNECT 0x8B), and
``sessions`` / ``clients`` / ``retained`` / ``stats`` are there to look at. State is in
memory only.

What a client sends never raises out of the core, and neither does a hook (its failure is a
``HookFailed`` event and a refusal); an exception that escapes anyway is a bug of the core,
and a driver should close that one connection and log it rather than stop serving.

Routing a message: the trie gives every subscription whose filter matches the topic. A
session with several matching subscriptions gets the message once, at the highest QoS they
grant, with the identifiers of all of them, and with its RETAIN flag kept if any of them asks
for that (retain as published); a subscription with no local skips messages from its own
client. A shared group (``$share/{group}/{filter}``) gives the message to one member, round
robin, preferring members that are connected; when a member's session ends, what it got
through the group and had not accepted (queued; QoS 1 without PUBACK; QoS 2 without PUBREC)
goes to another member, as MQTT 5 section 4.8.2 recommends. Each delivery has QoS =
min(published, granted). A connected client gets it at once if its Receive Maximum allows and
nothing waits before it, else it waits in the session's queue; an offline persistent session
queues QoS 1/2 (and QoS 0 with ``queue_qos0_offline``). A message with a Message Expiry
Interval carries the time it expires; it is not sent after that, and is sent with what remains
of the interval.

Wills: when an accepted connection ends without a normal DISCONNECT, its will is published at
once, or after its Will Delay Interval (MQTT 5) unless the client comes back to the session
before, or when the session ends, whichever is first. Sessions with an expiry end that long
after their connection ended; a clean start ends the old session at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Unpack

from .broker_config import Action, BrokerConfig, BrokerSettings
from .checks import check_bool, check_qos
from .enums import DisconnectReasonCode, PacketType
from .packets import Connect, Publish, Subscription, WillMessage
from .properties import NO_PROPERTIES, Properties, check_properties
from .server import (
    PUBACK_CODES,
    BrokerEvent,
    ClientConnected,
    ClientDisconnected,
    ConnectionRefused,
    HookFailed,
    MessageDropped,
    ServerConnection,
    ServerState,
    WillPublished,
    hook_verdict,
)
from .server_session import NEVER_EXPIRES, Delivery, ServerSession
from .session import Stage
from .timers import TimerQueue
from .topics import FilterTrie, matches, parse_shared_subscription, validate_topic_name

__all__ = (
    "BrokerCore",
    "BrokerEvent",
    "BrokerStats",
    "ClientConnected",
    "ClientDisconnected",
    "ConnectionRefused",
    "HookFailed",
    "MessageDropped",
    "ServerConnection",
    "ServerState",
    "WillPublished",
)

_new_tuple: Final = tuple.__new__

# Timer kinds: what a due entry of the TimerQueue is about.
_CONNECTION: Final = 0  # a connection's connect timeout or keepalive
_WILL: Final = 1  # a will whose delay ran out
_SESSION: Final = 2  # a session that expires
_QUEUE: Final = 3  # queued messages of a session that expire
_RETAINED: Final = 4  # a retained message that expires


class BrokerStats:
    """Counters since the broker core was made (read them; only the core changes them)."""

    __slots__ = (
        "connections_accepted",
        "connections_refused",
        "messages_dropped",
        "messages_expired",
        "messages_handed_over",
        "messages_received",
        "wills_published",
    )

    def __init__(self) -> None:
        self.connections_accepted = 0
        """CONNECTs accepted (CONNACK 0x00)."""
        self.connections_refused = 0
        """CONNECTs refused (a CONNACK with a failure code)."""
        self.messages_received = 0
        """Messages published: from clients (accepted), wills, and ``BrokerCore.publish``."""
        self.messages_dropped = 0
        """Deliveries dropped: a full queue, or a message above a client's Maximum Packet
        Size."""
        self.messages_expired = 0
        """Deliveries whose Message Expiry Interval ran out before they were sent."""
        self.messages_handed_over = 0
        """Messages of a shared subscription given to another member of its group because
        the session they were for ended before accepting them."""
        self.wills_published = 0
        """Wills published."""

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)}" for name in self.__slots__)
        return f"BrokerStats({shown})"


class _Subscriber:
    """One subscription of one session, as stored in the trie (or in a shared group)."""

    __slots__ = ("identifier", "session", "subscription")

    def __init__(
        self, session: ServerSession, subscription: Subscription, identifier: int | None
    ) -> None:
        self.session = session
        self.subscription = subscription  # (its QoS is the granted one)
        self.identifier = identifier


class _Target:
    """What one session gets of a message that several of its subscriptions match."""

    __slots__ = ("identifiers", "keep_retain", "qos")

    def __init__(self, subscriber: _Subscriber) -> None:
        subscription = subscriber.subscription
        self.qos = subscription.qos
        self.keep_retain = subscription.retain_as_published
        identifier = subscriber.identifier
        self.identifiers = [] if identifier is None else [identifier]

    def add(self, subscriber: _Subscriber) -> None:
        subscription = subscriber.subscription
        self.qos = max(self.qos, subscription.qos)
        self.keep_retain = self.keep_retain or subscription.retain_as_published
        if subscriber.identifier is not None:
            self.identifiers.append(subscriber.identifier)


class _SharedGroup:
    """The members of one ``$share/{group}/{filter}``: each message goes to one of them."""

    __slots__ = ("members", "next", "topic_filter")

    def __init__(self, topic_filter: str) -> None:
        self.topic_filter = topic_filter  # the whole $share/... filter
        self.members: list[_Subscriber] = []
        self.next = 0

    def choose(self, online: Mapping[str, ServerConnection]) -> _Subscriber:
        """The next member round robin, skipping those whose client is not connected (unless
        none is: then the next one, whose session queues the message)."""
        members = self.members
        count = len(members)
        start = self.next % count
        for step in range(count):
            index = (start + step) % count
            member = members[index]
            if member.session.client_id in online:
                self.next = index + 1
                return member
        self.next = start + 1
        return members[start]


class BrokerCore:
    """The embedded broker's core (see the module docstring).

    ``BrokerCore(config)`` or ``BrokerCore(**settings)`` with the fields of ``BrokerConfig``
    as keyword arguments. Raises ``TypeError`` for both, and what ``BrokerConfig`` raises for
    bad settings. Every method that takes ``now`` wants the current time in seconds on one
    monotonic clock.
    """

    def __init__(
        self, config: BrokerConfig | None = None, **settings: Unpack[BrokerSettings]
    ) -> None:
        if config is None:
            config = BrokerConfig(**settings)
        elif settings:
            raise TypeError("give either a BrokerConfig or its settings, not both")
        elif not isinstance(config, BrokerConfig):
            raise TypeError(f"config must be a BrokerConfig, got {config!r}")
        self._config = config
        self.stats = BrokerStats()
        """Counters (``BrokerStats``)."""
        self._sessions: dict[str, ServerSession] = {}
        self._online: dict[str, ServerConnection] = {}
        self._connections: dict[int, ServerConnection] = {}  # open ones, by number
        self._trie: FilterTrie[_Subscriber | _SharedGroup] = FilterTrie()
        self._subscribers: dict[tuple[str, str], _Subscriber] = {}  # (client id, filter)
        self._groups: dict[str, _SharedGroup] = {}  # by the whole $share/... filter
        self._retained: dict[str, tuple[Publish, float | None]] = {}
        self._timers: TimerQueue[tuple[int, object, float]] = TimerQueue()
        self._connection_timers: dict[ServerConnection, float] = {}
        self._dirty: dict[ServerConnection, None] = {}
        self._events: list[BrokerEvent] = []
        self._numbers = 0
        self._assigned = 0

    # ------------------------------------------------------------------ the driver's side

    @property
    def config(self) -> BrokerConfig:
        """The ``BrokerConfig``."""
        return self._config

    def new_connection(self, now: float) -> ServerConnection:
        """A network connection was accepted: its ``ServerConnection`` (``connect_timeout``
        starts now)."""
        self._numbers += 1
        connection = ServerConnection(self, self._numbers, now)
        self._connections[self._numbers] = connection
        self.schedule(connection, now + self._config.connect_timeout)
        return connection

    def connections_to_flush(self) -> list[ServerConnection]:
        """The connections that got bytes to write or were closed since the last call, each
        once, in the order they first did: write each one's ``data_to_send()``, then close
        the transport of those that are ``closed``."""
        dirty = self._dirty
        if not dirty:
            return []
        self._dirty = {}
        return list(dirty)

    def events_received(self) -> list[BrokerEvent]:
        """The events since the last call, in order."""
        events = self._events
        self._events = []
        return events

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must next be called (None: no deadline). It may be early,
        never late: ask again after every call."""
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Act on every deadline due by ``now``: keepalives and connect timeouts, will delays,
        session expiries, message expiries. Calling it early does nothing."""
        for kind, key, when in self._timers.pop_due(now):
            if kind == _CONNECTION:
                self._connection_due(key, when, now)  # type: ignore[arg-type]
            elif kind == _WILL:
                self._will_due(key, now)  # type: ignore[arg-type]
            elif kind == _SESSION:
                session: ServerSession = key  # type: ignore[assignment]
                if (
                    self._sessions.get(session.client_id) is session
                    and session.expires_at is not None
                    and session.expires_at <= now
                ):
                    self._end_session(session, now)
            elif kind == _QUEUE:
                session = key  # type: ignore[assignment]
                if self._sessions.get(session.client_id) is session:
                    self.stats.messages_expired += session.purge_expired(now)
            else:
                entry = self._retained.get(key)  # type: ignore[call-overload]
                if entry is not None and entry[1] is not None and entry[1] <= now:
                    del self._retained[key]  # type: ignore[arg-type]

    def publish(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 0,
        retain: bool = False,
        properties: Properties = NO_PROPERTIES,
        *,
        now: float,
    ) -> int:
        """Publish a message from the broker itself (no client); returns how many
        subscriptions took it. It is routed and retained as a client's would be.

        Raises ``TypeError`` / ``ValueError`` for an invalid topic name, payload, QoS or
        ``retain``, or properties that do not belong in a PUBLISH from a client (a topic
        alias, subscription identifiers).
        """
        validate_topic_name(topic)
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
        qos = check_qos(qos)
        check_bool(retain, "retain")
        properties = check_properties(properties, PacketType.PUBLISH, what="publish()")
        if properties.topic_alias is not None or properties.subscription_identifiers:
            raise ValueError("publish() takes no topic_alias nor subscription_identifiers")
        packet = Publish(topic, bytes(payload), qos, retain, False, None, properties)
        return self._route(packet, None, now)

    def shutdown(self, now: float) -> None:
        """End every connection: DISCONNECT 0x8B (Server shutting down) to MQTT 5 clients,
        then close; wills are not published (the broker is going away)."""
        for connection in list(self._connections.values()):
            connection.disconnect(DisconnectReasonCode.SERVER_SHUTTING_DOWN, now=now, will=False)

    # ------------------------------------------------------------------ inspection

    @property
    def sessions(self) -> Mapping[str, ServerSession]:
        """The sessions, by client identifier (a read-only view)."""
        return MappingProxyType(self._sessions)

    @property
    def clients(self) -> Mapping[str, ServerConnection]:
        """The connected clients' connections, by client identifier (a read-only view)."""
        return MappingProxyType(self._online)

    @property
    def retained(self) -> dict[str, Publish]:
        """The retained messages, by topic (a copy; expired ones may linger until their
        timer runs)."""
        return {topic: entry[0] for topic, entry in self._retained.items()}

    @property
    def connection_count(self) -> int:
        """How many clients are connected (accepted and not yet gone)."""
        return len(self._online)

    # ------------------------------------------------------------------ BrokerPort

    def mark(self, connection: ServerConnection) -> None:
        """(``BrokerPort``) The connection has bytes to write or was closed."""
        self._dirty[connection] = None
        if connection.state is ServerState.CLOSED:
            self._connections.pop(connection.number, None)

    def schedule(self, connection: ServerConnection, when: float) -> None:
        """(``BrokerPort``) Call ``connection.handle_timer`` at ``when`` (or earlier)."""
        scheduled = self._connection_timers.get(connection)
        if scheduled is None or when < scheduled:
            self._connection_timers[connection] = when
            self._timers.schedule(when, (_CONNECTION, connection, when))

    def report(self, event: BrokerEvent) -> None:
        """(``BrokerPort``) An event for the driver."""
        kind = type(event)
        if kind is ClientConnected:
            self.stats.connections_accepted += 1
        elif kind is ConnectionRefused:
            self.stats.connections_refused += 1
        self._events.append(event)

    def admit(self, client_id: str) -> bool:
        """(``BrokerPort``) Whether ``max_connections`` lets one more client in."""
        limit = self._config.max_connections
        return limit is None or len(self._online) < limit or client_id in self._online

    def assign_client_id(self) -> str:
        """(``BrokerPort``) A client identifier no session and no client has."""
        prefix = self._config.assigned_client_id_prefix
        while True:
            self._assigned += 1
            client_id = f"{prefix}{self._assigned}"
            if client_id not in self._sessions and client_id not in self._online:
                return client_id

    def attach(
        self,
        connection: ServerConnection,
        connect: Connect,
        client_id: str,
        expiry: int,
        now: float,
    ) -> tuple[ServerSession, bool]:
        """(``BrokerPort``) The session of an accepted connection: (session, present)."""
        old = self._online.get(client_id)
        if old is not None:
            old.take_over(now)  # (its will and its session's expiry follow the usual rules)
        session = self._sessions.get(client_id)
        if session is not None and connect.clean_start:
            self._end_session(session, now)
            session = None
        present = session is not None
        if session is None:
            session = ServerSession(
                client_id, expiry_interval=expiry, max_queued=self._config.max_queued_messages
            )
            self._sessions[client_id] = session
        else:
            session.expiry_interval = expiry
            session.expires_at = None
            # A will still waiting for its delay is not published: the client came back in
            # time (MQTT 5 section 3.1.3.2.2).
            session.will = None
            session.will_at = None
        session.will = connect.will
        session.username = connect.username
        self._online[client_id] = connection
        return session, present

    def detach(
        self, connection: ServerConnection, session: ServerSession, will: bool, now: float
    ) -> None:
        """(``BrokerPort``) An accepted connection ended."""
        # (A connected client's connection is the one registered: a new connection for its
        # client id takes the old one over, which detaches it, before registering itself.)
        del self._online[session.client_id]
        message = session.will
        session.will = None
        if message is not None and will:
            delay = message.properties.will_delay_interval or 0
            if delay and session.expiry_interval:
                session.will = message
                session.will_at = now + delay
                self._timers.schedule(session.will_at, (_WILL, session, 0.0))
            else:
                self._publish_will(session, message, now)
        if not session.expiry_interval:
            self._end_session(session, now)
        elif session.expiry_interval != NEVER_EXPIRES:
            session.expires_at = now + session.expiry_interval
            self._timers.schedule(session.expires_at, (_SESSION, session, 0.0))

    def route(self, packet: Publish, origin: str, now: float) -> int:
        """(``BrokerPort``) Publish a message from client ``origin``."""
        return self._route(packet, origin, now)

    def subscribe(
        self, session: ServerSession, subscription: Subscription, properties: Properties
    ) -> bool:
        """(``BrokerPort``) Add or replace a granted subscription; True if it replaced one."""
        topic_filter = subscription.topic_filter
        replaced = topic_filter in session.state.subscriptions
        if replaced:
            self._remove_subscriber(session, topic_filter)
        session.state.subscription_granted(subscription, properties)
        identifiers = properties.subscription_identifiers
        subscriber = _Subscriber(session, subscription, identifiers[0] if identifiers else None)
        self._subscribers[session.client_id, topic_filter] = subscriber
        if parse_shared_subscription(topic_filter)[0] is None:
            self._trie.add(topic_filter, subscriber)
        else:
            group = self._groups.get(topic_filter)
            if group is None:
                group = self._groups[topic_filter] = _SharedGroup(topic_filter)
                self._trie.add(topic_filter, group)
            group.members.append(subscriber)
        return replaced

    def send_retained(
        self,
        session: ServerSession,
        subscription: Subscription,
        identifier: int | None,
        now: float,
    ) -> None:
        """(``BrokerPort``) Deliver the retained messages matching a new subscription. They
        carry RETAIN set whatever retain as published says (MQTT-3.3.1-9)."""
        topic_filter = subscription.topic_filter
        retained = self._retained
        for topic, (message, expires_at) in list(retained.items()):
            if expires_at is not None and expires_at <= now:
                del retained[topic]
                continue
            if not matches(topic_filter, topic):
                continue
            properties = message.properties
            if identifier is not None:
                properties = dataclasses.replace(properties, subscription_identifiers=(identifier,))
            qos = min(message.qos, subscription.qos)
            delivery = _new_tuple(
                Publish, (topic, message.payload, qos, True, False, None, properties)
            )
            self._deliver(session, delivery, expires_at, now)

    def unsubscribe(self, session: ServerSession, topic_filter: str) -> bool:
        """(``BrokerPort``) Remove a subscription; False if there was none."""
        if topic_filter not in session.state.subscriptions:
            return False
        self._remove_subscriber(session, topic_filter)
        session.state.subscription_removed(topic_filter)
        return True

    def dropped(self, session: ServerSession, packet: Publish, reason: str) -> None:
        """(``BrokerPort``) A message for the session was dropped."""
        session.dropped_messages += 1
        self.stats.messages_dropped += 1
        self._events.append(MessageDropped(session.client_id, packet, reason))

    def expired(self, session: ServerSession) -> None:
        """(``BrokerPort``) A message for the session expired before it was sent."""
        session.expired_messages += 1
        self.stats.messages_expired += 1

    # ------------------------------------------------------------------ routing

    def _route(self, packet: Publish, origin: str | None, now: float) -> int:
        self.stats.messages_received += 1
        expiry = packet.properties.message_expiry_interval
        expires_at = None if expiry is None else now + expiry
        if packet.retain:
            self._retain(packet, expires_at)
        matched = self._trie.match(packet.topic)
        if not matched:
            return 0
        # Per session: the highest granted QoS, retain as published, subscription identifiers.
        targets: dict[ServerSession, _Target] = {}
        chosen: list[tuple[_Subscriber, str]] = []  # (member, its group's filter)
        for value in matched:
            if type(value) is _SharedGroup:
                chosen.append((value.choose(self._online), value.topic_filter))
                continue
            subscriber: _Subscriber = value  # type: ignore[assignment]
            subscription = subscriber.subscription
            session = subscriber.session
            if subscription.no_local and session.client_id == origin:
                continue
            target = targets.get(session)
            if target is None:
                targets[session] = _Target(subscriber)
            else:
                target.add(subscriber)
        for session, target in targets.items():
            copy = self._copy(packet, target.qos, target.keep_retain, target.identifiers)
            self._deliver(session, copy, expires_at, now)
        for subscriber, group in chosen:
            self._deliver_shared(subscriber, packet, expires_at, group, now)
        return len(targets) + len(chosen)

    def _deliver_shared(
        self,
        subscriber: _Subscriber,
        packet: Publish,
        expires_at: float | None,
        group: str,
        now: float,
    ) -> None:
        """Deliver to the member of a shared group that ``choose`` picked."""
        subscription = subscriber.subscription
        identifier = subscriber.identifier
        copy = self._copy(
            packet,
            subscription.qos,
            subscription.retain_as_published,
            [] if identifier is None else [identifier],
        )
        self._deliver(subscriber.session, copy, expires_at, now, group)

    @staticmethod
    def _copy(packet: Publish, qos: int, keep_retain: bool, identifiers: list[int]) -> Publish:
        """The message as one session gets it: QoS = min(published, granted), RETAIN only if
        retain as published, its subscription identifiers (replacing any it had)."""
        properties = packet.properties
        if identifiers or properties.subscription_identifiers:
            properties = dataclasses.replace(
                properties, subscription_identifiers=tuple(identifiers)
            )
        return _new_tuple(
            Publish,
            (
                packet.topic,
                packet.payload,
                packet.qos if packet.qos < qos else qos,
                packet.retain and keep_retain,
                False,
                None,
                properties,
            ),
        )

    def _deliver(
        self,
        session: ServerSession,
        packet: Publish,
        expires_at: float | None,
        now: float,
        group: str | None = None,
    ) -> None:
        connection = self._online.get(session.client_id)
        if connection is not None:
            if connection.can_send_now(packet.qos):
                connection.send_message(packet, expires_at, now, group)
                return
        elif not packet.qos and not self._config.queue_qos0_offline:
            return
        delivery, dropped = session.enqueue(packet, expires_at, group)
        if dropped is not None:
            self.stats.messages_dropped += 1
            self._events.append(MessageDropped(session.client_id, dropped, "queue full"))
        if delivery is not None and expires_at is not None:
            self._timers.schedule(expires_at, (_QUEUE, session, 0.0))

    def _retain(self, packet: Publish, expires_at: float | None) -> None:
        topic = packet.topic
        if not packet.payload:  # an empty retained message clears the topic (MQTT-3.3.1-6)
            self._retained.pop(topic, None)
            return
        stored = _new_tuple(
            Publish,
            (topic, packet.payload, packet.qos, True, False, None, packet.properties),
        )
        self._retained[topic] = (stored, expires_at)
        if expires_at is not None:
            self._timers.schedule(expires_at, (_RETAINED, topic, 0.0))

    def _remove_subscriber(self, session: ServerSession, topic_filter: str) -> None:
        subscriber = self._subscribers.pop((session.client_id, topic_filter))
        if parse_shared_subscription(topic_filter)[0] is None:
            self._trie.remove(topic_filter, subscriber)
            return
        group = self._groups[topic_filter]
        group.members.remove(subscriber)
        if not group.members:
            del self._groups[topic_filter]
            self._trie.remove(topic_filter, group)

    # ------------------------------------------------------------------ sessions and wills

    def _end_session(self, session: ServerSession, now: float) -> None:
        """The session ends: its subscriptions go, a will waiting for its delay is published
        now (MQTT 5 section 3.1.3.2.2), its queue is dropped."""
        # (Only a registered session ends: a timer checks first, and a connection's session
        # is registered until it ends.)
        del self._sessions[session.client_id]
        for topic_filter in list(session.state.subscriptions):
            self._remove_subscriber(session, topic_filter)
        self._hand_over(session, now)
        session.expires_at = None
        message = session.will
        if message is not None and session.will_at is not None:
            session.will = None
            session.will_at = None
            self._publish_will(session, message, now)

    def _hand_over(self, session: ServerSession, now: float) -> None:
        """The session ends: the messages it got through a shared subscription and had not
        accepted (queued, or QoS 1 / QoS 2 written without PUBACK / PUBREC) go to another
        member of their group, if one is left (MQTT 5 section 4.8.2). A QoS 2 message whose
        PUBREC came is the client's: it is not handed over."""
        state = session.state
        handles = [
            handle
            for handle in (*state.outgoing.values(), *(state.pending or ()))
            if handle.stage is not Stage.AWAITING_PUBCOMP
        ]
        for handle in handles:
            delivery: Delivery = handle
            group = None if delivery.group is None else self._groups.get(delivery.group)
            if group is None:
                continue
            state.end_publish(handle)
            member = group.choose(self._online)
            self.stats.messages_handed_over += 1
            self._deliver_shared(
                member, delivery.packet, delivery.expires_at, group.topic_filter, now
            )

    def _will_due(self, session: ServerSession, now: float) -> None:
        message = session.will
        if message is not None and session.will_at is not None and session.will_at <= now:
            session.will = None
            session.will_at = None
            self._publish_will(session, message, now)

    def _publish_will(self, session: ServerSession, message: WillMessage, now: float) -> None:
        authorize = self._config.authorize
        if authorize is not None:
            code, error = hook_verdict(
                authorize,
                PUBACK_CODES,
                session.client_id,
                session.username,
                Action.PUBLISH,
                message.topic,
            )
            if error is not None:
                self._events.append(HookFailed("authorize", error, session.client_id))
            if code:
                return
        properties = message.properties
        if properties.will_delay_interval is not None:
            properties = dataclasses.replace(properties, will_delay_interval=None)
            if not properties:
                properties = NO_PROPERTIES
        packet = Publish(
            message.topic, message.payload, message.qos, message.retain, False, None, properties
        )
        self.stats.wills_published += 1
        self._events.append(WillPublished(session.client_id, packet))
        self._route(packet, session.client_id, now)

    def _connection_due(self, connection: ServerConnection, when: float, now: float) -> None:
        if self._connection_timers.get(connection) != when:
            return  # superseded by an earlier entry for the same connection
        del self._connection_timers[connection]
        if connection.closed:
            return
        connection.handle_timer(now)
        if not connection.closed:
            deadline = connection.deadline()
            if deadline is not None:
                self.schedule(connection, deadline)

    def __repr__(self) -> str:
        return (
            f"<BrokerCore clients={len(self._online)} sessions={len(self._sessions)} "
            f"retained={len(self._retained)}>"
        )
