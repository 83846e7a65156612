"""Request/response end to end: ``client.request`` / ``client.respond`` through a real mosquitto
and through the embedded broker (which, unlike mosquitto 2.0.11, grants Response Information
when asked)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
from both_brokers import AnyBroker
from client_helpers import GUARD_SECONDS, client_for, next_message

from asyncmqtt import (
    Client,
    Message,
    MqttCodeError,
    MqttTimeoutError,
    Properties,
    ProtocolVersion,
    Reconnect,
)

if TYPE_CHECKING:
    from conftest import MosquittoFactory

ASK_FOR_RESPONSE_INFORMATION = Properties(request_response_information=True)


@pytest.fixture
def embedded_settings() -> dict[str, Any]:
    """The embedded broker of ``broker`` grants Response Information (mosquitto cannot)."""
    return {"response_information": "replies/"}


async def answer_all(responder: Client, requests: AsyncIterator[Message]) -> None:
    """Answer every request with its payload in capitals."""
    async for request in requests:
        await responder.respond(request, request.payload.upper())


async def test_concurrent_requests_each_get_their_own_response(
    broker: AnyBroker, topic: str
) -> None:
    service = f"{topic}/upper"
    async with client_for(broker) as responder, client_for(broker) as requester:
        async with responder.subscription(service, qos=1) as requests:
            serving = asyncio.create_task(answer_all(responder, requests))
            async with asyncio.timeout(GUARD_SECONDS):
                responses = await asyncio.gather(
                    *(requester.request(service, f"word {n}") for n in range(20))
                )
            serving.cancel()
        assert [r.payload for r in responses] == [f"WORD {n}".encode() for n in range(20)]
        assert len({r.properties.correlation_data for r in responses}) == 20
        assert len(requester.messages) == 0 and requester.stats.responses_discarded == 0


async def test_responses_answered_out_of_order_are_matched(broker: AnyBroker, topic: str) -> None:
    service = f"{topic}/batch"
    async with client_for(broker) as responder, client_for(broker) as requester:
        await responder.subscribe(service, qos=1)
        tasks = [asyncio.create_task(requester.request(service, str(n))) for n in range(5)]
        received = [await next_message(responder.messages) for _ in range(5)]
        for request in reversed(received):  # the last request is answered first
            await responder.respond(request, b"re " + request.payload)
        async with asyncio.timeout(GUARD_SECONDS):
            responses = await asyncio.gather(*tasks)
        assert [r.payload for r in responses] == [f"re {n}".encode() for n in range(5)]


async def test_a_timeout_raises_and_the_late_response_is_discarded(
    broker: AnyBroker, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    service = f"{topic}/slow"
    async with client_for(broker) as responder, client_for(broker) as requester:
        await responder.subscribe(service, qos=1)
        with pytest.raises(MqttTimeoutError, match="waiting for the response"):
            await requester.request(service, b"late", timeout=0.5)
        request = await next_message(responder.messages)
        await responder.respond(request, b"too late")
        async with asyncio.timeout(GUARD_SECONDS):
            while requester.stats.responses_discarded < 1:
                await asyncio.sleep(0.01)
        assert len(requester.messages) == 0
        assert any(
            r.levelno == logging.WARNING and "discarded a message on the response topic" in m
            for r in caplog.records
            if (m := r.getMessage())
        )
        # The requester goes on working.
        asking = asyncio.create_task(requester.request(service, b"again"))
        await responder.respond(await next_message(responder.messages), b"in time")
        async with asyncio.timeout(GUARD_SECONDS):
            assert (await asking).payload == b"in time"


async def test_respond_to_a_message_that_is_no_request_raises_and_sends_nothing(
    broker: AnyBroker, topic: str
) -> None:
    async with client_for(broker) as client:
        await client.subscribe(f"{topic}/#", qos=1)
        await client.publish(f"{topic}/plain", b"not a request", qos=1)
        plain = await next_message(client.messages)
        with pytest.raises(ValueError, match="has no Response Topic"):
            await client.respond(plain, b"answer")
        with pytest.raises(ValueError, match="copies the request's correlation data"):
            fake = Properties(response_topic=f"{topic}/r", correlation_data=b"1")
            request = Message(f"{topic}/q", b"", 1, False, 1, properties=fake)
            await client.respond(request, b"x", properties=Properties(correlation_data=b"2"))
        # Nothing was sent, and the connection is still usable.
        await client.publish(f"{topic}/after", b"still fine", qos=1)
        after = await next_message(client.messages)
        assert after.topic.value == f"{topic}/after"


async def test_no_responder_fails_fast(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as requester:
        with pytest.raises(MqttCodeError, match="no subscription matches"):
            await requester.request(f"{topic}/nobody", b"x", timeout=GUARD_SECONDS)


async def test_mqtt_311_raises_a_clear_error(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker, protocol=ProtocolVersion.V311) as client:
        with pytest.raises(ValueError, match=r"needs MQTT 5.0 .* uses MQTT 3.1.1"):
            await client.request(f"{topic}/svc", b"x")
        request = Message(f"{topic}/q", b"", 1, False, 1)
        with pytest.raises(ValueError, match=r"respond\(\) needs MQTT 5.0"):
            await client.respond(request, b"x")


async def test_the_response_topic_uses_response_information_when_the_broker_grants_it(
    broker: AnyBroker, broker_kind: str, topic: str
) -> None:
    service = f"{topic}/where"
    options = {"identifier": "rr-info", "properties": ASK_FOR_RESPONSE_INFORMATION}
    async with client_for(broker) as responder, client_for(broker, **options) as requester:
        async with responder.subscription(service, qos=1) as requests:
            serving = asyncio.create_task(answer_all(responder, requests))
            response = await requester.request(service, b"x", timeout=GUARD_SECONDS)
            serving.cancel()
        if broker_kind == "mosquitto":
            assert requester.server.response_information is None  # mosquitto grants none
            assert response.topic.value == "asyncmqtt/responses/rr-info"
        else:
            assert requester.server.response_information == "replies/"
            assert response.topic.value == "replies/rr-info"


# mosquitto only: its log is what shows the client subscribing again after the restart.
async def test_the_response_subscription_comes_back_after_the_broker_lost_it(
    make_mosquitto: MosquittoFactory, topic: str
) -> None:
    broker = make_mosquitto()  # no persistence: a restart forgets every session
    service = f"{topic}/svc"
    steady = Reconnect(initial_delay=0.1, max_delay=0.1, jitter=False)
    responder = Client(broker.host, broker.port, reconnect=steady)
    requester = Client(broker.host, broker.port, identifier="rr-requester", reconnect=steady)
    async with responder, requester:
        await responder.subscribe(service, qos=1)
        serving = asyncio.create_task(answer_all(responder, responder.messages))
        try:
            first = await requester.request(service, b"before", timeout=GUARD_SECONDS)
            broker.restart()
            async with asyncio.timeout(GUARD_SECONDS):
                while requester.stats.connections < 2 or responder.stats.connections < 2:
                    await asyncio.sleep(0.01)
            # The client subscribed again to the response topic (the broker forgot it).
            broker.wait_for_log("rr-requester 2 asyncmqtt/responses/rr-requester")
            second = await requester.request(service, b"after", timeout=GUARD_SECONDS)
        finally:
            serving.cancel()
    assert (first.payload, second.payload) == (b"BEFORE", b"AFTER")
    assert broker.log_text().count("rr-requester 2 asyncmqtt/responses/rr-requester") == 2


# mosquitto only: a recipe for mosquitto's ACL file (the embedded broker has an authorize hook).
async def test_a_mosquitto_acl_can_reserve_each_client_its_response_topic(
    make_mosquitto: MosquittoFactory,
) -> None:
    # Anyone may publish requests and responses; each client alone reads its responses.
    acl = (
        "topic readwrite svc/#\n"
        "topic write asyncmqtt/responses/#\n"
        "pattern read asyncmqtt/responses/%c\n"
    )
    broker = make_mosquitto(acl=acl)
    async with (
        Client(broker.host, broker.port, identifier="alice") as alice,
        Client(broker.host, broker.port, identifier="bob") as bob,
        Client(broker.host, broker.port, identifier="mallory") as mallory,
    ):
        # mosquitto grants the subscription, and then delivers nothing the ACL denies.
        await mallory.subscribe([("asyncmqtt/responses/alice", 1), ("svc/marker", 1)])
        async with bob.subscription("svc/acl", qos=1) as requests:
            serving = asyncio.create_task(answer_all(bob, requests))
            response = await alice.request("svc/acl", b"x", timeout=GUARD_SECONDS)
            serving.cancel()
        assert response.payload == b"X"
        await bob.publish("svc/marker", b"after the response", qos=1)
        seen = await next_message(mallory.messages)  # (the response would have come first)
        assert seen.topic.value == "svc/marker"
