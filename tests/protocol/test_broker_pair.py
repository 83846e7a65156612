"""End to end in memory: ``ClientConnection`` cores against the broker core (``Network`` moves
the bytes), for the scenarios an application lives through: publish / subscribe at every
QoS, persistent sessions, retained messages, wills, shared subscriptions, takeover, and
reconnecting with resends and exactly-once QoS 2."""

from __future__ import annotations

import pytest
from broker_pair import Link, Network

from asyncmqtt.errors import MqttCodeError
from asyncmqtt.protocol.broker import BrokerCore
from asyncmqtt.protocol.broker_config import AuthContinue, AuthReply, AuthSuccess, Redirect
from asyncmqtt.protocol.connection import ClientConnection, ConnectionState
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.events import (
    Connected,
    Disconnected,
    PublishCompleted,
    Reauthenticated,
    SubscribeCompleted,
)
from asyncmqtt.protocol.packets import Subscription, WillMessage
from asyncmqtt.protocol.properties import Properties
from asyncmqtt.scram import ScramSha256Authenticator, ScramSha256Verifier

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311
VERSIONS = pytest.mark.parametrize("version", [V311, V5])


def subscribed(
    network: Network, client_id: str, *subscriptions: Subscription, **settings: object
) -> Link:
    link = network.connect(client_id=client_id, **settings)
    link.client.subscribe(subscriptions, now=network.now)
    network.pump()
    connected, done, *link.events = link.take_events()
    assert isinstance(connected, Connected)
    assert isinstance(done, SubscribeCompleted)
    assert all(code < 0x80 for code in done.reason_codes)
    return link


def completed(link: Link) -> list[int]:
    return [e.reason_code for e in link.take_events() if isinstance(e, PublishCompleted)]


@VERSIONS
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_and_subscribe(version: ProtocolVersion, qos: int) -> None:
    network = Network()
    subscriber = subscribed(
        network, "sub", Subscription("sensors/#", qos), protocol_version=version
    )
    publisher = network.connect(client_id="pub", protocol_version=version)
    publisher.take_events()
    for index in range(5):
        publisher.client.publish(f"sensors/{index}", bytes([index]), qos, now=network.now)
    network.pump()
    got = subscriber.messages()
    assert [(m.topic, m.payload, m.qos) for m in got] == [
        (f"sensors/{index}", bytes([index]), qos) for index in range(5)
    ]
    if qos:
        assert completed(publisher) == [0] * 5
    assert network.broker.sessions["sub"].state.outgoing == {}


def test_mixed_versions_see_each_other() -> None:
    network = Network()
    old = subscribed(network, "old", Subscription("t", 2), protocol_version=V311)
    new = subscribed(network, "new", Subscription("t", 2))
    old.client.publish("t", b"from 3.1.1", 2, now=0.0)
    new.client.publish(
        "t", b"from 5", 1, properties=Properties(user_properties=(("k", "v"),)), now=0.0
    )
    network.pump()
    assert [m.payload for m in old.messages()] == [b"from 3.1.1", b"from 5"]
    got = new.messages()
    assert [m.payload for m in got] == [b"from 3.1.1", b"from 5"]
    assert got[1].properties.user_properties == (("k", "v"),)


def test_no_matching_subscribers_reaches_the_publisher() -> None:
    network = Network()
    publisher = network.connect(client_id="pub")
    publisher.take_events()
    publisher.client.publish("nobody", b"", 1, now=0.0)
    network.pump()
    assert completed(publisher) == [0x10]


def test_a_persistent_session_gets_its_queued_messages_on_return() -> None:
    network = Network()
    expiry = Properties(session_expiry_interval=3600)
    subscriber = subscribed(
        network, "keeper", Subscription("news", 1), properties=expiry, clean_start="first_only"
    )
    client = subscriber.client
    client.disconnect(now=network.now)
    network.pump()
    publisher = network.connect(client_id="pub")
    for index in range(3):
        publisher.client.publish("news", bytes([index]), 1, now=network.now)
    network.pump()
    assert network.broker.sessions["keeper"].queued_count == 3
    network.advance(60)
    again = network.connect(client)  # the same client object: its session resumes
    [connected] = [e for e in again.events if isinstance(e, Connected)]
    assert connected.settings.session_present is True
    assert [m.payload for m in again.messages()] == [b"\x00", b"\x01", b"\x02"]


def test_retained_messages_end_to_end() -> None:
    network = Network()
    publisher = network.connect(client_id="pub")
    publisher.client.publish("status", b"online", 1, retain=True, now=0.0)
    network.pump()
    late = subscribed(network, "late", Subscription("status", 1))
    [message] = late.messages()
    assert (message.payload, message.retain) == (b"online", True)
    publisher.client.publish("status", b"", 0, retain=True, now=0.0)
    network.pump()
    assert network.broker.retained == {}


@VERSIONS
def test_a_will_reaches_the_others_when_a_client_vanishes(version: ProtocolVersion) -> None:
    network = Network()
    watcher = subscribed(network, "watcher", Subscription("presence/#", 1))
    network.connect(
        client_id="dev",
        protocol_version=version,
        will=WillMessage("presence/dev", b"offline", 1, False),
        keep_alive=10,
    )
    # The device's network goes silent: no more packets from it (it is not pumped).
    dev = network.links[-1]
    network.links.remove(dev)
    network.advance(14)
    assert watcher.messages() == []
    network.advance(1)  # 1.5 keepalives
    assert [m.payload for m in watcher.messages()] == [b"offline"]


def test_a_will_delay_lets_a_quick_reconnect_pass_unnoticed() -> None:
    network = Network()
    watcher = subscribed(network, "watcher", Subscription("presence/#", 1))
    will = WillMessage("presence/dev", b"offline", properties=Properties(will_delay_interval=30))
    expiry = Properties(session_expiry_interval=300)
    dev = network.connect(client_id="dev", will=will, properties=expiry)
    network.cut(dev)
    network.advance(10)
    network.connect(dev.client)
    network.advance(60)
    assert watcher.messages() == []
    network.cut(network.links[-1])
    network.advance(31)
    assert [m.payload for m in watcher.messages()] == [b"offline"]


def test_shared_subscriptions_spread_the_work() -> None:
    network = Network()
    workers = [
        subscribed(network, f"w{index}", Subscription("$share/pool/jobs", 1)) for index in range(3)
    ]
    publisher = network.connect(client_id="pub")
    for index in range(9):
        publisher.client.publish("jobs", bytes([index]), 1, now=0.0)
    network.pump()
    counts = [len(worker.messages()) for worker in workers]
    assert counts == [3, 3, 3]


def test_session_takeover_end_to_end() -> None:
    network = Network()
    expiry = Properties(session_expiry_interval=60)
    first = subscribed(network, "same", Subscription("t", 1), properties=expiry)
    second = network.connect(client_id="same", clean_start=False, properties=expiry)
    [ended] = [e for e in first.take_events() if isinstance(e, Disconnected)]
    assert isinstance(ended.error, MqttCodeError)
    assert ended.reason_code == 0x8E
    [connected] = [e for e in second.take_events() if isinstance(e, Connected)]
    assert connected.settings.session_present is True
    network.broker.publish("t", b"x", 1, now=network.now)
    network.pump()
    assert [m.payload for m in second.messages()] == [b"x"]


def test_qos2_is_exactly_once_across_a_reconnect_of_the_publisher() -> None:
    network = Network()
    subscriber = subscribed(network, "sub", Subscription("t", 2))
    expiry = Properties(session_expiry_interval=60)
    publisher = network.connect(client_id="pub", properties=expiry)
    # The broker's answers never reach the publisher: it will resend with DUP.
    publisher.delivering = False
    publisher.client.publish("t", b"only once", 2, now=network.now)
    network.pump()
    assert [m.payload for m in subscriber.messages()] == [b"only once"]
    network.cut(publisher)
    again = network.connect(publisher.client)
    assert completed(again) == [0]
    assert subscriber.messages() == []
    assert network.broker.sessions["pub"].state.inbound_qos2 == set()


def test_qos2_is_exactly_once_across_a_reconnect_of_the_subscriber() -> None:
    network = Network()
    expiry = Properties(session_expiry_interval=60)
    subscriber = subscribed(network, "sub", Subscription("t", 2), properties=expiry)
    publisher = network.connect(client_id="pub")
    # The subscriber gets the PUBLISH, but its PUBREC is lost with the connection.
    subscriber.delivering = False
    publisher.client.publish("t", b"only once", 2, now=network.now)
    network.pump()
    subscriber.client.receive_data(b"".join(subscriber.held), network.now)
    [message] = [e.publish for e in subscriber.client.events_received() if hasattr(e, "publish")]
    assert message.payload == b"only once"
    subscriber.client.data_to_send()  # PUBREC, lost
    network.cut(subscriber)
    again = network.connect(subscriber.client)
    # The broker resent it with DUP; the client answered without delivering it twice.
    assert again.messages() == []
    assert network.broker.sessions["sub"].state.outgoing == {}


def test_qos1_is_resent_to_a_subscriber_that_did_not_acknowledge() -> None:
    network = Network()
    expiry = Properties(session_expiry_interval=60)
    subscriber = subscribed(network, "sub", Subscription("t", 1), properties=expiry)
    subscriber.client = ClientConnection(
        subscriber.client.config, subscriber.client.session
    )  # (a new client object on the same session will read what comes next)
    network.broker.publish("t", b"again", 1, now=network.now)
    network.cut(subscriber)
    again = network.connect(subscriber.client)
    [message] = again.messages()
    assert (message.payload, message.dup) == (b"again", True)


def test_receive_maximum_both_ways() -> None:
    network = Network(receive_maximum=2)
    subscriber = subscribed(network, "sub", Subscription("t", 1), receive_maximum=1)
    publisher = network.connect(client_id="pub")
    [connected] = [e for e in publisher.take_events() if isinstance(e, Connected)]
    assert connected.settings.receive_maximum == 2
    for index in range(10):
        publisher.client.publish("t", bytes([index]), 2, now=network.now)
    network.pump()
    assert len(completed(publisher)) == 10
    assert [m.payload for m in subscriber.messages()] == [bytes([i]) for i in range(10)]


def test_topic_aliases_from_the_client_end_to_end() -> None:
    network = Network()
    subscriber = subscribed(network, "sub", Subscription("long/topic/name", 0))
    publisher = network.connect(client_id="pub", outgoing_topic_aliases=True)
    for index in range(3):
        publisher.client.publish("long/topic/name", bytes([index]), now=network.now)
    network.pump()
    assert [m.topic for m in subscriber.messages()] == ["long/topic/name"] * 3


def test_subscription_identifiers_and_no_local_end_to_end() -> None:
    network = Network()
    link = network.connect(client_id="me")
    link.client.subscribe(
        [Subscription("chat/#", 1, no_local=True)],
        Properties(subscription_identifiers=(42,)),
        now=0.0,
    )
    network.pump()
    other = network.connect(client_id="other")
    link.client.publish("chat/room", b"mine", 1, now=0.0)
    other.client.publish("chat/room", b"theirs", 1, now=0.0)
    network.pump()
    [message] = link.messages()
    assert message.payload == b"theirs"
    assert message.properties.subscription_identifiers == (42,)


def test_message_expiry_end_to_end() -> None:
    network = Network()
    expiry = Properties(session_expiry_interval=600)
    subscriber = subscribed(network, "sub", Subscription("t", 1), properties=expiry)
    subscriber.client.disconnect(now=network.now)
    network.pump()
    publisher = network.connect(client_id="pub")
    publisher.client.publish(
        "t", b"soon stale", 1, properties=Properties(message_expiry_interval=30), now=0.0
    )
    publisher.client.publish(
        "t", b"fresh", 1, properties=Properties(message_expiry_interval=300), now=0.0
    )
    network.pump()
    network.advance(100)
    again = network.connect(subscriber.client)
    [message] = again.messages()
    assert message.payload == b"fresh"
    assert message.properties.message_expiry_interval == 200


class ServerSide:
    def __init__(self) -> None:
        self.steps = 0

    def step(self, data: bytes | None) -> AuthReply:
        self.steps += 1
        if self.steps == 1:
            return AuthContinue(b"nonce")
        return AuthSuccess(b"signature") if data == b"nonce-signed" else AuthContinue(b"again")


class ClientSide:
    method = "toy"

    def initial_data(self) -> bytes | None:
        return b"hello"

    def challenge(self, data: bytes | None) -> bytes | None:
        return (data or b"") + b"-signed"

    def complete(self, data: bytes | None) -> None:
        if data != b"signature":
            raise ValueError("bad signature")


def test_enhanced_authentication_end_to_end() -> None:
    network = Network(enhanced_authentication=lambda method: ServerSide())
    link = network.connect(client_id="c", authenticator=ClientSide())
    assert link.client.state is ConnectionState.CONNECTED
    link.client.reauthenticate(now=network.now)
    network.pump()
    assert any(isinstance(e, Reauthenticated) for e in link.take_events())


def test_scram_sha_256_through_the_broker_core() -> None:
    """The shipped SCRAM pair over the real engines: connect, re-authenticate, a wrong
    password refused with CONNACK 0x87, and a reconnect that runs a new exchange."""
    verifier = ScramSha256Verifier({"alice": "secret"})
    network = Network(enhanced_authentication=verifier)
    client = ScramSha256Authenticator("alice", "secret")
    link = network.connect(client_id="c", authenticator=client)
    assert link.client.state is ConnectionState.CONNECTED
    link.client.reauthenticate(now=network.now)
    network.pump()
    assert any(isinstance(e, Reauthenticated) for e in link.take_events())
    network.cut(link)
    again = network.connect(link.client)  # the same core, a new network connection
    assert again.client.state is ConnectionState.CONNECTED
    wrong = network.connect(
        client_id="w", authenticator=ScramSha256Authenticator("alice", "not the password")
    )
    [ended] = [e for e in wrong.take_events() if isinstance(e, Disconnected)]
    assert isinstance(ended.error, MqttCodeError)
    assert ended.reason_code == 0x87


def test_a_redirect_reaches_the_client() -> None:
    network = Network(redirect=lambda client_id, username: Redirect("elsewhere:1883", True))
    link = network.connect(client_id="c")
    [ended] = [e for e in link.take_events() if isinstance(e, Disconnected)]
    assert ended.reason_code == 0x9D
    assert ended.properties.server_reference == "elsewhere:1883"


def test_keepalive_pings_keep_a_quiet_client_connected() -> None:
    network = Network()
    link = network.connect(client_id="c", keep_alive=5)
    network.advance(60)
    assert link.client.state is ConnectionState.CONNECTED
    assert not link.server.closed


class Echo(ClientConnection):
    """A client that answers every message with another on the same topic."""

    def receive_data(self, data: bytes, now: float) -> None:
        super().receive_data(data, now)
        if self.state is ConnectionState.CONNECTED:
            self.publish("t", b"again", now=now)


def test_the_network_helper_reports_a_network_that_never_goes_quiet() -> None:
    network = Network(BrokerCore())
    link = network.connect(Echo(client_id="loop"))
    link.client.subscribe([Subscription("t", 0)], now=0.0)
    with pytest.raises(AssertionError, match="never went quiet"):
        network.pump()
