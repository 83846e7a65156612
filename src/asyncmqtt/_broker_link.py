"""The broker's asyncio side: one ``asyncio.Protocol`` per transport, one driver for the core.

Theory of operation
-------------------
``BrokerDriver`` owns the ``BrokerCore`` on the running loop; ``BrokerLink`` is the protocol of
one accepted transport (TCP, TLS, Unix socket, or the outer transport of a WebSocket), as
``Link`` is on the client side: it needs nothing but asyncio's transport interface, so it runs
on every event loop. Every input follows the same path::

    input (bytes, EOF, backpressure, timer)  ->  the core  ->  ``flush_soon()``

and ``flush`` runs when the loop next turns: the core's events are logged (and passed to
``on_event``), then each connection the core lists in ``connections_to_flush()`` gets *one*
``transport.write`` of its ``data_to_send()``, and the transport of a connection the core
closed is closed. One input may give bytes to many connections (a PUBLISH fans out); waiting
for the loop to turn lets every read of one loop iteration share those writes, so that a
subscriber fed by many publishers gets one system call per iteration, not one per message.

Timer: one ``TimerHandle`` for the whole core (``get_timer`` / ``handle_timer``), re-armed
only when the core's next deadline is earlier than the armed one; a timer that fires early
finds nothing due and is re-armed at the deadline of that moment.

Backpressure, per connection: the transport's ``pause_writing`` / ``resume_writing`` reach the
core (``ServerConnection.pause_writing`` / ``resume_writing``), which then keeps that client's
messages in its bounded session queue (``max_queued_messages`` and its drop policy) instead of
the transport's buffer; nobody else waits for it. Replies to what the client sends still go
out; a client that sends without reading what it is answered would grow the buffer with them,
so above ``MAX_WRITE_BUFFER`` bytes its transport stops reading until the buffer drains.

Containment: what a client sends never raises out of the core, so an exception from a call
into it is a bug of the core. It ends that one connection (aborted, and ``connection_lost``
given to the core so that the client's will and session follow the usual rules) and is logged
at ERROR with its traceback; the broker goes on serving everyone else. A timer or a flush that
raises is logged the same way and the driver carries on.

Shutdown (``shutdown``): new transports are refused, the core ends every connection
(DISCONNECT 0x8B to MQTT 5 clients), the transports are closed (WebSocket ones with the close
handshake) and awaited up to a grace period, then the stragglers are aborted; the timer and
any pending flush are cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final, Protocol

from .protocol.broker import BrokerCore
from .protocol.enums import ConnAckReasonCode, DisconnectReasonCode, ProtocolVersion
from .protocol.server import (
    BrokerEvent,
    ClientConnected,
    ClientDisconnected,
    ConnectionRefused,
    HookFailed,
    MessageDropped,
    ServerConnection,
    WillPublished,
)

__all__ = ("MAX_WRITE_BUFFER", "BrokerDriver", "BrokerLink", "EventHandler")

MAX_WRITE_BUFFER: Final = 1024 * 1024
"""Bytes waiting in one transport's write buffer above which the broker stops reading from that
client until the buffer drains (only replies can take it that far: see the module docstring)."""

EventHandler = Callable[[BrokerEvent], None]
_ABORT_WAIT: Final = 1.0  # seconds aborted transports have to report connection_lost

_VERSIONS: Final = {
    ProtocolVersion.V31: "3.1",
    ProtocolVersion.V311: "3.1.1",
    ProtocolVersion.V5: "5.0",
}


class _Closable(Protocol):
    """An accepted connection as shutdown sees it (a ``BrokerLink`` or a WebSocket's inner
    protocol)."""

    def close(self) -> None: ...

    def abort(self) -> None: ...


def _reason(code: int, names: type[ConnAckReasonCode] | type[DisconnectReasonCode]) -> str:
    try:
        name = names(code).name.replace("_", " ").lower()
    except ValueError:
        name = "unknown"
    return f"0x{code:02X} {name}"


class BrokerLink(asyncio.Protocol):
    """Drives one ``ServerConnection`` over one transport; lives as long as the transport.

    ``tracked``: whether the driver closes this transport at shutdown itself (False for the
    MQTT protocol inside a WebSocket: its inner protocol is tracked instead). ``where``: the
    listener's address, named in logs when the transport has no peer address (Unix sockets).
    """

    __slots__ = ("_driver", "_tracked", "conn", "peer", "reading_paused", "transport", "where")

    def __init__(self, driver: BrokerDriver, where: str, *, tracked: bool = True) -> None:
        self._driver = driver
        self._tracked = tracked
        self.where = where
        self.conn: ServerConnection | None = None
        self.transport: asyncio.Transport | None = None
        self.peer = where
        self.reading_paused = False

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (a stream transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            host = str(peer[0])
            self.peer = f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
        self._driver.accept(self, tracked=self._tracked)

    def data_received(self, data: bytes) -> None:
        self._driver.receive(self, data)

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._driver.lost(self)

    def pause_writing(self) -> None:
        self._driver.pause(self)

    def resume_writing(self) -> None:
        self._driver.resume(self)

    # ------------------------------------------------------------------ for the driver

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if not self.reading_paused and transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.reading_paused = True
            transport.pause_reading()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def __repr__(self) -> str:
        return f"<BrokerLink {self.peer} {self.conn!r}>"


class BrokerDriver:
    """Runs one ``BrokerCore`` on the running loop (see the module docstring).

    ``logger``: where connections, refusals and disconnections (INFO), wills (INFO), dropped
    messages (DEBUG), hook failures (WARNING) and bugs of the core (ERROR) are logged; never
    passwords or payloads. ``on_event``: called with every core event after it is logged
    (what it raises is logged at ERROR and ignored).
    """

    def __init__(
        self,
        core: BrokerCore,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
        on_event: EventHandler | None = None,
    ) -> None:
        self.core = core
        self.logger = logger
        self._on_event = on_event
        self.loop = asyncio.get_running_loop()
        self._links: dict[ServerConnection, BrokerLink] = {}
        self._open: set[_Closable] = set()  # accepted transports not yet lost
        self._idle: asyncio.Future[None] | None = None  # set once _open empties at shutdown
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._flush_handle: asyncio.Handle | None = None
        self.closing = False

    # ------------------------------------------------------------------ transports

    def track(self, connection: _Closable) -> bool:
        """Count an accepted transport as open; False (and nothing counted) once closing."""
        if self.closing:
            return False
        self._open.add(connection)
        return True

    def untrack(self, connection: _Closable) -> None:
        self._open.discard(connection)
        if not self._open and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    def accept(self, link: BrokerLink, *, tracked: bool) -> None:
        """A transport was accepted: a new connection of the core (its connect timeout runs)."""
        if (tracked and not self.track(link)) or self.closing:
            link.abort()
            return
        try:
            link.conn = conn = self.core.new_connection(self.loop.time())
        except Exception:
            self.logger.exception(
                "bug in the broker core accepting a connection from %s", link.peer
            )
            link.abort()
            return
        self._links[conn] = link
        self.flush_soon()

    def receive(self, link: BrokerLink, data: bytes) -> None:
        conn = link.conn
        if conn is None or link.transport is None:
            return
        try:
            conn.receive_data(data, self.loop.time())
        except Exception:
            self._core_failed(link, "handling what it sent")
        self.flush_soon()

    def lost(self, link: BrokerLink) -> None:
        conn = link.conn
        link.transport = None
        if link._tracked:
            self.untrack(link)
        if conn is None:
            return
        if not conn.closed:
            try:
                conn.connection_lost(self.loop.time())
            except Exception:
                self.logger.exception(
                    "bug in the broker core ending the connection of %s", self._who(link)
                )
        self._links.pop(conn, None)
        self.flush_soon()

    def pause(self, link: BrokerLink) -> None:
        if link.conn is not None:
            link.conn.pause_writing()

    def resume(self, link: BrokerLink) -> None:
        conn, transport = link.conn, link.transport
        if link.reading_paused and transport is not None:
            link.reading_paused = False
            if not transport.is_closing():
                transport.resume_reading()
        if conn is None or transport is None:
            return
        try:
            conn.resume_writing(self.loop.time())
        except Exception:
            self._core_failed(link, "resuming writing to it")
        self.flush_soon()

    def _core_failed(self, link: BrokerLink, doing: str) -> None:
        """A call into the core raised: a bug. End this one connection, log, carry on."""
        self.logger.exception(
            "bug in the broker core while %s for %s; closing that connection",
            doing,
            self._who(link),
        )
        conn = link.conn
        link.abort()
        if conn is None:
            return
        self._links.pop(conn, None)
        try:
            conn.connection_lost(self.loop.time())  # (its will and session follow the rules)
        except Exception:
            self.logger.exception(
                "bug in the broker core ending the connection of %s", self._who(link)
            )

    # ------------------------------------------------------------------ flushing

    def flush_soon(self) -> None:
        """Flush when the loop next turns (so that every read of this turn shares the writes)."""
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Log the core's events, write each connection's bytes once, close the transports of
        closed connections, re-arm the timer."""
        handle = self._flush_handle
        if handle is not None:
            handle.cancel()
            self._flush_handle = None
        core = self.core
        try:
            events = core.events_received()
            dirty = core.connections_to_flush()
        except Exception:
            self.logger.exception("bug in the broker core while flushing its output")
            events, dirty = [], []
        for event in events:
            try:
                self._report(event)
            except Exception:
                self.logger.exception("failed to report the broker event %s", type(event).__name__)
        links = self._links
        for conn in dirty:
            link = links.get(conn)
            try:
                data = conn.data_to_send()
                closed = conn.closed
            except Exception:
                if link is not None:
                    self._core_failed(link, "taking its output")
                continue
            if link is None:
                continue  # (its transport is gone: what the core queued for it goes nowhere)
            if data:
                link.write(data)
            if closed:
                del links[conn]
                link.close()
        self._arm()

    # ------------------------------------------------------------------ timer

    def _arm(self) -> None:
        try:
            deadline = self.core.get_timer()
        except Exception:
            self.logger.exception("bug in the broker core reading its timer")
            return
        if deadline is None or self.closing:
            return
        if self._deadline is None or deadline < self._deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._deadline = deadline
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._deadline = None
        try:
            self.core.handle_timer(self.loop.time())
        except Exception:
            self.logger.exception("bug in the broker core handling its timer")
        self.flush()

    # ------------------------------------------------------------------ shutdown

    async def shutdown(self, grace: float | None) -> None:
        """End every connection (see the module docstring); ``grace``: seconds the transports
        have to close cleanly before they are aborted (None: no limit)."""
        self.closing = True
        try:
            self.core.shutdown(self.loop.time())
        except Exception:
            self.logger.exception("bug in the broker core shutting down")
        self.flush()
        for connection in list(self._open):
            connection.close()
        if self._open:
            self._idle = self.loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._idle), grace)
            except TimeoutError:
                for connection in list(self._open):
                    connection.abort()
                # (an aborted transport calls connection_lost when the loop next turns)
                try:
                    await asyncio.wait_for(asyncio.shield(self._idle), _ABORT_WAIT)
                except TimeoutError:
                    self.logger.warning(
                        "%d connections did not close when aborted; leaving them",
                        len(self._open),
                    )
                    self._open.clear()
        for link in list(self._links.values()):
            link.abort()
        self._links.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    # ------------------------------------------------------------------ logging

    def _who(self, link: BrokerLink) -> str:
        conn = link.conn
        if conn is not None and conn.client_id is not None:
            return f"client {conn.client_id!r} ({link.peer})"
        return link.peer

    def _peer(self, conn: ServerConnection) -> str:
        link = self._links.get(conn)
        return "?" if link is None else link.peer

    def _report(self, event: BrokerEvent) -> None:
        logger = self.logger
        kind = type(event)
        if kind is ClientConnected:
            connected: ClientConnected = event  # type: ignore[assignment]
            conn = connected.connection
            details = [f"MQTT {_VERSIONS.get(conn.protocol_version, '?')}"]  # type: ignore[arg-type]
            if conn.username is not None:
                details.append(f"user {conn.username!r}")
            if connected.session_present:
                details.append("session resumed")
            logger.info(
                "client %r connected from %s (%s)",
                connected.client_id,
                self._peer(conn),
                ", ".join(details),
            )
        elif kind is ConnectionRefused:
            refused: ConnectionRefused = event  # type: ignore[assignment]
            logger.info(
                "refused client %r from %s: %s",
                refused.client_id,
                self._peer(refused.connection),
                _reason(refused.reason_code, ConnAckReasonCode),
            )
        elif kind is ClientDisconnected:
            gone: ClientDisconnected = event  # type: ignore[assignment]
            if gone.error is None:
                how = "it sent DISCONNECT"
                if gone.reason_code is not None:
                    how += " " + _reason(gone.reason_code, DisconnectReasonCode)
            else:
                how = str(gone.error)
                if gone.reason_code is not None:
                    how += f" (DISCONNECT {_reason(gone.reason_code, DisconnectReasonCode)})"
            logger.info("client %r disconnected: %s", gone.client_id, how)
        elif kind is HookFailed:
            failed: HookFailed = event  # type: ignore[assignment]
            logger.warning(
                "the %s hook failed for client %r (counted as a refusal, 0x80): %r",
                failed.hook,
                failed.client_id,
                failed.error,
                exc_info=failed.error,
            )
        elif kind is WillPublished:
            will: WillPublished = event  # type: ignore[assignment]
            logger.info("published the will of client %r to %r", will.client_id, will.publish.topic)
        elif kind is MessageDropped:
            dropped: MessageDropped = event  # type: ignore[assignment]
            logger.debug(
                "dropped a message to %r for client %r: %s",
                dropped.publish.topic,
                dropped.client_id,
                dropped.reason,
            )
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                # (The event's name only: a message's payload must not reach the log.)
                logger.exception("the broker's on_event handler raised on %s", type(event).__name__)
