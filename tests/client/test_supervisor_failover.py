"""Failover and redirects, offline: brokers at addresses of an in-memory network, on an event
loop whose clock jumps over waits (so timeouts and backoff are exact and cost nothing)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from memory_network import MemoryBroker, MemoryNetwork, run_virtual
from scripted_broker import ScriptedBroker

from asyncmqtt import Client, MqttConnectError, MqttError, Properties, Reconnect
from asyncmqtt.protocol.enums import DisconnectReasonCode
from asyncmqtt.protocol.packets import ConnAck, Connect, Disconnect, Packet

A = ("a.example", 1883)
B = ("b.example", 1883)
C = ("c.example", 1884)
D = ("d.example", 1885)
E = ("e.example", 1886)
QUICK = Reconnect(initial_delay=1.0, max_delay=1.0, jitter=False)


def client_on(network: MemoryNetwork, *failover: tuple[str, int], **options: Any) -> Client:
    """A Client for a.example:1883 with these failover servers, on ``network``."""
    client = Client(*A, identifier="me", failover_servers=list(failover), **options)
    client._supervisor._open = network.opener
    return client


def redirecting(code: int, reference: str | None) -> MemoryBroker:
    """A broker that refuses every CONNECT with ``code`` and that Server Reference."""
    properties = Properties(server_reference=reference)

    def answer(packet: Packet) -> list[Packet | bytes] | None:
        return [ConnAck(False, code, properties)] if isinstance(packet, Connect) else None

    return MemoryBroker(answer)


def silent() -> MemoryBroker:
    """A broker that accepts the TCP connection and never answers CONNECT."""
    return MemoryBroker(lambda packet: None)


async def connect_and_leave(client: Client) -> tuple[str, int]:
    async with client:
        return client.server_address


# ---------------------------------------------------------------- failover


def test_the_primary_is_used_when_it_is_up() -> None:
    network = MemoryNetwork({A: ScriptedBroker(), B: ScriptedBroker()})
    client = client_on(network, B)
    assert client.server_address == A  # (before connecting: the primary)
    address, _ = run_virtual(connect_and_leave(client))
    assert address == A and network.attempts == [A]


def test_a_primary_that_is_down_fails_over_to_the_next_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    network = MemoryNetwork({C: ScriptedBroker()})
    client = client_on(network, B, C)
    caplog.set_level(logging.INFO, logger="asyncmqtt")
    address, elapsed = run_virtual(connect_and_leave(client))
    assert address == C and network.attempts == [A, B, C]
    assert elapsed == 0.0
    assert "connection refused; trying mqtt://b.example:1883" in caplog.text
    assert "connected to mqtt://c.example:1884" in caplog.text
    # Every attempt starts from the primary again: it may be back.
    network.brokers[A] = ScriptedBroker()
    address, _ = run_virtual(connect_and_leave(client))
    assert address == A and network.attempts[3:] == [A]


def test_each_server_gets_the_whole_timeout() -> None:
    network = MemoryNetwork({A: silent(), B: ScriptedBroker()})
    client = client_on(network, B, timeout=4.0, protocol=5)
    address, elapsed = run_virtual(connect_and_leave(client))
    assert address == B and elapsed == pytest.approx(4.0)


def test_when_every_server_fails_the_error_names_each_failure() -> None:
    network = MemoryNetwork({B: silent(), C: redirecting(0x88, None)})
    client = client_on(network, B, C, timeout=2.0, protocol=5)
    with pytest.raises(MqttConnectError) as caught:
        run_virtual(connect_and_leave(client))
    error = caught.value
    assert str(error) == (
        "could not connect to any of the 3 servers: "
        "connecting to mqtt://a.example:1883 failed at the tcp stage: connection refused; "
        "connecting to mqtt://b.example:1883 timed out after 2 s (no CONNACK); "
        "the broker at mqtt://c.example:1884 refused the connection: 0x88 SERVER_UNAVAILABLE"
    )
    assert error.address == "mqtt://c.example:1884" and error.rc is None
    assert isinstance(error.__cause__, MqttConnectError) and error.__cause__.rc == 0x88


def test_a_refusal_that_retrying_cannot_fix_stops_at_the_server_that_said_it() -> None:
    primary = ScriptedBroker()
    primary.refusals = [0x86]  # bad user name or password: the same everywhere
    network = MemoryNetwork({A: primary, B: ScriptedBroker()})
    with pytest.raises(MqttConnectError, match="0x86 BAD_USER_NAME_OR_PASSWORD"):
        run_virtual(connect_and_leave(client_on(network, B)))
    assert network.attempts == [A]


def test_a_lost_connection_is_made_again_on_the_next_server() -> None:
    primary = ScriptedBroker()
    network = MemoryNetwork({A: primary, B: ScriptedBroker()})
    client = client_on(network, B, reconnect=QUICK)

    async def scenario() -> list[tuple[str, int]]:
        async with client:
            seen = [client.server_address]
            del network.brokers[A]  # the primary goes down for good
            primary.drop()
            await client.publish("t", b"after", qos=1)  # waits for the reconnection
            seen.append(client.server_address)
            return seen

    seen, elapsed = run_virtual(scenario())
    assert seen == [A, B] and network.attempts == [A, A, B]
    assert elapsed == 1.0  # one backoff delay, then primary refused and B at once


def test_bad_failover_servers_raise_when_the_client_is_made() -> None:
    with pytest.raises(ValueError, match=r"failover_servers\[1\]=\('b', 0\): the port"):
        Client("a", failover_servers=[("b", 1), ("b", 0)])
    with pytest.raises(ValueError, match="not transport='unix'"):
        Client("/tmp/mqtt.sock", transport="unix", failover_servers=[("b", 1883)])


# ---------------------------------------------------------------- redirects in CONNACK


def test_use_another_server_is_followed_for_this_attempt_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    network = MemoryNetwork({A: redirecting(0x9C, "c.example:1884"), C: ScriptedBroker()})
    client = client_on(network)
    caplog.set_level(logging.INFO, logger="asyncmqtt")
    address, _ = run_virtual(connect_and_leave(client))
    assert address == C and network.attempts == [A, C]
    assert (
        "the broker at mqtt://a.example:1883 redirects the client to mqtt://c.example:1884 "
        "(use another server)" in caplog.text
    )
    run_virtual(connect_and_leave(client))
    assert network.attempts[2:] == [A, C]  # the primary is asked again


def test_server_moved_replaces_the_primary_for_later_connections(
    caplog: pytest.LogCaptureFixture,
) -> None:
    network = MemoryNetwork({A: redirecting(0x9D, "c.example:1884"), C: ScriptedBroker()})
    client = client_on(network)
    address, _ = run_virtual(connect_and_leave(client))
    assert address == C
    assert "moved permanently to mqtt://c.example:1884" in caplog.text
    run_virtual(connect_and_leave(client))
    assert network.attempts == [A, C, C]  # straight to the new place


def test_a_move_through_a_temporary_redirect_replaces_nothing() -> None:
    network = MemoryNetwork(
        {A: redirecting(0x9D, "c.example:1884"), C: redirecting(0x9C, "d.example:1885")}
    )
    network.brokers[D] = ScriptedBroker()
    client = client_on(network)
    address, _ = run_virtual(connect_and_leave(client))
    assert address == D
    run_virtual(connect_and_leave(client))
    assert network.attempts == [A, C, D, A, C, D]


def test_a_failover_entry_that_moved_is_replaced_in_its_place() -> None:
    network = MemoryNetwork({B: redirecting(0x9D, "c.example:1884"), C: ScriptedBroker()})
    client = client_on(network, B)
    run_virtual(connect_and_leave(client))
    run_virtual(connect_and_leave(client))
    assert network.attempts == [A, B, C, A, C]


def test_the_references_are_tried_in_order_and_a_missing_port_is_the_referrers() -> None:
    network = MemoryNetwork(
        {A: redirecting(0x9C, "[2001:db8::1]:1883 b.example"), B: ScriptedBroker()}
    )
    address, _ = run_virtual(connect_and_leave(client_on(network)))
    assert address == B and network.attempts == [A, ("2001:db8::1", 1883), B]


def test_a_redirect_loop_is_refused() -> None:
    network = MemoryNetwork(
        {A: redirecting(0x9C, "c.example:1884"), C: redirecting(0x9C, "a.example:1883")}
    )
    with pytest.raises(MqttConnectError) as caught:
        run_virtual(connect_and_leave(client_on(network)))
    assert str(caught.value) == (
        "[code:156 USE_ANOTHER_SERVER] the broker at mqtt://c.example:1884 refused the "
        "connection: 0x9c USE_ANOTHER_SERVER (server reference 'a.example:1883'); a redirect "
        "loop (mqtt://a.example:1883 -> mqtt://c.example:1884 -> mqtt://a.example:1883)"
    )
    assert network.attempts == [A, C]


def test_at_most_three_redirects_are_followed_in_a_row() -> None:
    network = MemoryNetwork(
        {
            A: redirecting(0x9C, "b.example"),
            B: redirecting(0x9C, "c.example:1884"),
            C: redirecting(0x9C, "d.example:1885"),
            D: redirecting(0x9C, "e.example:1886"),
            E: ScriptedBroker(),
        }
    )
    with pytest.raises(MqttConnectError, match=r"more than 3 redirects in a row \(mqtt://a\."):
        run_virtual(connect_and_leave(client_on(network)))
    assert network.attempts == [A, B, C, D]


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("  ", "names no server"),
        ("c.example:http", "'http' is not a port"),
        ("[2001:db8::1", "an unclosed or empty '['"),
    ],
)
def test_a_reference_that_cannot_be_read_is_an_error_naming_it(reference: str, words: str) -> None:
    network = MemoryNetwork({A: redirecting(0x9C, reference)})
    with pytest.raises(MqttConnectError, match=re.escape(words)) as caught:
        run_virtual(connect_and_leave(client_on(network)))
    assert repr(reference) in str(caught.value)


def test_with_follow_redirects_off_the_error_names_the_reference() -> None:
    network = MemoryNetwork({A: redirecting(0x9D, "c.example:1884"), C: ScriptedBroker()})
    with pytest.raises(MqttConnectError) as caught:
        run_virtual(connect_and_leave(client_on(network, follow_redirects=False)))
    assert str(caught.value).endswith(
        "0x9d SERVER_MOVED (server reference 'c.example:1884'); not followed: "
        "follow_redirects=False"
    )
    assert caught.value.rc == 0x9D and network.attempts == [A]


def test_a_redirect_not_followed_moves_on_to_the_failover_servers() -> None:
    network = MemoryNetwork({A: redirecting(0x9C, "c.example:1884"), B: ScriptedBroker()})
    address, _ = run_virtual(connect_and_leave(client_on(network, B, follow_redirects=False)))
    assert address == B and network.attempts == [A, B]


def test_a_redirect_without_a_reference_moves_on_to_the_failover_servers() -> None:
    network = MemoryNetwork({A: redirecting(0x9C, None), B: ScriptedBroker()})
    address, _ = run_virtual(connect_and_leave(client_on(network, B)))
    assert address == B and network.attempts == [A, B]


def test_a_redirect_that_fails_counts_as_its_servers_failure() -> None:
    network = MemoryNetwork({A: redirecting(0x9C, "c.example:1884"), B: ScriptedBroker()})
    address, _ = run_virtual(connect_and_leave(client_on(network, B)))
    assert address == B and network.attempts == [A, C, B]


def test_a_failure_where_a_redirect_led_says_how_the_client_got_there() -> None:
    network = MemoryNetwork({A: redirecting(0x9C, "c.example:1884")})
    with pytest.raises(MqttConnectError) as caught:
        run_virtual(connect_and_leave(client_on(network)))
    assert str(caught.value) == (
        "connecting to mqtt://c.example:1884 failed at the tcp stage: connection refused "
        "(redirected there: mqtt://a.example:1883 -> mqtt://c.example:1884)"
    )
    assert caught.value.stage == "tcp" and caught.value.address == "mqtt://c.example:1884"
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


# ---------------------------------------------------------------- redirects in DISCONNECT


def test_a_disconnect_redirect_is_followed_at_once_by_the_reconnection() -> None:
    primary = ScriptedBroker()
    network = MemoryNetwork({A: primary, C: ScriptedBroker()})
    client = client_on(network, reconnect=QUICK)

    async def scenario() -> tuple[str, int]:
        async with client:
            primary.send(
                Disconnect(
                    DisconnectReasonCode.USE_ANOTHER_SERVER,
                    Properties(server_reference="c.example:1884"),
                )
            )
            await client.publish("t", b"after", qos=1)
            return client.server_address

    address, elapsed = run_virtual(scenario())
    assert address == C and network.attempts == [A, C]
    assert elapsed == 0.0  # no backoff before following the broker's word


def test_a_disconnect_saying_moved_is_followed_by_the_next_entry_of_the_block() -> None:
    primary = ScriptedBroker()
    network = MemoryNetwork({A: primary, C: ScriptedBroker()})
    client = client_on(network)

    async def first() -> str:
        async with client:
            primary.send(
                Disconnect(
                    DisconnectReasonCode.SERVER_MOVED,
                    Properties(server_reference="c.example:1884"),
                )
            )
            try:
                async for _ in client.messages:
                    pass
            except MqttError as error:
                return str(error)
        return "no error"

    error, _ = run_virtual(first())
    assert "(SERVER_MOVED) (server reference 'c.example:1884')" in error
    run_virtual(connect_and_leave(client))
    run_virtual(connect_and_leave(client))
    assert network.attempts == [A, C, C]
    assert client.server_address == C


def test_a_disconnect_redirect_that_fails_falls_back_to_the_servers_in_order() -> None:
    primary = ScriptedBroker()
    network = MemoryNetwork({A: primary})
    client = client_on(network, reconnect=QUICK)

    async def scenario() -> tuple[str, int]:
        async with client:
            primary.send(
                Disconnect(
                    DisconnectReasonCode.USE_ANOTHER_SERVER,
                    Properties(server_reference="c.example:1884"),
                )
            )
            await client.publish("t", b"after", qos=1)
            return client.server_address

    address, _ = run_virtual(scenario())
    assert address == A and network.attempts == [A, C, A]


def test_a_disconnect_redirect_is_a_plain_loss_with_follow_redirects_off() -> None:
    primary = ScriptedBroker()
    network = MemoryNetwork({A: primary, C: ScriptedBroker()})
    client = client_on(network, reconnect=QUICK, follow_redirects=False)

    async def scenario() -> tuple[str, int]:
        async with client:
            primary.send(
                Disconnect(
                    DisconnectReasonCode.USE_ANOTHER_SERVER,
                    Properties(server_reference="c.example:1884"),
                )
            )
            await client.publish("t", b"after", qos=1)
            return client.server_address

    address, elapsed = run_virtual(scenario())
    assert address == A and network.attempts == [A, A]
    assert elapsed == 1.0  # the backoff delay, as after any loss


SOCKET = ("/run/mqtt.sock", 1883)  # (a Unix socket: the port is unused)


def unix_client(network: MemoryNetwork, **options: Any) -> Client:
    client = Client(SOCKET[0], transport="unix", identifier="me", **options)
    client._supervisor._open = network.opener
    return client


def test_a_unix_socket_connection_cannot_follow_a_connack_redirect() -> None:
    network = MemoryNetwork({SOCKET: redirecting(0x9C, "c.example:1884"), C: ScriptedBroker()})
    with pytest.raises(MqttConnectError) as caught:
        run_virtual(connect_and_leave(unix_client(network)))
    assert str(caught.value).endswith(
        "(server reference 'c.example:1884'); a Unix-socket connection cannot follow it"
    )
    assert network.attempts == [SOCKET]


def test_a_unix_socket_connection_takes_a_disconnect_redirect_as_a_plain_loss() -> None:
    local = ScriptedBroker()
    network = MemoryNetwork({SOCKET: local, C: ScriptedBroker()})
    client = unix_client(network, reconnect=QUICK)

    async def scenario() -> tuple[str, int]:
        async with client:
            local.send(
                Disconnect(
                    DisconnectReasonCode.SERVER_MOVED,
                    Properties(server_reference="c.example:1884"),
                )
            )
            await client.publish("t", b"after", qos=1)
            return client.server_address

    address, elapsed = run_virtual(scenario())
    assert address == SOCKET and network.attempts == [SOCKET, SOCKET]
    assert elapsed == 1.0
