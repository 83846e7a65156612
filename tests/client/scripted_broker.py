"""A scripted broker on the in-memory network, for offline tests of whole clients.

``ScriptedBroker`` answers CONNECT (refusing it with the codes a test queues, and saying
whether it kept the session), SUBSCRIBE and UNSUBSCRIBE, acknowledges QoS 1/2 publishes
unless told to stay silent, and lets the test send messages and end connections. It keeps
what every connection received, so a test can assert on the packets themselves.
"""

from __future__ import annotations

from typing import Any

from memory_network import MemoryBroker

from asyncmqtt import Client
from asyncmqtt.protocol.packets import (
    ConnAck,
    Connect,
    Packet,
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


class ScriptedBroker(MemoryBroker):
    def __init__(self) -> None:
        super().__init__(self._answer)
        self.refusals: list[int] = []  # CONNACK codes for the next CONNECTs, then 0
        self.session_present = False  # what the next accepted CONNACK says
        self.acknowledge = True  # answer QoS 1/2 publishes
        self.after_connack: list[Packet] = []  # sent with the next accepted CONNACK

    def _answer(self, packet: Packet) -> list[Packet | bytes] | None:
        if isinstance(packet, Connect):
            if self.refusals:
                return [ConnAck(False, self.refusals.pop(0))]
            extra, self.after_connack = self.after_connack, []
            return [ConnAck(self.session_present and not packet.clean_start, 0), *extra]
        if isinstance(packet, Subscribe):
            return [SubAck(packet.packet_id, tuple(s.qos for s in packet.subscriptions))]
        if isinstance(packet, Unsubscribe):
            return [UnsubAck(packet.packet_id, (0,) * len(packet.topic_filters))]
        if isinstance(packet, Publish) and packet.qos and self.acknowledge:
            packet_id = packet.packet_id or 0
            return [PubAck(packet_id) if packet.qos == 1 else PubRec(packet_id)]
        if isinstance(packet, PubRel) and self.acknowledge:
            return [PubComp(packet.packet_id)]
        return None

    def send(self, *packets: Packet) -> None:
        """Deliver packets to the client on the current connection (next loop turn)."""
        transport = self.connections[-1]
        for packet in packets:
            transport.deliver(packet, self.version)

    def drop(self) -> None:
        """End the current network connection, as a network failure would."""
        self.connections[-1].close()

    def received_of(self, kind: type[Packet]) -> list[Any]:
        return [packet for packet in self.received if isinstance(packet, kind)]


def client_on(broker: ScriptedBroker, **options: Any) -> Client:
    """A Client whose connections go to ``broker`` over the in-memory network."""
    options.setdefault("identifier", "me")
    client = Client("broker.example", **options)
    client._supervisor._open = broker.opener
    return client
