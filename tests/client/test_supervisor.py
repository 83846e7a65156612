"""Supervisor: connecting a session, with the 5.0 -> 3.1.1 fallback (offline: an in-memory
network on an event loop whose clock jumps over waits)."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from memory_network import CLOSE, MemoryBroker, VirtualTimeLoop

from asyncmqtt import Client, MqttConnectError, Properties, ProtocolVersion
from asyncmqtt._link import Link
from asyncmqtt._supervisor import Supervisor
from asyncmqtt.protocol.events import Connected, Disconnected, Event
from asyncmqtt.protocol.packets import ConnAck, Connect, Packet, PubAck, Publish
from asyncmqtt.protocol.session import Session

T = TypeVar("T")
V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311


def run(coroutine: Coroutine[Any, Any, T]) -> tuple[T, float]:
    """Run on a virtual-time loop; returns the result and how much virtual time passed."""
    loop = VirtualTimeLoop()
    try:
        result = loop.run_until_complete(coroutine)
        return result, loop.time()
    finally:
        loop.close()


def supervisor_for(broker: MemoryBroker, **arguments: Any) -> tuple[Supervisor, Session]:
    options = Client("broker.example", identifier="me", **arguments)._options
    session = Session(client_id=options.config.client_id)
    links: list[Link | None] = []

    def on_events(events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Connected | Disconnected):
                supervisor.connection_event(event)

    supervisor = Supervisor(options, session, on_events, links.append, opener=broker.opener)
    return supervisor, session


def accept(packet: Packet) -> list[Packet | bytes] | None:
    return [ConnAck(False, 0)] if isinstance(packet, Connect) else None


def refuse_v5(code: int) -> Any:
    """Refuse MQTT 5.0 with ``code``: a 5.0 reason code, or 1, the 3.1 return code that old
    brokers send to any CONNECT of a version they do not know."""

    def answer(packet: Packet) -> list[Packet | bytes] | None:
        if not isinstance(packet, Connect):
            return None
        if packet.protocol_version is not V5:
            return [ConnAck(False, 0)]
        return [b"\x20\x02\x00\x01"] if code == 1 else [ConnAck(False, code)]

    return answer


def test_a_connection_is_made_on_the_session() -> None:
    broker = MemoryBroker(accept)
    supervisor, session = supervisor_for(broker)
    link, elapsed = run(supervisor.connect())
    assert isinstance(link, Link) and supervisor.link is link
    assert supervisor.conn is link.conn and link.conn.session is session
    assert session.started and session.client_id == "me"
    assert supervisor.negotiated and elapsed == 0.0


def test_a_silent_broker_times_out_at_the_deadline() -> None:
    broker = MemoryBroker(lambda packet: None)
    supervisor, _ = supervisor_for(broker, timeout=7.5, protocol=V5)
    with pytest.raises(MqttConnectError, match=r"timed out after 7\.5 s \(no CONNACK\)") as error:
        run(supervisor.connect())
    assert error.value.stage == "connack"
    assert broker.connections[0].closed and supervisor.link is None


def test_the_timeout_covers_the_whole_attempt_exactly() -> None:
    broker = MemoryBroker(lambda packet: None)
    supervisor, _ = supervisor_for(broker, timeout=7.5, protocol=V5)

    async def attempt() -> None:
        with pytest.raises(MqttConnectError):
            await supervisor.connect()

    _, elapsed = run(attempt())
    assert elapsed == pytest.approx(7.5)


@pytest.mark.parametrize("code", [0x84, 0x01])
def test_a_broker_refusing_5_0_gets_3_1_1_on_the_same_session(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    broker = MemoryBroker(refuse_v5(code))
    supervisor, session = supervisor_for(
        broker, properties=Properties(session_expiry_interval=30, user_properties=(("a", "b"),))
    )
    caplog.set_level(logging.INFO, logger="asyncmqtt")
    link, _ = run(supervisor.connect())
    first, second = broker.connects()
    assert (first.protocol_version, second.protocol_version) == (V5, V311)
    assert second.client_id == "me" and second.properties == Properties()
    assert supervisor.config.protocol_version is V311 and link.conn.session is session
    assert "does not accept MQTT 5.0" in caplog.text
    assert "the CONNECT properties are not sent" in caplog.text
    if code == 1:  # said as what it is, not as a protocol error of the broker
        assert "does not speak MQTT 5.0: it answered with an MQTT 3.1.x CONNACK" in caplog.text
        assert "broke the protocol" not in caplog.text
    # The version that worked is kept: the next connection speaks 3.1.1 at once.
    run(supervisor.connect())
    assert [c.protocol_version for c in broker.connects()] == [V5, V311, V311]


def test_closing_before_connack_also_means_fall_back() -> None:
    def answer(packet: Packet) -> list[Packet | bytes] | str | None:
        if isinstance(packet, Connect):
            return CLOSE if packet.protocol_version is V5 else [ConnAck(False, 0)]
        return None

    broker = MemoryBroker(answer)
    supervisor, _ = supervisor_for(broker)
    run(supervisor.connect())
    assert [c.protocol_version for c in broker.connects()] == [V5, V311]


def test_an_explicit_version_never_falls_back() -> None:
    broker = MemoryBroker(refuse_v5(0x84))
    supervisor, _ = supervisor_for(broker, protocol=V5)
    with pytest.raises(MqttConnectError, match="0x84 UNSUPPORTED_PROTOCOL_VERSION"):
        run(supervisor.connect())
    assert len(broker.connects()) == 1


def test_a_refusal_that_is_not_about_the_version_is_reported_at_once() -> None:
    broker = MemoryBroker(refuse_v5(0x87))
    supervisor, _ = supervisor_for(broker)
    with pytest.raises(MqttConnectError, match="refused the connection: 0x87 NOT_AUTHORIZED"):
        run(supervisor.connect())
    assert len(broker.connects()) == 1


def test_when_both_versions_are_refused_the_3_1_1_error_is_raised() -> None:
    def answer(packet: Packet) -> list[Packet | bytes] | str | None:
        if isinstance(packet, Connect):
            return [ConnAck(False, 0x84 if packet.protocol_version is V5 else 5)]
        return None

    broker = MemoryBroker(answer)
    supervisor, _ = supervisor_for(broker)
    with pytest.raises(MqttConnectError, match="0x05 NOT_AUTHORIZED"):
        run(supervisor.connect())
    assert supervisor.link is None


def test_messages_arriving_with_connack_before_the_attempt_resumes_are_acknowledged() -> None:
    def answer(packet: Packet) -> list[Packet | bytes] | None:
        if isinstance(packet, Connect):
            return [ConnAck(True, 0), Publish("t", b"queued", 1, packet_id=1)]
        return None

    broker = MemoryBroker(answer, slow_open=True)
    client = Client("broker.example", identifier="me", clean_start=False)
    client._supervisor._open = broker.opener

    async def receive() -> bytes:
        async with client:
            message = await anext(client.messages)
            return message.payload

    payload, _ = run(receive())
    assert payload == b"queued"
    assert PubAck(1) in broker.received  # acknowledged: the broker will not send it again
