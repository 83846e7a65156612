"""Every program in examples/ (except the transports' own) runs against a real broker.

Each example reads MQTT_HOST / MQTT_PORT; each test gives it a fresh mosquitto, runs it as its
own process (as a user would) and checks what it printed and what the broker saw. The web
framework examples are imported and driven in-process instead: their lifespan is entered and
requests go through httpx's ASGI transport, on each event loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import httpx
import pytest
from broker import Mosquitto
from client_helpers import (
    EXAMPLES,
    RunningProgram,
    client_for,
    example_env,
    next_message,
    run_program,
)
from relay import Relay

from asyncmqtt import Client

if TYPE_CHECKING:
    from conftest import MosquittoFactory


def test_scram_authentication() -> None:
    # (It starts its own embedded broker: mosquitto has no enhanced authentication.)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    output = run_program(EXAMPLES / "scram_authentication.py", env).splitlines()
    assert output[:3] == [
        "connected as alice (SCRAM-SHA-256)",
        "received b'hello'",
        "re-authenticated",
    ]
    assert output[3].startswith("a wrong password is refused: [code:135 NOT_AUTHORIZED]")
    assert "(enhanced authentication with method 'SCRAM-SHA-256'" in output[3]
    assert len(output) == 4


def test_failover() -> None:
    # (It starts its own embedded brokers: one goes down, another redirects.)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    output = run_program(EXAMPLES / "failover.py", env).splitlines()
    assert output == [
        "connected to primary",
        "backup: received b'still here'",
        "spare: received b'moved'",
        "connected again to spare",
    ]


def test_connecting(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    assert run_program(EXAMPLES / "connecting.py", example_env(broker)) == ""
    broker.wait_for_log("'temperature/outside', ... (4 bytes)")


def test_publishing(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    output = run_program(EXAMPLES / "publishing.py", example_env(broker)).splitlines()
    assert output[0] == "QoS 1 acknowledged: <PubAckReasonCode.NO_MATCHING_SUBSCRIBERS: 16>"
    assert output[1].startswith("refused locally: topic name must not contain the wildcards")
    log = broker.wait_for_log("Received DISCONNECT")
    assert "(d0, q2, r0, m" in log and "'measurements/humidity'" in log
    assert log.count("'measurements/kinds'") == 5


def test_subscribing(make_mosquitto: MosquittoFactory) -> None:
    output = run_program(EXAMPLES / "subscribing.py", example_env(make_mosquitto()))
    assert output.splitlines() == [
        "subscribed, granted QoS (<SubAckReasonCode.GRANTED_QOS_1: 1>,)",
        "humidity: 0.38",
        "humidity: 0.39",
        "humidity: 0.41",
    ]


def test_filtered_streams(make_mosquitto: MosquittoFactory) -> None:
    output = run_program(EXAMPLES / "filtered_streams.py", example_env(make_mosquitto()))
    lines = output.splitlines()
    assert sorted(lines[:3]) == ["[humidity] 0.38", "[temperature] 28.3", "[unfiltered] 1013"]
    assert lines[3:] == ["[alert] drill"]


def test_router(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    output = run_program(EXAMPLES / "router.py", example_env(broker))
    assert output.splitlines() == [
        "routing home/+/temperature, home/+/+/battery, logs/#, home/control",
        "kitchen: 21.5 °C",
        "door in the hall: battery low (12 %)",
        "log heating/boiler: burner on",
    ]
    # One SUBSCRIBE for the four routes, one UNSUBSCRIBE when the router stopped.
    log = broker.wait_for_log("Received DISCONNECT")
    assert log.count("Received SUBSCRIBE") == 1 and log.count("Received UNSUBSCRIBE") == 1


def test_shared_subscriptions(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    output = run_program(EXAMPLES / "shared_subscriptions.py", example_env(broker))
    # Round robin over three workers, then over the two left.
    assert output.splitlines() == [
        "3 workers ready",
        "12 jobs done, each once (worker 1: 4, worker 2: 4, worker 3: 4)",
        "worker 1 left",
        "6 jobs done, each once (worker 2: 3, worker 3: 3)",
    ]
    # The leaving worker unsubscribed before it disconnected.
    log = broker.wait_for_log("Received DISCONNECT")
    assert "Received UNSUBSCRIBE" in log


def test_sharing_the_connection(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    assert run_program(EXAMPLES / "sharing_the_connection.py", example_env(broker)) == ""
    log = broker.wait_for_log("Received DISCONNECT")
    assert log.count("'temperature/outside'") == 2
    assert log.count("'humidity/inside'") == 2


def test_persistent_sessions(make_mosquitto: MosquittoFactory) -> None:
    output = run_program(EXAMPLES / "persistent_sessions.py", example_env(make_mosquitto()))
    assert output.splitlines() == [
        "session present: True",
        "missed while away: 0.38",
        "missed while away: 0.39",
        "missed while away: 0.41",
    ]


def test_demo(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    lines = run_program(EXAMPLES / "demo.py", example_env(broker)).splitlines()
    assert lines[0] == f"connected to {broker.host}:{broker.port} with MQTT V5"
    assert lines[-1] == "received all 7 readings; done"
    readings = lines[1:-1]
    assert sorted(readings) == sorted(
        [
            "demo/humidity: 0.38",
            "demo/humidity: 0.39",
            "demo/humidity: 0.41",
            "demo/temperature: 28.3",
            "demo/temperature: 28.4",
            "demo/pressure: 1013",
            "demo/pressure: 1012",
        ]
    )
    # Each sensor's readings arrive in the order it sent them.
    humidity = [line for line in readings if "humidity" in line]
    assert humidity == ["demo/humidity: 0.38", "demo/humidity: 0.39", "demo/humidity: 0.41"]
    # One connection for everything.
    assert broker.log_text().count("New client connected") == 1


def test_reconnecting(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    program = RunningProgram(EXAMPLES / "reconnecting.py", example_env(broker))
    try:
        program.expect("connected and subscribed")
        publish(broker, "measurements/humidity", "0.38")
        assert program.expect("measurements/humidity") == "measurements/humidity: 0.38"
        broker.restart()
        assert program.expect("Error").endswith("Reconnecting in 1 s.")
        program.expect("connected and subscribed")
        publish(broker, "measurements/humidity", "0.39")
        assert program.expect("measurements/humidity") == "measurements/humidity: 0.39"
        publish(broker, "measurements/control", "stop")
        assert program.wait() == 0
    finally:
        program.stop()


def test_auto_reconnect(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    program = RunningProgram(EXAMPLES / "auto_reconnect.py", example_env(broker))
    try:
        program.expect("connected and subscribed")
        publish(broker, "measurements/humidity", "0.38")
        assert program.expect("measurements/humidity") == "measurements/humidity: 0.38"
        broker.restart()  # same port, no persistence: the broker forgot the subscription
        lost = program.expect("lost")
        assert lost.startswith(f"WARNING connection to mqtt://{broker.host}:{broker.port} lost")
        assert "reconnecting in" in lost
        assert "session present: False)" in program.expect("again after")
        restored = program.expect("subscribed again")
        assert (
            restored == "INFO the broker had lost the session; subscribed again to 'measurements/#'"
        )
        # The same `async for` goes on: no error reached the example.
        publish(broker, "measurements/humidity", "0.39")
        assert program.expect("measurements/humidity") == "measurements/humidity: 0.39"
        publish(broker, "measurements/control", "stop")
        assert program.wait() == 0
        assert not any("Error" in line or "Traceback" in line for line in program.output)
    finally:
        program.stop()


def test_offline_queue(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    log = PersistentWatcher(broker, "measurements/counter")
    # The example reaches the broker through a relay, which plays the broker going away.
    with Relay(broker.port) as relay:
        env = example_env(broker, MQTT_PORT=str(relay.port))
        program = RunningProgram(EXAMPLES / "offline_queue.py", env)
        try:
            program.expect("reading 2 (connected)")
            relay.refuse()  # new connections fail...
            relay.cut()  # ...and the open one ends
            program.expect("(disconnected: queued)")
            relay.accept()
            program.expect("the broker acknowledged all 20 readings")
            assert program.wait() == 0
        finally:
            program.stop()
    received = [int(payload) for payload in log.read_until("20")]
    # All twenty, in order; one in flight when the connection was cut may come twice (QoS 1,
    # and the broker did not keep the session: it was sent again as a new message).
    assert received == sorted(received)
    assert sorted(set(received)) == list(range(1, 21))


def test_publish_nowait(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    output = run_program(EXAMPLES / "publish_nowait.py", example_env(broker))
    assert output.splitlines() == [
        "1000 acknowledged, 0 failed",
        "window: all 1000 acknowledged",
    ]
    log = broker.wait_for_log("Received DISCONNECT")
    assert log.count("'measurements/counter'") == 1000
    assert log.count("'measurements/window'") == 1000


def test_session_store(make_mosquitto: MosquittoFactory, tmp_path: Path) -> None:
    broker = make_mosquitto()
    log = PersistentWatcher(broker, "meter/energy", qos=2)
    store = str(tmp_path / "meter.mqtt.db")
    with Relay(broker.port) as relay:
        # The first run reaches the broker through a relay that stops passing anything on after
        # two readings (nothing is acknowledged any more), and is killed after five.
        env = example_env(broker, MQTT_PORT=str(relay.port), MQTT_STORE=store)
        program = RunningProgram(EXAMPLES / "session_store.py", env)
        try:
            assert program.expect("connected as") == "connected as meter-1"
            program.expect("reading 2 handed to the client")
            relay.blackhole()
            program.expect("reading 5 handed to the client")
            program.process.kill()  # a crash: no DISCONNECT, nothing cleaned up
            program.process.wait()
        finally:
            program.stop()
    # The second run, with the same store, straight to the broker.
    env = example_env(broker, MQTT_STORE=store)
    output = run_program(EXAMPLES / "session_store.py", env).splitlines()
    assert output[0] == "connected as meter-1"
    assert output[-1] == "all 10 readings acknowledged"
    received = log.read_until("reading 10")
    # What the first run handed over (at least readings 1 to 5), each exactly once, although
    # the broker acknowledged only the first two before the crash; then the second run's ten.
    first_run = len(received) - 10
    assert first_run >= 5
    assert received == [f"reading {n}" for n in range(1, first_run + 1)] + [
        f"reading {n}" for n in range(1, 11)
    ]
    # The readings the broker had not acknowledged were resent in the stored session (DUP).
    assert "Received PUBLISH from meter-1 (d1, q2" in broker.log_text()


def test_topic_aliases(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    output = run_program(EXAMPLES / "topic_aliases.py", example_env(broker)).splitlines()
    topic = "factory/hall-7/line-3/station-12/spindle/temperature"
    # Each QoS 1 PUBLISH with the topic is 63 bytes; with aliases the first is 66 (the topic
    # and its alias) and the others 14 (the alias alone).
    assert output[:2] == [
        "the broker accepts 10 topic aliases",
        "4 publishes: 252 bytes with the topic, 108 with an alias",
    ]
    assert output[2:] == [f"{topic}: {reading}" for reading in ("61.2", "61.4", "61.9", "62.3")] * 2
    # mosquitto itself saw the aliased publishes as the topic (it logs it resolved).
    assert broker.log_text().count(f"'{topic}'") >= 8


def test_manual_ack(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    output = run_program(EXAMPLES / "manual_ack.py", example_env(broker))
    assert output.splitlines() == [
        "resized photo-1.jpg",
        "left before resizing photo-2.jpg: not acknowledged",
        "delivered again: photo-2.jpg",
        "resized photo-2.jpg",
    ]
    log = broker.log_text()
    # The broker sent photo-2.jpg again, as a duplicate, and then got its acknowledgement.
    assert "Sending PUBLISH to resizer (d1, q1, r0, m2, 'jobs/resize'" in log
    assert log.count("Received PUBACK from resizer (Mid: 2, RC:0)") == 1
    assert log.count("Received PUBACK from resizer") == 2


def test_client_stats(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    program = RunningProgram(EXAMPLES / "client_stats.py", example_env(broker))
    try:
        # The log record (stderr, shown with the output) once logging is configured.
        assert program.expect("connected to").startswith(
            f"INFO asyncmqtt: connected to mqtt://{broker.host}:{broker.port} (MQTT 5.0, "
            "client identifier 'sensor-1', session present: False)"
        )
        assert program.expect("sent by QoS") == "sent by QoS: [1, 3, 0], received: [1, 3, 0]"
        assert program.expect("acknowledged") == "acknowledged: 3, refused: {}"
        assert program.expect("connections") == "connections: 1, lost: 0"
        assert program.expect("in flight") == "in flight: 0, waiting to be read: 0"
        assert program.expect("bytes_sent").startswith("['bytes_received', 'bytes_sent', ")
        assert program.wait() == 0
    finally:
        program.stop()


def test_opentelemetry_tracing(make_mosquitto: MosquittoFactory) -> None:
    output = run_program(EXAMPLES / "opentelemetry_tracing.py", example_env(make_mosquitto()))
    lines = output.splitlines()
    spans = {}  # name -> (trace, span, parent)
    for line in lines:
        if " trace " in line:
            name, _, ids = line.partition(" trace ")
            trace_id, _, rest = ids.partition(" span ")
            span_id, _, parent = rest.partition(" parent ")
            spans[name] = (trace_id, span_id, parent)
    assert sorted(spans) == [
        "process measurements/humidity (CONSUMER)",
        "publish measurements/humidity (PRODUCER)",
        "read sensor (INTERNAL)",
        "receive measurements/humidity (CONSUMER)",
        "store reading (INTERNAL)",
    ]
    # One trace, from the sensor's span to the archiver's: read sensor -> publish ->
    # receive, process -> store reading.
    assert len({trace_id for trace_id, _, _ in spans.values()}) == 1
    read = spans["read sensor (INTERNAL)"]
    publish = spans["publish measurements/humidity (PRODUCER)"]
    receive = spans["receive measurements/humidity (CONSUMER)"]
    process = spans["process measurements/humidity (CONSUMER)"]
    store = spans["store reading (INTERNAL)"]
    assert read[2] == "-" and publish[2] == read[1]
    assert receive[2] == publish[1] and process[2] == publish[1] and store[2] == process[1]
    assert "stored measurements/humidity: 0.38" in lines
    assert "messaging.client.sent.messages sensor 1" in lines
    assert "messaging.client.consumed.messages archiver 1" in lines
    assert "asyncmqtt.client.publishes.acknowledged sensor 1" in lines


class PersistentWatcher:
    """A persistent session subscribed to ``topic``: it collects what is published while it is
    away, and reads it afterwards (this test is synchronous)."""

    def __init__(self, broker: Mosquitto, topic: str, qos: int = 1) -> None:
        self.broker = broker

        async def subscribe() -> None:
            async with self._client() as client:
                await client.subscribe(topic, qos=qos)

        asyncio.run(subscribe())

    def _client(self) -> Client:
        return client_for(self.broker, identifier="watcher", clean_session=False)

    def read_until(self, last: str) -> list[str]:
        """The payloads received, up to the first one equal to ``last``."""

        async def read() -> list[str]:
            payloads: list[str] = []
            async with self._client() as client:
                while not payloads or payloads[-1] != last:
                    payloads.append((await next_message(client.messages)).payload.decode())
            return payloads

        return asyncio.run(read())


def publish(broker: Mosquitto, topic: str, payload: str) -> None:
    """Publish one message with a client of our own (this test is synchronous)."""

    async def once() -> None:
        async with client_for(broker) as client:
            await client.publish(topic, payload, qos=1)

    asyncio.run(once())


# ---------------------------------------------------------------- web frameworks, in-process


def load_example(name: str, monkeypatch: pytest.MonkeyPatch, broker: Mosquitto) -> ModuleType:
    monkeypatch.setenv("MQTT_HOST", broker.host)
    monkeypatch.setenv("MQTT_PORT", str(broker.port))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_leftover_modules() -> Iterator[None]:
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("example_"):
            del sys.modules[name]


@pytest.mark.parametrize("name", ["web_starlette", "web_fastapi"])
async def test_web_framework_lifespan(
    make_mosquitto: MosquittoFactory,
    monkeypatch: pytest.MonkeyPatch,
    no_leftover_modules: None,
    name: str,
) -> None:
    # Persistence: the watcher's session (and what is published for it) survives the restart.
    broker = make_mosquitto(persistence=True)
    app = load_example(name, monkeypatch, broker).app
    watcher = client_for(broker, identifier="watcher", clean_session=False, reconnect=True)
    async with watcher:
        await watcher.subscribe("measurements/humidity", qos=1)
        # The application's lifespan: the shared client connects on startup...
        async with app.router.lifespan_context(app) as state:
            transport = httpx.ASGITransport(app=_with_state(app, state))
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                for value in ("0.38", "0.39"):
                    response = await http.post(f"/humidity/{value}")
                    assert response.status_code == 200
                    message = await next_message(watcher.messages)
                    assert message.payload == value.encode()
                # ...comes back by itself after the broker restarted...
                await asyncio.to_thread(broker.restart)
                response = await http.post("/humidity/0.41")
                assert response.status_code == 200
                message = await next_message(watcher.messages)
                assert message.payload == b"0.41"
        # ...and disconnects on shutdown.
        log = broker.wait_for_log("Received DISCONNECT")
        # The application's client and the watcher, each before and after the restart.
        assert log.count("New client connected") == 4


def test_request_response(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    env = example_env(broker)
    responder = RunningProgram(EXAMPLES / "request_response_responder.py", env)
    try:
        responder.expect("ready")
        output = run_program(EXAMPLES / "request_response_requester.py", env)
        assert output.splitlines() == [
            "1 + 2 + 3 = 6",
            "doubles: [2, 4, 6, 8, 10]",
            "refused: bad numbers",
            "no such service: [code:16 NO_MATCHING_SUBSCRIBERS] request on 'services/nobody': "
            "the broker says no subscription matches the topic, so nobody will respond",
        ]
        # Another MQTT 5 client's requests are answered too: mosquitto's own mosquitto_rr.
        asked = subprocess.run(
            [
                "mosquitto_rr",
                "-h",
                broker.host,
                "-p",
                str(broker.port),
                "-t",
                "services/adder",
                "-e",
                "replies/rr",
                "-m",
                "[40, 2]",
                "-W",
                "10",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert asked.stdout == "42\n"
    finally:
        responder.stop()


def _with_state(app: object, state: object) -> object:
    """An ASGI app that hands the lifespan state to each request, as servers do."""

    async def asgi(scope: dict[str, object], receive: object, send: object) -> None:
        if state:
            scope = {**scope, "state": dict(state)}  # type: ignore[call-overload]
        await app(scope, receive, send)  # type: ignore[operator]

    return asgi


def test_every_example_is_tested() -> None:
    tested = {
        "connecting",
        "publishing",
        "subscribing",
        "filtered_streams",
        "sharing_the_connection",
        "shared_subscriptions",
        "persistent_sessions",
        "demo",
        "reconnecting",
        "auto_reconnect",
        "offline_queue",
        "publish_nowait",
        "session_store",
        "manual_ack",
        "topic_aliases",
        "web_starlette",
        "web_fastapi",
        "client_stats",
        "opentelemetry_tracing",
        "request_response_requester",
        "request_response_responder",
        "scram_authentication",
        "failover",
    }
    transports_own = {"tls", "proxy", "over_websockets"}  # tested in tests/transports/
    router_own = {"router"}  # tested in tests/client/test_router.py
    # The embedded broker's, each starting its own: tested in tests/broker/test_embedded_examples.py
    broker_own = {
        "embedded_broker",
        "broker_listeners",
        "broker_hooks",
        "broker_enhanced_auth",
        "broker_limits",
    }
    present = {path.stem for path in EXAMPLES.glob("*.py")}
    assert present - transports_own - router_own - broker_own == tested
