"""Many clients of one broker that restarts come back spread out, not as a thundering herd.

CLIENTS clients (one process, one event loop, distinct identifiers) with reconnection on lose
the broker at the same instant (SIGTERM); it stays down for DOWN seconds and comes back on the
same port. Every client must reconnect, and the moments they do must show the jitter.

The policy: ``Reconnect(initial_delay=1.0, max_delay=2.0, jitter=True)``: the wait before each
attempt is drawn uniformly below a ceiling ("full jitter") of 1 s plus the time already waited,
up to 2 s. The first attempt of each client comes a uniform [0, 1) s after the loss; one that
comes at w s, before the broker is back, waits again a uniform [0, 1 + w) s. So the returns
spread over about 0.5 .. 2.5 s after the loss, roughly 10 to 20 clients per 50 ms at the
densest. Without jitter
all of them would attempt at the same instants (1 s, then 3 s after the loss) and come back
within a few milliseconds of each other. The assertions leave wide room on both sides: the
returns span at least half the initial delay, and no 50 ms window holds a third of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from fault_helpers import wait_until

from asyncmqtt import Client, Reconnect

if TYPE_CHECKING:
    from conftest import MosquittoFactory

CLIENTS = 200
POLICY = Reconnect(initial_delay=1.0, max_delay=2.0, jitter=True)
DOWN = 0.5  # seconds the broker stays down
WINDOW = 0.05  # seconds
RETURN_GUARD = 15.0  # seconds for all to come back (the policy needs about 3.5 at most)


def densest(times: list[float], width: float) -> int:
    """The most of ``times`` that fall within one interval of ``width``."""
    ordered = sorted(times)
    most = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] > width:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_two_hundred_clients_reconnect_spread_out_by_the_jitter(
    make_mosquitto: MosquittoFactory,
) -> None:
    # Not every packet logged ("all"): 200 clients. mosquitto 2.0.11 logs its "running" line,
    # which start() waits for, as "information", not "notice".
    broker = make_mosquitto(log_type=("error", "warning", "notice", "information"))
    loop = asyncio.get_running_loop()
    clients = [
        Client(broker.host, broker.port, identifier=f"herd-{n}", reconnect=POLICY)
        for n in range(CLIENTS)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client)
        assert all(client.is_connected for client in clients)

        await asyncio.to_thread(broker.stop)
        stopped_at = loop.time()
        await wait_until(
            lambda: not any(client.is_connected for client in clients),
            "every client to notice that the broker is gone",
        )

        async def back(client: Client) -> float:
            await client.connected()
            return loop.time() - stopped_at

        returns = [asyncio.create_task(back(client)) for client in clients]
        # The scenario: the broker stays down for DOWN seconds (not a synchronisation).
        await asyncio.sleep(DOWN)
        await asyncio.to_thread(broker.start)
        try:
            async with asyncio.timeout(RETURN_GUARD):
                times = await asyncio.gather(*returns)
        finally:
            for task in returns:
                task.cancel()
        assert all(client.is_connected for client in clients)

    span = max(times) - min(times)
    crowd = densest(times, WINDOW)
    summary = f"returns from {min(times):.3f} to {max(times):.3f} s, {crowd} within {WINDOW} s"
    assert span >= POLICY.initial_delay / 2, summary
    assert crowd <= CLIENTS // 3, summary
