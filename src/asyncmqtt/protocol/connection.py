"""ClientConnection: the MQTT client state machine, without I/O.

Theory of operation
-------------------
One ``ClientConnection`` lives as long as an MQTT *session*, which may span several network
connections. The driving layer owns the socket and the clock and does four things:

* calls a command (``connect``, ``publish``, ``subscribe``, ``unsubscribe``, ``disconnect``,
  ``reauthenticate``): it validates its arguments, raises ``TypeError``/``ValueError`` at once
  for local misuse (leaving the state untouched), and queues bytes;
* feeds what the network delivered to ``receive_data`` / ``receive_eof``;
* writes ``data_to_send()`` to the network and handles ``events_received()``;
* calls ``handle_timer(now)`` when ``get_timer()`` says so (keepalive).

Time is always passed in (``now``, in seconds, from any monotonic clock), so every timing rule
is deterministic and testable offline.

Errors caused by the peer never escape ``receive_data``: the connection queues a DISCONNECT
with the right reason code (MQTT 5; MQTT 3.1.x has none and just closes), moves to ``CLOSED``
and emits ``Disconnected(error=...)``. The driving layer closes the transport when it sees
``Disconnected``, after writing what ``data_to_send()`` still holds.

Session state that outlives a network connection:

* outgoing QoS 1/2 flows, in the order they were first sent (a dict keyed by packet id keeps
  insertion order). On a new connection whose CONNACK says the session is present, each is
  resent in that order: PUBLISH with DUP=1, or PUBREL once PUBREC came. When the broker says it
  has no session, ``session_lost_policy`` decides, explicitly, what happens to them;
* publishes waiting for a free slot under the broker's Receive Maximum (``PublishHandle`` in
  ``_pending``). Packet ids are allocated only when a publish is actually sent, so the queue can
  be longer than the 65535 ids there are;
* packet ids of inbound QoS 2 messages delivered but not yet released (PUBREL), so that a
  retransmitted PUBLISH is not delivered twice.

State that belongs to one network connection only: topic aliases in both directions, the
decoder, keepalive timestamps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from enum import Enum
from typing import Final, Literal, Protocol

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
from .codec import MAX_PACKET_SIZE, Decoder, encode
from .enums import (
    AuthReasonCode,
    DisconnectReasonCode,
    ProtocolVersion,
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
    ServerSettings,
    SubscribeCompleted,
    UnsubscribeCompleted,
)
from .packets import (
    PACKET_TYPES,
    Auth,
    ConnAck,
    Connect,
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
    WillMessage,
)
from .properties import NO_PROPERTIES, Properties
from .topics import parse_shared_subscription, validate_topic_filter, validate_topic_name

__all__ = (
    "Authenticator",
    "ClientConnection",
    "ConnectionState",
    "PublishHandle",
    "SessionLostPolicy",
)

_MAX_PACKET_ID: Final = 65535
_VALID_TOPIC_CACHE_SIZE: Final = 1024
# A PUBLISH without properties whose payload is below this always fits in a packet (the
# largest remaining length less the longest topic, packet id and property length), whatever
# its topic, so a queued publish needs no trial encoding when the broker sets no size limit.
_SURELY_ENCODABLE_PAYLOAD: Final = 268_435_455 - (2 + 65_535) - 2 - 1
# Builds a NamedTuple from a tuple of all its fields, skipping the Python-level ``__new__``
# that calling the class runs: used for the few tuples made for every message.
_new_tuple: Final = tuple.__new__


class ConnectionState(Enum):
    IDLE = "idle"  # no network connection yet
    CONNECTING = "connecting"  # CONNECT sent, waiting for CONNACK (possibly through AUTH)
    CONNECTED = "connected"
    CLOSED = "closed"  # the network connection is over; connect() may start a new one


class SessionLostPolicy(Enum):
    """What to do with unacknowledged QoS 1/2 publishes when the broker has no session for us.

    ``RESEND`` publishes them again as new messages (the broker never confirmed them, so they
    may arrive twice but are never lost). ``FAIL`` ends each with ``PublishFailed`` carrying a
    ``SessionLostError``. Either way a publish whose PUBREC already came is complete: the broker
    took responsibility for it before the session was lost.
    """

    RESEND = "resend"
    FAIL = "fail"


class _Stage(Enum):
    PENDING = "pending"  # queued under Receive Maximum, not written yet
    AWAITING_PUBACK = "awaiting PUBACK"
    AWAITING_PUBREC = "awaiting PUBREC"
    AWAITING_PUBCOMP = "awaiting PUBCOMP"
    DONE = "done"


class PublishHandle:
    """One QoS 1 or 2 publish, from the call until its flow ends.

    ``packet_id`` is None until the publish is first written. The driving layer keys its own
    bookkeeping (futures, timeouts) on the handle.
    """

    __slots__ = ("_stage", "packet", "packet_id")

    def __init__(self, packet: Publish) -> None:
        self.packet = packet  # as the user gave it: full topic, DUP clear, no packet id
        self.packet_id: int | None = None
        self._stage = _Stage.PENDING

    @property
    def written(self) -> bool:
        """True once the PUBLISH has been handed to the driving layer to write."""
        return self._stage is not _Stage.PENDING

    @property
    def done(self) -> bool:
        return self._stage is _Stage.DONE

    def __repr__(self) -> str:
        return (
            f"<PublishHandle topic={self.packet.topic!r} qos={self.packet.qos} "
            f"packet_id={self.packet_id} {self._stage.value}>"
        )


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


class ClientConnection:
    """The client side of MQTT 3.1, 3.1.1 and 5.0 as a state machine on bytes, events and time.

    Limits are constructor parameters: ``receive_maximum`` (how many unacknowledged QoS 2
    messages we accept at once; announced in CONNECT for MQTT 5), ``maximum_packet_size`` (the
    largest packet we accept; announced for MQTT 5; None means no limit beyond the protocol's),
    ``topic_alias_maximum`` (how many inbound topic aliases we accept) and ``max_inflight``
    (a cap on our unacknowledged outgoing QoS 1/2 publishes, below the broker's Receive Maximum).
    ``properties`` are further CONNECT properties (session expiry interval, user properties,
    request flags); the limits above must be given as parameters, not in it.
    """

    # Slots: with over 30 attributes an instance dict is not key-shared and costs 1.5 KB.
    __slots__ = (
        "_authenticator",
        "_connect_packet",
        "_decoder",
        "_effective_keep_alive",
        "_events",
        "_inbound_aliases",
        "_inbound_qos2",
        "_last_received",
        "_last_sent",
        "_next_packet_id",
        "_out",
        "_outbound_aliases",
        "_outgoing",
        "_pending",
        "_ping_deadline",
        "_reauthenticating",
        "_sent_clean_start",
        "_session_started",
        "_subscribes",
        "_unsubscribes",
        "_v5",
        "_valid_topics",
        "clean_start",
        "client_id",
        "keep_alive",
        "max_inflight",
        "maximum_packet_size",
        "outgoing_topic_aliases",
        "protocol_version",
        "receive_maximum",
        "server",
        "session_lost_policy",
        "state",
        "topic_alias_maximum",
    )

    def __init__(
        self,
        *,
        client_id: str = "",
        protocol_version: ProtocolVersion = ProtocolVersion.V5,
        clean_start: bool | Literal["first_only"] = "first_only",
        keep_alive: int = 60,
        username: str | None = None,
        password: bytes | None = None,
        will: WillMessage | None = None,
        properties: Properties = NO_PROPERTIES,
        receive_maximum: int = 65535,
        maximum_packet_size: int | None = None,
        topic_alias_maximum: int = 0,
        max_inflight: int = 65535,
        outgoing_topic_aliases: bool = False,
        session_lost_policy: SessionLostPolicy = SessionLostPolicy.RESEND,
        authenticator: Authenticator | None = None,
    ) -> None:
        if not isinstance(protocol_version, ProtocolVersion):
            raise TypeError(f"protocol_version must be a ProtocolVersion, got {protocol_version!r}")
        v5 = protocol_version is ProtocolVersion.V5
        _check_int("keep_alive", keep_alive, 0, 65535)
        _check_int("receive_maximum", receive_maximum, 1, 65535)
        _check_int("topic_alias_maximum", topic_alias_maximum, 0, 65535)
        _check_int("max_inflight", max_inflight, 1, 65535)
        if maximum_packet_size is not None:
            _check_int("maximum_packet_size", maximum_packet_size, 2, MAX_PACKET_SIZE)
        if not isinstance(client_id, str):
            raise TypeError(f"client_id must be a str, got {client_id!r}")
        if clean_start not in (True, False, "first_only"):
            raise ValueError(
                f"clean_start must be True, False or 'first_only', got {clean_start!r}"
            )
        if not v5 and not client_id and clean_start is False:
            raise ValueError(
                "an empty client_id needs clean_start=True (clean session) in MQTT 3.1.x: "
                "the broker could not find the session again"
            )
        if not isinstance(properties, Properties):
            raise TypeError(f"properties must be a Properties, got {properties!r}")
        for name in ("receive_maximum", "maximum_packet_size", "topic_alias_maximum"):
            if getattr(properties, name) is not None:
                raise ValueError(f"give {name} as a parameter of ClientConnection, not a property")
        if (properties or authenticator is not None) and not v5:
            raise ValueError("CONNECT properties and enhanced authentication need MQTT 5.0")
        if not v5 and (receive_maximum != 65535 or topic_alias_maximum):
            raise ValueError("receive_maximum and topic_alias_maximum need MQTT 5.0")
        if will is not None:
            validate_topic_name(will.topic)
            _check_qos(will.qos)

        self.protocol_version = protocol_version
        self.client_id = client_id
        # MQTT 3.1.x cannot resume a clean session, so there "first_only" means every time.
        self.clean_start = clean_start if v5 else clean_start is not False
        self.keep_alive = keep_alive
        self.receive_maximum = receive_maximum
        self.maximum_packet_size = maximum_packet_size
        self.topic_alias_maximum = topic_alias_maximum
        self.max_inflight = max_inflight
        self.outgoing_topic_aliases = outgoing_topic_aliases
        self.session_lost_policy = session_lost_policy
        self._authenticator = authenticator
        self._connect_packet = Connect(
            client_id=client_id,
            clean_start=clean_start is not False,
            keep_alive=keep_alive,
            username=username,
            password=password,
            will=will,
            protocol_version=protocol_version,
            properties=self._connect_properties(properties) if v5 else properties,
        )
        # Encoding once here checks every field of CONNECT at the call that set it.
        encode(self._connect_packet, protocol_version)

        self.state = ConnectionState.IDLE
        self.server = ServerSettings()
        self._v5 = v5
        self._decoder = self._new_decoder()
        self._out: list[bytes] = []
        self._events: list[Event] = []
        self._session_started = False  # True once a CONNACK accepted us
        self._sent_clean_start = False

        # Session state (survives reconnects).
        self._outgoing: dict[int, PublishHandle] = {}  # in flight, in first-sent order
        # Publishes waiting for a Receive Maximum slot; made by the first that has to wait (an
        # empty deque is 760 bytes, carried for nothing by the many clients that never wait).
        self._pending: deque[PublishHandle] | None = None
        self._subscribes: dict[int, int] = {}  # packet id -> number of filters
        self._unsubscribes: dict[int, int] = {}
        self._inbound_qos2: set[int] = set()  # delivered, waiting for PUBREL
        self._next_packet_id = 1
        self._valid_topics: set[str] = set()

        # Per network connection.
        self._inbound_aliases: dict[int, str] = {}
        self._outbound_aliases: dict[str, int] = {}
        self._effective_keep_alive = keep_alive
        self._last_sent = 0.0
        self._last_received = 0.0
        self._ping_deadline: float | None = None
        self._reauthenticating = False

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
        """When ``handle_timer`` must next be called, or None when no timer is needed."""
        if self.state is not ConnectionState.CONNECTED or not self._effective_keep_alive:
            return None
        if self._ping_deadline is not None:
            return self._ping_deadline
        return min(self._last_sent, self._last_received) + self._effective_keep_alive

    def handle_timer(self, now: float) -> None:
        """Send PINGREQ when the link has been quiet, fail it when PINGRESP does not come."""
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

    @property
    def inflight_count(self) -> int:
        """Outgoing QoS 1/2 publishes written and not yet acknowledged."""
        return len(self._outgoing)

    @property
    def pending_count(self) -> int:
        """Outgoing QoS 1/2 publishes waiting for a slot under the Receive Maximum."""
        return len(self._pending) if self._pending else 0

    def connect(self, now: float) -> None:
        """Start the MQTT connection on a new network connection: queue CONNECT."""
        if self.state in (ConnectionState.CONNECTING, ConnectionState.CONNECTED):
            raise MqttError(f"connect() while {self.state.value}: the connection is in use")
        self.state = ConnectionState.CONNECTING
        # Bytes never written on the old connection are dropped: the session resend after
        # CONNACK covers every publish they held. SUBSCRIBE and UNSUBSCRIBE are not resent
        # (MQTT resends only PUBLISH and PUBREL), so their packet ids are free again; the driving
        # layer failed their callers when the old connection ended.
        self._out = []
        self._subscribes.clear()
        self._unsubscribes.clear()
        self._decoder = self._new_decoder()
        self._inbound_aliases = {}
        self._outbound_aliases = {}
        self._effective_keep_alive = self.keep_alive
        self._ping_deadline = None
        self._last_received = now
        self._reauthenticating = False
        packet = self._connect_packet
        if self._authenticator is not None:
            props = packet.properties
            packet = packet._replace(
                properties=_replace_properties(
                    props,
                    authentication_method=self._authenticator.method,
                    authentication_data=self._authenticator.initial_data(),
                )
            )
        if self.client_id != packet.client_id:  # the broker assigned one last time
            packet = packet._replace(client_id=self.client_id)
        if self._session_started and self.clean_start == "first_only":
            packet = packet._replace(clean_start=False)
        self._sent_clean_start = packet.clean_start
        self._send(packet, now)

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
        """Publish a message; returns None for QoS 0, a ``PublishHandle`` for QoS 1 and 2.

        QoS 0 needs a connection. QoS 1 and 2 are queued when the broker's Receive Maximum is
        reached or when not connected, and written when a slot frees up; their outcome comes as
        ``PublishCompleted`` or ``PublishFailed``.
        """
        if topic not in self._valid_topics:
            validate_topic_name(topic)
            if len(self._valid_topics) < _VALID_TOPIC_CACHE_SIZE:
                self._valid_topics.add(topic)
        if type(payload) is not bytes:
            if not isinstance(payload, bytes | bytearray | memoryview):
                raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
            payload = bytes(payload)
        if type(qos) is not int or not 0 <= qos <= 2:
            _check_qos(qos)
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
        if qos == 0:
            if self.state is not ConnectionState.CONNECTED:
                raise MqttError(f"cannot publish with QoS 0 while {self.state.value}")
            self._out.append(self._encode_publish(packet))
            self._last_sent = now
            return None
        handle = PublishHandle(packet)
        if (
            self._pending  # (first: a busy publisher mostly finds others waiting)
            or self.state is not ConnectionState.CONNECTED
            or len(self._outgoing) >= min(self.server.receive_maximum, self.max_inflight)
        ):
            # No Receive Maximum slot: queue it, but raise now what writing it later would.
            # A PUBLISH without properties and limits is surely encodable, so it skips the try.
            if (
                properties is not NO_PROPERTIES
                or self.server.maximum_packet_size is not None
                or len(payload) >= _SURELY_ENCODABLE_PAYLOAD
            ):
                self._encode_publish(packet._replace(packet_id=1), check_only=True)
            if self._pending is None:
                self._pending = deque()
            self._pending.append(handle)
        else:
            self._write_publish(handle, now)
        return handle

    def withdraw(self, handle: PublishHandle) -> bool:
        """Remove a publish that has not been written yet; False if it is already written."""
        if handle.written:
            return False
        assert self._pending is not None  # (an unwritten publish is in the queue)
        self._pending.remove(handle)
        handle._stage = _Stage.DONE
        return True

    def subscribe(
        self,
        subscriptions: Sequence[Subscription],
        properties: Properties = NO_PROPERTIES,
        *,
        now: float,
    ) -> int:
        """Send SUBSCRIBE; returns its packet id (``SubscribeCompleted`` carries the result)."""
        self._require_connected("subscribe")
        if not subscriptions:
            raise ValueError("subscribe needs at least one topic filter")
        server = self.server
        for sub in subscriptions:
            if not isinstance(sub, Subscription):
                raise TypeError(f"expected a Subscription, got {sub!r}")
            validate_topic_filter(sub.topic_filter)
            _check_qos(sub.qos)
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
        self._send(Subscribe(packet_id, tuple(subscriptions), properties), now)
        self._subscribes[packet_id] = len(subscriptions)
        return packet_id

    def unsubscribe(
        self,
        topic_filters: Sequence[str],
        properties: Properties = NO_PROPERTIES,
        *,
        now: float,
    ) -> int:
        """Send UNSUBSCRIBE; returns its packet id (``UnsubscribeCompleted`` carries the result)."""
        self._require_connected("unsubscribe")
        if not topic_filters:
            raise ValueError("unsubscribe needs at least one topic filter")
        for topic_filter in topic_filters:
            validate_topic_filter(topic_filter)
        packet_id = self._allocate_packet_id()
        self._send(Unsubscribe(packet_id, tuple(topic_filters), properties), now)
        self._unsubscribes[packet_id] = len(topic_filters)
        return packet_id

    def disconnect(
        self,
        reason_code: int = DisconnectReasonCode.NORMAL_DISCONNECTION,
        properties: Properties = NO_PROPERTIES,
        *,
        now: float,
    ) -> None:
        """Queue DISCONNECT and end the network connection (the session stays for a reconnect)."""
        if self.state is not ConnectionState.CONNECTED:
            raise MqttError(f"cannot disconnect while {self.state.value}")
        if not self._v5 and (reason_code or properties):
            raise ValueError("a DISCONNECT reason code and properties need MQTT 5.0")
        try:
            reason_code = DisconnectReasonCode(reason_code)
        except ValueError:
            raise ValueError(
                f"reason_code={reason_code!r} is not a DISCONNECT reason code"
            ) from None
        requested = self._connect_packet.properties.session_expiry_interval
        if properties.session_expiry_interval and not requested:
            raise ValueError(
                "session_expiry_interval cannot be set in DISCONNECT when CONNECT set none"
            )
        if self._v5:
            self._send(Disconnect(reason_code, properties), now)
        else:
            self._send(Disconnect(), now)
        self.state = ConnectionState.CLOSED
        self._events.append(Disconnected(None, reason_code, properties))

    def reauthenticate(self, now: float) -> None:
        """Start an MQTT 5 re-authentication with the configured authenticator (AUTH 0x19)."""
        self._require_connected("reauthenticate")
        if self._authenticator is None:
            raise ValueError("re-authentication needs an authenticator")
        self._reauthenticating = True
        self._send(
            Auth(
                AuthReasonCode.RE_AUTHENTICATE,
                Properties(
                    authentication_method=self._authenticator.method,
                    authentication_data=self._authenticator.initial_data(),
                ),
            ),
            now,
        )

    # ------------------------------------------------------------------ inputs

    def receive_data(self, data: bytes, now: float) -> None:
        """Take bytes from the network; never raises for anything the peer sent.

        Any call, even with no bytes, tells the keepalive logic that the link is alive; a
        driver that has paused reading (backpressure) uses that, since it cannot see PINGRESP.
        """
        if self.state is ConnectionState.CLOSED or self.state is ConnectionState.IDLE:
            return
        # Any bytes show the broker is alive: an outstanding ping is answered well enough.
        self._last_received = now
        self._ping_deadline = None
        decoder = self._decoder
        decoder.feed(data)
        try:
            while (packet := decoder.next_packet()) is not None:
                if type(packet) is Publish:
                    self._receive_publish(packet, now)  # (raises, never closes)
                else:
                    self._receive_other(packet, now)
                    if self._closed():
                        return
        except ProtocolError as error:
            self._fail(error, now)
            return
        if self._pending:  # acknowledgements may have freed Receive Maximum slots
            self._flush_pending(now)

    def _closed(self) -> bool:
        # A method, not an inline comparison, because the handlers above change the state.
        return self.state is ConnectionState.CLOSED

    def receive_eof(self, now: float) -> None:
        """The network connection ended (EOF or error)."""
        if self.state in (ConnectionState.CONNECTING, ConnectionState.CONNECTED):
            if self.state is ConnectionState.CONNECTING:
                message = "the connection closed before CONNACK"
            else:
                message = "the connection to the broker was lost"
            self._close(ConnectionLostError(message))

    # ------------------------------------------------------------------ inbound packets

    def _receive_publish(self, packet: Publish, now: float) -> None:
        if self.state is not ConnectionState.CONNECTED:
            raise ProtocolViolationError("the broker sent PUBLISH before CONNACK")
        # (The decoder already refused an empty topic without an alias.)
        if packet.properties.topic_alias is not None:
            packet = self._resolve_alias(packet)
        qos = packet.qos
        if qos == 0:
            self._events.append(_new_tuple(MessageReceived, (packet,)))
            return
        packet_id: int = packet.packet_id  # type: ignore[assignment]
        if qos == 1:
            self._events.append(_new_tuple(MessageReceived, (packet,)))
            # PUBACK with reason Success and no properties: the same 4 bytes in every version.
            self._out.append(b"\x40\x02" + packet_id.to_bytes(2))
        else:
            if packet_id not in self._inbound_qos2:
                if len(self._inbound_qos2) >= self.receive_maximum:
                    raise ReceiveMaximumExceededError(
                        f"the broker sent more than our Receive Maximum of "
                        f"{self.receive_maximum} unacknowledged QoS 2 messages"
                    )
                self._inbound_qos2.add(packet_id)
                self._events.append(_new_tuple(MessageReceived, (packet,)))
            # A retransmission (already delivered) is only acknowledged again.
            self._out.append(b"\x50\x02" + packet_id.to_bytes(2))  # PUBREC, as PUBACK above
        self._last_sent = now

    def _resolve_alias(self, packet: Publish) -> Publish:
        alias: int = packet.properties.topic_alias  # type: ignore[assignment]
        if alias > self.topic_alias_maximum:
            raise TopicAliasInvalidError(
                f"the broker used topic alias {alias}, above our maximum {self.topic_alias_maximum}"
            )
        if packet.topic:
            self._inbound_aliases[alias] = packet.topic
            return packet
        topic = self._inbound_aliases.get(alias)
        if topic is None:
            raise TopicAliasInvalidError(f"the broker used topic alias {alias} before defining it")
        return packet._replace(topic=topic)

    def _receive_other(self, packet: Packet, now: float) -> None:
        kind = type(packet)
        if kind is PubAck and self.state is ConnectionState.CONNECTED:  # the common case first
            self._receive_puback(packet)  # type: ignore[arg-type]
            return
        if kind is ConnAck:
            self._receive_connack(packet, now)  # type: ignore[arg-type]
            return
        if self.state is not ConnectionState.CONNECTED and kind is not Auth:
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
        if self.state is not ConnectionState.CONNECTING:
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
        if self._authenticator is not None:
            try:
                self._authenticator.complete(props.authentication_data)
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
        if props.assigned_client_identifier is not None:
            self.client_id = props.assigned_client_identifier
        if props.server_keep_alive is not None:
            self._effective_keep_alive = props.server_keep_alive
        self.state = ConnectionState.CONNECTED
        self._last_sent = self._last_received = now
        self._session_started = True
        if packet.session_present:
            self._resume_session(now)
        else:
            self._restart_session(now)
        self._events.append(Connected(self.server, packet))
        self._flush_pending(now)

    def _resume_session(self, now: float) -> None:
        """The broker kept our session: resend what it has not acknowledged, in order."""
        for handle in self._outgoing.values():
            packet_id: int = handle.packet_id  # type: ignore[assignment]
            if handle._stage is _Stage.AWAITING_PUBCOMP:
                self._send(PubRel(packet_id), now)
            else:
                packet = handle.packet._replace(dup=True, packet_id=packet_id)
                self._out.append(self._encode_publish(packet))

    def _restart_session(self, now: float) -> None:
        """The broker has no session for us: apply the policy to what was in flight."""
        self._inbound_qos2.clear()
        flows = list(self._outgoing.values())
        self._outgoing.clear()
        resend: list[PublishHandle] = []
        for handle in flows:
            if handle._stage is _Stage.AWAITING_PUBCOMP:
                handle._stage = _Stage.DONE
                self._events.append(PublishCompleted(handle, 0))
            elif self.session_lost_policy is SessionLostPolicy.FAIL:
                handle._stage = _Stage.DONE
                self._events.append(
                    PublishFailed(
                        handle,
                        SessionLostError(
                            f"the broker lost the session; the publish to "
                            f"{handle.packet.topic!r} (packet id {handle.packet_id}) was not "
                            "acknowledged and is not resent (session_lost_policy=FAIL)"
                        ),
                    )
                )
            else:
                handle._stage = _Stage.PENDING
                handle.packet_id = None
                resend.append(handle)
        # Resent flows go first, in their original order, ahead of publishes never sent.
        if resend:
            if self._pending is None:
                self._pending = deque()
            self._pending.extendleft(reversed(resend))

    def _receive_puback(self, packet: PubAck) -> None:
        handle = self._outgoing.get(packet.packet_id)
        if handle is None or handle._stage is not _Stage.AWAITING_PUBACK:
            raise ProtocolViolationError(
                f"the broker sent PUBACK for packet id {packet.packet_id}, "
                "which is not a QoS 1 publish in flight"
            )
        self._finish(handle, packet.reason_code, packet.properties)

    def _receive_pubrec(self, packet: PubRec, now: float) -> None:
        packet_id = packet.packet_id
        handle = self._outgoing.get(packet_id)
        if handle is None or handle._stage is _Stage.AWAITING_PUBACK:
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
        handle._stage = _Stage.AWAITING_PUBCOMP
        self._send(PubRel(packet_id), now)

    def _receive_pubcomp(self, packet: PubComp) -> None:
        handle = self._outgoing.get(packet.packet_id)
        if handle is None or handle._stage is not _Stage.AWAITING_PUBCOMP:
            raise ProtocolViolationError(
                f"the broker sent PUBCOMP for packet id {packet.packet_id}, "
                "which is not waiting for PUBCOMP"
            )
        self._finish(handle, packet.reason_code, packet.properties)

    def _finish(self, handle: PublishHandle, reason_code: int, properties: Properties) -> None:
        del self._outgoing[handle.packet_id]  # type: ignore[arg-type]
        handle._stage = _Stage.DONE
        self._events.append(_new_tuple(PublishCompleted, (handle, reason_code, properties)))

    def _receive_pubrel(self, packet: PubRel, now: float) -> None:
        packet_id = packet.packet_id
        if packet_id in self._inbound_qos2:
            self._inbound_qos2.discard(packet_id)
            self._send(PubComp(packet_id), now)
        elif self._v5:
            self._send(PubComp(packet_id, PubRelReasonCode.PACKET_IDENTIFIER_NOT_FOUND), now)
        else:
            self._send(PubComp(packet_id), now)

    def _receive_suback(self, packet: SubAck) -> None:
        expected = self._subscribes.pop(packet.packet_id, None)
        if expected is None:
            raise ProtocolViolationError(
                f"the broker sent SUBACK for packet id {packet.packet_id}, "
                "which is not a SUBSCRIBE in flight"
            )
        if len(packet.reason_codes) != expected:
            raise ProtocolViolationError(
                f"the broker sent SUBACK with {len(packet.reason_codes)} reason codes "
                f"for a SUBSCRIBE of {expected} topic filters"
            )
        self._events.append(
            SubscribeCompleted(packet.packet_id, packet.reason_codes, packet.properties)
        )

    def _receive_unsuback(self, packet: UnsubAck) -> None:
        expected = self._unsubscribes.pop(packet.packet_id, None)
        if expected is None:
            raise ProtocolViolationError(
                f"the broker sent UNSUBACK for packet id {packet.packet_id}, "
                "which is not an UNSUBSCRIBE in flight"
            )
        if self._v5 and len(packet.reason_codes) != expected:
            raise ProtocolViolationError(
                f"the broker sent UNSUBACK with {len(packet.reason_codes)} reason codes "
                f"for an UNSUBSCRIBE of {expected} topic filters"
            )
        self._events.append(
            UnsubscribeCompleted(packet.packet_id, packet.reason_codes, packet.properties)
        )

    def _receive_disconnect(self, packet: Disconnect) -> None:
        reason = packet.properties.reason_string
        detail = f": {reason}" if reason else ""
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
        authenticator = self._authenticator
        expected = self.state is ConnectionState.CONNECTING or self._reauthenticating
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
            max_packet_size=self.maximum_packet_size or MAX_PACKET_SIZE,
        )

    def _connect_properties(self, properties: Properties) -> Properties:
        extra: dict[str, int] = {}
        if self.receive_maximum != 65535:
            extra["receive_maximum"] = self.receive_maximum
        if self.maximum_packet_size is not None:
            extra["maximum_packet_size"] = self.maximum_packet_size
        if self.topic_alias_maximum:
            extra["topic_alias_maximum"] = self.topic_alias_maximum
        return _replace_properties(properties, **extra) if extra else properties

    def _require_connected(self, what: str) -> None:
        if self.state is not ConnectionState.CONNECTED:
            raise MqttError(f"cannot {what} while {self.state.value}")

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
        if alias is not None and alias > self.server.topic_alias_maximum:
            raise ValueError(
                f"topic_alias={alias} is above the broker's topic alias maximum "
                f"{self.server.topic_alias_maximum}"
            )

    def _encode_publish(self, packet: Publish, *, check_only: bool = False) -> bytes:
        """Encode an outgoing PUBLISH, applying topic aliases, within the broker's size limit."""
        if (
            self._v5
            and not check_only
            and (self.outgoing_topic_aliases or packet.properties.topic_alias is not None)
        ):
            packet = self._apply_outbound_alias(packet)
        data = encode(packet, self.protocol_version)
        limit = self.server.maximum_packet_size
        if limit is not None and len(data) > limit:
            raise ValueError(
                f"the PUBLISH to {packet.topic!r} would be {len(data)} bytes, above the broker's "
                f"maximum packet size of {limit} bytes"
            )
        return data

    def _apply_outbound_alias(self, packet: Publish) -> Publish:
        properties = packet.properties
        explicit = properties.topic_alias
        aliases = self._outbound_aliases
        if explicit is not None:
            if aliases.get(packet.topic) == explicit:
                return packet._replace(topic="")
            for topic, bound in list(aliases.items()):
                if bound == explicit:
                    del aliases[topic]
            aliases[packet.topic] = explicit
            return packet
        alias = aliases.get(packet.topic)  # (only called with outgoing_topic_aliases on)
        if alias is not None:
            return packet._replace(
                topic="", properties=_replace_properties(properties, topic_alias=alias)
            )
        if len(aliases) >= self.server.topic_alias_maximum:
            return packet
        alias = len(aliases) + 1
        aliases[packet.topic] = alias
        return packet._replace(properties=_replace_properties(properties, topic_alias=alias))

    def _write_publish(self, handle: PublishHandle, now: float) -> None:
        packet_id = self._allocate_packet_id()
        topic, payload, qos, retain, dup, _, properties = handle.packet
        data = self._encode_publish(
            _new_tuple(Publish, (topic, payload, qos, retain, dup, packet_id, properties))
        )
        handle.packet_id = packet_id
        handle._stage = _Stage.AWAITING_PUBACK if qos == 1 else _Stage.AWAITING_PUBREC
        self._outgoing[packet_id] = handle
        self._out.append(data)
        self._last_sent = now

    def _flush_pending(self, now: float) -> None:
        limit = min(self.server.receive_maximum, self.max_inflight)
        pending = self._pending
        while pending and len(self._outgoing) < limit:
            handle = pending.popleft()
            try:
                self._write_publish(handle, now)
            except ValueError as error:
                # The broker's limits changed since the call (a smaller maximum packet size or
                # QoS after a reconnect): the message cannot be sent, so say so.
                handle._stage = _Stage.DONE
                self._events.append(PublishFailed(handle, MqttError(str(error))))

    def _allocate_packet_id(self) -> int:
        outgoing, subscribes, unsubscribes = self._outgoing, self._subscribes, self._unsubscribes
        packet_id = self._next_packet_id
        if packet_id in outgoing or packet_id in subscribes or packet_id in unsubscribes:
            # The next id is taken (rare): search on, unless every id is taken. The three
            # tables never share an identifier, so their sizes add up.
            if len(outgoing) + len(subscribes) + len(unsubscribes) >= _MAX_PACKET_ID:
                raise MqttError("all 65535 packet identifiers are in use")
            while packet_id in outgoing or packet_id in subscribes or packet_id in unsubscribes:
                packet_id = packet_id % _MAX_PACKET_ID + 1
        self._next_packet_id = packet_id % _MAX_PACKET_ID + 1
        return packet_id

    def _fail(self, error: ProtocolError, now: float) -> None:
        """The peer broke the protocol: tell it why (MQTT 5) and end the connection."""
        if self._v5 and self.state is ConnectionState.CONNECTED:
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
        self.state = ConnectionState.CLOSED
        self._ping_deadline = None
        self._events.append(Disconnected(error, reason_code, properties))


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is out of range: it must be between {low} and {high}")


def _check_qos(qos: object) -> None:
    if not isinstance(qos, int) or isinstance(qos, bool):
        raise TypeError(f"qos must be an int 0, 1 or 2, got {qos!r}")
    if not 0 <= qos <= 2:
        raise ValueError(f"qos={qos} is not a QoS level: it must be 0, 1 or 2")


def _replace_properties(properties: Properties, **changes: object) -> Properties:
    values = {spec.name: value for spec, value in properties.present()}
    values.update(changes)
    return Properties(**values)  # type: ignore[arg-type]
