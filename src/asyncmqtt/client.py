"""``Client``: the asyncio MQTT client, an async context manager on the sans-I/O protocol core.

Theory of operation
-------------------
``Client`` is the public facade; the work is done by parts with one job each, made in
``__init__`` and kept for the client's whole life (they outlive any one network connection):

* ``ClientOptions`` (``_options.py``): every argument, checked once; the protocol core's
  ``ClientConfig`` among them;
* ``Session`` (``protocol/session.py``): QoS 1/2 messages in flight and waiting, packet ids,
  inbound QoS 2 state, the subscriptions held, the client identifier;
* ``Supervisor`` (``_supervisor.py``): brings the session onto a network connection (one
  attempt, or MQTT 5.0 then 3.1.1), giving each connection a new ``ClientConnection`` and a
  ``Link`` (``_link.py``), the ``asyncio.Protocol`` that drives it;
* ``Waiters`` (``_waiters.py``): the futures of calls waiting for the broker, by publish
  handle and by packet id, with their deadlines;
* ``Router`` (``messages.py``): the message streams, backpressure, and acknowledging each
  QoS 1/2 message once it is in the streams that want it.

Because the session is kept, a persistent session's messages in flight survive leaving the
``async with`` block and entering it again (the reconnect loop of the seeds).

The link hands the core's events to ``_handle_events``, synchronously: ``MessageReceived``
becomes a ``Message`` for the router; publish and subscribe outcomes resolve their waiters;
``Connected`` / ``Disconnected`` go to the supervisor while it is connecting, and otherwise
end the connection for every waiter and stream (they yield what they hold, then raise
``MqttError`` chained to the cause).

Commands (publish, subscribe, unsubscribe, disconnect) call the core, then have the link write
the bytes. A QoS 0 publish creates no task and no future: it is validated, encoded, written (or
collected with its burst) and returns. A publish that times out or is cancelled is withdrawn if
it was never written (it waited for a slot under the broker's Receive Maximum); once written it
stays in the session and completes in the background: the exception says which of the two
happened, and carries the awaitable ``outcome`` of a written one.

Leaving sends DISCONNECT and waits for the transport to close. A connection lost during the
block is raised from ``__aexit__`` only if nothing in the block saw it already and the block
itself did not raise: an exception from the block is never replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Final, Literal, TypeAlias, TypeVar

from ._checks import Logger, check_queue_maxsize, check_timeout
from ._deadlines import Deadlines
from ._link import Link
from ._options import ClientOptions, version_text
from ._reauthentication import Reauthentication
from ._reconnect import Reconnect
from ._request_response import Requester, require_v5, response_to
from ._stats import ClientStats
from ._supervisor import Supervisor
from ._telemetry import Telemetry, in_traced_publish
from ._waiters import Waiters
from .errors import (
    ConnectionLostError,
    MqttCodeError,
    MqttError,
    MqttReentrantError,
    MqttTimeoutError,
    PublishWithdrawnError,
)
from .messages import (
    ClientMessages,
    FilteredStream,
    Message,
    MessageFactory,
    MessageStream,
    Router,
    SubscriptionStream,
    UnfilteredStream,
)
from .protocol.checks import check_bool, check_qos
from .protocol.config import Authenticator, SessionLostPolicy
from .protocol.connection import ClientConnection, ConnectionState
from .protocol.enums import PacketType, ProtocolVersion, RetainHandling
from .protocol.events import (
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
from .protocol.properties import NO_PROPERTIES, Properties
from .protocol.session import PublishHandle, Session
from .protocol.topics import validate_topic_filter, validate_topic_name
from .store import SessionStore
from .topics import TopicLike, WildcardLike
from .transports import ProxySettings, SocketOption, TLSParameters, WebSocketHeaders
from .types import (
    CLEAN_START_FIRST_ONLY,
    PayloadType,
    SubscribeOptions,
    Will,
    check_properties,
    encode_payload,
    filter_text,
    subscriptions_from,
    topic_text,
    unsubscribe_filters,
)

__all__ = ("Client",)

_V5 = ProtocolVersion.V5
# DISCONNECT reason codes after which reconnecting would not help: not authorized, banned,
# session taken over (another client with this identifier connected: coming back would take
# it over in turn, forever).
_FINAL_DISCONNECT_CODES: Final = frozenset({0x87, 0x8A, 0x8E})

CleanStart: TypeAlias = bool | Literal["first_only", 3]
SubscribeTopic: TypeAlias = (
    WildcardLike
    | tuple[WildcardLike, int | SubscribeOptions]
    | Sequence[WildcardLike | tuple[WildcardLike, int | SubscribeOptions]]
)
_T = TypeVar("_T")


class Client:
    """An MQTT client connection: ``async with Client("broker") as client: ...``.

    Connects on enter and disconnects on exit; reusable (enter again after exit) but not
    reentrant (``MqttReentrantError``). The parameters are those of aiomqtt 2.x, with MQTT 5
    properties as ``asyncmqtt.Properties``; every argument is checked here, and a bad one
    raises ``TypeError`` or ``ValueError`` naming it. The guide Connecting has a table of them.

    Where and how to connect:

    * ``hostname``, ``port`` (default 1883): the broker; with ``transport="unix"``, the
      socket's path and no port.
    * ``transport``: ``"tcp"`` (default), ``"unix"`` or ``"websockets"`` (the ``websockets``
      extra), with ``websocket_path`` and ``websocket_headers`` (a dict, or a callable that
      gets the default headers and returns the ones to send).
    * ``tls_context`` (an ``ssl.SSLContext``) or ``tls_params`` (``TLSParameters``) for TLS;
      ``tls_insecure=True`` skips the host name check. See the guide TLS.
    * ``proxy``: ``ProxySettings`` for SOCKS4, SOCKS5 or HTTP CONNECT (the ``proxy`` extra).
    * ``bind_address``, ``bind_port``: the local address to connect from (default: any);
      ``socket_options``: ``(level, option, value)`` tuples for ``setsockopt``.
    * ``timeout``: seconds for connecting (the whole attempt: name, TCP, proxy, TLS, CONNACK)
      and the default for every call that waits; None means 10 s, ``math.inf`` no limit.

    What to say in CONNECT:

    * ``identifier`` (``client_id`` is asyncio-mqtt 0.x's name for it): the client
      identifier; None generates ``asyncmqtt`` and 14 random hex digits, ``""`` lets an
      MQTT 5 broker assign one.
    * ``username``, ``password`` (``str`` or ``bytes``); ``will``: a ``Will``.
    * ``protocol``: ``ProtocolVersion.V31``, ``V311`` or ``V5``; None (default) tries 5.0 and
      falls back to 3.1.1 when the broker does not speak it.
    * ``keepalive``: seconds (0-65535, default 60); a broker that stops answering is noticed
      within 1.5 keepalives.
    * ``clean_session`` (MQTT 3.1.x's name; False keeps the session, and with MQTT 5 means a
      session that never expires) and ``clean_start`` (True, False, or the default ``3`` /
      ``"first_only"``: start clean on this object's first connection only).
    * ``properties``: MQTT 5 CONNECT properties (session expiry, receive maximum, ...).

    Limits and queues:

    * ``max_queued_incoming_messages``: the most messages a stream holds (None: no limit);
      more wait unacknowledged (see the guide Subscribing). ``queue_type``: the queue class
      of ``client.messages`` (e.g. ``asyncio.PriorityQueue``).
    * ``max_queued_outgoing_messages``: the most publishes that may wait to be written; a
      full queue makes ``publish`` wait for room. ``max_inflight_messages``: a cap on
      unacknowledged QoS 1/2 publishes, below the broker's Receive Maximum.
      ``max_concurrent_outgoing_calls``: at most this many calls at once.

    Added by asyncmqtt:

    * ``reconnect``: ``True`` or a ``Reconnect`` policy: inside the block a lost connection
      is made again (with backoff) instead of ending it; publishes made meanwhile wait in an
      offline queue (QoS 0 too, unless ``offline_qos0="raise"``). See the guides Reconnecting
      and Publishing while offline.
    * ``session_store``: where the session is kept (``SQLiteStore`` survives restarts of the
      process; the default ``MemoryStore`` keeps nothing beyond it). See Session stores.
    * ``manual_ack``: QoS 1/2 messages are acknowledged when the application calls
      ``await message.ack()``, not when they reach a stream. See Manual acknowledgements.
    * ``session_lost_policy``: what happens to QoS 1/2 publishes written but not acknowledged
      when a connection starts without the broker's session (CONNACK session present 0: the
      broker lost it, or a clean start): ``SessionLostPolicy.RESEND`` (``"resend"``, the
      default) publishes them again as new messages, ``FAIL`` (``"fail"``) makes each raise
      ``SessionLostError``. See Persistent sessions, "When the broker lost the session".
    * ``authenticator``: MQTT 5 enhanced authentication, an ``Authenticator`` such as
      ``ScramSha256Authenticator``: every connection (each reconnect too) runs a new
      exchange, and ``reauthenticate()`` runs one on the live connection. It needs MQTT 5.0
      (``ValueError`` with ``protocol`` 3.1.x; no fallback to 3.1.1). See Authentication.
    * ``outgoing_topic_aliases``: MQTT 5: the client gives the topics it publishes topic
      aliases, within the Topic Alias Maximum the broker announced, replacing the least
      recently used when all are taken: later publishes to a topic carry a 2-byte alias
      instead of its name. Off by default. ``topic_alias_maximum``: how many aliases the
      broker may use in what it sends us (0 to 65535; default none; the same as the CONNECT
      property). See the guide Topic aliases.
    * ``strict_receive_maximum``: True (the default): a broker that sends more unacknowledged
      QoS 1/2 messages than the Receive Maximum we announced (the CONNECT property
      ``receive_maximum``) breaks the protocol, and the connection ends with DISCONNECT 0x93.
      False: such messages are delivered as usual, logged and counted
      (``client.stats.receive_maximum_exceeded``): for brokers that do it (mosquitto 2.0.11
      with a small Receive Maximum and QoS 2). See Subscribing.
    * ``failover_servers``: other brokers as ``(host, port)`` tuples, tried in order after
      ``hostname``/``port`` on every connection attempt (the first connect and every
      reconnect), with the same settings; ``client.server_address`` says which one is in use.
      ``follow_redirects`` (default True): follow an MQTT 5 CONNACK or DISCONNECT 0x9C (Use
      another server) / 0x9D (Server moved) with a Server Reference; False makes it an error
      naming the reference. See the guide Failover and redirects.
    * ``logger``: where the client logs (default ``logging.getLogger("asyncmqtt")``).
    * ``message_retry_set``: accepted for asyncio-mqtt 0.x code; it has no effect.
    """

    # Slots: programs that hold many clients notice an instance dict (and __weakref__ keeps
    # clients weak-referenceable).
    __slots__ = (
        "__weakref__",
        "_connected",
        "_connected_waiters",
        "_deadlines",
        "_entered",
        "_given_up",
        "_leaving",
        "_link",
        "_logger",
        "_make_message",
        "_options",
        "_reauthentication",
        "_receive_maximum_warned",
        "_requester",
        "_room_waiters",
        "_router",
        "_semaphore",
        "_semaphore_loop",
        "_session",
        "_stats",
        "_store_scheduled",
        "_subscription_counts",
        "_supervisor",
        "_telemetry",
        "_waiters",
        "timeout",
    )

    def __init__(
        self,
        hostname: str,
        port: int = 1883,
        *,
        username: str | None = None,
        password: str | bytes | None = None,
        logger: Logger | None = None,
        identifier: str | None = None,
        queue_type: type[asyncio.Queue[Message]] | None = None,
        protocol: ProtocolVersion | int | None = None,
        will: Will | None = None,
        clean_session: bool | None = None,
        transport: Literal["tcp", "websockets", "unix"] = "tcp",
        timeout: float | None = None,
        keepalive: int = 60,
        bind_address: str = "",
        bind_port: int = 0,
        clean_start: CleanStart = CLEAN_START_FIRST_ONLY,
        max_queued_incoming_messages: int | None = None,
        max_queued_outgoing_messages: int | None = None,
        max_inflight_messages: int | None = None,
        max_concurrent_outgoing_calls: int | None = None,
        properties: Properties | None = None,
        tls_context: ssl.SSLContext | None = None,
        tls_params: TLSParameters | None = None,
        tls_insecure: bool | None = None,
        proxy: ProxySettings | None = None,
        socket_options: Iterable[SocketOption] | None = None,
        websocket_path: str | None = None,
        websocket_headers: WebSocketHeaders | None = None,
        client_id: str | None = None,
        message_retry_set: float | None = None,
        session_lost_policy: SessionLostPolicy | Literal["resend", "fail"] = (
            SessionLostPolicy.RESEND
        ),
        reconnect: bool | Reconnect = False,
        offline_qos0: Literal["queue", "raise"] = "queue",
        session_store: SessionStore | None = None,
        manual_ack: bool = False,
        authenticator: Authenticator | None = None,
        topic_alias_maximum: int | None = None,
        outgoing_topic_aliases: bool = False,
        strict_receive_maximum: bool = True,
        failover_servers: Iterable[tuple[str, int]] | None = None,
        follow_redirects: bool = True,
    ) -> None:
        options = ClientOptions.from_arguments(
            hostname=hostname,
            port=port,
            username=username,
            password=password,
            logger=logger,
            identifier=identifier,
            client_id=client_id,
            queue_type=queue_type,
            protocol=protocol,
            will=will,
            clean_session=clean_session,
            transport=transport,
            timeout=timeout,
            keepalive=keepalive,
            bind_address=bind_address,
            bind_port=bind_port,
            clean_start=clean_start,
            max_queued_incoming_messages=max_queued_incoming_messages,
            max_queued_outgoing_messages=max_queued_outgoing_messages,
            max_inflight_messages=max_inflight_messages,
            max_concurrent_outgoing_calls=max_concurrent_outgoing_calls,
            properties=properties,
            tls_context=tls_context,
            tls_params=tls_params,
            tls_insecure=tls_insecure,
            proxy=proxy,
            socket_options=socket_options,
            websocket_path=websocket_path,
            websocket_headers=websocket_headers,
            message_retry_set=message_retry_set,
            session_lost_policy=session_lost_policy,
            reconnect=reconnect,
            offline_qos0=offline_qos0,
            session_store=session_store,
            manual_ack=manual_ack,
            authenticator=authenticator,
            topic_alias_maximum=topic_alias_maximum,
            outgoing_topic_aliases=outgoing_topic_aliases,
            strict_receive_maximum=strict_receive_maximum,
            failover_servers=failover_servers,
            follow_redirects=follow_redirects,
        )
        self._options = options
        #: Seconds the client's calls wait by default (and connecting takes at most); None:
        #: no limit.
        self.timeout: float | None = options.timeout
        self._logger = options.logger
        self._session = _load_session(options)
        self._waiters = Waiters(options.logger)
        session = self._session
        self._stats = ClientStats(
            lambda: (session.inflight_count, session.pending_count),
            # (Read by metric readers, maybe from another thread: no router is made here.)
            lambda: 0 if self._router is None else self._router.queued(),
        )
        self._supervisor = Supervisor(
            options,
            self._session,
            self._handle_events,
            self._attach,
            sink=options.store if options.store.durable else None,
            reconnect=options.reconnect,
            on_given_up=self._give_up,
            stats=self._stats,
        )
        self._make_message = MessageFactory(self._ack_message if options.manual_ack else None)
        # Made inside the running loop, when first needed.
        self._router: Router | None = None
        self._deadlines: Deadlines | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None
        self._link: Link | None = None
        self._entered = False
        self._leaving = False
        self._connected = False
        self._given_up: MqttError | None = None  # why reconnecting stopped, if it did
        self._connected_waiters: list[asyncio.Future[None]] = []
        self._room_waiters: list[asyncio.Future[None]] = []
        self._store_scheduled = False
        # An observer of publishes and received messages (asyncmqtt.otel installs one).
        self._telemetry: Telemetry | None = None
        self._subscription_counts: dict[str, int] = {}
        self._reauthentication = Reauthentication()
        self._requester: Requester | None = None  # made by the first request()
        self._receive_maximum_warned = -1  # the connection last warned of (see its method)

    # ------------------------------------------------------------------ read-only state

    @property
    def identifier(self) -> str:
        """The client identifier: the given one, a generated one, or the broker's assigned one."""
        session = self._session
        return session.client_id if session.started else self._options.config.client_id

    @property
    def id(self) -> str:
        """``identifier`` under asyncio-mqtt 0.x's name."""
        return self.identifier

    @property
    def protocol(self) -> ProtocolVersion:
        """The MQTT version in use (after a fallback, 3.1.1)."""
        return self._supervisor.config.protocol_version

    @property
    def server(self) -> ServerSettings:
        """What the broker said in its last CONNACK: session present, limits, assigned id..."""
        conn = self._supervisor.conn
        return ServerSettings() if conn is None else conn.server

    @property
    def server_address(self) -> tuple[str, int]:
        """(host, port) of the broker connected to, or last connected to: the primary
        (``hostname``, ``port``), one of ``failover_servers``, or where a redirect led. Before
        the first connection, the primary. (For ``transport="unix"``: the socket path and the
        port given, which is unused.)"""
        return self._supervisor.server_address

    @property
    def session_present(self) -> bool:
        """Whether the broker resumed a stored session at the last connect."""
        return self.server.session_present

    @property
    def is_connected(self) -> bool:
        """Whether the client is connected to the broker now."""
        return self._connected

    async def connected(self) -> None:
        """Return once the client is connected (at once if it is).

        Inside ``async with client`` with reconnection on, this waits for the reconnection;
        it raises the error that made the client give up, or ``MqttError`` when the client is
        not in its ``async with`` block (nothing would connect it).
        """
        while not self._connected:
            if self._given_up is not None:
                raise MqttError(f"the client gave up reconnecting: {self._given_up}") from (
                    self._given_up
                )
            if not self._reconnecting():
                raise self._not_connected_error("wait for the connection")
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._connected_waiters.append(waiter)
            await waiter

    @property
    def stats(self) -> ClientStats:
        """What this client did and holds (``ClientStats``): counters and depths, for the
        people who operate it; cheap enough to be always on."""
        return self._stats

    @property
    def messages(self) -> ClientMessages:
        """Every received message that no ``filtered_messages``/``unfiltered_messages`` stream
        took, in arrival order: ``async for message in client.messages``. ``len()`` is the
        number waiting. Several tasks iterating it share the one stream."""
        return self._get_router().everything

    def __repr__(self) -> str:
        state = "connected" if self._connected else "not connected"
        where = self._supervisor.address
        return f"<asyncmqtt.Client {where} identifier={self.identifier!r} {state}>"

    # ------------------------------------------------------------------ connecting

    async def __aenter__(self) -> Client:
        if self._entered:
            raise MqttReentrantError(
                "this Client is already in use (`async with client` is reusable after it "
                "exits, but not reentrant: nested or concurrent entry is not allowed)"
            )
        self._entered = True
        try:
            await self._connect()
        except BaseException:
            self._entered = False
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._entered:
            return  # never entered, or already exited: nothing to do
        self._leaving = True  # (from now on a lost connection is not made again)
        try:
            await self._supervisor.stop()
            await self._disconnect(body_failed=exc is not None)
        finally:
            self._entered = self._leaving = False
            self._wake_connected()

    async def _connect(self) -> None:
        self._given_up = None
        self._get_router()
        loop = asyncio.get_running_loop()
        self._deadlines = self._waiters.deadlines(loop)
        max_calls = self._options.max_calls
        if max_calls is not None and self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(max_calls)
            self._semaphore_loop = loop
        self._link = await self._supervisor.connect()

    def _attach(self, link: Link | None) -> None:
        """The supervisor opened a link (or dropped one): reading follows the streams."""
        self._link = link
        self._get_router().gate.attach(link)

    # ------------------------------------------------------------------ disconnecting

    async def _disconnect(self, *, body_failed: bool) -> None:
        link = self._link
        conn = self._supervisor.conn
        if (
            self._connected
            and link is not None
            and conn is not None
            and conn.state is ConnectionState.CONNECTED
        ):
            try:
                conn.disconnect(now=link.now())
                link.flush()
            except (MqttError, ValueError) as error:  # pragma: no cover - defensive
                self._logger.warning("could not disconnect gracefully: %s", error)
                link.abort()
        if link is not None:
            await self._wait_closed(link)
        self._attach(None)
        router = self._get_router()
        if router.status.reconnecting:  # (left while reconnecting: nothing else ends them)
            self._end_connection("the client disconnected", None, Disconnected(None))
        status = router.status
        cause = status.cause
        if cause is None or status.reported:
            return
        status.reported = True
        if body_failed:
            self._logger.warning(
                "the connection to %s had been lost: %s (raised in the block instead: the "
                "exception of the `async with` block)",
                self._supervisor.address,
                cause,
            )
            return
        raise ConnectionLostError(
            f"the connection to the broker at {self._supervisor.address} ended: {cause}"
        ) from cause

    async def _wait_closed(self, link: Link) -> None:
        if link.closed.done():
            return
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(link.closed)
        except TimeoutError:
            self._logger.warning(
                "the connection to %s did not close within %g s; aborting it",
                self._supervisor.address,
                self.timeout,
            )
            link.abort()
        except asyncio.CancelledError:
            link.abort()
            raise

    # ------------------------------------------------------------------ events from the core

    def _handle_events(self, events: list[Event]) -> None:
        route = self._get_router().route
        # (Its bound ``__call__``: calling the instance itself goes through a slot lookup that
        # cost about three times as much, once per message.)
        make_message = self._make_message.__call__
        publishes = self._waiters.publishes
        conn = self._supervisor.conn
        number = 0 if conn is None else conn.number
        nowait = self._waiters.nowait
        telemetry = self._telemetry
        stats = self._stats
        acknowledged = False  # a QoS 1/2 publish completed: its publisher may be woken
        for event in events:
            if type(event) is MessageReceived:
                message = make_message(event.publish, number)
                if telemetry is not None:
                    telemetry.message_received(message)
                route(message)
            elif type(event) is PublishCompleted and event.reason_code < 0x80:
                handle = event.handle
                qos = handle.packet.qos  # (0: a QoS 0 one queued offline says it was written)
                if qos:
                    stats.publishes_acknowledged += 1
                    acknowledged = True
                # (A handle is in one of the two dicts at most: publish_nowait's first.)
                if (outcome := nowait.pop(handle, None)) is not None:
                    if not outcome.done():  # (one its owner cancelled wants nothing more)
                        outcome.set_result(event.reason_code if qos else None)
                elif (future := publishes.pop(handle, None)) is not None and not future.done():
                    future.set_result(event)
                else:
                    self._waiters.publish_ended(event)
            else:
                self._handle_event(event)
        if acknowledged and (link := self._link) is not None:
            # The publishers just woken mostly publish again when they run: the flush that
            # writes what they publish is scheduled now, to run right after them.
            link.flush_next_turn()
        if self._router.unacknowledged:  # type: ignore[union-attr]
            self._acknowledge_delivered()
        if self._room_waiters:
            self._wake_room()

    def _handle_event(self, event: Event) -> None:
        if isinstance(event, PublishCompleted | PublishFailed):
            stats = self._stats
            if isinstance(event, PublishFailed):
                stats.publishes_failed += 1
            else:
                refused, code = stats.publishes_refused, int(event.reason_code)
                refused[code] = refused.get(code, 0) + 1
            self._waiters.publish_ended(event)
        elif isinstance(event, SubscribeCompleted | UnsubscribeCompleted):
            self._waiters.ack_received(event)
        elif isinstance(event, Connected):
            # Connected here, synchronously: a Disconnected in the same batch must see it.
            self._connected = True
            self._stats.connections += 1
            conn = self._supervisor.conn
            self._get_router().connection_started(0 if conn is None else conn.number)
            self._supervisor.connection_event(event)
            self._wake_connected()
        elif isinstance(event, SubscriptionsRestored):
            self._report_restored(event)
        elif isinstance(event, ReceiveMaximumExceeded):
            self._report_receive_maximum_exceeded(event)
        elif isinstance(event, Reauthenticated):
            self._reauthentication.ended(event)
            self._logger.info("re-authenticated with the broker at %s", self._supervisor.address)
        elif isinstance(event, Disconnected):
            self._reauthentication.ended(event)
            if not self._supervisor.connection_event(event):  # (else: the attempt reports it)
                self._on_disconnected(event)
        else:
            self._logger.debug("event: %s", event)

    def _on_disconnected(self, event: Disconnected) -> None:
        if not self._connected:
            return
        self._connected = False
        error = event.error
        link = self._link
        if link is not None and link.failure is not None:
            what = (
                "the session store could not keep the session's changes"
                if link.failure_in_store
                else "handling what the broker sent raised"
            )
            error = MqttError(f"the connection was closed because {what}: {link.failure!r}")
            error.__cause__ = link.failure
        if error is not None:
            self._stats.connection_losses += 1
            self._supervisor.disconnected(event)  # (a redirect for the next attempt)
        if error is not None and self._reconnecting():
            if event.reason_code not in _FINAL_DISCONNECT_CODES:
                self._connection_paused(event, error)
                return
            self._give_up(error)
            return
        if error is None:
            reason = "the client disconnected"
        else:
            reason = f"the connection ended: {error}"
            self._logger.warning("connection to %s lost: %s", self._supervisor.address, error)
        self._end_connection(reason, error, event)

    def _connection_paused(self, event: Disconnected, error: MqttError) -> None:
        """Reconnecting: streams keep waiting, publishes stay in the session and keep their
        callers waiting; only SUBSCRIBE / UNSUBSCRIBE (never resent by MQTT) are sent again."""
        self._attach(None)
        self._get_router().connection_paused()
        acks = list(self._waiters.acks.values())
        self._waiters.acks.clear()
        for future in acks:
            if not future.done():
                future.set_result(event)
        self._supervisor.connection_lost(error)

    def _give_up(self, error: MqttError) -> None:
        """Reconnecting cannot succeed (or the broker said so): end as without Reconnect."""
        self._given_up = error
        self._connected = False
        reason = f"the client gave up reconnecting: {error}"
        self._logger.error("connection to %s: %s", self._supervisor.address, reason)
        self._end_connection(
            reason, error, Disconnected(error if isinstance(error, MqttError) else None)
        )
        self._wake_connected()

    def _end_connection(
        self, reason: str, error: BaseException | None, event: Disconnected
    ) -> None:
        """The connection is over for good: streams end, waiting calls get ``event``."""
        self._get_router().connection_ended(reason, error)
        if self._requester is not None:
            self._requester.connection_ended(reason, error)
        # Publishes not yet written are withdrawn: their callers are told so and may retry.
        conn = self._supervisor.conn
        for handle in self._waiters.publishes:
            if not handle.written and not handle.done and conn is not None:
                conn.withdraw(handle)
        self._waiters.connection_ended(event)

    def _wake_connected(self) -> None:
        waiters = self._connected_waiters
        self._connected_waiters = []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _wake_room(self) -> None:
        limit = self._options.max_outgoing
        if limit is None or self._session.pending_count < limit:
            waiters = self._room_waiters
            self._room_waiters = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _report_restored(self, event: SubscriptionsRestored) -> None:
        if event.topic_filters:
            self._logger.info(
                "the broker had lost the session; subscribed again to %s",
                ", ".join(map(repr, event.topic_filters)),
            )
        for topic_filter, code in event.refused:
            self._logger.warning(
                "the broker had lost the session and refused the subscription to %r again "
                "(reason code %#04x): it is no longer held",
                topic_filter,
                code,
            )

    def _report_receive_maximum_exceeded(self, event: ReceiveMaximumExceeded) -> None:
        """``strict_receive_maximum=False`` tolerated a broker beyond our Receive Maximum:
        counted, and logged at WARNING the first time on each connection (DEBUG after)."""
        stats = self._stats
        stats.receive_maximum_exceeded += 1
        conn = self._supervisor.conn
        number = 0 if conn is None else conn.number
        first = number != self._receive_maximum_warned
        self._receive_maximum_warned = number
        self._logger.log(
            logging.WARNING if first else logging.DEBUG,
            "the broker at %s sent %d unacknowledged QoS 1/2 messages, more than our Receive "
            "Maximum of %d (packet id %d); tolerated (strict_receive_maximum=False): the "
            "message is delivered (%d times in all: client.stats.receive_maximum_exceeded%s)",
            self._supervisor.address,
            event.unacknowledged,
            event.receive_maximum,
            event.packet_id,
            stats.receive_maximum_exceeded,
            "; further ones on this connection are logged at DEBUG" if first else "",
        )

    def _acknowledge_delivered(self) -> None:
        """Acknowledge the messages the router delivered since the last time (see messages.py).

        (The link may not be ``self._link`` yet: a broker's first messages can arrive before
        the connect attempt has resumed, so only the connection and the loop are used here.)
        """
        router = self._get_router()
        count = router.unacknowledged
        router.unacknowledged = 0
        conn = self._supervisor.conn
        if count and conn is not None:
            conn.acknowledge_first(count, asyncio.get_running_loop().time())

    def _acknowledge(self, message: Message) -> None:
        """The router delivered a message that came on an earlier network connection, or
        took one out of order (a response to ``request``): acknowledge that one alone."""
        conn = self._supervisor.conn
        if conn is not None:
            now = asyncio.get_running_loop().time()
            conn.acknowledge(message.mid, message.qos, message._connection, now)

    def _ack_message(self, message: Message) -> None:
        """``message.ack()`` with ``manual_ack=True`` (see messages.py for the rules)."""
        conn = self._supervisor.conn
        assert conn is not None  # (a message came on a connection)
        conn.acknowledge(message.mid, message.qos, message._connection, self._now())
        self._flush()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _flush(self) -> None:
        self._acknowledge_delivered()
        link = self._link
        if link is not None:
            link.flush()

    # ------------------------------------------------------------------ publishing

    async def publish(
        self,
        topic: TopicLike,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        *,
        timeout: float | None = None,
    ) -> int | None:
        """Publish a message to ``topic`` (a ``str`` or ``Topic``; no wildcards).

        ``payload``: ``str`` (sent as UTF-8), ``bytes``, ``bytearray``, ``int`` or ``float``
        (sent as their text) or None (empty). ``qos``: 0, 1 or 2. ``retain``: the broker keeps
        it for later subscribers. ``properties``: MQTT 5 PUBLISH properties. ``timeout``:
        seconds to wait (default: the client's ``timeout``).

        QoS 0 returns None once the message is written to the transport, or queued with the
        burst of publishes it belongs to (written as one when the event loop turns). QoS 1
        and 2 return the broker's reason code once PUBACK / PUBCOMP came.

        Raises ``TypeError`` / ``ValueError`` for a bad argument (nothing is sent);
        ``MqttCodeError`` when the broker refused the message; ``PublishWithdrawnError`` when
        it timed out or the connection ended before it was written (it will not be sent);
        ``MqttTimeoutError`` or ``ConnectionLostError`` when it was written but not yet
        acknowledged (it stays in the session; ``error.outcome`` says how it ends);
        ``MqttError`` when not connected and not reconnecting. See the guide Publishing.
        """
        # Plain str and bytes, the common case, skip the conversions.
        name = topic if type(topic) is str else topic_text(topic)
        data = payload if type(payload) is bytes else encode_payload(payload)
        props = NO_PROPERTIES
        if properties is not None:
            props = check_properties(properties, PacketType.PUBLISH, what="publish()")
        seconds = self.timeout if timeout is None else self._seconds(timeout)
        link: Link | None = self._link
        if link is not None and self._connected:
            conn = link.conn
        else:
            link, conn = self._offline_target(name, qos, retain)
        if properties is not None and props:
            self._require_v5("properties in publish()")
        if self._telemetry is not None and not in_traced_publish.get():
            return await self._traced_publish(
                name, data=data, qos=qos, retain=retain, props=props, timeout=timeout
            )
        # One coroutine for the whole call (no inner helper): publish is the hot path.
        semaphore = self._semaphore
        if semaphore is not None:
            await semaphore.acquire()
        try:
            if link is not None and link.write_paused:
                await self._wait_writable(link, name, seconds)
            max_outgoing = self._options.max_outgoing
            if max_outgoing and conn.pending_count >= max_outgoing:
                await self._wait_for_room(name, max_outgoing, seconds)
                link = self._link if self._connected else None
                conn = self._supervisor.conn  # type: ignore[assignment]
            loop = asyncio.get_running_loop() if link is None else link.loop
            now = loop.time()
            handle = conn.publish(name, data, qos, retain, props, now=now)
            self._stats.messages_sent[qos] += 1
            if handle is None:
                # QoS 0 is timed by nobody but its latency: the first of a burst goes at once.
                link.flush_soon(len(data), first_at_once=True)  # type: ignore[union-attr]
                return None
            # (None if it waits for a slot: a new handle gets its packet id when it is written,
            # a cheaper test than the ``written`` property.)
            if link is not None and handle.packet_id is not None:
                link.flush_soon(len(data))
            elif self._session.recording:  # (stored now, not when it is written)
                self._store_soon()
            future: asyncio.Future[Event] = loop.create_future()
            self._waiters.publishes[handle] = future
            if seconds is not None:
                self._deadlines.add(future, now + seconds)  # type: ignore[union-attr]
            router = self._router
            reading = router is not None and router._readers is not None and router.reader_waits()
            try:
                event = await future
            except TimeoutError:
                if self._withdraw(handle):
                    raise PublishWithdrawnError(
                        f"publish to {name!r} timed out after {seconds:g} s before it was "
                        "written (it waited for a slot under the broker's receive maximum, or "
                        "for a connection); it was withdrawn and will not be sent"
                    ) from None
                error = MqttTimeoutError(
                    f"publish to {name!r} (QoS {qos}, packet id {handle.packet_id}) timed out "
                    f"after {seconds:g} s: it was already written to the broker; it stays "
                    "in the session and completes in the background (see error.outcome)"
                )
                error.outcome = self._waiters.abandon(handle)
                raise error from None
            except asyncio.CancelledError:
                if not self._withdraw(handle):
                    self._logger.debug(
                        "publish to %r cancelled after it was written; it stays in the session",
                        name,
                    )
                raise
            finally:
                self._waiters.publishes.pop(handle, None)
                if reading:
                    router.reader_done()  # type: ignore[union-attr]
        finally:
            if semaphore is not None:
                semaphore.release()
        if type(event) is PublishCompleted and event.reason_code < 0x80:
            return event.reason_code if qos else None
        raise self._publish_error(event, handle, name)

    async def _traced_publish(
        self,
        name: str,
        *,
        data: bytes,
        qos: int,
        retain: bool,
        props: Properties,
        timeout: float | None,
    ) -> int | None:
        """``publish`` with the telemetry told of it (and given a say on its properties)."""
        assert self._telemetry is not None
        props, finish = self._telemetry.publish_started(
            name, qos, props, self.protocol is _V5, len(data)
        )
        token = in_traced_publish.set(True)
        try:
            result = await self.publish(name, data, qos, retain, props or None, timeout=timeout)
        except BaseException as error:
            finish(error)
            raise
        finally:
            in_traced_publish.reset(token)
        finish(None)
        return result

    def publish_nowait(
        self,
        topic: TopicLike,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> asyncio.Future[int | None]:
        """Publish without waiting: queue the message and return a future of its outcome.

        The arguments are ``publish``'s, without ``timeout``. The future resolves to the
        broker's reason code once PUBACK / PUBCOMP came (QoS 1/2) or to None once the message
        is written (QoS 0), or fails with the ``MqttError`` that says why (``MqttCodeError``
        when the broker refused it). Nothing waits here: a bad argument raises ``TypeError`` /
        ``ValueError``, a full outgoing queue (``max_queued_outgoing_messages``) raises
        ``MqttError`` at once, as does not being connected when the client does not
        reconnect. See the guide Publishing while offline.
        """
        name = topic if type(topic) is str else topic_text(topic)
        data = payload if type(payload) is bytes else encode_payload(payload)
        props = NO_PROPERTIES
        if properties is not None:
            props = check_properties(properties, PacketType.PUBLISH, what="publish_nowait()")
        link: Link | None = self._link
        if link is not None and self._connected:
            conn = link.conn
        else:
            link, conn = self._offline_target(name, qos, retain)
        if properties is not None and props:
            self._require_v5("properties in publish_nowait()")
        max_outgoing = self._options.max_outgoing
        if max_outgoing and conn.pending_count >= max_outgoing:
            raise MqttError(
                f"cannot publish to {name!r} now: the outgoing queue is full "
                f"(max_queued_outgoing_messages={max_outgoing}); await earlier publishes first"
            )
        loop = asyncio.get_running_loop() if link is None else link.loop
        finish = None
        if self._telemetry is not None:
            props, finish = self._telemetry.publish_started(
                name, qos, props, self.protocol is _V5, len(data)
            )
        try:
            handle = conn.publish(name, data, qos, retain, props, now=loop.time())
        except BaseException as error:  # (refused at the call: the telemetry hears of it too)
            if finish is not None:
                finish(error)
            raise
        self._stats.messages_sent[qos] += 1
        future: asyncio.Future[int | None] = loop.create_future()
        if finish is not None:
            future.add_done_callback(functools.partial(_report_outcome, finish))
        if handle is None:
            link.flush_soon(len(data), first_at_once=True)  # type: ignore[union-attr]
            future.set_result(None)
            return future
        # (Written now, not queued: a new handle's packet id is set when it is written; this
        # test costs less than the ``written`` property.)
        if link is not None and handle.packet_id is not None:
            link.flush_soon(len(data))
        elif self._session.recording:
            self._store_soon()
        self._waiters.nowait[handle] = future
        return future

    def _offline_target(
        self, name: str, qos: object, retain: object
    ) -> tuple[None, ClientConnection]:
        """Where a publish goes while not connected: the session, if the client reconnects
        (its latest connection queues it there); else it raises, saying why."""
        conn = self._supervisor.conn
        if (
            self._reconnecting()
            and conn is not None
            and (qos or self._options.config.queue_qos0_offline)
        ):
            return None, conn
        validate_topic_name(name)
        check_qos(qos)
        check_bool(retain, "retain")
        if self._reconnecting():
            raise MqttError(
                f"cannot publish to {name!r} with QoS 0 while reconnecting "
                "(offline_qos0='raise'); it was not sent"
            )
        raise self._not_connected_error(f"publish to {name!r}")

    async def _wait_for_room(self, name: str, limit: int, seconds: float | None) -> None:
        """Wait until fewer than ``limit`` publishes wait to be written (backpressure)."""
        try:
            async with asyncio.timeout(seconds):
                while self._session.pending_count >= limit:
                    room: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    self._room_waiters.append(room)
                    await room
        except TimeoutError:
            raise PublishWithdrawnError(
                f"publish to {name!r} timed out after {seconds:g} s waiting for room in the "
                f"outgoing queue (max_queued_outgoing_messages={limit}); nothing was sent"
            ) from None
        if not self._connected and not self._reconnecting():
            raise self._not_connected_error(f"publish to {name!r}")

    async def _wait_writable(self, link: Link, name: str, seconds: float | None) -> None:
        """Wait until the transport takes writes again (QoS 0 backpressure)."""
        try:
            await self._wait(link.wait_writable(), seconds)
        except TimeoutError:
            raise PublishWithdrawnError(
                f"publish to {name!r} timed out after {seconds:g} s waiting "
                "for the transport's write buffer to drain; nothing was written"
            ) from None
        if self._link is not link or not self._connected:
            raise self._not_connected_error(f"publish to {name!r}")

    def _withdraw(self, handle: PublishHandle) -> bool:
        conn = self._supervisor.conn
        if handle.written or handle.done or conn is None or not conn.withdraw(handle):
            return False
        if self._room_waiters:
            self._wake_room()
        if self._session.recording:
            self._store_soon()  # (it must not come back after a restart)
        return True

    def _store_soon(self) -> None:
        """Store the session's new records when the loop next turns, with or without a link.

        The link stores them before each write; this is for what changes while nothing is
        written: a publish queued while disconnected or waiting for a slot, one withdrawn.
        """
        link = self._link
        if link is not None:
            link.flush_soon(0)
        elif not self._store_scheduled:
            self._store_scheduled = True
            asyncio.get_running_loop().call_soon(self._store_now)

    def _store_now(self) -> None:
        self._store_scheduled = False
        records = self._session.take_records()
        if not records:
            return
        try:
            self._options.store.apply(records)
        except Exception as error:  # (a full disk, say: the application must hear of it)
            self._logger.error(
                "the session store could not keep %d changes of the session: %s; they "
                "are lost if the process ends before the next write succeeds",
                len(records),
                error,
            )

    def _publish_error(self, event: Event, handle: PublishHandle, name: str) -> Exception:
        """What a publish that did not succeed raises (``publish`` returns the successes)."""
        if type(event) is PublishCompleted:
            return MqttCodeError(
                event.reason_code,
                f"the broker refused the publish to {name!r}",
                properties=event.properties,
            )
        if isinstance(event, PublishFailed):
            return event.error
        assert isinstance(event, Disconnected)
        self._mark_reported()
        if not handle.written or (handle.done and handle.packet_id is None):
            error: MqttError = PublishWithdrawnError(
                f"publish to {name!r}: {self._ended_text(event)} before it was written; it was "
                "withdrawn and will not be sent"
            )
        else:
            lost = ConnectionLostError(
                f"publish to {name!r}: {self._ended_text(event)} before the broker acknowledged "
                "it; it was already written, so it stays in the session and is resent when the "
                "client reconnects with that session (see error.outcome)"
            )
            lost.outcome = self._waiters.abandon(handle)
            error = lost
        error.__cause__ = event.error
        return error

    # ------------------------------------------------------------------ subscribing

    async def subscribe(
        self,
        topic: SubscribeTopic,
        qos: int = 0,
        options: SubscribeOptions | None = None,
        properties: Properties | None = None,
        *,
        timeout: float | None = None,
    ) -> tuple[int, ...]:
        """Subscribe to one or more topic filters with one SUBSCRIBE packet.

        ``topic`` is a filter (``str`` or ``Wildcard``), a ``(filter, qos or SubscribeOptions)``
        pair, or a list of those; ``qos`` (0, 1, 2) or ``options`` (``SubscribeOptions``: QoS
        and the MQTT 5 options) apply to the filters given without their own. ``properties``:
        MQTT 5 SUBSCRIBE properties (a subscription identifier, user properties).
        ``timeout``: seconds to wait (default: the client's). While the client reconnects,
        the call waits for the connection within ``timeout``.

        Returns the broker's reason code per filter, as ``SubAckReasonCode`` members (the
        granted QoS 0, 1 or 2 on success). Raises ``MqttCodeError`` listing them if any was
        refused, ``TypeError`` / ``ValueError`` for a bad argument, ``MqttTimeoutError`` when
        no answer came in time, ``MqttError`` when not connected. See the guide Subscribing.
        """
        subscriptions = subscriptions_from(topic, qos, options)
        seconds = self._seconds(timeout)
        props = NO_PROPERTIES
        if properties is not None:
            props = check_properties(properties, PacketType.SUBSCRIBE, what="subscribe()")
        filters = ", ".join(repr(sub.topic_filter) for sub in subscriptions)
        what = f"subscribe to {filters}"
        self._require_link(what)
        if props:
            self._require_v5("properties in subscribe()")
        if not self.protocol == _V5 and any(
            sub.no_local or sub.retain_as_published or sub.retain_handling for sub in subscriptions
        ):
            raise ValueError(
                "no_local, retain_as_published and retain_handling need MQTT 5.0; this "
                f"connection uses MQTT {version_text(self.protocol)}"
            )
        async with self._outgoing_call():
            event = await self._call(
                lambda conn, now: conn.subscribe(subscriptions, props, now=now), seconds, what
            )
        assert isinstance(event, SubscribeCompleted)
        codes = event.reason_codes
        if any(code >= 0x80 for code in codes):
            raise MqttCodeError(
                codes, f"the broker refused subscribing to {filters}", properties=event.properties
            )
        return codes

    async def unsubscribe(
        self,
        topic: WildcardLike | Sequence[WildcardLike],
        properties: Properties | None = None,
        *,
        timeout: float | None = None,
    ) -> tuple[int, ...]:
        """Unsubscribe from one or more topic filters with one UNSUBSCRIBE packet.

        ``topic``: a filter (``str`` or ``Wildcard``) or a list of them. ``properties``: MQTT 5
        UNSUBSCRIBE properties. ``timeout``: seconds to wait (default: the client's).

        Returns the broker's reason code per filter (MQTT 5; an empty tuple for MQTT 3.1.x,
        whose UNSUBACK carries none). Raises ``MqttCodeError`` listing them if any failed,
        ``TypeError`` / ``ValueError`` for a bad argument, ``MqttTimeoutError`` when no answer
        came in time, ``MqttError`` when not connected.
        """
        filters_list = unsubscribe_filters(topic)
        seconds = self._seconds(timeout)
        props = NO_PROPERTIES
        if properties is not None:
            props = check_properties(properties, PacketType.UNSUBSCRIBE, what="unsubscribe()")
        filters = ", ".join(repr(text) for text in filters_list)
        what = f"unsubscribe from {filters}"
        self._require_link(what)
        if props:
            self._require_v5("properties in unsubscribe()")
        async with self._outgoing_call():
            event = await self._call(
                lambda conn, now: conn.unsubscribe(filters_list, props, now=now), seconds, what
            )
        assert isinstance(event, UnsubscribeCompleted)
        codes = event.reason_codes
        if any(code >= 0x80 for code in codes):
            raise MqttCodeError(
                codes,
                f"the broker refused unsubscribing from {filters}",
                properties=event.properties,
            )
        return codes

    # ------------------------------------------------------------------ authentication

    async def reauthenticate(self, *, timeout: float | None = None) -> None:
        """Authenticate again on the live connection (MQTT 5 re-authentication).

        The client's ``authenticator`` runs a new exchange (AUTH 0x19, the broker's
        challenges, its AUTH 0x00); this returns when the broker accepted it. Meanwhile the
        connection carries on as before, under the previous authentication. ``timeout``:
        seconds to wait (default: the client's).

        One exchange runs at a time: a call made while another's is under way waits for that
        one to end, then starts its own. While the client reconnects, the call waits for the
        connection (whose CONNECT runs an exchange of its own), then starts one.

        Raises ``ValueError`` without an ``authenticator``; ``MqttCodeError`` when the broker
        refused (it then disconnects: ``rc`` is its DISCONNECT reason code, such as 0x87 Not
        authorized); ``MqttError`` when the authenticator rejected the broker (the client then
        closes the connection with 0x87) or the connection ended first; ``MqttTimeoutError``
        when the broker did not finish in time (the exchange stays under way: MQTT cannot
        abandon one, and the next call waits for it); ``MqttError`` when not connected and not
        reconnecting. What the authenticator's ``initial_data`` raises propagates, with
        nothing sent. See the guide Authentication.
        """
        if self._options.config.authenticator is None:
            raise ValueError(
                "reauthenticate() needs an authenticator: give Client(authenticator=...)"
            )
        seconds = self._seconds(timeout)
        self._require_link("reauthenticate")
        try:
            await self._reauthentication.run(
                self._start_reauthentication,
                lambda: self._wait_connected("reauthenticate"),
                seconds,
            )
        except MqttError:
            if not self._connected:  # (the caller was told how the connection ended)
                self._mark_reported()
            raise

    def _start_reauthentication(self) -> bool:
        """Send AUTH 0x19 on the live connection; False when there is none."""
        link = self._link
        if link is None or not self._connected:
            return False
        link.conn.reauthenticate(link.now())
        link.flush()
        return True

    async def _call(
        self,
        send: Callable[[ClientConnection, float], int],
        timeout: float | None,
        what: str,
    ) -> Event:
        """Send SUBSCRIBE / UNSUBSCRIBE with ``send`` and await the broker's answer.

        While the client reconnects, the call waits for the connection, and sends again if the
        connection is lost before the answer (MQTT does not resend these), all within
        ``timeout``.
        """
        router = self._get_router()
        reading = router.reader_waits()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    link = self._link
                    if link is None or not self._connected:
                        await self._wait_connected(what)
                        continue
                    packet_id = send(link.conn, link.now())
                    link.flush()
                    future = self._waiters.wait_for_ack(packet_id)
                    try:
                        event = await future
                    finally:
                        self._waiters.acks.pop(packet_id, None)
                    if not isinstance(event, Disconnected):
                        return event
                    if not self._reconnecting():
                        self._mark_reported()
                        raise MqttError(
                            f"{what}: {self._ended_text(event)} before the broker answered"
                        ) from event.error
        except TimeoutError:
            raise MqttTimeoutError(
                f"{what} timed out after {timeout:g} s: no answer from the broker"
            ) from None
        finally:
            if reading:
                router.reader_done()

    async def _wait_connected(self, what: str) -> None:
        """Wait for the connection while reconnecting; else raise, saying why not."""
        if not self._reconnecting():
            raise self._not_connected_error(what)
        await self.connected()

    # ------------------------------------------------------------------ streams (asyncio-mqtt 0.x)

    def filtered_messages(
        self, topic_filter: WildcardLike, *, queue_maxsize: int = 0
    ) -> contextlib.AbstractAsyncContextManager[MessageStream]:
        """``async with client.filtered_messages("a/+") as messages``: a stream of the messages
        whose topic matches ``topic_filter`` (open it before subscribing to get retained
        messages). ``queue_maxsize``: the most messages it holds (0: the client's
        ``max_queued_incoming_messages``). asyncio-mqtt 0.x's API: its messages' topics are
        ``str``. See the guide Filtered streams."""
        text = filter_text(topic_filter)
        validate_topic_filter(text)
        limit = check_queue_maxsize(queue_maxsize) or self._options.max_incoming
        return FilteredStream(self._get_router(), (text,), limit, str_topics=True)

    def unfiltered_messages(
        self, *, queue_maxsize: int = 0
    ) -> contextlib.AbstractAsyncContextManager[MessageStream]:
        """``async with client.unfiltered_messages() as messages``: a stream of the messages
        that no filtered stream took. ``queue_maxsize`` as for ``filtered_messages``."""
        limit = check_queue_maxsize(queue_maxsize) or self._options.max_incoming
        return UnfilteredStream(self._get_router(), limit)

    def subscription(
        self,
        topic_filter: SubscribeTopic,
        qos: int = 0,
        *,
        options: SubscribeOptions | None = None,
        properties: Properties | None = None,
        timeout: float | None = None,
    ) -> contextlib.AbstractAsyncContextManager[MessageStream]:
        """``async with client.subscription("a/#", qos=1) as messages``: subscribe on enter,
        stream only what matches the filter, unsubscribe on exit (when the last open
        ``subscription`` of that filter exits).

        ``topic_filter`` takes what ``subscribe`` takes: one filter, a ``(filter, qos or
        SubscribeOptions)`` pair, or a list of those, subscribed with one SUBSCRIBE; the
        stream then has every message that matches any of them, each once (a broker may
        still send a message once per matching subscription: MQTT allows it). ``qos``,
        ``options``, ``properties`` and ``timeout`` are ``subscribe``'s; entering raises
        what ``subscribe`` raises. See the guide Filtered streams."""
        subscriptions = subscriptions_from(topic_filter, qos, options)
        if properties is not None:
            check_properties(properties, PacketType.SUBSCRIBE, what="subscription()")
        chosen = [
            (
                sub.topic_filter,
                SubscribeOptions(
                    sub.qos, sub.no_local, sub.retain_as_published, sub.retain_handling
                ),
            )
            for sub in subscriptions
        ]

        async def unsubscribe(filters: list[str]) -> None:
            if self.is_connected:
                await self.unsubscribe(filters, timeout=timeout)

        return SubscriptionStream(
            self._get_router(),
            [sub.topic_filter for sub in subscriptions],
            self._options.max_incoming,
            subscribe=lambda: self.subscribe(chosen, properties=properties, timeout=timeout),
            unsubscribe=unsubscribe,
            counts=self._subscription_counts,
            logger=self._logger,
        )

    # ------------------------------------------------------------------ request/response

    async def request(
        self,
        topic: TopicLike,
        payload: PayloadType = None,
        *,
        qos: int = 1,
        timeout: float | None = None,
        properties: Properties | None = None,
    ) -> Message:
        """Publish a request to ``topic`` and return the response (MQTT 5 request/response).

        The request carries a Response Topic (the client's own, subscribed to on first use)
        and a unique Correlation Data; the responder publishes its answer there with the same
        correlation data (``respond`` does), and that message is returned. ``payload``,
        ``qos`` (default 1) and ``properties`` (MQTT 5 PUBLISH properties, without
        ``response_topic`` and ``correlation_data``, which are set here) are ``publish``'s.
        ``timeout``: seconds for the whole request, from subscribing to the response
        (default: the client's ``timeout``; ``math.inf``: no limit). Concurrent requests are
        matched by their correlation data; responses never reach ``client.messages`` or any
        other stream.

        Raises ``MqttTimeoutError`` when no response came in time (one that comes later is
        discarded, logged and counted in ``client.stats.responses_discarded``);
        ``MqttCodeError`` when the broker refused the request or the response subscription,
        or said that no subscription matches the request's topic (PUBACK 0x10, QoS 1/2:
        nobody would respond); ``ValueError`` on MQTT 3.1.x and for bad arguments;
        ``MqttError`` when the connection ends for good before the response. See the guide
        Request/response.
        """
        require_v5(self.protocol, "request()")
        return await self._get_requester().request(
            topic, payload, qos=qos, timeout=self._seconds(timeout), properties=properties
        )

    async def respond(
        self,
        request: Message,
        payload: PayloadType = None,
        *,
        qos: int = 1,
        properties: Properties | None = None,
        timeout: float | None = None,
    ) -> int | None:
        """Publish the response to ``request``, a received request message (MQTT 5).

        The response goes to the request's Response Topic with its Correlation Data, so that
        the requester's ``request`` returns it. ``payload``, ``qos`` (default 1),
        ``properties`` (without ``correlation_data``) and ``timeout`` are ``publish``'s, and
        so are the return value and the errors; besides, ``ValueError`` for a message without
        a Response Topic (not a request) and on MQTT 3.1.x. See the guide Request/response.
        """
        topic, props = response_to(request, properties, self.protocol)
        return await self.publish(topic, payload, qos, properties=props, timeout=timeout)

    def _get_requester(self) -> Requester:
        requester = self._requester
        if requester is None:
            supervisor = self._supervisor
            requester = self._requester = Requester(
                publish=self.publish,
                subscribe=lambda topic, qos: self.subscribe(
                    topic,
                    options=SubscribeOptions(qos, retain_handling=RetainHandling.DO_NOT_SEND),
                    timeout=math.inf,
                ),
                wait_connected=self._wait_connected,
                connection=lambda: supervisor.conn,
                router=self._get_router(),
                logger=self._logger,
                stats=self._stats,
            )
        return requester

    # ------------------------------------------------------------------ helpers

    def _get_router(self) -> Router:
        router = self._router
        if router is None:
            options = self._options
            router = self._router = Router(
                options.queue_type,
                options.max_incoming,
                options.logger,
                acknowledge=self._acknowledge,
                flush=self._flush,
                manual_ack=options.manual_ack,
                stats=self._stats,
            )
        return router

    def _require_link(self, what: str) -> None:
        """Raise unless connected or reconnecting (then calls wait for the connection)."""
        if not self._connected and not self._reconnecting():
            raise self._not_connected_error(what)

    def _reconnecting(self) -> bool:
        """Inside the block with Reconnect on, and not given up: a loss is not the end."""
        return (
            self._options.reconnect is not None
            and self._entered
            and not self._leaving
            and self._given_up is None
        )

    def _not_connected_error(self, what: str) -> MqttError:
        status = self._get_router().status
        if status.cause is not None:
            self._mark_reported()
            return MqttError(f"cannot {what}: {status.reason}")
        return MqttError(f"cannot {what}: the client is not connected")

    def _require_v5(self, what: str) -> None:
        if self.protocol is not _V5:
            raise ValueError(
                f"{what} need MQTT 5.0; this connection uses MQTT {version_text(self.protocol)}"
            )

    def _mark_reported(self) -> None:
        self._get_router().status.reported = True

    def _ended_text(self, event: Disconnected) -> str:
        if event.error is None:
            return "the client disconnected"
        return f"the connection ended ({event.error})"

    def _seconds(self, timeout: float | None) -> float | None:
        """The limit for one call: its ``timeout``, or the client's default (None: none)."""
        if timeout is None:
            return self.timeout
        return check_timeout("timeout", timeout)

    @staticmethod
    async def _wait(awaitable: Awaitable[_T], seconds: float | None) -> _T:
        """Await with a limit of ``seconds`` (None: no limit)."""
        if seconds is None:
            return await awaitable
        async with asyncio.timeout(seconds):
            return await awaitable

    def _outgoing_call(self) -> contextlib.AbstractAsyncContextManager[object]:
        semaphore = self._semaphore
        return semaphore if semaphore is not None else contextlib.nullcontext()


def _load_session(options: ClientOptions) -> Session:
    """The client's session: new, or the one its store holds (a restarted process resumes)."""
    store = options.store
    configured = options.config.client_id
    if not store.durable:
        return Session(client_id=configured)
    session = Session.restore(store.load())
    if session.started and options.identifier_given and session.client_id != configured:
        raise ValueError(
            f"the session store holds the session of client {session.client_id!r}, not of "
            f"identifier={configured!r}: use the same identifier, or another store"
        )
    if not session.started:
        session.client_id = configured
    return session


def _report_outcome(
    finish: Callable[[BaseException | None], None], future: asyncio.Future[int | None]
) -> None:
    """Tell the telemetry how a ``publish_nowait`` ended (its future is done)."""
    if future.cancelled():
        finish(asyncio.CancelledError())
    else:
        finish(future.exception())
