"""A minimal MQTT client for transport tests: a ``ClientConnection`` driven by an asyncio.Protocol.

The transports are tested below the Client, so these tests need only the protocol core and a
few lines of glue: every input goes to the core, every output of the core is written at once,
and events are queued for the test to await.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TypeVar, cast

from asyncmqtt.protocol.connection import ClientConnection
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.events import (
    Connected,
    Disconnected,
    Event,
    MessageReceived,
    PublishCompleted,
    SubscribeCompleted,
)
from asyncmqtt.protocol.packets import Subscription
from asyncmqtt.transports import TransportSettings, open_connection

__all__ = ("MqttSession", "round_trip")

EVENT_TIMEOUT = 10.0  # a safety net against a hung test, never a synchronisation
_EventT = TypeVar("_EventT", bound=Event)
_topic_numbers = itertools.count()


class MqttSession(asyncio.Protocol):
    """Drives one ``ClientConnection`` over whatever transport ``open_connection`` made."""

    def __init__(self, version: ProtocolVersion = ProtocolVersion.V5) -> None:
        self.conn = ClientConnection(protocol_version=version, keep_alive=30)
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.lost: asyncio.Future[Exception | None] = self._loop.create_future()
        self.received_bytes = 0

    def now(self) -> float:
        return self._loop.time()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.conn.connect(self.now())
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.received_bytes += len(data)
        self.conn.receive_data(data, self.now())
        self.flush()

    def eof_received(self) -> bool | None:
        self.conn.receive_eof(self.now())
        self.flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        for event in self.conn.events_received():
            self.events.put_nowait(event)
            if isinstance(event, Disconnected) and self.transport is not None:
                self.transport.close()

    async def next_any(self) -> Event:
        async with asyncio.timeout(EVENT_TIMEOUT):
            return await self.events.get()

    async def next_event(self, kind: type[_EventT]) -> _EventT:
        """The next event, which must be of ``kind`` (events arrive in protocol order)."""
        event = await self.next_any()
        assert isinstance(event, kind), f"expected {kind.__name__}, got {event!r}"
        return event

    async def close(self) -> Exception | None:
        """DISCONNECT, then wait until the transport reports the connection lost."""
        self.conn.disconnect(now=self.now())
        self.flush()
        async with asyncio.timeout(EVENT_TIMEOUT):
            return await self.lost


async def round_trip(session: MqttSession, payload_size: int = 16) -> None:
    """Subscribe, publish QoS 0 and 1 to ourselves, and check both come back intact."""
    connected = await session.next_event(Connected)
    assert connected.connack.reason_code == 0
    topic = f"asyncmqtt/transports/{next(_topic_numbers)}"
    session.conn.subscribe([Subscription(topic, qos=1)], now=session.now())
    session.flush()
    subscribed = await session.next_event(SubscribeCompleted)
    assert subscribed.reason_codes == (1,)

    payloads = {qos: bytes([qos + 1]) * payload_size for qos in (0, 1)}
    for qos, payload in payloads.items():
        session.conn.publish(topic, payload, qos, now=session.now())
    session.flush()

    received: dict[int, bytes] = {}
    completed = False
    while len(received) < 2 or not completed:
        event = await session.next_any()
        if isinstance(event, PublishCompleted):
            assert event.reason_code < 0x80, event
            completed = True
        else:
            assert isinstance(event, MessageReceived), event
            assert event.publish.topic == topic
            received[event.publish.qos] = event.publish.payload
    assert received == payloads


async def round_trip_through(
    settings: TransportSettings, session_factory: Callable[[], MqttSession] = MqttSession
) -> None:
    """Connect with ``settings``, make a ``round_trip`` and close cleanly."""
    _, session = await open_connection(session_factory, settings)
    await round_trip(session)
    assert await session.close() is None
