"""ServerConnection before and around CONNACK, on exact bytes and time: CONNECT in every
version, refusals, the hooks (authenticate, redirect, enhanced authentication), limits,
keepalive and connect timeout, and how connections end."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from broker_pair import RawClient

from asyncmqtt.errors import ConnectionLostError, MalformedPacketError, ProtocolError
from asyncmqtt.protocol.broker import BrokerCore
from asyncmqtt.protocol.broker_config import (
    AuthContinue,
    AuthFailure,
    AuthReply,
    AuthSuccess,
    BrokerConfig,
    Redirect,
)
from asyncmqtt.protocol.codec import encode
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    PingReq,
    PingResp,
    Publish,
    Subscribe,
    Subscription,
    WillMessage,
)
from asyncmqtt.protocol.properties import NO_PROPERTIES, Properties
from asyncmqtt.protocol.server import (
    ClientConnected,
    ClientDisconnected,
    ConnectionRefused,
    HookFailed,
    ServerState,
    WillPublished,
)

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311
V31 = ProtocolVersion.V31


def events_of(broker: BrokerCore, kind: type) -> list[object]:
    return [event for event in broker.events_received() if isinstance(event, kind)]


# ---------------------------------------------------------------- accepting


def test_mqtt5_connect_is_accepted_with_the_broker_limits_golden() -> None:
    broker = BrokerCore()
    client = RawClient(broker)
    client.server.receive_data(encode(Connect("c", protocol_version=V5), V5), 0.0)
    # CONNACK, session present 0, success, properties: topic alias maximum 10.
    assert client.raw() == b"\x20\x06\x00\x00\x03\x22\x00\x0a"
    assert client.server.state is ServerState.CONNECTED
    assert client.server.protocol_version is V5
    assert client.server.client_id == "c"
    [event] = broker.events_received()
    assert event == ClientConnected(client.server, "c", False)
    assert broker.connection_count == 1
    assert broker.stats.connections_accepted == 1


@pytest.mark.parametrize("version", [V311, V31])
def test_mqtt3_connect_is_accepted_golden(version: ProtocolVersion) -> None:
    client = RawClient(BrokerCore(), version)
    client.server.receive_data(encode(Connect("c", protocol_version=version), version), 0.0)
    assert client.raw() == b"\x20\x02\x00\x00"
    assert client.server.protocol_version is version


def test_one_broker_speaks_every_version_at_once() -> None:
    broker = BrokerCore()
    clients = [RawClient(broker, version) for version in (V31, V311, V5)]
    for index, client in enumerate(clients):
        [connack] = client.connect(f"c{index}")
        assert connack.reason_code == 0  # type: ignore[union-attr]
    assert broker.connection_count == 3


def test_the_broker_announces_every_limit_it_sets() -> None:
    broker = BrokerCore(
        receive_maximum=5,
        maximum_qos=1,
        retain_available=False,
        maximum_packet_size=1000,
        topic_alias_maximum=0,
        wildcard_subscription_available=False,
        subscription_identifier_available=False,
        shared_subscription_available=False,
    )
    [connack] = RawClient(broker).connect()
    assert connack == ConnAck(
        False,
        0,
        Properties(
            receive_maximum=5,
            maximum_qos=1,
            retain_available=False,
            maximum_packet_size=1000,
            wildcard_subscription_available=False,
            subscription_identifier_available=False,
            shared_subscription_available=False,
        ),
    )


def test_no_properties_at_all_when_every_default_holds() -> None:
    [connack] = RawClient(BrokerCore(topic_alias_maximum=0)).connect()
    assert connack == ConnAck(False, 0, NO_PROPERTIES)


def test_an_empty_client_id_is_assigned_and_announced_in_mqtt5() -> None:
    broker = BrokerCore(assigned_client_id_prefix="gen-")
    # An id that looks like an assigned one is skipped.
    RawClient(broker).connect("gen-1")
    client = RawClient(broker)
    [connack] = client.connect("", clean_start=False)
    assert connack.properties.assigned_client_identifier == "gen-2"  # type: ignore[union-attr]
    assert client.server.client_id == "gen-2"
    assert "gen-2" in broker.sessions


def test_an_empty_client_id_is_assigned_silently_in_mqtt311_with_a_clean_session() -> None:
    broker = BrokerCore()
    client = RawClient(broker, V311)
    client.server.receive_data(encode(Connect("", protocol_version=V311), V311), 0.0)
    assert client.raw() == b"\x20\x02\x00\x00"
    assert client.server.client_id == "auto-1"


@pytest.mark.parametrize(("version", "clean_start"), [(V311, False), (V31, True), (V31, False)])
def test_an_empty_client_id_is_refused_where_mqtt3_forbids_it(
    version: ProtocolVersion, clean_start: bool
) -> None:
    broker = BrokerCore()
    client = RawClient(broker, version)
    client.server.receive_data(
        encode(Connect("", clean_start=clean_start, protocol_version=version), version), 0.0
    )
    assert client.raw() == b"\x20\x02\x00\x02"  # identifier rejected
    assert client.server.closed
    [event] = broker.events_received()
    assert event == ConnectionRefused(client.server, "", 0x85)
    assert broker.stats.connections_refused == 1


def test_server_keep_alive_overrides_a_longer_or_absent_keepalive_in_mqtt5() -> None:
    broker = BrokerCore(max_keep_alive=30)
    for asked in (0, 31):
        client = RawClient(broker)
        [connack] = client.connect(f"c{asked}", keep_alive=asked)
        assert connack.properties.server_keep_alive == 30  # type: ignore[union-attr]
        assert client.server.keep_alive == 30
    client = RawClient(broker)
    [connack] = client.connect("short", keep_alive=20)
    assert connack.properties.server_keep_alive is None  # type: ignore[union-attr]
    assert client.server.keep_alive == 20
    # MQTT 3.1.1 cannot be told: the client's own value stands.
    client = RawClient(broker, V311)
    client.connect("v3", keep_alive=100)
    assert client.server.keep_alive == 100


def test_a_long_session_expiry_is_capped_and_announced() -> None:
    broker = BrokerCore(max_session_expiry_interval=60)
    [connack] = RawClient(broker).connect(properties=Properties(session_expiry_interval=3600))
    assert connack.properties.session_expiry_interval == 60  # type: ignore[union-attr]
    assert broker.sessions["c"].expiry_interval == 60
    [connack] = RawClient(broker).connect("d", properties=Properties(session_expiry_interval=6))
    assert connack.properties.session_expiry_interval is None  # type: ignore[union-attr]


def test_response_information_is_sent_to_those_who_ask() -> None:
    broker = BrokerCore(response_information="replies/")
    asked = Properties(request_response_information=True)
    [connack] = RawClient(broker).connect(properties=asked)
    assert connack.properties.response_information == "replies/"  # type: ignore[union-attr]
    [connack] = RawClient(broker).connect("d")
    assert connack.properties.response_information is None  # type: ignore[union-attr]


# ---------------------------------------------------------------- refusals and hooks


def test_an_unknown_protocol_level_gets_return_code_1_and_a_close() -> None:
    client = RawClient(BrokerCore())
    connect = bytearray(encode(Connect("c", protocol_version=V311), V311))
    connect[8] = 6  # protocol level 6
    client.server.receive_data(bytes(connect), 0.0)
    assert client.raw() == b"\x20\x02\x00\x01"
    assert client.server.closed


@pytest.mark.parametrize(
    "data",
    [
        b"\x30\x02\x00\x00",  # PUBLISH first
        b"\x10\x03\x00\x04M",  # CONNECT cut short inside the protocol name
        b"\x10\xff\xff\xff\xff\x01",  # a remaining length of five bytes
    ],
)
def test_garbage_before_connect_is_closed_without_a_word(data: bytes) -> None:
    broker = BrokerCore()
    client = RawClient(broker)
    client.server.receive_data(data, 0.0)
    assert client.raw() == b""
    assert client.server.closed
    assert broker.connections_to_flush() == [client.server]
    assert broker.events_received() == []


def test_a_connect_above_the_maximum_packet_size_is_closed() -> None:
    client = RawClient(BrokerCore(maximum_packet_size=20))
    client.server.receive_data(encode(Connect("c" * 30, protocol_version=V5), V5), 0.0)
    assert client.raw() == b""
    assert client.server.closed


def test_bytes_after_the_close_are_ignored() -> None:
    client = RawClient(BrokerCore())
    client.server.receive_data(b"\x30\x02\x00\x00", 0.0)
    client.server.receive_data(encode(Connect("c", protocol_version=V5), V5), 0.0)
    client.server.connection_lost(1.0)
    assert client.raw() == b""


def test_authenticate_accepts_and_refuses() -> None:
    seen: list[tuple[str, str | None, bytes | None]] = []

    def authenticate(client_id: str, username: str | None, password: bytes | None) -> int | None:
        seen.append((client_id, username, password))
        return None if password == b"right" else 0x86

    broker = BrokerCore(authenticate=authenticate)
    [connack] = RawClient(broker).connect("a", username="u", password=b"right")
    assert connack.reason_code == 0  # type: ignore[union-attr]
    [connack] = RawClient(broker).connect("b", username="u", password=b"wrong")
    assert connack.reason_code == 0x86  # type: ignore[union-attr]
    assert seen == [("a", "u", b"right"), ("b", "u", b"wrong")]


@pytest.mark.parametrize(
    ("code", "return_code"), [(0x86, 4), (0x87, 5), (0x8A, 5), (0x88, 3), (0x89, 3)]
)
def test_refusals_have_their_mqtt3_return_codes(code: int, return_code: int) -> None:
    client = RawClient(BrokerCore(authenticate=lambda *_: code), V311)
    client.server.receive_data(encode(Connect("c", protocol_version=V311), V311), 0.0)
    assert client.raw() == bytes((0x20, 2, 0, return_code))


@pytest.mark.parametrize("answer", [0, None])
def test_authenticate_may_accept_with_zero_or_none(answer: int | None) -> None:
    [connack] = RawClient(BrokerCore(authenticate=lambda *_: answer)).connect()
    assert connack.reason_code == 0  # type: ignore[union-attr]


def _raises(*_: object) -> None:
    raise RuntimeError("the hook broke")


@pytest.mark.parametrize("answer", [True, False, 0x10, 0x93, "no"])
def test_an_invalid_answer_of_authenticate_refuses_with_0x80(answer: object) -> None:
    broker = BrokerCore(authenticate=lambda *_: answer)  # type: ignore[arg-type,return-value]
    [connack] = RawClient(broker).connect()
    assert connack.reason_code == 0x80  # type: ignore[union-attr]
    [failed] = events_of(broker, HookFailed)
    assert failed.hook == "authenticate"  # type: ignore[attr-defined]
    assert isinstance(failed.error, ValueError)  # type: ignore[attr-defined]


def test_a_hook_that_raises_refuses_with_0x80_and_is_reported() -> None:
    broker = BrokerCore(authenticate=_raises)
    [connack] = RawClient(broker).connect("x")
    assert connack.reason_code == 0x80  # type: ignore[union-attr]
    [failed] = events_of(broker, HookFailed)
    assert failed.client_id == "x"  # type: ignore[attr-defined]
    assert str(failed.error) == "the hook broke"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("permanent", "code"), [(False, 0x9C), (True, 0x9D)])
def test_redirect_answers_connect_with_a_server_reference(permanent: bool, code: int) -> None:
    broker = BrokerCore(redirect=lambda client_id, username: Redirect("other:1883", permanent))
    client = RawClient(broker)
    [connack] = client.connect()
    assert connack == ConnAck(False, code, Properties(server_reference="other:1883"))
    assert client.server.closed
    v3 = RawClient(broker, V311)
    v3.server.receive_data(encode(Connect("c", protocol_version=V311), V311), 0.0)
    assert v3.raw() == b"\x20\x02\x00\x03"


def test_redirect_none_lets_the_client_in() -> None:
    asked: list[tuple[str, str | None]] = []
    broker = BrokerCore(redirect=lambda *args: asked.append(args))  # type: ignore[arg-type,func-returns-value]
    [connack] = RawClient(broker).connect("c", username="u")
    assert connack.reason_code == 0  # type: ignore[union-attr]
    assert asked == [("c", "u")]


@pytest.mark.parametrize(
    "hook",
    [
        _raises,
        lambda *_: "elsewhere",
        lambda *_: Redirect("a\x00b"),
        lambda *_: Redirect("\ud800"),
        lambda *_: Redirect(1),
    ],  # type: ignore[arg-type]
)
def test_a_broken_redirect_hook_refuses_with_0x80(hook: Callable[..., object]) -> None:
    broker = BrokerCore(redirect=hook)  # type: ignore[arg-type]
    [connack] = RawClient(broker).connect()
    assert connack.reason_code == 0x80  # type: ignore[union-attr]
    [failed] = events_of(broker, HookFailed)
    assert failed.hook == "redirect"  # type: ignore[attr-defined]


def test_max_connections_refuses_with_quota_exceeded() -> None:
    broker = BrokerCore(max_connections=1)
    RawClient(broker).connect("a")
    [connack] = RawClient(broker).connect("b")
    assert connack.reason_code == 0x97  # type: ignore[union-attr]
    v3 = RawClient(broker, V311)
    v3.server.receive_data(encode(Connect("b", protocol_version=V311), V311), 0.0)
    assert v3.raw() == b"\x20\x02\x00\x03"
    # A client taking over its own session is not one more.
    [connack] = RawClient(broker).connect("a")
    assert connack.reason_code == 0  # type: ignore[union-attr]
    assert broker.connection_count == 1


@pytest.mark.parametrize(
    ("will", "code"),
    [
        (WillMessage("a/+"), 0x90),
        (WillMessage("a", qos=2), 0x9B),
        (WillMessage("a", retain=True), 0x9A),
        (WillMessage("a", b"\xff", properties=Properties(payload_format_indicator=1)), 0x99),
    ],
)
def test_a_will_the_broker_cannot_take_is_refused(will: WillMessage, code: int) -> None:
    broker = BrokerCore(maximum_qos=1, retain_available=False)
    client = RawClient(broker)
    # (A will topic with a wildcard cannot be encoded by our codec: patch the bytes.)
    data = encode(Connect("c", will=will._replace(topic=will.topic.replace("+", "x"))), V5)
    if "+" in will.topic:
        data = data.replace(b"a/x", b"a/+")
    client.server.receive_data(data, 0.0)
    [connack] = client.received()
    assert connack.reason_code == code  # type: ignore[union-attr]


def test_a_valid_utf8_will_is_accepted() -> None:
    will = WillMessage("a", "é".encode(), properties=Properties(payload_format_indicator=1))
    [connack] = RawClient(BrokerCore()).connect(will=will)
    assert connack.reason_code == 0  # type: ignore[union-attr]


# ---------------------------------------------------------------- enhanced authentication


class Challenge:
    """A made-up two-step method: the server asks for b"proof", the client must send it."""

    def __init__(self, log: list[bytes | None], final: AuthReply | None = None) -> None:
        self.log = log
        self.final = final
        self.steps = 0

    def step(self, data: bytes | None) -> AuthReply:
        self.log.append(data)
        self.steps += 1
        if self.steps == 1:
            return AuthContinue(b"challenge")
        if self.final is not None:
            return self.final
        return AuthSuccess(b"welcome") if data == b"proof" else AuthFailure()


def auth(code: int, data: bytes | None, method: str = "made-up") -> Auth:
    return Auth(code, Properties(authentication_method=method, authentication_data=data))


def test_an_auth_exchange_before_connack() -> None:
    log: list[bytes | None] = []
    broker = BrokerCore(enhanced_authentication=lambda method: Challenge(log))
    client = RawClient(broker)
    answer = client.connect(
        properties=Properties(authentication_method="made-up", authentication_data=b"hello")
    )
    assert answer == [auth(0x18, b"challenge")]
    assert client.server.state is ServerState.AUTHENTICATING
    assert broker.events_received() == []
    [connack] = client.send(auth(0x18, b"proof"))
    assert connack == ConnAck(
        False,
        0,
        Properties(
            topic_alias_maximum=10,
            authentication_method="made-up",
            authentication_data=b"welcome",
        ),
    )
    assert log == [b"hello", b"proof"]
    assert client.server.state is ServerState.CONNECTED


def test_a_failed_auth_exchange_refuses_the_connection() -> None:
    broker = BrokerCore(enhanced_authentication=lambda method: Challenge([]))
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"))
    [connack] = client.send(auth(0x18, b"wrong"))
    assert connack == ConnAck(False, 0x87)
    assert client.server.closed


def test_an_immediate_success_needs_no_auth_packet() -> None:
    class Yes:
        def step(self, data: bytes | None) -> AuthReply:
            return AuthSuccess()

    broker = BrokerCore(enhanced_authentication=lambda method: Yes())
    [connack] = RawClient(broker).connect(properties=Properties(authentication_method="m"))
    assert connack.reason_code == 0  # type: ignore[union-attr]
    assert connack.properties.authentication_method == "m"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "hook", [None, lambda method: None, lambda method: _raises()], ids=["no hook", "none", "raises"]
)
def test_an_unsupported_method_gets_bad_authentication_method(
    hook: Callable[[str], object] | None,
) -> None:
    broker = BrokerCore(enhanced_authentication=hook)  # type: ignore[arg-type]
    [connack] = RawClient(broker).connect(properties=Properties(authentication_method="m"))
    assert connack.reason_code == 0x8C  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "reply",
    [
        "yes",
        AuthSuccess("text"),  # type: ignore[arg-type]
        AuthContinue(123),  # type: ignore[arg-type]
        AuthContinue(b"x" * 65536),
        AuthFailure(0x10),
        AuthFailure(0x93),  # a DISCONNECT code, not a CONNACK one
        RuntimeError,
    ],
)
def test_a_broken_authenticator_refuses_with_0x80(reply: object) -> None:
    class Broken:
        def step(self, data: bytes | None) -> object:
            if reply is RuntimeError:
                raise RuntimeError("broken")
            return reply

    broker = BrokerCore(enhanced_authentication=lambda method: Broken())  # type: ignore[arg-type,return-value]
    [connack] = RawClient(broker).connect(properties=Properties(authentication_method="m"))
    assert connack.reason_code == 0x80  # type: ignore[union-attr]
    [failed] = events_of(broker, HookFailed)
    assert failed.hook == "enhanced_authentication"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "packet",
    [
        auth(0x18, b"proof", method="other"),
        auth(0x19, b"proof"),
        Publish("t", b"x"),
        PingReq(),
        Subscribe(1, (Subscription("t"),)),
    ],
)
def test_anything_but_the_next_auth_step_before_connack_is_a_protocol_error(
    packet: object,
) -> None:
    broker = BrokerCore(enhanced_authentication=lambda method: Challenge([]))
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"))
    [connack] = client.send(packet)  # type: ignore[arg-type]
    assert connack == ConnAck(False, 0x82)
    assert client.server.closed
    [refused] = events_of(broker, ConnectionRefused)
    assert refused.reason_code == 0x82  # type: ignore[attr-defined]


def test_a_malformed_packet_during_the_exchange_gets_connack_0x81() -> None:
    broker = BrokerCore(enhanced_authentication=lambda method: Challenge([]))
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"))
    [connack] = client.send_bytes(b"\xf0\x01\x55")  # AUTH with an unknown reason code
    assert connack == ConnAck(False, 0x81)


def test_a_packet_too_large_during_the_exchange_gets_connack_0x95() -> None:
    broker = BrokerCore(
        maximum_packet_size=100, enhanced_authentication=lambda method: Challenge([])
    )
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"))
    [connack] = client.send(auth(0x18, b"x" * 200))
    assert connack == ConnAck(False, 0x95)


def test_disconnect_during_the_exchange_just_closes() -> None:
    broker = BrokerCore(enhanced_authentication=lambda method: Challenge([]))
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"))
    assert client.send(Disconnect()) == []
    assert client.server.closed
    assert broker.events_received() == []


def test_reauthentication_succeeds_and_fails() -> None:
    log: list[bytes | None] = []
    broker = BrokerCore(enhanced_authentication=lambda method: Challenge(log))
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"))
    client.send(auth(0x18, b"proof"))
    assert client.send(auth(0x19, b"again")) == [auth(0x18, b"challenge")]
    # Other packets may flow during a re-authentication.
    assert client.send(PingReq()) == [PingResp()]
    assert client.send(auth(0x18, b"proof")) == [auth(0x00, b"welcome")]
    assert client.server.state is ServerState.CONNECTED
    client.send(auth(0x19, b"again"))
    assert client.send(auth(0x18, b"nope")) == [Disconnect(0x87)]
    assert client.server.closed


def test_reauthentication_failure_with_a_connack_only_code_disconnects_with_0x87() -> None:
    broker = BrokerCore(
        enhanced_authentication=lambda method: Challenge([], final=AuthFailure(0x8C))
    )
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"))
    # (The exchange before CONNACK ends with the same final answer: 0x8C is a CONNACK code.)
    assert client.send(auth(0x18, b"proof")) == [ConnAck(False, 0x8C)]
    broker = BrokerCore(
        enhanced_authentication=lambda method: (
            Challenge([]) if not made else Challenge([], final=AuthFailure(0x8C))
        )
    )
    made: list[int] = []
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"))
    client.send(auth(0x18, b"proof"))
    made.append(1)
    client.send(auth(0x19, None))
    assert client.send(auth(0x18, b"proof")) == [Disconnect(0x87)]


def test_reauthentication_the_hook_refuses_disconnects_with_0x87() -> None:
    made: list[int] = []

    def hook(method: str) -> Challenge | None:
        made.append(1)
        return Challenge([]) if len(made) == 1 else None

    broker = BrokerCore(enhanced_authentication=hook)
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"))
    client.send(auth(0x18, b"proof"))
    assert client.send(auth(0x19, None)) == [Disconnect(0x87)]
    [event] = events_of(broker, ClientDisconnected)
    assert event.reason_code == 0x87  # type: ignore[attr-defined]
    assert isinstance(event.error, ConnectionLostError)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "packet",
    [auth(0x19, None, method="other"), auth(0x18, b"x"), auth(0x00, None)],
    ids=["other method", "continue without exchange", "success from the client"],
)
def test_auth_out_of_place_after_connack_is_a_protocol_error(packet: Auth) -> None:
    broker = BrokerCore(enhanced_authentication=lambda method: Challenge([]))
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"))
    client.send(auth(0x18, b"proof"))
    [disconnect] = client.send(packet)
    assert disconnect.reason_code == 0x82  # type: ignore[union-attr]


def test_auth_from_a_client_without_a_method_is_a_protocol_error() -> None:
    client = RawClient(BrokerCore())
    client.connect()
    [disconnect] = client.send(auth(0x19, None))
    assert disconnect.reason_code == 0x82  # type: ignore[union-attr]
    assert "Authentication Method" in disconnect.properties.reason_string  # type: ignore[union-attr,operator]


def test_a_second_reauthentication_during_one_is_a_protocol_error() -> None:
    broker = BrokerCore(enhanced_authentication=lambda method: Challenge([]))
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"))
    client.send(auth(0x18, b"proof"))
    client.send(auth(0x19, None))
    [disconnect] = client.send(auth(0x19, None))
    assert disconnect.reason_code == 0x82  # type: ignore[union-attr]


# ---------------------------------------------------------------- time


def test_connect_must_come_within_the_connect_timeout() -> None:
    broker = BrokerCore(connect_timeout=5)
    client = RawClient(broker, now=100.0)
    assert broker.get_timer() == 105.0
    broker.handle_timer(104.9)
    assert not client.server.closed
    broker.handle_timer(105.0)
    assert client.server.closed
    assert client.raw() == b""
    assert broker.connections_to_flush() == [client.server]
    assert broker.get_timer() is None


def test_the_connect_timeout_covers_the_auth_exchange() -> None:
    broker = BrokerCore(connect_timeout=5, enhanced_authentication=lambda m: Challenge([]))
    client = RawClient(broker)
    client.connect(properties=Properties(authentication_method="made-up"), now=1.0)
    broker.handle_timer(5.0)
    assert client.server.closed


@pytest.mark.parametrize("version", [V5, V311])
def test_a_silent_client_is_disconnected_after_one_and_a_half_keepalives(
    version: ProtocolVersion,
) -> None:
    broker = BrokerCore(connect_timeout=100)
    watcher = RawClient(broker, V5)
    watcher.connect("watcher", keep_alive=0)
    watcher.send(Subscribe(1, (Subscription("will"),)))
    client = RawClient(broker, version)
    client.connect("c", keep_alive=10, will=WillMessage("will", b"gone"), now=0.0)
    assert broker.get_timer() == 15.0
    client.send(PingReq(), now=9.0)
    broker.handle_timer(15.0)  # (early: the ping moved the deadline)
    assert not client.server.closed
    assert broker.get_timer() == 24.0
    broker.handle_timer(23.9)
    assert not client.server.closed
    broker.handle_timer(24.0)
    assert client.server.closed
    if version is V5:
        assert client.raw() == b"\xe0\x01\x8d"  # DISCONNECT, keep alive timeout
    else:
        assert client.raw() == b""
    assert [p.payload for p in watcher.received()] == [b"gone"]  # type: ignore[union-attr]
    [event] = events_of(broker, ClientDisconnected)
    assert isinstance(event.error, ConnectionLostError)  # type: ignore[attr-defined]


def test_a_keepalive_shorter_than_the_connect_timeout() -> None:
    broker = BrokerCore(connect_timeout=10)
    client = RawClient(broker)
    client.connect(keep_alive=2)
    assert broker.get_timer() == 3.0
    client.send(PingReq(), now=2.0)
    broker.handle_timer(3.0)  # moved on: next at 5.0
    assert broker.get_timer() == 5.0
    client.send(PingReq(), now=4.0)
    broker.handle_timer(5.0)
    client.send(PingReq(), now=6.0)
    broker.handle_timer(7.0)
    client.send(PingReq(), now=8.0)
    broker.handle_timer(10.0)  # the connect timeout's entry: superseded, ignored
    assert not client.server.closed
    broker.handle_timer(11.0)
    assert client.server.closed


def test_no_keepalive_means_no_deadline() -> None:
    broker = BrokerCore(connect_timeout=5)
    client = RawClient(broker)
    client.connect(keep_alive=0)
    broker.handle_timer(5.0)  # the connect timeout passes harmlessly
    assert not client.server.closed
    assert broker.get_timer() is None
    assert client.server.deadline() is None


def test_handle_timer_of_a_connection_is_harmless_early_and_after_the_end() -> None:
    broker = BrokerCore()
    client = RawClient(broker)
    client.connect(keep_alive=10)
    client.server.handle_timer(1.0)
    assert not client.server.closed
    client.server.connection_lost(2.0)
    assert client.server.deadline() is None
    client.server.handle_timer(100.0)
    broker.handle_timer(100.0)  # the stale entries find nothing to do


# ---------------------------------------------------------------- ending


def test_a_normal_disconnect_ends_the_connection_without_its_will() -> None:
    broker = BrokerCore()
    watcher = RawClient(broker)
    watcher.connect("watcher")
    watcher.send(Subscribe(1, (Subscription("will"),)))
    client = RawClient(broker)
    client.connect(will=WillMessage("will", b"gone"))
    assert client.send(Disconnect()) == []
    assert client.server.closed
    assert watcher.received() == []
    [event] = events_of(broker, ClientDisconnected)
    assert event == ClientDisconnected(client.server, "c", 0, None)
    assert broker.connection_count == 1


def test_connection_lost_publishes_the_will() -> None:
    broker = BrokerCore()
    watcher = RawClient(broker)
    watcher.connect("watcher")
    watcher.send(Subscribe(1, (Subscription("will", qos=1),)))
    client = RawClient(broker, V311)
    client.connect(will=WillMessage("will", b"gone", qos=1))
    client.server.connection_lost(1.0)
    assert client.server.closed
    [message] = watcher.received()
    assert message == Publish("will", b"gone", 1, False, False, 1)
    assert WillPublished("c", Publish("will", b"gone", 1)) in broker.events_received()
    assert broker.stats.wills_published == 1


def test_the_admin_disconnect() -> None:
    broker = BrokerCore()
    client = RawClient(broker)
    client.connect()
    with pytest.raises(ValueError, match="not a DISCONNECT reason code"):
        client.server.disconnect(0x01, now=1.0)
    assert not client.server.closed
    client.server.disconnect(now=1.0)
    assert client.raw() == b"\xe0\x01\x98"
    assert client.server.closed
    client.server.disconnect(now=2.0)  # nothing more
    waiting = RawClient(broker)
    waiting.server.disconnect(now=2.0)  # not yet connected: closed without a word
    assert waiting.server.closed
    assert waiting.raw() == b""


@pytest.mark.parametrize(("permanent", "code"), [(False, 0x9C), (True, 0x9D)])
def test_the_admin_disconnect_can_send_the_client_elsewhere(permanent: bool, code: int) -> None:
    broker = BrokerCore()
    client = RawClient(broker)
    client.connect()
    client.server.disconnect(now=1.0, redirect=Redirect("b.example:1884", permanent))
    assert client.received() == [Disconnect(code, Properties(server_reference="b.example:1884"))]
    assert client.server.closed
    v3 = RawClient(broker, V311)
    v3.connect("v3")
    v3.server.disconnect(now=1.0, redirect=Redirect("b.example"))
    assert v3.raw() == b""  # (MQTT 3.1.x has no DISCONNECT from the server: just closed)
    assert v3.server.closed


def test_an_admin_redirect_is_checked_before_anything_is_sent() -> None:
    client = RawClient(BrokerCore())
    client.connect()
    with pytest.raises(ValueError, match=r"reason_code=152 and redirect: .* give one of them"):
        client.server.disconnect(0x98, now=1.0, redirect=Redirect("b"))
    for bad in ("elsewhere", Redirect("a\x00b")):
        with pytest.raises(TypeError, match="redirect must be a Redirect with a valid server"):
            client.server.disconnect(now=1.0, redirect=bad)  # type: ignore[arg-type]
    assert not client.server.closed and client.raw() == b""


def test_shutdown_disconnects_everyone_without_wills() -> None:
    broker = BrokerCore()
    watcher = RawClient(broker)
    watcher.connect("watcher")
    watcher.send(Subscribe(1, (Subscription("will"),)))
    v5 = RawClient(broker)
    v5.connect("a", will=WillMessage("will", b"gone"))
    v3 = RawClient(broker, V311)
    v3.connect("b", will=WillMessage("will", b"gone"))
    pending = RawClient(broker)
    broker.shutdown(1.0)
    assert watcher.raw() == b"\xe0\x01\x8b"
    assert v5.raw() == b"\xe0\x01\x8b"
    assert v3.raw() == b""
    assert all(c.server.closed for c in (watcher, v5, v3, pending))
    assert broker.connection_count == 0


def test_protocol_errors_carry_a_reason_string_unless_it_does_not_fit() -> None:
    client = RawClient(BrokerCore())
    client.connect()
    [disconnect] = client.send(Connect("again"))
    assert disconnect.reason_code == 0x82  # type: ignore[union-attr]
    assert "second CONNECT" in disconnect.properties.reason_string  # type: ignore[union-attr,operator]
    client = RawClient(BrokerCore())
    client.connect(properties=Properties(maximum_packet_size=10))
    client.server.receive_data(encode(Connect("again"), V5), 0.0)
    assert client.raw() == b"\xe0\x01\x82"


def test_a_protocol_error_of_an_mqtt3_client_closes_it() -> None:
    broker = BrokerCore()
    client = RawClient(broker, V311)
    client.connect()
    client.server.receive_data(b"\x62\x02\x00\x00", 0.0)  # PUBREL with packet id 0
    assert client.raw() == b""
    assert client.server.closed
    [event] = events_of(broker, ClientDisconnected)
    assert event.reason_code is None  # type: ignore[attr-defined]
    assert isinstance(event.error, ProtocolError)  # type: ignore[attr-defined]


def test_a_malformed_packet_gets_disconnect_0x81() -> None:
    broker = BrokerCore()
    client = RawClient(broker)
    client.connect()
    [disconnect] = client.send_bytes(b"\xc0\x01\x00")  # PINGREQ with a body
    assert disconnect.reason_code == 0x81  # type: ignore[union-attr]
    [event] = events_of(broker, ClientDisconnected)
    assert isinstance(event.error, MalformedPacketError)  # type: ignore[attr-defined]


def test_packets_before_the_error_are_still_handled() -> None:
    client = RawClient(BrokerCore())
    client.connect()
    answer = client.send_bytes(encode(PingReq(), V5) + b"\xc0\x01\x00")
    assert answer[0] == PingResp()
    assert answer[1].reason_code == 0x81  # type: ignore[union-attr]


def test_the_connection_repr_and_session() -> None:
    client = RawClient(BrokerCore())
    assert client.server.session is None
    assert client.server.inflight_count == 0
    assert "awaiting CONNECT" in repr(client.server)
    client.connect("c")
    assert client.server.session is not None
    assert "'c' connected" in repr(client.server)
    assert "BrokerCore clients=1" in repr(client.broker)


def test_broker_core_takes_a_config_or_settings() -> None:
    config = BrokerConfig(max_connections=3)
    assert BrokerCore(config).config is config
    assert BrokerCore(max_connections=3).config == config
    with pytest.raises(TypeError, match="not both"):
        BrokerCore(config, max_connections=3)
    with pytest.raises(TypeError, match="must be a BrokerConfig"):
        BrokerCore("config")  # type: ignore[arg-type]
