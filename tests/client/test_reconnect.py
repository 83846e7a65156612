"""Automatic reconnection and the offline queue, offline: a scripted broker on an in-memory
network, on an event loop whose clock jumps over waits (so delays are exact and cost nothing)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from memory_network import run_virtual
from scripted_broker import ScriptedBroker, client_on

from asyncmqtt import (
    MqttConnectError,
    MqttError,
    Properties,
    Reconnect,
    SessionLostError,
)
from asyncmqtt.protocol.packets import Disconnect, Publish, Subscribe, Subscription

STEADY = Reconnect(initial_delay=1.0, max_delay=4.0, jitter=False)


# ---------------------------------------------------------------- the policy


def test_delays_grow_to_the_ceiling_and_jitter_draws_below_it() -> None:
    policy = Reconnect(initial_delay=1.0, max_delay=8.0, multiplier=2.0, jitter=False)
    delays = policy.delays()
    assert [next(delays) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    # With jitter the ceiling is 1.0 + (2.0 - 1) * the time waited so far: 1.0, 1.5, 2.25, ...
    jittered = Reconnect(initial_delay=1.0, max_delay=8.0).delays(lambda: 0.5)
    assert [next(jittered) for _ in range(4)] == [0.5, 0.75, 1.125, 1.6875]
    assert [next(jittered) for _ in range(8)][-1] == 4.0  # (half the ceiling of 8.0)


def test_after_short_jittered_waits_the_ceiling_stays_short() -> None:
    # Five attempts that drew almost nothing took 0.05 s: the sixth wait stays near the
    # initial delay instead of a ceiling doubled five times (32 s).
    draws = iter([0.01] * 5 + [1.0])
    delays = Reconnect(initial_delay=1.0, max_delay=60.0).delays(lambda: next(draws))
    short = [next(delays) for _ in range(5)]
    assert sum(short) < 0.06
    assert next(delays) == pytest.approx(1.0 + sum(short))


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"initial_delay": -1}, ValueError, "initial_delay=-1"),
        ({"initial_delay": "1"}, TypeError, "initial_delay must be a number"),
        ({"max_delay": 0.1}, ValueError, "max_delay=0.1 is below initial_delay"),
        ({"multiplier": 0.5}, ValueError, "multiplier=0.5 must be at least 1"),
        ({"multiplier": True}, TypeError, "multiplier must be a number"),
        ({"jitter": 1}, TypeError, "jitter must be a bool"),
        ({"max_attempts": 0}, ValueError, "max_attempts=0"),
        ({"stable_after": float("inf")}, ValueError, "stable_after=inf"),
    ],
)
def test_a_bad_policy_is_refused(options: dict[str, object], error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        Reconnect(**options)  # type: ignore[arg-type]


def test_reconnect_takes_true_or_a_policy() -> None:
    assert client_on(ScriptedBroker(), reconnect=True)._options.reconnect == Reconnect()
    assert client_on(ScriptedBroker())._options.reconnect is None
    with pytest.raises(TypeError, match="reconnect must be True, False or"):
        client_on(ScriptedBroker(), reconnect="yes")


# ---------------------------------------------------------------- the first connection


def test_the_first_connection_retries_until_the_broker_accepts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = ScriptedBroker()
    broker.refusals = [0x88, 0x89]  # server unavailable, server busy: worth retrying
    client = client_on(broker, reconnect=STEADY)

    async def enter() -> bool:
        async with client:
            return client.is_connected

    connected, elapsed = run_virtual(enter())
    assert connected and len(broker.connects()) == 3
    assert elapsed == pytest.approx(1.0 + 2.0)
    assert "next attempt in 1.00 s" in caplog.text and "next attempt in 2.00 s" in caplog.text


@pytest.mark.parametrize("code", [0x86, 0x87, 0x8A, 0x85])
def test_a_refusal_that_retrying_cannot_fix_raises_at_once(code: int) -> None:
    broker = ScriptedBroker()
    broker.refusals = [code]
    client = client_on(broker, reconnect=STEADY, protocol=5)

    async def enter() -> None:
        async with client:
            pass

    with pytest.raises(MqttConnectError, match=f"{code:#04x}"):
        run_virtual(enter())
    assert len(broker.connects()) == 1


def test_attempts_end_after_max_attempts() -> None:
    broker = ScriptedBroker()
    broker.refusals = [0x88] * 10
    client = client_on(broker, reconnect=Reconnect(max_attempts=3, jitter=False))

    async def enter() -> None:
        async with client:
            pass

    with pytest.raises(MqttConnectError, match="SERVER_UNAVAILABLE"):
        run_virtual(enter())
    assert len(broker.connects()) == 3


# ---------------------------------------------------------------- inside the block


def test_a_lost_connection_comes_back_and_the_stream_goes_on() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, reconnect=STEADY)

    async def scenario() -> tuple[list[bytes], list[bool], float]:
        states: list[bool] = []
        async with client:
            await client.subscribe("t", qos=1)
            broker.send(Publish("t", b"before", 1, packet_id=1))
            first = await anext(client.messages)
            loop = asyncio.get_running_loop()
            lost_at = loop.time()
            broker.session_present = True
            broker.after_connack = [Publish("t", b"after", 1, packet_id=2)]
            broker.drop()
            await asyncio.sleep(0.5)  # (virtual time: the reconnect is 1 s away)
            states.append(client.is_connected)
            second = await anext(client.messages)  # waits across the reconnect, no error
            states.append(client.is_connected)
            return [first.payload, second.payload], states, loop.time() - lost_at

    (payloads, states, took), _ = run_virtual(scenario())
    assert payloads == [b"before", b"after"]
    assert states == [False, True]
    assert took == pytest.approx(1.0)
    assert len(broker.connects()) == 2


def test_a_publish_awaiting_its_acknowledgement_completes_after_the_reconnect() -> None:
    broker = ScriptedBroker()
    client = client_on(
        broker,
        reconnect=STEADY,
        clean_start=False,
        properties=Properties(session_expiry_interval=60),
    )

    async def scenario() -> int | None:
        async with client:
            broker.acknowledge = False
            publishing = asyncio.create_task(client.publish("t", b"x", qos=1, timeout=30))
            await asyncio.sleep(0.1)
            broker.acknowledge = True
            broker.session_present = True
            broker.drop()
            return await publishing

    reason_code, _ = run_virtual(scenario())
    assert reason_code == 0
    resent = broker.received_of(Publish)
    assert [(p.dup, p.packet_id) for p in resent] == [(False, 1), (True, 1)]


def test_subscriptions_are_restored_when_the_broker_lost_the_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = ScriptedBroker()
    client = client_on(broker, reconnect=STEADY)
    caplog.set_level(logging.INFO, logger="asyncmqtt")

    async def scenario() -> None:
        async with client:
            await client.subscribe([("a/#", 1), ("b", 2)])
            broker.session_present = False
            broker.drop()
            await asyncio.sleep(1.5)
            await client.connected()

    run_virtual(scenario())
    first, again = broker.received_of(Subscribe)
    assert (
        again.subscriptions
        == first.subscriptions
        == (
            Subscription("a/#", 1),
            Subscription("b", 2),
        )
    )
    assert "subscribed again to 'a/#', 'b'" in caplog.text


def test_subscriptions_are_not_restored_when_the_broker_kept_the_session() -> None:
    broker = ScriptedBroker()
    client = client_on(
        broker,
        reconnect=STEADY,
        clean_start=False,
        properties=Properties(session_expiry_interval=60),
    )

    async def scenario() -> None:
        async with client:
            await client.subscribe("a/#", 1)
            broker.session_present = True
            broker.drop()
            await asyncio.sleep(1.5)
            await client.connected()

    run_virtual(scenario())
    assert len(broker.received_of(Subscribe)) == 1


def test_publishing_while_reconnecting_queues_in_order() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, reconnect=STEADY)

    async def scenario() -> list[int | None]:
        async with client:
            broker.drop()
            await asyncio.sleep(0.1)
            assert not client.is_connected
            return list(
                await asyncio.gather(
                    client.publish("t", b"1", qos=1),
                    client.publish("t", b"2", qos=0),
                    client.publish("t", b"3", qos=2),
                )
            )

    results, elapsed = run_virtual(scenario())
    assert results == [0, None, 0]
    assert [p.payload for p in broker.received_of(Publish)] == [b"1", b"2", b"3"]
    assert elapsed == pytest.approx(1.0)


def test_qos0_while_reconnecting_can_raise_instead() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, reconnect=STEADY, offline_qos0="raise")

    async def scenario() -> None:
        async with client:
            broker.drop()
            await asyncio.sleep(0.1)
            with pytest.raises(MqttError, match="offline_qos0='raise'"):
                await client.publish("t", b"0")
            assert await client.publish_nowait("t", b"1", qos=1) == 0  # QoS 1 still queues

    run_virtual(scenario())
    assert [p.payload for p in broker.received_of(Publish)] == [b"1"]


def test_a_subscribe_made_while_reconnecting_waits_for_the_connection() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, reconnect=STEADY)

    async def scenario() -> tuple[int, ...]:
        async with client:
            broker.drop()
            await asyncio.sleep(0.1)
            return await client.subscribe("x", qos=1)

    codes, elapsed = run_virtual(scenario())
    assert codes == (1,) and elapsed == pytest.approx(1.0)


def test_leaving_the_block_stops_reconnecting() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, reconnect=STEADY)

    async def scenario() -> None:
        async with client:
            broker.drop()
            await asyncio.sleep(0.1)
        await asyncio.sleep(60)  # nothing may connect any more
        with pytest.raises(MqttError, match="the client disconnected"):
            await anext(client.messages)

    run_virtual(scenario())
    assert len(broker.connects()) == 1


def test_session_taken_over_ends_the_block_instead_of_fighting_back() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, reconnect=STEADY)

    async def scenario() -> None:
        async with client:
            broker.send(Disconnect(0x8E))
            with pytest.raises(MqttError, match="gave up reconnecting"):
                await anext(client.messages)
            with pytest.raises(MqttError, match="SESSION_TAKEN_OVER"):
                await client.connected()

    run_virtual(scenario())  # (seen in the block, so not raised again when it ends)
    assert len(broker.connects()) == 1


def test_session_lost_policy_applies_to_what_was_in_flight_at_a_reconnect() -> None:
    broker = ScriptedBroker()
    client = client_on(broker, reconnect=STEADY, session_lost_policy="fail")

    async def scenario() -> None:
        async with client:
            broker.acknowledge = False
            publishing = asyncio.create_task(client.publish("t", b"x", qos=1, timeout=30))
            await asyncio.sleep(0.1)
            broker.session_present = False
            broker.drop()
            with pytest.raises(SessionLostError):
                await publishing

    run_virtual(scenario())


def test_delays_grow_while_connections_keep_failing_and_start_afresh_after_a_stable_one() -> None:
    broker = ScriptedBroker()
    policy = Reconnect(initial_delay=1.0, max_delay=8.0, jitter=False, stable_after=10.0)
    client = client_on(broker, reconnect=policy)

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        waits: list[float] = []
        async with client:
            for stay_up in (0.0, 0.0, 0.0, 20.0):
                await asyncio.sleep(stay_up)  # (how long the connection stays up: the scenario)
                dropped = loop.time()
                broker.drop()
                await asyncio.sleep(0)
                await client.connected()
                waits.append(loop.time() - dropped)
        return waits

    waits, _ = run_virtual(scenario())
    assert waits == pytest.approx([1.0, 2.0, 4.0, 1.0])
