"""A network path that goes silent is noticed by the keepalive, and the client comes back.

The client reaches the broker through a relay; ``relay.blackhole()`` makes the path drop
everything both ways without closing anything, as a dead router or a pulled cable would: no
FIN, no RST, only silence. The client must notice it by itself within 1.5 keepalives (it sends
PINGREQ after a keepalive of silence and gives the broker half a keepalive to answer), log the
loss with its cause, and reconnect through the relay once the path forwards again; the old
connection is dead for good (its bytes were dropped), so only a new one can carry messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from fault_helpers import GUARD, persistent_client, take, wait_until
from fault_streams import watch_log
from relay import Relay

from asyncmqtt import Client, Reconnect

if TYPE_CHECKING:
    from conftest import MosquittoFactory

KEEPALIVE = 1  # seconds
# The bound is a correctness property (issue 11), not a benchmark: the keepalive logic must
# fail the connection 1.5 keepalives after the path went silent at the latest. The margin is
# for a busy test machine (timer and thread scheduling, the 10 ms polls below).
NOTICE_BOUND = 1.5 * KEEPALIVE
MARGIN = 0.5
# A connect attempt made while the path is still a blackhole never gets its CONNACK: the
# client's timeout (which bounds each attempt) ends it, and the next attempt goes through.
ATTEMPT_TIMEOUT = 1.0


async def test_blackhole_is_noticed_within_one_and_a_half_keepalives_then_reconnects(
    make_mosquitto: MosquittoFactory, make_relay: Callable[[int], Relay], topic: str
) -> None:
    broker = make_mosquitto()
    relay = make_relay(broker.port)
    client = persistent_client(
        relay.host,
        relay.port,
        "behind-a-blackhole",
        keepalive=KEEPALIVE,
        timeout=ATTEMPT_TIMEOUT,
        reconnect=Reconnect(initial_delay=0.1, max_delay=0.2),
    )
    with watch_log() as log:
        async with Client(broker.host, broker.port) as other, client:
            await client.subscribe(f"{topic}/in", qos=1)
            await other.subscribe(f"{topic}/out", qos=1)
            await other.publish(f"{topic}/in", b"before", qos=1)
            (message,) = await take(client.messages, 1)
            assert message.payload == b"before"
            accepted = relay.accepted

            blackholed_at = time.monotonic()
            relay.blackhole()
            await wait_until(lambda: not client.is_connected, "the client to notice the loss")
            polled = time.monotonic() - blackholed_at
            # (The reconnecting task logs the loss when it starts, a loop turn later.)
            await wait_until(lambda: bool(log.lines(logging.WARNING, " lost: ")), "the log line")
            lost = log.lines(logging.WARNING, " lost: ")
            assert len(lost) == 1, log.all_lines()
            logged_at, text = lost[0]
            noticed = logged_at - blackholed_at
            assert "keepalive" in text, text  # the silence was noticed, nothing else
            assert noticed <= NOTICE_BOUND + MARGIN, (noticed, text)
            assert polled <= NOTICE_BOUND + MARGIN, polled

            relay.forward()
            async with asyncio.timeout(GUARD):
                await client.connected()
            assert relay.accepted > accepted  # a new connection through the relay
            assert client.session_present  # the broker kept the session (it never restarted)
            # Messages flow end to end again, both ways; the stream went on across the loss.
            await other.publish(f"{topic}/in", b"after", qos=1)
            (message,) = await take(client.messages, 1)
            assert message.payload == b"after"
            assert await client.publish(f"{topic}/out", b"back", qos=1) == 0
            (message,) = await take(other.messages, 1)
            assert message.payload == b"back"
    assert len(log.reconnections()) == 1, log.all_lines()
