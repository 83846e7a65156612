"""The broker fixtures and the event-loop parametrization, checked with hand-made MQTT bytes."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import broker as broker_module
import pytest
import uvloop
from broker import BrokerError, Mosquitto

if TYPE_CHECKING:
    from conftest import MosquittoFactory

# MQTT 3.1.1 CONNECT: protocol "MQTT" level 4, clean session, keepalive 60 s, empty client id.
CONNECT_V311 = bytes.fromhex("10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00")
CONNACK_ACCEPTED = bytes.fromhex("20 02 00 00")
CONNACK_NOT_AUTHORIZED = bytes.fromhex("20 02 00 05")  # v3.1.1 return code 5

EXPECTED_LOOP_TYPES = {"asyncio": asyncio.SelectorEventLoop, "uvloop": uvloop.Loop}


# -- hand-made packets --------------------------------------------------------------------------


def _utf8(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _packet(first_byte: int, body: bytes) -> bytes:
    assert len(body) < 128, "these helpers write one-byte remaining lengths only"
    return bytes([first_byte, len(body)]) + body


def _connect(
    *,
    version: int = 4,
    client_id: str = "",
    username: str | None = None,
    password: str | None = None,
    clean: bool = True,
) -> bytes:
    flags = (0x02 if clean else 0) | (0x80 if username else 0) | (0x40 if password else 0)
    header = _utf8("MQTT") + bytes([version, flags]) + (60).to_bytes(2, "big")
    if version == 5:
        header += b"\x00"  # no properties
    payload = _utf8(client_id)
    if username is not None:
        payload += _utf8(username)
    if password is not None:
        payload += _utf8(password)
    return _packet(0x10, header + payload)


def _subscribe(packet_id: int, topic_filter: str, qos: int) -> bytes:
    return _packet(0x82, packet_id.to_bytes(2, "big") + _utf8(topic_filter) + bytes([qos]))


def _publish_qos1_v5(packet_id: int, topic: str, payload: bytes) -> bytes:
    return _packet(0x32, _utf8(topic) + packet_id.to_bytes(2, "big") + b"\x00" + payload)


async def _read_packet(reader: asyncio.StreamReader) -> bytes:
    """One whole packet: fixed header, variable-length remaining length, body."""
    async with asyncio.timeout(5):
        header = await reader.readexactly(1)
        length, shift = 0, 0
        while True:
            byte = (await reader.readexactly(1))[0]
            header += bytes([byte])
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return header + await reader.readexactly(length)


async def _exchange(broker: Mosquitto, *packets: bytes) -> list[bytes]:
    """Send each packet on one connection and return the packet the broker answers with."""
    reader, writer = await asyncio.open_connection(broker.host, broker.port)
    try:
        answers = []
        for packet in packets:
            writer.write(packet)
            answers.append(await _read_packet(reader))
        return answers
    finally:
        writer.close()
        await writer.wait_closed()


# -- event loops ----------------------------------------------------------------------------


@pytest.mark.all_event_loops
async def test_connack_from_session_broker_on_every_loop(
    mosquitto: Mosquitto, request: pytest.FixtureRequest
) -> None:
    item = request.node
    assert isinstance(item, pytest.Function)
    loop_name = item.callspec.id
    assert type(asyncio.get_running_loop()) is EXPECTED_LOOP_TYPES[loop_name]

    assert await _exchange(mosquitto, CONNECT_V311) == [CONNACK_ACCEPTED]


async def test_unmarked_tests_outside_client_run_on_default_loop_only(
    request: pytest.FixtureRequest,
) -> None:
    factories = request.node.ihook.pytest_asyncio_loop_factories(
        config=request.config, item=request.node
    )
    assert list(factories) == ["asyncio"]
    assert type(asyncio.get_running_loop()) is asyncio.SelectorEventLoop


def _root_conftest(config: pytest.Config) -> ModuleType:
    # conftest.py files outside packages all share the module name "conftest", so fetch ours
    # by path from the plugin manager rather than by import.
    plugin = config.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    assert isinstance(plugin, ModuleType)
    return plugin


def test_client_tests_and_marked_tests_run_on_every_loop(request: pytest.FixtureRequest) -> None:
    conftest = _root_conftest(request.config)
    every_loop = ["asyncio", "uvloop"]
    client_test = conftest.CLIENT_TESTS_DIR / "test_client.py"
    other_test = Path(__file__)

    assert list(conftest.loop_factories_for(client_test, marked=False)) == every_loop
    assert list(conftest.loop_factories_for(other_test, marked=True)) == every_loop
    assert list(conftest.loop_factories_for(other_test, marked=False)) == ["asyncio"]


# -- broker configurations ---------------------------------------------------------------------


async def test_password_file_and_acl(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto(
        anonymous=False,
        users={"alice": "secret", "bob": "hunter2"},
        acl="user alice\ntopic readwrite alice/#\n",
    )

    assert await _exchange(broker, CONNECT_V311) == [CONNACK_NOT_AUTHORIZED]
    wrong = _connect(client_id="a", username="alice", password="wrong")
    assert await _exchange(broker, wrong) == [CONNACK_NOT_AUTHORIZED]
    right = _connect(client_id="b", username="bob", password="hunter2")
    assert await _exchange(broker, right) == [CONNACK_ACCEPTED]

    # MQTT 5 shows the ACL at work: a publish outside alice/# gets PUBACK "not authorized" (0x87).
    alice_v5 = _connect(version=5, client_id="a5", username="alice", password="secret")
    connack, allowed, refused = await _exchange(
        broker,
        alice_v5,
        _publish_qos1_v5(1, "alice/x", b"ok"),
        _publish_qos1_v5(2, "bob/x", b"no"),
    )
    assert (connack[0], connack[2:4]) == (0x20, b"\x00\x00")  # no session, success
    # PUBACK: type byte, length, packet id, reason code (0x10: accepted, nobody subscribed).
    assert (allowed[0], allowed[2:5]) == (0x40, bytes.fromhex("00 01 10"))
    assert (refused[0], refused[2:5]) == (0x40, bytes.fromhex("00 02 87"))


async def test_persistent_session_survives_restart_on_same_port(
    make_mosquitto: MosquittoFactory,
) -> None:
    broker = make_mosquitto(persistence=True)
    port = broker.port
    persistent = _connect(client_id="keeper", clean=False)
    first_connack, suback = await _exchange(broker, persistent, _subscribe(1, "k/#", 1))
    assert first_connack == bytes.fromhex("20 02 00 00")  # no session yet
    assert suback == bytes.fromhex("90 03 00 01 01")

    await asyncio.to_thread(broker.restart)

    assert broker.port == port
    assert await _exchange(broker, persistent) == [bytes.fromhex("20 02 01 00")]  # present


async def test_limits_reach_the_broker(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto(max_inflight_messages=7, max_packet_size=5000)
    [connack] = await _exchange(broker, _connect(version=5))
    # CONNACK properties: Receive Maximum (0x21) and Maximum Packet Size (0x27).
    assert bytes.fromhex("21 00 07") in connack
    assert bytes.fromhex("27 00 00 13 88") in connack


async def test_async_context_manager_starts_and_removes_everything() -> None:
    async with Mosquitto() as broker:
        assert await _exchange(broker, CONNECT_V311) == [CONNACK_ACCEPTED]
        workdir = broker.log_path.parent
        assert "running" in broker.log_text()
    assert not broker.running
    assert not workdir.exists()
    with pytest.raises(RuntimeError, match="closed"):
        broker.start()


def test_sync_context_manager_and_stop() -> None:
    with Mosquitto() as broker:
        assert broker.running
        with socket.create_connection((broker.host, broker.port), timeout=5):
            pass
        broker.stop()
        assert not broker.running
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((broker.host, broker.port), timeout=5)


def test_taken_port_is_replaced_on_start(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        real_free_port = broker_module._free_port
        offered = iter([taken])
        monkeypatch.setattr(
            broker_module, "_free_port", lambda: next(offered, None) or real_free_port()
        )

        with Mosquitto() as broker:
            assert broker.port != taken
            assert broker.running
            assert "Address already in use" in broker.log_text()


def test_restart_keeps_its_port_or_fails_clearly() -> None:
    with Mosquitto() as broker:
        broker.stop()
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", broker.port))
            squatter.listen()
            with pytest.raises(BrokerError, match="Address already in use"):
                broker.start()
        broker.start()
        assert broker.running


def test_startup_failure_reports_mosquitto_output() -> None:
    broker = Mosquitto(extra=["no_such_option 1"])
    with pytest.raises(BrokerError, match='Unknown configuration variable "no_such_option"'):
        broker.start()
    assert not broker.running
    broker.close()


def test_conftest_in_a_scratch_session(pytester: pytest.Pytester) -> None:
    """Run a copy of the conftest in a session of its own, to see what only a session shows."""
    here = Path(__file__).parent
    pytester.makeconftest((here / "conftest.py").read_text())
    pytester.makepyfile(broker=(here / "broker.py").read_text())
    pytester.makepyfile(
        test_top="""
        import asyncio

        async def test_unmarked():
            assert type(asyncio.get_running_loop()) is asyncio.SelectorEventLoop

        def test_fails(mosquitto):
            assert False, "on purpose"
        """
    )
    pytester.mkdir("client")
    pytester.makepyfile(
        **{
            "client/test_loops": """
            import asyncio, uvloop

            LOOPS = {"asyncio": asyncio.SelectorEventLoop, "uvloop": uvloop.Loop}

            async def test_loop(request):
                assert type(asyncio.get_running_loop()) is LOOPS[request.node.callspec.id]
            """
        }
    )
    pytester.makeini(
        """
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        """
    )
    # As in pyproject.toml: the conftest loads asyncmqtt's plugin itself, so its entry point
    # is blocked (registered both ways, it would be one plugin under two names).
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncmqtt", "-v")

    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*client/test_loops.py::test_loop?asyncio? PASSED*",
            "*client/test_loops.py::test_loop?uvloop? PASSED*",
            "*test_top.py::test_unmarked PASSED*",
        ]
    )
    # The failed test's report ends with the log of the broker it used.
    result.stdout.fnmatch_lines(["*mosquitto log (port *), last lines*", "*version * running*"])


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"anonymous": "yes"}, TypeError, "anonymous must be a bool"),
        ({"users": ["alice"]}, TypeError, "users must be a mapping"),
        ({"users": {"a:b": "pw"}}, ValueError, "user name 'a:b' must be non-empty without ':'"),
        ({"users": {"alice": 1}}, TypeError, "users must map str to str"),
        ({"max_queued_messages": -1}, ValueError, "max_queued_messages must be >= 0, got -1"),
        ({"max_packet_size": 1.5}, TypeError, "max_packet_size must be an int or None"),
        ({"extra": 3}, TypeError, "extra must be a str or a sequence of str"),
        ({"log_type": "error"}, ValueError, "log_type must include 'notice' or 'all'"),
    ],
)
def test_bad_options_raise_at_the_call(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Mosquitto(**options)  # type: ignore[arg-type]


def test_port_is_unknown_before_start() -> None:
    broker = Mosquitto()
    with pytest.raises(RuntimeError, match="start"):
        _ = broker.port
    broker.close()


@pytest.mark.parametrize(
    ("ci", "outcome"), [("", pytest.fail.Exception), ("true", pytest.exit.Exception)]
)
def test_missing_mosquitto_fails_and_stops_ci(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    ci: str,
    outcome: type[BaseException],
) -> None:
    conftest = _root_conftest(request.config)
    monkeypatch.setattr(conftest, "find_mosquitto", lambda name="mosquitto": None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="apt-get install -y mosquitto mosquitto-clients"):
        conftest.require_mosquitto()


def test_run_with_broker_script_points_the_command_at_a_live_broker() -> None:
    script = Path(__file__).parent.parent / "scripts" / "run_with_broker.py"
    command = (
        "import os, socket, sys\n"
        "address = (os.environ['MQTT_HOST'], int(os.environ['MQTT_PORT']))\n"
        "with socket.create_connection(address, timeout=5) as connection:\n"
        f"    connection.sendall({CONNECT_V311!r})\n"
        "    answer = connection.makefile('rb').read(4)\n"
        f"sys.exit(0 if answer == {CONNACK_ACCEPTED!r} else 42)\n"
    )
    passed = subprocess.run([sys.executable, script, sys.executable, "-c", command], check=False)
    failed = subprocess.run(
        [sys.executable, script, "--", sys.executable, "-c", "raise SystemExit(7)"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert passed.returncode == 0
    assert failed.returncode == 7
    assert "exited with status 7; the broker log ends with:" in failed.stderr


def test_wait_for_log_counts_lines_and_gives_up_with_a_message(
    make_mosquitto: MosquittoFactory,
) -> None:
    broker = make_mosquitto()
    assert "running" in broker.wait_for_log("running")
    with pytest.raises(AssertionError, match="logged 'running' 1 times, not 2"):
        broker.wait_for_log("running", count=2, timeout=0.05)
