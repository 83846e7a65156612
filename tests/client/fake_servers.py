"""Small scripted MQTT servers on 127.0.0.1, for what a real broker will not do on demand.

Refusing MQTT 5, closing before CONNACK, going silent, sending garbage, never acknowledging:
each test gives ``FakeServer`` a coroutine that plays the broker for one network connection,
using ``FakeSession`` to read the client's packets (decoded with the server-side ``Decoder``)
and to send packets (encoded with ``asyncmqtt.protocol.codec.encode``) or raw bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self, TypeVar

from asyncmqtt.protocol.codec import Decoder, encode
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import (
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
)
from asyncmqtt.protocol.properties import NO_PROPERTIES, Properties

P = TypeVar("P")

Handler = Callable[["FakeSession"], Awaitable[None]]

LOOPBACK = "127.0.0.1"


class FakeSession:
    """One network connection to a ``FakeServer``: the test's handler plays the broker."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = Decoder(server_side=True)
        self.received: list[Packet] = []
        self.peer: tuple[str, int] = writer.get_extra_info("peername")
        self.connect: Connect | None = None

    @property
    def version(self) -> ProtocolVersion:
        return self.decoder.version or ProtocolVersion.V5

    async def receive(self) -> Packet | None:
        """The client's next packet, or None once it closed the connection."""
        while (packet := self.decoder.next_packet()) is None:
            try:
                data = await self.reader.read(65536)
            except ConnectionError:
                data = b""
            if not data:
                return None
            self.decoder.feed(data)
        self.received.append(packet)
        if isinstance(packet, Connect):
            self.connect = packet
        return packet

    async def expect(self, kind: type[P]) -> P:
        packet = await self.receive()
        assert isinstance(packet, kind), f"expected {kind.__name__}, got {packet!r}"
        return packet

    def send(self, *packets: Packet) -> None:
        self.writer.write(b"".join(encode(packet, self.version) for packet in packets))

    def send_bytes(self, data: bytes) -> None:
        self.writer.write(data)

    async def accept(
        self, *, session_present: bool = False, properties: Properties = NO_PROPERTIES
    ) -> Connect:
        """Read CONNECT and accept it."""
        connect = await self.expect(Connect)
        props = properties if connect.protocol_version is ProtocolVersion.V5 else NO_PROPERTIES
        self.send(ConnAck(session_present, 0, props))
        return connect

    async def until_closed(self) -> list[Packet]:
        """Read (without answering) until the client closes; returns what came meanwhile."""
        packets = []
        while (packet := await self.receive()) is not None:
            packets.append(packet)
        return packets

    async def serve(self) -> None:
        """Behave like a plain broker that knows no other client: answer pings, acknowledge
        publishes, grant subscriptions, echo nothing; stop at DISCONNECT or EOF."""
        while (packet := await self.receive()) is not None:
            answer = _plain_answer(packet)
            if answer is not None:
                self.send(answer)
            if isinstance(packet, Disconnect):
                return

    def close(self) -> None:
        self.writer.close()


def _plain_answer(packet: Packet) -> Packet | None:
    if isinstance(packet, PingReq):
        return PingResp()
    if isinstance(packet, Publish) and packet.packet_id is not None:
        if packet.qos == 1:
            return PubAck(packet.packet_id)
        return PubRec(packet.packet_id)
    if isinstance(packet, PubRel):
        return PubComp(packet.packet_id)
    if isinstance(packet, Subscribe):
        return SubAck(packet.packet_id, tuple(sub.qos for sub in packet.subscriptions))
    if isinstance(packet, Unsubscribe):
        return UnsubAck(packet.packet_id, (0,) * len(packet.topic_filters))
    return None


class FakeServer:
    """``async with FakeServer(handler) as server``: listens on 127.0.0.1:``server.port``.

    Each connection gets a ``FakeSession`` (kept in ``sessions``) and runs ``handler`` on it;
    the connection is closed when the handler returns. An exception in a handler is raised
    again when the ``async with`` block ends, so a broken script fails its test.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.sessions: list[FakeSession] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._errors: list[BaseException] = []
        self._new_session = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def session(self, index: int) -> FakeSession:
        """The ``index``-th connection (0-based), once it has been made."""
        while len(self.sessions) <= index:
            self._new_session.clear()
            await self._new_session.wait()
        return self.sessions[index]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = FakeSession(reader, writer)
        self.sessions.append(session)
        self._new_session.set()
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handler(session)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._errors.append(error)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._server.wait_closed()
        if self._errors and exc is None:
            raise self._errors[0]


async def serve_plainly(session: FakeSession) -> None:
    """A handler: accept the connection and behave like a plain broker."""
    await session.accept()
    await session.serve()
