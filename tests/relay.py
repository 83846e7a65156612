"""A loopback TCP relay between clients and a broker, for network-fault tests.

Theory of operation
-------------------
A ``Relay`` listens on 127.0.0.1 (port chosen by the kernel: bind to port 0) and joins every
connection it accepts to a new connection of its own to the target, normally a broker. The
test points its client at ``relay.host, relay.port`` instead of the broker and then breaks the
path between them at will. The relay runs an asyncio event loop of its own in a daemon thread,
so it works the same whether the test is async, sync, or has its own event loop blocked.

Every control call (``forward``, ``blackhole``, ``cut``, ``refuse``, ``accept``,
``retarget``) runs in the relay's thread and returns once it has taken effect: bytes the relay
reads after the call are treated the new way, and ``cut()`` returns once every socket it cut is
closed. The calls block the calling thread for that long, which is well under a millisecond
unless the machine is busy, so async tests call them directly too. They must not be called
from the relay's own thread (there are no callbacks into test code, so that cannot happen by
accident).

States, for every connection at once, old and new:

* ``forward()`` (the start state): bytes flow both ways as they come. An EOF (half close) is
  passed on as an EOF, a close as a close (FIN) and a reset as a reset (RST).
* ``blackhole()``: a dead network path. The relay keeps reading from both ends and *drops*
  what it reads (counted in ``dropped_to_target`` / ``dropped_to_client``); nothing is closed,
  and an EOF, close or reset from one end is not passed on either: the other end hears nothing
  at all, so only a keepalive can tell it the path is gone. Dropped bytes are gone for good,
  so the MQTT stream of a connection that lost bytes cannot resume; when ``forward()`` comes,
  the EOFs and closes held back are passed on (a connection closed by one end during the
  blackhole is then closed at the other).
* ``blackhole(hold=True)``: a stalled path that comes back, with no data lost. The relay stops
  reading from both ends: the bytes wait in the kernel's socket buffers (the sender's TCP
  window fills, as with a path that drops packets and retransmits) and arrive, in order, after
  ``forward()``. An EOF or close waits behind the bytes in the same way.

New connections are accepted in every state; in the blackhole states the relay still connects
them to the target, so they carry nothing until ``forward()``, as with a path that died after
the TCP handshake. ``refuse()`` makes the relay a closed port instead: the listening socket is
closed, so a connect fails with ECONNREFUSED ("broker down"; connections waiting in the accept
queue are reset too); ``accept()`` listens again on the same port. The port stays reserved
while refusing: a second, never-listening socket holds it (both have SO_REUSEPORT), so nobody
else can take it. Refusing does not touch the connections that are open.

``cut()`` ends every current connection at both ends at once: with FIN by default (both peers
read EOF; bytes the relay has not written yet are discarded, and bytes waiting unread in its
socket are read and dropped first, because Linux answers a close with unread data with RST),
or with RST (``cut(reset=True)``: SO_LINGER 0, both peers get ECONNRESET).

A connection whose target cannot be reached (a refused or failed connect) is accepted and then
closed with FIN; ``failed_connections`` counts those. ``retarget(port)`` points connections
accepted from then on at another port; the open ones keep their target.

Flow control: the relay never buffers without bound. When the socket it writes to is full
(asyncio's ``pause_writing``), it stops reading from the other end until it drains.

Counters (read them at any time, from any thread; each is one int attribute): ``accepted``
(connections accepted so far), ``open_connections`` (pairs with at least one end still open),
``failed_connections``, and bytes per direction: ``bytes_to_target`` / ``bytes_to_client``
(passed on; counted just before they are written, so bytes a peer has read are counted) and
``dropped_to_target`` / ``dropped_to_client`` (dropped by a blackhole).
``wait_for(predicate)`` blocks until a predicate of the relay holds, woken by every change;
``await wait_for_async(predicate)`` is the async form (it polls, so the event loop stays free).

Use::

    with Relay(broker.port) as relay:               # or: async with Relay(broker.port) as relay
        client = asyncmqtt.Client(relay.host, relay.port, keepalive=1)
        ...
        relay.blackhole()
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = ("Relay", "RelayMode")

LOOPBACK = "127.0.0.1"
_CONTROL_TIMEOUT = 10.0  # seconds a control call may take before something is badly wrong
_WAIT_TIMEOUT = 5.0  # default of wait_for()
_POLL_INTERVAL = 0.005  # wait_for_async() polls the counters this often
_BACKLOG = 128
_DISCARD_CHUNK = 64 * 1024
_DISCARD_LIMIT = 64  # chunks read and dropped at most before a FIN cut closes anyway
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST

_T = TypeVar("_T")


class RelayMode(enum.Enum):
    """What the relay does with the bytes it could read: see the module docstring."""

    FORWARD = "forward"
    BLACKHOLE = "blackhole"  # read and drop
    HOLD = "hold"  # do not read: bytes wait in the kernel until forward()


class Relay:
    """A TCP relay from ``host:port`` (127.0.0.1, a free port) to ``target_host:target_port``."""

    host = LOOPBACK

    def __init__(self, target_port: int, target_host: str = LOOPBACK) -> None:
        self._target = (_check_host(target_host), _check_port(target_port))
        self._port: int | None = None
        self._mode = RelayMode.FORWARD
        self._refusing = False
        self.accepted = 0
        self.open_connections = 0
        self.failed_connections = 0
        self.bytes_to_target = 0
        self.bytes_to_client = 0
        self.dropped_to_target = 0
        self.dropped_to_client = 0
        self._changed = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._keeper: socket.socket | None = None  # holds the port, never listens
        self._server: asyncio.Server | None = None
        self._pairs: set[_Pair] = set()
        self._closed = False

    # -- public attributes ------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port clients connect to, chosen by ``start()``."""
        if self._port is None:
            raise RuntimeError("Relay.port is chosen by start(); start the relay first")
        return self._port

    @property
    def target(self) -> tuple[str, int]:
        """Where new connections go (``retarget`` changes it)."""
        return self._target

    @property
    def mode(self) -> RelayMode:
        return self._mode

    @property
    def refusing(self) -> bool:
        return self._refusing

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port is not None else "not started"
        return (
            f"<Relay {where} -> {self._target[0]}:{self._target[1]} {self._mode.value}"
            f"{' refusing' if self._refusing else ''}, accepted={self.accepted} "
            f"open={self.open_connections} to_target={self.bytes_to_target} "
            f"to_client={self.bytes_to_client} dropped={self.dropped_to_target}"
            f"/{self.dropped_to_client}>"
        )

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread and listen; return once connections are accepted."""
        if self._closed:
            raise RuntimeError("this Relay was closed; create a new one")
        if self._thread is not None:
            raise RuntimeError(f"the relay is already running on port {self._port}")
        keeper = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            _set_reuse(keeper)
            keeper.bind((self.host, 0))
        except BaseException:
            keeper.close()
            raise
        self._keeper = keeper
        self._port = keeper.getsockname()[1]
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._run_loop, name=f"relay-{self._port}", daemon=True
        )
        self._thread.start()
        try:
            self._run(self._listen())
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop listening, close every connection (FIN), stop the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            try:
                self._run(self._shutdown(), allow_closed=True)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(_CONTROL_TIMEOUT)
        if loop is not None and (thread is None or not thread.is_alive()):
            loop.close()
        if self._keeper is not None:
            self._keeper.close()
        self._notify()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- controls ---------------------------------------------------------------------------

    def forward(self) -> None:
        """Pass bytes on both ways; pass on what a blackhole held back (EOFs, closes, bytes)."""
        self._run(self._set_mode(RelayMode.FORWARD))

    def blackhole(self, *, hold: bool = False) -> None:
        """Silence in both directions without closing anything.

        Bytes are read and dropped; with ``hold=True`` they are not read, and arrive after
        ``forward()``. Closes and EOFs are held back until ``forward()`` either way.
        """
        if not isinstance(hold, bool):
            raise TypeError(f"hold must be a bool, got {hold!r}")
        self._run(self._set_mode(RelayMode.HOLD if hold else RelayMode.BLACKHOLE))

    def cut(self, *, reset: bool = False) -> int:
        """Close every open connection at both ends, with FIN, or RST when ``reset``.

        Returns the number of connections cut, once all their sockets are closed.
        """
        if not isinstance(reset, bool):
            raise TypeError(f"reset must be a bool, got {reset!r}")
        return self._run(self._cut(reset))

    def refuse(self) -> None:
        """Close the listening socket: new connections get ECONNREFUSED; open ones stay."""
        self._run(self._refuse())

    def accept(self) -> None:
        """Listen again on the same port after ``refuse()``."""
        self._run(self._listen())

    def retarget(self, port: int, host: str | None = None) -> None:
        """Send connections accepted from now on to ``host:port`` (host unchanged if None)."""
        target = (self._target[0] if host is None else _check_host(host), _check_port(port))
        self._run(self._set_target(target))

    # -- waiting ----------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[Relay], bool], timeout: float = _WAIT_TIMEOUT) -> None:
        """Block until ``predicate(relay)`` is true; AssertionError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the relay did not reach the condition in {timeout} s")
                self._changed.wait(left)

    async def wait_for_async(
        self, predicate: Callable[[Relay], bool], timeout: float = _WAIT_TIMEOUT
    ) -> None:
        """``wait_for`` for async tests: polls, so the test's event loop keeps running."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"the relay did not reach the condition in {timeout} s")
            await asyncio.sleep(_POLL_INTERVAL)

    # -- calling into the relay thread --------------------------------------------------------

    def _run_loop(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        loop.run_forever()

    def _run(self, coro: Coroutine[Any, Any, _T], *, allow_closed: bool = False) -> _T:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or (self._closed and not allow_closed):
            coro.close()
            raise RuntimeError("the relay is not running (start it, and do not use it closed)")
        if threading.current_thread() is thread:
            coro.close()
            raise RuntimeError("relay controls cannot be called from the relay's own thread")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(_CONTROL_TIMEOUT)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- in the relay thread ------------------------------------------------------------------

    async def _listen(self) -> None:
        if self._server is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            _set_reuse(listener)
            listener.bind((self.host, self.port))
            listener.listen(_BACKLOG)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_pair, sock=listener)
        self._refusing = False
        self._notify()

    async def _refuse(self) -> None:
        server, self._server = self._server, None
        self._refusing = True
        if server is not None:
            server.close()  # closes the listening socket now
        self._notify()

    async def _set_target(self, target: tuple[str, int]) -> None:
        self._target = target

    async def _set_mode(self, mode: RelayMode) -> None:
        self._mode = mode
        for pair in list(self._pairs):
            pair.mode_changed()
        self._notify()

    async def _cut(self, reset: bool) -> int:
        pairs = list(self._pairs)
        for pair in pairs:
            pair.cut(reset)
        await asyncio.gather(*(pair.finished for pair in pairs))
        return len(pairs)

    async def _shutdown(self) -> None:
        await self._refuse()
        await self._cut(reset=False)

    def _new_pair(self) -> asyncio.Protocol:
        return _Pair(self, self._target).client

    # Called by the pairs, in the relay thread.

    def _opened(self, pair: _Pair) -> None:
        self._pairs.add(pair)
        self.accepted += 1
        self.open_connections += 1
        self._notify()

    def _finished(self, pair: _Pair, failed: bool) -> None:
        self._pairs.discard(pair)
        self.open_connections -= 1
        if failed:
            self.failed_connections += 1
        self._notify()

    def _moved(self, to_target: bool, size: int, dropped: bool) -> None:
        if dropped:
            if to_target:
                self.dropped_to_target += size
            else:
                self.dropped_to_client += size
        elif to_target:
            self.bytes_to_target += size
        else:
            self.bytes_to_client += size
        self._notify()


class _Side(asyncio.Protocol):
    """One end of a relayed connection: the accepted client socket, or ours to the target."""

    def __init__(self, pair: _Pair, to_target: bool) -> None:
        self.pair = pair
        self.to_target = to_target  # bytes read from this end go to the target
        self.transport: asyncio.Transport | None = None
        self.reading = True
        self.write_paused = False
        self.eof = False  # this end sent EOF
        self.eof_passed = False
        self.lost = False  # connection_lost came
        self.lost_error: BaseException | None = None
        self.lost_passed = False
        self.held = bytearray()  # read in HOLD mode (asyncio may deliver a last chunk)

    @property
    def peer(self) -> _Side:
        return self.pair.target if self is self.pair.client else self.pair.client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pair.connection_made(self)

    def data_received(self, data: bytes) -> None:
        self.pair.data_received(self, data)

    def eof_received(self) -> bool:
        self.eof = True
        self.pair.update_reading(self)
        self.pair.pass_on(self)
        return True  # keep the transport open: the other direction may still carry bytes

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.lost_error = exc
        self.pair.pass_on(self)
        self.pair.check_finished()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.pair.update_reading(self.peer)

    def resume_writing(self) -> None:
        self.write_paused = False
        self.pair.update_reading(self.peer)

    def close(self, reset: bool) -> None:
        """Close this end now (FIN, or RST when ``reset``), whatever is buffered."""
        transport = self.transport
        if transport is None or self.lost:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                else:
                    _discard_unread(sock)
        transport.abort()


class _Pair:
    """A client connection and the relay's connection to the target for it."""

    def __init__(self, relay: Relay, target: tuple[str, int]) -> None:
        self.relay = relay
        self.target_address = target
        self.client = _Side(self, to_target=True)
        self.target = _Side(self, to_target=False)
        self.connecting: asyncio.Task[None] | None = None
        self.failed = False
        self.cut_with: bool | None = None  # cut(): whether with reset
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, side: _Side) -> None:
        if side is self.client:
            self.relay._opened(self)
            self.update_reading(side)  # not before the target is connected
            self.connecting = asyncio.get_running_loop().create_task(self._connect())
            self.connecting.add_done_callback(lambda _: self.check_finished())
        elif self.cut_with is not None:  # cut while connecting
            side.close(self.cut_with)
        else:
            self.update_reading(side)
            self.update_reading(self.client)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.target_address
        try:
            await loop.create_connection(lambda: self.target, host, port)
        except OSError:
            self.failed = True
            self.client.close(reset=False)

    @property
    def mode(self) -> RelayMode:
        return self.relay._mode

    def data_received(self, side: _Side, data: bytes) -> None:
        mode = self.mode
        if mode is RelayMode.HOLD:
            side.held += data
            return
        dropped = mode is RelayMode.BLACKHOLE
        # Counted before the write: a peer that has read the bytes must find them counted.
        self.relay._moved(side.to_target, len(data), dropped)
        peer = side.peer
        if not dropped and peer.transport is not None and not peer.lost:
            peer.transport.write(data)

    def update_reading(self, side: _Side) -> None:
        transport = side.transport
        if transport is None or side.lost or transport.is_closing():
            return
        peer = side.peer
        should = (
            not side.eof
            and peer.transport is not None
            and self.mode is not RelayMode.HOLD
            and not peer.write_paused
        )
        if should and not side.reading:
            transport.resume_reading()
        elif not should and side.reading:
            transport.pause_reading()
        side.reading = should

    def pass_on(self, side: _Side) -> None:
        """Hand on to the other end what ``side`` sent, if the relay forwards now."""
        if self.mode is not RelayMode.FORWARD:
            return
        peer = side.peer
        writable = peer.transport is not None and not peer.lost
        if side.held:
            held, side.held = bytes(side.held), bytearray()
            self.relay._moved(side.to_target, len(held), dropped=False)
            if writable and peer.transport is not None:
                peer.transport.write(held)
        if side.eof and not side.eof_passed:
            side.eof_passed = True
            if writable and peer.transport is not None and peer.transport.can_write_eof():
                peer.transport.write_eof()
            if peer.eof_passed:  # both directions ended: nothing more can flow
                self._close_both()
        if side.lost and not side.lost_passed:
            side.lost_passed = True
            if peer.transport is not None and not peer.lost:
                if side.lost_error is None:
                    peer.transport.close()  # FIN once what is buffered is written
                else:
                    peer.close(reset=True)

    def _close_both(self) -> None:
        for side in (self.client, self.target):
            if side.transport is not None and not side.lost:
                side.transport.close()

    def mode_changed(self) -> None:
        for side in (self.client, self.target):
            self.update_reading(side)
        for side in (self.client, self.target):
            self.pass_on(side)

    def cut(self, reset: bool) -> None:
        self.cut_with = reset
        if self.connecting is not None and not self.connecting.done():
            self.connecting.cancel()
        for side in (self.client, self.target):
            # What either end sent is not passed on: both are being closed.
            side.eof_passed = side.lost_passed = True
            side.held.clear()
            side.close(reset)

    def check_finished(self) -> None:
        """The pair is over once both ends are closed (or the target end never opened)."""
        if self.finished.done() or not self.client.lost:
            return
        if self.target.transport is not None:
            if not self.target.lost:
                return  # closing, or held open by a blackhole until forward() or cut()
        elif self.connecting is not None and not self.connecting.done():
            return  # the end of the connect calls again
        self.finished.set_result(None)
        self.relay._finished(self, self.failed)


def _set_reuse(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)


def _discard_unread(sock: Any) -> None:
    """Read and drop what waits unread, so that closing sends FIN rather than RST."""
    with sock.dup() as duplicate:
        for _ in range(_DISCARD_LIMIT):
            try:
                if not duplicate.recv(_DISCARD_CHUNK, socket.MSG_DONTWAIT):
                    return
            except (BlockingIOError, InterruptedError):
                return


def _check_port(port: object) -> int:
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int, got {port!r}")
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1..65535, got {port}")
    return port


def _check_host(host: object) -> str:
    if not isinstance(host, str) or not host:
        raise TypeError(f"host must be a non-empty str, got {host!r}")
    return host
