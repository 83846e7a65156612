"""``asyncmqtt sub`` and ``pub`` against real brokers, run in this process (in a thread, while
the test runs an embedded broker or a client): what they send and print, and their exit
statuses. The embedded broker's ``authorize`` hook tells the test when the command has
subscribed, and refuses what a test wants refused."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from broker import Mosquitto
from cli_helpers import Result

import asyncmqtt
from asyncmqtt.broker import Broker
from asyncmqtt.protocol.broker_config import Action
from asyncmqtt.protocol.server import ClientDisconnected, ConnectionRefused

ACli = Callable[..., Awaitable[Result]]


class Watched:
    """An embedded broker whose hooks record and refuse."""

    def __init__(self) -> None:
        self.subscribed = asyncio.Event()
        self.credentials: list[tuple[str | None, bytes | None]] = []
        self.refuse_topics: set[str] = set()
        self.events: list[Any] = []
        self.broker: Broker | None = None

    def authenticate(self, client_id: str, username: str | None, password: bytes | None) -> int:
        self.credentials.append((username, password))
        return 0x86 if password == b"wrong" else 0

    def authorize(self, client_id: str, username: str | None, action: Action, topic: str) -> int:
        if topic in self.refuse_topics:
            return 0x87
        if action is Action.SUBSCRIBE:
            self.subscribed.set()
        return 0

    @property
    def port(self) -> str:
        assert self.broker is not None
        return str(self.broker.port)


@pytest.fixture
async def watched() -> AsyncIterator[Watched]:
    watched = Watched()
    async with Broker(
        port=0,
        authenticate=watched.authenticate,
        authorize=watched.authorize,
        on_event=watched.events.append,
    ) as broker:
        watched.broker = broker
        yield watched


async def _subscriber(port: str, topic: str) -> asyncmqtt.Client:
    client = asyncmqtt.Client("127.0.0.1", int(port))
    await client.__aenter__()
    await client.subscribe(topic, 2)
    return client


# -- sub ----------------------------------------------------------------------------------------


async def test_sub_prints_each_message_and_stops_after_count(
    acli: ACli, watched: Watched, topic: str
) -> None:
    run = asyncio.create_task(acli("sub", "-p", watched.port, "-t", f"{topic}/#", "-C", "3"))
    await watched.subscribed.wait()
    assert watched.broker is not None
    watched.broker.publish(f"{topic}/a", "first")
    watched.broker.publish(f"{topic}/b", b"\x00\xff", qos=1)
    watched.broker.publish(f"{topic}/c", "two\nlines", qos=2)
    done = await run
    assert (done.code, done.err) == (0, "")
    assert done.out == "first\n<2 bytes, not UTF-8: 00ff>\ntwo\nlines\n"
    # It left properly: DISCONNECT, not a dropped connection.
    [gone] = [event for event in watched.events if isinstance(event, ClientDisconnected)]
    assert gone.error is None


async def test_sub_verbose_and_json_show_properties(
    acli: ACli, watched: Watched, topic: str
) -> None:
    properties = asyncmqtt.Properties(
        content_type="application/json", user_properties=(("source", "test"),)
    )
    for output in ("-v", "--json"):
        watched.subscribed.clear()
        run = asyncio.create_task(
            acli("sub", "-p", watched.port, "-t", topic, "-q", "1", "-C", "1", output)
        )
        await watched.subscribed.wait()
        assert watched.broker is not None
        watched.broker.publish(topic, b'{"on": true}', qos=1, properties=properties)
        done = await run
        assert done.code == 0, done.err
        if output == "-v":
            assert done.out == (
                f"{topic} qos=1 retain=0 content_type=application/json user:source=test "
                '{"on": true}\n'
            )
        else:
            assert json.loads(done.out) == {
                "topic": topic,
                "payload": '{"on": true}',
                "qos": 1,
                "retain": False,
                "properties": {
                    "content_type": "application/json",
                    "user_properties": [["source", "test"]],
                },
            }


async def test_sub_sends_its_user_properties_with_the_subscribe(
    acli: ACli, watched: Watched, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[asyncmqtt.Properties | None] = []
    subscribe = asyncmqtt.Client.subscribe

    async def recording(self: asyncmqtt.Client, *args: Any, **kwargs: Any) -> tuple[int, ...]:
        sent.append(kwargs.get("properties"))
        return await subscribe(self, *args, **kwargs)

    monkeypatch.setattr(asyncmqtt.Client, "subscribe", recording)
    done = await acli(
        "sub", "-p", watched.port, "-t", topic, "-D", "a=1", "-D", "b=2", "-W", "0.01"
    )
    assert (done.code, done.err) == (0, "")
    assert sent == [asyncmqtt.Properties(user_properties=(("a", "1"), ("b", "2")))]
    assert watched.subscribed.is_set()  # (the broker took it)


async def test_sub_raw_writes_the_bytes(acli: ACli, watched: Watched, topic: str) -> None:
    assert watched.broker is not None
    watched.broker.publish(topic, b"\x00\x01binary", retain=True)
    done = await acli("sub", "-p", watched.port, "-t", topic, "-C", "1", "--raw")
    assert (done.code, done.out) == (0, "\x00\x01binary")


async def test_sub_times_out_with_status_3(acli: ACli, watched: Watched, topic: str) -> None:
    done = await acli("sub", "-p", watched.port, "-t", topic, "-C", "2", "-W", "0.2")
    assert done.code == 3
    assert done.err == "asyncmqtt sub: -W: 0 of 2 messages came within 0.2 s\n"
    # Without -C, -W is how long to listen: status 0.
    done = await acli("sub", "-p", watched.port, "-t", topic, "-W", "0.1")
    assert (done.code, done.out, done.err) == (0, "", "")


async def test_a_refused_subscription_exits_with_status_4(
    acli: ACli, watched: Watched, topic: str
) -> None:
    watched.refuse_topics.add(topic)
    done = await acli("sub", "-p", watched.port, "-t", topic, "-t", f"{topic}/ok")
    assert done.code == 4
    assert done.err.startswith("asyncmqtt sub: [code:135 NOT_AUTHORIZED, 0 GRANTED_QOS_0]")
    assert f"the broker refused subscribing to '{topic}', '{topic}/ok'" in done.err


# -- pub ----------------------------------------------------------------------------------------


async def test_pub_sends_the_message_with_its_properties(
    acli: ACli, watched: Watched, topic: str
) -> None:
    client = await _subscriber(watched.port, topic)
    try:
        done = await acli(
            "pub", "-p", watched.port, "-t", topic, "-m", "héllo", "-q", "2", "-r",
            "-D", "a=1", "-D", "a=2", "--content-type", "text/plain", "--message-expiry", "60",
            "--response-topic", "replies", "--correlation-data", "id-1",
        )  # fmt: skip
        assert (done.code, done.out, done.err) == (0, "", "")
        message = await anext(aiter(client.messages))
    finally:
        await client.__aexit__(None, None, None)
    assert (message.payload, message.qos) == ("héllo".encode(), 2)
    properties = message.properties
    assert properties.user_properties == (("a", "1"), ("a", "2"))
    assert (properties.content_type, properties.response_topic) == ("text/plain", "replies")
    assert properties.correlation_data == b"id-1"
    assert properties.message_expiry_interval is not None
    assert 0 < properties.message_expiry_interval <= 60


async def test_pub_sources(
    acli: ACli,
    watched: Watched,
    topic: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)))
    stdin = io.TextIOWrapper(io.BytesIO(b"line one\n\nline two\r\nlast"))
    monkeypatch.setattr("sys.stdin", stdin)
    client = await _subscriber(watched.port, topic)
    port = watched.port
    try:
        for source in (["-f", str(blob)], ["-n"], ["--stdin-lines"]):
            done = await acli("pub", "-p", port, "-t", topic, "-q", "1", *source)
            assert done.code == 0, done.err
        done = await acli(
            "pub", "-p", port, "-t", topic, "-m", "again", "--count", "3", "--interval", "0.01"
        )
        assert done.code == 0, done.err
        payloads = [message.payload async for message in _take(client, 8)]
    finally:
        await client.__aexit__(None, None, None)
    assert payloads == [
        bytes(range(256)),
        b"",
        b"line one",
        b"line two",  # (the empty line is skipped, the \r\n removed)
        b"last",
        b"again",
        b"again",
        b"again",
    ]


async def _take(client: asyncmqtt.Client, count: int) -> AsyncIterator[asyncmqtt.Message]:
    async for message in client.messages:
        yield message
        count -= 1
        if not count:
            return


async def test_pub_of_stdin(
    acli: ACli, watched: Watched, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\x00all\nof it\xff")))
    client = await _subscriber(watched.port, topic)
    try:
        done = await acli("pub", "-p", watched.port, "-t", topic, "--stdin")
        assert done.code == 0, done.err
        message = await anext(aiter(client.messages))
    finally:
        await client.__aexit__(None, None, None)
    assert message.payload == b"\x00all\nof it\xff"


async def test_a_refused_publish_exits_with_status_4(
    acli: ACli, watched: Watched, topic: str
) -> None:
    watched.refuse_topics.add(topic)
    done = await acli("pub", "-p", watched.port, "-t", topic, "-m", "x", "-q", "1")
    assert done.code == 4
    assert done.err.startswith("asyncmqtt pub: [code:135 NOT_AUTHORIZED]")


async def test_refused_credentials_exit_with_status_4(
    acli: ACli, watched: Watched, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MQTT_PASSWORD", "wrong")
    done = await acli("pub", "-p", watched.port, "-u", "alice", "-t", topic, "-m", "x")
    assert done.code == 4
    assert "BAD_USER_NAME_OR_PASSWORD" in done.err
    assert "(check -u and the password (-P, MQTT_PASSWORD))" in done.err
    assert len(done.err.splitlines()) == 1
    assert [type(event) for event in watched.events] == [ConnectionRefused]


async def test_the_password_comes_from_the_environment(
    acli: ACli, watched: Watched, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MQTT_PASSWORD", "s3cret from env")
    done = await acli("pub", "-p", watched.port, "-u", "alice", "-t", topic, "-m", "x", "-d")
    assert done.code == 0, done.err
    assert watched.credentials == [("alice", b"s3cret from env")]
    assert "s3cret" not in done.out + done.err  # (not even in the debug log)
    assert "DEBUG" in done.err


def test_could_not_connect_exits_with_status_2(cli: Callable[..., Result]) -> None:
    done = cli("pub", "-p", "1", "-t", "x", "-m", "y", "--timeout", "5")
    assert done.code == 2
    assert done.err == (
        "asyncmqtt pub: connecting to mqtt://localhost:1 failed at the tcp stage: "
        "[Errno 111] Connect call failed ('127.0.0.1', 1) "
        "(is a broker listening there? check -h / -p / --url)\n"
    )


def test_debug_shows_the_traceback(cli: Callable[..., Result]) -> None:
    done = cli("pub", "-p", "1", "-t", "x", "-m", "y", "--debug")
    assert done.code == 2
    assert "Traceback (most recent call last)" in done.err
    assert done.err.splitlines()[-1].startswith("asyncmqtt pub: connecting to")


def test_pub_and_sub_through_mosquitto_over_mqtt_3_1_1(
    cli: Callable[..., Result], mosquitto: Mosquitto, topic: str
) -> None:
    where = ["-h", mosquitto.host, "-p", str(mosquitto.port), "-V", "3.1.1"]
    assert cli("pub", *where, "-t", topic, "-m", "kept", "-r", "-q", "1").code == 0
    done = cli("sub", *where, "-t", topic, "-C", "1", "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out) == {"topic": topic, "payload": "kept", "qos": 0, "retain": True}
    # MQTT 5 properties need MQTT 5: said at once, nothing sent.
    done = cli("pub", *where, "-t", topic, "-m", "x", "-D", "a=b")
    assert done.code == 1
    assert "need MQTT 5.0" in done.err
