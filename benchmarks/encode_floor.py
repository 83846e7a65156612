"""How fast can pure Python encode a PUBLISH? The floor under ``encode``, next to mqtt5.

Run: ``.venv/bin/python benchmarks/encode_floor.py``

Issue 2 asks for encoding within 3x of the Rust-backed ``mqtt5`` package. This script times,
in one run and the same way as ``codec.py`` (a direct statement under ``timeit``, best of
several rounds):

- ``call``: calling a function of two arguments that returns the first: the price of any
  ``encode(packet, version)`` before it does anything;
- ``floor``: the least a PUBLISH encoder can do in CPython with no checks at all: unpack the
  packet, one dict lookup for the cached header and topic, the packet identifier's bytes and one
  ``bytes.join``. It is not correct for any other packet (the header is fixed), it is the bound;
- ``encode``: ours, with every check the core relies on;
- ``mqtt5``: ``PublishPacket.write()`` on a packet built beforehand.

If ``floor`` alone is above 3x ``mqtt5``, no pure-Python encoder can meet the target.
"""

from __future__ import annotations

import timeit

import mqtt5

from asyncmqtt.protocol.codec import encode
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import Publish
from asyncmqtt.protocol.properties import NO_PROPERTIES

TOPIC = "sensors/room1/temperature"
PAYLOAD = bytes(64)
PACKET_ID = 1234
V5 = ProtocolVersion.V5
ROUNDS = 15
NUMBER = 200_000


def call(packet: Publish, version: ProtocolVersion) -> Publish:
    return packet


# The fixed header and the length-prefixed topic (plus, at QoS 0, the property length), keyed
# as a real cache would have to be: by topic, QoS, retain, DUP and version. (The header's
# remaining length also depends on the payload's length; this floor ignores that.)
_TOPIC_FIELD = len(TOPIC).to_bytes(2) + TOPIC.encode()
_PREFIXES = {
    (TOPIC, 0, False, False, V5): bytes((0x30, 92)) + _TOPIC_FIELD + b"\x00",
    (TOPIC, 1, False, False, V5): bytes((0x32, 94)) + _TOPIC_FIELD,
}


def floor(packet: Publish, version: ProtocolVersion) -> bytes:
    topic, payload, qos, retain, dup, packet_id, _properties = packet
    prefix = _PREFIXES[(topic, qos, retain, dup, version)]
    if qos:
        return b"".join((prefix, (packet_id << 8).to_bytes(3), payload))  # property length 0
    return prefix + payload


def best_ns(statement: str, names: dict[str, object]) -> float:
    times = timeit.repeat(statement, globals=names, number=NUMBER, repeat=ROUNDS)
    return min(times) / NUMBER * 1e9


def packets(qos: int) -> tuple[Publish, mqtt5.PublishPacket]:
    """The same PUBLISH as our packet and as mqtt5's."""
    packet_id = PACKET_ID if qos else None
    ours = Publish(TOPIC, PAYLOAD, qos, False, False, packet_id, NO_PROPERTIES)
    theirs = mqtt5.PublishPacket(
        topic=TOPIC, payload=PAYLOAD, qos=mqtt5.QoS(qos), packet_id=packet_id
    )
    return ours, theirs


def main() -> None:
    print(f"PUBLISH to {TOPIC!r}, 64-byte payload, MQTT 5.0; ns, best of {ROUNDS}")
    for qos in (0, 1):
        packet, theirs = packets(qos)
        assert floor(packet, V5) == encode(packet, V5) == bytes(theirs.write())
        names = {"call": call, "floor": floor, "encode": encode, "V5": V5}
        names.update(packet=packet, theirs=theirs)
        rows = {
            "call": best_ns("call(packet, V5)", names),
            "floor": best_ns("floor(packet, V5)", names),
            "encode": best_ns("encode(packet, V5)", names),
            "mqtt5": best_ns("theirs.write()", names),
        }
        for name, ns in rows.items():
            print(f"QoS {qos} {name:>7} {ns:6.0f} ns  {ns / rows['mqtt5']:4.1f}x mqtt5")


if __name__ == "__main__":
    main()
