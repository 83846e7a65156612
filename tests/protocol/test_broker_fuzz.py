"""The broker core under mutated input: at least 100,000 packets, nothing escapes.

Valid client packet streams of every version (CONNECT, then a few of everything a client
sends) are mutated (bytes flipped, streams cut short, slices of other streams spliced in,
slices dropped) and fed, in random chunks, to new connections of one broker core, next to a
well-behaved bystander client (a ``ClientConnection``). For every stream:

* ``receive_data`` returns normally; whatever the broker writes decodes as valid packets for
  that version (or is the 4-byte CONNACK refusing an unknown protocol version);
* a client the broker ends for a protocol error gets, in MQTT 5, a DISCONNECT carrying the
  error's reason code (a CONNACK with it before CONNACK), and the event says the same;
* the bystander is never disturbed: it stays connected and still gets its own messages.

The random generator has a fixed seed, so a failure is reproducible; the count of packets
fed is checked, not assumed.
"""

from __future__ import annotations

import random
import time

from asyncmqtt.errors import ConnectionLostError, ProtocolError
from asyncmqtt.protocol.broker import BrokerCore
from asyncmqtt.protocol.broker_config import AuthContinue, AuthReply, AuthSuccess
from asyncmqtt.protocol.codec import Decoder, encode
from asyncmqtt.protocol.connection import ClientConnection, ConnectionState
from asyncmqtt.protocol.enums import ProtocolVersion, RetainHandling
from asyncmqtt.protocol.events import MessageReceived
from asyncmqtt.protocol.packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    Subscribe,
    Subscription,
    Unsubscribe,
    WillMessage,
)
from asyncmqtt.protocol.properties import Properties
from asyncmqtt.protocol.server import (
    ClientDisconnected,
    ConnectionRefused,
    ServerConnection,
)

V31 = ProtocolVersion.V31
V311 = ProtocolVersion.V311
V5 = ProtocolVersion.V5

PACKETS_WANTED = 100_000
SEED = 20240613
STREAMS_PER_BROKER = 500


class Toy:
    """Enhanced authentication that wants one round trip."""

    def __init__(self) -> None:
        self.steps = 0

    def step(self, data: bytes | None) -> AuthReply:
        self.steps += 1
        return AuthContinue(b"n") if self.steps == 1 else AuthSuccess(b"s")


def _connects(version: ProtocolVersion) -> list[Connect]:
    will = WillMessage("will/fz", b"bye", 1, True)
    plain = [
        Connect("fz", keep_alive=30, protocol_version=version),
        Connect("fz2", False, 0, "user", b"pw", will, version),
    ]
    if version is not V5:
        return plain
    return [
        *plain,
        Connect(
            "fz5",
            False,
            10,
            will=will._replace(
                properties=Properties(will_delay_interval=5, message_expiry_interval=9)
            ),
            protocol_version=V5,
            properties=Properties(
                session_expiry_interval=60,
                receive_maximum=3,
                maximum_packet_size=300,
                topic_alias_maximum=4,
                user_properties=(("k", "v"),),
            ),
        ),
        Connect(
            "fza",
            protocol_version=V5,
            properties=Properties(authentication_method="toy", authentication_data=b"x"),
        ),
    ]


def _packets(version: ProtocolVersion) -> list[Packet]:
    v5 = version is V5
    props = (
        Properties(
            message_expiry_interval=20,
            content_type="text",
            response_topic="r/t",
            correlation_data=b"c",
            payload_format_indicator=1,
            user_properties=(("a", "b"),),
        )
        if v5
        else Properties()
    )
    packets: list[Packet] = [
        Publish("fz/a", b"zero"),
        Publish("fz/b", b"one", 1, packet_id=1),
        Publish("fz/c", b"two", 2, packet_id=2, retain=True),
        Publish("fz/d", b"", 0, retain=True),
        Publish("$SYS/x", b"dollar", 1, packet_id=3),
        PubRel(2),
        PubAck(1),
        PubRec(1),
        PubComp(1),
        Subscribe(4, (Subscription("fz/#", 2), Subscription("+/b", 1))),
        Subscribe(5, (Subscription("$share/g/fz/+", 1),)),
        Unsubscribe(6, ("fz/#", "nothing")),
        PingReq(),
        Disconnect(),
    ]
    if v5:
        packets += [
            Publish("fz/p", b"props", 1, packet_id=7, properties=props),
            Publish("fz/al", b"alias", properties=Properties(topic_alias=1)),
            Publish("", b"aliased", 1, packet_id=8, properties=Properties(topic_alias=1)),
            Subscribe(
                9,
                (
                    Subscription("fz/+", 1, True, True, RetainHandling.SEND_IF_NEW_SUBSCRIPTION),
                    Subscription("fz/x", 2, retain_handling=RetainHandling.DO_NOT_SEND),
                ),
                Properties(subscription_identifiers=(7,)),
            ),
            Disconnect(0x04, Properties(session_expiry_interval=30)),
            Auth(0x18, Properties(authentication_method="toy", authentication_data=b"d")),
            Auth(0x19, Properties(authentication_method="toy")),
        ]
    return packets


def _corpus() -> dict[ProtocolVersion, tuple[list[bytes], list[bytes]]]:
    """Per version: the encoded CONNECTs and the encoded other packets."""
    return {
        version: (
            [encode(packet, version) for packet in _connects(version)],
            [encode(packet, version) for packet in _packets(version)],
        )
        for version in (V31, V311, V5)
    }


def _mutate(rng: random.Random, stream: bytes, other: bytes) -> bytes:
    data = bytearray(stream)
    for _ in range(rng.randint(1, 2)):
        if not data:
            break
        choice = rng.random()
        if choice < 0.45:  # flip bytes
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.6:  # cut short
            del data[rng.randrange(len(data)) :]
        elif choice < 0.8:  # splice in a slice of another stream
            start = rng.randrange(len(other))
            piece = other[start : start + rng.randint(1, 40)]
            at = rng.randrange(len(data) + 1)
            data[at:at] = piece
        else:  # drop a slice
            start = rng.randrange(len(data))
            del data[start : start + rng.randint(1, 8)]
    return bytes(data)


class Bystander:
    """A well-behaved client on the same broker, driven by its own core."""

    def __init__(self, broker: BrokerCore) -> None:
        self.client = ClientConnection(client_id="bystander\u00e9", keep_alive=0)
        self.server = broker.new_connection(0.0)
        self.client.connect(0.0)
        self.received = 0
        self.pump(0.0)
        self.client.subscribe([Subscription("#", 2), Subscription("$SYS/#", 1)], now=0.0)
        self.pump(0.0)

    def pump(self, now: float) -> None:
        for _ in range(100):
            data = self.client.data_to_send()
            if data:
                self.server.receive_data(data, now)
            answer = self.server.data_to_send()
            if answer:
                self.client.receive_data(answer, now)
            self.received += sum(
                isinstance(e, MessageReceived) for e in self.client.events_received()
            )
            if not data and not answer:
                return

    def check(self, now: float) -> None:
        before = self.received
        self.client.publish("bystander/check", b"still here", 1, now=now)
        self.pump(now)
        assert self.client.state is ConnectionState.CONNECTED
        assert not self.server.closed
        assert self.received == before + 1


def _check_output(connection: ServerConnection, output: bytes, events: list[object]) -> None:
    version = connection.protocol_version
    if version is None:
        assert output in (b"", b"\x20\x02\x00\x01")
        return
    decoder = Decoder(version=version)
    decoder.feed(output)
    packets = []
    while (packet := decoder.next_packet()) is not None:
        packets.append(packet)
    for event in events:
        if isinstance(event, ClientDisconnected) and isinstance(event.error, ProtocolError):
            if version is V5:
                assert packets, event
                last = packets[-1]
                assert isinstance(last, Disconnect), (event, packets)
                assert last.reason_code == event.error.reason_code
        elif isinstance(event, ClientDisconnected):
            assert event.error is None or isinstance(event.error, ConnectionLostError)
        elif isinstance(event, ConnectionRefused):
            assert isinstance(packets[-1], ConnAck)
            if version is V5:
                assert packets[-1].reason_code == event.reason_code


def run(packets_wanted: int, seed: int = SEED) -> int:
    """Feed mutated streams until ``packets_wanted`` packets went in; returns how many."""
    rng = random.Random(seed)
    corpus = _corpus()
    versions = (V31, V311, V5, V5)  # (MQTT 5 has the most to break)
    fed = 0
    now = 0.0
    broker: BrokerCore | None = None
    bystander: Bystander | None = None
    streams = 0
    while fed < packets_wanted:
        if broker is None or streams % STREAMS_PER_BROKER == 0:
            if bystander is not None:
                bystander.check(now)
            broker = BrokerCore(
                maximum_packet_size=2048,
                receive_maximum=4,
                topic_alias_maximum=3,
                max_queued_messages=20,
                enhanced_authentication=lambda method: Toy() if method == "toy" else None,
            )
            bystander = Bystander(broker)
            broker.connections_to_flush()
            broker.events_received()
        assert bystander is not None
        streams += 1
        version = rng.choice(versions)
        connects, packets = corpus[version]
        count = rng.randint(1, 8)
        parts = [rng.choice(connects)] + [rng.choice(packets) for _ in range(count)]
        stream = b"".join(parts)
        fed += len(parts)
        if rng.random() < 0.9:
            other_connects, other_packets = corpus[rng.choice(versions)]
            stream = _mutate(rng, stream, rng.choice(other_connects + other_packets))
        now += 0.01
        connection = broker.new_connection(now)
        output = bytearray()
        position = 0
        while position < len(stream):
            step = rng.randint(1, max(1, len(stream)))
            connection.receive_data(stream[position : position + step], now)
            output += connection.data_to_send()
            position += step
        events = broker.events_received()
        connection.connection_lost(now)
        output += connection.data_to_send()
        events += broker.events_received()
        _check_output(connection, bytes(output), events)
        for flushed in broker.connections_to_flush():
            if flushed is bystander.server:
                bystander.pump(now)
            else:
                flushed.data_to_send()  # (other fuzz clients of this broker: gone or kept)
        broker.handle_timer(now)
    assert bystander is not None
    bystander.check(now)
    return fed


def test_mutated_streams_never_escape_the_broker_core() -> None:
    started = time.perf_counter()
    fed = run(PACKETS_WANTED)
    elapsed = time.perf_counter() - started
    assert fed >= PACKETS_WANTED
    # (It runs in a few seconds; the bound only catches a pathological slowdown.)
    assert elapsed < 120, f"{fed} packets took {elapsed:.1f} s"


def test_another_seed_for_good_measure() -> None:
    assert run(5_000, seed=1) >= 5_000
