"""paho-mqtt 2.2 as a benchmark contender (see common.py for the command line).

paho runs its network loop in a thread per client (``loop_start``); this process's main
thread publishes. MQTT 5.0 unless ``--protocol 4`` (3.1.1). paho keeps at most 20 QoS 1/2
messages in flight by default (its ``max_inflight_messages``) and queues the rest. Modes:
``seq`` waits for each QoS 1/2 publish to complete (``wait_for_publish``) before the next;
``concurrent`` hands all of them to paho at once, its usual use. At QoS 0 the two are the same.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import common
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

FD_SETSIZE = 1024  # select()'s limit on Linux
FDS_PER_CLIENT = 3  # the client's socket and its wake-up socket pair
RESERVED_FDS = 32  # stdio, the warm-up client, Python's own


class _Paho:
    """One paho client with its loop thread, connected and ready."""

    def __init__(self, options: common.Options, identifier: str) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=identifier,
            protocol=mqtt.MQTTv5 if options.protocol == 5 else mqtt.MQTTv311,
        )
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.client.on_connect = lambda *_args: self._connected.set()
        self.client.on_subscribe = lambda *_args: self._subscribed.set()
        self._options = options

    def start(self) -> None:
        self.begin()
        self.wait_connected()

    def begin(self) -> None:
        """Connect the socket and start the network thread; CONNACK comes later."""
        self.client.connect(self._options.host, self._options.port)
        self.client.loop_start()

    def wait_connected(self) -> None:
        if not self._connected.wait(self._options.timeout):
            raise TimeoutError("paho: no CONNACK")

    def subscribe(self, topic: str, qos: int) -> None:
        self._subscribed.clear()
        self.client.subscribe(topic, qos)
        if not self._subscribed.wait(self._options.timeout):
            raise TimeoutError("paho: no SUBACK")

    def on_message(self, handle: Callable[[mqtt.MQTTMessage], None]) -> None:
        self.client.on_message = lambda _client, _userdata, message: handle(message)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class _Counter:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.done = threading.Event()

    def __call__(self, _message: mqtt.MQTTMessage) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done.set()


def _pair(options: common.Options) -> tuple[_Paho, _Paho]:
    subscriber, publisher = _Paho(options, "paho-sub"), _Paho(options, "paho-pub")
    subscriber.start()
    subscriber.subscribe(options.topic, options.qos)
    publisher.start()
    return subscriber, publisher


def throughput(options: common.Options) -> dict[str, Any]:
    subscriber, publisher = _pair(options)
    counter = _Counter(options.n)
    subscriber.on_message(counter)
    publish = publisher.client.publish
    topic, payload, qos = options.topic, common.PAYLOAD, options.qos
    wait_each = options.mode == "seq" and qos > 0
    window = common.Window(options.broker_pid)
    window.start()
    for _ in range(options.n):
        info = publish(topic, payload, qos)
        if wait_each:
            info.wait_for_publish(options.timeout)
    if not counter.done.wait(options.timeout):
        raise TimeoutError(f"paho: {counter.count} of {options.n} messages arrived")
    window.stop()
    publisher.stop()
    subscriber.stop()
    return {"received": counter.count, **window.fields(options.n)}


def latency(options: common.Options) -> dict[str, Any]:
    import time

    count = common.send_times(options.rate, options.duration)
    subscriber, publisher = _pair(options)
    samples: list[float] = []
    done = threading.Event()

    def receive(message: mqtt.MQTTMessage) -> None:
        samples.append(common.latency_us(bytes(message.payload)))
        if len(samples) == count:
            done.set()

    subscriber.on_message(receive)
    start = time.monotonic()
    for i in range(count):
        delay = start + i / options.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        publisher.client.publish(options.topic, common.stamp_payload(), options.qos)
    if not done.wait(options.timeout):
        raise TimeoutError(f"paho: {len(samples)} of {count} messages arrived")
    publisher.stop()
    subscriber.stop()
    return {"n": count, **common.latency_fields(samples, count)}


def many(options: common.Options) -> dict[str, Any]:
    """N paho clients, each with its own network thread (paho's loop_start).

    The clients connect, subscribe and publish all at once, not one after the other: with a
    thousand network threads, each waiting in turn took minutes.

    paho-mqtt's network loop uses ``select()``, which only watches file descriptors below
    FD_SETSIZE (1024), and each client holds three (its socket and a wake-up socket pair): up
    to about 300 clients work, beyond that the loop threads fail and no CONNACK is ever seen.
    So a count that cannot work is refused at once, with the reason, instead of timing out.
    """
    if FDS_PER_CLIENT * options.n + RESERVED_FDS > FD_SETSIZE:
        raise RuntimeError(
            f"paho-mqtt cannot run {options.n:,} clients in one process: its network loop uses "
            f"select(), limited to file descriptors below {FD_SETSIZE}, and each client holds "
            f"{FDS_PER_CLIENT}"
        )

    def round_trip(index: int, client: _Paho) -> threading.Event:
        arrived = threading.Event()
        client.on_message(lambda _message: arrived.set())
        topic = f"{options.topic}/many/{index}"
        # Publish once the SUBACK is in (paho calls on_subscribe in its network thread).
        client.client.on_subscribe = lambda *_args: client.client.publish(topic, common.PAYLOAD, 1)
        client.client.subscribe(topic, 1)
        return arrived

    warm = _Paho(options, "paho-warm")
    warm.start()
    if not round_trip(-1, warm).wait(options.timeout):
        raise TimeoutError("paho: the warm-up message did not arrive")
    warm.stop()
    before = common.rss_bytes()
    # The client objects count: a library may allocate when made or when connecting.
    clients = [_Paho(options, f"paho-many-{i}") for i in range(options.n)]
    connect = common.Window(options.broker_pid)
    connect.start()
    for client in clients:
        client.begin()
    for client in clients:
        client.wait_connected()
    connect.stop()
    connected = common.rss_bytes()
    work = common.Window(options.broker_pid)
    work.start()
    arrivals = [round_trip(index, client) for index, client in enumerate(clients)]
    for arrived in arrivals:
        if not arrived.wait(options.timeout):
            raise TimeoutError("paho: a many-clients message did not arrive")
    work.stop()
    active = common.rss_bytes()
    for client in clients:
        client.stop()
    return common.many_fields(
        clients=options.n,
        before=before,
        connected=connected,
        active=active,
        connect=connect,
        work=work,
    )


def queued(options: common.Options) -> dict[str, Any]:
    """paho has no queue of its own: the usual pattern puts each message into a queue.Queue."""
    subscriber = _Paho(options, "paho-queue")
    subscriber.start()
    subscriber.subscribe(options.topic, 0)
    messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscriber.on_message(messages.put)
    before = common.rss_bytes()
    common.feed_messages(options, options.n)
    common.wait_until(lambda: messages.qsize() >= options.n, options.timeout, "queued messages")
    after = common.rss_bytes()
    waiting = messages.qsize()
    subscriber.stop()
    return common.queued_fields(waiting, before, after)


SCENARIOS = {"throughput": throughput, "latency": latency, "many": many, "queued": queued}


def run(options: common.Options) -> dict[str, Any]:
    return SCENARIOS[options.scenario](options)


if __name__ == "__main__":
    common.main("paho", run)
