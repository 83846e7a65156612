"""Request/response (MQTT 5): what ``Client.request`` and ``Client.respond`` do.

Theory of operation
-------------------
A request is a PUBLISH that carries two MQTT 5 properties: a Response Topic, where the
responder publishes its answer, and Correlation Data, which the responder copies into that
answer so that the requester can tell which request it answers. ``Requester`` does the
requesting side for one client:

* **One response topic per client, subscribed on first use.** When the broker granted
  Response Information (the client asked for it with the CONNECT property
  ``request_response_information=True``), the topic is below it; otherwise below
  ``asyncmqtt/responses/``. Either way its last level is the client identifier (or, when the
  identifier cannot be a topic level, a digest of it), so the topic stays the same across
  reconnects and restarts of a client with a fixed identifier, and broker ACLs can name it
  (mosquitto: ``pattern readwrite asyncmqtt/responses/%c``). Its subscription (QoS 2, so
  that the responder's QoS is kept; no retained messages) is in the session like any other:
  with reconnection on, the client makes it again when the broker lost the session; without,
  the session forgets it and the next request makes it again.
* **The router gives every message on that topic to the requester alone** (``Router.claim``),
  at once and whatever the message streams hold, and the client acknowledges it: responses
  never appear in ``client.messages`` or any other stream, and never wait behind messages
  that a full stream holds back.
* **Correlation data is 16 bytes**: 8 random bytes chosen once per client, then a counter. The
  random part keeps a late response to an earlier run of the program (same identifier, so
  same response topic) from matching a request of this one.
* **Matching**: each request waits on a future under its correlation data. A response whose
  correlation data no request waits for (the request timed out or was cancelled, or the
  message is not an answer to us) is discarded, logged at WARNING and counted
  (``client.stats.responses_discarded``); it goes nowhere else.
* **Ending**: when the connection ends for good (the client leaves its ``async with``
  block, or the connection is lost and the client does not reconnect), every waiting
  request fails with ``MqttError`` chained to the cause; while the client reconnects,
  requests keep waiting (a response may come on the next connection).

The answering side needs no state: ``response_to`` checks a request message and says where,
and with which properties, to publish its response.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, Protocol

from ._checks import Logger
from ._options import version_text
from .errors import MqttCodeError, MqttError, MqttTimeoutError
from .messages import Message
from .protocol.checks import check_qos
from .protocol.enums import PacketType, ProtocolVersion, PubAckReasonCode
from .protocol.properties import NO_PROPERTIES, Properties, check_properties
from .protocol.topics import validate_topic_name
from .types import PayloadType, encode_payload, topic_text

if TYPE_CHECKING:
    from ._stats import ClientStats
    from .messages import Router
    from .protocol.connection import ClientConnection
    from .topics import TopicLike

__all__ = ("DEFAULT_RESPONSE_PREFIX", "Requester", "require_v5", "response_to", "response_topic")

DEFAULT_RESPONSE_PREFIX: Final = "asyncmqtt/responses/"
"""Where response topics go when the broker granted no Response Information."""
_RESPONSE_QOS: Final = 2  # the subscription's: responses come at the QoS the responder chose
_SHOWN_CORRELATION_BYTES: Final = 32  # how much of unknown correlation data a log line shows


class PublishCall(Protocol):
    """``Client.publish``, as the requester calls it."""

    def __call__(
        self,
        topic: TopicLike,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        *,
        timeout: float | None = None,
    ) -> Awaitable[int | None]: ...


def require_v5(version: ProtocolVersion, what: str) -> None:
    """Raise ``ValueError`` unless ``version`` is MQTT 5.0 (``what``: the call, for the message)."""
    if version is not ProtocolVersion.V5:
        raise ValueError(
            f"{what} needs MQTT 5.0 (request/response rests on its Response Topic and "
            f"Correlation Data properties); this connection uses MQTT {version_text(version)}"
        )


def response_topic(response_information: str | None, client_id: str) -> str:
    """The response topic of a client: below the broker's Response Information when it granted
    a usable one (a valid topic name, not empty), else below ``DEFAULT_RESPONSE_PREFIX``; its
    last level is ``client_id``, or a digest of it when it cannot be a topic level."""
    if _is_level(client_id):
        level = client_id
    else:  # (empty, or with '/', '+', '#', U+0000: a stable stand-in)
        level = hashlib.sha256(client_id.encode()).hexdigest()[:16]
    prefix = response_information or DEFAULT_RESPONSE_PREFIX
    topic = prefix + level if prefix.endswith("/") else f"{prefix}/{level}"
    try:
        validate_topic_name(topic)
    except ValueError:  # (wildcards in the broker's text, or too long: ours is always valid)
        return DEFAULT_RESPONSE_PREFIX + level
    return topic


def _is_level(text: str) -> bool:
    return bool(text) and not any(char in text for char in "/+#\0")


def response_to(
    request: Message, properties: Properties | None, version: ProtocolVersion
) -> tuple[str, Properties]:
    """Where ``Client.respond`` publishes the response to ``request``, and with which
    properties: the request's Response Topic, and ``properties`` with its Correlation Data.

    Raises ``ValueError`` on MQTT 3.1.x, for a message without a Response Topic (it is not a
    request) and for ``properties`` that set the Correlation Data themselves; ``TypeError``
    for a ``request`` that is not a ``Message``.
    """
    if not isinstance(request, Message):
        raise TypeError(f"respond() takes the request's Message, got {request!r}")
    require_v5(version, "respond()")
    props = NO_PROPERTIES
    if properties is not None:
        props = check_properties(properties, PacketType.PUBLISH, what="respond()")
        if props.correlation_data is not None:
            raise ValueError(
                "respond() copies the request's correlation data into the response: do not "
                "give correlation_data in its properties"
            )
    asked = request.properties
    if asked.response_topic is None:
        raise ValueError(
            f"the message on {request.topic.value!r} has no Response Topic: it is not an "
            "MQTT 5 request, so there is nowhere to send a response"
        )
    if asked.correlation_data is not None:
        props = dataclasses.replace(props, correlation_data=asked.correlation_data)
    return asked.response_topic, props


class Requester:
    """The requesting side of request/response for one client (see the module docstring).

    The client makes it on the first ``request`` and gives it what it needs: ``publish`` and
    ``subscribe`` (the client's calls), ``wait_connected`` (returns once connected, or raises
    when the client is not connected and not reconnecting), ``connection`` (the current
    ``ClientConnection``), ``router`` (the client's message router), its logger and stats.
    """

    __slots__ = (
        "_connection",
        "_correlation_prefix",
        "_counter",
        "_logger",
        "_pending",
        "_publish",
        "_router",
        "_stats",
        "_subscribe",
        "_subscribing",
        "_topic",
        "_topic_connection",
        "_wait_connected",
    )

    def __init__(
        self,
        *,
        publish: PublishCall,
        subscribe: Callable[[str, int], Awaitable[object]],
        wait_connected: Callable[[str], Awaitable[None]],
        connection: Callable[[], ClientConnection | None],
        router: Router,
        logger: Logger,
        stats: ClientStats,
    ) -> None:
        self._publish = publish
        self._subscribe = subscribe
        self._wait_connected = wait_connected
        self._connection = connection
        self._router = router
        self._logger = logger
        self._stats = stats
        self._pending: dict[bytes, asyncio.Future[Message]] = {}
        self._correlation_prefix = secrets.token_bytes(8)
        self._counter = itertools.count(1)
        self._topic = ""  # the response topic, for the connection numbered _topic_connection
        self._topic_connection = -1
        self._subscribing: asyncio.Task[None] | None = None  # the one SUBSCRIBE in progress

    @property
    def waiting(self) -> int:
        """Requests waiting for their response now."""
        return len(self._pending)

    async def request(
        self,
        topic: TopicLike,
        payload: PayloadType,
        *,
        qos: int,
        timeout: float | None,
        properties: Properties | None,
    ) -> Message:
        """``Client.request`` (its docstring says what it does); ``timeout``: seconds, None for
        no limit (the client has resolved its default)."""
        name = topic_text(topic)
        validate_topic_name(name)
        data = encode_payload(payload)
        check_qos(qos)
        props = NO_PROPERTIES
        if properties is not None:
            props = check_properties(properties, PacketType.PUBLISH, what="request()")
            if props.response_topic is not None or props.correlation_data is not None:
                raise ValueError(
                    "request() sets the response_topic and correlation_data properties "
                    "itself: do not give them"
                )
        loop = asyncio.get_running_loop()
        stage = "before it was connected"
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                response_topic = await self._response_topic(f"request on {name!r}")
                correlation = self._correlation_prefix + next(self._counter).to_bytes(8)
                future: asyncio.Future[Message] = loop.create_future()
                self._pending[correlation] = future
                try:
                    stage = "before the broker acknowledged the request"
                    code = await self._publish(
                        name,
                        data,
                        qos,
                        properties=dataclasses.replace(
                            props, response_topic=response_topic, correlation_data=correlation
                        ),
                        timeout=math.inf,  # (the deadline above covers the whole request)
                    )
                    if code == PubAckReasonCode.NO_MATCHING_SUBSCRIBERS:
                        raise MqttCodeError(
                            PubAckReasonCode.NO_MATCHING_SUBSCRIBERS,
                            f"request on {name!r}: the broker says no subscription matches "
                            "the topic, so nobody will respond",
                        )
                    stage = "waiting for the response"
                    return await future
                finally:
                    self._pending.pop(correlation, None)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise MqttTimeoutError(
                f"request on {name!r} timed out after {timeout:g} s {stage}; a response that "
                "comes later is discarded"
            ) from None

    async def _response_topic(self, what: str) -> str:
        """The response topic, subscribed to (once per client, again if the broker lost it)."""
        while True:
            conn = self._connection()
            if conn is None or not self._router.status.connected:
                await self._wait_connected(what)
                continue
            topic = self._topic_for(conn)
            if topic in conn.session.subscriptions:
                return topic
            task = self._subscribing
            if task is None or task.done():
                task = self._subscribing = asyncio.ensure_future(self._subscribe_to(topic))
                task.add_done_callback(_retrieve_exception)
            await asyncio.shield(task)
            if self._connection() is conn:
                return topic
            # (A new connection meanwhile: check again whether its session holds the topic.)

    async def _subscribe_to(self, topic: str) -> None:
        await self._subscribe(topic, _RESPONSE_QOS)

    def _topic_for(self, conn: ClientConnection) -> str:
        if conn.number != self._topic_connection:
            topic = response_topic(conn.server.response_information, conn.session.client_id)
            if topic != self._topic:
                self._router.claim(topic, self._take)
                self._topic = topic
            self._topic_connection = conn.number
        return self._topic

    def _take(self, message: Message) -> None:
        """A message on the response topic (the router's claimant): the awaited response, or
        one nobody waits for, discarded."""
        correlation = message.properties.correlation_data
        future = None if correlation is None else self._pending.pop(correlation, None)
        if future is not None and not future.done():
            future.set_result(message)
            return
        self._stats.responses_discarded += 1
        if correlation is None:
            reason = "it has no correlation data"
        else:
            shown = correlation[:_SHOWN_CORRELATION_BYTES].hex()
            if len(correlation) > _SHOWN_CORRELATION_BYTES:
                shown += "..."
            reason = (
                f"no request waits for its correlation data {shown} (the request timed out "
                "or was cancelled, or it is not a response to this client)"
            )
        self._logger.warning(
            "discarded a message on the response topic %r: %s (%d discarded in all: "
            "client.stats.responses_discarded)",
            message.topic.value,
            reason,
            self._stats.responses_discarded,
        )

    def connection_ended(self, reason: str, cause: BaseException | None) -> None:
        """The connection is over for good: every waiting request fails with ``MqttError``."""
        pending = list(self._pending.values())
        self._pending.clear()
        for future in pending:
            if not future.done():
                error = MqttError(f"request: no response came before {reason}")
                error.__cause__ = cause
                future.set_exception(error)


def _retrieve_exception(task: asyncio.Task[None]) -> None:
    """(The requests that awaited the subscription got its error; none may be left.)"""
    if not task.cancelled():
        task.exception()
