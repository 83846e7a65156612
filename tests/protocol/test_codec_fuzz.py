"""Fuzzing the decoder: random and mutated input may only ever raise ProtocolError subclasses.

Besides "nothing else escapes", each test checks that the decoder's memory stays bounded: once
``next_packet`` has returned None, what it holds is the prefix of one packet no larger than
``max_packet_size``; once it has failed, it holds nothing.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import VERSIONS, client_packets, connects, publishes, server_packets

from asyncmqtt.errors import ProtocolError
from asyncmqtt.protocol.codec import Decoder, encode
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import Packet

MAX_SIZE = 64
FUZZ = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])

# (version, server_side): every kind of decoder, the server-side one still waiting for CONNECT.
DECODERS = [(version, side) for version in VERSIONS for side in (False, True)]
DECODERS.append((None, True))


def buffered(decoder: Decoder) -> int:
    """Bytes the decoder holds: the unread tail of its chunk, and the chunks waiting."""
    return len(decoder._buf) - decoder._pos + decoder._chunked


def run(decoder: Decoder, chunks: list[bytes]) -> tuple[list[Packet], ProtocolError | None]:
    """Feed the chunks, draining after each; return the packets and the error, if any."""
    packets: list[Packet] = []
    try:
        for chunk in chunks:
            decoder.feed(chunk)
            while (packet := decoder.next_packet()) is not None:
                packets.append(packet)
            assert buffered(decoder) < MAX_SIZE
    except ProtocolError as error:
        assert buffered(decoder) == 0
        return packets, error
    return packets, None


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """A few random edits: overwrite, delete, insert, truncate."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.sampled_from(["overwrite", "delete", "insert", "truncate"]))
        at = draw(st.integers(0, len(out)))
        if edit == "overwrite" and at < len(out):
            out[at] = draw(st.integers(0, 255))
        elif edit == "delete":
            del out[at : at + draw(st.integers(1, 4))]
        elif edit == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=4))
        else:
            del out[at:]
    return bytes(out)


def stream_for(
    data: st.DataObject, version: ProtocolVersion | None, server_side: bool
) -> tuple[ProtocolVersion, bytes]:
    """Valid bytes for that decoder: a few packets (CONNECT first when it waits for one)."""
    if version is None:
        version = data.draw(st.sampled_from(VERSIONS))
        first = [data.draw(connects(version))]
    else:
        first = []
    kind = client_packets(version) if server_side else server_packets(version)
    packets = first + data.draw(st.lists(kind, min_size=1, max_size=4))
    return version, b"".join(encode(packet, version) for packet in packets)


@pytest.mark.parametrize(("version", "server_side"), DECODERS)
@FUZZ
@given(data=st.data())
def test_random_bytes_raise_only_protocol_errors(
    version: ProtocolVersion | None, server_side: bool, data: st.DataObject
) -> None:
    raw = data.draw(st.binary(max_size=200))
    decoder = Decoder(version=version, server_side=server_side, max_packet_size=MAX_SIZE)
    run(decoder, data.draw(split(raw)))


@pytest.mark.parametrize(("version", "server_side"), DECODERS)
@FUZZ
@given(data=st.data())
def test_mutated_packets_raise_only_protocol_errors(
    version: ProtocolVersion | None, server_side: bool, data: st.DataObject
) -> None:
    _, valid = stream_for(data, version, server_side)
    broken = data.draw(mutated(valid))
    decoder = Decoder(version=version, server_side=server_side, max_packet_size=MAX_SIZE)
    run(decoder, data.draw(split(broken)))


@pytest.mark.parametrize(("version", "server_side"), DECODERS)
@FUZZ
@given(data=st.data())
def test_valid_streams_pass_the_size_limit_or_fail_with_it(
    version: ProtocolVersion | None, server_side: bool, data: st.DataObject
) -> None:
    """Unmutated streams: every packet comes out, until one is above the maximum size."""
    _, valid = stream_for(data, version, server_side)
    decoder = Decoder(version=version, server_side=server_side, max_packet_size=MAX_SIZE)
    _, error = run(decoder, data.draw(split(valid)))
    assert error is None or error.reason_code == 0x95


def outcome(decoder: Decoder, *, fast: bool) -> object:
    """Every packet, then the error (its type and text), reading with or without the fast path."""
    results: list[object] = []
    read = decoder.next_packet if fast else decoder._next_packet_checked
    try:
        while (packet := read()) is not None:
            results.append(packet)
    except ProtocolError as error:
        results.append((type(error), str(error), error.reason_code))
    return results


@pytest.mark.parametrize("version", VERSIONS)
@settings(deadline=None, max_examples=120)
@given(data=st.data())
def test_the_publish_fast_path_agrees_with_the_general_decoder(
    version: ProtocolVersion, data: st.DataObject
) -> None:
    """Mutated PUBLISH packets give the same packets and errors with the fast path as without."""
    server_side = data.draw(st.booleans())
    packets = data.draw(st.lists(publishes(version, from_server=not server_side), max_size=3))
    raw = data.draw(mutated(b"".join(encode(packet, version) for packet in packets)))
    results = []
    for fast in (True, False):
        decoder = Decoder(version=version, server_side=server_side, max_packet_size=MAX_SIZE)
        decoder.feed(raw)
        results.append(outcome(decoder, fast=fast))
    assert results[0] == results[1]
