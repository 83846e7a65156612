"""``Client``: the asyncio MQTT client, an async context manager on the sans-I/O protocol core.

Theory of operation
-------------------
A ``Client`` owns one ``ClientConnection`` (the protocol core) for its whole life: it is made
in ``__init__`` (which validates every parameter, since the core checks CONNECT when it is
made) and kept across ``async with`` blocks, so that a persistent session's messages in flight
survive leaving and entering again. The one exception is the protocol fallback: with
``protocol=None`` the client speaks MQTT 5.0, and if the broker refuses it (CONNACK 0x84, or it
closes or answers garbage before any CONNACK) the core is replaced by an MQTT 3.1.1 one -- at
that point nothing can be in flight -- and the choice is kept for later entries.

Entering opens a transport with ``loop.create_connection`` whose protocol is a ``Link``
(``_link.py``); the link writes CONNECT when the transport is made and feeds everything the
broker sends to the core. The core's events come back to ``_handle_events``, synchronously:

* ``MessageReceived`` becomes a ``Message`` and is routed to the streams (``messages.py``);
* ``PublishCompleted`` / ``PublishFailed`` / ``SubscribeCompleted`` / ``UnsubscribeCompleted``
  resolve the future of the call waiting for them (futures carry the event as their result,
  never an exception: the waiting call decides what to raise, and knows the context);
* ``Connected`` resolves the connect attempt; ``Disconnected`` ends it -- it resolves every
  waiting future and ends every stream (they yield what they hold, then raise ``MqttError``
  chained to the cause).

Commands (publish, subscribe, unsubscribe, disconnect) call the core, then ``link.flush()``,
which writes the bytes with one ``transport.write``. A QoS 0 publish therefore creates no task
and no future: it is validated, encoded, written and returns.

A publish that times out or is cancelled is withdrawn from the core if it was never written
(it was waiting for a slot under the broker's Receive Maximum); once written it stays in the
session and completes in the background, and the exception says which of the two happened.

Leaving sends DISCONNECT and waits for the transport to close. A connection lost during the
block is raised from ``__aexit__`` only if nothing in the block saw it already and the block
itself did not raise: an exception from the block is never replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import secrets
import ssl
from collections.abc import Awaitable, Iterable, Sequence
from types import TracebackType
from typing import Final, Literal, TypeAlias, TypeVar

from ._link import Link
from .errors import (
    ConnectionLostError,
    MqttCodeError,
    MqttConnectError,
    MqttError,
    MqttReentrantError,
    MqttTimeoutError,
    ProtocolError,
    PublishWithdrawnError,
)
from .messages import Message, MessageFactory, MessageStream, Router
from .protocol.connection import ClientConnection, ConnectionState, PublishHandle
from .protocol.enums import (
    ConnAckReasonCode,
    ConnectReturnCode,
    PacketType,
    ProtocolVersion,
)
from .protocol.events import (
    Connected,
    Disconnected,
    Event,
    MessageReceived,
    PublishCompleted,
    PublishFailed,
    ServerSettings,
    SubscribeCompleted,
    UnsubscribeCompleted,
)
from .protocol.packets import Subscription, WillMessage
from .protocol.properties import NO_PROPERTIES, Properties
from .protocol.topics import validate_topic_filter, validate_topic_name
from .topics import TopicLike, Wildcard, WildcardLike
from .transports import (
    ProxySettings,
    SocketOption,
    TLSParameters,
    TransportSettings,
    WebSocketHeaders,
    open_connection,
)
from .types import (
    CLEAN_START_FIRST_ONLY,
    PayloadType,
    SubscribeOptions,
    Will,
    check_bool,
    check_properties,
    check_qos,
    encode_payload,
    filter_text,
    subscription_for,
    topic_text,
)

__all__ = ("Client",)

DEFAULT_TIMEOUT: Final = 10.0
_SESSION_NEVER_EXPIRES: Final = 0xFFFF_FFFF
_TRANSPORTS: Final = ("tcp", "unix", "websockets")
_V5 = ProtocolVersion.V5

CleanStart: TypeAlias = bool | Literal["first_only", 3]
SubscribeTopic: TypeAlias = (
    WildcardLike
    | tuple[WildcardLike, int | SubscribeOptions]
    | Sequence[WildcardLike | tuple[WildcardLike, int | SubscribeOptions]]
)
_Logger: TypeAlias = logging.Logger | logging.LoggerAdapter[logging.Logger]
_T = TypeVar("_T")


class Client:
    """An MQTT client connection: ``async with Client("broker") as client: ...``.

    Connects on enter and disconnects on exit; reusable (enter again after exit) but not
    reentrant. The parameters are those of aiomqtt 2.x, with MQTT 5 properties as
    ``asyncmqtt.Properties``; ``client_id`` and ``message_retry_set`` are accepted for code
    written for asyncio-mqtt 0.x. See docs/connecting.md for each parameter.
    """

    # Slots: with over 30 attributes an instance dict is not key-shared and costs 1.5 KB;
    # programs that hold many clients notice. (__weakref__ keeps clients weak-referenceable.)
    __slots__ = (
        "__weakref__",
        "_acks",
        "_address",
        "_clean_session",
        "_clean_start",
        "_conn",
        "_connack_waiter",
        "_connect_properties",
        "_connected",
        "_entered",
        "_identifier",
        "_keepalive",
        "_link",
        "_logger",
        "_make_message",
        "_max_calls",
        "_max_incoming",
        "_max_inflight",
        "_max_outgoing",
        "_negotiated",
        "_password",
        "_publishes",
        "_queue_type",
        "_requested_protocol",
        "_router",
        "_semaphore",
        "_semaphore_loop",
        "_subscription_counts",
        "_transport_settings",
        "_username",
        "_will",
        "timeout",
    )

    def __init__(
        self,
        hostname: str,
        port: int = 1883,
        *,
        username: str | None = None,
        password: str | bytes | None = None,
        logger: _Logger | None = None,
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
    ) -> None:
        self.timeout: float | None = _check_timeout("timeout", timeout, DEFAULT_TIMEOUT)
        if tls_insecure is not None:
            check_bool(tls_insecure, "tls_insecure")
        # How to reach the broker: checked here, used by transports.open_connection.
        self._transport_settings = TransportSettings(
            hostname=hostname,
            port=port,
            transport=transport,
            tls_context=tls_context,
            tls_params=tls_params,
            tls_insecure=bool(tls_insecure),
            proxy=proxy,
            websocket_path=websocket_path,
            websocket_headers=websocket_headers,
            bind_address=bind_address,
            bind_port=bind_port,
            socket_options=() if socket_options is None else socket_options,
            timeout=self.timeout,
        )
        self._address = self._transport_settings.address
        self._username = _check_optional_str("username", username)
        self._password = _check_password(password)
        self._logger: _Logger = _check_logger(logger)
        self._identifier = _check_identifier(identifier, client_id)
        self._queue_type = _check_queue_type(queue_type)
        self._requested_protocol = _check_protocol(protocol)
        if will is not None and not isinstance(will, Will):
            raise TypeError(f"will must be an asyncmqtt.Will, got {will!r}")
        self._will = will
        if clean_session is not None:
            check_bool(clean_session, "clean_session")
        self._clean_session = clean_session
        self._keepalive = _check_int("keepalive", keepalive, 0, 65535)
        self._clean_start = _check_clean_start(clean_start)
        self._max_incoming = _check_optional_int(
            "max_queued_incoming_messages", max_queued_incoming_messages, None
        )
        self._max_outgoing = _check_optional_int(
            "max_queued_outgoing_messages", max_queued_outgoing_messages, 0
        )
        self._max_inflight = _check_optional_int("max_inflight_messages", max_inflight_messages, 1)
        self._max_calls = _check_optional_int(
            "max_concurrent_outgoing_calls", max_concurrent_outgoing_calls, 1
        )
        self._connect_properties = check_properties(
            properties, PacketType.CONNECT, what="the Client's CONNECT properties"
        )
        if message_retry_set is not None:
            _check_timeout("message_retry_set", message_retry_set, None)
        if self._requested_protocol is not None and self._requested_protocol is not _V5:
            self._check_v5_only_settings()

        # The protocol core, kept across entries (see the module docstring).
        self._conn = self._new_connection(self._requested_protocol or _V5)
        self._negotiated = self._requested_protocol is not None

        # Made inside the running loop, when first needed.
        self._router: Router | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None

        self._make_message = MessageFactory()
        self._link: Link | None = None
        self._entered = False
        self._connected = False
        self._connack_waiter: asyncio.Future[Event] | None = None
        self._publishes: dict[PublishHandle, asyncio.Future[Event]] = {}
        self._acks: dict[int, asyncio.Future[Event]] = {}  # SUBSCRIBE / UNSUBSCRIBE by id
        self._subscription_counts: dict[str, int] = {}

    # ------------------------------------------------------------------ read-only state

    @property
    def identifier(self) -> str:
        """The client identifier: the given one, a generated one, or the broker's assigned one."""
        return self._conn.client_id

    @property
    def protocol(self) -> ProtocolVersion:
        """The MQTT version in use (after a fallback, 3.1.1)."""
        return self._conn.protocol_version

    @property
    def server(self) -> ServerSettings:
        """What the broker said in its last CONNACK: session present, limits, assigned id..."""
        return self._conn.server

    @property
    def session_present(self) -> bool:
        """Whether the broker resumed a stored session at the last connect."""
        return self._conn.server.session_present

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def messages(self) -> MessageStream:
        """Every received message that no ``filtered_messages``/``unfiltered_messages`` stream
        took, in arrival order: ``async for message in client.messages``. ``len()`` is the
        number waiting. Several tasks iterating it share the one stream."""
        return self._get_router().everything

    def __repr__(self) -> str:
        state = "connected" if self._connected else "not connected"
        return f"<asyncmqtt.Client {self._address} identifier={self.identifier!r} {state}>"

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
        try:
            await self._disconnect(body_failed=exc is not None)
        finally:
            self._entered = False

    async def _connect(self) -> None:
        self._get_router()
        if self._max_calls is not None:
            loop = asyncio.get_running_loop()
            if self._semaphore_loop is not loop:
                self._semaphore = asyncio.Semaphore(self._max_calls)
                self._semaphore_loop = loop
        try:
            await self._attempt()
        except _ProtocolRefused as refused:
            self._logger.info(
                "the broker at %s does not accept MQTT 5.0 (%s); connecting with MQTT 3.1.1",
                self._address,
                refused.detail,
            )
            self._conn = self._new_connection(ProtocolVersion.V311)
            try:
                await self._attempt()
            except _ProtocolRefused as again:
                raise again.error from again.error.__cause__
        self._negotiated = True
        server = self._conn.server
        self._logger.debug(
            "connected to %s (MQTT %s, client identifier %r, session present: %s)",
            self._address,
            _version_text(self._conn.protocol_version),
            self._conn.client_id,
            server.session_present,
        )

    async def _attempt(self) -> None:
        """One network connection and CONNECT / CONNACK exchange with the current core."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Event] = loop.create_future()
        self._connack_waiter = waiter
        # One deadline for the whole attempt: transport stages, then CONNACK.
        deadline = None if self.timeout is None else loop.time() + self.timeout
        link: Link | None = None
        self._logger.debug(
            "connecting to %s (MQTT %s, client identifier %r)",
            self._address,
            _version_text(self._conn.protocol_version),
            self._conn.client_id,
        )
        try:
            _, link = await open_connection(
                self._make_link, self._transport_settings, deadline=deadline
            )
            self._link = link
            self._get_router().gate.attach(link)
            async with asyncio.timeout_at(deadline):
                event = await waiter
        except TimeoutError:
            self._drop_link(link)
            raise MqttConnectError(
                f"connecting to {self._address} timed out after {self.timeout:g} s (no CONNACK)",
                stage="connack",
                address=self._address,
            ) from None
        except BaseException:
            self._drop_link(link)
            raise
        finally:
            self._connack_waiter = None
        if isinstance(event, Disconnected):
            self._drop_link(link)
            raise self._connect_failure(event)

    def _make_link(self) -> Link:
        return Link(self._conn, self._handle_events)

    def _connect_failure(self, event: Disconnected) -> Exception:
        error = event.error
        code = event.reason_code
        fallback = (
            not self._negotiated
            and self._conn.protocol_version is _V5
            and (
                code == ConnAckReasonCode.UNSUPPORTED_PROTOCOL_VERSION
                or isinstance(error, ConnectionLostError | ProtocolError)
            )
        )
        if isinstance(error, MqttCodeError) and code is not None:
            message = (
                f"the broker at {self._address} refused the connection: "
                f"{_connack_code_text(code, self._conn.protocol_version)}"
            )
        elif isinstance(error, ConnectionLostError):
            message = f"the broker at {self._address} closed the connection before CONNACK"
        else:
            message = f"the broker at {self._address} broke the protocol while connecting: {error}"
        failure = MqttConnectError(message, stage="connack", address=self._address)
        failure.__cause__ = error
        if fallback:
            return _ProtocolRefused(message, failure)
        return failure

    def _drop_link(self, link: Link | None) -> None:
        if link is not None:
            link.abort()
        if self._link is link:
            self._link = None
            if self._router is not None:
                self._router.gate.attach(None)

    # ------------------------------------------------------------------ disconnecting

    async def _disconnect(self, *, body_failed: bool) -> None:
        link = self._link
        conn = self._conn
        if self._connected and link is not None and conn.state is ConnectionState.CONNECTED:
            try:
                conn.disconnect(now=asyncio.get_running_loop().time())
                link.flush()
            except (MqttError, ValueError) as error:  # pragma: no cover - defensive
                self._logger.warning("could not disconnect gracefully: %s", error)
                link.abort()
        if link is not None:
            await self._wait_closed(link)
        self._link = None
        if self._router is not None:
            self._router.gate.attach(None)
        status = self._get_router().status
        cause = status.cause
        if cause is None or status.reported:
            return
        status.reported = True
        if body_failed:
            self._logger.warning(
                "the connection to %s had been lost: %s (raised in the block instead: the "
                "exception of the `async with` block)",
                self._address,
                cause,
            )
            return
        raise ConnectionLostError(
            f"the connection to the broker at {self._address} ended: {cause}"
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
                self._address,
                self.timeout,
            )
            link.abort()
        except asyncio.CancelledError:
            link.abort()
            raise

    # ------------------------------------------------------------------ events from the core

    def _handle_events(self, events: list[Event]) -> None:
        route = self._get_router().route
        make_message = self._make_message
        publishes = self._publishes
        for event in events:
            if type(event) is MessageReceived:
                route(make_message(event.publish))
            elif (
                type(event) is PublishCompleted
                and (future := publishes.pop(event.handle, None)) is not None
                and not future.done()
            ):
                future.set_result(event)
            else:
                self._handle_event(event)

    def _handle_event(self, event: Event) -> None:
        if isinstance(event, PublishCompleted | PublishFailed):
            future = self._publishes.pop(event.handle, None)
            if future is None or future.done():
                self._logger.debug("publish completed in the background: %s", event)
            else:
                future.set_result(event)
        elif isinstance(event, SubscribeCompleted | UnsubscribeCompleted):
            future = self._acks.pop(event.packet_id, None)
            if future is None or future.done():
                self._logger.debug("acknowledgement nobody waits for any more: %s", event)
            else:
                future.set_result(event)
        elif isinstance(event, Connected):
            # Connected here, synchronously: a Disconnected in the same batch must see it.
            self._connected = True
            self._get_router().connection_started()
            waiter = self._connack_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(event)
        elif isinstance(event, Disconnected):
            self._on_disconnected(event)
        else:
            self._logger.debug("event: %s", event)

    def _on_disconnected(self, event: Disconnected) -> None:
        waiter = self._connack_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(event)  # the connect attempt failed; _attempt reports it
            return
        if not self._connected:
            return
        self._connected = False
        error = event.error
        link = self._link
        if link is not None and link.failure is not None:
            error = MqttError(
                f"the connection was closed because handling what the broker sent raised "
                f"{link.failure!r}"
            )
            error.__cause__ = link.failure
        if error is None:
            reason = "the client disconnected"
        else:
            reason = f"the connection ended: {error}"
            self._logger.warning("connection to %s lost: %s", self._address, error)
        self._get_router().connection_ended(reason, error)
        # Publishes not yet written are withdrawn: their callers are told so and may retry.
        for handle in self._publishes:
            if not handle.written and not handle.done:
                self._conn.withdraw(handle)
        waiting = [*self._publishes.values(), *self._acks.values()]
        self._publishes.clear()
        self._acks.clear()
        for future in waiting:
            if not future.done():
                future.set_result(event)

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
        """Publish a message.

        QoS 0 returns None once the message is written to the transport, or queued with the
        burst of publishes it belongs to, which is written as one when the event loop turns
        (waiting first while the transport's buffer is above the high-water mark). QoS 1 and 2
        return the broker's reason code once PUBACK / PUBCOMP came, and raise ``MqttCodeError``
        when it refused the message. ``timeout`` (default: the client's) bounds the wait; see
        the module docstring for what happens to a publish that times out or is cancelled.
        """
        # Plain str and bytes, the common case, skip the conversions.
        name = topic if type(topic) is str else topic_text(topic)
        data = payload if type(payload) is bytes else encode_payload(payload)
        props = NO_PROPERTIES
        if properties is not None:
            props = check_properties(properties, PacketType.PUBLISH, what="publish()")
        seconds = self.timeout if timeout is None else self._seconds(timeout)
        link = self._link
        if link is None or not self._connected:
            _check_publish_arguments(name, qos, retain)
            raise self._not_connected_error(f"publish to {name!r}")
        if properties is not None and props:
            self._require_v5("properties in publish()")
        # One coroutine for the whole call (no inner helper): publish is the hot path.
        semaphore = self._semaphore
        if semaphore is not None:
            await semaphore.acquire()
        try:
            if link.write_paused:
                await self._wait_writable(link, name, seconds)
            conn = self._conn
            if qos and self._max_outgoing and conn.pending_count >= self._max_outgoing:
                raise MqttError(
                    f"cannot publish to {name!r}: the outgoing queue is full "
                    f"(max_queued_outgoing_messages={self._max_outgoing} publishes are waiting "
                    "for the broker's receive maximum)"
                )
            now = link.loop.time()  # (``link.now()``, without the call: this is the hot path)
            handle = conn.publish(name, data, qos, retain, props, now=now)
            if handle is None:
                # QoS 0 is timed by nobody but its latency: the first of a burst goes at once.
                link.flush_soon(len(data), first_at_once=True)
                return None
            if handle.written:  # (one queued for a slot under Receive Maximum wrote nothing)
                link.flush_soon(len(data))
            future: asyncio.Future[Event] = link.loop.create_future()
            self._publishes[handle] = future
            if seconds is not None:
                link.deadlines.add(future, now + seconds)
            try:
                event = await future
            except TimeoutError:
                if self._withdraw(handle):
                    raise PublishWithdrawnError(
                        f"publish to {name!r} timed out after {seconds:g} s before it was "
                        "written (it waited for a slot under the broker's receive maximum); "
                        "it was withdrawn and will not be sent"
                    ) from None
                raise MqttTimeoutError(
                    f"publish to {name!r} (QoS {qos}, packet id {handle.packet_id}) timed out "
                    f"after {seconds:g} s: it was already written to the broker; it stays "
                    "in the session and completes in the background"
                ) from None
            except asyncio.CancelledError:
                if not self._withdraw(handle):
                    self._logger.debug(
                        "publish to %r cancelled after it was written; it stays in the session",
                        name,
                    )
                raise
            finally:
                self._publishes.pop(handle, None)
        finally:
            if semaphore is not None:
                semaphore.release()
        if type(event) is PublishCompleted and event.reason_code < 0x80:
            return event.reason_code
        raise self._publish_error(event, handle, name)

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
        return not handle.written and not handle.done and self._conn.withdraw(handle)

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
        error: MqttError
        if not handle.written or (handle.done and handle.packet_id is None):
            error = PublishWithdrawnError(
                f"publish to {name!r}: {self._ended_text(event)} before it was written; it was "
                "withdrawn and will not be sent"
            )
        else:
            error = ConnectionLostError(
                f"publish to {name!r}: {self._ended_text(event)} before the broker acknowledged "
                "it; it was already written, so it stays in the session and is resent when the "
                "client reconnects with that session"
            )
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
        pair, or a list of those. Returns the broker's reason code per filter, as
        ``SubAckReasonCode`` members (the granted QoS 0, 1 or 2 on success); raises
        ``MqttCodeError`` listing them if any was refused.
        """
        subscriptions = _subscriptions(topic, qos, options)
        seconds = self._seconds(timeout)
        props = NO_PROPERTIES
        if properties is not None:
            props = check_properties(properties, PacketType.SUBSCRIBE, what="subscribe()")
        filters = ", ".join(repr(sub.topic_filter) for sub in subscriptions)
        link = self._require_link(f"subscribe to {filters}")
        if props:
            self._require_v5("properties in subscribe()")
        if not self.protocol == _V5 and any(
            sub.no_local or sub.retain_as_published or sub.retain_handling for sub in subscriptions
        ):
            raise ValueError(
                "no_local, retain_as_published and retain_handling need MQTT 5.0; this "
                f"connection uses MQTT {_version_text(self.protocol)}"
            )
        async with self._outgoing_call():
            packet_id = self._conn.subscribe(subscriptions, props, now=link.now())
            link.flush()
            event = await self._await_ack(packet_id, seconds, f"subscribe to {filters}")
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

        Returns the broker's reason code per filter (MQTT 5; an empty tuple for MQTT 3.1.x,
        whose UNSUBACK carries none); raises ``MqttCodeError`` listing them if any failed.
        """
        filters_list = _unsubscribe_filters(topic)
        seconds = self._seconds(timeout)
        props = NO_PROPERTIES
        if properties is not None:
            props = check_properties(properties, PacketType.UNSUBSCRIBE, what="unsubscribe()")
        filters = ", ".join(repr(text) for text in filters_list)
        link = self._require_link(f"unsubscribe from {filters}")
        if props:
            self._require_v5("properties in unsubscribe()")
        async with self._outgoing_call():
            packet_id = self._conn.unsubscribe(filters_list, props, now=link.now())
            link.flush()
            event = await self._await_ack(packet_id, seconds, f"unsubscribe from {filters}")
        assert isinstance(event, UnsubscribeCompleted)
        codes = event.reason_codes
        if any(code >= 0x80 for code in codes):
            raise MqttCodeError(
                codes,
                f"the broker refused unsubscribing from {filters}",
                properties=event.properties,
            )
        return codes

    async def _await_ack(self, packet_id: int, timeout: float | None, what: str) -> Event:
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._acks[packet_id] = future
        try:
            event = await self._wait(future, timeout)
        except TimeoutError:
            raise MqttTimeoutError(
                f"{what} timed out after {timeout:g} s: no answer from the broker"
            ) from None
        finally:
            self._acks.pop(packet_id, None)
        if isinstance(event, Disconnected):
            self._mark_reported()
            raise MqttError(f"{what}: {self._ended_text(event)} before the broker answered") from (
                event.error
            )
        return event

    # ------------------------------------------------------------------ streams (asyncio-mqtt 0.x)

    def filtered_messages(
        self, topic_filter: WildcardLike, *, queue_maxsize: int = 0
    ) -> contextlib.AbstractAsyncContextManager[MessageStream]:
        """``async with client.filtered_messages("a/+") as messages``: a stream of the messages
        whose topic matches the filter (open it before subscribing to get retained messages)."""
        text = filter_text(topic_filter)
        validate_topic_filter(text)
        limit = _check_queue_maxsize(queue_maxsize) or self._max_incoming
        return _FilteredStream(self._get_router(), text, limit)

    def unfiltered_messages(
        self, *, queue_maxsize: int = 0
    ) -> contextlib.AbstractAsyncContextManager[MessageStream]:
        """``async with client.unfiltered_messages() as messages``: a stream of the messages
        that no filtered stream took."""
        limit = _check_queue_maxsize(queue_maxsize) or self._max_incoming
        return _UnfilteredStream(self._get_router(), limit)

    def subscription(
        self,
        topic_filter: WildcardLike,
        qos: int = 0,
        *,
        options: SubscribeOptions | None = None,
        properties: Properties | None = None,
        timeout: float | None = None,
    ) -> contextlib.AbstractAsyncContextManager[MessageStream]:
        """``async with client.subscription("a/#", qos=1) as messages``: subscribe on enter,
        stream only what matches the filter, unsubscribe on exit (when the last open
        ``subscription`` of that filter exits)."""
        text = filter_text(topic_filter)
        subscription = _subscriptions(text, qos, options)[0]
        if properties is not None:
            check_properties(properties, PacketType.SUBSCRIBE, what="subscription()")
        return _SubscriptionStream(self, subscription, properties, timeout)

    # ------------------------------------------------------------------ helpers

    def _get_router(self) -> Router:
        router = self._router
        if router is None:
            router = self._router = Router(self._queue_type, self._max_incoming, self._logger)
        return router

    def _require_link(self, what: str) -> Link:
        link = self._link
        if link is None or not self._connected:
            raise self._not_connected_error(what)
        return link

    def _not_connected_error(self, what: str) -> MqttError:
        status = self._get_router().status
        if status.cause is not None:
            self._mark_reported()
            return MqttError(f"cannot {what}: {status.reason}")
        return MqttError(f"cannot {what}: the client is not connected")

    def _require_v5(self, what: str) -> None:
        if self.protocol is not _V5:
            raise ValueError(
                f"{what} need MQTT 5.0; this connection uses MQTT {_version_text(self.protocol)}"
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
        return _check_timeout("timeout", timeout, None)

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

    def _check_v5_only_settings(self) -> None:
        version = _version_text(self._requested_protocol or _V5)
        if self._connect_properties:
            raise ValueError(f"properties (CONNECT properties) need MQTT 5.0, not {version}")
        if self._will is not None and self._will.to_message().properties:
            raise ValueError(f"will properties need MQTT 5.0, not {version}")
        if self._password is not None and self._username is None:
            raise ValueError(f"a password without a username needs MQTT 5.0, not {version}")

    def _new_connection(self, version: ProtocolVersion) -> ClientConnection:
        """The protocol core for ``version``, with every setting mapped onto it."""
        v5 = version is _V5
        props = self._connect_properties if v5 else NO_PROPERTIES
        will: WillMessage | None = None
        if self._will is not None:
            will = self._will.to_message()
            if not v5 and will.properties:
                self._logger.info("MQTT %s: the will properties are not sent", version)
                will = will._replace(properties=NO_PROPERTIES)
        if not v5 and self._connect_properties:
            self._logger.info("MQTT %s: the CONNECT properties are not sent", version)
        clean_start: bool | Literal["first_only"] = self._clean_start
        if self._clean_session is not None:
            clean_start = self._clean_session
            if v5 and not self._clean_session and props.session_expiry_interval is None:
                # An MQTT 3.1.1 persistent session lasts until the client comes back.
                props = dataclasses.replace(props, session_expiry_interval=_SESSION_NEVER_EXPIRES)
        limits = {
            "receive_maximum": props.receive_maximum,
            "maximum_packet_size": props.maximum_packet_size,
            "topic_alias_maximum": props.topic_alias_maximum,
        }
        if any(value is not None for value in limits.values()):
            props = dataclasses.replace(
                props, receive_maximum=None, maximum_packet_size=None, topic_alias_maximum=None
            )
        return ClientConnection(
            client_id=self._identifier,
            protocol_version=version,
            clean_start=clean_start,
            keep_alive=self._keepalive,
            username=self._username,
            password=self._password,
            will=will,
            properties=props,
            receive_maximum=limits["receive_maximum"] or 65535,
            maximum_packet_size=limits["maximum_packet_size"],
            topic_alias_maximum=limits["topic_alias_maximum"] or 0,
            max_inflight=self._max_inflight or 65535,
        )


class _ProtocolRefused(Exception):
    """Internal: the broker refused MQTT 5.0 in a way that calls for MQTT 3.1.1."""

    def __init__(self, detail: str, error: MqttConnectError) -> None:
        super().__init__(detail)
        self.detail = detail
        self.error = error


# ---------------------------------------------------------------------- stream context managers


class _FilteredStream(contextlib.AbstractAsyncContextManager[MessageStream]):
    def __init__(self, router: Router, topic_filter: str, limit: int | None) -> None:
        self._router = router
        self._filter = topic_filter
        self._stream = router.new_stream(limit)

    async def __aenter__(self) -> MessageStream:
        self._router.open_filtered(self._filter, self._stream)
        return self._stream

    async def __aexit__(self, *exc_info: object) -> None:
        self._router.close_filtered(self._filter, self._stream)


class _UnfilteredStream(contextlib.AbstractAsyncContextManager[MessageStream]):
    def __init__(self, router: Router, limit: int | None) -> None:
        self._router = router
        self._stream = router.new_stream(limit)

    async def __aenter__(self) -> MessageStream:
        self._router.open_unfiltered(self._stream)
        return self._stream

    async def __aexit__(self, *exc_info: object) -> None:
        self._router.close_unfiltered(self._stream)


class _SubscriptionStream(contextlib.AbstractAsyncContextManager[MessageStream]):
    def __init__(
        self,
        client: Client,
        subscription: Subscription,
        properties: Properties | None,
        timeout: float | None,
    ) -> None:
        self._client = client
        self._subscription = subscription
        self._properties = properties
        self._timeout = timeout
        self._streams = _FilteredStream(
            client._get_router(), subscription.topic_filter, client._max_incoming
        )

    async def __aenter__(self) -> MessageStream:
        client = self._client
        sub = self._subscription
        stream = await self._streams.__aenter__()
        try:
            await client.subscribe(
                sub.topic_filter,
                options=SubscribeOptions(
                    sub.qos, sub.no_local, sub.retain_as_published, sub.retain_handling
                ),
                properties=self._properties,
                timeout=self._timeout,
            )
        except BaseException:
            await self._streams.__aexit__(None, None, None)
            raise
        counts = client._subscription_counts
        counts[sub.topic_filter] = counts.get(sub.topic_filter, 0) + 1
        return stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        client = self._client
        topic_filter = self._subscription.topic_filter
        counts = client._subscription_counts
        counts[topic_filter] -= 1
        try:
            if not counts[topic_filter]:
                del counts[topic_filter]
                if client.is_connected:
                    await client.unsubscribe(topic_filter, timeout=self._timeout)
        except MqttError as error:
            if exc is None:
                raise
            client._logger.warning("could not unsubscribe from %r: %s", topic_filter, error)
        finally:
            await self._streams.__aexit__(None, None, None)


# ---------------------------------------------------------------------- argument checks


def _subscriptions(
    topic: object, qos: object, options: SubscribeOptions | None
) -> list[Subscription]:
    if options is not None:
        if not isinstance(options, SubscribeOptions):
            raise TypeError(f"options must be a SubscribeOptions, got {options!r}")
        if qos and qos != options.qos:
            raise ValueError(
                f"qos={qos!r} and options.qos={options.qos} disagree: give the QoS in one place"
            )
        default = options
    else:
        default = SubscribeOptions(check_qos(qos))
    if isinstance(topic, str | Wildcard):
        items: Sequence[object] = [topic]
    elif (
        isinstance(topic, tuple)
        and len(topic) == 2
        and isinstance(topic[1], int | SubscribeOptions)
    ):
        items = [topic]
    elif isinstance(topic, list | tuple):
        items = topic
        if not items:
            raise ValueError("subscribe() needs at least one topic filter, got an empty list")
    else:
        raise TypeError(
            "topic must be a topic filter (str or Wildcard), a (filter, qos or SubscribeOptions) "
            f"pair, or a list of those; got {type(topic).__name__}: {topic!r}"
        )
    subscriptions = []
    for item in items:
        if isinstance(item, tuple):
            if len(item) != 2:
                raise TypeError(
                    f"a subscription pair must be (filter, qos or options), got {item!r}"
                )
            topic_filter, choice = item
            item_options = (
                choice
                if isinstance(choice, SubscribeOptions)
                else SubscribeOptions(check_qos(choice))
            )
        else:
            topic_filter, item_options = item, default
        subscription = subscription_for(topic_filter, item_options)
        validate_topic_filter(subscription.topic_filter)
        subscriptions.append(subscription)
    return subscriptions


def _unsubscribe_filters(topic: object) -> list[str]:
    items = topic if isinstance(topic, list | tuple) else [topic]
    if not items:
        raise ValueError("unsubscribe() needs at least one topic filter, got an empty list")
    filters = []
    for item in items:
        text = filter_text(item)
        validate_topic_filter(text)
        filters.append(text)
    return filters


def _check_publish_arguments(topic: str, qos: object, retain: object) -> None:
    validate_topic_name(topic)
    check_qos(qos)
    check_bool(retain, "retain")


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is out of range: it must be between {low} and {high}")
    return value


def _check_optional_int(name: str, value: object, low: int | None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int or None, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name}={value} is out of range: it must be at least {low}")
    return value


def _check_queue_maxsize(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"queue_maxsize must be an int, got {value!r}")
    return max(value, 0)


def _check_str(name: str, value: object, *, empty: bool) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {value!r}")
    if not empty and not value:
        raise ValueError(f"{name} must not be empty")
    return value


def _check_optional_str(name: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {value!r}")
    return value


def _check_password(password: object) -> bytes | None:
    if password is None:
        return None
    if isinstance(password, str):
        return password.encode()
    if isinstance(password, bytes):
        return password
    # Never show the value: it is a secret.
    raise TypeError(f"password must be a str, bytes or None, got {type(password).__name__}")


def _check_logger(logger: object) -> _Logger:
    if logger is None:
        return logging.getLogger("asyncmqtt")
    if not isinstance(logger, logging.Logger | logging.LoggerAdapter):
        raise TypeError(f"logger must be a logging.Logger, got {logger!r}")
    return logger


def _check_identifier(identifier: object, client_id: object) -> str:
    if identifier is not None and client_id is not None and identifier != client_id:
        raise ValueError(
            f"identifier={identifier!r} and client_id={client_id!r} disagree: client_id is the "
            "asyncio-mqtt 0.x name of identifier; give one"
        )
    value = identifier if identifier is not None else client_id
    if value is None:
        # 23 characters from [0-9a-z], the most every MQTT version must accept.
        return "asyncmqtt" + secrets.token_hex(7)
    return _check_str("identifier", value, empty=True)


def _check_queue_type(queue_type: object) -> type[asyncio.Queue[Message]]:
    if queue_type is None:
        return asyncio.Queue
    if not isinstance(queue_type, type) or not issubclass(queue_type, asyncio.Queue):
        raise TypeError(
            f"queue_type must be asyncio.Queue or a subclass (PriorityQueue, LifoQueue, ...), "
            f"got {queue_type!r}"
        )
    return queue_type


def _check_protocol(protocol: object) -> ProtocolVersion | None:
    if protocol is None:
        return None
    if not isinstance(protocol, int) or isinstance(protocol, bool):
        raise TypeError(f"protocol must be a ProtocolVersion or None, got {protocol!r}")
    try:
        return ProtocolVersion(protocol)
    except ValueError:
        raise ValueError(
            f"protocol={protocol!r} is not an MQTT version: use ProtocolVersion.V31, V311 or V5"
        ) from None


def _check_timeout(name: str, value: object, default: float | None) -> float | None:
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if math.isnan(value) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive number of seconds (or math.inf)")
    return None if math.isinf(value) else float(value)


def _check_clean_start(value: object) -> bool | Literal["first_only"]:
    if value is True or value is False:
        return value
    if value in (CLEAN_START_FIRST_ONLY, "first_only"):
        return "first_only"
    raise ValueError(
        f"clean_start={value!r} is not valid: use True, False, or 3 / 'first_only' "
        "(clean start on the first connection only)"
    )


def _version_text(version: ProtocolVersion) -> str:
    return {ProtocolVersion.V31: "3.1", ProtocolVersion.V311: "3.1.1", _V5: "5.0"}[version]


def _connack_code_text(code: int, version: ProtocolVersion) -> str:
    table = ConnAckReasonCode if version is _V5 else ConnectReturnCode
    try:
        name = table(code).name
    except ValueError:
        name = "unknown code"
    return f"{int(code):#04x} {name}"
