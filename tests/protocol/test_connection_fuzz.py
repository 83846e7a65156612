"""ClientConnection.receive_data under random, mutated and arbitrarily split input.

Whatever the broker sends, ``receive_data`` returns normally: the outcome is events (at worst a
``Disconnected`` whose error is a documented ``ProtocolError``), and splitting the same bytes
differently never changes the events.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import server_packets

from asyncmqtt.errors import MqttCodeError, ProtocolError
from asyncmqtt.protocol.codec import encode
from asyncmqtt.protocol.connection import ClientConnection, ConnectionState
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.events import Disconnected
from asyncmqtt.protocol.packets import ConnAck, Publish
from asyncmqtt.protocol.properties import NO_PROPERTIES

VERSIONS = st.sampled_from([ProtocolVersion.V311, ProtocolVersion.V5])
MAX_PACKET = 512


def _connected(version: ProtocolVersion) -> ClientConnection:
    conn = ClientConnection(
        protocol_version=version,
        maximum_packet_size=MAX_PACKET if version is ProtocolVersion.V5 else None,
        topic_alias_maximum=10 if version is ProtocolVersion.V5 else 0,
    )
    conn.connect(0.0)
    conn.receive_data(encode(ConnAck(), version), 0.0)
    conn.data_to_send()
    conn.events_received()
    assert conn.state is ConnectionState.CONNECTED
    return conn


def _check_outcome(conn: ClientConnection) -> list[object]:
    events: list[object] = list(conn.events_received())
    for event in events:
        if isinstance(event, Disconnected):
            assert isinstance(event.error, ProtocolError | MqttCodeError)
            assert event is events[-1]
    # Once a batch is handled, the decoder holds at most one partial packet.
    decoder = conn._decoder
    held = len(decoder._buf) - decoder._pos + decoder._chunked
    assert held <= MAX_PACKET + 5
    return events


@settings(max_examples=300, deadline=None)
@given(version=VERSIONS, data=st.binary(max_size=2000))
def test_random_bytes_only_ever_produce_events(version: ProtocolVersion, data: bytes) -> None:
    conn = _connected(version)
    conn.receive_data(data, 1.0)
    _check_outcome(conn)


@settings(max_examples=150, deadline=None)
@given(
    version=VERSIONS,
    data=st.data(),
)
def test_mutated_valid_streams_only_ever_produce_events(
    version: ProtocolVersion, data: st.DataObject
) -> None:
    packets = data.draw(st.lists(server_packets(version), min_size=1, max_size=5))
    stream = bytearray(b"".join(encode(p, version) for p in packets))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(stream) - 1))
        stream[index] = data.draw(st.integers(0, 255))
    conn = _connected(version)
    conn.receive_data(bytes(stream), 1.0)
    _check_outcome(conn)


@settings(max_examples=100, deadline=None)
@given(version=VERSIONS, data=st.data())
def test_any_split_gives_the_same_events(version: ProtocolVersion, data: st.DataObject) -> None:
    messages = data.draw(
        st.lists(
            st.builds(
                Publish,
                topic=st.sampled_from(["a", "b/c", "d/e/f"]),
                payload=st.binary(max_size=40),
                qos=st.integers(0, 2),
                retain=st.booleans(),
                dup=st.just(False),
                packet_id=st.none(),
                properties=st.just(NO_PROPERTIES),
            ),
            min_size=1,
            max_size=8,
        )
    )
    packets = [m._replace(packet_id=i + 1) if m.qos else m for i, m in enumerate(messages)]
    stream = b"".join(encode(p, version) for p in packets)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=10)))

    whole = _connected(version)
    whole.receive_data(stream, 1.0)
    expected = _check_outcome(whole)

    split = _connected(version)
    events: list[object] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        split.receive_data(stream[start:end], 1.0)
        events.extend(_check_outcome(split))
    assert events == expected
    assert split.data_to_send() == whole.data_to_send()
