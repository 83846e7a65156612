"""Happy Eyeballs (RFC 8305): the addresses of a name are tried staggered, the first to connect
wins, all under the connect's one deadline.

The tests control name resolution (``transports._getaddrinfo`` answers what each test says for
the name ``broker.test``) and the addresses: the real broker on 127.0.0.1, addresses that
refuse at once (a port nobody listens on), and "black holes" that never answer: a listening
socket whose accept queue is full, so the kernel drops every new SYN. Everything stays on the
loopback interface.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from mqtt_session import MqttSession
from transport_servers import TransportBroker

from asyncmqtt import transports
from asyncmqtt.errors import MqttConnectError
from asyncmqtt.protocol.events import Connected
from asyncmqtt.transports import TransportSettings, open_connection

NAME = "broker.test"  # resolved only by the fake resolver below
TIMEOUT = 10.0  # the connect's deadline; a winner must come long before it

Address = tuple[str, int]


def _info(host: str, port: int) -> tuple[int, int, int, str, tuple[object, ...]]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockaddr: tuple[object, ...] = (host, port, 0, 0) if family == socket.AF_INET6 else (host, port)
    return family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr


@pytest.fixture
def resolve_to(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Address]]:
    """Fill the list with the (host, port) answers, in order, that ``broker.test`` resolves to."""
    answers: list[Address] = []

    async def fake_getaddrinfo(
        loop: asyncio.AbstractEventLoop, host: str, port: int, family: int
    ) -> list[tuple[int, int, int, str, tuple[object, ...]]]:
        assert host == NAME
        infos = [_info(*address) for address in answers]
        return [info for info in infos if family in (socket.AF_UNSPEC, info[0])]

    monkeypatch.setattr(transports, "_getaddrinfo", fake_getaddrinfo)
    yield answers


@pytest.fixture
def tried(monkeypatch: pytest.MonkeyPatch) -> list[Address]:
    """The (host, port) of every connection attempt, in the order they started."""
    started: list[Address] = []
    connect_one = transports._Connector._connect_one

    async def recording(self: transports._Connector, address: transports._Address) -> socket.socket:
        host, port = cast(Address, address[3][:2])
        started.append((host, port))
        return await connect_one(self, address)

    monkeypatch.setattr(transports._Connector, "_connect_one", recording)
    return started


class BlackHoles:
    """Addresses that never answer a connect: listeners with a full accept queue."""

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []

    def make(self, host: str) -> Address:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        self._sockets.append(listener)
        listener.bind((host, 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        # With a backlog of 0 the queue holds one connection; this one fills it.
        self._sockets.append(socket.create_connection((host, port), timeout=5))
        return host, port

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def black_holes() -> Iterator[BlackHoles]:
    holes = BlackHoles()
    try:
        yield holes
    finally:
        holes.close()


@pytest.fixture
def refusing() -> Address:
    """An address that refuses connections at once: a port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return "127.0.0.1", probe.getsockname()[1]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback (::1) here")


def _connects_under_way_to(address: Address) -> int:
    """Sockets of this process's network namespace in SYN-SENT towards ``address`` (Linux)."""
    host, port = address
    table = Path("/proc/net/tcp6" if ":" in host else "/proc/net/tcp")
    packed = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    # /proc shows each 32-bit word of the address in host byte order (little-endian here).
    words = [packed[i : i + 4][::-1].hex().upper() for i in range(0, len(packed), 4)]
    remote = f"{''.join(words)}:{port:04X}"
    syn_sent = "02"
    count = 0
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        if fields[2] == remote and fields[3] == syn_sent:
            count += 1
    return count


def _settings(broker: TransportBroker, **options: object) -> TransportSettings:
    return TransportSettings(
        hostname=NAME,
        port=broker.port,
        timeout=TIMEOUT,
        **options,  # type: ignore[arg-type]
    )


async def _connected_mqtt(settings: TransportSettings) -> tuple[asyncio.Transport, float]:
    """Connect, check MQTT works over the winner, and return how long the transport took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    transport, session = await open_connection(MqttSession, settings)
    elapsed = loop.time() - started
    connected = await session.next_event(Connected)
    assert connected.connack.reason_code == 0
    assert await session.close() is None
    return transport, elapsed


# -- the first address never answers --------------------------------------------------------


async def test_a_black_holed_first_address_loses_to_the_second(
    transport_broker: TransportBroker,
    resolve_to: list[Address],
    black_holes: BlackHoles,
    tried: list[Address],
) -> None:
    hole = black_holes.make("127.0.0.2")
    broker = (transport_broker.host, transport_broker.port)
    resolve_to += [hole, broker]
    transport, elapsed = await _connected_mqtt(_settings(transport_broker))
    assert transport.get_extra_info("peername") == broker
    assert tried == [hole, broker]
    # One attempt delay (0.25 s), not the timeout: a correctness bound, not a benchmark.
    assert elapsed < TIMEOUT / 2
    # The losing attempt was given up and its socket closed.
    assert _connects_under_way_to(hole) == 0


@needs_ipv6
async def test_families_alternate_so_a_broken_ipv6_route_costs_one_delay(
    transport_broker: TransportBroker,
    resolve_to: list[Address],
    black_holes: BlackHoles,
    tried: list[Address],
) -> None:
    # The resolver puts IPv6 first (as it does where IPv6 seems to work); both IPv6 addresses
    # are black holes. Interleaving tries IPv4 second, not after every IPv6 address.
    first, second = black_holes.make("::1"), black_holes.make("::1")
    broker = (transport_broker.host, transport_broker.port)
    resolve_to += [first, second, broker]
    transport, elapsed = await _connected_mqtt(_settings(transport_broker))
    assert transport.get_extra_info("peername") == broker
    assert tried[:2] == [first, broker]
    assert elapsed < TIMEOUT / 2
    assert _connects_under_way_to(first) == 0
    assert _connects_under_way_to(second) == 0


async def test_a_refused_address_starts_the_next_attempt_at_once(
    transport_broker: TransportBroker,
    resolve_to: list[Address],
    refusing: Address,
    tried: list[Address],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With an attempt delay longer than the deadline, only "start the next one when an
    # attempt fails" can connect in time.
    monkeypatch.setattr(transports, "HAPPY_EYEBALLS_DELAY", 3600.0)
    broker = (transport_broker.host, transport_broker.port)
    resolve_to += [refusing, broker]
    transport, _ = await _connected_mqtt(_settings(transport_broker))
    assert transport.get_extra_info("peername") == broker
    assert tried == [refusing, broker]


# -- settings still apply to the winner -----------------------------------------------------


async def test_socket_options_and_bind_address_apply_to_the_winner(
    transport_broker: TransportBroker, resolve_to: list[Address], black_holes: BlackHoles
) -> None:
    resolve_to += [black_holes.make("127.0.0.2"), (transport_broker.host, transport_broker.port)]
    settings = _settings(
        transport_broker,
        bind_address="127.0.0.1",
        socket_options=[(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)],
    )
    transport, _ = await open_connection(MqttSession, settings)
    try:
        assert transport.get_extra_info("sockname")[0] == "127.0.0.1"
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    finally:
        transport.close()


async def test_a_fixed_bind_port_tries_the_addresses_one_at_a_time(
    transport_broker: TransportBroker,
    resolve_to: list[Address],
    refusing: Address,
    tried: list[Address],
) -> None:
    # Two sockets cannot bind one local port at once, so no attempt overlaps another; a
    # refused first address still hands over to the next one.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    broker = (transport_broker.host, transport_broker.port)
    resolve_to += [refusing, broker]
    transport, _ = await open_connection(
        MqttSession, _settings(transport_broker, bind_port=local_port)
    )
    try:
        assert transport.get_extra_info("sockname")[1] == local_port
        assert tried == [refusing, broker]
    finally:
        transport.close()


# -- when no address connects ---------------------------------------------------------------


async def test_every_address_failing_names_each_failure(
    transport_broker: TransportBroker, resolve_to: list[Address]
) -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    resolve_to += [("127.0.0.1", port) for port in ports]
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, _settings(transport_broker))
    error = caught.value
    assert error.stage == "tcp"
    for port in ports:  # each address is named with its own failure
        assert f"('127.0.0.1', {port})" in str(error)
    assert str(error).count(f"[Errno {errno.ECONNREFUSED}]") == 2
    assert isinstance(error.__cause__, ConnectionRefusedError)


async def test_black_holes_only_time_out_at_the_one_deadline(
    transport_broker: TransportBroker, resolve_to: list[Address], black_holes: BlackHoles
) -> None:
    holes = [black_holes.make("127.0.0.2"), black_holes.make("127.0.0.3")]
    resolve_to += holes
    settings = TransportSettings(hostname=NAME, port=transport_broker.port, timeout=0.6)
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    assert caught.value.stage == "tcp"
    assert "timed out after" in str(caught.value)
    assert isinstance(caught.value.__cause__, TimeoutError)
    # Both attempts were started (0.25 s apart) and both were given up at the deadline.
    assert all(_connects_under_way_to(hole) == 0 for hole in holes)


# -- the order of attempts --------------------------------------------------------------------


def _addr(family: int, name: str) -> transports._Address:
    return family, socket.SOCK_STREAM, 6, (name, 1883)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["6a", "6b", "4a", "4b"], ["6a", "4a", "6b", "4b"]),
        (["4a", "6a", "6b", "6c"], ["4a", "6a", "6b", "6c"]),
        (["6a", "4a", "4b", "4c"], ["6a", "4a", "4b", "4c"]),
        (["4a", "4b"], ["4a", "4b"]),
        (["6a"], ["6a"]),
    ],
)
def test_families_are_interleaved_first_family_first(given: list[str], expected: list[str]) -> None:
    families = {"4": socket.AF_INET, "6": socket.AF_INET6}
    addresses = [_addr(families[name[0]], name) for name in given]
    assert [address[3][0] for address in transports._interleave(addresses)] == expected
