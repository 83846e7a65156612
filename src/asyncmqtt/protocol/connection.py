"""ClientConnection: the MQTT client state machine of one network connection, without I/O.

Theory of operation
-------------------
Three things make up a client: its configuration (``ClientConfig``, immutable), its session
(``Session``: what outlives a network connection) and the network connection itself. A
``ClientConnection`` is the last: it reads the configuration, works on the session it is
given, and holds what dies with the connection (the decoder, keepalive timestamps, topic
aliases in both directions, SUBSCRIBE / UNSUBSCRIBE in flight, inbound messages waiting for
their acknowledgement). A reconnect or the 5.0 -> 3.1.1 fallback hands the same session to a
new ``ClientConnection``; ``connect`` may also be called again on the same object, which then
starts afresh with the session it holds.

The driving layer owns the socket and the clock and does five things:

* calls a command (``connect``, ``publish``, ``subscribe``, ``unsubscribe``, ``disconnect``,
  ``acknowledge``, ``reauthenticate``): it validates its arguments, raises ``TypeError`` /
  ``ValueError`` at once for local misuse (leaving the state untouched), and queues bytes;
* feeds what the network delivered to ``receive_data`` / ``receive_eof``;
* takes the session's records (``session.take_records()``) and stores them, *then* writes
  ``data_to_send()`` to the network, then handles ``events_received()``;
* calls ``handle_timer(now)`` when ``get_timer()`` says so (keepalive).

Time is always passed in (``now``, in seconds, from any monotonic clock), so every timing rule
is deterministic and testable offline.

Errors caused by the peer never escape ``receive_data``: the connection queues a DISCONNECT
with the right reason code (MQTT 5; MQTT 3.1.x has none and just closes), moves to ``CLOSED``
and emits ``Disconnected(error=...)``. The driving layer closes the transport when it sees
``Disconnected``, after writing what ``data_to_send()`` still holds.

Resuming a session (CONNACK with session present): each outgoing flow is resent in the order it
was first written (PUBLISH with DUP=1, or PUBREL once PUBREC came), within the broker's
Receive Maximum of *this* connection; the rest wait at the head of the pending queue and go
out, still with their packet ids, as acknowledgements free slots. A flow that the broker's
limits of this connection no longer allow (a PUBLISH above its Maximum Packet Size, a QoS
above its Maximum QoS) ends with ``PublishFailed`` naming the limit; the others resume. When
the broker has no session for us, ``SessionLostPolicy`` decides, explicitly, what happens to
the flows in flight.

Topic aliases we send: with ``outgoing_topic_aliases`` the connection gives the topics it
publishes aliases, up to the broker's Topic Alias Maximum of this connection (from CONNACK).
A topic's first PUBLISH carries the topic and its new alias (binding it at the broker), the
later ones the alias and an empty topic name; once every alias is taken, a new topic takes the
alias of the least recently published one. Topics of three characters or fewer get none (the
alias would save nothing). Aliases belong to one network connection (MQTT 5.0, 3.3.2.3.4), so
the table starts empty on each; a resent PUBLISH always carries its full topic and no alias.
Without the option an application may give ``topic_alias`` itself; with it, the client alone
assigns them.

Acknowledging what we receive: by default a QoS 1/2 PUBLISH is acknowledged as it is decoded.
With ``ClientConfig(manual_ack=True)`` the driving layer calls ``acknowledge`` when the
application is done with the message; PUBACK / PUBREC still leave in the order the messages
arrived, as MQTT requires (an early acknowledgement of a later message waits for the earlier
ones). A QoS 2 message acknowledged after its network connection ended is remembered in the
session, so that its retransmission on the next connection is answered, not delivered again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from enum import Enum
from typing import Final, Unpack

from ..errors import (
    ConnectionLostError,
    MqttCodeError,
    MqttError,
    ProtocolError,
    ProtocolViolationError,
    ReceiveMaximumExceededError,
    SessionLostError,
    TopicAliasInvalidError,
)
from .checks import check_qos
from .codec import (
    MAX_PACKET_SIZE,
    Decoder,
    encode,
    encode_checked_publish,
    encode_publish_with_alias,
)
from .config import (
    Authenticator,
    ClientConfig,
    ClientSettings,
    SessionLostPolicy,
    replace_properties,
)
from .enums import (
    AuthReasonCode,
    DisconnectReasonCode,
    PubRelReasonCode,
)
from .events import (
    Connected,
    Disconnected,
    Event,
    MessageReceived,
    PublishCompleted,
    PublishFailed,
    Reauthenticated,
    ReceiveMaximumExceeded,
    ServerSettings,
    SubscribeCompleted,
    SubscriptionsRestored,
    UnsubscribeCompleted,
)
from .packets import (
    PACKET_TYPES,
    Auth,
    ConnAck,
    Disconnect,
    Packet,
    PingReq,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
)
from .properties import NO_PROPERTIES, Properties
from .session import (  # (the _-named ones: Stage members as module constants)
    _AWAITING_PUBACK,
    _AWAITING_PUBCOMP,
    _AWAITING_PUBREC,
    _DONE,
    _PENDING,
    MAX_PACKET_ID,
    InboundQoS2Received,
    InboundQoS2Released,
    PublishAccepted,
    PublishEnded,
    PublishHandle,
    PublishReleased,
    PublishSent,
    PublishUnsent,
    Session,
)
from .topics import parse_shared_subscription, validate_topic_filter, validate_topic_name

__all__ = (
    "Authenticator",
    "ClientConnection",
    "ConnectionState",
    "PublishHandle",
    "SessionLostPolicy",
)

# A PUBLISH without properties whose payload is below this always fits in a packet (the
# largest remaining length less the longest topic, packet id and property length), whatever
# its topic, so a queued publish needs no trial encoding when the broker sets no size limit.
_SURELY_ENCODABLE_PAYLOAD: Final = 268_435_455 - (2 + 65_535) - 2 - 1
# Topic names already validated, shared by every connection of the process: validating is
# most of the cost of a small publish, and a publisher mostly repeats a few topics. Bounded.
_VALID_TOPICS: Final[set[str]] = set()
_VALID_TOPIC_CACHE_SIZE: Final = 1024
# Builds a NamedTuple from a tuple of all its fields, skipping the Python-level ``__new__``
# that calling the class runs: used for the few tuples made for every message.
_new_tuple: Final = tuple.__new__
# PUBACK, Success, no properties (the same in every version) as an int: ``(_PUBACK | packet_id)
# .to_bytes(4)`` is the packet, made in one step instead of concatenating two bytes objects.
_PUBACK: Final = 0x4002 << 16
_PUBREC: Final = b"\x50\x02"
# The bytes a Topic Alias property takes: a topic name no longer than this gets no automatic
# alias (sending the alias instead of the name would save nothing).
_ALIAS_SIZE: Final = 3


class ConnectionState(Enum):
    """Where a ``ClientConnection`` is (its ``state``); the value is the text error messages use."""

    IDLE = "idle"
    """No network connection yet: ``connect`` has not been called."""
    CONNECTING = "connecting"
    """CONNECT sent, waiting for CONNACK (possibly through an AUTH exchange)."""
    CONNECTED = "connected"
    """CONNACK accepted the connection: every command works."""
    CLOSED = "closed"
    """The network connection is over; ``connect`` may start a new one, with the session."""


# The enum members the hot paths compare with, as module constants: an attribute of an Enum
# class costs several times a global's, since its metaclass defines ``__getattr__`` (Python
# 3.11), and a QoS 1 message took about ten such lookups.
_IDLE: Final = ConnectionState.IDLE
_CONNECTING: Final = ConnectionState.CONNECTING
_CONNECTED: Final = ConnectionState.CONNECTED
_CLOSED: Final = ConnectionState.CLOSED
# (The Stage members likewise, imported from session.py.)


class ClientConnection:
    """The client side of MQTT 3.1, 3.1.1 and 5.0 over one network connection.

    ``ClientConnection(config, session)``; or ``ClientConnection(**settings)`` with the fields
    of ``ClientConfig`` as keyword arguments, for a new session.

    ``config`` is the ``ClientConfig``; ``session`` the ``Session`` to work on (default None:
    a new one, with the configured client identifier). Raises ``TypeError`` for both a
    ``config`` and settings, or for arguments of the wrong type, and what ``ClientConfig``
    raises for bad settings.

    Every method that takes ``now`` wants the current time in seconds, read from any monotonic
    clock (``time.monotonic()``, ``loop.time()``), the same clock for every call: the engine
    never reads a clock itself, and ``get_timer`` answers on that clock. The commands raise
    ``TypeError`` / ``ValueError`` for local misuse before anything changes, and ``MqttError``
    when the state does not allow them (``subscribe`` while not connected, ...).
    """

    # Slots: with over 30 attributes an instance dict is not key-shared and costs 1.5 KB.
    __slots__ = (
        "_acked",
        "_automatic_aliases",
        "_decoder",
        "_effective_keep_alive",
        "_events",
        "_inbound_aliases",
        "_inbound_qos2",
        "_last_received",
        "_last_sent",
        "_manual_ack",
        "_out",
        "_outbound_aliases",
        "_outgoing",
        "_ping_deadline",
        "_reauthenticating",
        "_receive_maximum",
        "_resends",
        "_restoring",
        "_sent_clean_start",
        "_subscribes",
        "_unacked",
        "_unsubscribes",
        "_v5",
        "config",
        "number",
        "protocol_version",
        "server",
        "session",
        "session_lost",
        "state",
    )

    def __init__(
        self,
        config: ClientConfig | None = None,
        session: Session | None = None,
        **settings: Unpack[ClientSettings],
    ) -> None:
        if config is None:
            config = ClientConfig(**settings)
        elif settings:
            raise TypeError("give either a ClientConfig or its settings, not both")
        elif not isinstance(config, ClientConfig):
            raise TypeError(f"config must be a ClientConfig, got {config!r}")
        if session is None:
            session = Session(client_id=config.client_id)
        elif not isinstance(session, Session):
            raise TypeError(f"session must be a Session, got {session!r}")
        self.config = config
        """The ``ClientConfig``: the settings of the session, as given or made from the
        settings."""
        self.session = session
        """The ``Session`` this connection works on, handed on to the next connection."""
        self.protocol_version = config.protocol_version
        """The MQTT version this connection speaks (``config.protocol_version``)."""
        self.state = _IDLE
        """Where the connection is (a ``ConnectionState``)."""
        self.server = ServerSettings()
        """What the broker announced in the last CONNACK (``ServerSettings``; its defaults
        before the first)."""
        self.number = 0
        """Which of the session's network connections this is: 1 for its first, and so on,
        set by ``connect``; 0 before. ``acknowledge`` takes it to tell connections apart."""
        self.session_lost = False
        """Set by CONNACK: True when we asked to resume a session and the broker had none any
        more (its ``SessionLostPolicy`` then applied); False otherwise."""
        self._v5 = config.v5
        self._manual_ack = config.manual_ack
        self._automatic_aliases = config.v5 and config.outgoing_topic_aliases
        # (The session's own containers: the hot path reads them often.)
        self._outgoing = session.outgoing
        self._inbound_qos2 = session.inbound_qos2
        self._receive_maximum = config.receive_maximum
        self._decoder = self._new_decoder()
        self._out: list[bytes] = []
        self._events: list[Event] = []
        self._sent_clean_start = False
        # SUBSCRIBE / UNSUBSCRIBE in flight: packet id -> what they asked for.
        self._subscribes: dict[int, tuple[tuple[Subscription, ...], Properties]] = {}
        self._unsubscribes: dict[int, tuple[str, ...]] = {}
        # Resends waiting at the head of the pending queue for a Receive Maximum slot.
        self._resends = 0
        self._restoring: set[int] = set()  # SUBSCRIBEs that restore the session's subscriptions
        # Manual acknowledgements: (packet id, QoS) in arrival order, and the ids acknowledged
        # but held back behind earlier ones.
        self._unacked: deque[tuple[int, int]] = deque()
        self._acked: set[int] = set()
        self._inbound_aliases: dict[int, str] = {}
        self._outbound_aliases: dict[str, int] = {}
        self._effective_keep_alive = config.keep_alive
        self._last_sent = 0.0
        self._last_received = 0.0
        self._ping_deadline: float | None = None
        self._reauthenticating = False

    # ------------------------------------------------------------------ settings and counts

    @property
    def client_id(self) -> str:
        """The client identifier: the session's once it started (the broker may assign one)."""
        session = self.session
        return session.client_id if session.started else self.config.client_id

    @property
    def keep_alive(self) -> int:
        """The keepalive we asked for, in seconds (``config.keep_alive``); the broker's
        ``server.server_keep_alive``, when it sent one, is the one the timer uses."""
        return self.config.keep_alive

    @property
    def receive_maximum(self) -> int:
        """Our Receive Maximum (``config.receive_maximum``): how many unacknowledged QoS 1/2
        messages the broker may send us at once."""
        return self.config.receive_maximum

    @property
    def inflight_count(self) -> int:
        """Outgoing QoS 1/2 publishes written and not yet acknowledged."""
        return len(self._outgoing)

    @property
    def pending_count(self) -> int:
        """Publishes waiting to be written: for a slot under the Receive Maximum, or for the
        connection (QoS 1/2, and QoS 0 with ``queue_qos0_offline``)."""
        return self.session.pending_count

    # ------------------------------------------------------------------ outputs

    def data_to_send(self) -> bytes:
        """Everything queued for the network since the last call, in order."""
        out = self._out
        if not out:
            return b""
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    def events_received(self) -> list[Event]:
        """Events since the last call, in order."""
        events = self._events
        self._events = []
        return events

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must next be called, or None when no timer is needed.

        The time is on the clock of the ``now`` values the connection was given, in seconds.
        Ask again after every call: each may change it.
        """
        if self.state is not _CONNECTED or not self._effective_keep_alive:
            return None
        if self._ping_deadline is not None:
            return self._ping_deadline
        # (A conditional, not min(): that builtin costs as much as a dozen lines here, and this
        # runs after every read and write.)
        sent, received = self._last_sent, self._last_received
        return (sent if sent < received else received) + self._effective_keep_alive

    def handle_timer(self, now: float) -> None:
        """Send PINGREQ when the link has been quiet, fail it when PINGRESP does not come.

        ``now``: the current time (seconds, the connection's clock). Calling it early does
        nothing. When the broker has not answered a PINGREQ within half a keepalive, the
        connection ends with ``Disconnected(ConnectionLostError)``.
        """
        deadline = self.get_timer()
        if deadline is None or now < deadline:
            return
        if self._ping_deadline is not None:
            self._close(
                ConnectionLostError(
                    f"the broker did not answer PINGREQ within {self._ping_timeout():g} s "
                    "(keepalive timeout)"
                )
            )
            return
        self._send(PingReq(), now)
        self._ping_deadline = now + self._ping_timeout()

    def _ping_timeout(self) -> float:
        # Half a keepalive: a dead broker is noticed at most 1.5 keepalives after it went quiet.
        return self._effective_keep_alive / 2

    # ------------------------------------------------------------------ commands

    def connect(self, now: float) -> None:
        """Start the MQTT connection on a new network connection: queue CONNECT.

        ``now``: the current time (seconds, the connection's clock). Call it once the network
        connection is open, on a new ``ClientConnection`` or on one that is ``CLOSED`` (it
        then starts afresh with the session it holds). Raises ``MqttError`` while
        ``CONNECTING`` or ``CONNECTED``; what the authenticator's ``initial_data`` raises
        propagates. The outcome comes as ``Connected`` or ``Disconnected``.
        """
        if self.state in (_CONNECTING, _CONNECTED):
            raise MqttError(f"connect() while {self.state.value}: the connection is in use")
        config = self.config
        authenticator = config.authenticator
        # (Asked first: what it raises leaves the connection as it was.)
        auth_data = None if authenticator is None else authenticator.initial_data()
        self.state = _CONNECTING
        session = self.session
        session.connections += 1
        self.number = session.connections
        # Bytes never written on an old connection are dropped: the session resend after
        # CONNACK covers every publish they held. SUBSCRIBE and UNSUBSCRIBE are not resent
        # (MQTT resends only PUBLISH and PUBREL), so their packet ids are free again; the driving
        # layer failed their callers when the old connection ended.
        self._out = []
        self._subscribes.clear()
        self._unsubscribes.clear()
        self._restoring.clear()
        self._unacked.clear()
        self._acked.clear()
        self._decoder = self._new_decoder()
        self._inbound_aliases = {}
        self._outbound_aliases = {}
        self._effective_keep_alive = self.config.keep_alive
        self._ping_deadline = None
        self._last_received = now
        self._reauthenticating = False
        self._drop_waiting_resends()
        packet = config.connect_packet
        if authenticator is not None:
            packet = packet._replace(
                properties=replace_properties(
                    packet.properties,
                    authentication_method=authenticator.method,
                    authentication_data=auth_data,
                )
            )
        if self.client_id != packet.client_id:  # the broker assigned one, or a store held one
            packet = packet._replace(client_id=self.client_id)
        if session.started and config.resumes_after_first:
            packet = packet._replace(clean_start=False)
        self._sent_clean_start = packet.clean_start
        self._send(packet, now)

    def _drop_waiting_resends(self) -> None:
        """Resends that waited for a slot on an old connection: CONNACK decides anew."""
        self._resends = 0
        pending = self.session.pending
        if pending and any(handle.packet_id is not None for handle in pending):
            self.session.pending = deque(h for h in pending if h.packet_id is None)

    def publish(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 0,
        retain: bool = False,
        properties: Properties = NO_PROPERTIES,
        *,
        now: float,
    ) -> PublishHandle | None:
        """Publish a message; returns a ``PublishHandle``, or None for QoS 0 written at once.

        QoS 1 and 2 are queued when the broker's Receive Maximum is reached or when not
        connected, and written when a slot frees up; their outcome comes as
        ``PublishCompleted`` or ``PublishFailed``. QoS 0 needs a connection, unless
        ``queue_qos0_offline``: then it is queued too (behind what waits, in order), and
        ``PublishCompleted`` says when it was written.

        ``topic``: the topic name. ``payload``: the bytes (a ``bytearray`` or ``memoryview``
        is copied; default empty). ``qos``: 0, 1 or 2 (default 0). ``retain``: whether the
        broker keeps the message for future subscribers (default False). ``properties``: the
        PUBLISH properties (MQTT 5; default none). ``now`` (keyword only): the current time
        (seconds, the connection's clock).

        Raises ``TypeError`` for arguments of the wrong type; ``ValueError`` for an invalid
        topic name, a QoS above the broker's maximum, ``retain`` the broker does not support,
        properties that do not belong in PUBLISH or need MQTT 5 (subscription identifiers, a
        topic alias above the broker's maximum, ...), or a packet above the broker's Maximum
        Packet Size; ``MqttError`` for QoS 0 while not connected without
        ``queue_qos0_offline``.
        """
        if topic not in _VALID_TOPICS:
            validate_topic_name(topic)
            if len(_VALID_TOPICS) < _VALID_TOPIC_CACHE_SIZE:
                _VALID_TOPICS.add(topic)
        if type(payload) is not bytes:
            if not isinstance(payload, bytes | bytearray | memoryview):
                raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
            payload = bytes(payload)
        if type(qos) is not int or not 0 <= qos <= 2:
            check_qos(qos)
        if type(retain) is not bool:
            raise TypeError(f"retain must be a bool, got {retain!r}")
        server = self.server
        if qos > server.maximum_qos:
            raise ValueError(
                f"qos={qos} is above the broker's maximum QoS {server.maximum_qos} (from CONNACK)"
            )
        if retain and not server.retain_available:
            raise ValueError("retain=True, but the broker does not support retained messages")
        if properties is not NO_PROPERTIES:
            self._check_publish_properties(properties)
        packet: Publish = _new_tuple(
            Publish, (topic, payload, qos, retain, False, None, properties)
        )
        session = self.session
        if qos == 0:
            if self.state is _CONNECTED and not session.queued_qos0:
                self._out.append(self._encode_publish(packet))
                self._last_sent = now
                return None
            if not self.config.queue_qos0_offline:
                raise MqttError(f"cannot publish with QoS 0 while {self.state.value}")
            # Offline (or behind QoS 0 messages that were): it waits in the queue, in order.
            self._encode_publish(packet, aliases=False)
            number = session.next_number
            session.next_number = number + 1
            handle = PublishHandle(packet, number)
            session.queued_qos0 += 1
            if session.pending is None:
                session.pending = deque()
            session.pending.append(handle)
            return handle
        pending = session.pending
        queue = (
            pending  # (first: a busy publisher mostly finds others waiting)
            or self.state is not _CONNECTED
            # (No Receive Maximum slot: two comparisons, cheaper than min() of the limits.)
            or len(self._outgoing) >= server.receive_maximum
            or len(self._outgoing) >= self.config.max_inflight
        )
        # No Receive Maximum slot: it is queued, but what writing it later would raise is
        # raised now. A PUBLISH without properties and limits is surely encodable: no trial.
        if queue and (
            properties is not NO_PROPERTIES
            or server.maximum_packet_size is not None
            or len(payload) >= _SURELY_ENCODABLE_PAYLOAD
        ):
            self._encode_publish(packet._replace(packet_id=1), aliases=False)
        # The publish enters the session, numbered for its records.
        number = session.next_number
        session.next_number = number + 1
        handle = PublishHandle(packet, number)
        if not queue:
            # (Recorded by the write, once it has encoded: a PUBLISH it refuses, above the
            # broker's Maximum Packet Size say, must not enter the session's records.)
            self._write_publish(handle, now, accepted=True)
            return handle
        if session.recording:
            session.records.append(PublishAccepted(number, packet))
        if pending is None:
            session.pending = deque((handle,))
        else:
            pending.append(handle)
        return handle

    def withdraw(self, handle: PublishHandle) -> bool:
        """Remove a publish that has not been written yet; False if it is already written.

        ``handle``: what ``publish`` returned. A withdrawn publish ends (``handle.done``; its
        end is recorded) without any event, and the broker never sees it. One already written
        stays in the session: only its acknowledgement ends it.
        """
        if handle.written:
            return False
        assert self.session.pending is not None  # (an unwritten publish is in the queue)
        self.session.pending.remove(handle)
        self.session.end_publish(handle)
        return True

    def subscribe(
        self,
        subscriptions: Sequence[Subscription],
        properties: Properties = NO_PROPERTIES,
        *,
        now: float,
    ) -> int:
        """Send SUBSCRIBE; returns its packet id (``SubscribeCompleted`` carries the result).

        Each filter the broker grants is kept in the session's subscriptions, with these
        options and properties (its subscription identifier among them).

        ``subscriptions``: one or more ``Subscription`` values (filter and options).
        ``properties``: the SUBSCRIBE properties (MQTT 5: at most one subscription identifier,
        user properties; default none). ``now`` (keyword only): the current time (seconds,
        the connection's clock).

        Raises ``MqttError`` while not connected (or when every packet id is in use);
        ``TypeError`` for something that is not a ``Subscription``; ``ValueError`` for no
        subscription, an invalid filter or QoS, a shared or wildcard subscription or a
        subscription identifier the broker does not support, ``no_local`` on a shared
        subscription, more than one subscription identifier, or a packet above the broker's
        Maximum Packet Size.
        """
        self._require_connected("subscribe")
        if not subscriptions:
            raise ValueError("subscribe needs at least one topic filter")
        server = self.server
        for sub in subscriptions:
            if not isinstance(sub, Subscription):
                raise TypeError(f"expected a Subscription, got {sub!r}")
            validate_topic_filter(sub.topic_filter)
            check_qos(sub.qos)
            group, inner = parse_shared_subscription(sub.topic_filter)
            if group is not None and not server.shared_subscription_available:
                raise ValueError(
                    f"{sub.topic_filter!r} is a shared subscription, "
                    "which the broker does not support"
                )
            if ("+" in inner or "#" in inner) and not server.wildcard_subscription_available:
                raise ValueError(
                    f"{sub.topic_filter!r} has a wildcard, which the broker does not support"
                )
            if group is not None and sub.no_local:
                raise ValueError(f"no_local cannot be set on a shared subscription: {sub!r}")
        if properties.subscription_identifiers:
            if len(properties.subscription_identifiers) > 1:
                raise ValueError("SUBSCRIBE carries at most one subscription identifier")
            if not server.subscription_identifier_available:
                raise ValueError("the broker does not support subscription identifiers")
        packet_id = self._allocate_packet_id()
        subscriptions = tuple(subscriptions)
        self._send(Subscribe(packet_id, subscriptions, properties), now)
        self._subscribes[packet_id] = (subscriptions, properties)
        return packet_id

    def unsubscribe(
        self,
        topic_filters: Sequence[str],
        properties: Properties = NO_PROPERTIES,
        *,
        now: float,
    ) -> int:
        """Send UNSUBSCRIBE; returns its packet id (``UnsubscribeCompleted`` carries the result).

        ``topic_filters``: one or more filters, as they were subscribed. ``properties``: the
        UNSUBSCRIBE properties (MQTT 5: user properties; default none). ``now`` (keyword
        only): the current time (seconds, the connection's clock). The filters the broker
        removes leave the session's subscriptions when UNSUBACK comes.

        Raises ``MqttError`` while not connected (or when every packet id is in use);
        ``ValueError`` for no filter, an invalid filter or a packet above the broker's Maximum
        Packet Size; ``TypeError`` for a filter that is not a ``str``.
        """
        self._require_connected("unsubscribe")
        if not topic_filters:
            raise ValueError("unsubscribe needs at least one topic filter")
        for topic_filter in topic_filters:
            validate_topic_filter(topic_filter)
        packet_id = self._allocate_packet_id()
        topic_filters = tuple(topic_filters)
        self._send(Unsubscribe(packet_id, topic_filters, properties), now)
        self._unsubscribes[packet_id] = topic_filters
        return packet_id

    def acknowledge(self, packet_id: int, qos: int, connection: int, now: float) -> None:
        """The application is done with a QoS 1/2 message (``manual_ack`` only).

        ``packet_id`` and ``qos`` are the message's (``publish.packet_id``, ``publish.qos`` of
        its ``MessageReceived``); ``connection`` is the ``number`` of the connection the
        message came on; ``now``: the current time (seconds, the connection's clock). PUBACK
        or PUBREC is queued once every message that arrived before it is acknowledged too. A
        message from an earlier connection cannot be acknowledged there any more: the broker
        sends it again if it kept the session (a QoS 2 message is then answered, not delivered
        twice); otherwise there is nothing to do.

        Raises ``ValueError`` without ``manual_ack``, and for a packet id of this connection
        that no received message awaiting acknowledgement has (acknowledged twice, say).
        """
        if not self._manual_ack:
            raise ValueError("acknowledge() needs manual_ack=True: messages are acknowledged")
        session = self.session
        if connection != self.number or self.state is not _CONNECTED:
            held = session.inbound_unacked.get(packet_id) if qos == 2 else None
            if held is None or held[0] != connection:
                return  # gone with its session, or a QoS 1 message the broker will resend
            if (
                connection == self.number
                or self.state is not _CONNECTED
                or (packet_id, 2) not in self._unacked
            ):
                held[1] = True  # answered when its retransmission comes
                return
            # Its retransmission arrived on this connection: acknowledge that one.
        unacked = self._unacked
        if unacked and unacked[0][0] == packet_id and not self._acked:  # in order: the usual
            unacked.popleft()
            self._send_ack(packet_id, qos)
            self._last_sent = now
            return
        if not any(entry[0] == packet_id for entry in unacked):
            raise ValueError(f"no received message with packet id {packet_id} awaits acknowledging")
        self._acked.add(packet_id)
        self._flush_acks(now)

    def acknowledge_first(self, count: int, now: float) -> None:
        """Acknowledge the ``count`` oldest unacknowledged messages of this connection
        (``manual_ack`` only): what a driver that delivers in arrival order calls once per
        batch, instead of ``acknowledge`` per message.

        ``count`` must not exceed the messages received and not yet acknowledged (this is not
        checked: it is the driver's hot path), and does not count the messages acknowledged
        meanwhile with ``acknowledge`` (a driver may take some messages out of order, such as
        responses to its requests): those go as soon as every message before them has gone.
        ``now``: the current time (seconds, the connection's clock). Does nothing unless
        connected: the broker sends them again, if it kept the session.
        """
        if self.state is not _CONNECTED:
            return  # (the broker resends them, if it kept the session)
        unacked = self._unacked
        out = self._out
        acked = self._acked
        for _ in range(count):
            packet_id, qos = unacked.popleft()
            if qos == 1:
                out.append((_PUBACK | packet_id).to_bytes(4))
            else:
                self._send_ack(packet_id, 2)
            if acked:
                # Messages acknowledged early (``acknowledge``) that are now the oldest go
                # too, so that ``count`` goes on counting only the messages it means.
                self._flush_acks(now)
        self._last_sent = now

    def _flush_acks(self, now: float) -> None:
        unacked, acked = self._unacked, self._acked
        while unacked and unacked[0][0] in acked:
            packet_id, qos = unacked.popleft()
            acked.discard(packet_id)
            self._send_ack(packet_id, qos)
            self._last_sent = now

    def _send_ack(self, packet_id: int, qos: int) -> None:
        if qos == 1:
            self._out.append((_PUBACK | packet_id).to_bytes(4))
            return
        session = self.session
        session.inbound_unacked.pop(packet_id, None)
        if packet_id not in session.inbound_qos2:
            session.inbound_qos2.add(packet_id)
            if session.recording:
                session.records.append(InboundQoS2Received(packet_id))
        self._out.append(_PUBREC + packet_id.to_bytes(2))

    def disconnect(
        self,
        reason_code: int = DisconnectReasonCode.NORMAL_DISCONNECTION,
        properties: Properties = NO_PROPERTIES,
        *,
        now: float,
    ) -> None:
        """Queue DISCONNECT and end the network connection (the session stays for a reconnect).

        ``reason_code``: a ``DisconnectReasonCode`` (default 0x00, Normal disconnection; 0x04
        asks the broker to publish the will all the same). ``properties``: the DISCONNECT
        properties (MQTT 5; default none), such as a new ``session_expiry_interval``. ``now``
        (keyword only): the current time (seconds, the connection's clock). The state becomes
        ``CLOSED`` and ``Disconnected(None, ...)`` is reported at once.

        Raises ``MqttError`` while not connected; ``ValueError`` for a code that is not a
        DISCONNECT reason code, a code or properties with MQTT 3.1.x, or a
        ``session_expiry_interval`` when CONNECT set none (the specification forbids it).
        """
        if self.state is not _CONNECTED:
            raise MqttError(f"cannot disconnect while {self.state.value}")
        if not self._v5 and (reason_code or properties):
            raise ValueError("a DISCONNECT reason code and properties need MQTT 5.0")
        try:
            reason_code = DisconnectReasonCode(reason_code)
        except ValueError:
            raise ValueError(
                f"reason_code={reason_code!r} is not a DISCONNECT reason code"
            ) from None
        requested = self.config.properties.session_expiry_interval
        if properties.session_expiry_interval and not requested:
            raise ValueError(
                "session_expiry_interval cannot be set in DISCONNECT when CONNECT set none"
            )
        if self._v5:
            self._send(Disconnect(reason_code, properties), now)
        else:
            self._send(Disconnect(), now)
        self.state = _CLOSED
        self._events.append(Disconnected(None, reason_code, properties))

    def reauthenticate(self, now: float) -> None:
        """Start an MQTT 5 re-authentication with the configured authenticator (AUTH 0x19).

        ``now``: the current time (seconds, the connection's clock). ``Reauthenticated``
        reports success; a rejection ends the connection (``Disconnected``: the broker's
        DISCONNECT, or ours with 0x87 when the authenticator rejected the broker). Raises
        ``MqttError`` while not connected or while a re-authentication is under way (MQTT
        allows one exchange at a time, and none can be abandoned), ``ValueError`` without an
        authenticator; what the authenticator's ``initial_data`` raises propagates, with
        nothing sent.
        """
        self._require_connected("reauthenticate")
        authenticator = self.config.authenticator
        if authenticator is None:
            raise ValueError("re-authentication needs an authenticator")
        if self._reauthenticating:
            raise MqttError(
                "cannot reauthenticate while a re-authentication is under way: wait for its "
                "end (Reauthenticated, or Disconnected)"
            )
        data = authenticator.initial_data()
        self._reauthenticating = True
        self._send(
            Auth(
                AuthReasonCode.RE_AUTHENTICATE,
                Properties(authentication_method=authenticator.method, authentication_data=data),
            ),
            now,
        )

    # ------------------------------------------------------------------ inputs

    def receive_data(self, data: bytes, now: float) -> None:
        """Take bytes from the network; never raises for anything the peer sent.

        ``data``: what the network delivered, any amount; ``now``: the current time (seconds,
        the connection's clock). A protocol error of the peer ends the connection instead:
        DISCONNECT with its reason code (MQTT 5), then ``Disconnected``. Bytes that come while
        ``IDLE`` or ``CLOSED`` are ignored.

        Any call, even with no bytes, tells the keepalive logic that the link is alive; a
        driver that has paused reading (backpressure) uses that, since it cannot see PINGRESP.
        """
        if self.state is _CLOSED or self.state is _IDLE:
            return
        # Any bytes show the broker is alive: an outstanding ping is answered well enough.
        self._last_received = now
        self._ping_deadline = None
        decoder = self._decoder
        decoder.feed(data)
        try:
            while (packet := decoder.next_packet()) is not None:
                kind = type(packet)
                if kind is Publish:  # (raises, never closes)
                    self._receive_publish(packet, now)  # type: ignore[arg-type]
                elif kind is PubAck and self.state is _CONNECTED:  # (the same)
                    self._receive_puback(packet)  # type: ignore[arg-type]
                else:
                    self._receive_other(packet, now)
                    if self._closed():
                        return
        except ProtocolError as error:
            self._fail(error, now)
            return
        if self.session.pending:  # acknowledgements may have freed Receive Maximum slots
            self._flush_pending(now)

    def _closed(self) -> bool:
        # A method, not an inline comparison, because the handlers above change the state.
        return self.state is _CLOSED

    def receive_eof(self, now: float) -> None:
        """The network connection ended (EOF or error).

        ``now``: the current time (seconds, the connection's clock). While connecting or
        connected, the state becomes ``CLOSED`` and ``Disconnected`` reports a
        ``ConnectionLostError``; otherwise nothing happens.
        """
        if self.state in (_CONNECTING, _CONNECTED):
            if self.state is _CONNECTING:
                message = "the connection closed before CONNACK"
            else:
                message = "the connection to the broker was lost"
            self._close(ConnectionLostError(message))

    # ------------------------------------------------------------------ inbound packets

    def _receive_publish(self, packet: Publish, now: float) -> None:
        if self.state is not _CONNECTED:
            raise ProtocolViolationError("the broker sent PUBLISH before CONNACK")
        # (The decoder already refused an empty topic without an alias.)
        if packet.properties.topic_alias is not None:
            packet = self._resolve_alias(packet)
        qos = packet.qos
        if qos == 0:
            self._events.append(_new_tuple(MessageReceived, (packet,)))
            return
        packet_id: int = packet.packet_id  # type: ignore[assignment]
        if self._manual_ack:
            unacked = self._unacked
            limit = self._receive_maximum
            # (65535 unacknowledged is beyond what packet ids allow: no need to count then.)
            if qos == 1 and (limit == 65535 or len(unacked) + len(self._inbound_qos2) < limit):
                unacked.append((packet_id, 1))  # (the usual case, inline)
                self._events.append(_new_tuple(MessageReceived, (packet,)))
            else:
                self._hold_for_acknowledgement(packet, packet_id, qos, now)
            return
        if qos == 1:
            self._events.append(_new_tuple(MessageReceived, (packet,)))
            self._out.append((_PUBACK | packet_id).to_bytes(4))
        else:
            inbound_qos2 = self._inbound_qos2
            if packet_id not in inbound_qos2:
                self._check_receive_maximum(len(inbound_qos2), packet_id)
                self._events.append(_new_tuple(MessageReceived, (packet,)))
            # A retransmission (already delivered) is only acknowledged again.
            self._send_ack(packet_id, 2)
        self._last_sent = now

    def _hold_for_acknowledgement(
        self, packet: Publish, packet_id: int, qos: int, now: float
    ) -> None:
        """Manual acknowledgements: deliver the message, acknowledge it when told to."""
        session = self.session
        if qos == 2:
            held = session.inbound_unacked.get(packet_id)
            if packet_id in session.inbound_qos2 or (held is not None and held[1]):
                # Delivered and acknowledged before: answer, in order, without delivering.
                self._unacked.append((packet_id, 2))
                self._acked.add(packet_id)
                self._flush_acks(now)
                return
            if held is not None:
                # Delivered on an earlier connection and not yet acknowledged: its
                # acknowledgement, when it comes, answers this retransmission.
                self._unacked.append((packet_id, 2))
                return
        # (A QoS 1 message comes here only when the count is at our Receive Maximum: refused.)
        self._check_receive_maximum(len(self._unacked) + len(self._inbound_qos2), packet_id)
        session.inbound_unacked[packet_id] = [self.number, False]
        self._unacked.append((packet_id, qos))
        self._events.append(_new_tuple(MessageReceived, (packet,)))

    def _check_receive_maximum(self, unacknowledged: int, packet_id: int) -> None:
        limit = self._receive_maximum
        if unacknowledged >= limit:
            if not self.config.strict_receive_maximum:  # tolerated: reported, then delivered
                self._events.append(ReceiveMaximumExceeded(limit, unacknowledged + 1, packet_id))
                return
            raise ReceiveMaximumExceededError(
                f"the broker sent more than our Receive Maximum of {limit} "
                "unacknowledged QoS 1/2 messages"
                if self._manual_ack
                else f"the broker sent more than our Receive Maximum of {limit} "
                "unacknowledged QoS 2 messages"
            )

    def _resolve_alias(self, packet: Publish) -> Publish:
        alias: int = packet.properties.topic_alias  # type: ignore[assignment]
        maximum = self.config.topic_alias_maximum
        if alias > maximum:
            raise TopicAliasInvalidError(
                f"the broker used topic alias {alias}, above our maximum {maximum}"
            )
        if packet.topic:
            self._inbound_aliases[alias] = packet.topic
            return packet
        topic = self._inbound_aliases.get(alias)
        if topic is None:
            raise TopicAliasInvalidError(f"the broker used topic alias {alias} before defining it")
        return packet._replace(topic=topic)

    def _receive_other(self, packet: Packet, now: float) -> None:
        kind = type(packet)  # (a PUBACK while connected is handled by receive_data)
        if kind is ConnAck:
            self._receive_connack(packet, now)  # type: ignore[arg-type]
            return
        if self.state is not _CONNECTED and kind is not Auth:
            if kind is Disconnect:
                self._receive_disconnect(packet)  # type: ignore[arg-type]
                return
            name = PACKET_TYPES[kind].name
            raise ProtocolViolationError(f"the broker sent {name} before CONNACK")
        if kind is PubRec:
            self._receive_pubrec(packet, now)  # type: ignore[arg-type]
        elif kind is PubComp:
            self._receive_pubcomp(packet)  # type: ignore[arg-type]
        elif kind is PubRel:
            self._receive_pubrel(packet, now)  # type: ignore[arg-type]
        elif kind is SubAck:
            self._receive_suback(packet)  # type: ignore[arg-type]
        elif kind is UnsubAck:
            self._receive_unsuback(packet)  # type: ignore[arg-type]
        elif kind is Disconnect:
            self._receive_disconnect(packet)  # type: ignore[arg-type]
        elif kind is Auth:
            self._receive_auth(packet, now)  # type: ignore[arg-type]
        # PINGRESP needs nothing more: receive_data already noted that the broker is alive.

    def _receive_connack(self, packet: ConnAck, now: float) -> None:
        if self.state is not _CONNECTING:
            raise ProtocolViolationError("the broker sent a second CONNACK")
        if packet.reason_code != 0:
            self._close(
                MqttCodeError(
                    packet.reason_code,
                    "the broker refused the connection",
                    properties=packet.properties,
                ),
                reason_code=packet.reason_code,
                properties=packet.properties,
            )
            return
        if packet.session_present and self._sent_clean_start:
            raise ProtocolViolationError(
                "the broker reported a present session although we asked for a clean start"
            )
        props = packet.properties
        authenticator = self.config.authenticator
        if authenticator is not None:
            if props.authentication_method != authenticator.method:
                raise ProtocolViolationError(
                    "the broker accepted the connection with Authentication Method "
                    f"{props.authentication_method!r}, not {authenticator.method!r} as CONNECT "
                    "asked (a successful CONNACK must name the same method, MQTT-4.12.0-5)"
                )
            try:
                authenticator.complete(props.authentication_data)
            except ValueError as error:
                raise ProtocolError(
                    f"enhanced authentication rejected the broker: {error}",
                    DisconnectReasonCode.NOT_AUTHORIZED,
                ) from error
        self.server = ServerSettings(
            session_present=packet.session_present,
            assigned_client_identifier=props.assigned_client_identifier,
            server_keep_alive=props.server_keep_alive,
            session_expiry_interval=props.session_expiry_interval,
            receive_maximum=props.receive_maximum or 65535,
            maximum_packet_size=props.maximum_packet_size,
            topic_alias_maximum=props.topic_alias_maximum or 0,
            maximum_qos=2 if props.maximum_qos is None else props.maximum_qos,
            retain_available=props.retain_available is not False,
            wildcard_subscription_available=props.wildcard_subscription_available is not False,
            subscription_identifier_available=props.subscription_identifier_available is not False,
            shared_subscription_available=props.shared_subscription_available is not False,
            response_information=props.response_information,
            server_reference=props.server_reference,
            reason_string=props.reason_string,
            user_properties=props.user_properties,
        )
        if props.server_keep_alive is not None:
            self._effective_keep_alive = props.server_keep_alive
        self.state = _CONNECTED
        self._last_sent = self._last_received = now
        session = self.session
        self.session_lost = (
            not packet.session_present and not self._sent_clean_start and session.started
        )
        session.start(
            props.assigned_client_identifier or self.client_id,
            clean=not packet.session_present,
        )
        if packet.session_present:
            self._resume_session(now)
        else:
            self._restart_session(now)
            if session.subscriptions:
                if self.config.restore_subscriptions:
                    self._restore_subscriptions(now)
                else:  # the broker holds none of them now: neither does the session
                    for topic_filter in list(session.subscriptions):
                        session.subscription_removed(topic_filter)
        self._events.append(Connected(self.server, packet))
        self._flush_pending(now)

    def _restore_subscriptions(self, now: float) -> None:
        """Subscribe again to what the session held: one SUBSCRIBE per set of properties (a
        SUBSCRIBE carries one subscription identifier), with the original options."""
        groups: dict[Properties, list[Subscription]] = {}
        for held in self.session.subscriptions.values():
            groups.setdefault(held.properties, []).append(held.subscription)
        for properties, subscriptions in groups.items():
            packet_id = self._allocate_packet_id()
            try:
                self._send(Subscribe(packet_id, tuple(subscriptions), properties), now)
            except ValueError:  # above the broker's new Maximum Packet Size: none is kept
                for subscription in subscriptions:
                    self.session.subscription_removed(subscription.topic_filter)
                refused = tuple((sub.topic_filter, 0x80) for sub in subscriptions)
                self._events.append(SubscriptionsRestored((), refused))
                continue
            self._subscribes[packet_id] = (tuple(subscriptions), properties)
            self._restoring.add(packet_id)

    def _resume_session(self, now: float) -> None:
        """The broker kept our session: resend what it has not acknowledged, in order, within
        the limits it gave on this connection (see the module docstring)."""
        limit = self._inflight_limit()
        waiting: list[PublishHandle] = []
        sent = 0
        for handle in list(self._outgoing.values()):
            packet_id: int = handle.packet_id  # type: ignore[assignment]
            if handle.stage is _AWAITING_PUBCOMP:
                self._send(PubRel(packet_id), now)
                sent += 1
            elif self._refuse_by_limits(handle):
                continue
            elif sent < limit:
                if self._resend(handle, now):
                    sent += 1
            else:
                waiting.append(handle)
        if waiting:
            pending = self.session.pending
            if pending is None:
                pending = self.session.pending = deque()
            pending.extendleft(reversed(waiting))
            self._resends = len(waiting)

    def _resend(self, handle: PublishHandle, now: float) -> bool:
        """Write a flow again with DUP=1; False (and the flow failed) if it no longer fits."""
        packet = handle.packet._replace(dup=True, packet_id=handle.packet_id)
        try:
            # With its full topic: the aliases of the connection it was first sent on are gone.
            data = self._encode_publish(packet, aliases=False)
        except ValueError as error:
            self._fail_publish(handle, MqttError(f"{error}; it was not resent"))
            return False
        self._out.append(data)
        self._last_sent = now
        return True

    def _refuse_by_limits(self, handle: PublishHandle) -> bool:
        """Fail a flow whose QoS the broker no longer allows (its Maximum QoS dropped)."""
        maximum = self.server.maximum_qos
        qos = handle.packet.qos
        if qos <= maximum:
            return False
        self._fail_publish(
            handle,
            MqttError(
                f"the QoS {qos} publish to {handle.packet.topic!r} cannot be sent: the broker's "
                f"maximum QoS is now {maximum} (from CONNACK)"
            ),
        )
        return True

    def _fail_publish(self, handle: PublishHandle, error: MqttError) -> None:
        self.session.end_publish(handle)
        self._events.append(PublishFailed(handle, error))

    def _restart_session(self, now: float) -> None:
        """The broker has no session for us: apply the policy to what was in flight."""
        session = self.session
        outgoing = self._outgoing
        flows = list(outgoing.values())
        outgoing.clear()
        resend: list[PublishHandle] = []
        # A QoS 2 message whose PUBREC came is not known to have been delivered: a broker may
        # hold it back until PUBREL (mosquitto does), and this one lost it with the session.
        # So the policy applies to every flow.
        for handle in flows:
            if self.config.session_lost_policy is SessionLostPolicy.FAIL:
                self._fail_publish(
                    handle,
                    SessionLostError(
                        f"the broker lost the session; the publish to "
                        f"{handle.packet.topic!r} (packet id {handle.packet_id}) was not "
                        "acknowledged and is not resent (session_lost_policy=FAIL)"
                    ),
                )
            else:
                handle.stage = _PENDING
                handle.packet_id = None
                if session.recording:
                    session.records.append(PublishUnsent(handle.number))
                resend.append(handle)
        # Resent flows go first, in their original order, ahead of publishes never sent.
        if resend:
            pending = session.pending
            if pending is None:
                pending = session.pending = deque()
            pending.extendleft(reversed(resend))

    def _receive_puback(self, packet: PubAck) -> None:
        handle = self._outgoing.get(packet.packet_id)
        if handle is None or handle.stage is not _AWAITING_PUBACK:
            raise ProtocolViolationError(
                f"the broker sent PUBACK for packet id {packet.packet_id}, "
                "which is not a QoS 1 publish in flight"
            )
        self._finish(handle, packet.reason_code, packet.properties)

    def _receive_pubrec(self, packet: PubRec, now: float) -> None:
        packet_id = packet.packet_id
        handle = self._outgoing.get(packet_id)
        if handle is None or handle.stage is _AWAITING_PUBACK:
            if handle is None and self._v5:
                # The specification's answer to an unknown id (for example after a restart).
                self._send(PubRel(packet_id, PubRelReasonCode.PACKET_IDENTIFIER_NOT_FOUND), now)
                return
            raise ProtocolViolationError(
                f"the broker sent PUBREC for packet id {packet_id}, "
                "which is not a QoS 2 publish in flight"
            )
        if packet.reason_code >= 0x80:
            self._finish(handle, packet.reason_code, packet.properties)
            return
        # PUBREC may be repeated when the broker resends it; PUBREL is then sent again.
        if handle.stage is not _AWAITING_PUBCOMP:
            handle.stage = _AWAITING_PUBCOMP
            session = self.session
            if session.recording:
                session.records.append(PublishReleased(handle.number))
        self._send(PubRel(packet_id), now)

    def _receive_pubcomp(self, packet: PubComp) -> None:
        handle = self._outgoing.get(packet.packet_id)
        if handle is None or handle.stage is not _AWAITING_PUBCOMP:
            raise ProtocolViolationError(
                f"the broker sent PUBCOMP for packet id {packet.packet_id}, "
                "which is not waiting for PUBCOMP"
            )
        self._finish(handle, packet.reason_code, packet.properties)

    def _finish(self, handle: PublishHandle, reason_code: int, properties: Properties) -> None:
        del self._outgoing[handle.packet_id]  # type: ignore[arg-type]
        handle.stage = _DONE
        session = self.session
        if session.recording:
            session.records.append(PublishEnded(handle.number))
        self._events.append(_new_tuple(PublishCompleted, (handle, reason_code, properties)))

    def _receive_pubrel(self, packet: PubRel, now: float) -> None:
        packet_id = packet.packet_id
        session = self.session
        if packet_id in session.inbound_qos2:
            session.inbound_qos2.discard(packet_id)
            if session.recording:
                session.records.append(InboundQoS2Released(packet_id))
            self._send(PubComp(packet_id), now)
        elif self._v5:
            self._send(PubComp(packet_id, PubRelReasonCode.PACKET_IDENTIFIER_NOT_FOUND), now)
        else:
            self._send(PubComp(packet_id), now)

    def _receive_suback(self, packet: SubAck) -> None:
        asked = self._subscribes.pop(packet.packet_id, None)
        if asked is None:
            raise ProtocolViolationError(
                f"the broker sent SUBACK for packet id {packet.packet_id}, "
                "which is not a SUBSCRIBE in flight"
            )
        subscriptions, properties = asked
        if len(packet.reason_codes) != len(subscriptions):
            raise ProtocolViolationError(
                f"the broker sent SUBACK with {len(packet.reason_codes)} reason codes "
                f"for a SUBSCRIBE of {len(subscriptions)} topic filters"
            )
        session = self.session
        for subscription, code in zip(subscriptions, packet.reason_codes, strict=True):
            if code < 0x80:
                session.subscription_granted(subscription, properties)
        if packet.packet_id in self._restoring:
            self._restoring.discard(packet.packet_id)
            refused = tuple(
                (sub.topic_filter, code)
                for sub, code in zip(subscriptions, packet.reason_codes, strict=True)
                if code >= 0x80
            )
            for topic_filter, _code in refused:
                session.subscription_removed(topic_filter)
            granted = tuple(
                sub.topic_filter
                for sub, code in zip(subscriptions, packet.reason_codes, strict=True)
                if code < 0x80
            )
            self._events.append(SubscriptionsRestored(granted, refused))
            return
        self._events.append(
            SubscribeCompleted(packet.packet_id, packet.reason_codes, packet.properties)
        )

    def _receive_unsuback(self, packet: UnsubAck) -> None:
        topic_filters = self._unsubscribes.pop(packet.packet_id, None)
        if topic_filters is None:
            raise ProtocolViolationError(
                f"the broker sent UNSUBACK for packet id {packet.packet_id}, "
                "which is not an UNSUBSCRIBE in flight"
            )
        codes = packet.reason_codes
        if self._v5 and len(codes) != len(topic_filters):
            raise ProtocolViolationError(
                f"the broker sent UNSUBACK with {len(codes)} reason codes "
                f"for an UNSUBSCRIBE of {len(topic_filters)} topic filters"
            )
        for index, topic_filter in enumerate(topic_filters):
            # (MQTT 3.1.x carries no codes: every filter is gone.)
            if not codes or codes[index] < 0x80:
                self.session.subscription_removed(topic_filter)
        self._events.append(UnsubscribeCompleted(packet.packet_id, codes, packet.properties))

    def _receive_disconnect(self, packet: Disconnect) -> None:
        reason = packet.properties.reason_string
        detail = f": {reason}" if reason else ""
        reference = packet.properties.server_reference
        if reference is not None:  # (0x9C / 0x9D: where to go instead)
            detail += f" (server reference {reference!r})"
        code = packet.reason_code
        name = getattr(code, "name", str(code))
        self._close(
            MqttCodeError(
                code, f"the broker disconnected ({name}){detail}", properties=packet.properties
            ),
            reason_code=code,
            properties=packet.properties,
        )

    def _receive_auth(self, packet: Auth, now: float) -> None:
        authenticator = self.config.authenticator
        expected = self.state is _CONNECTING or self._reauthenticating
        if authenticator is None or not expected:
            raise ProtocolViolationError("the broker sent AUTH, but no authentication is under way")
        props = packet.properties
        if props.authentication_method != authenticator.method:
            raise ProtocolViolationError(
                f"the broker sent AUTH for method {props.authentication_method!r}, "
                f"not {authenticator.method!r}"
            )
        try:
            if packet.reason_code == AuthReasonCode.CONTINUE_AUTHENTICATION:
                response = authenticator.challenge(props.authentication_data)
                self._send(
                    Auth(
                        AuthReasonCode.CONTINUE_AUTHENTICATION,
                        Properties(
                            authentication_method=authenticator.method,
                            authentication_data=response,
                        ),
                    ),
                    now,
                )
                return
            if packet.reason_code != AuthReasonCode.SUCCESS or not self._reauthenticating:
                raise ProtocolViolationError(
                    f"the broker sent AUTH with reason code {packet.reason_code:#04x} "
                    "where the exchange does not allow it"
                )
            authenticator.complete(props.authentication_data)
        except ValueError as error:
            raise ProtocolError(
                f"enhanced authentication rejected the broker: {error}",
                DisconnectReasonCode.NOT_AUTHORIZED,
            ) from error
        self._reauthenticating = False
        self._events.append(Reauthenticated(props))

    # ------------------------------------------------------------------ helpers

    def _new_decoder(self) -> Decoder:
        return Decoder(
            version=self.protocol_version,
            max_packet_size=self.config.maximum_packet_size or MAX_PACKET_SIZE,
        )

    def _require_connected(self, what: str) -> None:
        if self.state is not _CONNECTED:
            raise MqttError(f"cannot {what} while {self.state.value}")

    def _inflight_limit(self) -> int:
        return min(self.server.receive_maximum, self.config.max_inflight)

    def _send(self, packet: Packet, now: float) -> None:
        data = encode(packet, self.protocol_version)
        limit = self.server.maximum_packet_size
        if limit is not None and len(data) > limit:
            raise ValueError(
                f"the {PACKET_TYPES[type(packet)].name} packet is {len(data)} bytes, "
                f"above the broker's maximum packet size of {limit} bytes"
            )
        self._out.append(data)
        self._last_sent = now

    def _check_publish_properties(self, properties: Properties) -> None:
        if not isinstance(properties, Properties):
            raise TypeError(f"properties must be a Properties, got {properties!r}")
        if properties.subscription_identifiers:
            raise ValueError("a client must not send subscription_identifiers in PUBLISH")
        alias = properties.topic_alias
        if alias is None:
            return
        if self.config.outgoing_topic_aliases:
            raise ValueError(
                f"topic_alias={alias} cannot be given with outgoing_topic_aliases=True: "
                "the client assigns the topic aliases itself"
            )
        if alias > self.server.topic_alias_maximum:
            raise ValueError(
                f"topic_alias={alias} is above the broker's topic alias maximum "
                f"{self.server.topic_alias_maximum}"
            )

    def _encode_publish(self, packet: Publish, *, aliases: bool = True) -> bytes:
        """Encode an outgoing PUBLISH within the broker's size limit, with a topic alias
        where one applies; ``aliases=False``: the full topic, no alias (trial encodings of
        queued publishes, and resends)."""
        if self._v5:
            if aliases and self.config.outgoing_topic_aliases:
                return self._encode_with_automatic_alias(packet)
            if packet.properties.topic_alias is not None:
                if aliases:
                    return self._encode_with_given_alias(packet)
                packet = packet._replace(
                    properties=replace_properties(packet.properties, topic_alias=None)
                )
        data = encode(packet, self.protocol_version)
        limit = self.server.maximum_packet_size
        if limit is not None and len(data) > limit:  # (checked inline: the hot path)
            self._checked_size(data, packet.topic)  # (raises)
        return data

    def _checked_size(self, data: bytes, topic: str) -> bytes:
        limit = self.server.maximum_packet_size
        if limit is not None and len(data) > limit:
            raise ValueError(
                f"the PUBLISH to {topic!r} would be {len(data)} bytes, above the broker's "
                f"maximum packet size of {limit} bytes"
            )
        return data

    def _encode_with_automatic_alias(self, packet: Publish) -> bytes:
        """``outgoing_topic_aliases``: the topic's alias if it has one (sent with an empty
        topic name), else a new one sent with the topic, which binds it at the broker: a free
        alias while the broker's Topic Alias Maximum allows, then the least recently used
        topic's. The table is changed only once the packet is known to fit, so the broker
        always knows every alias we hold."""
        topic = packet.topic
        aliases = self._outbound_aliases  # topic -> alias, least recently used first
        alias = aliases.get(topic)
        if alias is not None:
            del aliases[topic]  # (moved to the end: the most recently used)
            aliases[topic] = alias
            data = encode_publish_with_alias(packet, alias, with_topic=False)
            limit = self.server.maximum_packet_size
            if limit is not None and len(data) > limit:
                self._checked_size(data, topic)  # (raises)
            return data
        maximum = self.server.topic_alias_maximum
        if len(topic) <= _ALIAS_SIZE or not maximum:  # (an alias would not save a byte)
            return self._checked_size(encode(packet, self.protocol_version), topic)
        evicted = None
        if len(aliases) < maximum:
            alias = len(aliases) + 1  # (aliases 1..len are in use: none is ever freed)
        else:
            evicted = next(iter(aliases))
            alias = aliases[evicted]
        data = encode_publish_with_alias(packet, alias)
        limit = self.server.maximum_packet_size
        if limit is not None and len(data) > limit:  # the alias would push it over: none
            return self._checked_size(encode(packet, self.protocol_version), topic)
        if evicted is not None:
            del aliases[evicted]
        aliases[topic] = alias
        return data

    def _encode_with_given_alias(self, packet: Publish) -> bytes:
        """The application's own ``topic_alias``: sent with the topic the first time (which
        binds it), with an empty topic name once the broker knows it."""
        properties = packet.properties
        alias: int = properties.topic_alias  # type: ignore[assignment]
        topic = packet.topic
        aliases = self._outbound_aliases
        if alias > self.server.topic_alias_maximum:
            # Queued before a reconnect to a broker that allows fewer aliases: the full topic.
            packet = packet._replace(properties=replace_properties(properties, topic_alias=None))
            return self._checked_size(encode(packet, self.protocol_version), topic)
        if aliases.get(topic) == alias:
            return self._checked_size(
                encode(packet._replace(topic=""), self.protocol_version), topic
            )
        data = self._checked_size(encode(packet, self.protocol_version), topic)
        for bound, number in aliases.items():
            if number == alias:  # the broker now binds the alias to this topic instead
                del aliases[bound]
                break
        aliases[topic] = alias
        return data

    def _write_publish(self, handle: PublishHandle, now: float, *, accepted: bool = False) -> None:
        """Write a publish with a new packet id; ``accepted``: it enters the session now (the
        call made it), so its ``PublishAccepted`` record goes first."""
        packet_id = self._allocate_packet_id()
        topic, payload, qos, retain, dup, _, properties = handle.packet
        if properties is NO_PROPERTIES and not dup and not self._automatic_aliases:
            # The hot path: ``publish`` checked these fields when it took them, and there is no
            # topic alias to choose, so they are encoded without checking them again.
            data = encode_checked_publish(
                topic, payload, qos, retain, packet_id, version=self.protocol_version
            )
            limit = self.server.maximum_packet_size
            if limit is not None and len(data) > limit:
                self._checked_size(data, topic)  # (raises)
        else:
            data = self._encode_publish(
                _new_tuple(Publish, (topic, payload, qos, retain, dup, packet_id, properties))
            )
        handle.packet_id = packet_id
        handle.stage = _AWAITING_PUBACK if qos == 1 else _AWAITING_PUBREC
        self._outgoing[packet_id] = handle
        session = self.session
        if session.recording:
            if accepted:
                session.records.append(PublishAccepted(handle.number, handle.packet))
            session.records.append(PublishSent(handle.number, packet_id))
        self._out.append(data)
        self._last_sent = now

    def _flush_pending(self, now: float) -> None:
        limit = self._inflight_limit()
        pending = self.session.pending
        outgoing = self._outgoing
        maximum_qos = self.server.maximum_qos
        while pending:
            handle = pending[0]
            qos = handle.packet.qos
            if qos and len(outgoing) - self._resends >= limit:
                return  # no Receive Maximum slot (QoS 0 takes none)
            pending.popleft()
            if qos > maximum_qos:  # (the broker's limit dropped since the call)
                if handle.packet_id is not None:
                    self._resends -= 1
                self._refuse_by_limits(handle)
            elif handle.packet_id is not None:  # a resend that waited for a slot
                self._resends -= 1
                self._resend(handle, now)
            elif not qos:
                self._write_queued_qos0(handle, now)
            else:
                try:
                    self._write_publish(handle, now)
                except ValueError as error:
                    # The broker's limits changed since the call (a smaller maximum packet
                    # size after a reconnect): the message cannot be sent, so say so.
                    self._fail_publish(handle, MqttError(str(error)))

    def _write_queued_qos0(self, handle: PublishHandle, now: float) -> None:
        try:
            self._out.append(self._encode_publish(handle.packet))
        except ValueError as error:
            self._fail_publish(handle, MqttError(str(error)))
            return
        self._last_sent = now
        self.session.end_publish(handle)
        self._events.append(PublishCompleted(handle, 0))

    def _allocate_packet_id(self) -> int:
        session = self.session
        packet_id = session.next_packet_id
        if (
            packet_id in self._outgoing
            or packet_id in self._subscribes
            or packet_id in self._unsubscribes
        ):
            return session.allocate_packet_id(self._subscribes, self._unsubscribes)
        session.next_packet_id = packet_id % MAX_PACKET_ID + 1  # (the common case, inline)
        return packet_id

    def _fail(self, error: ProtocolError, now: float) -> None:
        """The peer broke the protocol: tell it why (MQTT 5) and end the connection."""
        if self._v5 and self.state is _CONNECTED:
            self._out.append(encode(Disconnect(error.reason_code), self.protocol_version))
            self._last_sent = now
        self._close(error, reason_code=error.reason_code)

    def _close(
        self,
        error: MqttError,
        *,
        reason_code: int | None = None,
        properties: Properties = NO_PROPERTIES,
    ) -> None:
        self.state = _CLOSED
        self._ping_deadline = None
        self._events.append(Disconnected(error, reason_code, properties))
