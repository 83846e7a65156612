"""``asyncmqtt req``: a request to a responder of the library's (``client.respond``), run in
this process while the test serves it; the response printed, and the exit statuses."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from broker import Mosquitto
from cli_helpers import Result

import asyncmqtt
from asyncmqtt.broker import Broker

ACli = Callable[..., Awaitable[Result]]


@contextlib.asynccontextmanager
async def adder(port: int, topic: str) -> AsyncIterator[list[asyncmqtt.Message]]:
    """A responder on ``topic`` that adds up the numbers of each request; yields the requests
    it answered."""
    answered: list[asyncmqtt.Message] = []
    client = asyncmqtt.Client("127.0.0.1", port)
    async with client, client.subscription(topic, qos=1) as requests:

        async def serve() -> None:
            async for request in requests:
                answered.append(request)
                total = sum(json.loads(request.payload))
                properties = asyncmqtt.Properties(content_type="application/json")
                await client.respond(request, json.dumps(total), properties=properties)

        task = asyncio.create_task(serve())
        try:
            yield answered
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    async with Broker(port=0) as broker:
        yield broker


async def test_req_prints_the_response(acli: ACli, broker: Broker, topic: str) -> None:
    async with adder(broker.port, topic) as answered:
        done = await acli(
            "req", "-p", str(broker.port), "-t", topic, "-m", "[1, 2, 39]", "-D", "from=cli"
        )
        assert (done.code, done.out, done.err) == (0, "42\n", "")
        [request] = answered
        assert request.qos == 1
        assert request.properties.user_properties == (("from", "cli"),)
        assert request.properties.response_topic is not None
        # The whole response, as JSON.
        done = await acli("req", "-p", str(broker.port), "-t", topic, "-m", "[5]", "--json")
    assert done.code == 0, done.err
    record = json.loads(done.out)
    assert record["payload"] == "5"
    assert record["topic"] == answered[1].properties.response_topic
    assert record["properties"]["content_type"] == "application/json"
    assert {"correlation_data", "correlation_data_base64"} & set(record["properties"])


async def test_no_response_in_time_exits_with_status_3(
    acli: ACli, broker: Broker, topic: str
) -> None:
    listener = asyncmqtt.Client("127.0.0.1", broker.port)
    async with listener:
        await listener.subscribe(topic)  # (someone listens, nobody answers)
        done = await acli("req", "-p", str(broker.port), "-t", topic, "-n", "--timeout", "0.3")
    assert done.code == 3
    assert done.err.startswith("asyncmqtt req: ")
    assert "0.3" in done.err
    assert len(done.err.splitlines()) == 1


async def test_nobody_subscribed_exits_with_status_4(
    acli: ACli, broker: Broker, topic: str
) -> None:
    done = await acli("req", "-p", str(broker.port), "-t", topic, "-m", "x")
    assert done.code == 4
    assert "NO_MATCHING_SUBSCRIBERS" in done.err


async def test_req_through_mosquitto(acli: ACli, mosquitto: Mosquitto, topic: str) -> None:
    async with adder(mosquitto.port, topic) as answered:
        done = await acli(
            "req",
            "-h",
            mosquitto.host,
            "-p",
            str(mosquitto.port),
            "-t",
            topic,
            "-m",
            "[20, 22]",
            "-v",
        )
    assert done.code == 0, done.err
    [request] = answered
    response_topic = request.properties.response_topic
    assert response_topic is not None
    assert done.out.startswith(f"{response_topic} qos=")
    assert done.out.endswith(" 42\n")
    assert "content_type=application/json" in done.out


def test_req_needs_mqtt_5(cli: Callable[..., Result], mosquitto: Mosquitto, topic: str) -> None:
    where = ["-h", mosquitto.host, "-p", str(mosquitto.port)]
    done = cli("req", *where, "-V", "3.1.1", "-t", topic, "-m", "x")
    assert done.code == 1
    assert "MQTT 5" in done.err
    # It sets the response topic and correlation data itself: no options for them.
    done = cli("req", *where, "-t", topic, "-m", "x", "--response-topic", "r")
    assert done.code == 1
    assert "unrecognized arguments: --response-topic" in done.err
