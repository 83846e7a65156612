"""Enhanced authentication at the Client: ``Client(authenticator=...)`` and
``client.reauthenticate()``.

Offline first, on the in-memory network with a virtual clock: a scripted broker that runs the
shipped SCRAM verifier and can misbehave (hold an exchange, name another method, speak only
MQTT 3.1.1), for timeouts, concurrency and reconnects. Then end to end: the embedded broker
(whose ``enhanced_authentication`` hook runs ``ScramSha256Verifier``) over TCP, and mosquitto,
which has no enhanced authentication and says so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from broker import Mosquitto
from memory_network import run_virtual
from scripted_broker import ScriptedBroker, client_on

from asyncmqtt import (
    Client,
    MqttCodeError,
    MqttConnectError,
    MqttError,
    MqttTimeoutError,
    ProtocolVersion,
    Reconnect,
)
from asyncmqtt.broker import (
    AuthContinue,
    AuthFailure,
    AuthSuccess,
    Broker,
    ClientConnected,
    ClientDisconnected,
    ServerAuthenticator,
)
from asyncmqtt.protocol.broker_config import AuthReply
from asyncmqtt.protocol.packets import Auth, ConnAck, Connect, Disconnect, Packet, Publish
from asyncmqtt.protocol.properties import Properties
from asyncmqtt.scram import ScramCredentials, ScramSha256Authenticator, ScramSha256Verifier

SCRAM = "SCRAM-SHA-256"
STEADY = Reconnect(initial_delay=1.0, max_delay=1.0, jitter=False)


def alice(password: str = "secret", **options: Any) -> ScramSha256Authenticator:
    return ScramSha256Authenticator("alice", password, **options)


class Counting:
    """A verifier that records each exchange's messages from the client, and can tamper with
    its successes (a broker that does not hold the user's keys)."""

    def __init__(self, verifier: ScramSha256Verifier) -> None:
        self.verifier = verifier
        self.exchanges: list[list[bytes | None]] = []
        self.forge = False

    def __call__(self, method: str) -> ServerAuthenticator | None:
        inner = self.verifier(method)
        if inner is None:
            return None
        received: list[bytes | None] = []
        self.exchanges.append(received)
        counting = self

        class Exchange:
            def step(self, data: bytes | None) -> AuthReply:
                received.append(data)
                reply = inner.step(data)
                if counting.forge and isinstance(reply, AuthSuccess):
                    return AuthSuccess(b"v=" + b"A" * 43 + b"=")
                return reply

        return Exchange()


class AuthBroker(ScriptedBroker):
    """The scripted broker with MQTT 5 enhanced authentication, run by ``verifier``.

    ``hold``: AUTH 0x19 is kept unanswered (in ``held``) until ``release()``. ``method``: the
    Authentication Method its answers name (None: the client's, as it must)."""

    def __init__(self, verifier: Any) -> None:
        super().__init__()
        self.verifier = verifier
        self.method: str | None = None
        self.hold = False
        self.held: list[Auth] = []
        self.exchange: ServerAuthenticator | None = None
        self.connecting = False
        self.client_method = ""

    def _answer(self, packet: Packet) -> list[Packet | bytes] | None:
        if isinstance(packet, Connect) and packet.properties.authentication_method:
            self.client_method = packet.properties.authentication_method
            self.connecting = True
            self.exchange = self.verifier(self.client_method)
            return self._step(packet.properties.authentication_data)
        if isinstance(packet, Auth):
            if packet.reason_code == 0x19:
                if self.hold:
                    self.held.append(packet)
                    return None
                self.exchange = self.verifier(self.client_method)
            return self._step(packet.properties.authentication_data)
        return super()._answer(packet)

    def release(self) -> None:
        """Answer the AUTH 0x19 held back."""
        packet = self.held.pop(0)
        self.exchange = self.verifier(self.client_method)
        self.send(*self._step(packet.properties.authentication_data))

    def _step(self, data: bytes | None) -> list[Packet | bytes]:
        assert self.exchange is not None
        reply = self.exchange.step(data)
        props = Properties(
            authentication_method=self.method or self.client_method,
            authentication_data=getattr(reply, "data", None),
        )
        if isinstance(reply, AuthContinue):
            return [Auth(0x18, props)]
        connecting, self.connecting = self.connecting, False
        if isinstance(reply, AuthSuccess):
            return [ConnAck(False, 0, props) if connecting else Auth(0x00, props)]
        assert isinstance(reply, AuthFailure)
        return [ConnAck(False, reply.reason_code) if connecting else Disconnect(reply.reason_code)]

    def auths(self, code: int) -> list[Auth]:
        return [p for p in self.received if isinstance(p, Auth) and p.reason_code == code]


class BrokerEvents(list[Any]):
    """The embedded broker's events (its ``on_event``), with a way to wait for them."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def __call__(self, event: object) -> None:
        self.append(event)
        self.changed.set()

    async def wait_for(self, kind: type, count: int = 1) -> list[Any]:
        async with asyncio.timeout(10):
            while len(found := [e for e in self if isinstance(e, kind)]) < count:
                self.changed.clear()
                await self.changed.wait()
        return found


def scram_broker(**users: str) -> AuthBroker:
    return AuthBroker(ScramSha256Verifier(users or {"alice": "secret"}))


# ---------------------------------------------------------------- arguments


def test_an_authenticator_needs_mqtt_5() -> None:
    for version in (ProtocolVersion.V311, ProtocolVersion.V31):
        with pytest.raises(ValueError, match=r"needs MQTT 5\.0, not 3\.1"):
            Client("localhost", protocol=version, authenticator=alice())
    # Left to negotiation, the client speaks 5.0 only: 3.1.1 would connect unauthenticated.
    assert not Client("localhost", authenticator=alice())._options.negotiate
    assert Client("localhost")._options.negotiate


def test_an_authenticator_must_be_one() -> None:
    with pytest.raises(TypeError, match="authenticator must be an Authenticator"):
        Client("localhost", authenticator="SCRAM-SHA-256")  # type: ignore[arg-type]


def test_reauthenticate_needs_an_authenticator_and_a_connection() -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match=r"needs an authenticator: give Client\(authent"):
            await Client("localhost").reauthenticate()
        with pytest.raises(MqttError, match="cannot reauthenticate: the client is not connected"):
            await Client("localhost", authenticator=alice()).reauthenticate()

    run_virtual(scenario())


# ---------------------------------------------------------------- offline: the scripted broker


def test_connect_and_reauthenticate_run_the_exchange() -> None:
    broker = scram_broker()
    client = client_on(broker, authenticator=alice())

    async def scenario() -> None:
        async with client:
            await client.reauthenticate()
            await client.reauthenticate()

    run_virtual(scenario())
    [connect] = broker.connects()
    assert connect.properties.authentication_method == SCRAM
    assert len(broker.auths(0x19)) == 2
    assert len(broker.auths(0x18)) == 3  # one client-final-message per exchange


def test_a_broker_naming_another_method_is_refused() -> None:
    broker = scram_broker()
    broker.method = "SCRAM-SHA-1"
    client = client_on(broker, authenticator=alice())

    async def scenario() -> None:
        async with client:
            pass

    with pytest.raises(MqttConnectError) as caught:
        run_virtual(scenario())
    assert "the broker sent AUTH for method 'SCRAM-SHA-1', not 'SCRAM-SHA-256'" in str(caught.value)
    assert caught.value.stage == "connack"


def test_a_broker_accepting_under_another_method_is_refused() -> None:
    class Accepting(ScriptedBroker):
        def _answer(self, packet: Packet) -> list[Packet | bytes] | None:
            if isinstance(packet, Connect):  # accepted at once, under no method at all
                return [ConnAck(False, 0)]
            return super()._answer(packet)

    client = client_on(Accepting(), authenticator=alice())

    async def scenario() -> None:
        async with client:
            pass

    with pytest.raises(MqttConnectError, match=r"not 'SCRAM-SHA-256' as CONNECT asked"):
        run_virtual(scenario())


def test_a_broker_speaking_only_mqtt_3_1_1_gets_a_clear_error() -> None:
    broker = ScriptedBroker()
    broker.answer = lambda packet: [b"\x20\x02\x00\x01"]  # 3.1.x CONNACK: bad protocol version
    client = client_on(broker, authenticator=alice())

    async def scenario() -> None:
        async with client:
            pass

    with pytest.raises(MqttConnectError, match=r"enhanced authentication .* needs MQTT 5\.0"):
        run_virtual(scenario())
    assert len(broker.connects()) == 1  # no fallback to 3.1.1


def test_a_timeout_leaves_the_exchange_under_way_and_the_next_call_waits_for_it() -> None:
    broker = scram_broker()
    client = client_on(broker, authenticator=alice())

    async def scenario() -> float:
        async with client:
            loop = asyncio.get_running_loop()
            broker.hold = True
            started = loop.time()
            with pytest.raises(MqttTimeoutError, match="stays under way"):
                await client.reauthenticate(timeout=5)
            assert loop.time() - started == pytest.approx(5)
            assert client.is_connected
            await client.publish("still/usable", qos=1)  # the connection carries on
            second = asyncio.create_task(client.reauthenticate(timeout=30))
            await asyncio.sleep(3)
            assert len(broker.auths(0x19)) == 1  # it waits: one exchange at a time
            broker.hold = False
            broker.release()  # the first exchange ends at last; the second starts
            await second
            return loop.time() - started

    elapsed, _ = run_virtual(scenario())
    assert elapsed == pytest.approx(8)
    assert len(broker.auths(0x19)) == 2
    assert len(broker.received_of(Publish)) == 1


def test_a_timeout_before_starting_says_nothing_was_sent() -> None:
    broker = scram_broker()
    client = client_on(broker, authenticator=alice())

    async def scenario() -> None:
        async with client:
            broker.hold = True
            first = asyncio.create_task(client.reauthenticate(timeout=60))
            await asyncio.sleep(0)
            with pytest.raises(MqttTimeoutError, match="before it could start"):
                await client.reauthenticate(timeout=2)
            broker.hold = False
            broker.release()
            await first

    run_virtual(scenario())
    assert len(broker.auths(0x19)) == 1


def test_concurrent_calls_run_one_exchange_after_another() -> None:
    broker = scram_broker()
    client = client_on(broker, authenticator=alice())
    order: list[str] = []

    async def reauthenticate(name: str) -> None:
        await client.reauthenticate()
        order.append(name)

    async def scenario() -> None:
        async with client:
            broker.hold = True
            calls = [asyncio.create_task(reauthenticate(name)) for name in "abc"]
            for expected in (1, 2, 3):
                await asyncio.sleep(1)
                assert len(broker.auths(0x19)) == expected  # never two at once
                broker.release()
            await asyncio.gather(*calls)

    run_virtual(scenario())
    assert order == ["a", "b", "c"]


def test_a_cancelled_call_leaves_its_exchange_to_finish() -> None:
    broker = scram_broker()
    client = client_on(broker, authenticator=alice())

    async def scenario() -> None:
        async with client:
            broker.hold = True
            first = asyncio.create_task(client.reauthenticate())
            await asyncio.sleep(1)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            second = asyncio.create_task(client.reauthenticate())
            await asyncio.sleep(1)
            assert len(broker.auths(0x19)) == 1
            broker.release()
            await asyncio.sleep(1)
            broker.release()
            await second

    run_virtual(scenario())
    assert len(broker.auths(0x19)) == 2


def test_a_refused_reauthentication_raises_the_brokers_code() -> None:
    credentials = {"alice": ScramCredentials.from_password("secret")}
    broker = AuthBroker(ScramSha256Verifier(credentials.get))
    client = client_on(broker, authenticator=alice())

    async def scenario() -> None:
        async with client:
            credentials["alice"] = ScramCredentials.from_password("changed")
            with pytest.raises(MqttCodeError) as caught:
                await client.reauthenticate()
            assert caught.value.rc == 0x87
            assert "re-authentication failed: the broker disconnected (NOT_AUTHORIZED)" in str(
                caught.value
            )
            assert not client.is_connected
        # (Leaving the block raises nothing more: the caller was told.)

    run_virtual(scenario())


def test_reauthenticate_while_reconnecting_waits_for_the_connection() -> None:
    broker = scram_broker()
    client = client_on(broker, authenticator=alice(), reconnect=STEADY)

    async def scenario() -> None:
        async with client:
            broker.drop()
            await asyncio.sleep(0.1)
            assert not client.is_connected
            await client.reauthenticate()
            assert client.is_connected

    _, elapsed = run_virtual(scenario())
    assert elapsed == pytest.approx(1.0)  # the reconnect delay (from the loss): no more
    assert len(broker.connects()) == 2
    assert len(broker.auths(0x19)) == 1


def test_a_lost_connection_ends_the_exchange_under_way() -> None:
    broker = scram_broker()
    client = client_on(broker, authenticator=alice(), reconnect=STEADY)

    async def scenario() -> None:
        async with client:
            broker.hold = True
            call = asyncio.create_task(client.reauthenticate())
            await asyncio.sleep(0.5)
            broker.drop()
            with pytest.raises(MqttError, match="did not finish: the connection ended"):
                await call
            await client.connected()  # the new connection authenticated afresh
            broker.hold = False
            await client.reauthenticate()

    run_virtual(scenario())
    connects = broker.connects()
    assert len(connects) == 2
    nonces = {c.properties.authentication_data for c in connects}
    assert len(nonces) == 2  # a new exchange, with a new nonce, per connection


def test_initial_data_raising_sends_nothing() -> None:
    class Flaky(ScramSha256Authenticator):
        fail = False

        def initial_data(self) -> bytes:
            if self.fail:
                raise RuntimeError("the token service is down")
            return super().initial_data()

    authenticator = Flaky("alice", "secret")
    broker = scram_broker()
    client = client_on(broker, authenticator=authenticator)

    async def scenario() -> None:
        async with client:
            authenticator.fail = True
            with pytest.raises(RuntimeError, match="token service"):
                await client.reauthenticate()
            authenticator.fail = False
            await client.reauthenticate()  # nothing was left half done

    run_virtual(scenario())
    assert len(broker.auths(0x19)) == 1


# ---------------------------------------------------------------- the embedded broker


async def test_scram_with_the_embedded_broker(caplog: pytest.LogCaptureFixture) -> None:
    verifier = Counting(ScramSha256Verifier({"alice": "secret"}))
    async with Broker(port=0, enhanced_authentication=verifier) as broker:
        client = Client(broker.host, broker.port, authenticator=alice())
        with caplog.at_level(logging.INFO, "asyncmqtt"):
            async with client:
                await client.reauthenticate()
                await client.subscribe("a/b", qos=1)
                await client.publish("a/b", "hello", qos=1)
                message = await anext(aiter(client.messages))
        assert message.payload == b"hello"
    assert len(verifier.exchanges) == 2
    assert "re-authenticated with the broker at mqtt://127.0.0.1:" in caplog.text
    assert "secret" not in caplog.text


async def test_a_wrong_password_is_refused_for_good() -> None:
    verifier = Counting(ScramSha256Verifier({"alice": "secret"}))
    async with Broker(port=0, enhanced_authentication=verifier) as broker:
        client = Client(broker.host, broker.port, authenticator=alice("wrong"), reconnect=True)
        with pytest.raises(MqttConnectError) as caught:
            async with client:
                pass
    assert caught.value.rc == 0x87
    assert "enhanced authentication with method 'SCRAM-SHA-256'" in str(caught.value)
    assert len(verifier.exchanges) == 1  # not retried: retrying cannot fix a password


async def test_a_broker_that_cannot_prove_itself_is_refused_for_good() -> None:
    verifier = Counting(ScramSha256Verifier({"alice": "secret"}))
    verifier.forge = True
    async with Broker(port=0, enhanced_authentication=verifier) as broker:
        client = Client(broker.host, broker.port, authenticator=alice(), reconnect=True)
        with pytest.raises(MqttConnectError) as caught:
            async with client:
                pass
    text = str(caught.value)
    assert "enhanced authentication with the broker at mqtt://127.0.0.1:" in text
    assert "the broker's signature does not verify" in text
    assert len(verifier.exchanges) == 1


async def test_reauthentication_refused_by_the_embedded_broker() -> None:
    credentials = {"alice": ScramCredentials.from_password("secret")}
    events = BrokerEvents()
    async with Broker(
        port=0, enhanced_authentication=ScramSha256Verifier(credentials.get), on_event=events
    ) as broker:
        client = Client(broker.host, broker.port, authenticator=alice(), identifier="c")
        async with client:
            credentials["alice"] = ScramCredentials.from_password("rotated")
            with pytest.raises(MqttCodeError) as caught:
                await client.reauthenticate()
            assert caught.value.rc == 0x87
            with pytest.raises(MqttError, match=r"cannot publish|connection ended"):
                await client.publish("a", "b", qos=1)
        [ended] = await events.wait_for(ClientDisconnected)
    assert ended.reason_code == 0x87


async def test_the_client_rejecting_the_broker_on_reauthentication() -> None:
    verifier = Counting(ScramSha256Verifier({"alice": "secret"}))
    events = BrokerEvents()
    async with Broker(port=0, enhanced_authentication=verifier, on_event=events) as broker:
        client = Client(broker.host, broker.port, authenticator=alice())
        async with client:
            verifier.forge = True
            with pytest.raises(MqttError) as caught:
                await client.reauthenticate()
            assert not isinstance(caught.value, MqttCodeError)
            assert "re-authentication failed: enhanced authentication rejected the broker" in str(
                caught.value
            )
            assert not client.is_connected
        [ended] = await events.wait_for(ClientDisconnected)
    assert ended.reason_code == 0x87  # the client's DISCONNECT


async def test_a_reconnect_runs_a_new_exchange() -> None:
    verifier = Counting(ScramSha256Verifier({"alice": "secret"}))
    events = BrokerEvents()
    async with Broker(port=0, enhanced_authentication=verifier, on_event=events) as broker:
        client = Client(
            broker.host, broker.port, authenticator=alice(), identifier="c", reconnect=STEADY
        )
        async with client:
            assert broker.disconnect("c", 0x80)  # (a code that reconnecting may fix)
            await events.wait_for(ClientConnected, 2)
            await client.connected()
            await client.reauthenticate()
    assert len(verifier.exchanges) == 3  # connect, reconnect, re-authentication
    first_messages = [exchange[0] for exchange in verifier.exchanges]
    assert len(set(first_messages)) == 3  # each with a new nonce


# ---------------------------------------------------------------- mosquitto


async def test_mosquitto_refuses_the_method_clearly(mosquitto: Mosquitto) -> None:
    client = Client("127.0.0.1", mosquitto.port, authenticator=alice(), reconnect=True)
    with pytest.raises(MqttConnectError) as caught:
        async with client:
            pass
    assert caught.value.rc == 0x8C  # Bad authentication method, and not retried
    assert "does not support the Authentication Method 'SCRAM-SHA-256'" in str(caught.value)
