"""The connection options end to end, against the embedded broker, which sees what the command
sent (its hooks and events): the URL's credentials, the client identifier, keepalive and
protocol version, a session kept across runs, the will, ``sub --reconnect`` across a broker
restart, and the WebSocket path. Run in this process (in a thread, while the test drives the
broker)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from cli_helpers import Result

import asyncmqtt
from asyncmqtt.broker import Broker
from asyncmqtt.protocol.broker_config import Action
from asyncmqtt.protocol.server import ClientConnected, ClientDisconnected, WillPublished

ACli = Callable[..., Awaitable[Result]]


class Seen:
    """What the broker saw: credentials, events, and a count of SUBSCRIBEs to wait on."""

    def __init__(self) -> None:
        self.credentials: list[tuple[str, str | None, bytes | None]] = []
        self.events: list[Any] = []
        self.subscribes = 0
        self.subscribed = asyncio.Event()

    def authenticate(self, client_id: str, username: str | None, password: bytes | None) -> None:
        self.credentials.append((client_id, username, password))

    def authorize(self, client_id: str, username: str | None, action: Action, topic: str) -> None:
        if action is Action.SUBSCRIBE:
            self.subscribes += 1
            self.subscribed.set()

    async def next_subscribe(self) -> None:
        await self.subscribed.wait()
        self.subscribed.clear()

    def connected(self) -> list[ClientConnected]:
        return [event for event in self.events if isinstance(event, ClientConnected)]


@pytest.fixture
async def seen() -> AsyncIterator[tuple[Broker, Seen]]:
    seen = Seen()
    async with Broker(
        port=0,
        websocket_port=0,
        websocket_path="/custom",
        authenticate=seen.authenticate,
        authorize=seen.authorize,
        on_event=seen.events.append,
    ) as broker:
        yield broker, seen


def _ports(broker: Broker) -> tuple[str, str]:
    tcp, websocket = (str(listener.port) for listener in broker.listeners)
    return tcp, websocket


async def test_the_url_credentials_and_client_options_reach_the_broker(
    acli: ACli, seen: tuple[Broker, Seen], topic: str
) -> None:
    broker, what = seen
    port, _ = _ports(broker)
    url = f"mqtt://al%40ice:p%3Ass@127.0.0.1:{port}"
    done = await acli("pub", "--url", url, "-i", "cli-one", "-k", "7", "-t", topic, "-m", "x")
    assert (done.code, done.err) == (0, "")
    # -P and -u override the URL's; -V 3.1 speaks MQTT 3.1.
    done = await acli(
        "pub", "--url", url, "-u", "bob", "-P", "other", "-V", "3.1", "-i", "cli-two",
        "-t", topic, "-m", "x",
    )  # fmt: skip
    assert (done.code, done.err) == (0, "")
    assert what.credentials == [("cli-one", "al@ice", b"p:ss"), ("cli-two", "bob", b"other")]
    assert [
        (event.client_id, event.connection.keep_alive, event.connection.protocol_version)
        for event in what.connected()
    ] == [("cli-one", 7, 5), ("cli-two", 60, 3)]


async def test_a_session_kept_across_runs(
    acli: ACli, seen: tuple[Broker, Seen], topic: str
) -> None:
    broker, what = seen
    port, _ = _ports(broker)
    keep = ["-p", port, "-i", "cli-keeper", "-q", "1", "-t", topic]
    # Subscribes, listens 50 ms, leaves; the broker keeps the session (--session-expiry).
    done = await acli("sub", *keep, "--no-clean-start", "--session-expiry", "60", "-W", "0.05")
    assert (done.code, done.out) == (0, "")
    assert broker.publish(topic, "while away", qos=1) == 1  # (queued for the session)
    done = await acli("sub", *keep, "--no-clean-start", "-C", "1", "-W", "10")
    assert (done.code, done.out) == (0, "while away\n")
    # --clean-start (the default) starts afresh: nothing kept.
    assert await acli("sub", *keep, "-W", "0.05") == Result(0, "", "")
    assert [event.session_present for event in what.connected()] == [False, True, False]


async def test_the_will_when_the_connection_is_dropped(
    acli: ACli, seen: tuple[Broker, Seen], topic: str
) -> None:
    broker, what = seen
    port, _ = _ports(broker)
    will = ["--will-topic", f"{topic}/will", "--will-payload", "gone", "--will-qos", "1"]
    run = asyncio.create_task(
        acli("sub", "-p", port, "-i", "cli-willing", "-t", topic, *will, "--will-retain")
    )
    await what.next_subscribe()
    assert broker.disconnect("cli-willing")  # (0x98, Administrative action: the will goes)
    done = await run
    # The command tells what ended it, in one line, with status 2.
    assert done.code == 2
    assert done.err == (
        "asyncmqtt sub: the connection ended: [code:152 ADMINISTRATIVE_ACTION] "
        "the broker disconnected (ADMINISTRATIVE_ACTION)\n"
    )
    [published] = [event for event in what.events if isinstance(event, WillPublished)]
    assert published.client_id == "cli-willing"
    # Retained with its QoS and payload: a later subscriber gets it.
    async with asyncmqtt.Client("127.0.0.1", int(port)) as client:
        await client.subscribe(f"{topic}/will", 1)
        message = await anext(aiter(client.messages))
    assert (message.payload, message.qos, message.retain) == (b"gone", 1, True)


async def test_sub_reconnect_resubscribes_after_a_broker_restart(
    acli: ACli, seen: tuple[Broker, Seen], topic: str
) -> None:
    broker, what = seen
    port, _ = _ports(broker)
    run = asyncio.create_task(acli("sub", "-p", port, "-t", topic, "-C", "2", "--reconnect"))
    await what.next_subscribe()
    broker.publish(topic, "before", qos=1)
    await broker.restart()  # (DISCONNECT 0x8B, then the same port again)
    await what.next_subscribe()  # (it came back and subscribed again)
    broker.publish(topic, "after", qos=1)
    done = await run
    assert (done.code, done.out) == (0, "before\nafter\n")
    lost = [event for event in what.events if isinstance(event, ClientDisconnected)]
    assert [event.reason_code for event in lost] == [0x8B, 0]  # (the restart, then its own)


async def test_the_websocket_path(acli: ACli, seen: tuple[Broker, Seen], topic: str) -> None:
    broker, _ = seen
    _, ws_port = _ports(broker)
    done = await acli(
        "pub", "--url", f"ws://127.0.0.1:{ws_port}/custom", "-t", topic, "-m", "ws", "-r",
        "--ws-header", "X-From: cli",
    )  # fmt: skip
    assert (done.code, done.err) == (0, "")
    where = ["--ws", "-h", "127.0.0.1", "-p", ws_port]
    done = await acli("sub", *where, "--ws-path", "/custom", "-t", topic, "-C", "1", "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["payload"] == "ws"
    # Another path: the handshake fails, and the command says what to check.
    done = await acli("sub", *where, "-t", topic, "-C", "1")  # (the default, /mqtt)
    assert done.code == 2
    assert "websocket stage" in done.err
    assert "check --ws-path" in done.err
