"""Request/response offline: ``client.request`` / ``client.respond`` against a scripted broker on
the in-memory network, on an event loop whose clock jumps over waits (timeouts are exact and
cost nothing); and the pure parts of ``_request_response.py``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from memory_network import run_virtual
from scripted_broker import ScriptedBroker, client_on

from asyncmqtt import (
    Client,
    Message,
    MqttCodeError,
    MqttError,
    MqttTimeoutError,
    Properties,
    ProtocolVersion,
    Reconnect,
    RetainHandling,
)
from asyncmqtt._request_response import DEFAULT_RESPONSE_PREFIX, response_to, response_topic
from asyncmqtt.protocol.packets import (
    ConnAck,
    Connect,
    Packet,
    PubAck,
    Publish,
    Subscribe,
    Subscription,
)

STEADY = Reconnect(initial_delay=1.0, max_delay=1.0, jitter=False)
RESPONSES = "asyncmqtt/responses/me"  # the response topic of client_on's identifier "me"


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (a few turns; fails instead of hanging)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def acknowledged(client: Client, count: int = 1) -> None:
    """Wait until the broker acknowledged ``count`` requests: they wait for their response."""
    await until(lambda: client.stats.publishes_acknowledged == count)


def requests_sent(broker: ScriptedBroker, topic: str = "svc") -> list[Publish]:
    return [p for p in broker.received_of(Publish) if p.topic == topic]


def answer(request: Publish, payload: bytes, qos: int = 1, packet_id: int = 100) -> Publish:
    """The response a responder would publish to ``request``, as the broker delivers it."""
    props = request.properties
    assert props.response_topic is not None
    return Publish(
        props.response_topic,
        payload,
        qos,
        packet_id=packet_id if qos else None,
        properties=Properties(correlation_data=props.correlation_data),
    )


def run(client: Client, body: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    async def scenario() -> Any:
        async with client:
            return await body()

    return run_virtual(scenario())[0]


# ---------------------------------------------------------------- requesting


def test_a_request_carries_a_response_topic_and_correlation_data_and_gets_its_answer() -> None:
    broker = ScriptedBroker()
    client = client_on(broker)

    async def body() -> Message:
        requesting = asyncio.create_task(client.request("svc", b"ping"))
        await until(lambda: bool(requests_sent(broker)))
        [request] = requests_sent(broker)
        broker.send(answer(request, b"pong"))
        return await requesting

    response = run(client, body)
    assert response.payload == b"pong" and response.topic.value == RESPONSES
    [subscribe] = broker.received_of(Subscribe)
    # QoS 2, so that the responder's QoS is kept; never the retained messages of the topic.
    assert subscribe.subscriptions == (
        Subscription(RESPONSES, 2, retain_handling=RetainHandling.DO_NOT_SEND),
    )
    [request] = requests_sent(broker)
    assert request.qos == 1 and request.payload == b"ping"
    assert request.properties.response_topic == RESPONSES
    correlation = request.properties.correlation_data
    assert correlation is not None and len(correlation) == 16
    # The response was acknowledged by the client, and reached no stream.
    assert PubAck(100) in broker.received_of(PubAck)
    assert len(client.messages) == 0


def test_concurrent_requests_are_matched_by_correlation_data_with_one_subscription() -> None:
    broker = ScriptedBroker()
    client = client_on(broker)

    async def body() -> list[bytes]:
        tasks = [asyncio.create_task(client.request("svc", f"q{n}")) for n in range(5)]
        await until(lambda: len(requests_sent(broker)) == 5)
        sent = requests_sent(broker)
        # Answered in another order than asked, each with its own correlation data.
        for number, request in enumerate(reversed(sent)):
            broker.send(answer(request, b"re:" + request.payload, packet_id=200 + number))
        return [response.payload for response in await asyncio.gather(*tasks)]

    assert run(client, body) == [b"re:q0", b"re:q1", b"re:q2", b"re:q3", b"re:q4"]
    assert len(broker.received_of(Subscribe)) == 1
    correlations = {p.properties.correlation_data for p in requests_sent(broker)}
    assert len(correlations) == 5
    assert client.stats.responses_discarded == 0


def test_a_timeout_raises_and_the_late_response_is_discarded_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = ScriptedBroker()
    client = client_on(broker)

    async def body() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(MqttTimeoutError) as raised:
            await client.request("svc", b"slow", timeout=2.5)
        took = loop.time() - started
        [request] = requests_sent(broker)
        broker.send(answer(request, b"too late"))
        await until(lambda: client.stats.responses_discarded == 1)
        return str(raised.value), took

    text, took = run(client, body)
    assert took == pytest.approx(2.5)
    assert text == (
        "request on 'svc' timed out after 2.5 s waiting for the response; a response that "
        "comes later is discarded"
    )
    assert isinstance(MqttTimeoutError("x"), TimeoutError)
    assert len(client.messages) == 0  # never delivered elsewhere
    assert PubAck(100) in broker.received_of(PubAck)  # but acknowledged
    [record] = [r for r in caplog.records if "response topic" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "no request waits for its correlation data" in record.getMessage()
    assert "1 discarded in all: client.stats.responses_discarded" in record.getMessage()


def test_the_timeout_covers_a_request_the_broker_never_acknowledged() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, timeout=3)

    async def body() -> str:
        broker.acknowledge = False
        with pytest.raises(MqttTimeoutError) as raised:
            await client.request("svc", b"x")  # the client's timeout: 3 s
        return str(raised.value)

    assert "timed out after 3 s before the broker acknowledged the request" in run(client, body)


def test_messages_on_the_response_topic_that_answer_nothing_are_discarded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = ScriptedBroker()
    client = client_on(broker)

    async def body() -> None:
        requesting = asyncio.create_task(client.request("svc", b"x"))
        await until(lambda: bool(requests_sent(broker)))
        [request] = requests_sent(broker)
        stranger = Properties(correlation_data=b"\xff" * 40)
        broker.send(
            Publish(RESPONSES, b"no correlation", 0),
            Publish(RESPONSES, b"stranger", 0, properties=stranger),
            answer(request, b"mine", qos=0),
            answer(request, b"duplicate", qos=0),
        )
        response = await requesting
        assert response.payload == b"mine"
        await until(lambda: client.stats.responses_discarded == 3)

    run(client, body)
    discarded = [r.getMessage() for r in caplog.records if "response topic" in r.getMessage()]
    assert "it has no correlation data" in discarded[0]
    assert ("ff" * 32) + "..." in discarded[1]  # long correlation data is shortened
    assert "no request waits for its correlation data" in discarded[2]
    assert len(client.messages) == 0


def test_a_response_is_taken_at_once_even_while_a_full_stream_holds_messages_back() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, max_queued_incoming_messages=1)

    async def body() -> list[bytes]:
        await client.subscribe("data", qos=1)
        broker.send(*(Publish("data", bytes([n]), 1, packet_id=n) for n in (1, 2, 3)))
        await until(lambda: len(client.messages) == 1)  # 2 and 3 wait, unacknowledged
        requesting = asyncio.create_task(client.request("svc", b"x"))
        await until(lambda: bool(requests_sent(broker)))
        [request] = requests_sent(broker)
        broker.send(answer(request, b"answer", packet_id=4))
        response = await requesting  # not stuck behind messages 2 and 3
        assert response.payload == b"answer"
        # Acknowledgements stay in arrival order: the response's waits behind 2 and 3.
        assert broker.received_of(PubAck) == [PubAck(1)]
        payloads = [(await anext(client.messages)).payload for _ in range(3)]
        await until(lambda: len(broker.received_of(PubAck)) == 4)
        return payloads

    assert run(client, body) == [b"\x01", b"\x02", b"\x03"]
    assert broker.received_of(PubAck) == [PubAck(1), PubAck(2), PubAck(3), PubAck(4)]


def test_with_manual_ack_the_client_acknowledges_responses_itself() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, manual_ack=True)

    async def body() -> None:
        requesting = asyncio.create_task(client.request("svc", b"x"))
        await until(lambda: bool(requests_sent(broker)))
        broker.send(answer(requests_sent(broker)[0], b"answer", packet_id=9))
        response = await requesting
        await until(lambda: bool(broker.received_of(PubAck)))
        with pytest.raises(ValueError, match="already acknowledged"):
            await response.ack()

    run(client, body)
    assert broker.received_of(PubAck) == [PubAck(9)]


def test_no_matching_subscribers_fails_the_request_at_once() -> None:
    broker = ScriptedBroker()
    client = client_on(broker)
    original = broker.answer

    def no_subscribers(packet: Packet) -> Any:
        if isinstance(packet, Publish) and packet.topic == "svc":
            return [PubAck(packet.packet_id or 0, 0x10)]
        return original(packet)

    broker.answer = no_subscribers

    async def body() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(MqttCodeError, match="no subscription matches"):
            await client.request("svc", b"x")
        return loop.time() - started

    assert run(client, body) == 0  # no waiting for a response that cannot come


def test_bad_arguments_raise_at_the_call_and_send_nothing() -> None:
    broker = ScriptedBroker()
    client = client_on(broker)

    async def body() -> None:
        with pytest.raises(ValueError, match="sets the response_topic and correlation_data"):
            await client.request("svc", properties=Properties(correlation_data=b"mine"))
        with pytest.raises(ValueError, match="sets the response_topic and correlation_data"):
            await client.request("svc", properties=Properties(response_topic="r"))
        with pytest.raises(ValueError, match="wildcard"):
            await client.request("svc/#")
        with pytest.raises(ValueError, match="qos"):
            await client.request("svc", qos=3)
        with pytest.raises(TypeError, match="payload"):
            await client.request("svc", object())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout=-1"):
            await client.request("svc", timeout=-1)
        with pytest.raises(ValueError, match="does not belong in"):
            await client.request("svc", properties=Properties(session_expiry_interval=1))

    run(client, body)
    assert broker.received_of(Publish) == [] and broker.received_of(Subscribe) == []


def test_user_properties_go_with_the_request() -> None:
    broker = ScriptedBroker()
    client = client_on(broker)

    async def body() -> None:
        props = Properties(user_properties=(("k", "v"),), content_type="text/plain")
        requesting = asyncio.create_task(client.request("svc", b"x", qos=2, properties=props))
        await until(lambda: bool(requests_sent(broker)))
        broker.send(answer(requests_sent(broker)[0], b"ok"))
        await requesting

    run(client, body)
    [request] = requests_sent(broker)
    assert request.qos == 2
    assert request.properties.user_properties == (("k", "v"),)
    assert request.properties.content_type == "text/plain"


def test_requesting_while_not_connected_raises() -> None:
    client = client_on(ScriptedBroker())

    async def outside() -> None:
        await client.request("svc", b"x")

    with pytest.raises(MqttError, match="cannot request on 'svc': the client is not connected"):
        run_virtual(outside())


# ---------------------------------------------------------------- connections ending


def test_a_waiting_request_fails_when_the_connection_ends_for_good() -> None:
    broker = ScriptedBroker()
    client = client_on(broker)

    async def body() -> None:
        requesting = asyncio.create_task(client.request("svc", b"x"))
        await acknowledged(client)
        broker.drop()
        with pytest.raises(MqttError, match="no response came before the connection ended"):
            await requesting

    with pytest.raises(MqttError):  # (the block reports the lost connection too)
        run(client, body)


def test_a_waiting_request_fails_when_the_client_leaves_its_block() -> None:
    broker = ScriptedBroker()
    client = client_on(broker)

    async def gathered() -> Message | BaseException:
        async with client:
            requesting = asyncio.create_task(client.request("svc", b"x"))
            await acknowledged(client)
        [outcome] = await asyncio.gather(requesting, return_exceptions=True)
        return outcome

    outcome, _ = run_virtual(gathered())
    assert isinstance(outcome, MqttError)
    assert str(outcome) == "request: no response came before the client disconnected"


def test_a_request_waits_across_a_reconnect_and_the_subscription_is_restored() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, reconnect=STEADY)

    async def body() -> bytes:
        requesting = asyncio.create_task(client.request("svc", b"x", timeout=30))
        await acknowledged(client)
        [request] = requests_sent(broker)
        broker.session_present = False  # the broker forgot everything, subscriptions too
        broker.drop()
        await until(lambda: not client.is_connected)
        await client.connected()
        await until(lambda: len(broker.received_of(Subscribe)) == 2)  # restored by the client
        broker.send(answer(request, b"after the reconnect"))
        response = await requesting
        # A later request needs no new subscription: the restored one holds.
        later = asyncio.create_task(client.request("svc", b"y"))
        await until(lambda: len(requests_sent(broker)) == 2)
        broker.send(answer(requests_sent(broker)[1], b"later"))
        assert (await later).payload == b"later"
        return response.payload

    assert run(client, body) == b"after the reconnect"
    subscribes = broker.received_of(Subscribe)
    assert len(subscribes) == 2
    assert subscribes[0].subscriptions == subscribes[1].subscriptions


@pytest.mark.parametrize(("session_present", "subscribes"), [(False, 2), (True, 1)])
def test_without_reconnect_the_next_block_subscribes_again_only_if_the_session_was_lost(
    session_present: bool, subscribes: int
) -> None:
    broker = ScriptedBroker()
    client = client_on(broker, properties=Properties(session_expiry_interval=60))

    async def once(payload: bytes) -> bytes:
        async with client:
            requesting = asyncio.create_task(client.request("svc", payload))
            await until(
                lambda: (
                    requests_sent(broker)[-1:] != []
                    and requests_sent(broker)[-1].payload == payload
                )
            )
            broker.send(answer(requests_sent(broker)[-1], payload.upper()))
            return (await requesting).payload

    async def twice() -> list[bytes]:
        first = await once(b"a")
        broker.session_present = session_present
        return [first, await once(b"b")]

    assert run_virtual(twice())[0] == [b"A", b"B"]
    assert len(broker.received_of(Subscribe)) == subscribes


# ---------------------------------------------------------------- Response Information


def test_the_response_topic_goes_below_the_response_information_the_broker_granted() -> None:
    broker = ScriptedBroker()
    original = broker.answer

    def granting(packet: Packet) -> Any:
        if isinstance(packet, Connect):
            asked = packet.properties.request_response_information
            info = "reserved/for-me" if asked else None
            return [ConnAck(False, 0, Properties(response_information=info))]
        return original(packet)

    broker.answer = granting
    asking = Properties(request_response_information=True)
    client = client_on(broker, properties=asking)

    async def body() -> str:
        requesting = asyncio.create_task(client.request("svc", b"x"))
        await until(lambda: bool(requests_sent(broker)))
        broker.send(answer(requests_sent(broker)[0], b"ok"))
        return (await requesting).topic.value

    assert run(client, body) == "reserved/for-me/me"
    [connect] = broker.connects()
    assert connect.properties.request_response_information is True


@pytest.mark.parametrize(
    ("information", "client_id", "expected"),
    [
        (None, "sensor-7", "asyncmqtt/responses/sensor-7"),
        ("", "sensor-7", "asyncmqtt/responses/sensor-7"),
        ("replies", "sensor-7", "replies/sensor-7"),
        ("replies/", "sensor-7", "replies/sensor-7"),
        ("replies/#", "sensor-7", "asyncmqtt/responses/sensor-7"),  # not a topic name
        ("x" * 65535, "sensor-7", "asyncmqtt/responses/sensor-7"),  # too long with the id
    ],
)
def test_response_topics(information: str | None, client_id: str, expected: str) -> None:
    assert response_topic(information, client_id) == expected


@pytest.mark.parametrize("client_id", ["", "a/b", "a+", "#", "a\0b"])
def test_an_identifier_that_cannot_be_a_topic_level_is_replaced_by_a_stable_digest(
    client_id: str,
) -> None:
    topic = response_topic(None, client_id)
    assert topic == response_topic(None, client_id)  # the same on every connection
    level = topic.removeprefix(DEFAULT_RESPONSE_PREFIX)
    assert len(level) == 16 and all(char in "0123456789abcdef" for char in level)
    assert response_topic(None, client_id + "x") != topic


# ---------------------------------------------------------------- responding


def request_message(**props: Any) -> Message:
    return Message("svc", b"q", 1, False, 1, properties=Properties(**props))


def test_respond_publishes_to_the_response_topic_with_the_correlation_data() -> None:
    broker = ScriptedBroker()
    client = client_on(broker)

    async def body() -> int | None:
        request = request_message(response_topic="replies/a", correlation_data=b"c-1")
        extra = Properties(user_properties=(("status", "ok"),))
        return await client.respond(request, b"answer", qos=2, properties=extra)

    assert run(client, body) == 0
    [response] = broker.received_of(Publish)
    assert (response.topic, response.payload, response.qos) == ("replies/a", b"answer", 2)
    assert response.properties.correlation_data == b"c-1"
    assert response.properties.user_properties == (("status", "ok"),)


def test_respond_without_correlation_data_sends_none() -> None:
    topic, props = response_to(request_message(response_topic="r"), None, ProtocolVersion.V5)
    assert topic == "r" and props == Properties()


def test_respond_errors() -> None:
    v5 = ProtocolVersion.V5
    with pytest.raises(ValueError, match="has no Response Topic: it is not an MQTT 5 request"):
        response_to(request_message(correlation_data=b"c"), None, v5)
    with pytest.raises(ValueError, match="copies the request's correlation data"):
        response_to(request_message(response_topic="r"), Properties(correlation_data=b"x"), v5)
    with pytest.raises(TypeError, match="takes the request's Message"):
        response_to("svc", None, v5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not belong in"):
        response_to(request_message(response_topic="r"), Properties(session_expiry_interval=1), v5)


@pytest.mark.parametrize("version", [ProtocolVersion.V311, ProtocolVersion.V31])
def test_mqtt_3_raises_a_clear_error_naming_mqtt_5(version: ProtocolVersion) -> None:
    broker = ScriptedBroker()
    client = client_on(broker, protocol=version)

    async def body() -> None:
        with pytest.raises(ValueError, match=r"request\(\) needs MQTT 5.0 .* uses MQTT 3.1"):
            await client.request("svc", b"x")
        request = request_message(response_topic="r")
        with pytest.raises(ValueError, match=r"respond\(\) needs MQTT 5.0 .* uses MQTT 3.1"):
            await client.respond(request, b"x")

    run(client, body)
    assert broker.received_of(Publish) == [] and broker.received_of(Subscribe) == []
