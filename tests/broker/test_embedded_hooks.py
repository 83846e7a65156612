"""The embedded broker's hooks over real connections: authenticate, authorize, redirect and
enhanced authentication (through the client core's ``Authenticator``, packet by packet;
``Client(authenticator=...)`` with SCRAM against this broker is in
tests/client/test_client_authentication.py), hooks that fail, and what the broker logs (never
passwords nor payloads)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from embedded_helpers import CoreClient, MakeBroker

from asyncmqtt import Client, MqttCodeError, MqttConnectError, ProtocolVersion
from asyncmqtt.broker import Broker
from asyncmqtt.protocol.broker_config import (
    Action,
    AuthContinue,
    AuthFailure,
    AuthReply,
    AuthSuccess,
    Redirect,
)
from asyncmqtt.protocol.enums import ConnAckReasonCode, ConnectReturnCode
from asyncmqtt.protocol.events import Connected, Disconnected, Reauthenticated
from asyncmqtt.protocol.server import ClientConnected, ConnectionRefused, HookFailed

V311, V5 = ProtocolVersion.V311, ProtocolVersion.V5
SECRET = "s3cret-passw0rd"


def check_password(client_id: str, username: str | None, password: bytes | None) -> int | None:
    if username == "alice" and password == SECRET.encode():
        return None
    return ConnAckReasonCode.BAD_USER_NAME_OR_PASSWORD


@pytest.mark.parametrize(
    ("protocol", "refusal"),
    [(V5, ConnAckReasonCode.BAD_USER_NAME_OR_PASSWORD), (V311, ConnectReturnCode(4))],
    ids=["5.0", "3.1.1"],
)
async def test_authenticate_accepts_and_refuses(
    make_broker: MakeBroker,
    caplog: pytest.LogCaptureFixture,
    protocol: ProtocolVersion,
    refusal: int,
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncmqtt.broker")
    broker: Broker = await make_broker(authenticate=check_password)
    async with Client(
        broker.host, broker.port, username="alice", password=SECRET, protocol=protocol
    ):
        pass
    with pytest.raises(MqttConnectError) as caught:
        async with Client(
            broker.host, broker.port, username="alice", password="wrong", protocol=protocol
        ):
            pass
    assert caught.value.rc == refusal
    assert broker.stats.connections_refused == 1
    messages = [record.getMessage() for record in caught_records(caplog)]
    assert any("connected from 127.0.0.1:" in m and "user 'alice'" in m for m in messages)
    assert any("refused client" in m and "0x86 bad user name or password" in m for m in messages)
    assert not any(SECRET in m or "wrong" in m for m in messages)


def caught_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("asyncmqtt.broker")]


async def test_authorize_refuses_publishes_and_subscriptions(make_broker: MakeBroker) -> None:
    asked: list[tuple[str, Action, str]] = []

    def authorize(client_id: str, username: str | None, action: Action, topic: str) -> int | None:
        asked.append((client_id, action, topic))
        return 0x87 if topic.startswith("secret") else None

    broker: Broker = await make_broker(authorize=authorize)
    async with Client(broker.host, broker.port, identifier="me") as client:
        with pytest.raises(MqttCodeError) as refused_publish:
            await client.publish("secret/plans", "x", qos=1)
        assert refused_publish.value.rc == 0x87  # PUBACK 0x87 Not authorized
        with pytest.raises(MqttCodeError) as refused_subscription:
            await client.subscribe("secret/#", qos=1)
        assert refused_subscription.value.rc == (0x87,)  # SUBACK 0x87
        assert await client.subscribe("public/#", qos=1) == (1,)
        assert await client.publish("public/news", "ok", qos=2) == 0
    assert ("me", Action.PUBLISH, "secret/plans") in asked
    assert ("me", Action.SUBSCRIBE, "secret/#") in asked


async def test_authorize_in_mqtt_3_1_1_refuses_a_subscription_with_0x80(
    make_broker: MakeBroker,
) -> None:
    broker: Broker = await make_broker(authorize=lambda c, u, a, t: 0x87)
    async with Client(broker.host, broker.port, protocol=V311) as client:
        with pytest.raises(MqttCodeError) as caught:
            await client.subscribe("anything")
    assert caught.value.rc == (0x80,)


async def test_redirect_sends_clients_elsewhere(make_broker: MakeBroker) -> None:
    def redirect(client_id: str, username: str | None) -> Redirect | None:
        return Redirect("other.example:1883") if client_id.startswith("go") else None

    broker: Broker = await make_broker(redirect=redirect)
    # (A Client follows redirects: tests/client/test_client_failover.py. Not following it
    # here shows the refusal, and looks up no other.example.)
    with pytest.raises(MqttConnectError) as caught:
        async with Client(broker.host, broker.port, identifier="go-away", follow_redirects=False):
            pass
    assert caught.value.rc == ConnAckReasonCode.USE_ANOTHER_SERVER  # 0x9C
    # The Server Reference, as the client core sees it.
    moved = await CoreClient.open(broker, client_id="go-too")
    refused = await moved.next_event(Disconnected)
    assert refused.reason_code == 0x9C
    assert refused.properties.server_reference == "other.example:1883"
    async with Client(broker.host, broker.port, identifier="stay"):
        pass


class Challenge:
    """The broker's side of a toy challenge/response method."""

    def step(self, data: bytes | None) -> AuthReply:
        if data == b"hello":
            return AuthContinue(b"nonce")
        if data == b"nonce:signed":
            return AuthSuccess(b"welcome")
        return AuthFailure(0x87)


class Signer:
    """The client's side (the client core's ``Authenticator`` protocol)."""

    method = "TOY-CHALLENGE"

    def __init__(self, signature: bytes = b"signed") -> None:
        self.signature = signature
        self.completed: list[bytes | None] = []

    def initial_data(self) -> bytes | None:
        return b"hello"

    def challenge(self, data: bytes | None) -> bytes | None:
        return (data or b"") + b":" + self.signature

    def complete(self, data: bytes | None) -> None:
        self.completed.append(data)


async def test_enhanced_authentication(make_broker: MakeBroker) -> None:
    events: list[object] = []

    def enhanced(method: str) -> Challenge | None:
        return Challenge() if method == "TOY-CHALLENGE" else None

    broker: Broker = await make_broker(enhanced_authentication=enhanced, on_event=events.append)
    signer = Signer()
    good = await CoreClient.open(broker, client_id="good", authenticator=signer)
    connected = await good.next_event(Connected)
    assert connected.connack.properties.authentication_data == b"welcome"
    good.conn.reauthenticate(good.now())
    good.flush()
    await good.next_event(Reauthenticated)
    assert signer.completed == [b"welcome", b"welcome"]
    await good.close()

    bad = await CoreClient.open(broker, client_id="bad", authenticator=Signer(b"forged"))
    assert (await bad.next_event(Disconnected)).reason_code == 0x87

    class Unknown(Signer):
        method = "UNKNOWN"

    unknown = await CoreClient.open(broker, client_id="unknown", authenticator=Unknown())
    assert (await unknown.next_event(Disconnected)).reason_code == 0x8C
    assert [type(e) for e in events if isinstance(e, ClientConnected | ConnectionRefused)] == [
        ClientConnected,
        ConnectionRefused,
        ConnectionRefused,
    ]


async def test_a_failing_hook_refuses_and_is_logged_as_a_warning(
    make_broker: MakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(client_id: str, username: str | None, password: bytes | None) -> int | None:
        raise KeyError("the user database is down")

    events: list[object] = []
    broker: Broker = await make_broker(authenticate=broken, on_event=events.append)
    with pytest.raises(MqttConnectError) as caught:
        async with Client(broker.host, broker.port, password=SECRET):
            pass
    assert caught.value.rc == 0x80
    (warning,) = [r for r in caught_records(caplog) if r.levelno == logging.WARNING]
    assert "the authenticate hook failed" in warning.getMessage()
    assert warning.exc_info is not None and warning.exc_info[0] is KeyError
    assert [e.hook for e in events if isinstance(e, HookFailed)] == ["authenticate"]


async def test_on_event_errors_are_logged_and_ignored(
    make_broker: MakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    def fragile(event: object) -> None:
        raise RuntimeError("observer bug")

    broker: Broker = await make_broker(on_event=fragile)
    async with Client(broker.host, broker.port) as client:
        await client.subscribe("t", qos=1)
        await client.publish("t", "payload-text", qos=1)
        async with asyncio.timeout(5):
            await anext(aiter(client.messages))
    errors = [r for r in caught_records(caplog) if r.levelno == logging.ERROR]
    assert errors and all("on_event handler raised on" in r.getMessage() for r in errors)
    assert not any("payload-text" in r.getMessage() for r in caplog.records)
