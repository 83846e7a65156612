"""Received messages: the ``Message`` type, message streams, routing and backpressure.

Theory of operation
-------------------
The link hands every received PUBLISH to ``Router.route`` synchronously, in the same callback
that decoded it (and, for QoS 1 and 2, in the same step in which the protocol core queued the
acknowledgement: a message is acknowledged only once it is in a queue).

Where a message goes:

1. to every open *filtered* stream (``filtered_messages`` / ``subscription``) whose filter
   matches its topic (a ``FilterTrie`` answers this);
2. if none matched, to every open *unfiltered* stream (``unfiltered_messages``);
3. if neither took it, to ``client.messages``, the aiomqtt 2.x stream of everything.

So a message is delivered once per interested stream, and with no filtered/unfiltered streams
open (plain aiomqtt 2.x usage) every message goes to ``client.messages``. One case has no reader
at all: filtered/unfiltered streams are open (asyncio-mqtt 0.x usage), none of them wants the
message, and no task has iterated ``client.messages`` on this connection. Keeping such messages
would grow memory without bound in a program that never reads ``client.messages``, so they are
discarded and logged at WARNING (the first per connection; DEBUG after) -- a documented policy,
never a silent loss.

Each stream is a queue plus the futures of the tasks waiting on it; several tasks iterating one
stream share it, each message going to one of them. The queue is a plain ``deque`` (FIFO, as
``asyncio.Queue`` would be, at a fraction of the cost per message and of the memory), made when
the first message arrives so that an idle client carries none; for ``client.messages`` with a
``queue_type`` other than ``asyncio.Queue`` it is an instance of that (LIFO, priority, ...).
Waiting does not use the queue's own blocking ``get`` (that would need a task per wait to race
it against disconnection): a getter parks a future, ``put`` wakes the first one, and the end of
the connection wakes them all.

Backpressure: a stream with a limit (``max_queued_incoming_messages``) that reaches it tells the
``ReadGate``, which pauses reading from the socket while any stream is full; a full stream that
drains to half its limit releases it. Messages already read when the pause takes effect are
still queued (the limit overshoots by at most one read): an acknowledged message is never
dropped.

Ending: when the connection ends, each stream first yields what it still holds, then raises
``MqttError`` (chained to the cause of the disconnection). Iterating while not connected with
nothing queued raises at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Final, Protocol

from .errors import MqttError
from .protocol.packets import Publish
from .protocol.properties import NO_PROPERTIES, Properties
from .protocol.topics import FilterTrie
from .topics import Topic, TopicLike
from .types import PayloadType, encode_payload

__all__ = ("Message", "MessageStream", "ReadGate", "Router")

_TOPIC_CACHE_LIMIT: Final = 4096


class Message:
    """A received application message.

    ``topic`` is a ``Topic``; ``payload`` is the ``bytes`` received; ``qos`` and ``retain`` are
    as delivered by the broker; ``mid`` is the packet identifier (0 for QoS 0); ``properties``
    are the MQTT 5 properties (an empty ``Properties`` when there are none or for MQTT 3.1.x).
    Messages order by ``mid``, as in aiomqtt, so they can go into a ``PriorityQueue``.
    """

    __slots__ = ("mid", "payload", "properties", "qos", "retain", "topic")

    def __init__(  # noqa: PLR0917 - aiomqtt's signature
        self,
        topic: TopicLike,
        payload: PayloadType,
        qos: int,
        retain: bool,
        mid: int,
        properties: Properties | None = None,
    ) -> None:
        self.topic: Topic = topic if isinstance(topic, Topic) else Topic(topic)
        self.payload: bytes = encode_payload(payload)
        self.qos: int = qos
        self.retain: bool = retain
        self.mid: int = mid
        self.properties: Properties = NO_PROPERTIES if properties is None else properties

    def __lt__(self, other: Message) -> bool:
        return self.mid < other.mid

    def __repr__(self) -> str:
        payload = self.payload
        shown = repr(payload[:40]) + ("..." if len(payload) > 40 else "")
        return (
            f"Message(topic={self.topic.value!r}, payload={shown} ({len(payload)} bytes), "
            f"qos={self.qos}, retain={self.retain}, mid={self.mid})"
        )


class MessageFactory:
    """Builds ``Message`` objects from decoded PUBLISH packets, cheaply.

    Topics are immutable, so one ``Topic`` per topic name is kept and reused; the broker's topic
    names were checked by the decoder, so they are not validated again.
    """

    __slots__ = ("_topics",)

    def __init__(self) -> None:
        self._topics: dict[str, Topic] = {}

    def __call__(self, publish: Publish) -> Message:
        name = publish.topic
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topic(name)
        message = _new_message(Message)
        message.topic = topic
        message.payload = publish.payload
        message.qos = publish.qos
        message.retain = publish.retain
        message.mid = publish.packet_id or 0
        message.properties = publish.properties
        return message

    def _topic(self, name: str) -> Topic:
        topics = self._topics
        if len(topics) >= _TOPIC_CACHE_LIMIT:
            topics.clear()
        topic = _new_topic(Topic)
        object.__setattr__(topic, "value", name)
        topics[name] = topic
        return topic


_new_message = object.__new__
_new_topic = object.__new__


class FlowControl(Protocol):
    """What the read gate drives: the link's reading switch."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class ReadGate:
    """Pauses reading from the socket while any stream is full (see the module docstring)."""

    __slots__ = ("_full", "_link")

    def __init__(self) -> None:
        self._full = 0
        self._link: FlowControl | None = None

    def attach(self, link: FlowControl | None) -> None:
        """Drive this link from now on (None when there is none); pause it if a stream is full."""
        self._link = link
        if link is not None and self._full:
            link.pause_reading()

    def stream_full(self) -> None:
        self._full += 1
        if self._full == 1 and self._link is not None:
            self._link.pause_reading()

    def stream_drained(self) -> None:
        self._full -= 1
        if self._full == 0 and self._link is not None:
            self._link.resume_reading()

    @property
    def paused(self) -> bool:
        return self._full > 0


class ConnectionStatus:
    """Whether the client is connected, and why it stopped being: shared by all streams."""

    __slots__ = ("cause", "connected", "reason", "reported")

    def __init__(self) -> None:
        self.connected = False
        self.reason = "not connected: enter `async with client` before iterating messages"
        self.cause: BaseException | None = None
        # Whether the user has been told of the loss (``cause``) by some exception already.
        self.reported = False


class _QueueItems:
    """A ``queue_type`` instance seen through the three operations MessageStream uses."""

    __slots__ = ("append", "popleft", "queue")

    def __init__(self, queue: asyncio.Queue[Message]) -> None:
        self.queue = queue
        self.append = queue.put_nowait
        self.popleft = queue.get_nowait

    def __len__(self) -> int:
        return self.queue.qsize()


class MessageStream(AsyncIterator[Message]):
    """An async iterator over received messages; ``len()`` is the number waiting in it.

    Several tasks may iterate the same stream: each message goes to one of them, in order.
    """

    __slots__ = (
        "_closed",
        "_full",
        "_gate",
        "_getters",
        "_high",
        "_items",
        "_low",
        "_router",
        "_status",
    )

    def __init__(
        self,
        queue_type: type[asyncio.Queue[Message]] | None,
        status: ConnectionStatus,
        gate: ReadGate,
        limit: int | None,
    ) -> None:
        self._items: deque[Message] | _QueueItems | None = None  # a deque made by the first put
        if queue_type is not None and queue_type is not asyncio.Queue:
            self._items = _QueueItems(queue_type())
        self._status = status
        self._gate = gate
        self._getters: list[asyncio.Future[None]] = []  # a few tasks at most
        self._high = limit if limit and limit > 0 else 0  # 0: no limit
        self._low = self._high // 2
        self._full = False
        self._closed = False
        # Set for ``client.messages`` only: reading it tells the router someone reads it.
        self._router: Router | None = None

    def __aiter__(self) -> MessageStream:
        return self

    def __len__(self) -> int:
        items = self._items
        return 0 if items is None else len(items)

    async def __anext__(self) -> Message:
        if self._router is not None:
            self._router.everything_read = True
        while True:
            items = self._items
            if items:
                message = items.popleft()
                if self._full and len(items) <= self._low:
                    self._full = False
                    self._gate.stream_drained()
                return message
            if self._closed:
                raise MqttError("this message stream is closed (its `async with` block ended)")
            status = self._status
            if not status.connected:
                status.reported = True
                raise MqttError(status.reason) from status.cause
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    # Woken for a message, then cancelled: pass the wake-up on.
                    self._wake_one()
                else:
                    self._remove_getter(waiter)
                raise

    def put(self, message: Message) -> None:
        """Queue a message (never blocks, never drops; see backpressure in the module doc)."""
        items = self._items
        if items is None:
            items = self._items = deque()
        items.append(message)
        if self._getters:
            self._wake_one()
        if self._high and not self._full and len(items) >= self._high:
            self._full = True
            self._gate.stream_full()

    def wake_all(self) -> None:
        """Wake every waiting task so that it sees the new connection status."""
        getters = self._getters
        while getters:
            waiter = getters.pop(0)
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        """End the stream for good (its context manager exited); waiting tasks get MqttError."""
        self._closed = True
        if self._full:
            self._full = False
            self._gate.stream_drained()
        self.wake_all()

    def _wake_one(self) -> None:
        getters = self._getters
        while getters:
            waiter = getters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    def _remove_getter(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._getters.remove(waiter)


class Router:
    """Routes each received message to the streams that want it (see the module docstring)."""

    __slots__ = (
        "_discarded",
        "_filtered",
        "_filtered_streams",
        "_logger",
        "_unfiltered",
        "everything",
        "everything_read",
        "gate",
        "status",
    )

    def __init__(
        self,
        queue_type: type[asyncio.Queue[Message]],
        limit: int | None,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.status = ConnectionStatus()
        self.gate = ReadGate()
        self.everything = MessageStream(queue_type, self.status, self.gate, limit)
        self.everything._router = self  # ``client.messages``: reading it counts as reading
        self.everything_read = False  # has a task iterated `client.messages` on this connection?
        self._filtered: FilterTrie[MessageStream] = FilterTrie()
        self._filtered_streams: list[MessageStream] = []
        self._unfiltered: list[MessageStream] = []
        self._logger = logger
        self._discarded = 0

    def route(self, message: Message) -> None:
        if not self._filtered and not self._unfiltered:
            self.everything.put(message)  # the aiomqtt 2.x case: one stream of everything
            return
        streams = self._filtered.match(message.topic.value) or self._unfiltered
        if streams:
            for stream in streams:
                stream.put(message)
        elif self.everything_read:
            self.everything.put(message)
        else:
            self._discard(message)

    def _discard(self, message: Message) -> None:
        self._discarded += 1
        level = logging.WARNING if self._discarded == 1 else logging.DEBUG
        self._logger.log(
            level,
            "discarded a message on topic %r: no filtered_messages() stream matches it, no "
            "unfiltered_messages() stream is open, and client.messages is not being read "
            "(%d discarded on this connection)",
            message.topic.value,
            self._discarded,
        )

    def open_filtered(self, topic_filter: str, stream: MessageStream) -> None:
        self._filtered.add(topic_filter, stream)
        self._filtered_streams.append(stream)

    def close_filtered(self, topic_filter: str, stream: MessageStream) -> None:
        self._filtered.remove(topic_filter, stream)
        self._filtered_streams.remove(stream)
        stream.close()

    def open_unfiltered(self, stream: MessageStream) -> None:
        self._unfiltered.append(stream)

    def close_unfiltered(self, stream: MessageStream) -> None:
        self._unfiltered.remove(stream)
        stream.close()

    def connection_started(self) -> None:
        self.status.connected = True
        self.status.cause = None
        self.status.reported = False
        self.everything_read = False
        self._discarded = 0

    def connection_ended(self, reason: str, cause: BaseException | None) -> None:
        """Every stream yields what it holds, then raises ``MqttError(reason) from cause``."""
        status = self.status
        status.connected = False
        status.reason = reason
        status.cause = cause
        self.everything.wake_all()
        for stream in (*self._unfiltered, *self._filtered_streams):
            stream.wake_all()

    def new_stream(self, limit: int | None) -> MessageStream:
        """A stream for ``filtered_messages`` / ``unfiltered_messages`` (a FIFO queue)."""
        return MessageStream(None, self.status, self.gate, limit)
