"""Every program in examples/ (except the transports' own) runs against a real broker.

Each example reads MQTT_HOST / MQTT_PORT; each test gives it a fresh mosquitto, runs it as its
own process (as a user would) and checks what it printed and what the broker saw. The web
framework examples are imported and driven in-process instead: their lifespan is entered and
requests go through httpx's ASGI transport, on each event loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator
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

if TYPE_CHECKING:
    from conftest import MosquittoFactory


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
    broker = make_mosquitto()
    app = load_example(name, monkeypatch, broker).app
    async with client_for(broker) as watcher:
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
        # ...and disconnects on shutdown.
        assert broker.log_text().count("New client connected") == 2
        broker.wait_for_log("Received DISCONNECT")


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
        "persistent_sessions",
        "demo",
        "reconnecting",
        "web_starlette",
        "web_fastapi",
    }
    transports_own = {"tls", "proxy", "over_websockets"}  # tested in tests/transports/
    present = {path.stem for path in EXAMPLES.glob("*.py")}
    assert present - transports_own == tested
