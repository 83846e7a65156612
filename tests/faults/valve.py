"""A one-way valve between an MQTT client and a broker, for fault tests that need one direction.

``tests/relay.py`` breaks both directions at once. Some faults need only one: the broker's
answers still reach the client while nothing the client sends reaches the broker any more (a
half-dead path). The valve is a TCP proxy on 127.0.0.1 that runs in the test's own event loop
(``async with Valve(target_port) as valve``). It passes bytes both ways until told otherwise:

* ``drop_upstream_after(packet_type)``: from the moment the next MQTT packet of that type comes
  from the broker, everything the client sends is dropped (counted in ``dropped``). The chunk
  holding that packet is passed on *after* the switch, so the client's answer to it (a PUBREL
  to a PUBREC, say, or the next PUBLISH of a window that an acknowledgement refilled) is
  surely dropped. ``passed`` counts the packet types passed to the client (the broker's side is
  parsed by its fixed headers only);
* ``refusing``: new connections are closed at once (the client sees its connection end before
  CONNACK); ``cut()`` closes every open connection; ``reopen()`` passes everything again and
  takes new connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"
PUBACK, PUBREC = 4, 5  # MQTT control packet types
_CHUNK = 65536


class _PacketTypes:
    """Splits a byte stream into MQTT packets by their fixed headers and reports their types."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[int]:
        buffer = self._buffer
        buffer += data
        types: list[int] = []
        while len(buffer) >= 2:
            length, multiplier, index = 0, 1, 1
            while True:
                if index >= len(buffer):
                    return types
                byte = buffer[index]
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                index += 1
                if not byte & 0x80:
                    break
            if len(buffer) < index + length:
                return types
            types.append(buffer[0] >> 4)
            del buffer[: index + length]
        return types


class Valve:
    """A TCP proxy to ``127.0.0.1:target_port`` that can drop what clients send (see above)."""

    host = LOOPBACK

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.refusing = False
        self.dropping = False
        self.dropped = 0  # bytes from clients dropped
        self.passed: Counter[int] = Counter()  # packet types passed to clients
        self._trigger: int | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def drop_upstream_after(self, packet_type: int) -> None:
        self._trigger = packet_type

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    def reopen(self) -> None:
        self.refusing = False
        self.dropping = False
        self._trigger = None

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            if self.refusing:
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self.target_port)
            except OSError:
                return
            self._writers.add(up_writer)
            try:
                await asyncio.gather(
                    self._upstream(reader, up_writer), self._downstream(up_reader, writer)
                )
            finally:
                self._writers.discard(up_writer)
                up_writer.transport.abort()
        except (ConnectionError, OSError):
            pass  # one end went away: the other is closed below
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            self._tasks.discard(task)

    async def _upstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(_CHUNK):
            if self.dropping:
                self.dropped += len(data)
                continue
            writer.write(data)
            await writer.drain()
        raise ConnectionError("the client closed its end")

    async def _downstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        packets = _PacketTypes()
        while data := await reader.read(_CHUNK):
            types = packets.feed(data)
            if self._trigger is not None and self._trigger in types:
                self.dropping = True  # before the client can answer what this chunk holds
                self._trigger = None
            self.passed.update(types)
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        raise ConnectionError("the broker closed its end")
