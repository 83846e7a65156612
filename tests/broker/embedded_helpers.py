"""Helpers for the embedded broker's tests: a client core driven over asyncio (``CoreClient``).

``asyncmqtt.Client`` is the client most tests use. ``CoreClient`` is for what it cannot do on
purpose: a ``ClientConnection`` (any of its settings: an ``authenticator``, a protocol
version, a will) over a real socket to the broker, whose transport a test can ``abort()`` (an
abnormal disconnect), stop reading from (a slow consumer), or write raw bytes to. Events are
queued for the test to await; every wait has a deadline, a safety net, never a
synchronisation.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from asyncmqtt import Client, Message
from asyncmqtt.broker import Broker, Listener
from asyncmqtt.protocol.connection import ClientConnection
from asyncmqtt.protocol.events import Disconnected, Event, MessageReceived
from asyncmqtt.protocol.packets import Publish

__all__ = ("EVENT_TIMEOUT", "CoreClient", "MakeBroker", "receive")

EVENT_TIMEOUT = 10.0
MakeBroker = Callable[..., Awaitable[Broker]]
"""The type of the ``make_broker`` fixture: ``await make_broker(**arguments)`` -> a running
``Broker(**arguments)`` (port 0 unless listeners are given), closed when the test ends."""
_EventT = TypeVar("_EventT", bound=Event)


class CoreClient(asyncio.Protocol):
    """One ``ClientConnection(**settings)`` over one transport to the broker."""

    def __init__(self, **settings: Any) -> None:
        self.conn = ClientConnection(**settings)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.lost: asyncio.Future[Exception | None] = self.loop.create_future()
        self.received = bytearray()  # everything the broker sent, raw
        self.connect_on_start = True

    @classmethod
    async def open(
        cls,
        target: Broker | Listener,
        *,
        receive_buffer: int | None = None,
        connect: bool = True,
        **settings: Any,
    ) -> CoreClient:
        """Connect a new client to the broker's first listener (or to ``target``); with
        ``connect`` False, no CONNECT is sent (raw tests). ``receive_buffer``: SO_RCVBUF, for
        a client meant to fall behind."""
        listener = target if isinstance(target, Listener) else target.listeners[0]
        assert listener.transport == "tcp" and listener.tls_context is None
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if receive_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.setblocking(False)
            await loop.sock_connect(sock, (listener.host, listener.port))
        except BaseException:
            sock.close()
            raise

        def factory() -> CoreClient:
            client = cls(**settings)
            client.connect_on_start = connect
            return client

        _, client = await loop.create_connection(factory, sock=sock)
        return client

    def now(self) -> float:
        return self.loop.time()

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.connect_on_start:
            self.conn.connect(self.now())
            self.flush()

    def data_received(self, data: bytes) -> None:
        self.received += data
        self.conn.receive_data(data, self.now())
        self.flush()

    def eof_received(self) -> bool | None:
        self.conn.receive_eof(self.now())
        self.flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)

    # -- driving ----------------------------------------------------------------------------

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.write(data)
        for event in self.conn.events_received():
            self.events.put_nowait(event)
            if isinstance(event, Disconnected) and self.transport is not None:
                self.transport.close()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def abort(self) -> None:
        """Drop the connection without DISCONNECT (an abnormal end: the will is published)."""
        assert self.transport is not None
        self.transport.abort()

    def pause_reading(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        assert self.transport is not None
        self.transport.resume_reading()

    async def next_any(self) -> Event:
        async with asyncio.timeout(EVENT_TIMEOUT):
            return await self.events.get()

    async def next_event(self, kind: type[_EventT]) -> _EventT:
        """The next event of ``kind``, skipping others."""
        async with asyncio.timeout(EVENT_TIMEOUT):
            while True:
                event = await self.events.get()
                if isinstance(event, kind):
                    return event

    async def messages(self, count: int) -> list[Publish]:
        """The next ``count`` messages received."""
        found: list[Publish] = []
        while len(found) < count:
            found.append((await self.next_event(MessageReceived)).publish)
        return found

    async def wait_lost(self) -> Exception | None:
        async with asyncio.timeout(EVENT_TIMEOUT):
            return await self.lost

    async def close(self) -> None:
        """DISCONNECT, then wait for the transport to close."""
        self.conn.disconnect(now=self.now())
        self.flush()
        await self.wait_lost()


async def receive(client: Client, count: int) -> list[Message]:
    """The next ``count`` messages of ``client.messages``."""
    received: list[Message] = []
    async with asyncio.timeout(EVENT_TIMEOUT):
        async for message in client.messages:
            received.append(message)
            if len(received) == count:
                break
    return received
