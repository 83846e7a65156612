"""Client cores and the broker core in memory: bytes moved between them, no sockets, no clock.

Like h11's ``ConnectionPair`` or aioquic's ``client_and_server``: a ``Network`` holds one
``BrokerCore`` and any number of ``ClientConnection`` objects, each joined to its own
``ServerConnection``. ``pump()`` moves bytes both ways until nothing moves, the way a driver
would (the broker's ``connections_to_flush`` after every input), and keeps every client's
events. Time is ``network.now``, advanced by hand (``advance`` also runs the broker's timer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asyncmqtt.protocol.broker import BrokerCore, BrokerEvent
from asyncmqtt.protocol.codec import Decoder, encode
from asyncmqtt.protocol.connection import ClientConnection, ConnectionState
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.events import Event, MessageReceived
from asyncmqtt.protocol.packets import Connect, Packet, Publish
from asyncmqtt.protocol.server import ServerConnection

V5 = ProtocolVersion.V5


@dataclass(eq=False)
class Link:
    """One client core and its server-side connection."""

    client: ClientConnection
    server: ServerConnection
    events: list[Event] = field(default_factory=list)
    # When False, what the broker writes is held back (a slow or cut network).
    delivering: bool = True
    held: list[bytes] = field(default_factory=list)

    def take_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def messages(self) -> list[Publish]:
        """The messages received since the last call (their events are consumed)."""
        kept: list[Event] = []
        found: list[Publish] = []
        for event in self.events:
            if isinstance(event, MessageReceived):
                found.append(event.publish)
            else:
                kept.append(event)
        self.events = kept
        return found


class Network:
    def __init__(self, broker: BrokerCore | None = None, **settings: object) -> None:
        self.broker = broker if broker is not None else BrokerCore(**settings)  # type: ignore[arg-type]
        self.now = 0.0
        self.links: list[Link] = []
        self.by_server: dict[ServerConnection, Link] = {}
        self.broker_events: list[BrokerEvent] = []

    def connect(self, client: ClientConnection | None = None, **settings: object) -> Link:
        """A new network connection for ``client`` (or a new client made from ``settings``):
        CONNECT, and everything until the network is quiet."""
        if client is None:
            client = ClientConnection(**settings)  # type: ignore[arg-type]
        link = Link(client, self.broker.new_connection(self.now))
        self.links.append(link)
        self.by_server[link.server] = link
        client.connect(self.now)
        self.pump()
        return link

    def pump(self) -> None:
        """Move bytes both ways until nothing moves."""
        for _ in range(10_000):
            moved = False
            for link in list(self.links):
                data = link.client.data_to_send()
                if data and not link.server.closed:
                    moved = True
                    link.server.receive_data(data, self.now)
                link.events += link.client.events_received()
            moved = self._flush_broker() or moved
            if not moved:
                return
        raise AssertionError("the network never went quiet")

    def _flush_broker(self) -> bool:
        moved = False
        self.broker_events += self.broker.events_received()
        for server in self.broker.connections_to_flush():
            link = self.by_server[server]
            data = server.data_to_send()
            if data:
                if not link.delivering:
                    link.held.append(data)
                else:
                    moved = True
                    link.client.receive_data(data, self.now)
            if server.closed:
                self._end(link)
                moved = True
            link.events += link.client.events_received()
        return moved

    def _end(self, link: Link) -> None:
        link.client.receive_eof(self.now)
        link.events += link.client.events_received()
        if link in self.links:
            self.links.remove(link)

    def cut(self, link: Link) -> None:
        """The network connection breaks: both sides see the end of the stream."""
        link.server.connection_lost(self.now)
        self._end(link)
        self.pump()

    def advance(self, seconds: float) -> None:
        """Let time pass: every client's and the broker's timers run, then the network."""
        target = self.now + seconds
        while True:
            deadlines = [t for t in (self.broker.get_timer(),) if t is not None]
            deadlines += [t for link in self.links if (t := link.client.get_timer()) is not None]
            due = [t for t in deadlines if t <= target]
            if not due:
                break
            self.now = max(self.now, min(due))
            self.broker.handle_timer(self.now)
            for link in list(self.links):
                if link.client.state is ConnectionState.CONNECTED:
                    link.client.handle_timer(self.now)
            self.pump()
        self.now = target
        self.pump()


class RawClient:
    """A scripted client on exact packets: what it sends is encoded by the test, what the
    broker answers is decoded (or read as raw bytes) for the test to compare."""

    def __init__(self, broker: BrokerCore, version: ProtocolVersion = V5, now: float = 0.0):
        self.broker = broker
        self.version = version
        self.server = broker.new_connection(now)
        self.decoder = Decoder(version=version)
        self.backlog: list[Packet] = []  # read, and to be returned by the next received()

    def send(self, *packets: Packet, now: float = 0.0) -> list[Packet]:
        """Send packets; returns what the broker wrote back to this client, decoded."""
        return self.send_bytes(b"".join(encode(p, self.version) for p in packets), now=now)

    def send_bytes(self, data: bytes, now: float = 0.0) -> list[Packet]:
        self.server.receive_data(data, now)
        return self.received()

    def raw(self) -> bytes:
        """What the broker wrote to this client since the last read, as bytes."""
        return self.server.data_to_send()

    def received(self) -> list[Packet]:
        """What the broker wrote to this client since the last read, decoded."""
        self.decoder.feed(self.server.data_to_send())
        packets, self.backlog = self.backlog, []
        while (packet := self.decoder.next_packet()) is not None:
            packets.append(packet)
        return packets

    def connect(self, client_id: str = "c", now: float = 0.0, **fields: object) -> list[Packet]:
        """Send CONNECT (the version of this client, the given fields); returns the answer."""
        return self.send(
            Connect(client_id=client_id, protocol_version=self.version, **fields),  # type: ignore[arg-type]
            now=now,
        )
