"""asyncmqtt as a benchmark contender (see common.py for the command line, aio_api.py for what
it does: the same code as the aiomqtt contender), plus what only asyncmqtt has.

``--mode window`` publishes through ``publish_nowait`` with a sliding window of ``--window``
futures (20 by default): once that many are out, it awaits the oldest before the next publish
(the raw reference keeps the same window of 20 in flight). ``--store sqlite`` gives the
publisher and the subscriber each an ``SQLiteStore`` in a temporary directory, removed
afterwards (``sqlite-full``: with ``synchronous="full"``); ``memory`` is the default
``MemoryStore``.

The ``reconnect`` scenario measures how long after a broker restart messages flow again. It
starts a mosquitto of its own (it must restart it; HOST and PORT are not used), connects a
subscriber and a publisher, both with ``Reconnect(initial_delay=0.1, jitter=--jitter,
stable_after=STABLE_AFTER)``, and the publisher publishes a QoS 1 message with
``publish_nowait`` every 1/--rate seconds all along (while the broker is down they wait in its
offline queue). Then, ``--n`` times: wait SETTLE seconds, stop the broker (SIGTERM, waiting for
it to exit), keep it down for a time drawn from the restart's own equal slice of ``--down``
(stratified, so the restarts cover the range evenly: the backoff schedule makes the result
depend on when the broker comes back), start it on the same port, and measure from the moment
it accepts connections (a thread polling with TCP connects every POLL_INTERVAL, started just
before the broker) to the first message the subscriber receives after that. It also records
when each client was connected again. The broker has no persistence: the subscriber's
subscription comes back because the client restores it.

``stable_after``: a connection that stayed up that long starts the backoff afresh. The default
(10 s) would carry the backoff of one restart into the next one, a few seconds later, so each
restart here comes SETTLE seconds after both clients were connected again, with a
``stable_after`` below that: every restart meets clients that had been up "a while", as a
long-running service would be.

The broker runs with ``set_tcp_nodelay true``, as in run.py's latency scenario. Without it,
when the subscriber comes back after the publisher, mosquitto's Nagle algorithm holds the first
PUBLISH to it until the subscriber's kernel acknowledges the SUBACK before it, which a
delayed ACK puts off by about 40 ms: that is the broker's socket option, not the client.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import common
from aio_api import AioApiContender

import asyncmqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from broker import Mosquitto

INITIAL_DELAY = 0.1  # reconnect: Reconnect(initial_delay=...)
STABLE_AFTER = 0.5  # reconnect: Reconnect(stable_after=...), below SETTLE (see the docstring)
SETTLE = 0.7  # reconnect: seconds both clients are connected before the broker stops again
POLL_INTERVAL = 0.0005  # reconnect: seconds between TCP connects while the broker starts
LOG_TYPES = ("error", "warning", "notice", "information")  # as run.py


class AsyncmqttContender(AioApiContender):
    def __init__(self) -> None:
        super().__init__(asyncmqtt, "am")
        self.scenarios["reconnect"] = self.reconnect
        self._store_dir: Path | None = None
        self._stores: list[asyncmqtt.SQLiteStore] = []

    def client(self, options: common.Options, name: str, **extra: Any) -> Any:
        if self._store_dir is not None:
            synchronous = "full" if options.store == "sqlite-full" else "normal"
            store = asyncmqtt.SQLiteStore(self._store_dir / f"{name}.db", synchronous=synchronous)
            self._stores.append(store)
            extra["session_store"] = store
        versions = asyncmqtt.ProtocolVersion
        version = versions.V5 if options.protocol == 5 else versions.V311
        return asyncmqtt.Client(
            options.host, options.port, identifier=f"am-{name}", protocol=version, **extra
        )

    async def throughput(self, options: common.Options) -> dict[str, Any]:
        if options.store == "memory":
            return await super().throughput(options)
        with tempfile.TemporaryDirectory(prefix="asyncmqtt-bench-store-") as directory:
            self._store_dir = Path(directory)
            try:
                result = await super().throughput(options)
                result["store_bytes"] = sum(
                    path.stat().st_size for path in self._store_dir.iterdir()
                )
                return result
            finally:
                self._store_dir = None
                for store in self._stores:
                    store.close()
                self._stores.clear()

    async def publish_all(self, client: Any, options: common.Options) -> None:
        if options.mode != "window":
            await super().publish_all(client, options)
            return
        topic, payload, qos = options.topic, common.PAYLOAD, options.qos
        publish, out = client.publish_nowait, deque[asyncio.Future[int | None]]()
        window = options.window
        for _ in range(options.n):
            if len(out) == window:
                await out.popleft()
            out.append(publish(topic, payload, qos))
        for future in out:
            await future

    async def reconnect(self, options: common.Options) -> dict[str, Any]:
        policy = asyncmqtt.Reconnect(
            initial_delay=INITIAL_DELAY, jitter=options.jitter, stable_after=STABLE_AFTER
        )
        downs = _stratified(options.down, options.n)
        with Mosquitto(log_type=LOG_TYPES, extra=["set_tcp_nodelay true"]) as broker:
            local = dataclasses.replace(options, host=broker.host, port=broker.port)
            subscriber = self.client(local, "reconnect-sub", reconnect=policy)
            publisher = self.client(local, "reconnect-pub", reconnect=policy)
            async with subscriber, publisher:
                await subscriber.subscribe(options.topic, 1)
                arrivals = _Arrivals()
                receiver = asyncio.create_task(arrivals.receive(subscriber))
                feeder = _Feeder(publisher, options.topic, options.rate)
                feeding = asyncio.create_task(feeder.run())
                try:
                    await arrivals.first_after(time.perf_counter(), options.timeout)
                    restarts = _Restarts(broker, subscriber, publisher, arrivals, options.timeout)
                    samples = [await restarts.one(down) for down in downs]
                finally:
                    feeder.stop()
                    await feeding
                    receiver.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await receiver
                unfinished = await feeder.settle(options.timeout)
        firsts = [sample["first_message_s"] for sample in samples]
        return {
            "restarts": len(samples),
            "jitter": options.jitter,
            "initial_delay": INITIAL_DELAY,
            "median_s": statistics.median(firsts),
            "max_s": max(firsts),
            "samples": samples,
            "published": feeder.published,
            "publish_failures": feeder.failures,
            "publish_unfinished": unfinished,
            "received": len(arrivals.times),
        }


def _stratified(down: tuple[float, float], count: int) -> list[float]:
    """``count`` downtimes, one drawn uniformly from each of ``count`` equal slices of the
    range ``down``, in a shuffled order."""
    low, high = down
    width = (high - low) / count
    values = [low + (index + random.random()) * width for index in range(count)]
    random.shuffle(values)
    return values


class _Arrivals:
    """The subscriber's receive times (perf_counter), and a wait for the first after a time."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._event = asyncio.Event()

    async def receive(self, client: Any) -> None:
        async for _message in client.messages:
            self.times.append(time.perf_counter())
            self._event.set()

    async def first_after(self, moment: float, timeout: float) -> float:
        async with asyncio.timeout(timeout):
            while True:
                index = bisect.bisect_right(self.times, moment)
                if index < len(self.times):
                    return self.times[index]
                self._event.clear()
                await self._event.wait()


class _Feeder:
    """Publishes a QoS 1 message with ``publish_nowait`` every 1/rate s until stopped."""

    def __init__(self, client: Any, topic: str, rate: float) -> None:
        self.client = client
        self.topic = topic
        self.interval = 1.0 / rate
        self.published = 0
        self.failures = 0
        self._futures: list[asyncio.Future[int | None]] = []
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        while not self._stopped.is_set():
            future = self.client.publish_nowait(self.topic, common.PAYLOAD, 1)
            future.add_done_callback(self._done)
            self._futures.append(future)
            self.published += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self.interval)

    def _done(self, future: asyncio.Future[int | None]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.failures += 1

    def stop(self) -> None:
        self._stopped.set()

    async def settle(self, timeout: float) -> int:
        """Wait for the outstanding publishes; return how many never finished."""
        pending = [future for future in self._futures if not future.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        return sum(not future.done() for future in self._futures)


async def _reconnected_at(client: Any) -> float:
    """When ``client`` is connected again after it notices the loss (polled every 1 ms)."""
    while client.is_connected:
        await asyncio.sleep(0.001)
    await client.connected()
    return time.perf_counter()


@dataclasses.dataclass
class _Restarts:
    """What one restart needs: the broker, both clients, the subscriber's arrivals."""

    broker: Mosquitto
    subscriber: Any
    publisher: Any
    arrivals: _Arrivals
    timeout: float

    async def one(self, down: float) -> dict[str, Any]:
        """Restart the broker after SETTLE s, down for ``down`` s; what it took, in seconds."""
        await asyncio.sleep(SETTLE)
        clients = (self.subscriber, self.publisher)
        if not all(client.is_connected for client in clients):
            raise RuntimeError("a client was not connected before the restart")
        watchers = [asyncio.create_task(_reconnected_at(client)) for client in clients]
        stopping = time.perf_counter()
        stopped, accepted = await asyncio.to_thread(_restart, self.broker, down)
        first = await self.arrivals.first_after(accepted, self.timeout)
        sub_at, pub_at = await asyncio.wait_for(asyncio.gather(*watchers), self.timeout)
        return {
            "down_s": down,
            "stop_s": stopped - stopping,
            "broker_back_s": accepted - stopped,  # the downtime plus mosquitto's start
            "first_message_s": first - accepted,
            "subscriber_connected_s": sub_at - accepted,
            "publisher_connected_s": pub_at - accepted,
        }


def _restart(broker: Mosquitto, down: float) -> tuple[float, float]:
    """Stop the broker (SIGTERM, waiting for its exit), keep it down ``down`` seconds, start
    it on the same port; return when it had stopped and when it first accepted a connection
    (perf_counter). Runs in a thread: ``start()`` blocks until the broker is ready."""
    broker.stop()
    stopped = time.perf_counter()
    time.sleep(down)
    accepted: list[float] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            try:
                with socket.create_connection((broker.host, broker.port), timeout=1.0):
                    accepted.append(time.perf_counter())
                    return
            except OSError:
                time.sleep(POLL_INTERVAL)

    poller = threading.Thread(target=poll, name="accept-poller")
    poller.start()
    try:
        broker.start()
        poller.join(timeout=5.0)
    finally:
        done.set()
        poller.join()
    if not accepted:
        raise RuntimeError("the broker started but no TCP connect succeeded")
    return stopped, accepted[0]


CONTENDER = AsyncmqttContender()

if __name__ == "__main__":
    common.main("asyncmqtt", CONTENDER.run, asyncmqtt_options=True)
