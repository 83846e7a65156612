"""Client processes killed with SIGKILL; the next process carries on where they stopped.

Publisher with ``SQLiteStore``: a child process publishes numbered messages (even numbers at
QoS 1, odd ones at QoS 2) with ``publish_nowait``, a window of 20 outcomes open, and prints
``accepted N`` for each. The test kills it with SIGKILL, then runs a second process on the same
store file that publishes nothing new: it resumes the session (sending again what the broker
had not acknowledged, and what was never sent) and publishes an end marker. A subscriber in the
test (persistent session) checks that every number the first process printed arrives, the QoS
2 ones exactly once.

* ``test_killed_publisher_resumes_from_its_store``: killed mid-stream, with publishes in flight,
  the broker up, or blackholed (the publisher reaches it through a relay that drops everything
  from a moment before the kill: what was written into the silence only the store knows). The
  child prints ``accepted N`` once the event loop has turned after the call, which is when the
  client stores what it accepted (docs/session-stores.md, "When it writes");
* ``test_publish_accepted_while_disconnected_survives``: the first process lost its connection
  (the relay refuses new ones) and publishes while reconnecting.

(What is not tested, because it is not promised: a process killed in the very loop turn in
which ``publish_nowait`` accepted a message, before the loop turned. The store is written once
per turn, so that one turn is the window; docs/session-stores.md says so.)

Subscriber with ``manual_ack=True``: a child takes ACKED + HELD messages, acknowledges the first
ACKED (acknowledgements go out in arrival order), holds the rest and is killed. The next process
with the same identifier gets exactly the held ones again (the broker redelivers them, with DUP
set), none of the acknowledged ones: at QoS 2 each message is handled exactly once over the two.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from broker import Mosquitto
from client_process import ClientProcess
from fault_helpers import GUARD, persistent_client
from fault_streams import END, NumberCollector
from relay import Relay

from asyncmqtt import Reconnect

if TYPE_CHECKING:
    from conftest import MosquittoFactory

MakeRelay = Callable[[int], Relay]
ACCEPTED_BEFORE_KILL = 150
LINE_GUARD = 15.0  # seconds for a child's line (a child starts in about 0.3 s)
ACKED, HELD = 10, 10  # the manual-ack subscriber acknowledges the first ACKED of ACKED + HELD

# The child processes. argv: host port identifier topic mode, then the store file (publisher)
# or the QoS and how many to acknowledge (manual-ack subscriber).
PUBLISHER = """
import asyncio
import sys
import time
from collections import deque

from asyncmqtt import Client, Properties, Reconnect, SQLiteStore

host, port, identifier, topic, mode, path = sys.argv[1:]
WINDOW = 20


def publish(client, number):
    return client.publish_nowait(topic, str(number), qos=1 + number % 2)


async def main() -> None:
    with SQLiteStore(path) as store:
        client = Client(
            host,
            int(port),
            identifier=identifier,
            clean_start=False,
            properties=Properties(session_expiry_interval=300),
            reconnect=Reconnect(initial_delay=0.05, max_delay=0.2),
            session_store=store,
        )
        async with client:
            print(f"connected {client.session_present}", flush=True)
            if mode == "resume":
                # Nothing new: what the store held goes first, then the marker.
                await client.publish(topic, b"end", qos=2)
                print("done", flush=True)
            elif mode == "stream":
                outstanding = deque()
                number = 0
                while True:
                    outstanding.append(publish(client, number))
                    # The loop turns once: the client stores what it accepted when it next
                    # writes (docs/session-stores.md, "When it writes").
                    await asyncio.sleep(0)
                    print(f"accepted {number}", flush=True)
                    number += 1
                    if len(outstanding) >= WINDOW:
                        await outstanding.popleft()
            elif mode == "offline":
                await asyncio.gather(*(publish(client, number) for number in range(10)))
                print("published", flush=True)
                while client.is_connected:  # the test cuts the connection
                    await asyncio.sleep(0.01)
                # Accepted while reconnecting (the relay refuses connections).
                for number in range(10, 20):
                    publish(client, number)
                    print(f"accepted {number}", flush=True)
                await asyncio.sleep(0)  # the loop turns: the client stores them
                print("queued", flush=True)
                await asyncio.Event().wait()  # until killed


asyncio.run(main())
"""

MANUAL_SUBSCRIBER = """
import asyncio
import sys

from asyncmqtt import Client, Properties

host, port, identifier, topic, mode, qos, acked = sys.argv[1:]


async def main() -> None:
    client = Client(
        host,
        int(port),
        identifier=identifier,
        clean_start=False,
        properties=Properties(session_expiry_interval=300),
        manual_ack=True,
    )
    async with client:
        if mode == "first":
            await client.subscribe(topic, qos=int(qos))
        print(f"ready {client.session_present}", flush=True)
        async for message in client.messages:
            if message.payload == b"end":
                await message.ack()
                print("done", flush=True)
                return
            number = int(message.payload)
            print(f"got {number}", flush=True)
            if mode == "second" or number < int(acked):
                await message.ack()
                print(f"acked {number}", flush=True)


asyncio.run(main())
"""


def numbers_after(lines: list[str], word: str) -> list[int]:
    """The N of every ``word N`` line, in order."""
    pattern = re.compile(rf"^{word} (\d+)$")
    return [int(match[1]) for line in lines if (match := pattern.match(line))]


class PublisherCrash:
    """A broker, a relay to it, a store file, a subscriber, and the publisher processes."""

    def __init__(self, broker: Mosquitto, relay: Relay, topic: str, store: Path, name: str):
        self.broker = broker
        self.relay = relay
        self.topic = topic
        self.store = str(store)
        self.name = name
        self.collector = NumberCollector()

    def publisher(self, mode: str) -> ClientProcess:
        relay = self.relay
        return ClientProcess(
            PUBLISHER, relay.host, str(relay.port), f"pub-{self.name}", self.topic, mode, self.store
        )

    async def run(self, mode: str, fault: Callable[[ClientProcess], Awaitable[None]]) -> list[int]:
        """Run the first process in ``mode``, inject ``fault``, SIGKILL it; resume with a second
        process on the same store; return the numbers the first one printed as accepted."""
        broker = self.broker
        subscriber = persistent_client(
            broker.host, broker.port, f"sub-{self.name}", reconnect=Reconnect(initial_delay=0.05)
        )
        async with subscriber:
            await subscriber.subscribe(self.topic, qos=2)
            collecting = asyncio.create_task(self.collector.collect(subscriber))
            try:
                async with self.publisher(mode) as first:
                    await first.wait_for_line_async("connected False", LINE_GUARD)
                    await fault(first)
                    first.kill()
                    assert await first.wait_async() == -9
                accepted = numbers_after(first.lines, "accepted")
                self.relay.cut()  # (a blackholed connection: the broker sees it end)
                self.relay.forward()
                self.relay.accept()
                async with self.publisher("resume") as second:
                    await second.wait_for_line_async("connected True", LINE_GUARD)
                    await second.wait_for_line_async("done", LINE_GUARD)
                    assert await second.wait_async() == 0, second.stderr
                async with asyncio.timeout(GUARD):
                    await self.collector.ended.wait()
            finally:
                collecting.cancel()
                await asyncio.gather(collecting, return_exceptions=True)
        return accepted

    def resent(self) -> int:
        """How many PUBLISHes with DUP set the broker got from the publisher (its log)."""
        return self.broker.log_text().count(f"Received PUBLISH from pub-{self.name} (d1,")

    def check(self, accepted: list[int]) -> None:
        """Every accepted number arrived; the QoS 2 (odd) ones exactly once."""
        counts = self.collector.counts()
        missing = sorted(set(accepted) - set(counts))
        assert missing == [], (
            f"{len(missing)} of the {len(accepted)} accepted numbers never arrived: {missing}"
        )
        twice = {number: n for number, n in counts.items() if n > 1 and number % 2}
        assert twice == {}, "QoS 2 numbers delivered more than once"


@pytest.fixture
def crash(
    make_mosquitto: MosquittoFactory,
    make_relay: MakeRelay,
    topic: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> PublisherCrash:
    # The subscriber may fall behind the publisher: mosquitto must queue, never drop.
    broker = make_mosquitto(max_queued_messages=100_000)
    name = re.sub(r"\W", "-", request.node.name)[-40:]
    return PublisherCrash(broker, make_relay(broker.port), topic, tmp_path / "pub.db", name)


@pytest.mark.parametrize("path", ["broker-up", "blackholed"])
async def test_killed_publisher_resumes_from_its_store(crash: PublisherCrash, path: str) -> None:
    async def kill_mid_stream(first: ClientProcess) -> None:
        await first.wait_for_line_async(f"accepted {ACCEPTED_BEFORE_KILL}", LINE_GUARD)
        if path == "blackholed":
            crash.relay.blackhole()
            # Something is lost in the silence: acknowledgements, or publishes (the window
            # refills as the acknowledgements on their way arrive).
            await crash.relay.wait_for_async(
                lambda r: r.dropped_to_target + r.dropped_to_client > 0, timeout=GUARD
            )

    accepted = await crash.run("stream", kill_mid_stream)
    assert len(accepted) > ACCEPTED_BEFORE_KILL
    crash.check(accepted)
    if path == "blackholed":
        # What the silence swallowed came from the store: the second process sent it again.
        assert crash.resent() > 0


async def test_publish_accepted_while_disconnected_survives(crash: PublisherCrash) -> None:
    """``publish_nowait`` accepted while reconnecting (the broker unreachable), then SIGKILL."""

    async def kill_while_offline(first: ClientProcess) -> None:
        await first.wait_for_line_async("published", LINE_GUARD)
        crash.relay.refuse()
        crash.relay.cut()  # the connection ends; reconnecting is refused
        await first.wait_for_line_async("queued", LINE_GUARD)

    accepted = await crash.run("offline", kill_while_offline)
    assert accepted == list(range(10, 20))
    crash.check(accepted)


@pytest.mark.parametrize("qos", [1, 2])
async def test_killed_manual_ack_subscriber_gets_the_unacknowledged_again(
    make_mosquitto: MosquittoFactory, topic: str, qos: int
) -> None:
    acked_first, held = ACKED, HELD
    broker = make_mosquitto()  # the broker keeps the session in memory across the kill
    identifier = f"manual-{qos}"

    def subscriber(mode: str) -> ClientProcess:
        return ClientProcess(
            MANUAL_SUBSCRIBER,
            broker.host,
            str(broker.port),
            identifier,
            topic,
            mode,
            str(qos),
            str(acked_first),
        )

    publisher = persistent_client(broker.host, broker.port, f"publisher-{qos}")
    async with publisher:
        async with subscriber("first") as first:
            await first.wait_for_line_async("ready False", LINE_GUARD)
            for number in range(acked_first + held):
                await publisher.publish(topic, str(number), qos=qos)
            # (it acknowledges each of the first ones before it takes the next message)
            await first.wait_for_line_async(f"got {acked_first + held - 1}", LINE_GUARD)
            first.kill()
            assert await first.wait_async() == -9
        # The broker has read the acknowledgements (they were written before the kill, and
        # it reads a connection's bytes before its end) once it has noticed the end.
        await asyncio.to_thread(broker.wait_for_log, f"Client {identifier} closed its connection")
        await publisher.publish(topic, END, qos=qos)
        async with subscriber("second") as second:
            await second.wait_for_line_async("ready True", LINE_GUARD)
            await second.wait_for_line_async("done", LINE_GUARD)
            assert await second.wait_async() == 0, second.stderr

    got_first = numbers_after(first.lines, "got")
    acked = numbers_after(first.lines, "acked")
    got_second = numbers_after(second.lines, "got")
    assert got_first == list(range(acked_first + held))
    assert acked == list(range(acked_first))
    # Exactly the unacknowledged ones came again: none lost, none of the acknowledged ones.
    assert sorted(set(got_second)) == list(range(acked_first, acked_first + held)), got_second
    handled = Counter(acked + numbers_after(second.lines, "acked"))
    assert set(handled) == set(range(acked_first + held))
    if qos == 2:
        assert got_second == list(range(acked_first, acked_first + held))  # once each, in order
        assert all(n == 1 for n in handled.values()), handled
    # The broker sent them again as redeliveries (DUP set).
    redelivered = broker.log_text().count(f"Sending PUBLISH to {identifier} (d1, q{qos}")
    assert redelivered == held
