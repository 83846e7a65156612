"""The fault-injection tools: Relay (network faults), Mosquitto kill/restart with new limits,
and ClientProcess (a client process to SIGKILL)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from broker import Mosquitto
from client_process import SRC_DIR, ClientProcess
from relay import Relay, RelayMode

import asyncmqtt
from asyncmqtt import Client, Message, MessageStream, ProtocolVersion

if TYPE_CHECKING:
    from conftest import MosquittoFactory

# MQTT 3.1.1 CONNECT: clean session, keepalive 60 s, empty client id; and its CONNACK.
CONNECT = bytes.fromhex("10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00")
CONNACK = bytes.fromhex("20 02 00 00")
DISCONNECT = bytes.fromhex("e0 00")
PINGREQ = bytes.fromhex("c0 00")
GUARD = 10.0  # seconds: only a broken test waits this long
CLOSED_LINE = "closed its connection"  # mosquitto logs it when a client's socket ends
NOBODY = asyncmqtt.PubAckReasonCode.NO_MATCHING_SUBSCRIBERS  # a PUBACK: the broker got it


# -- helpers ------------------------------------------------------------------------------------


def raw_connect(relay: Relay) -> socket.socket:
    """An MQTT 3.1.1 connection through ``relay``, past its CONNACK."""
    sock = socket.create_connection((relay.host, relay.port), timeout=GUARD)
    sock.sendall(CONNECT)
    assert recv_exactly(sock, 4) == CONNACK
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


async def take(stream: MessageStream, count: int) -> list[Message]:
    async with asyncio.timeout(GUARD):
        return [await anext(stream) for _ in range(count)]


async def ended_with(client: Client) -> asyncmqtt.MqttError:
    """Wait until ``client``'s connection ends; return the error its message stream raised."""
    with pytest.raises(asyncmqtt.MqttError) as caught:
        async with asyncio.timeout(GUARD):
            async for _ in client.messages:
                pass
    return caught.value


# -- Relay: forwarding and counters ------------------------------------------------------------


async def test_relay_forwards_an_mqtt_round_trip(mosquitto: Mosquitto) -> None:
    payload = os.urandom(1 << 20)  # big enough to need the relay's flow control
    async with Relay(mosquitto.port) as relay:
        async with Client(relay.host, relay.port) as client:
            await client.subscribe("relay/round-trip", qos=1)
            assert await client.publish("relay/round-trip", payload, qos=1) == 0
            [message] = await take(client.messages, 1)
            assert (relay.accepted, relay.open_connections) == (1, 1)
        assert message.payload == payload
        await relay.wait_for_async(lambda r: r.open_connections == 0)
        # The payload went up and came back, each once, with the MQTT framing around it.
        assert len(payload) < relay.bytes_to_target < len(payload) + 1024
        assert len(payload) < relay.bytes_to_client < len(payload) + 1024
        assert (relay.dropped_to_target, relay.dropped_to_client) == (0, 0)
    assert relay.mode is RelayMode.FORWARD


async def test_relay_works_while_the_test_event_loop_is_blocked(mosquitto: Mosquitto) -> None:
    # Blocking socket calls in an async test stall its event loop; the relay has its own.
    with Relay(mosquitto.port) as relay:
        sock = raw_connect(relay)
        assert (relay.bytes_to_target, relay.bytes_to_client) == (len(CONNECT), len(CONNACK))
        sock.sendall(DISCONNECT)
        # mosquitto closes after DISCONNECT; the relay passes the FIN on as EOF.
        assert sock.recv(1) == b""
        sock.close()
        relay.wait_for(lambda r: r.open_connections == 0)
        assert relay.bytes_to_target == len(CONNECT) + len(DISCONNECT)
        assert relay.accepted == 1


def test_relay_state_changes_are_in_effect_when_the_call_returns(mosquitto: Mosquitto) -> None:
    with Relay(mosquitto.port) as relay, raw_connect(relay) as sock:
        relay.blackhole()
        assert relay.mode is RelayMode.BLACKHOLE
        relay.refuse()
        assert relay.refusing
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((relay.host, relay.port), timeout=GUARD)
        relay.accept()
        assert not relay.refusing
        socket.create_connection((relay.host, relay.port), timeout=GUARD).close()
        relay.forward()
        sock.sendall(PINGREQ)
        assert recv_exactly(sock, 2) == bytes.fromhex("d0 00")  # PINGRESP


# -- Relay: blackhole -----------------------------------------------------------------------------


async def test_blackhole_is_silence_that_only_keepalive_detects(
    make_mosquitto: MosquittoFactory,
) -> None:
    mosquitto = make_mosquitto()  # its own, so that its log holds this test's lines only
    async with Relay(mosquitto.port) as relay:
        client = Client(relay.host, relay.port, identifier="blackholed", keepalive=1)
        async with client:
            relay.blackhole()
            started = time.monotonic()
            error = await ended_with(client)
            elapsed = time.monotonic() - started
        # PINGREQ after 1 s of quiet, given up 0.5 s later: 1.5 s (and 1 s at the very least).
        assert "keepalive" in str(error)
        assert 0.9 < elapsed < 3.0
        assert relay.dropped_to_target >= len(PINGREQ)
        # The client closed its socket, but the relay passed nothing on: the broker's end of
        # the connection is still open and has heard nothing.
        assert relay.open_connections == 1
        assert f"Client blackholed {CLOSED_LINE}" not in mosquitto.log_text()

        relay.forward()  # now the close held back is passed on
        mosquitto.wait_for_log(f"Client blackholed {CLOSED_LINE}")
        await relay.wait_for_async(lambda r: r.open_connections == 0)


def test_blackhole_drops_bytes_for_good(mosquitto: Mosquitto) -> None:
    with Relay(mosquitto.port) as relay:
        with socket.create_connection((relay.host, relay.port), timeout=GUARD) as sock:
            relay.blackhole()
            sock.sendall(CONNECT)
            relay.wait_for(lambda r: r.dropped_to_target == len(CONNECT))
            relay.forward()
            # The dropped CONNECT never reached the broker: this one is its first packet.
            sock.sendall(CONNECT)
            assert recv_exactly(sock, 4) == CONNACK
        assert relay.bytes_to_target == len(CONNECT)
        assert relay.bytes_to_client == len(CONNACK)


def test_blackhole_hold_delivers_the_bytes_after_forward(mosquitto: Mosquitto) -> None:
    with Relay(mosquitto.port) as relay:
        with socket.create_connection((relay.host, relay.port), timeout=GUARD) as sock:
            relay.blackhole(hold=True)
            assert relay.mode is RelayMode.HOLD
            sock.sendall(CONNECT)
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):  # silence: no CONNACK
                sock.recv(4)
            assert (relay.bytes_to_target, relay.dropped_to_target) == (0, 0)
            relay.forward()
            sock.settimeout(GUARD)
            assert recv_exactly(sock, 4) == CONNACK
        assert relay.bytes_to_target == len(CONNECT)


# -- Relay: cut, refuse, retarget, close ----------------------------------------------------------


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_cut_closes_every_connection_at_both_ends(
    make_mosquitto: MosquittoFactory, reset: bool
) -> None:
    mosquitto = make_mosquitto()
    with Relay(mosquitto.port) as relay:
        first, second = raw_connect(relay), raw_connect(relay)
        with first, second:
            assert relay.cut(reset=reset) == 2
            assert relay.open_connections == 0  # closed when cut() returns
            for sock in (first, second):
                if reset:
                    with pytest.raises(ConnectionResetError):
                        sock.recv(1)
                else:
                    assert sock.recv(1) == b""
        # The broker's ends were closed too.
        mosquitto.wait_for_log(CLOSED_LINE, count=2)
        # Cutting does not stop the relay: a new connection goes through.
        with raw_connect(relay):
            assert relay.accepted == 3


def test_cut_with_fin_reads_away_what_a_hold_left_unread(mosquitto: Mosquitto) -> None:
    with Relay(mosquitto.port) as relay, raw_connect(relay) as sock:
        relay.blackhole(hold=True)
        sock.sendall(PINGREQ)  # waits unread in the relay's socket
        assert relay.cut() == 1
        # Linux would answer a close with unread data with RST; the relay read it first.
        assert sock.recv(1) == b""
        assert relay.bytes_to_target == len(CONNECT)


async def test_cut_ends_an_asyncmqtt_connection(mosquitto: Mosquitto) -> None:
    async with Relay(mosquitto.port) as relay, Client(relay.host, relay.port) as client:
        assert relay.cut() == 1
        error = await ended_with(client)
    assert isinstance(error.__cause__, asyncmqtt.ConnectionLostError)


async def test_refuse_fails_new_connects_and_keeps_open_ones(mosquitto: Mosquitto) -> None:
    async with Relay(mosquitto.port) as relay, Client(relay.host, relay.port) as survivor:
        port = relay.port
        relay.refuse()
        with pytest.raises(asyncmqtt.MqttConnectError) as caught:
            async with Client(relay.host, relay.port):
                pass
        assert isinstance(caught.value.__cause__, ConnectionRefusedError)
        assert relay.accepted == 1  # a refused connect is never accepted
        # The connection made before is untouched.
        assert await survivor.publish("relay/refuse", b"still here", qos=1) == NOBODY

        relay.accept()
        async with Client(relay.host, relay.port) as late:
            assert late.is_connected
        assert (relay.port, relay.accepted) == (port, 2)


async def test_retarget_moves_new_connections_only(make_mosquitto: MosquittoFactory) -> None:
    first, second = make_mosquitto(), make_mosquitto()
    async with (
        Relay(first.port) as relay,
        Client(relay.host, relay.port, identifier="early") as early,
    ):
        relay.retarget(second.port)
        assert relay.target == (second.host, second.port)
        async with Client(relay.host, relay.port, identifier="late"):
            pass
        assert await early.publish("relay/retarget", b"x", qos=1) == NOBODY
    assert " as early " in first.log_text()
    assert " as late " in second.log_text()
    assert " as late " not in first.log_text()


def test_unreachable_target_closes_the_client_connection(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    broker.stop()  # its port now refuses
    with Relay(broker.port) as relay:
        with socket.create_connection((relay.host, relay.port), timeout=GUARD) as sock:
            assert sock.recv(1) == b""  # accepted, then closed
        relay.wait_for(lambda r: r.failed_connections == 1 and r.open_connections == 0)
        assert relay.accepted == 1


def test_close_ends_connections_and_frees_nothing_twice(mosquitto: Mosquitto) -> None:
    with Relay(mosquitto.port) as relay:
        sock = raw_connect(relay)
    with sock:
        assert sock.recv(1) == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((relay.host, relay.port), timeout=GUARD)
    relay.close()  # idempotent
    with pytest.raises(RuntimeError, match="not running"):
        relay.blackhole()
    with pytest.raises(RuntimeError, match="closed"):
        relay.start()


def test_relay_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match=r"port must be 1\.\.65535"):
        Relay(0)
    with pytest.raises(TypeError, match="port must be an int"):
        Relay("1883")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="start"):
        _ = Relay(1883).port
    with Relay(1883) as relay:
        with pytest.raises(TypeError, match="hold must be a bool"):
            relay.blackhole(hold=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="reset must be a bool"):
            relay.cut(reset="yes")  # type: ignore[arg-type]
        assert relay.mode is RelayMode.FORWARD


# -- Mosquitto: kill, restart with new limits, max_qos, autosave -------------------------------


async def connack_settings(client: Client) -> asyncmqtt.ServerSettings:
    """What the broker said in the CONNACK of an MQTT 5 ``client``."""
    async with client:
        return client.server


def v5_client(broker: Mosquitto) -> Client:
    return Client(broker.host, broker.port, protocol=ProtocolVersion.V5)


async def session_present(broker: Mosquitto, identifier: str) -> bool:
    async with Client(broker.host, broker.port, identifier=identifier, clean_session=False) as c:
        return c.session_present


async def test_restart_with_a_smaller_max_packet_size(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto(persistence=True, max_packet_size=5000)
    port = broker.port
    assert (await connack_settings(v5_client(broker))).maximum_packet_size == 5000
    assert not await session_present(broker, "keeper")

    await asyncio.to_thread(broker.restart, max_packet_size=2000)

    assert broker.port == port
    assert (await connack_settings(v5_client(broker))).maximum_packet_size == 2000
    assert await session_present(broker, "keeper")
    assert broker.limits == {
        "max_inflight_messages": None,
        "max_queued_messages": None,
        "max_packet_size": 2000,
        "max_qos": None,
    }
    # The change is the config from now on: a plain restart keeps it.
    await asyncio.to_thread(broker.restart)
    assert (await connack_settings(v5_client(broker))).maximum_packet_size == 2000
    await asyncio.to_thread(broker.restart, max_packet_size=None)
    assert (await connack_settings(v5_client(broker))).maximum_packet_size is None


async def test_max_qos_reaches_every_listener() -> None:
    broker = Mosquitto(max_qos=1)
    unix = broker.add_unix_listener()
    async with broker:
        assert (await connack_settings(v5_client(broker))).maximum_qos == 1
        over_unix = Client(str(unix.path), transport="unix", protocol=ProtocolVersion.V5)
        assert (await connack_settings(over_unix)).maximum_qos == 1
        assert broker.config_path.read_text().count("\nmax_qos 1\n") == 2

        await asyncio.to_thread(broker.restart, max_qos=0)
        assert (await connack_settings(v5_client(broker))).maximum_qos == 0
        await asyncio.to_thread(broker.restart, max_qos=None)
        assert (await connack_settings(v5_client(broker))).maximum_qos == 2
        assert "max_qos" not in broker.config_path.read_text()


async def test_kill_saves_nothing_without_autosave(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto(persistence=True)
    port = broker.port
    assert not await session_present(broker, "forgotten")
    pid = broker.pid
    assert pid is not None

    broker.kill()

    assert not broker.running and broker.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
    broker.kill()  # a no-op on a stopped broker
    await asyncio.to_thread(broker.start)
    assert broker.port == port
    # persistence alone saves at exit and every 1800 s: the session died with the broker.
    assert not await session_present(broker, "forgotten")


async def test_queued_messages_survive_kill_after_wait_for_save(
    make_mosquitto: MosquittoFactory,
) -> None:
    broker = make_mosquitto(persistence=True, autosave_on_changes=True)
    async with Client(broker.host, broker.port, identifier="keeper", clean_session=False) as c:
        await c.subscribe("saved/#", qos=1)
    async with Client(broker.host, broker.port) as publisher:
        for number in range(5):
            assert await publisher.publish("saved/n", str(number), qos=1) == 0
    await asyncio.to_thread(broker.wait_for_save)

    await asyncio.to_thread(broker.restart, kill=True, max_queued_messages=100)

    async with Client(broker.host, broker.port, identifier="keeper", clean_session=False) as c:
        assert c.session_present
        messages = await take(c.messages, 5)
    assert [m.payload for m in messages] == [str(n).encode() for n in range(5)]
    config = broker.config_path.read_text()
    assert "autosave_on_changes true\nautosave_interval 1\n" in config
    assert "max_queued_messages 100\n" in config


def test_restart_checks_its_changes_before_stopping(make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    pid = broker.pid
    with pytest.raises(ValueError, match="max_qos must be 0, 1 or 2, got 3"):
        broker.restart(max_qos=3)
    with pytest.raises(TypeError, match="max_packet_size must be an int or None"):
        broker.restart(max_packet_size="big")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"restart\(\) can change only .*; got bogus"):
        broker.restart(bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="kill must be a bool"):
        broker.restart(kill=1)  # type: ignore[arg-type]
    assert broker.pid == pid  # still the same, running broker
    assert broker.limits["max_qos"] is None


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"autosave_on_changes": True}, ValueError, "autosave_on_changes=True needs persistence"),
        ({"autosave_on_changes": "yes"}, TypeError, "autosave_on_changes must be a bool"),
        ({"max_qos": 3}, ValueError, "max_qos must be 0, 1 or 2"),
        ({"max_qos": -1}, ValueError, "max_qos must be >= 0"),
        ({"max_qos": True}, TypeError, "max_qos must be an int or None"),
    ],
)
def test_new_options_are_checked(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Mosquitto(**options)  # type: ignore[arg-type]


def test_wait_for_save_needs_autosave(make_mosquitto: MosquittoFactory) -> None:
    with pytest.raises(RuntimeError, match="needs autosave_on_changes=True"):
        make_mosquitto(persistence=True).wait_for_save()
    broker = make_mosquitto(persistence=True, autosave_on_changes=True)
    broker.wait_for_save()
    broker.stop()
    with pytest.raises(RuntimeError, match="needs a running broker"):
        broker.wait_for_save()


# -- ClientProcess -------------------------------------------------------------------------------

PUBLISHER_SCRIPT = """
import asyncio, sys
import asyncmqtt

async def main():
    host, port = sys.argv[1], int(sys.argv[2])
    will = asyncmqtt.Will("doomed/will", b"gone", qos=1)
    async with asyncmqtt.Client(host, port, identifier="doomed", will=will) as client:
        print("connected")
        number = 0
        while True:
            await client.publish("doomed/progress", str(number), qos=1)
            print(f"published {number}")
            number += 1

asyncio.run(main())
"""


async def test_client_process_killed_mid_run(mosquitto: Mosquitto) -> None:
    async with Client(mosquitto.host, mosquitto.port) as watcher:
        await watcher.subscribe("doomed/#", qos=1)
        async with ClientProcess(PUBLISHER_SCRIPT, mosquitto.host, str(mosquitto.port)) as process:
            assert await process.wait_for_line_async("connected") == "connected"
            await process.wait_for_line_async("published 5")
            process.kill()
            assert await process.wait_async() == -signal.SIGKILL
        progress: list[int] = []
        async with asyncio.timeout(GUARD):
            async for message in watcher.messages:
                if message.topic.value == "doomed/will":
                    break
                progress.append(int(message.payload))
    # Killed without a DISCONNECT: the broker published the will, after every message the
    # process had published (each was acknowledged before it printed the line).
    assert message.payload == b"gone"
    assert progress[:6] == [0, 1, 2, 3, 4, 5]
    assert progress == list(range(len(progress)))
    published = [line for line in process.lines if line.startswith("published ")]
    assert published[:6] == [f"published {n}" for n in range(6)]
    assert not process.running


def test_client_process_runs_a_file_with_args_env_and_src(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        "import os, sys\n"
        "import asyncmqtt\n"
        "print(asyncmqtt.__file__)\n"
        "print(' '.join(sys.argv[1:]))\n"
        "print(os.environ['FAULT_TOOLS'])\n"
        "print('to stderr', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    with ClientProcess(script, "one", "two", env={"FAULT_TOOLS": "yes"}) as process:
        assert process.readline() == str(SRC_DIR / "asyncmqtt" / "__init__.py")
        assert process.readline() == "one two"
        assert process.wait_for_line(re.compile("^y")) == "yes"
        assert process.readline() is None  # stdout closed
        assert process.wait() == 3
    assert process.stderr == "to stderr\n"
    assert process.stdout.endswith("one two\nyes\n")
    assert process.returncode == 3


def test_client_process_context_manager_kills_and_reaps() -> None:
    with ClientProcess("import time\nprint('ready')\ntime.sleep(60)\n") as process:
        process.wait_for_line("ready")
        pid = process.pid
        assert process.running
    assert process.returncode == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_client_process_timeouts_report_the_output() -> None:
    sleeper = "import time\nprint('first')\ntime.sleep(60)\n"
    with (
        ClientProcess(sleeper) as process,
        pytest.raises(AssertionError, match=r"no line matching 'second'(.|\n)*first"),
    ):
        process.wait_for_line("second", timeout=0.2)
    with (
        ClientProcess("print('only')\n") as process,
        pytest.raises(AssertionError, match="stdout closed before a line matching"),
    ):
        process.wait_for_line(lambda line: line == "never")
    assert process.lines == ["only"]
