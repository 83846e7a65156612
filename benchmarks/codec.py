"""Time encode and decode of one PUBLISH, ours against the Rust-backed ``mqtt5`` package.

Run: .venv/bin/python benchmarks/codec.py [--quick]

The packet is a PUBLISH to "sensors/room1/temperature" with a 64-byte payload, at QoS 0 and
QoS 1 (packet identifier 1234), in MQTT 3.1.1 and 5.0 (mqtt5 has no 3.1.1). Times are in ns
per packet, the best of several repeats, ours and mqtt5's measured alternately in the same run
so that both see the same machine load.

- encode: ``encode(packet, version)``; mqtt5: ``packet.write()``.
- decode: ``decoder.feed(data); decoder.next_packet()``, one packet per feed, the worst case
  for our incremental decoder; mqtt5: ``mqtt5.read(memoryview(data))``.

``--quick`` runs a handful of iterations only (a smoke test, not a measurement).
"""

from __future__ import annotations

import argparse
import sys
import timeit
from importlib import metadata
from typing import NamedTuple

import mqtt5

from asyncmqtt.protocol.codec import Decoder, encode
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import Publish

TOPIC = "sensors/room1/temperature"
PAYLOAD = bytes(range(64))
PACKET_ID = 1234


class Case(NamedTuple):
    label: str
    version: ProtocolVersion
    qos: int


CASES = (
    Case("3.1.1 QoS 0", ProtocolVersion.V311, 0),
    Case("3.1.1 QoS 1", ProtocolVersion.V311, 1),
    Case("5.0 QoS 0", ProtocolVersion.V5, 0),
    Case("5.0 QoS 1", ProtocolVersion.V5, 1),
)


class Timings(NamedTuple):
    encode: float
    decode: float
    mqtt5_encode: float | None
    mqtt5_decode: float | None


def publish(qos: int) -> Publish:
    return Publish(TOPIC, PAYLOAD, qos=qos, packet_id=PACKET_ID if qos else None)


def mqtt5_publish(qos: int) -> mqtt5.PublishPacket:
    return mqtt5.PublishPacket(
        TOPIC, PAYLOAD, qos=mqtt5.QoS(qos), packet_id=PACKET_ID if qos else None
    )


def best_ns(
    statements: dict[str, str], namespace: dict[str, object], number: int, repeat: int
) -> dict[str, float]:
    """Best time per run of each statement, in ns; the statements take turns, round by round."""
    timers = {name: timeit.Timer(code, globals=namespace) for name, code in statements.items()}
    best = dict.fromkeys(statements, float("inf"))
    for _ in range(repeat):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(number) / number * 1e9)
    return best


def measure(case: Case, number: int, repeat: int) -> Timings:
    packet = publish(case.qos)
    data = encode(packet, case.version)
    decoder = Decoder(version=case.version)
    decoder.feed(data)
    assert decoder.next_packet() == packet, "our decoder must read back what we wrote"
    namespace: dict[str, object] = {
        "encode": encode,
        "packet": packet,
        "version": case.version,
        "data": data,
        "feed": decoder.feed,
        "next_packet": decoder.next_packet,
    }
    statements = {"encode": "encode(packet, version)", "decode": "feed(data); next_packet()"}
    if case.version is ProtocolVersion.V5:
        theirs = mqtt5_publish(case.qos)
        assert theirs.write() == data, "both must write the same bytes"
        assert mqtt5.read(memoryview(data))[1] == len(data)
        namespace |= {"write": theirs.write, "read": mqtt5.read, "memoryview": memoryview}
        statements |= {"mqtt5_encode": "write()", "mqtt5_decode": "read(memoryview(data))"}
    best = best_ns(statements, namespace, number, repeat)
    return Timings(
        best["encode"], best["decode"], best.get("mqtt5_encode"), best.get("mqtt5_decode")
    )


def cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def ratio(ours: float, theirs: float | None) -> str:
    return "-" if theirs is None else f"{ours / theirs:.1f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations: a smoke test")
    args = parser.parse_args(argv)
    number, repeat = (200, 1) if args.quick else (20_000, 40)

    print(f"PUBLISH to {TOPIC!r}, {len(PAYLOAD)}-byte payload; ns per packet, best of {repeat}")
    header = ("case", "encode", "mqtt5", "ratio", "decode", "mqtt5", "ratio")
    print(f"| {header[0]:<12} | " + " | ".join(f"{h:>7}" for h in header[1:]) + " |")
    print(f"|{'-' * 14}|" + "|".join("-" * 9 for _ in header[1:]) + "|")
    for case in CASES:
        t = measure(case, number, repeat)
        row = (
            cell(t.encode),
            cell(t.mqtt5_encode),
            ratio(t.encode, t.mqtt5_encode),
            cell(t.decode),
            cell(t.mqtt5_decode),
            ratio(t.decode, t.mqtt5_decode),
        )
        print(f"| {case.label:<12} | " + " | ".join(f"{c:>7}" for c in row) + " |")
    print(f"Python {sys.version.split()[0]}, mqtt5 {metadata.version('mqtt5')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
