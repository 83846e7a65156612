"""An event loop with a virtual clock and an in-memory network, for offline tests of the
asyncio layer's timing (connect timeouts, later: reconnect backoff).

``VirtualTimeLoop`` is asyncio's selector loop whose clock only moves when the loop would wait:
then it jumps to the next timer at once. A test of a 10 s timeout takes no real time and can
assert that exactly 10 s passed. Only in-memory transports may be used on it (a real socket
would be polled, never waited for).

``MemoryBroker`` plays the broker for a ``Link``: every byte the client writes is decoded with
the server-side decoder and handed to the test's ``answer`` function, whose returned packets
(raw bytes too, or ``CLOSE``) are delivered to the client on the next loop turn. ``opener``
stands in for ``transports.open_connection``. ``MemoryNetwork`` holds several of them, each at
an address of its own (failover and redirects).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

from asyncmqtt._link import Link
from asyncmqtt.errors import MqttConnectError
from asyncmqtt.protocol.codec import Decoder, encode
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import Connect, Packet
from asyncmqtt.transports import TransportSettings

CLOSE: Final = "close"  # an answer: the broker closes the connection
T = TypeVar("T")

Answer = Callable[[Packet], list[Packet | bytes] | str | None]


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if ready or not timeout:
            return ready
        if timeout is None:  # pragma: no cover - a test bug: nothing will ever happen
            raise RuntimeError("the virtual-time loop would wait forever: nothing is scheduled")
        self._loop.now += timeout  # jump to the next timer
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` jumps over every wait."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        return self.now


def run_virtual(coroutine: Coroutine[Any, Any, T]) -> tuple[T, float]:
    """Run on a virtual-time loop; returns the result and how much virtual time passed."""
    loop = VirtualTimeLoop()
    try:
        result = loop.run_until_complete(coroutine)
        return result, loop.time()
    finally:
        loop.close()


class MemoryTransport(asyncio.Transport):
    """One in-memory connection between a client ``Link`` and a ``MemoryBroker``."""

    def __init__(self, link: Link, broker: MemoryBroker) -> None:
        super().__init__()
        self.link = link
        self.broker = broker
        self.closed = False
        self.decoder = Decoder(server_side=True)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            return
        self.decoder.feed(bytes(data))
        while (packet := self.decoder.next_packet()) is not None:
            self.broker.received.append(packet)
            if isinstance(packet, Connect):
                self.broker.version = packet.protocol_version
            answer = self.broker.answer(packet)
            if answer == CLOSE:
                self.link.loop.call_soon(self.close)
            elif answer:
                data = b"".join(
                    reply if isinstance(reply, bytes) else encode(reply, self.broker.version)
                    for reply in answer
                )
                self.link.loop.call_soon(self._deliver, data)

    def _deliver(self, data: bytes) -> None:
        if not self.closed:
            self.link.data_received(data)

    def deliver(self, packet: Packet, version: ProtocolVersion) -> None:
        """Send ``packet`` to the client on the next loop turn (a broker's own initiative)."""
        self.link.loop.call_soon(self._deliver, encode(packet, version))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.link.loop.call_soon(self.link.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class MemoryBroker:
    """Answers each packet the client sends with what ``answer`` returns (see module doc)."""

    def __init__(self, answer: Answer, *, slow_open: bool = False) -> None:
        self.answer = answer
        # slow_open: the opener returns one loop turn after the connection is made, so what
        # the broker answers at once reaches the client before its connect attempt resumes
        # (as on uvloop, which calls data_received before the awaiting task runs again).
        self.slow_open = slow_open
        self.received: list[Packet] = []
        self.connections: list[MemoryTransport] = []
        self.version = ProtocolVersion.V5

    async def opener(
        self, factory: Callable[[], Link], settings: TransportSettings, *, deadline: float | None
    ) -> tuple[asyncio.BaseTransport, Link]:
        link = factory()
        transport = MemoryTransport(link, self)
        self.connections.append(transport)
        link.connection_made(transport)
        if self.slow_open:
            await asyncio.sleep(0)  # (one loop turn: the scenario described above)
        return transport, link

    def connects(self) -> list[Connect]:
        return [packet for packet in self.received if isinstance(packet, Connect)]


class MemoryNetwork:
    """Several in-memory brokers, each at its (host, port); a connection to any other address
    is refused, as by a host with nothing listening on that port. ``brokers`` may change
    during a test (a broker going down, one coming up); ``attempts`` lists every address a
    connection was tried to, in order. ``opener`` stands in for ``transports.open_connection``.
    """

    def __init__(self, brokers: dict[tuple[str, int], MemoryBroker]) -> None:
        self.brokers = brokers
        self.attempts: list[tuple[str, int]] = []

    async def opener(
        self, factory: Callable[[], Link], settings: TransportSettings, *, deadline: float | None
    ) -> tuple[asyncio.BaseTransport, Link]:
        server = (settings.hostname, settings.port)
        self.attempts.append(server)
        broker = self.brokers.get(server)
        if broker is None:
            raise MqttConnectError(
                f"connecting to {settings.address} failed at the tcp stage: connection refused",
                stage="tcp",
                address=settings.address,
            ) from ConnectionRefusedError(111, "Connection refused")
        return await broker.opener(factory, settings, deadline=deadline)
