"""The asyncio side of one network connection: an ``asyncio.Protocol`` driving a ClientConnection.

Theory of operation
-------------------
``Link`` is the protocol of the transport that ``transports.open_connection`` opens (TCP,
TLS, Unix socket, WebSocket, through a proxy): it needs nothing but asyncio's transport
interface, so it works on every event loop, the default one on every OS and uvloop. Every input
follows the same path, synchronously, in the callback that delivered it:

    input (bytes, EOF, timer, command)  ->  the core  ->  ``flush()``

and ``flush`` does, in this order: hand the core's events to the client (messages are routed
and acknowledged, futures are resolved); hand the session's new records to the store
(``sink``), so that a change is stored before the bytes that depend on it leave (write-ahead);
write everything the core queued with *one* ``transport.write``; close the transport if the
core ended the connection (it has queued its last words, already written); re-arm the
keepalive timer.

Timer: one ``TimerHandle`` at a time. The core's deadline moves later on almost every packet, so
a later deadline does not re-arm the timer: the armed one fires early, ``handle_timer`` finds
nothing due, and the timer is re-armed at the deadline of that moment. Only an earlier deadline
(or none armed) re-arms at once.

Reading pauses (backpressure from full message queues): while we do not read, the broker's
PINGRESP cannot reach us, so silence is not evidence of a dead broker. The timer then tells the
core that the link is alive before letting it act, so it still sends PINGREQ (the broker must
hear from us) but does not fail the connection for a PINGRESP it cannot see.

Coalesced writes: publishes made in a row would cost a system call each if every one were
written at once. ``flush_soon`` collects them and writes when the loop next turns
(``call_soon``), or at once when 64 KiB are waiting, so that they share one ``transport.write``
and the bytes held back stay bounded. A QoS 0 publish with nothing being collected is written
at once (``first_at_once``): a lone message then waits for nothing, and only the burst after it
is collected. Everything else (``flush``) writes at once, taking along whatever is waiting, in
order. When acknowledgements wake publishers, the client schedules that flush at once
(``flush_next_turn``): it then runs right after them in the turn they run in, and what they
publish goes out a loop turn sooner.

Deferred endings: a store transaction costs far more than the rows in it, so when the only
new records are ``PublishEnded`` (acknowledgements came in) and a flush is scheduled for the
next loop turn anyway, they wait for that flush and share its transaction with what the woken
publishers record. No byte depends on an ending, so this keeps the write-ahead rule; a crash
in between can only make the next process send an acknowledged QoS 1 message again (a
duplicate, as QoS 1 allows) or a QoS 2 PUBREL the broker answers without delivering anything.
While the connection closes nothing waits: the last flush stores everything.

Writing pauses (the transport's buffer is above its high-water mark): ``wait_writable`` lets
QoS 0 publishers wait for the buffer to drain instead of growing it without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from ._stats import ClientStats
from .protocol.connection import ClientConnection, ConnectionState
from .protocol.events import Event
from .protocol.session import PublishEnded, SessionRecord

__all__ = ("Link", "RecordSink")

_CLOSED: Final = ConnectionState.CLOSED
_CONNECTED: Final = ConnectionState.CONNECTED
_COALESCE_LIMIT: Final = 64 * 1024  # bytes ``flush_soon`` may hold back before writing


class RecordSink(Protocol):
    """Where a link stores the session's records before writing (a session store)."""

    def apply(self, records: Sequence[SessionRecord]) -> None: ...


class Link(asyncio.Protocol):
    """Drives one ``ClientConnection`` over one transport; lives as long as the transport."""

    # Slots: one per connection; without them each would carry an instance dict.
    __slots__ = (
        "_deadline",
        "_flush_scheduled",
        "_held_back",
        "_on_events",
        "_reading_paused",
        "_sink",
        "_stats",
        "_timer",
        "_writable",
        "closed",
        "conn",
        "failure",
        "failure_in_store",
        "first_bytes",
        "loop",
        "lost_error",
        "transport",
        "write_paused",
    )

    def __init__(
        self,
        conn: ClientConnection,
        on_events: Callable[[list[Event]], None],
        sink: RecordSink | None = None,
        stats: ClientStats | None = None,
    ) -> None:
        self._stats = ClientStats() if stats is None else stats
        self.conn = conn
        self._on_events = on_events
        # Records are taken only when someone stores them (a session with recording on).
        self._sink = sink if conn.session.recording else None
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.failure: Exception | None = None  # raised while handling the core's events
        self.failure_in_store = False  # (or while the store applied the session's records)
        # For explaining a connect that fails: what the server sent first, how it ended.
        self.first_bytes = b""
        self.lost_error: Exception | None = None
        self._held_back = 0  # bytes queued by flush_soon since the last write
        self._flush_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._writable: asyncio.Future[None] | None = None  # set while writing is paused
        self.write_paused = False  # (an attribute, not a property: publish reads it each time)
        self._reading_paused = False

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conn.connect(self.loop.time())
        self.flush()

    def data_received(self, data: bytes) -> None:
        self._stats.bytes_received += len(data)
        if not self.first_bytes:
            self.first_bytes = bytes(data[:64])
        self.conn.receive_data(data, self.loop.time())
        self.flush()

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_error = exc
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        conn = self.conn
        if conn.state is not _CLOSED:
            conn.receive_eof(self.loop.time())
        conn.data_to_send()  # nothing can be written any more
        events = conn.events_received()
        self.transport = None
        if events:
            self._on_events(events)
        self._release_writers()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self.loop.create_future()
            self.write_paused = True

    def resume_writing(self) -> None:
        self._release_writers()

    # ------------------------------------------------------------------ for the client

    def flush(self) -> None:
        """Dispatch the core's events, store its records, write its bytes, follow its state
        and timer (in that order: handling events queues acknowledgements, which then go out
        in the same write)."""
        conn = self.conn
        transport = self.transport
        self._held_back = 0
        events = conn.events_received()
        if events:
            try:
                self._on_events(events)
            except Exception as error:
                # A bug in code the client calls (a custom queue_type, say): end the connection
                # rather than go on with an event half handled; the client reports ``failure``.
                self.failure = error
                if transport is not None:
                    transport.abort()
                return
        if self._sink is not None and conn.session.records and not self._endings_can_wait(conn):
            try:
                self._sink.apply(conn.session.take_records())
            except Exception as error:
                # The store could not keep what the bytes depend on (a full disk, say): they
                # must not leave. End the connection; the client reports ``failure``.
                self.failure = error
                self.failure_in_store = True
                if transport is not None:
                    transport.abort()
                return
        data = conn.data_to_send()
        if data and transport is not None:
            transport.write(data)
            self._stats.bytes_sent += len(data)
        if conn.state is _CLOSED:
            if transport is not None:
                transport.close()
            return
        deadline = conn.get_timer()
        if deadline is not None and (self._deadline is None or deadline < self._deadline):
            self._arm(deadline)

    def _endings_can_wait(self, conn: ClientConnection) -> bool:
        """Whether the session's new records are only endings that the flush scheduled for
        the next turn can store (see "Deferred endings" above)."""
        if not self._flush_scheduled or conn.state is not _CONNECTED:
            return False
        return all(type(record) is PublishEnded for record in conn.session.records)

    def flush_soon(self, size: int, *, first_at_once: bool = False) -> None:
        """Collect ``size`` more bytes and write them when the loop next turns (or at once
        past the limit), so that a burst of publishes costs one system call.

        ``first_at_once``: write at once if nothing is being collected yet, so that a lone
        publish waits for nothing; only the calls after it, until the loop turns, collect.
        """
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._scheduled_flush)
            if first_at_once:
                self.flush()
                return
        self._held_back += size
        if self._held_back >= _COALESCE_LIMIT:
            self.flush()

    def flush_next_turn(self) -> None:
        """Flush when the loop next turns, as ``flush_soon`` would, without adding bytes.

        For the client when acknowledgements resolved publishers' futures: the callbacks that
        wake those tasks are queued already, so this flush runs right after them, in the same
        loop turn, and writes what they publish then. Scheduled by their first ``flush_soon``
        instead, it would run one loop turn (a poll of the selector) later.
        """
        if not self._flush_scheduled and self.transport is not None:
            self._flush_scheduled = True
            self.loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def now(self) -> float:
        """The clock the core runs on: the loop's."""
        return self.loop.time()

    async def wait_writable(self) -> None:
        """Return once the transport's write buffer is below its high-water mark (or closed)."""
        while self._writable is not None:
            await asyncio.shield(self._writable)

    def pause_reading(self) -> None:
        transport = self.transport
        if not self._reading_paused and transport is not None and not transport.is_closing():
            self._reading_paused = True
            transport.pause_reading()

    def resume_reading(self) -> None:
        transport = self.transport
        if self._reading_paused:
            self._reading_paused = False
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # ------------------------------------------------------------------ internals

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._deadline = deadline
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._deadline = None
        if self.transport is None:
            return
        now = self.loop.time()
        if self._reading_paused:
            # We are not reading, so we cannot see the broker's answers: note the link as
            # alive (an empty read) so that the core sends PINGREQ but does not time out.
            self.conn.receive_data(b"", now)
        self.conn.handle_timer(now)
        # flush() re-arms at the core's deadline now: the next one, or this one again when
        # asyncio fired a little early and handle_timer found nothing due.
        self.flush()

    def _release_writers(self) -> None:
        waiter = self._writable
        self._writable = None
        self.write_paused = False
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
