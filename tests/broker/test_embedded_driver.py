"""The broker's asyncio driver (``_broker_link``) on fake transports: one write per connection
per loop turn, backpressure both ways, and containment: whatever raises out of the broker core
is logged at ERROR and ends at most the one connection it concerned."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from asyncmqtt import _broker_link
from asyncmqtt._broker_link import BrokerDriver, BrokerLink
from asyncmqtt.protocol.broker import BrokerCore
from asyncmqtt.protocol.codec import encode
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.packets import Connect, PingReq, Publish, Subscribe, Subscription

V5 = ProtocolVersion.V5
LOGGER = logging.getLogger("asyncmqtt.broker.test")


class FakeTransport:
    """Records what the driver does to a transport; ``buffered`` is its write buffer's size."""

    def __init__(self, protocol: asyncio.Protocol, peer: Any = ("127.0.0.1", 5000)) -> None:
        self.protocol = protocol
        self.peer = peer
        self.written: list[bytes] = []
        self.buffered = 0
        self.reading = True
        self.closing = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default


def connect(
    driver: BrokerDriver, client_id: str, **fields: Any
) -> tuple[BrokerLink, FakeTransport]:
    link = BrokerLink(driver, "mqtt://test")
    transport = FakeTransport(link)
    link.connection_made(transport)  # type: ignore[arg-type]
    link.data_received(encode(Connect(client_id=client_id, protocol_version=V5, **fields), V5))
    return link, transport


async def turn() -> None:
    """Let the loop turn twice (the driver flushes when it turns)."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_writes_are_one_per_connection_per_loop_turn() -> None:
    driver = BrokerDriver(BrokerCore(), LOGGER)
    subscriber, to_subscriber = connect(driver, "sub")
    publisher, _ = connect(driver, "pub")
    await turn()
    subscriber.data_received(encode(Subscribe(1, (Subscription("t"),)), V5))
    await turn()
    to_subscriber.written.clear()
    for n in range(5):  # five reads in one loop turn
        publisher.data_received(encode(Publish("t", b"%d" % n), V5))
    await turn()
    assert len(to_subscriber.written) == 1  # the five messages in one write
    assert to_subscriber.written[0].count(b"\x30") >= 5
    await driver.shutdown(1.0)


async def test_a_client_that_reads_nothing_is_not_read_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_broker_link, "MAX_WRITE_BUFFER", 100)
    driver = BrokerDriver(BrokerCore(), LOGGER)
    link, transport = connect(driver, "greedy")
    await turn()
    transport.buffered = 101  # its replies pile up
    link.data_received(encode(PingReq(), V5))
    await turn()
    assert not transport.reading
    link.pause_writing()
    assert link.conn is not None and link.conn.writing_paused
    transport.buffered = 0
    link.resume_writing()
    assert transport.reading and not link.conn.writing_paused
    await driver.shutdown(1.0)


async def test_peer_addresses_in_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    driver = BrokerDriver(BrokerCore(), LOGGER)
    for peer in [("::1", 5000, 0, 0), ""]:
        link = BrokerLink(driver, "unix:/tmp/s")
        link.connection_made(FakeTransport(link, peer))  # type: ignore[arg-type]
        link.data_received(encode(Connect(client_id=f"p{len(peer)}", protocol_version=V5), V5))
    await turn()
    messages = [record.getMessage() for record in caplog.records]
    assert "client 'p4' connected from [::1]:5000 (MQTT 5.0)" in messages
    assert "client 'p0' connected from unix:/tmp/s (MQTT 5.0)" in messages
    await driver.shutdown(1.0)


async def test_a_connection_made_while_closing_is_dropped() -> None:
    driver = BrokerDriver(BrokerCore(), LOGGER)
    await driver.shutdown(1.0)
    link = BrokerLink(driver, "mqtt://test")
    transport = FakeTransport(link)
    link.connection_made(transport)  # type: ignore[arg-type]
    assert transport.aborted and link.conn is None
    link.data_received(b"ignored")
    await turn()


@pytest.mark.parametrize(
    "broken",
    ["new_connection", "receive_data", "data_to_send", "resume_writing", "connection_lost"],
)
async def test_a_bug_of_the_core_ends_only_its_connection(
    broken: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = BrokerDriver(BrokerCore(), LOGGER)
    bystander, to_bystander = connect(driver, "bystander")
    await turn()
    from asyncmqtt.protocol.server import ServerConnection

    def bug(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError(broken)

    owner = BrokerCore if broken == "new_connection" else ServerConnection
    monkeypatch.setattr(owner, broken, bug)
    victim = BrokerLink(driver, "mqtt://test")
    to_victim = FakeTransport(victim)
    victim.connection_made(to_victim)  # type: ignore[arg-type]
    victim.data_received(encode(Connect(client_id="victim", protocol_version=V5), V5))
    victim.resume_writing()
    await turn()
    if broken == "connection_lost":
        victim.connection_lost(None)
    monkeypatch.undo()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and all(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in errors)
    if broken != "connection_lost":
        assert to_victim.aborted
    # The bystander is served as before.
    to_bystander.written.clear()
    bystander.data_received(encode(PingReq(), V5))
    await turn()
    assert to_bystander.written == [b"\xd0\x00"]
    await driver.shutdown(1.0)


@pytest.mark.parametrize("broken", ["handle_timer", "get_timer", "events_received", "shutdown"])
async def test_a_bug_of_the_core_outside_any_connection_is_logged(
    broken: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = BrokerCore(connect_timeout=0.01)
    driver = BrokerDriver(core, LOGGER)

    def bug(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError(broken)

    connect(driver, "c")
    await turn()
    monkeypatch.setattr(core, broken, bug)
    silent = BrokerLink(driver, "mqtt://test")
    silent.connection_made(FakeTransport(silent))  # type: ignore[arg-type]  # (a timer to fire)
    driver.flush()
    if broken in ("handle_timer", "get_timer"):
        driver._on_timer()
    await driver.shutdown(1.0)
    monkeypatch.undo()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and all(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in errors)


async def test_a_failing_report_is_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = BrokerDriver(BrokerCore(), LOGGER)

    def bug(event: object) -> None:
        raise ZeroDivisionError("report")

    monkeypatch.setattr(driver, "_report", bug)
    connect(driver, "c")
    await turn()
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "failed to report the broker event ClientConnected" in error.getMessage()
    await driver.shutdown(1.0)


async def test_shutdown_aborts_what_does_not_close(caplog: pytest.LogCaptureFixture) -> None:
    class Stuck(FakeTransport):
        def close(self) -> None:
            self.closing = True  # (its connection_lost never comes)

    driver = BrokerDriver(BrokerCore(), LOGGER)
    link = BrokerLink(driver, "mqtt://test")
    transport = Stuck(link)
    link.connection_made(transport)  # type: ignore[arg-type]
    await driver.shutdown(0.01)
    assert transport.aborted
    assert "did not close when aborted" in caplog.text
