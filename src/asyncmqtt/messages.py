"""Received messages: the ``Message`` type, message streams, routing and backpressure.

Theory of operation
-------------------
The link hands every received PUBLISH to ``Router.route`` synchronously, in the same callback
that decoded it. The protocol core does not acknowledge QoS 1/2 messages by itself (the
client runs it with ``manual_ack``): a message is acknowledged once it is in the streams that
want it, so an acknowledged message is always in a queue, never only in flight inside the
client. Messages are delivered in arrival order, so the delivered ones awaiting their
acknowledgement are always the oldest unacknowledged ones of their connection: the router only
counts them (``unacknowledged``), and the client acknowledges that many with one call of the
core per batch (``ClientConnection.acknowledge_first``). A message from a connection that has
ended meanwhile is handed to ``acknowledge`` on its own (the core knows what that means).

Where a message goes:

1. to every open *filtered* stream (``filtered_messages`` / ``subscription``) whose filter
   matches its topic (a ``FilterTrie`` answers this);
2. if none matched, to every open *unfiltered* stream (``unfiltered_messages``);
3. if neither took it, to ``client.messages``, the aiomqtt 2.x stream of everything.

Before all of these, a message on a *claimed* topic (``Router.claim``: the response topic of
``client.request``) goes to its claimant alone, at once, whatever the streams hold: it is never
held in the backlog, and the client acknowledges it on its own (the core sends that
acknowledgement once every earlier message is acknowledged too).

So a message is delivered once per interested stream, and with no filtered/unfiltered streams
open (plain aiomqtt 2.x usage) every message goes to ``client.messages``. One case has no reader
at all: filtered/unfiltered streams are open (asyncio-mqtt 0.x usage), none of them wants the
message, and no task has iterated ``client.messages`` on this connection. Keeping such messages
would grow memory without bound in a program that never reads ``client.messages``, so they are
discarded -- a documented policy, never a silent loss: each is counted
(``client.stats.messages_discarded``) and logged, at WARNING at most every 10 seconds with the
count since the last warning (DEBUG in between), and what remains is summed up at WARNING when
the connection ends.

Each stream is a queue plus the futures of the tasks waiting on it; several tasks iterating one
stream share it, each message going to one of them. The queue is a plain ``deque`` (FIFO, as
``asyncio.Queue`` would be, at a fraction of the cost per message and of the memory), made when
the first message arrives so that an idle client carries none; for ``client.messages`` with a
``queue_type`` other than ``asyncio.Queue`` it is an instance of that (LIFO, priority, ...).
Waiting does not use the queue's own blocking ``get`` (that would need a task per wait to race
it against disconnection): a getter parks a future, ``put`` wakes the first one, and the end of
the connection wakes them all.

Backpressure: a stream with a limit (``max_queued_incoming_messages``, ``queue_maxsize``)
never holds more than its limit. A message that a full stream wants waits in the router's
*backlog*, in arrival order and *unacknowledged*, together with every message after it; each
message a consumer takes out of a stream lets the backlog move on. Reading from the socket
goes on meanwhile, so acknowledgements of our own publishes still arrive (a consumer may
publish from inside its message loop, whatever the limit), and the broker's flow control
bounds the backlog: it sends at most our Receive Maximum of unacknowledged QoS 1/2 messages.
QoS 0 messages have no such bound, so the ``ReadGate`` pauses reading from the socket while the
backlog holds as many QoS 0 messages as the largest stream limit, and resumes at half that --
except while a task that reads a bounded stream waits for an acknowledgement of its own (it
publishes or subscribes from inside its message loop): that task cannot make room until the
acknowledgement arrives, so reading goes on until it does, and the backlog holds what the
broker sent before it.

Ending: when the connection ends, each stream first yields what it still holds, then raises
``MqttError`` (chained to the cause of the disconnection). Iterating while not connected with
nothing queued raises at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Final, Protocol

from ._checks import Logger
from ._stats import ClientStats
from .errors import MqttError
from .protocol.packets import Publish
from .protocol.properties import NO_PROPERTIES, Properties
from .protocol.topics import FilterTrie
from .topics import Topic, TopicLike, TopicString
from .types import PayloadType, encode_payload

__all__ = (
    "AllMessages",
    "ClientMessages",
    "FilteredStream",
    "Message",
    "MessageFactory",
    "MessageStream",
    "ReadGate",
    "Router",
    "SubscriptionStream",
    "UnfilteredStream",
)

_TOPIC_CACHE_LIMIT: Final = 4096
_DISCARD_WARNING_INTERVAL: Final = 10.0  # seconds between warnings of discarded messages


class Message:
    """A received application message.

    ``topic`` is a ``Topic``; ``payload`` is the ``bytes`` received; ``qos`` and ``retain`` are
    as delivered by the broker; ``mid`` is the packet identifier (0 for QoS 0); ``properties``
    are the MQTT 5 properties (an empty ``Properties`` when there are none or for MQTT 3.1.x).
    Messages order by ``mid``, as in aiomqtt, so they can go into a ``PriorityQueue``.

    The client makes the messages it receives; ``Message(topic, payload, qos, retain, mid,
    properties=None)`` (aiomqtt's signature) makes one by hand, for tests: the topic is
    validated (``TypeError`` / ``ValueError``) and the payload encoded as ``publish`` encodes
    it. Such a message cannot be acknowledged.
    """

    # ``_connection``: the number of the network connection it came on; ``_acker``: how to
    # acknowledge it (manual_ack only); ``_acked``: whether ack() was called.
    __slots__ = (
        "_acked",
        "_acker",
        "_connection",
        "mid",
        "payload",
        "properties",
        "qos",
        "retain",
        "topic",
    )

    def __init__(  # noqa: PLR0917 - aiomqtt's signature
        self,
        topic: TopicLike,
        payload: PayloadType,
        qos: int,
        retain: bool,
        mid: int,
        properties: Properties | None = None,
    ) -> None:
        self.topic: Topic | TopicString = topic if isinstance(topic, Topic) else Topic(topic)
        """The topic name it was published to: a ``Topic`` (a ``TopicString``, a ``str``, in
        the streams of the asyncio-mqtt 0.x API)."""
        self.payload: bytes = encode_payload(payload)
        """The payload, as the bytes received (decode it yourself: ``payload.decode()`` for
        text)."""
        self.qos: int = qos
        """The QoS it was delivered with (0, 1 or 2): at most the QoS of the subscription."""
        self.retain: bool = retain
        """True for a retained message the broker sent because of a new subscription (or, with
        ``retain_as_published``, one the publisher retained)."""
        self.mid: int = mid
        """The packet identifier it came with (1 to 65535; 0 for QoS 0). Identifiers are
        reused: it tells apart the messages in flight at one time, not all messages."""
        self.properties: Properties = NO_PROPERTIES if properties is None else properties
        """Its MQTT 5 properties (``content_type``, ``response_topic``, ``correlation_data``,
        ``user_properties``, ``subscription_identifiers``, ...); empty when there are none,
        and always with MQTT 3.1.x."""
        self._connection = 0
        self._acker: Callable[[Message], None] | None = None
        self._acked = False

    async def ack(self) -> None:
        """Acknowledge this QoS 1/2 message to the broker (``Client(manual_ack=True)`` only).

        Acknowledgements leave in the order the messages arrived, as MQTT requires: acking a
        message before an earlier one holds its acknowledgement back until the earlier one is
        acked too. A message not acknowledged when the connection ends is delivered again by
        the broker (with its DUP flag) if it kept the session. Raises ``ValueError`` for a
        QoS 0 message, a second call, or a client without ``manual_ack``.
        """
        acker = self._acker
        if acker is None:
            raise ValueError(
                "message.ack() needs Client(manual_ack=True): without it, messages are "
                "acknowledged when they reach a stream"
            )
        if not self.qos:
            raise ValueError("a QoS 0 message has no acknowledgement: ack() is for QoS 1 and 2")
        if self._acked:
            raise ValueError(f"the message {self!r} is already acknowledged")
        self._acked = True
        acker(self)

    @property
    def awaiting_ack(self) -> bool:
        """True while this message waits for its ``ack()``: a QoS 1/2 message of a client with
        ``manual_ack=True`` that is not acknowledged yet. False for every other message, so
        ``if message.awaiting_ack: await message.ack()`` is always safe."""
        return self._acker is not None and self.qos > 0 and not self._acked

    def with_str_topic(self) -> Message:
        """This message as the asyncio-mqtt 0.x streams deliver it: its topic a ``str``."""
        copy = _new_message(Message)
        copy.topic = TopicString(self.topic.value)
        copy.payload = self.payload
        copy.qos = self.qos
        copy.retain = self.retain
        copy.mid = self.mid
        copy.properties = self.properties
        copy._connection = self._connection
        copy._acker = self._acker
        copy._acked = False
        return copy

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

    __slots__ = ("_acker", "_topics")

    def __init__(self, acker: Callable[[Message], None] | None = None) -> None:
        self._topics: dict[str, Topic] = {}
        self._acker = acker  # (manual_ack: the messages' ack() calls it)

    def __call__(self, publish: Publish, connection: int) -> Message:
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
        message._connection = connection
        message._acker = self._acker
        message._acked = False
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

    def pause_reading(self) -> None:
        """Stop reading from the socket (idempotent)."""
        ...

    def resume_reading(self) -> None:
        """Read from the socket again (idempotent)."""
        ...


class ReadGate:
    """Pauses reading from the socket while the router says so (see the module docstring)."""

    __slots__ = ("_link", "paused")

    def __init__(self) -> None:
        self.paused = False
        """Whether reading is paused."""
        self._link: FlowControl | None = None

    def attach(self, link: FlowControl | None) -> None:
        """Drive this link from now on (None when there is none); pause it if paused."""
        self._link = link
        if link is not None and self.paused:
            link.pause_reading()

    def pause(self) -> None:
        """Pause reading (the link's, now and when one is attached)."""
        if not self.paused:
            self.paused = True
            if self._link is not None:
                self._link.pause_reading()

    def resume(self) -> None:
        """Resume reading."""
        if self.paused:
            self.paused = False
            if self._link is not None:
                self._link.resume_reading()


class ConnectionStatus:
    """Whether the client is connected, and why it stopped being: shared by all streams."""

    __slots__ = ("cause", "connected", "reason", "reconnecting", "reported")

    def __init__(self) -> None:
        self.connected = False
        """Whether a connection is established."""
        self.reconnecting = False
        """Not connected, but coming back: streams keep waiting."""
        self.reason = "not connected: enter `async with client` before iterating messages"
        """The message of the ``MqttError`` that iterating a stream raises when not connected."""
        self.cause: BaseException | None = None
        """What ended the connection, chained to that ``MqttError``; None if nothing did."""
        self.reported = False
        """Whether the user has been told of the loss (``cause``) by some exception already."""


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

    ``async for message in stream`` waits for messages while the client is connected, and
    also while it reconnects. When the connection ends for good (the client left its
    ``async with`` block, or the connection was lost and the client does not reconnect), the
    stream first yields what it still holds, then raises ``MqttError``, chained to the cause;
    iterating while not connected with nothing queued raises at once. A stream whose own
    ``async with`` block ended (``filtered_messages``, ...) raises ``MqttError`` too.

    The client makes the streams: ``client.messages``, and those of ``filtered_messages``,
    ``unfiltered_messages``, ``messages()`` and ``subscription``. The constructor and its
    parameters are the client's internals, not API. See the guides Subscribing and Filtered
    streams.
    """

    __slots__ = ("_closed", "_getters", "_items", "_limit", "_router", "_status", "str_topics")

    def __init__(
        self,
        queue_type: type[asyncio.Queue[Message]] | None,
        router: Router,
        limit: int | None,
        *,
        str_topics: bool = False,
    ) -> None:
        self._items: deque[Message] | _QueueItems | None = None  # a deque made by the first put
        if queue_type is not None and queue_type is not asyncio.Queue:
            self._items = _QueueItems(queue_type())
        self._router = router
        self._status = router.status
        self._getters: list[asyncio.Future[None]] = []  # a few tasks at most
        self._limit = limit if limit and limit > 0 else 0  # 0: no limit
        self._closed = False
        self.str_topics: bool = str_topics
        """True for a stream of the asyncio-mqtt 0.x API (``filtered_messages``,
        ``unfiltered_messages``, ``messages()``): its messages' topics are ``TopicString``, a
        ``str``, as they were there. False for ``client.messages`` and ``subscription``: a
        ``Topic``."""

    def __aiter__(self) -> MessageStream:
        return self

    def __len__(self) -> int:
        items = self._items
        return 0 if items is None else len(items)

    @property
    def limit(self) -> int | None:
        """The most messages this stream holds (None: no limit).

        ``max_queued_incoming_messages`` for ``client.messages``; for the others the
        ``queue_maxsize`` they were opened with, which defaults to it. When a stream is full, the
        messages it wants wait, unacknowledged, until a reader takes one out (see the guide
        Subscribing).
        """
        return self._limit or None

    def _has_room(self) -> bool:
        limit = self._limit
        return not limit or len(self) < limit

    async def __anext__(self) -> Message:
        router = self._router
        if router.everything is self:
            router.everything_read = True
        while True:
            items = self._items
            if self._limit:
                router.note_reader()
            if items:
                message = items.popleft()
                if router.backlog:  # room for what waits
                    router.release()
                return message
            if self._closed:
                raise MqttError("this message stream is closed (its `async with` block ended)")
            status = self._status
            if not status.connected and not status.reconnecting:
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

    def _put(self, message: Message) -> None:
        """Queue a message (the router checks ``_has_room`` first when the stream has a limit)."""
        items = self._items
        if items is None:
            items = self._items = deque()
        items.append(message)
        if self._getters:
            self._wake_one()

    def _wake_all(self) -> None:
        """Wake every waiting task so that it sees the new connection status."""
        getters = self._getters
        while getters:
            waiter = getters.pop(0)
            if not waiter.done():
                waiter.set_result(None)

    def _close(self) -> None:
        """End the stream for good (its context manager exited); waiting tasks get MqttError."""
        self._closed = True
        self._wake_all()

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
    """Routes each received message to the streams that want it (see the module docstring).

    ``unacknowledged`` counts the QoS 1/2 messages of the current connection delivered (or
    discarded by the documented policy) since the client last acknowledged; ``acknowledge``
    takes a delivered message of an earlier connection; ``flush()`` has the client acknowledge
    and write when messages were delivered outside the link's callbacks (a consumer made room
    for the backlog).
    """

    __slots__ = (
        "_acknowledge",
        "_all",
        "_claims",
        "_counts",
        "_discard_warned",
        "_discarded",
        "_filtered",
        "_filtered_streams",
        "_flush",
        "_held_qos0",
        "_hold_limit",
        "_logger",
        "_readers",
        "_readers_waiting",
        "_unfiltered",
        "backlog",
        "connection",
        "everything",
        "everything_read",
        "gate",
        "stats",
        "status",
        "unacknowledged",
    )

    def __init__(
        self,
        queue_type: type[asyncio.Queue[Message]],
        limit: int | None,
        logger: Logger,
        acknowledge: Callable[[Message], None],
        flush: Callable[[], None],
        *,
        manual_ack: bool = False,
        stats: ClientStats | None = None,
    ) -> None:
        self.status = ConnectionStatus()
        self.stats = ClientStats() if stats is None else stats
        # Whether delivering counts as acknowledging (else the application's ack() does).
        self._counts = not manual_ack
        self.gate = ReadGate()
        self._acknowledge = acknowledge
        self._flush = flush
        self._logger = logger
        self.connection = 0  # the number of the current network connection
        self.unacknowledged = 0
        # Messages a full stream wants, and all after them, in arrival order, unacknowledged.
        self.backlog: deque[Message] = deque()
        self._held_qos0 = 0  # QoS 0 messages in the backlog
        self._hold_limit = 1  # QoS 0 messages the backlog may hold before reading pauses
        # Tasks that have read a bounded stream (made by the first), and how many of them
        # wait for an acknowledgement of their own right now.
        self._readers: weakref.WeakSet[asyncio.Task[object]] | None = None
        self._readers_waiting = 0
        self.everything = ClientMessages(queue_type, self, limit)
        self._hold_limit = max(self._hold_limit, self.everything._limit)
        self.everything_read = False  # has a task iterated `client.messages` on this connection?
        self._filtered: FilterTrie[MessageStream] = FilterTrie()
        self._filtered_streams: list[MessageStream] = []
        self._unfiltered: list[MessageStream] = []
        self._all: list[MessageStream] = []  # asyncio-mqtt 0.12-0.16's client.messages()
        self._discarded = 0  # discarded since the last warning
        self._discard_warned = -math.inf  # when the last warning was logged (loop time)
        self._claims: dict[str, Callable[[Message], None]] = {}  # topic name -> claimant

    def route(self, message: Message) -> None:
        """Deliver a received message to the streams that want it, or hold it in the backlog."""
        self.stats.messages_received[message.qos] += 1
        if self._claims and (take := self._claims.get(message.topic.value)) is not None:
            if message.qos:
                message._acked = True  # (acknowledged here: its ack() says so)
                self._acknowledge(message)
            take(message)
            return
        everything = self.everything
        if (
            not self._filtered_streams  # (the list, not the trie: its len() is a Python call)
            and not self._unfiltered
            and not self._all
            and not self.backlog
            and (not everything._limit or len(everything) < everything._limit)
        ):
            everything._put(message)  # the aiomqtt 2.x case: one stream of everything
            if message.qos and self._counts:
                self.unacknowledged += 1
            return
        if self.backlog or not self._deliver(message):
            self._hold(message)
        elif message.qos and self._counts:
            self.unacknowledged += 1

    def release(self) -> None:
        """Deliver what waits in the backlog, as far as the streams have room."""
        backlog = self.backlog
        acknowledged = False
        while backlog and self._deliver(backlog[0]):
            message = backlog.popleft()
            if not message.qos:
                self._held_qos0 -= 1
                continue
            if not self._counts:
                continue
            acknowledged = True
            if message._connection == self.connection:
                self.unacknowledged += 1
            else:
                self._acknowledge(message)
        if acknowledged:
            self._flush()
        if self.gate.paused and self._held_qos0 <= self._hold_limit // 2:
            self.gate.resume()

    def _hold(self, message: Message) -> None:
        self.backlog.append(message)
        if not message.qos:
            self._held_qos0 += 1
            if self._held_qos0 >= self._hold_limit and not self._readers_waiting:
                self.gate.pause()

    def note_reader(self) -> None:
        """The current task reads a bounded stream."""
        readers = self._readers
        if readers is None:
            readers = self._readers = weakref.WeakSet()
        task = asyncio.current_task()
        if task is not None:
            readers.add(task)

    def reader_waits(self) -> bool:
        """The current task starts waiting for an acknowledgement; if it reads a bounded
        stream, reading must go on meanwhile (True: call ``reader_done`` when it ends)."""
        readers = self._readers
        if readers is None or asyncio.current_task() not in readers:
            return False
        self._readers_waiting += 1
        self.gate.resume()
        return True

    def reader_done(self) -> None:
        """The wait announced by a ``reader_waits`` that returned True is over."""
        self._readers_waiting -= 1
        if not self._readers_waiting and self._held_qos0 >= self._hold_limit:
            self.gate.pause()

    def _deliver(self, message: Message) -> bool:
        """Put ``message`` into every stream that wants it; False if one of them is full."""
        streams = self._filtered.match(message.topic.value) or self._unfiltered
        if len(streams) > 1:
            # A stream of several filters (``subscription([...])``) that overlap gets the
            # message once (streams compare by identity).
            streams = list(dict.fromkeys(streams))
        if not streams and (
            self.everything_read or not (self._filtered or self._unfiltered or self._all)
        ):
            streams = [self.everything]
        if self._all:
            streams = [*streams, *self._all]
        if not streams:
            self._discard(message)
            if message.qos and not self._counts:  # (nobody will call its ack())
                self._acknowledge(message)
            return True
        if not all(stream._has_room() for stream in streams):
            return False
        old_style: Message | None = None
        for stream in streams:
            if stream.str_topics:
                if old_style is None:
                    old_style = message.with_str_topic()
                stream._put(old_style)
            else:
                stream._put(message)
        return True

    def _discard(self, message: Message) -> None:
        """The documented policy (module docstring): counted, and logged at WARNING at most
        every ``_DISCARD_WARNING_INTERVAL`` seconds, each warning counting those since the
        last one (the rest at DEBUG; what remains is summed up when the connection ends)."""
        self.stats.messages_discarded += 1
        self._discarded += 1
        now = asyncio.get_running_loop().time()
        warn = now - self._discard_warned >= _DISCARD_WARNING_INTERVAL
        self._logger.log(
            logging.WARNING if warn else logging.DEBUG,
            "discarded a message on topic %r: no filtered_messages() stream matches it, no "
            "unfiltered_messages() stream is open, and client.messages is not being read "
            "(%d discarded since the last warning, %d in all: client.stats.messages_discarded)",
            message.topic.value,
            self._discarded,
            self.stats.messages_discarded,
        )
        if warn:
            self._discarded = 0
            self._discard_warned = now

    def _summarize_discards(self) -> None:
        if self._discarded:
            self._logger.warning(
                "discarded %d more messages that no stream wanted (%d in all)",
                self._discarded,
                self.stats.messages_discarded,
            )
            self._discarded = 0

    def claim(self, topic: str, take: Callable[[Message], None]) -> None:
        """Every message on the topic name ``topic`` goes to ``take`` from now on, and to no
        stream: at once, in the callback that received it, acknowledged by the client."""
        self._claims[topic] = take

    def open_filtered(self, topic_filters: Iterable[str], stream: MessageStream) -> None:
        """``stream`` gets the messages any of ``topic_filters`` matches from now on (each
        message once)."""
        for topic_filter in topic_filters:
            self._filtered.add(topic_filter, stream)
        self._filtered_streams.append(stream)

    def close_filtered(self, topic_filters: Iterable[str], stream: MessageStream) -> None:
        """End a filtered stream: it gets nothing more, and its readers get ``MqttError``."""
        for topic_filter in topic_filters:
            self._filtered.remove(topic_filter, stream)
        self._filtered_streams.remove(stream)
        stream._close()
        if self.backlog:
            self.release()

    def open_all(self, stream: MessageStream) -> None:
        """``stream`` gets every message from now on (``client.messages()``, 0.x)."""
        self._all.append(stream)

    def close_all(self, stream: MessageStream) -> None:
        """End a stream of ``open_all``."""
        self._all.remove(stream)
        stream._close()
        if self.backlog:
            self.release()

    def open_unfiltered(self, stream: MessageStream) -> None:
        """``stream`` gets the messages no filtered stream takes, from now on."""
        self._unfiltered.append(stream)

    def close_unfiltered(self, stream: MessageStream) -> None:
        """End a stream of ``open_unfiltered``."""
        self._unfiltered.remove(stream)
        stream._close()
        if self.backlog:
            self.release()

    def connection_started(self, number: int) -> None:
        """Network connection ``number`` (``ClientConnection.number``) is established."""
        self.connection = number
        self.unacknowledged = 0
        self.status.connected = True
        self.status.reconnecting = False
        self.status.cause = None
        self.status.reported = False
        self.everything_read = False

    def connection_ended(self, reason: str, cause: BaseException | None) -> None:
        """Every stream yields what it holds, then raises ``MqttError(reason) from cause``."""
        self._summarize_discards()
        status = self.status
        status.connected = False
        status.reconnecting = False
        status.reason = reason
        status.cause = cause
        self.everything._wake_all()
        for stream in (*self._unfiltered, *self._filtered_streams, *self._all):
            stream._wake_all()

    def queued(self) -> int:
        """Messages waiting to be read: in every stream, and in the backlog."""
        streams = [self.everything, *self._filtered_streams, *self._unfiltered, *self._all]
        return sum(map(len, streams)) + len(self.backlog)

    def connection_paused(self) -> None:
        """The connection was lost and the client reconnects: streams keep waiting."""
        self.status.connected = False
        self.status.reconnecting = True

    def new_stream(
        self,
        limit: int | None,
        queue_type: type[asyncio.Queue[Message]] | None = None,
        *,
        str_topics: bool = False,
    ) -> MessageStream:
        """A stream for ``filtered_messages`` / ``unfiltered_messages`` / ``messages()``."""
        stream = MessageStream(queue_type, self, limit, str_topics=str_topics)
        self._hold_limit = max(self._hold_limit, stream._limit)
        return stream


# ---------------------------------------------------------------------- stream context managers


class FilteredStream(contextlib.AbstractAsyncContextManager[MessageStream]):
    """``filtered_messages``: a stream of what matches its filters (each message once), open
    while the block runs.

    ``str_topics``: the asyncio-mqtt 0.x API, whose messages have ``str`` topics.
    """

    def __init__(
        self,
        router: Router,
        topic_filters: Sequence[str],
        limit: int | None,
        *,
        str_topics: bool,
    ) -> None:
        self._router = router
        self._filters = tuple(topic_filters)
        self._stream = router.new_stream(limit, str_topics=str_topics)

    async def __aenter__(self) -> MessageStream:
        self._router.open_filtered(self._filters, self._stream)
        return self._stream

    async def __aexit__(self, *exc_info: object) -> None:
        self._router.close_filtered(self._filters, self._stream)


class UnfilteredStream(contextlib.AbstractAsyncContextManager[MessageStream]):
    """``unfiltered_messages`` (0.x): a stream of what no filtered stream took."""

    def __init__(self, router: Router, limit: int | None) -> None:
        self._router = router
        self._stream = router.new_stream(limit, str_topics=True)

    async def __aenter__(self) -> MessageStream:
        self._router.open_unfiltered(self._stream)
        return self._stream

    async def __aexit__(self, *exc_info: object) -> None:
        self._router.close_unfiltered(self._stream)


class AllMessages(contextlib.AbstractAsyncContextManager[MessageStream]):
    """``client.messages()`` (asyncio-mqtt 0.12-0.16): a stream of every message."""

    def __init__(
        self, router: Router, limit: int | None, queue_type: type[asyncio.Queue[Message]] | None
    ) -> None:
        self._router = router
        self._stream = router.new_stream(limit, queue_type, str_topics=True)

    async def __aenter__(self) -> MessageStream:
        self._router.open_all(self._stream)
        return self._stream

    async def __aexit__(self, *exc_info: object) -> None:
        self._router.close_all(self._stream)


class ClientMessages(MessageStream):
    """The type of ``client.messages``: aiomqtt 2's stream of every message no other stream
    took, which can also be called as asyncio-mqtt 0.12-0.16's ``client.messages()``:
    ``async with client.messages(queue_maxsize=10) as messages: async for m in messages``.

    Called, it takes two keyword arguments: ``queue_class``, the ``asyncio.Queue`` subclass
    that holds the messages (default None: first in, first out), and ``queue_maxsize``, the
    most messages it holds (default 0: the client's ``max_queued_incoming_messages``). It
    raises ``TypeError`` for anything else. The stream it opens has topics as ``str``
    (``TopicString``) and gets every message, whatever the other streams take.

    The client makes the one it has; the constructor's parameters are internal."""

    __slots__ = ("_default_limit",)

    def __init__(
        self, queue_type: type[asyncio.Queue[Message]] | None, router: Router, limit: int | None
    ) -> None:
        super().__init__(queue_type, router, limit)
        self._default_limit = limit

    def __call__(
        self,
        *,
        queue_class: type[asyncio.Queue[Message]] | None = None,
        queue_maxsize: int = 0,
    ) -> contextlib.AbstractAsyncContextManager[MessageStream]:
        """A stream of every message, open while its ``async with`` block runs (0.x).

        ``queue_class``: the ``asyncio.Queue`` subclass that holds the messages (default
        None: first in, first out); ``queue_maxsize``: the most it holds (0, the default: the
        client's ``max_queued_incoming_messages``). Raises ``TypeError`` for values of
        another type.
        """
        if queue_class is not None and not (
            isinstance(queue_class, type) and issubclass(queue_class, asyncio.Queue)
        ):
            raise TypeError(f"queue_class must be asyncio.Queue or a subclass, got {queue_class!r}")
        if not isinstance(queue_maxsize, int) or isinstance(queue_maxsize, bool):
            raise TypeError(f"queue_maxsize must be an int, got {queue_maxsize!r}")
        limit = queue_maxsize if queue_maxsize > 0 else self._default_limit
        return AllMessages(self._router, limit, queue_class)


class SubscriptionStream(contextlib.AbstractAsyncContextManager[MessageStream]):
    """``subscription``: subscribe on enter, stream what matches, unsubscribe on exit.

    One stream for all the filters of the call (a message matching several of them comes
    once). Several open ``subscription`` blocks of one filter share the broker's subscription:
    the last to exit unsubscribes from it (``counts`` is the client's tally per filter), the
    filters no block holds any more in one ``unsubscribe`` call.
    """

    def __init__(
        self,
        router: Router,
        topic_filters: Sequence[str],
        limit: int | None,
        *,
        subscribe: Callable[[], Awaitable[object]],
        unsubscribe: Callable[[list[str]], Awaitable[object]],
        counts: dict[str, int],
        logger: Logger,
    ) -> None:
        self._filters = tuple(topic_filters)
        self._stream = FilteredStream(router, self._filters, limit, str_topics=False)
        self._subscribe = subscribe
        self._unsubscribe = unsubscribe
        self._counts = counts
        self._logger = logger

    async def __aenter__(self) -> MessageStream:
        stream = await self._stream.__aenter__()
        try:
            await self._subscribe()
        except BaseException:
            await self._stream.__aexit__(None, None, None)
            raise
        counts = self._counts
        for topic_filter in self._filters:
            counts[topic_filter] = counts.get(topic_filter, 0) + 1
        return stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        counts = self._counts
        released: list[str] = []
        for topic_filter in self._filters:
            counts[topic_filter] -= 1
            if not counts[topic_filter]:
                del counts[topic_filter]
                released.append(topic_filter)
        try:
            if released:
                await self._unsubscribe(released)
        except MqttError as error:
            if exc is None:
                raise
            self._logger.warning(
                "could not unsubscribe from %s: %s", ", ".join(map(repr, released)), error
            )
        finally:
            await self._stream.__aexit__(None, None, None)
