"""publish_nowait and manual acknowledgements, offline (scripted broker, virtual time)."""

from __future__ import annotations

import asyncio

import pytest
from memory_network import run_virtual
from scripted_broker import ScriptedBroker, client_on

from asyncmqtt import MqttCodeError, MqttError, Reconnect
from asyncmqtt.protocol.packets import PubAck, Publish, PubRec

STEADY = Reconnect(initial_delay=1.0, jitter=False)


# ---------------------------------------------------------------- publish_nowait


def test_publish_nowait_returns_a_future_of_each_outcome() -> None:
    broker = ScriptedBroker()
    client = client_on(broker)

    async def scenario() -> list[object]:
        async with client:
            futures = [
                client.publish_nowait("t", b"0"),
                client.publish_nowait("t", b"1", qos=1),
                client.publish_nowait("t", b"2", qos=2),
            ]
            assert futures[0].done()  # QoS 0: written (with its burst) at once
            return list(await asyncio.gather(*futures))

    results, _ = run_virtual(scenario())
    assert results == [None, 0, 0]
    assert [p.payload for p in broker.received_of(Publish)] == [b"0", b"1", b"2"]


def test_a_refused_message_fails_its_future_with_the_reason_code() -> None:
    broker = ScriptedBroker()
    broker.acknowledge = False
    client = client_on(broker)

    async def scenario() -> None:
        async with client:
            future = client.publish_nowait("t", b"x", qos=1)
            broker.send(PubAck(1, 0x87))
            with pytest.raises(MqttCodeError, match="refused the publish to 't'") as caught:
                await future
            assert caught.value.rc == 0x87

    run_virtual(scenario())


def test_many_in_flight_complete_in_order_without_a_task_each() -> None:
    broker = ScriptedBroker()
    client = client_on(broker)

    async def scenario() -> list[int | None]:
        async with client:
            window: list[asyncio.Future[int | None]] = []
            done: list[int | None] = []
            for number in range(100):
                if len(window) == 20:  # await the oldest when 20 are out
                    done.append(await window.pop(0))
                window.append(client.publish_nowait("t", str(number), qos=1))
            done += await asyncio.gather(*window)
            return done

    results, _ = run_virtual(scenario())
    assert results == [0] * 100
    assert [int(p.payload) for p in broker.received_of(Publish)] == list(range(100))


def test_what_a_publisher_woken_by_its_puback_publishes_is_written_in_the_turn_it_runs() -> None:
    # The PUBACK's callback resolves the future (the publisher wakes on the next loop turn) and
    # schedules the link's flush after that wake-up: the next publish goes out in that same
    # turn, not one turn later (as it would if its own flush_soon scheduled the flush).
    broker = ScriptedBroker()
    broker.acknowledge = False
    client = client_on(broker)

    async def publisher() -> None:
        await client.publish_nowait("t", b"1", qos=1)
        client.publish_nowait("t", b"2", qos=1)

    async def scenario() -> list[bytes]:
        async with client:
            task = asyncio.create_task(publisher())
            while not broker.received_of(Publish):
                await asyncio.sleep(0)
            broker.send(PubAck(1))  # delivered in the next turn, before this task resumes
            await asyncio.sleep(0)  # that turn: the PUBACK, the publisher's wake-up queued
            await asyncio.sleep(0)  # the publisher's turn
            written = [p.payload for p in broker.received_of(Publish)]
            task.cancel()
            return written

    written, _ = run_virtual(scenario())
    assert written == [b"1", b"2"]


def test_publish_nowait_without_a_connection_raises_unless_reconnecting() -> None:
    broker = ScriptedBroker()
    client = client_on(broker)
    with pytest.raises(MqttError, match="not connected"):
        client.publish_nowait("t", b"x", qos=1)
    with pytest.raises(ValueError, match="wildcard"):
        client.publish_nowait("t/#", b"x", qos=1)

    reconnecting = client_on(broker, reconnect=STEADY)

    async def scenario() -> int | None:
        async with reconnecting:
            broker.drop()
            await asyncio.sleep(0.1)
            future = reconnecting.publish_nowait("t", b"queued", qos=1)
            assert not future.done()
            return await future  # sent once the client is back

    result, elapsed = run_virtual(scenario())
    assert result == 0 and elapsed == pytest.approx(1.0)


# ---------------------------------------------------------------- manual acknowledgements


def test_manual_acks_go_out_in_arrival_order_when_the_application_says() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, manual_ack=True)

    async def scenario() -> None:
        async with client:
            await client.subscribe("t", qos=2)
            broker.send(
                Publish("t", b"1", 1, packet_id=1),
                Publish("t", b"2", 2, packet_id=2),
                Publish("t", b"3", 1, packet_id=3),
            )
            first, second, third = [await anext(client.messages) for _ in range(3)]
            assert broker.received_of(PubAck) == []  # nothing before the application says
            await third.ack()
            await second.ack()
            await asyncio.sleep(0)
            assert broker.received_of(PubAck) == [] and broker.received_of(PubRec) == []
            await first.ack()
            await asyncio.sleep(0)
            assert broker.received_of(PubAck) == [PubAck(1), PubAck(3)]
            assert broker.received_of(PubRec) == [PubRec(2)]

    run_virtual(scenario())


def test_ack_is_refused_where_it_makes_no_sense() -> None:
    broker = ScriptedBroker()
    manual = client_on(broker, manual_ack=True)
    automatic = client_on(broker)

    async def scenario() -> None:
        async with manual:
            await manual.subscribe("t", qos=1)
            broker.send(Publish("t", b"0", 0), Publish("t", b"1", 1, packet_id=1))
            zero, one = [await anext(manual.messages) for _ in range(2)]
            with pytest.raises(ValueError, match="QoS 0 message has no acknowledgement"):
                await zero.ack()
            await one.ack()
            with pytest.raises(ValueError, match="already acknowledged"):
                await one.ack()
        async with automatic:
            await automatic.subscribe("t", qos=1)
            broker.send(Publish("t", b"2", 1, packet_id=2))
            message = await anext(automatic.messages)
            with pytest.raises(ValueError, match=r"needs Client\(manual_ack=True\)"):
                await message.ack()

    run_virtual(scenario())


def test_an_unacknowledged_message_is_not_acknowledged_by_the_end_of_the_connection() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, manual_ack=True, reconnect=STEADY)

    async def scenario() -> bytes:
        async with client:
            await client.subscribe("t", qos=1)
            broker.send(Publish("t", b"held", 1, packet_id=1))
            held = await anext(client.messages)
            broker.session_present = True
            broker.after_connack = [Publish("t", b"held", 1, dup=True, packet_id=1)]
            broker.drop()
            await held.ack()  # too late for the old connection: the broker sends it again
            again = await anext(client.messages)
            await again.ack()
            await asyncio.sleep(0)
            return again.payload

    payload, _ = run_virtual(scenario())
    assert payload == b"held"
    assert broker.received_of(PubAck) == [PubAck(1)]  # once, for the redelivered copy


def test_a_future_its_owner_cancelled_does_not_disturb_the_connection() -> None:
    broker = ScriptedBroker()
    broker.acknowledge = False
    client = client_on(broker)

    async def scenario() -> int | None:
        async with client:
            abandoned = client.publish_nowait("t", b"a", qos=1)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(abandoned, 0.01)  # (cancels the future)
            assert abandoned.cancelled()
            broker.send(PubAck(1))  # its PUBACK comes all the same
            broker.acknowledge = True
            return await client.publish("t", b"b", qos=1)

    result, _ = run_virtual(scenario())
    assert result == 0
