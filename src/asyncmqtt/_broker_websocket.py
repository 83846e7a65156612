"""MQTT over WebSocket for the broker: the server side of ``_websocket.py``.

Theory of operation
-------------------
The same two objects as on the client side sit between the network and the broker's MQTT
protocol (a ``BrokerLink``)::

    socket/TLS transport  <->  WebSocketServerProtocol  <->  WebSocketTransport  <->  BrokerLink
          (asyncio)               (inner protocol)          (outer transport)

``WebSocketServerProtocol`` is the ``asyncio.Protocol`` of an accepted connection. It feeds the
bytes to the sans-I/O ``websockets.server.ServerProtocol`` and writes whatever that object
queues, so every WebSocket rule (the handshake's checks, answering pings, the close handshake)
is the library's. What it adds is MQTT's view of WebSocket (MQTT 5.0 section 6):

- The opening handshake must ask for the subprotocol ``mqtt`` (or the old ``mqttv3.1``), on the
  listener's request path; anything else is answered with an HTTP error (400 for a missing or
  unknown subprotocol, 404 for another path) and closed. Only once the upgrade is accepted is
  the MQTT protocol made and given the outer transport (the client side's
  ``WebSocketTransport``, shared), so it sees what a TCP connection would give it. A client
  that has not completed the upgrade within ``handshake_timeout`` seconds is dropped.
- The payload of every binary frame (continuations included) is passed on as it arrives: an
  MQTT packet may span frames and a frame may hold several. A text frame breaks [MQTT-6.0.0-1]:
  the WebSocket is failed with close code 1003.
- Every ``write`` of the MQTT protocol becomes one binary frame, or several of at most
  ``MAX_FRAME_SIZE`` bytes each.
- ``close()`` (the broker ends the connection) starts the close handshake; the server closes
  TCP once the client answered, or aborts it after ``CLOSE_TIMEOUT`` seconds.

Flow control passes straight through, as on the client side. The size of one incoming frame
is bounded (``max_frame``: the broker's largest packet, at least 1 MiB), since the library
holds a frame whole before it passes it on.

This module imports ``websockets``: ``broker.py`` imports it only for a WebSocket listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final, cast

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from ._websocket import CLOSE_TIMEOUT, SUBPROTOCOL, WebSocketEnd, WebSocketTransport

__all__ = ("SUBPROTOCOLS", "WebSocketServerProtocol")

SUBPROTOCOLS: Final = (SUBPROTOCOL, Subprotocol("mqttv3.1"))
"""The subprotocols a client may ask for, the preferred first (mosquitto accepts the same)."""
_NORMAL_CLOSURE: Final = 1000
_UNSUPPORTED_DATA: Final = 1003
_NOT_FOUND: Final = 404
# websockets logs each handshake at INFO, and at DEBUG every frame with its first bytes (which
# can be a CONNECT's password): the broker logs connections itself, and passwords never.
_LOGGER: Final = logging.getLogger("asyncmqtt.broker.websockets")
_LOGGER.setLevel(logging.WARNING)


class WebSocketServerProtocol(WebSocketEnd):
    """The inner protocol of one accepted connection: speaks WebSocket for one MQTT protocol.

    ``path``: the request path the upgrade must ask for; ``app_factory`` makes the MQTT
    protocol once the upgrade is accepted; ``handshake_timeout``: seconds the client has to
    complete the upgrade; ``max_frame``: the largest frame accepted, in bytes (a bigger one
    fails the WebSocket with close code 1009); ``track`` is called with this object when its
    connection is made (False: the broker is closing, the connection is dropped), ``untrack``
    when it ends.
    """

    _ws: ServerProtocol

    def __init__(
        self,
        path: str,
        app_factory: Callable[[], asyncio.Protocol],
        *,
        handshake_timeout: float,
        max_frame: int,
        track: Callable[[WebSocketServerProtocol], bool],
        untrack: Callable[[WebSocketServerProtocol], None],
    ) -> None:
        self._ws = ServerProtocol(
            subprotocols=list(SUBPROTOCOLS), max_size=(None, max_frame), logger=_LOGGER
        )
        self._path = path
        self._app_factory = app_factory
        self._handshake_timeout = handshake_timeout
        self._track = track
        self._untrack = untrack
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._outer: WebSocketTransport | None = None
        self._app: asyncio.Protocol | None = None
        self._timer: asyncio.TimerHandle | None = None  # the handshake's, then the close's
        self._failure: Exception | None = None
        self.frames_received = 0  # data frames (the outer transport's extra info)
        self.frames_sent = 0

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's do not subclass asyncio.Transport, so no isinstance.
        self._transport = cast(asyncio.Transport, transport)
        if not self._track(self):
            transport.abort()  # type: ignore[attr-defined]
            return
        self._timer = self._loop.call_later(self._handshake_timeout, self._handshake_expired)

    def data_received(self, data: bytes) -> None:
        self._ws.receive_data(data)
        self._process_events()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._process_events()
        if self._app is not None:
            self._app.eof_received()
        return None  # let the transport close; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._untrack(self)
        if self._app is not None:
            self._app.connection_lost(exc or self._failure)

    # -- the outer transport's requests (send and start_close: WebSocketEnd's) -------------

    def close(self) -> None:
        """End the connection as the broker shuts down: the MQTT protocol's transport if the
        upgrade was accepted (it has closed it already), else TCP."""
        if self._outer is not None:
            self._outer.close()
        elif self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection at once."""
        if self._transport is not None:
            self._transport.abort()

    def flush(self) -> None:
        """Write what the WebSocket layer queued; arm the close timer when a close is due."""
        transport = self.transport
        for chunk in self._ws.data_to_send():
            if transport.is_closing():
                break
            if chunk:
                transport.write(chunk)
            else:
                # An empty chunk asks for the end of our side of TCP: after the close
                # handshake, or after an HTTP error response to a refused upgrade.
                transport.close()
        if self._ws.close_expected() and not transport.is_closing():
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_later(CLOSE_TIMEOUT, transport.abort)

    # -- events from the WebSocket layer ----------------------------------------------------

    def _process_events(self) -> None:
        for event in self._ws.events_received():
            if isinstance(event, Request):
                self._on_request(event)
            elif isinstance(event, Frame):
                self._on_frame(event)
        self.flush()

    def _on_request(self, request: Request) -> None:
        if request.path.partition("?")[0] != self._path:
            response = self._ws.reject(
                _NOT_FOUND, f"No MQTT over WebSocket here: the path is {self._path}\n"
            )
        else:
            response = self._ws.accept(request)
        self._ws.send_response(response)
        if response.status_code != 101:
            return  # (the library queued the end of the stream after the error response)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # The client side's outer transport, shared: it needs only the members this class
        # has under the same names (send, start_close, transport, app, subprotocol, frames).
        self._outer = WebSocketTransport(cast(Any, self))
        self._app = self._app_factory()
        self._app.connection_made(self._outer)

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.BINARY or opcode is Opcode.CONT:
            self.frames_received += 1
            if frame.data and self._app is not None:
                data = frame.data
                self._app.data_received(data if type(data) is bytes else bytes(data))
        elif opcode is Opcode.TEXT:
            # [MQTT-6.0.0-1]: MQTT data travels in binary frames only.
            self._failure = ConnectionError(
                "the client sent a WebSocket text frame; MQTT uses binary frames only"
            )
            self._ws.fail(_UNSUPPORTED_DATA, "MQTT uses binary frames only")
        # PING is answered by the WebSocket layer; PONG and CLOSE need nothing more here.

    def _handshake_expired(self) -> None:
        self._timer = None
        if self._app is None and self._transport is not None:
            self._transport.abort()
