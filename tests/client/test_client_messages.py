"""Receiving: client.messages, message streams (asyncio-mqtt 0.x API), routing, backpressure."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import pytest
from both_brokers import AnyBroker, MakeBroker
from broker import Mosquitto
from client_helpers import client_for, next_message, take

from asyncmqtt import (
    Client,
    ConnectionLostError,
    Message,
    MqttCodeError,
    MqttError,
    SubscribeOptions,
    Topic,
)
from asyncmqtt.messages import MessageFactory
from asyncmqtt.protocol.packets import Publish

if TYPE_CHECKING:
    from conftest import MosquittoFactory


class SignallingQueue(asyncio.Queue[Message]):
    """A queue_type that sets ``reached`` once it holds ``target`` messages, and records the
    largest size it ever had."""

    target = 0
    instances: list[SignallingQueue] = []  # noqa: RUF012 - a test registry

    def __init__(self) -> None:
        super().__init__()
        self.reached = asyncio.Event()
        self.largest = 0
        SignallingQueue.instances.append(self)

    def _put(self, item: Message) -> None:
        super()._put(item)
        self.largest = max(self.largest, self.qsize())
        if self.qsize() >= self.target:
            self.reached.set()


@pytest.fixture
def signalling_queue() -> type[SignallingQueue]:
    SignallingQueue.instances.clear()
    return SignallingQueue


async def test_messages_arrive_in_order(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as client:
        await client.subscribe(f"{topic}/#", qos=1)
        for number in range(20):
            await client.publish(f"{topic}/{number % 3}", number, qos=number % 3)
        received = await take(client.messages, 20)
        assert [int(m.payload) for m in received] == list(range(20))
        assert all(isinstance(m.topic, Topic) for m in received)


async def test_len_is_the_queue_length(
    broker: AnyBroker, topic: str, signalling_queue: type[SignallingQueue]
) -> None:
    signalling_queue.target = 3
    async with client_for(broker, queue_type=signalling_queue) as client:
        assert len(client.messages) == 0
        await client.subscribe(topic)
        for number in range(3):
            await client.publish(topic, number)
        await signalling_queue.instances[0].reached.wait()
        assert len(client.messages) == 3
        await next_message(client.messages)
        assert len(client.messages) == 2


async def test_lifo_queue_type(broker: AnyBroker, topic: str) -> None:
    class SignallingLifo(asyncio.LifoQueue[Message]):
        filled = asyncio.Event()

        def _put(self, item: Message) -> None:
            super()._put(item)
            if self.qsize() == 3:
                self.filled.set()

    async with client_for(broker, queue_type=SignallingLifo) as client:
        await client.subscribe(topic)
        for number in range(3):
            await client.publish(topic, number)
        await SignallingLifo.filled.wait()
        assert [m.payload for m in await take(client.messages, 3)] == [b"2", b"1", b"0"]


async def test_priority_queue_type(broker: AnyBroker, topic: str) -> None:
    """The priority queue of the aiomqtt documentation: urgent topics first."""

    class PriorityByTopic(asyncio.PriorityQueue[Any]):
        filled = asyncio.Event()

        def _put(self, item: Message) -> None:
            priority = 1 if item.topic.matches(f"{topic}/urgent/#") else 2
            super()._put((priority, item))
            if self.qsize() == 4:
                self.filled.set()

        def _get(self) -> Message:
            item: Message = super()._get()[1]
            return item

    async with client_for(broker, queue_type=PriorityByTopic) as client:
        await client.subscribe(f"{topic}/#", qos=1)
        for name in ("calm/a", "urgent/b", "calm/c", "urgent/d"):
            await client.publish(f"{topic}/{name}", name, qos=1)
        await PriorityByTopic.filled.wait()
        payloads = [m.payload for m in await take(client.messages, 4)]
        # Urgent first; within a priority, by message id (Message orders by mid).
        assert payloads == [b"urgent/b", b"urgent/d", b"calm/a", b"calm/c"]


async def test_several_tasks_share_the_stream(broker: AnyBroker, topic: str) -> None:
    received: list[tuple[int, int]] = []
    done = asyncio.Event()

    async def consume(worker: int) -> None:
        async for message in client.messages:
            received.append((worker, int(message.payload)))
            if len(received) == 30:
                done.set()
            await asyncio.sleep(0)  # let the other workers take their turn

    async with client_for(broker) as client:
        await client.subscribe(topic, qos=1)
        workers = [asyncio.create_task(consume(n)) for n in range(3)]
        for number in range(30):
            await client.publish(topic, number, qos=1)
        async with asyncio.timeout(10):
            await done.wait()
        for worker in workers:
            worker.cancel()
    # Every message went to exactly one task, and more than one task got some.
    assert sorted(number for _, number in received) == list(range(30))
    assert len({worker for worker, _ in received}) > 1


async def test_iterating_while_not_connected_raises_at_once(broker: AnyBroker) -> None:
    client = client_for(broker)
    with pytest.raises(MqttError, match="not connected"):
        async for _ in client.messages:
            pass
    async with client:
        pass
    with pytest.raises(MqttError, match="disconnected"):
        async for _ in client.messages:
            pass


async def test_lost_connection_ends_every_iterator_with_its_cause(
    broker: AnyBroker, topic: str
) -> None:
    client = client_for(broker, identifier=f"takeover-{topic.replace('/', '-')}")
    errors: list[BaseException] = []

    async def iterate(messages: Any) -> None:
        try:
            async for _ in messages:
                pass
        except MqttError as error:
            errors.append(error)

    async with client, client.filtered_messages(f"{topic}/#") as filtered:
        tasks = [
            asyncio.create_task(iterate(client.messages)),
            asyncio.create_task(iterate(client.messages)),
            asyncio.create_task(iterate(filtered)),
        ]
        await asyncio.sleep(0)
        # Another client with the same identifier takes the session over.
        async with client_for(broker, identifier=client.identifier):
            await asyncio.gather(*tasks)
    assert len(errors) == 3
    for error in errors:
        assert str(error).startswith("the connection ended: ")
        # mosquitto 2.0.11 closes the taken-over connection without a DISCONNECT.
        assert isinstance(error.__cause__, ConnectionLostError | MqttCodeError)


async def test_queued_messages_are_still_yielded_after_a_loss(
    broker: AnyBroker, topic: str, signalling_queue: type[SignallingQueue]
) -> None:
    signalling_queue.target = 2
    client = client_for(broker, queue_type=signalling_queue)
    async with client:
        await client.subscribe(topic, qos=1)
        await client.publish(topic, "one", qos=1)
        await client.publish(topic, "two", qos=1)
        await signalling_queue.instances[0].reached.wait()
        async with client_for(broker, identifier=client.identifier):
            received = [m.payload async for m in _until_error(client.messages)]
    assert received == [b"one", b"two"]


async def _until_error(stream: Any) -> Any:
    try:
        async for message in stream:
            yield message
    except MqttError:
        return


# ---------------------------------------------------------------- backpressure


async def test_slow_consumer_gets_every_message_of_a_burst(
    make_broker: MakeBroker, topic: str, signalling_queue: type[SignallingQueue]
) -> None:
    broker = await make_broker(max_queued_messages=10_000)
    count, limit, size = 100, 5, 32_768
    signalling_queue.target = count + 1  # never: only the largest size matters here
    async with (
        client_for(broker, max_queued_incoming_messages=limit, queue_type=signalling_queue) as sub,
        client_for(broker) as pub,
    ):
        await sub.subscribe(topic, qos=1)
        for number in range(count):
            await pub.publish(topic, number.to_bytes(4, "big") * (size // 4), qos=1)
        # Everything is with the broker now; the subscriber has stopped reading at its limit.
        received = await take(sub.messages, count)
    assert [int.from_bytes(m.payload[:4], "big") for m in received] == list(range(count))
    assert all(len(m.payload) == size for m in received)
    # One read of the socket (at most 256 KiB here, 8 messages) may overshoot the limit.
    assert signalling_queue.instances[0].largest <= limit + 8 + 1


# mosquitto only: the 2 s this test waits are on the client's keepalive logic; a second broker
# would double them for little (the embedded broker's keepalive deadline of 1.5 keepalives is
# tested offline on virtual time in tests/protocol/test_server_connect.py).
async def test_backpressure_does_not_trip_the_keepalive(
    make_mosquitto: MosquittoFactory, topic: str, signalling_queue: type[SignallingQueue]
) -> None:
    broker = make_mosquitto(max_queued_messages=10_000)
    signalling_queue.target = 2
    async with (
        client_for(
            broker, max_queued_incoming_messages=2, keepalive=1, queue_type=signalling_queue
        ) as sub,
        client_for(broker) as pub,
    ):
        await sub.subscribe(topic, qos=1)
        for number in range(10):
            await pub.publish(topic, number, qos=1)
        await signalling_queue.instances[0].reached.wait()
        # Reading stays paused for 2 keepalives (the time is what this test is about): the
        # client keeps pinging, and since it is not reading it cannot see the answers, which
        # must not count as a dead broker.
        await asyncio.sleep(2.0)
        assert sub.is_connected
        assert [int(m.payload) for m in await take(sub.messages, 10)] == list(range(10))


# ---------------------------------------------------------------- asyncio-mqtt 0.x streams


async def test_filtered_and_unfiltered_streams(broker: AnyBroker, topic: str) -> None:
    async with (
        client_for(broker) as client,
        client.filtered_messages(f"{topic}/a") as only_a,
        client.filtered_messages(f"{topic}/+") as one_level,
        client.unfiltered_messages() as rest,
    ):
        await client.subscribe(f"{topic}/#", qos=1)
        for name in ("a", "b", "b/c", "a"):
            await client.publish(f"{topic}/{name}", name, qos=1)
        assert [m.payload for m in await take(only_a, 2)] == [b"a", b"a"]
        assert [m.payload for m in await take(one_level, 3)] == [b"a", b"b", b"a"]
        assert [m.payload for m in await take(rest, 1)] == [b"b/c"]
        assert len(only_a) == len(one_level) == len(rest) == 0
        # Everything was taken by a stream, so client.messages got nothing.
        assert len(client.messages) == 0


async def test_streams_opened_before_subscribing_get_retained_messages(
    broker: AnyBroker, topic: str
) -> None:
    async with client_for(broker) as client:
        await client.publish(f"{topic}/kept", "retained", qos=1, retain=True)
        async with client.filtered_messages(f"{topic}/#") as messages:
            await client.subscribe(f"{topic}/#")
            message = await next_message(messages)
            assert (message.payload, message.retain) == (b"retained", True)
        await client.publish(f"{topic}/kept", None, qos=1, retain=True)


async def test_unread_messages_no_stream_wants_are_discarded_with_a_warning(
    broker: AnyBroker, topic: str, caplog: Any
) -> None:
    async with client_for(broker) as client, client.filtered_messages(f"{topic}/a") as only_a:
        await client.subscribe(f"{topic}/#")
        with caplog.at_level(logging.WARNING, logger="asyncmqtt"):
            await client.publish(f"{topic}/b", "nobody wants me")
            await client.publish(f"{topic}/a", "a")
            assert (await next_message(only_a)).payload == b"a"
        assert len(client.messages) == 0
        assert "discarded a message on topic" in caplog.text
        assert f"{topic}/b" in caplog.text


async def test_messages_gets_what_no_stream_took_once_it_is_read(
    broker: AnyBroker, topic: str
) -> None:
    async with client_for(broker) as client, client.filtered_messages(f"{topic}/a") as only_a:
        await client.subscribe(f"{topic}/#")
        reader = asyncio.create_task(next_message(client.messages))
        await asyncio.sleep(0)  # the reader starts iterating client.messages
        await client.publish(f"{topic}/b", "b")
        await client.publish(f"{topic}/a", "a")
        assert (await reader).payload == b"b"
        assert (await next_message(only_a)).payload == b"a"


async def test_stream_is_closed_after_its_block(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as client:
        async with client.unfiltered_messages() as messages:
            pass
        with pytest.raises(MqttError, match="closed"):
            await anext(messages)


async def test_subscription_subscribes_and_unsubscribes(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as client:
        async with client.subscription(f"{topic}/+", qos=1) as messages:
            await client.publish(f"{topic}/x", "in", qos=1)
            await client.publish(f"{topic}/x/y", "not matching", qos=1)
            message = await next_message(messages)
            assert (message.payload, message.qos) == (b"in", 1)
            async with client.subscription(f"{topic}/+") as again:
                await client.publish(f"{topic}/z", "both", qos=1)
                assert (await next_message(again)).payload == b"both"
            # The inner block ended, but the outer one still holds the subscription.
            assert await client.publish(f"{topic}/x", "still", qos=1) == 0
        assert await client.publish(f"{topic}/x", "gone", qos=1) == 0x10


async def test_subscription_of_several_filters_is_one_stream_with_each_message_once(
    broker: AnyBroker, topic: str
) -> None:
    async with client_for(broker) as client:
        filters = [(f"{topic}/a/+", 1), (f"{topic}/+/b", SubscribeOptions(qos=2))]
        async with client.subscription(filters) as messages:
            await client.publish(f"{topic}/a/x", "one", qos=1)
            await client.publish(f"{topic}/y/b", "two", qos=2)
            await client.publish(f"{topic}/y/y", "neither", qos=1)
            # a/b matches both filters: the broker may send it twice (mosquitto does with
            # MQTT 5: once per subscription), and each copy is in the stream once.
            await client.publish(f"{topic}/a/b", "both", qos=1)
            await client.publish(f"{topic}/a/end", "end", qos=1)
            received = []
            while not received or received[-1] != (b"end", 1):
                message = await next_message(messages)
                received.append((message.payload, message.qos))
            assert received[:2] == [(b"one", 1), (b"two", 2)]
            assert set(received[2:-1]) == {(b"both", 1)} and len(received[2:-1]) <= 2
            assert len(client.messages) == 0
            async with client.subscription(f"{topic}/a/+") as again:
                await client.publish(f"{topic}/a/z", "shared", qos=1)
                assert (await next_message(again)).payload == b"shared"
                assert (await next_message(messages)).payload == b"shared"
            # The inner block ended; the outer one still holds both of its filters.
            assert await client.publish(f"{topic}/a/x", "still", qos=1) == 0
        # Both filters unsubscribed (one UNSUBSCRIBE): nobody subscribes any more.
        assert await client.publish(f"{topic}/a/x", "gone", qos=1) == 0x10
        assert await client.publish(f"{topic}/y/b", "gone", qos=1) == 0x10
    # The inner block's end sent no UNSUBSCRIBE (the outer block held its filter too); the
    # outer block's end sent one, for both filters: mosquitto's log shows it.
    if isinstance(broker, Mosquitto):
        assert broker.log_text().count(f"Received UNSUBSCRIBE from {client.identifier}") == 1


async def test_subscription_refused_closes_its_stream(broker: AnyBroker, topic: str) -> None:
    async with client_for(broker) as client:
        with pytest.raises(ValueError, match="qos=5"):
            client.subscription(topic, qos=5)
        with pytest.raises(ValueError, match="#"):
            client.filtered_messages("a/#/b")
        with pytest.raises(TypeError, match="queue_maxsize"):
            client.unfiltered_messages(queue_maxsize="1")  # type: ignore[arg-type]


async def test_message_type() -> None:
    message = Message("a/b", "text", 1, False, 7)
    assert message.topic == Topic("a/b")
    assert message.payload == b"text"
    assert message.properties is not None and not message.properties
    assert Message("a", None, 0, False, 3) < message
    assert "a/b" in repr(message) and "4 bytes" in repr(message)


async def test_awaiting_ack_is_true_until_a_manual_ack_message_is_acknowledged() -> None:
    acked: list[int] = []
    make = MessageFactory(lambda message: acked.append(message.mid))
    message = make(Publish("a", b"", 1, packet_id=5), 1)
    assert message.awaiting_ack
    await message.ack()
    assert not message.awaiting_ack and acked == [5]
    assert not make(Publish("a", b"", 0), 1).awaiting_ack  # QoS 0: nothing to acknowledge
    assert not MessageFactory()(Publish("a", b"", 1, packet_id=6), 1).awaiting_ack  # auto
    assert not Message("a", None, 1, False, 7).awaiting_ack  # made by hand


async def test_seed_listening_without_blocking(broker: AnyBroker, topic: str) -> None:
    """Seed 004's pattern: a listener task with its own client, created with create_task."""
    ready = asyncio.Event()
    received: list[bytes] = []

    async def listen() -> None:
        async with client_for(broker) as listener, listener.unfiltered_messages() as messages:
            await listener.subscribe(f"{topic}/#")
            ready.set()
            async for message in messages:
                received.append(message.payload)
                return

    task = asyncio.get_running_loop().create_task(listen())
    async with asyncio.timeout(10):
        await ready.wait()
    async with client_for(broker) as publisher:
        await publisher.publish(f"{topic}/humidity", 0.38)
    async with asyncio.timeout(10):
        await task
    assert received == [b"0.38"]


async def test_client_messages_can_be_used_by_a_client_made_elsewhere(
    broker: AnyBroker, topic: str
) -> None:
    client = Client(broker.host, broker.port)
    stream = client.messages  # made before entering, outside any block
    async with client:
        await client.subscribe(topic)
        await client.publish(topic, "x")
        assert (await next_message(stream)).payload == b"x"


async def test_an_exception_in_a_queue_type_ends_the_connection_clearly(
    broker: AnyBroker, topic: str
) -> None:
    class BrokenQueue(asyncio.Queue[Message]):
        def _put(self, item: Message) -> None:
            raise RuntimeError("bug in my queue")

    async with client_for(broker, queue_type=BrokenQueue) as client:
        await client.subscribe(topic)
        await client.publish(topic, "x")
        with pytest.raises(MqttError) as caught:
            await next_message(client.messages)
    assert "bug in my queue" in str(caught.value)
    assert isinstance(caught.value.__cause__, MqttError)
    assert isinstance(caught.value.__cause__.__cause__, RuntimeError)
