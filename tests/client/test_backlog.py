"""The router's backlog: full streams never exceed their limit, what waits is unacknowledged,
reading pauses only for QoS 0 (offline: a Router with recorded acknowledgements)."""

from __future__ import annotations

import asyncio
import logging

from asyncmqtt.messages import MessageFactory, Router
from asyncmqtt.protocol.packets import Publish


class Switch:
    """Stands in for the link's reading switch."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


class Harness:
    """A Router, and the client's part: acknowledging what it counts as delivered."""

    def __init__(self, limit: int | None) -> None:
        self.received: list[int] = []  # packet ids of QoS 1/2 messages, in arrival order
        self.acknowledged = 0  # how many of them the client acknowledged, oldest first
        self.stale: list[int] = []  # acknowledged on their own (an earlier connection's)
        self.flushes = 0
        self.router = Router(
            asyncio.Queue,
            limit,
            logging.getLogger("asyncmqtt"),
            acknowledge=lambda message: self.stale.append(message.mid),
            flush=self._flush,
        )
        self.switch = Switch()
        self.router.gate.attach(self.switch)
        self.router.connection_started(1)
        self.make = MessageFactory()

    @property
    def acked(self) -> list[int]:
        return self.received[: self.acknowledged]

    def _acknowledge_delivered(self) -> None:
        self.acknowledged += self.router.unacknowledged
        self.router.unacknowledged = 0

    def _flush(self) -> None:
        self.flushes += 1
        self._acknowledge_delivered()

    def send(self, *mids: int, qos: int = 1, topic: str = "t", connection: int = 1) -> None:
        """One batch from the link: route each message, then acknowledge (as the client)."""
        for mid in mids:
            packet = Publish(topic, str(mid).encode(), qos, packet_id=mid if qos else None)
            if qos:
                self.received.append(mid)
            self.router.route(self.make(packet, connection))
        self._acknowledge_delivered()


async def take(harness: Harness, count: int) -> list[bytes]:
    stream = harness.router.everything
    return [(await anext(stream)).payload for _ in range(count)]


async def test_without_a_limit_everything_is_delivered_and_acknowledged_at_once() -> None:
    harness = Harness(None)
    harness.send(1, 2, 3)
    harness.send(0, qos=0)
    assert harness.acked == [1, 2, 3] and len(harness.router.everything) == 4
    assert harness.flushes == 0  # (acknowledgements made in the link's callback go out with it)


async def test_a_full_stream_holds_its_limit_and_the_rest_waits_unacknowledged() -> None:
    harness = Harness(2)
    harness.send(1, 2, 3, 4, 5)
    assert len(harness.router.everything) == 2 and len(harness.router.backlog) == 3
    assert harness.acked == [1, 2]
    assert harness.switch.calls == []  # QoS 1 waits in the backlog: reading goes on
    assert await take(harness, 1) == [b"1"]
    assert harness.acked == [1, 2, 3] and harness.flushes == 1
    assert await take(harness, 4) == [b"2", b"3", b"4", b"5"]
    assert harness.acked == [1, 2, 3, 4, 5] and not harness.router.backlog


async def test_a_message_arriving_behind_the_backlog_waits_its_turn() -> None:
    harness = Harness(1)
    harness.send(1, 2)
    harness.send(0, qos=0)  # room or not, it must not overtake message 2
    assert [m.mid for m in harness.router.backlog] == [2, 0]
    assert await take(harness, 3) == [b"1", b"2", b"0"]


async def test_qos0_in_the_backlog_pauses_reading_and_draining_resumes_it() -> None:
    harness = Harness(4)
    harness.send(*range(8), qos=0)
    assert harness.switch.calls == ["pause"]  # 4 in the stream, 4 QoS 0 waiting
    await take(harness, 1)
    assert harness.switch.calls == ["pause"]  # 3 waiting: more than half the limit
    await take(harness, 1)
    assert harness.switch.calls == ["pause", "resume"]


async def test_a_reader_awaiting_its_own_acknowledgement_keeps_reading_on() -> None:
    harness = Harness(2)
    router = harness.router
    harness.send(1, 2, 3, qos=0)
    await take(harness, 1)  # this task is now a reader of a bounded stream
    harness.send(4, 5, 6, qos=0)
    assert harness.switch.calls == ["pause"]
    assert router.reader_waits()  # it publishes from its loop and waits for the PUBACK
    assert harness.switch.calls == ["pause", "resume"]
    harness.send(7, 8, qos=0)  # what arrives before the PUBACK is held, reading goes on
    assert harness.switch.calls == ["pause", "resume"]
    router.reader_done()
    assert harness.switch.calls == ["pause", "resume", "pause"]


async def test_a_task_that_reads_no_bounded_stream_does_not_keep_reading_on() -> None:
    harness = Harness(2)

    async def other_task() -> bool:
        return harness.router.reader_waits()

    harness.send(1, qos=0)
    await take(harness, 1)
    assert not await asyncio.create_task(other_task())


async def test_a_full_filtered_stream_holds_back_what_comes_after_it() -> None:
    harness = Harness(None)
    router = harness.router
    narrow = router.new_stream(1)
    router.open_filtered(("a",), narrow)
    wide = router.new_stream(None)
    router.open_filtered(("#",), wide)
    harness.send(1, topic="a")
    harness.send(2, topic="a")  # "a" is full: waits, and ...
    harness.send(3, topic="b")  # ... so does this one, to keep the order
    assert len(narrow) == 1 and len(wide) == 1 and harness.acked == [1]
    router.close_filtered(("a",), narrow)  # gone: what waited goes on to the streams left
    assert [(await anext(wide)).mid for _ in range(3)] == [1, 2, 3]
    assert harness.acked == [1, 2, 3]


async def test_messages_no_stream_wants_are_acknowledged_and_discarded_by_the_policy() -> None:
    harness = Harness(None)
    router = harness.router
    router.open_filtered(("a",), router.new_stream(None))
    harness.send(7, topic="b")  # client.messages is not being read: discarded, with a log
    assert harness.acked == [7] and len(router.everything) == 0


async def test_a_delivered_message_of_an_earlier_connection_is_acknowledged_on_its_own() -> None:
    harness = Harness(1)
    harness.send(1, 2)
    harness.router.connection_started(2)  # a reconnect: message 2 still waits
    harness.send(3, connection=2)
    assert await take(harness, 3) == [b"1", b"2", b"3"]
    assert harness.stale == [2]  # the core decides what acknowledging it means now
    assert harness.acknowledged == 2  # messages 1 (connection 1) and 3 (connection 2)
