"""A sans-I/O stand-in for a broker, for scenario tests of ClientConnection on bytes and time.

It decodes what the client wrote with the server-side decoder and encodes what the test wants
the broker to say. It has no policy of its own: each test scripts the broker's answers, so the
tests can make it behave well or badly.
"""

from __future__ import annotations

from asyncmqtt.protocol.codec import Decoder, encode
from asyncmqtt.protocol.connection import ClientConnection
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.events import Event
from asyncmqtt.protocol.packets import ConnAck, Packet
from asyncmqtt.protocol.properties import NO_PROPERTIES, Properties


class FakeBroker:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.version = conn.protocol_version
        self.decoder = Decoder(server_side=True)
        self.now = 0.0

    def new_network_connection(self) -> None:
        self.decoder = Decoder(server_side=True)

    def received(self) -> list[Packet]:
        """Decode everything the client has written since the last call."""
        self.decoder.feed(self.conn.data_to_send())
        packets = []
        while (packet := self.decoder.next_packet()) is not None:
            packets.append(packet)
        return packets

    def send(self, *packets: Packet) -> list[Event]:
        """Deliver packets to the client and return the events it produced."""
        data = b"".join(encode(p, self.version) for p in packets)
        self.conn.receive_data(data, self.now)
        return self.conn.events_received()

    def send_bytes(self, data: bytes) -> list[Event]:
        self.conn.receive_data(data, self.now)
        return self.conn.events_received()

    def connect(
        self,
        *,
        session_present: bool = False,
        properties: Properties = NO_PROPERTIES,
    ) -> list[Event]:
        """Let the client connect and accept it; returns the client's events."""
        self.new_network_connection()
        self.conn.connect(self.now)
        self.received()
        return self.send(ConnAck(session_present, 0, properties))


def connected(
    version: ProtocolVersion = ProtocolVersion.V5,
    properties: Properties = NO_PROPERTIES,
    **options: object,
) -> tuple[ClientConnection, FakeBroker]:
    conn = ClientConnection(protocol_version=version, **options)  # type: ignore[arg-type]
    broker = FakeBroker(conn)
    broker.connect(properties=properties)
    return conn, broker
