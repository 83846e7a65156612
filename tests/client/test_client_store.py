"""A Client on a durable session store: a new process resumes what the old one left (offline:
scripted broker, virtual time; tests/faults kills real processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from memory_network import run_virtual
from scripted_broker import ScriptedBroker, client_on

from asyncmqtt import MemoryStore, PublishWithdrawnError, SQLiteStore
from asyncmqtt.protocol.packets import Connect, Publish, PubRec, PubRel, Subscribe
from asyncmqtt.protocol.session import PublishAccepted


def test_a_new_process_resumes_the_stored_session(tmp_path: Path) -> None:
    path = tmp_path / "client.db"
    broker = ScriptedBroker()
    broker.acknowledge = False  # nothing comes back: everything stays in flight

    async def first_process() -> None:
        store = SQLiteStore(path)
        client = client_on(broker, identifier="sensor-7", reconnect=True, session_store=store)
        await client.__aenter__()
        await client.subscribe("cmd/#", qos=1)
        for number in range(3):
            client.publish_nowait("t", str(number), qos=1 + number % 2)
        await asyncio.sleep(0.1)
        store.close()  # the process dies here: no DISCONNECT, nothing more is stored

    run_virtual(first_process())
    first = broker.received_of(Publish)
    assert [p.packet_id for p in first] == [2, 3, 4]  # (1 was the SUBSCRIBE)

    broker.acknowledge = True
    broker.session_present = False  # and the broker lost the session meanwhile

    async def second_process() -> list[int | None]:
        with SQLiteStore(path) as store:
            client = client_on(broker, identifier=None, reconnect=True, session_store=store)
            assert client.identifier == "sensor-7"  # the stored identifier
            async with client:
                await asyncio.sleep(0.1)
                return [client._session.inflight_count, client._session.pending_count]

    counts, _ = run_virtual(second_process())
    assert counts == [0, 0]  # everything was delivered on the new connection
    connect = broker.connects()[-1]
    assert isinstance(connect, Connect) and connect.client_id == "sensor-7"
    assert not connect.clean_start
    resent = broker.received_of(Publish)[3:]
    assert [p.payload for p in resent] == [b"0", b"1", b"2"]  # in order, as new messages
    # The broker had lost the subscription too: it is made again.
    assert [s.subscriptions for s in broker.received_of(Subscribe)] == [
        s.subscriptions for s in broker.received_of(Subscribe)[:1]
    ] * 2


def test_a_released_qos2_message_is_completed_not_sent_again_after_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "client.db"
    broker = ScriptedBroker()
    broker.acknowledge = False

    async def first_process() -> None:
        store = SQLiteStore(path)
        client = client_on(broker, session_store=store)
        await client.__aenter__()
        client.publish_nowait("t", b"once", qos=2)
        await asyncio.sleep(0)
        broker.send(PubRec(1))  # the broker has it; its PUBCOMP never comes
        await asyncio.sleep(0.1)
        store.close()

    run_virtual(first_process())
    broker.acknowledge = True
    broker.session_present = True

    async def second_process() -> None:
        with SQLiteStore(path) as store:
            async with client_on(broker, session_store=store):
                await asyncio.sleep(0.1)

    run_virtual(second_process())
    assert len(broker.received_of(Publish)) == 1  # exactly once
    assert broker.received_of(PubRel) == [PubRel(1), PubRel(1)]  # the release, resent


def test_the_store_must_hold_this_clients_session(tmp_path: Path) -> None:
    path = tmp_path / "client.db"
    broker = ScriptedBroker()

    async def connect_once() -> None:
        with SQLiteStore(path) as store:
            async with client_on(broker, identifier="a", session_store=store):
                pass

    run_virtual(connect_once())
    with SQLiteStore(path) as store, pytest.raises(ValueError, match="session of client 'a'"):
        client_on(broker, identifier="b", session_store=store)


def test_the_default_store_keeps_nothing_and_costs_nothing() -> None:
    client = client_on(ScriptedBroker())
    assert isinstance(client._options.store, MemoryStore)
    assert not client._session.recording
    with pytest.raises(TypeError, match="session_store must be a session store"):
        client_on(ScriptedBroker(), session_store="file.db")


def test_a_publish_made_while_disconnected_is_stored_before_the_reconnect(
    tmp_path: Path,
) -> None:
    path = tmp_path / "client.db"
    broker = ScriptedBroker()

    async def offline_publishes() -> None:
        store = SQLiteStore(path)
        client = client_on(broker, reconnect=True, session_store=store)
        await client.__aenter__()
        broker.refusals = [0x88] * 100  # the broker stays unavailable
        broker.drop()
        await asyncio.sleep(0.1)
        assert not client.is_connected
        client.publish_nowait("t", b"kept", qos=1)
        withdrawn = asyncio.create_task(client.publish("t", b"gone", qos=1, timeout=0.5))
        with pytest.raises(PublishWithdrawnError):
            await withdrawn
        await asyncio.sleep(0)  # (one loop turn: the store is written once per turn)
        store.close()  # the process dies during the outage
        # (and its tasks with it: none is left pending when the loop closes)
        others = asyncio.all_tasks() - {asyncio.current_task()}
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    run_virtual(offline_publishes())
    with SQLiteStore(path) as store:
        accepted = [r for r in store.load() if isinstance(r, PublishAccepted)]
    assert [r.publish.payload for r in accepted] == [b"kept"]  # and not the withdrawn one
