"""Link's writes: replies at once, publishes collected per loop turn (offline, no broker)."""

from __future__ import annotations

import asyncio

from asyncmqtt._link import Link
from asyncmqtt.protocol.codec import encode
from asyncmqtt.protocol.connection import ClientConnection
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.events import Event
from asyncmqtt.protocol.packets import ConnAck

V5 = ProtocolVersion.V5
ACCEPTED = ConnAck(False, 0)


class RecordingTransport(asyncio.Transport):
    """Keeps every ``write`` as one entry, so a test can count system calls' worth of writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


async def connected_link() -> tuple[Link, RecordingTransport, list[Event]]:
    events: list[Event] = []
    link = Link(ClientConnection(client_id="link-test"), events.extend)
    transport = RecordingTransport()
    link.connection_made(transport)
    link.data_received(encode(ConnAck(False, 0), V5))
    transport.writes.clear()  # the CONNECT
    return link, transport, events


async def one_loop_turn() -> None:
    # What is under test is "when the loop next turns"; sleep(0) is exactly one turn.
    await asyncio.sleep(0)


def wake_publisher(link: Link, topic: str, count: int = 1) -> None:
    """Queue a publisher's wake-up (as ``set_result`` does): it publishes ``count`` QoS 1
    messages on ``topic`` the way ``publish_nowait`` does."""

    def publish() -> None:
        for _ in range(count):
            link.conn.publish(topic, b"x", 1, now=link.now())
            link.flush_soon(1)

    asyncio.get_running_loop().call_soon(publish)


async def test_a_lone_qos0_publish_is_written_at_once() -> None:
    link, transport, _ = await connected_link()
    link.conn.publish("t/a", b"1", 0, now=link.now())
    link.flush_soon(1, first_at_once=True)
    assert len(transport.writes) == 1


async def test_a_burst_of_publishes_is_written_together_when_the_loop_turns() -> None:
    link, transport, _ = await connected_link()
    link.conn.publish("t/a", b"first", 0, now=link.now())
    link.flush_soon(5, first_at_once=True)
    for number in range(10):
        link.conn.publish("t/a", str(number).encode(), 0, now=link.now())
        link.flush_soon(1, first_at_once=True)
    assert len(transport.writes) == 1  # only the first so far
    await one_loop_turn()
    assert len(transport.writes) == 2
    assert transport.writes[1].count(b"t/a") == 10


async def test_qos1_publishes_wait_for_the_loop_to_turn() -> None:
    link, transport, _ = await connected_link()
    for _ in range(3):
        link.conn.publish("t/b", b"x", 1, now=link.now())
        link.flush_soon(1)
    assert transport.writes == []
    await one_loop_turn()
    assert len(transport.writes) == 1
    assert transport.writes[0].count(b"t/b") == 3


async def test_publishes_of_woken_publishers_are_written_in_the_turn_they_run() -> None:
    # What the client does when PUBACKs resolve publishers' futures: their wake-ups are
    # queued first, then flush_next_turn, so what they publish goes in that same turn.
    link, transport, _ = await connected_link()
    wake_publisher(link, "t/w", 2)
    link.flush_next_turn()
    link.flush_next_turn()  # (once scheduled, not again)
    await one_loop_turn()
    assert len(transport.writes) == 1
    assert transport.writes[0].count(b"t/w") == 2


async def test_without_the_flush_for_woken_publishers_their_publishes_wait_a_turn() -> None:
    link, transport, _ = await connected_link()
    wake_publisher(link, "t/w")
    await one_loop_turn()
    assert transport.writes == []
    await one_loop_turn()
    assert len(transport.writes) == 1


async def test_collected_bytes_are_written_once_they_reach_64_kib() -> None:
    link, transport, _ = await connected_link()
    payload = bytes(16 * 1024)
    for _ in range(3):
        link.conn.publish("t/c", payload, 1, now=link.now())
        link.flush_soon(len(payload))
    assert transport.writes == []
    link.conn.publish("t/c", payload, 1, now=link.now())
    link.flush_soon(len(payload))  # 64 KiB held back: written without waiting
    assert len(transport.writes) == 1
    assert transport.writes[0].count(payload) == 4
    await one_loop_turn()
    assert len(transport.writes) == 1  # the scheduled flush found nothing left


async def test_replies_to_what_arrived_are_written_at_once() -> None:
    link, transport, events = await connected_link()
    # A QoS 1 PUBLISH from the broker: its PUBACK goes out in the same callback.
    link.data_received(bytes.fromhex("32 08 0003 742f64 0007 00"))
    assert transport.writes == [bytes.fromhex("40 02 0007")]
    assert len(events) == 2  # Connected, then MessageReceived


class Log:
    """One list for a store's applies and a transport's writes, to check their order."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, object]] = []

    def apply(self, records: object) -> None:
        self.entries.append(("store", list(records)))  # type: ignore[call-overload]


def recording_link(connack: ConnAck = ACCEPTED) -> tuple[Link, Log]:
    """A connected link whose session records, with a ``Log`` as its store and transport."""
    from asyncmqtt.protocol.config import ClientConfig
    from asyncmqtt.protocol.session import Session

    log = Log()
    conn = ClientConnection(ClientConfig(client_id="c"), Session(recording=True))
    link = Link(conn, lambda events: None, log)
    transport = RecordingTransport()
    transport.write = lambda data: log.entries.append(("write", bytes(data)))  # type: ignore[method-assign]
    link.connection_made(transport)
    link.data_received(encode(connack, V5))
    log.entries.clear()
    return link, log


async def test_records_are_stored_before_the_bytes_that_depend_on_them_are_written() -> None:
    from asyncmqtt.protocol.session import PublishAccepted, PublishSent

    link, log = recording_link()
    handle = link.conn.publish("t", b"x", 1, now=link.now())
    assert handle is not None
    link.flush()
    [(first, records), (second, _data)] = log.entries
    assert (first, second) == ("store", "write")
    assert [type(r) for r in records] == [PublishAccepted, PublishSent]  # type: ignore[attr-defined]


async def test_a_link_without_recording_takes_no_records() -> None:
    log = Log()
    link = Link(ClientConnection(client_id="c"), lambda events: None, log)
    link.connection_made(RecordingTransport())
    assert log.entries == []


async def test_acknowledgements_made_while_handling_events_go_out_in_the_same_write() -> None:
    from asyncmqtt.protocol.config import ClientConfig
    from asyncmqtt.protocol.events import MessageReceived
    from asyncmqtt.protocol.packets import Publish

    conn = ClientConnection(ClientConfig(client_id="c", manual_ack=True))

    def acknowledge(events: list[Event]) -> None:
        for event in events:
            if isinstance(event, MessageReceived):
                publish = event.publish
                conn.acknowledge(publish.packet_id or 0, publish.qos, conn.number, 0.0)

    link = Link(conn, acknowledge)
    transport = RecordingTransport()
    link.connection_made(transport)
    link.data_received(encode(ConnAck(False, 0), V5))
    transport.writes.clear()
    link.data_received(
        encode(Publish("a", b"1", 1, packet_id=1), V5)
        + encode(Publish("a", b"2", 1, packet_id=2), V5)
    )
    assert transport.writes == [b"\x40\x02\x00\x01\x40\x02\x00\x02"]  # two PUBACKs, one write


async def test_bytes_do_not_leave_when_the_store_cannot_keep_their_records() -> None:
    from asyncmqtt.protocol.config import ClientConfig
    from asyncmqtt.protocol.session import Session

    class FullDisk:
        def apply(self, records: object) -> None:
            raise OSError("no space left on device")

    conn = ClientConnection(ClientConfig(client_id="c"), Session(recording=True))
    link = Link(conn, lambda events: None, FullDisk())
    transport = RecordingTransport()
    aborted: list[bool] = []
    transport.abort = lambda: aborted.append(True)  # type: ignore[method-assign]
    link.connection_made(transport)
    link.data_received(encode(ConnAck(False, 0), V5))  # (its record: SessionStarted)
    assert aborted == [True] and isinstance(link.failure, OSError)
    conn.publish("t", b"x", 1, now=link.now())
    link.flush()
    assert len(transport.writes) == 1  # the CONNECT only: nothing the store did not keep


def in_flight_link() -> tuple[Link, Log]:
    """A recording link with one QoS 1 publish in flight (packet id 1), stored and written."""
    link, log = recording_link()
    link.conn.publish("t", b"x", 1, now=link.now())
    link.flush()
    log.entries.clear()
    return link, log


async def test_endings_wait_for_the_flush_scheduled_for_the_next_turn() -> None:
    from asyncmqtt.protocol.session import PublishAccepted, PublishEnded, PublishSent

    link, log = in_flight_link()
    # As the client does when a PUBACK resolves a publisher's future: its wake-up is queued,
    # then the flush for the next turn.
    wake_publisher(link, "t")
    link.flush_next_turn()
    link.data_received(b"\x40\x02\x00\x01")
    assert log.entries == []  # the ending waits: no transaction of its own
    await one_loop_turn()
    [(first, records), (second, _data)] = log.entries
    assert (first, second) == ("store", "write")
    # One transaction: the ending, then what the woken publisher made, before its bytes.
    assert [type(r) for r in records] == [PublishEnded, PublishAccepted, PublishSent]  # type: ignore[attr-defined]


async def test_endings_are_stored_at_once_when_no_flush_is_scheduled() -> None:
    from asyncmqtt.protocol.session import PublishEnded

    link, log = in_flight_link()
    link.data_received(b"\x40\x02\x00\x01")
    [(kind, records)] = log.entries
    assert kind == "store"
    assert [type(r) for r in records] == [PublishEnded]  # type: ignore[attr-defined]


async def test_endings_are_stored_at_once_while_the_connection_closes() -> None:
    from asyncmqtt.protocol.properties import Properties
    from asyncmqtt.protocol.session import PublishEnded

    link, log = recording_link(ConnAck(False, 0, Properties(receive_maximum=1)))
    conn = link.conn
    conn.publish("t", b"x", 1, now=link.now())  # in flight
    queued = conn.publish("t", b"y", 1, now=link.now())  # waits for the slot
    assert queued is not None
    link.flush()
    log.entries.clear()
    link.flush_next_turn()
    conn.disconnect(now=link.now())
    assert conn.withdraw(queued)  # its ending is the only new record
    link.flush()  # the last flush of the connection: nothing may wait for a later one
    [(first, records), (second, _disconnect)] = log.entries
    assert (first, second) == ("store", "write")
    assert [type(r) for r in records] == [PublishEnded]  # type: ignore[attr-defined]
