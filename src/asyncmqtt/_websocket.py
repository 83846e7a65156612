"""MQTT over WebSocket: an asyncio transport that carries a byte stream in binary frames.

Theory of operation
-------------------
Two objects sit between the network and the MQTT protocol (the client's ``Link``)::

    socket/TLS transport  <->  WebSocketProtocol  <->  WebSocketTransport  <->  MQTT protocol
          (asyncio)              (inner protocol)        (outer transport)

``WebSocketProtocol`` is the ``asyncio.Protocol`` that ``loop.create_connection`` drives. It
feeds bytes to the sans-I/O ``websockets.client.ClientProtocol`` and writes whatever that
object queues, so every WebSocket rule (handshake checks, masking, answering pings, the close
handshake) is the library's. What it adds is MQTT's view of WebSocket (MQTT 5.0 section 6):

- The opening handshake asks for the subprotocol ``mqtt``. Until the server accepts, nothing
  reaches the MQTT protocol; ``handshake`` (a future) reports success or the reason for failure.
  On success the MQTT protocol is created and given the outer transport, so it sees exactly
  what a TCP connection would give it.
- MQTT is a byte stream; frame and message boundaries mean nothing. The payload of every binary
  frame (continuations included) is passed on as it arrives, so an MQTT packet may span frames
  and messages, and a frame may hold several packets. A text frame breaks the MQTT rule
  [MQTT-6.0.0-1]: the connection is closed with close code 1003.
- Every ``write`` of the MQTT protocol becomes one binary message of one frame; a write over
  ``MAX_FRAME_SIZE`` bytes becomes several, so that no broker or proxy on the way must hold a
  huge frame or message (servers commonly limit both) before it can pass it on.
- ``close()`` starts the close handshake; the server answers and closes TCP. If it does not
  within ``CLOSE_TIMEOUT`` seconds, the TCP transport is aborted.

Flow control passes straight through: ``pause_reading`` and the write-buffer limits act on the
TCP transport, and its ``pause_writing``/``resume_writing`` reach the MQTT protocol.

This module imports ``websockets`` at the top: ``transports.py`` imports it only when the
``websockets`` transport is used, and reports a missing extra by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import Protocol as WebSocketsProtocol
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from ._checks import check_headers

__all__ = (
    "CLOSE_TIMEOUT",
    "MAX_FRAME_SIZE",
    "SUBPROTOCOL",
    "WebSocketEnd",
    "WebSocketProtocol",
    "WebSocketTransport",
)

SUBPROTOCOL: Final = Subprotocol("mqtt")
CLOSE_TIMEOUT: Final = 5.0  # seconds the server has to finish the close handshake
MAX_FRAME_SIZE: Final = 64 * 1024  # payload bytes in one outgoing frame
_NORMAL_CLOSURE: Final = 1000
_GOING_AWAY: Final = 1001
_UNSUPPORTED_DATA: Final = 1003
_CLEAN_CLOSE_CODES: Final = frozenset({_NORMAL_CLOSURE, _GOING_AWAY})

HeadersArgument = Mapping[str, str] | Callable[[dict[str, str]], Mapping[str, str]] | None


class WebSocketHandshakeError(ConnectionError):
    """The server did not accept the WebSocket upgrade; the message says what it answered."""


class WebSocketEnd(asyncio.Protocol):
    """What both ends of MQTT over WebSocket do alike (the client's ``WebSocketProtocol``, the
    embedded broker's ``WebSocketServerProtocol``): hand the transport's flow control to the
    MQTT protocol, send its bytes in binary frames, start the close handshake. A subclass has
    ``_ws`` (its side of the websockets library), ``_app`` (the MQTT protocol, once the
    upgrade succeeded), ``_transport`` (TCP or TLS, once connected), ``frames_sent`` and
    ``flush``."""

    _ws: WebSocketsProtocol
    _transport: asyncio.Transport | None
    _app: asyncio.Protocol | None
    frames_sent: int

    @property
    def app(self) -> asyncio.Protocol | None:
        """The MQTT protocol, once the upgrade was accepted."""
        return self._app

    @property
    def transport(self) -> asyncio.Transport:
        """The TCP (or TLS) transport underneath."""
        if self._transport is None:
            raise RuntimeError("the WebSocket protocol has no transport yet")
        return self._transport

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol agreed on ("mqtt", or "mqttv3.1" which the broker also accepts);
        None before the upgrade, or when the server named none."""
        return self._ws.subprotocol

    def flush(self) -> None:
        raise NotImplementedError

    def pause_writing(self) -> None:
        if self._app is not None:
            self._app.pause_writing()

    def resume_writing(self) -> None:
        if self._app is not None:
            self._app.resume_writing()

    # -- the outer transport's requests -----------------------------------------------------

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send MQTT bytes in binary frames of at most ``MAX_FRAME_SIZE`` bytes."""
        if self._ws.state is not State.OPEN or self.transport.is_closing():
            return  # as a closed asyncio transport does, writes after closing go nowhere
        size = len(data)
        self.frames_sent += -(-size // MAX_FRAME_SIZE)
        if size <= MAX_FRAME_SIZE:
            self._ws.send_binary(data)
        else:
            # Whole messages, not fragments of one: servers limit the size of a message.
            data = bytes(data)
            for start in range(0, size, MAX_FRAME_SIZE):
                self._ws.send_binary(data[start : start + MAX_FRAME_SIZE])
        self.flush()

    def start_close(self) -> None:
        """Begin the close handshake, or close TCP if there is no open WebSocket to close."""
        if self._ws.state is State.OPEN:
            self._ws.send_close(_NORMAL_CLOSURE)
            self.flush()
        else:
            self.transport.close()


class WebSocketProtocol(WebSocketEnd):
    """The inner protocol: speaks WebSocket on a TCP (or TLS) transport for one MQTT protocol."""

    _ws: ClientProtocol

    def __init__(
        self,
        uri: str,
        headers: HeadersArgument,
        app_factory: Callable[[], asyncio.Protocol],
    ) -> None:
        self._ws = ClientProtocol(
            parse_uri(uri),
            subprotocols=[SUBPROTOCOL],
            # No size limit here: the WebSocket layer passes frames through as a byte stream,
            # and the MQTT decoder enforces the maximum packet size on what it reads.
            max_size=None,
        )
        self._request = self._ws.connect()
        _apply_headers(self._request.headers, headers)
        self._app_factory = app_factory
        self._loop = asyncio.get_running_loop()
        self.handshake: asyncio.Future[None] = self._loop.create_future()
        self._transport: asyncio.Transport | None = None
        self._outer: WebSocketTransport | None = None
        self._app: asyncio.Protocol | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._failure: Exception | None = None  # why we ended the connection, for the app
        self.frames_received = 0  # data frames, for statistics (and tests of framing)
        self.frames_sent = 0

    @property
    def outer(self) -> WebSocketTransport | None:
        return self._outer

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's do not subclass asyncio.Transport, so no isinstance.
        self._transport = cast(asyncio.Transport, transport)
        self._ws.send_request(self._request)
        self.flush()

    def data_received(self, data: bytes) -> None:
        self._ws.receive_data(data)
        self._process_events()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._process_events()
        if self._app is not None:
            # A WebSocket cannot stay half-open, so the app's answer cannot keep it open.
            self._app.eof_received()
        return None  # let the transport close; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if not self.handshake.done():
            reason = WebSocketHandshakeError(
                "the connection closed before the WebSocket handshake completed"
            )
            reason.__cause__ = exc or self._ws.handshake_exc
            self.handshake.set_exception(reason)
            # Nobody may await the future once the connect gave up (timeout, cancellation).
            self.handshake.exception()
        if self._app is not None:
            self._app.connection_lost(exc or self._failure or self._close_error())

    # -- the outer transport's requests -----------------------------------------------------

    def flush(self) -> None:
        """Write what the WebSocket layer queued; arm the close timer when a close is due."""
        transport = self.transport
        for chunk in self._ws.data_to_send():
            if transport.is_closing():
                break
            if chunk:
                transport.write(chunk)
            else:
                # An empty chunk asks for the end of our side of TCP. The WebSocket layer asks
                # once the server closed its side (or refused the handshake): close, then.
                transport.close()
        if self._close_timer is None and self._ws.close_expected():
            self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, transport.abort)

    # -- events from the WebSocket layer ----------------------------------------------------

    def _process_events(self) -> None:
        for event in self._ws.events_received():
            if isinstance(event, Response):
                self._on_response(event)
            elif isinstance(event, Frame):
                self._on_frame(event)
        self.flush()

    def _on_response(self, response: Response) -> None:
        error = self._ws.handshake_exc
        if error is not None:
            self._fail_handshake(_describe_refusal(response, error), error)
            return
        self._outer = WebSocketTransport(self)
        try:
            self._app = self._app_factory()
            self._app.connection_made(self._outer)
        except Exception as exc:
            self._app = None
            self._fail_handshake(f"the MQTT protocol failed to start: {exc!r}", exc)
            return
        self.handshake.set_result(None)

    def _fail_handshake(self, message: str, cause: BaseException) -> None:
        if not self.handshake.done():
            reason = WebSocketHandshakeError(message)
            reason.__cause__ = cause
            self.handshake.set_exception(reason)
        self.transport.close()

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
                "the broker sent a WebSocket text frame; MQTT uses binary frames only"
            )
            self._ws.fail(_UNSUPPORTED_DATA, "MQTT uses binary frames only")
        # PING is answered by the WebSocket layer; PONG and CLOSE need nothing more here.

    def _close_error(self) -> Exception | None:
        """Why the server ended the WebSocket, when that was not a clean close."""
        received = self._ws.close_rcvd
        if received is not None and received.code not in _CLEAN_CLOSE_CODES:
            reason = f": {received.reason}" if received.reason else ""
            return ConnectionError(
                f"the broker closed the WebSocket with code {received.code}{reason}"
            )
        parser_error = self._ws.parser_exc
        if parser_error is not None and not isinstance(parser_error, EOFError):
            error = ConnectionError(f"the broker broke the WebSocket protocol: {parser_error}")
            error.__cause__ = parser_error
            return error
        return None


class WebSocketTransport(asyncio.Transport):
    """The outer transport handed to the MQTT protocol: a byte stream over WebSocket."""

    def __init__(self, inner: WebSocketProtocol) -> None:
        super().__init__()
        self._inner = inner
        self._closing = False

    # -- writing ----------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes-like, got {type(data).__name__}")
        if data and not self._closing:
            self._inner.send(data)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self._inner.transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.transport.set_write_buffer_limits(high, low)

    # -- reading ----------------------------------------------------------------------------

    def pause_reading(self) -> None:
        self._inner.transport.pause_reading()

    def resume_reading(self) -> None:
        self._inner.transport.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.transport.is_reading()

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._inner.start_close()

    def abort(self) -> None:
        self._closing = True
        self._inner.transport.abort()

    def is_closing(self) -> bool:
        return self._closing or self._inner.transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The TCP/TLS transport's extra info, plus "websocket_subprotocol" (what the server
        chose), "websocket_frames_received" and "websocket_frames_sent" (data frames so far)."""
        if name == "websocket_subprotocol":
            return self._inner.subprotocol
        if name == "websocket_frames_received":
            return self._inner.frames_received
        if name == "websocket_frames_sent":
            return self._inner.frames_sent
        return self._inner.transport.get_extra_info(name, default)

    def get_protocol(self) -> asyncio.BaseProtocol:
        app = self._inner.app
        assert app is not None
        return app

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        raise NotImplementedError("the protocol of a WebSocket transport cannot be replaced")


def _apply_headers(request_headers: Headers, headers: HeadersArgument) -> None:
    """Add the user's headers to the upgrade request, as paho-mqtt does.

    A mapping adds headers or replaces ours of the same name; a callable gets our headers as a
    dict and returns the complete set to send.
    """
    if headers is None:
        return
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if name in request_headers:
                del request_headers[name]
            request_headers[name] = value
        return
    chosen = headers(dict(request_headers.raw_items()))
    check_headers(chosen, "the headers returned by the websocket_headers callable")
    request_headers.clear()
    request_headers.update(chosen)


def _describe_refusal(response: Response, error: Exception) -> str:
    if isinstance(error, InvalidStatus):
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        return (
            f"the server answered HTTP {response.status_code}{reason} "
            "instead of accepting the WebSocket upgrade"
        )
    return f"the server's WebSocket handshake response was not acceptable: {error}"
