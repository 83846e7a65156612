"""The broker goes down mid-stream and comes back on the same port; clients reconnect on their own.

A publisher streams COUNT numbered QoS 1 or QoS 2 messages (``publish_nowait``, a window of
WINDOW outcomes open) to a subscriber; both have persistent sessions (clean start off, a
session expiry interval) and ``reconnect`` on. The fault is injected while the publisher is in
the middle of the stream (once it has handed number TRIGGER to the client); the test then
checks every number, and what each publish reported.

Where the broker kept its state (test_restart_mid_stream_loses_nothing; persistence with
``autosave_on_changes``; each client reaches the broker through a relay of its own):

* SIGTERM: mosquitto finishes the loop turn it is in, saves its database and exits, so every
  packet it answered is in the database it comes back with.
* SIGKILL: mosquitto saves after a loop turn that changed something, *after* sending the
  answers of that turn, so a kill can land between an answer and its save. Worse, a QoS 1/2
  message it accepted and sent on at once to an online subscriber is not a change for
  ``autosave_on_changes`` (measured on 2.0.11: no save at all while 100 such messages went
  through; the subscriber's acknowledgements are changes), so ``wait_for_save()`` alone does
  not cover it. To kill a broker whose state is known, the test freezes both relays
  (``blackhole(hold=True)``: nothing more reaches the broker, nothing it sends reaches a
  client), makes one change from a helper client (a retained message) so that the broker
  saves its whole database, waits for that save (``wait_for_save()``), kills it, and cuts the
  frozen connections: whatever the broker did after the save (packets already in its socket
  buffers) never reached a client, as if those packets had been lost in the network. The
  broker comes back with both sessions, the subscription, the messages queued for and in
  flight to the subscriber, and the publisher's QoS 2 messages awaiting PUBREL: everything
  any client was told.

Then QoS 1 delivers every number at least once and QoS 2 exactly once, and every publish
succeeds.

Where the broker lost the session (test_lost_session_follows_the_policy): persistence off, so
the restarted broker knows neither client. The publisher reaches the broker through a
``Valve`` (valve.py) that, from the broker's next PUBACK (QoS 1) or PUBREC (QoS 2) on, drops
everything the publisher sends, so that publishes are surely in flight at the loss: at QoS 1
the ones that refill the window, at QoS 2 the ones whose PUBREL never reached the broker
(mosquitto hands a QoS 2 message to subscribers when PUBREL comes, so the broker that forgot
them never delivered them). They follow ``session_lost_policy``: "fail" fails each with
``SessionLostError`` (none is resent), "resend" publishes them again as new messages. None
vanishes: every number is received or reported as failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from broker import Mosquitto
from fault_helpers import GUARD, persistent_client, wait_until
from fault_streams import END, NumberCollector, NumberPublisher, watch_log
from relay import Relay
from valve import PUBACK, PUBREC, Valve

from asyncmqtt import Client, Reconnect, SessionLostError

if TYPE_CHECKING:
    from conftest import MosquittoFactory

MakeRelay = Callable[[int], Relay]
COUNT = 300
WINDOW = 20
TRIGGER = 100  # the fault is injected once the publisher has handed this number to the client
# Come back quickly: these tests are about what arrives, not about the backoff.
FAST = Reconnect(initial_delay=0.05, max_delay=0.2)
STREAM_GUARD = 20.0  # seconds for the whole stream after the fault
# mosquitto 2.0.11 restores at most max_inflight_messages (default 20) of a client's outgoing
# messages in flight as in flight; the others go back to its queue and start over as new
# PUBLISHes (DUP set), even a QoS 2 message whose PUBREC it had received and whose PUBREL the
# client had answered: the client has rightly forgotten it, so it is delivered twice. The
# broker would not have kept its state: keep every message of the stream within the limit.
MAX_INFLIGHT = 2 * COUNT


def untold(numbers: NumberPublisher, lost: list[int]) -> str:
    """Describe numbers that never arrived, with the outcome their publishes reported."""
    outcomes = sorted({repr(numbers.outcomes.get(n)) for n in lost})
    return f"{len(lost)} never arrived, their publishes reported {outcomes}: {lost}"


async def crash_with_saved_state(broker: Mosquitto, relays: list[Relay]) -> None:
    """SIGKILL the broker at a moment whose state its database holds (module docstring)."""
    for relay in relays:
        relay.blackhole(hold=True)
    # A change of the broker's state, so that it saves its whole database once more (messages
    # in flight to an online subscriber included: see the module docstring).
    async with Client(broker.host, broker.port) as helper:
        await helper.publish("faults/save-trigger", b"save", qos=1, retain=True)
    await asyncio.to_thread(broker.wait_for_save)
    await asyncio.to_thread(broker.kill)
    for relay in relays:
        relay.cut()  # what the broker sent after the save is dropped with the connections
        relay.forward()
    await asyncio.to_thread(broker.start)


async def run_stream(
    publisher: Client,
    subscriber: Client,
    topic: str,
    qos: int,
    fault: Callable[[], object],
) -> tuple[NumberPublisher, NumberCollector]:
    """Subscribe, stream the numbers, inject ``fault`` (awaited) mid-stream, finish with END.

    Inside both clients' blocks. Returns the publisher (its outcomes) and what arrived.
    """
    collector = NumberCollector()
    await subscriber.subscribe(topic, qos=qos)
    collecting = asyncio.create_task(collector.collect(subscriber))
    numbers = NumberPublisher(publisher, topic, qos, COUNT, window=WINDOW, trigger=TRIGGER)
    publishing = asyncio.create_task(numbers.run())
    try:
        async with asyncio.timeout(GUARD):
            await numbers.reached.wait()
        settled = len(numbers.outcomes)
        await fault()  # type: ignore[misc]
        assert settled < COUNT - WINDOW, f"the fault came after the stream ({settled} settled)"
        async with asyncio.timeout(STREAM_GUARD):
            await publishing
            await publisher.publish(topic, END, qos=qos)
            await collector.ended.wait()
    finally:
        for task in (publishing, collecting):
            task.cancel()
        await asyncio.gather(publishing, collecting, return_exceptions=True)
    return numbers, collector


@pytest.mark.parametrize("qos", [1, 2])
@pytest.mark.parametrize("signal", ["SIGTERM", "SIGKILL"])
async def test_restart_mid_stream_loses_nothing(
    make_mosquitto: MosquittoFactory, make_relay: MakeRelay, topic: str, qos: int, signal: str
) -> None:
    broker = make_mosquitto(
        persistence=True, autosave_on_changes=True, max_inflight_messages=MAX_INFLIGHT
    )
    publisher_relay, subscriber_relay = make_relay(broker.port), make_relay(broker.port)
    publisher = persistent_client(
        publisher_relay.host, publisher_relay.port, f"pub-{signal}-{qos}", reconnect=FAST
    )
    subscriber = persistent_client(
        subscriber_relay.host, subscriber_relay.port, f"sub-{signal}-{qos}", reconnect=FAST
    )

    async def fault() -> None:
        if signal == "SIGTERM":
            await asyncio.to_thread(broker.restart)  # SIGTERM: mosquitto saves on the way out
        else:
            await crash_with_saved_state(broker, [publisher_relay, subscriber_relay])

    with watch_log() as log:
        async with subscriber, publisher:
            numbers, collector = await run_stream(publisher, subscriber, topic, qos, fault)
            assert publisher.session_present and subscriber.session_present
    # Both clients saw the loss and came back on their own.
    lost = log.lines(logging.WARNING, " lost: ")
    assert len(lost) >= 2, log.all_lines()
    assert len(log.reconnections()) >= 2, log.all_lines()
    # Every publish succeeded: the broker kept the session, nothing was refused.
    assert numbers.failed() == {}
    assert numbers.succeeded() == set(range(COUNT))
    counts = collector.counts()
    missing = sorted(set(range(COUNT)) - set(counts))
    assert missing == [], f"{len(missing)} lost: {missing[:20]}"
    if qos == 2:
        assert collector.duplicates() == {}, "QoS 2 delivered some numbers more than once"


@pytest.mark.parametrize(
    ("qos", "policy"), [(1, "fail"), (2, "fail"), (1, "resend"), (2, "resend")]
)
async def test_lost_session_follows_the_policy(
    make_mosquitto: MosquittoFactory, topic: str, qos: int, policy: str
) -> None:
    broker = make_mosquitto()  # no persistence: a restart forgets every session
    async with Valve(broker.port) as valve:
        publisher = persistent_client(
            valve.host,
            valve.port,
            f"pub-lost-{policy}-{qos}",
            reconnect=FAST,
            session_lost_policy=policy,
        )
        subscriber = persistent_client(
            broker.host, broker.port, f"sub-lost-{policy}-{qos}", reconnect=FAST
        )

        async def fault() -> None:
            # From the broker's next acknowledgement on, nothing the publisher sends reaches
            # the broker: the publishes that refill its window (QoS 1), or the PUBREL that
            # answers the PUBREC (QoS 2, so the broker never releases that message: mosquitto
            # delivers a QoS 2 message when PUBREL comes), are in flight when the broker
            # forgets the session.
            valve.drop_upstream_after(PUBACK if qos == 1 else PUBREC)
            await wait_until(lambda: valve.dropped > 0, "the publisher's packets to be dropped")
            # The publisher stays away until the subscriber has subscribed again: messages
            # published to a broker with no subscription go nowhere, by MQTT's rules.
            valve.refusing = True
            await asyncio.to_thread(broker.restart)
            valve.cut()
            await wait_until(
                lambda: bool(log.lines(logging.INFO, "subscribed again")),
                "the subscriber to restore its subscription",
            )
            valve.reopen()

        with watch_log() as log:
            async with subscriber, publisher:
                numbers, collector = await run_stream(publisher, subscriber, topic, qos, fault)
                assert not publisher.session_present and not subscriber.session_present
    failed = numbers.failed()
    received = set(collector.received)
    everything = set(range(COUNT))
    if policy == "fail":
        # Each publish in flight at the loss failed, saying why, and was not resent; the others
        # arrived. (None of the failed ones can have arrived: the broker got none of them, or,
        # at QoS 2, never got the PUBREL that would have released it.)
        vanished = sorted(everything - received - set(failed))
        assert vanished == [], untold(numbers, vanished)
        assert failed, "no publish was in flight when the broker lost the session"
        assert len(failed) <= WINDOW
        wrong = {n: e for n, e in failed.items() if not isinstance(e, SessionLostError)}
        assert wrong == {}
        assert received & set(failed) == set()
        assert collector.duplicates() == {}  # nothing was resent
    else:
        # Resent as new messages: every number arrives, at least once.
        assert failed == {}
        missing = sorted(everything - received)
        assert missing == [], untold(numbers, missing)
