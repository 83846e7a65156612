"""The command as a process of its own: Ctrl-C, the process list, ``python -m asyncmqtt``,
the ``asyncmqtt`` console script and ``asyncmqtt broker``. Few tests: each process start costs
about 0.3 s."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import command

import asyncmqtt
from asyncmqtt.broker import Broker
from asyncmqtt.errors import MqttConnectError
from asyncmqtt.protocol.broker_config import Action
from asyncmqtt.protocol.server import ClientDisconnected, WillPublished

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and /proc")

SECRET = "hunter2-in-the-environment"
CONSOLE_SCRIPT = Path(sys.executable).with_name("asyncmqtt")
WAIT = 30.0  # seconds: a bound for a slow machine, never reached when all is well


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
        await process.wait()


async def test_ctrl_c_disconnects_cleanly_and_the_password_stays_hidden(topic: str) -> None:
    events: list[Any] = []
    credentials: list[tuple[str | None, bytes | None]] = []
    subscribed = asyncio.Event()

    def authenticate(client_id: str, username: str | None, password: bytes | None) -> None:
        credentials.append((username, password))

    def authorize(client_id: str, username: str | None, action: Action, topic: str) -> None:
        if action is Action.SUBSCRIBE:
            subscribed.set()

    async with Broker(
        port=0, authenticate=authenticate, authorize=authorize, on_event=events.append
    ) as broker:
        argv = command(
            "sub", "-p", str(broker.port), "-u", "alice", "-i", "cli-sub", "-t", topic, "-v",
            "--will-topic", "cli/gone", "--will-payload", "vanished", "--debug",
        )  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "MQTT_PASSWORD": SECRET},
        )
        try:
            await asyncio.wait_for(subscribed.wait(), WAIT)
            broker.publish(topic, "hello")
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), WAIT)
            assert line == f"{topic} qos=0 retain=0 hello\n".encode()
            # Running, connected with the password: the process list does not show it.
            assert SECRET.encode() not in Path(f"/proc/{process.pid}/cmdline").read_bytes()
            listed = subprocess.run(
                ["ps", "-ww", "-o", "args=", "-p", str(process.pid)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert "-m asyncmqtt sub" in listed
            assert SECRET not in listed
            process.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(process.communicate(), WAIT)
        finally:
            await _stop(process)
    assert process.returncode == 0, err.decode()
    assert credentials == [("alice", SECRET.encode())]
    # Ctrl-C sent DISCONNECT (reason 0): the broker did not publish the will.
    [gone] = [event for event in events if isinstance(event, ClientDisconnected)]
    assert (gone.client_id, gone.reason_code, gone.error) == ("cli-sub", 0, None)
    assert not [event for event in events if isinstance(event, WillPublished)]
    # Nothing it wrote shows the password, its debug log included.
    assert b" DEBUG: " in err
    assert SECRET.encode() not in out + err
    assert b"Traceback" not in err


async def test_the_broker_command(topic: str) -> None:
    process = await asyncio.create_subprocess_exec(
        str(CONSOLE_SCRIPT),
        "broker", "--port", "0", "--ws-port", "0", "--allow", "alice:secret",
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = await asyncio.wait_for(process.stderr.readline(), WAIT)
        found = re.search(
            rb"listening on mqtt://127\.0\.0\.1:(\d+), ws://127\.0\.0\.1:(\d+)/mqtt", line
        )
        assert found is not None, line
        port, ws_port = int(found[1]), int(found[2])
        async with asyncmqtt.Client(
            "127.0.0.1", ws_port, transport="websockets", username="alice", password="secret"
        ) as client:
            await client.subscribe(topic)
            async with asyncmqtt.Client(
                "127.0.0.1", port, username="alice", password="secret"
            ) as publisher:
                await publisher.publish(topic, "through the broker command")
            message = await anext(aiter(client.messages))
            assert message.payload == b"through the broker command"
        with pytest.raises(MqttConnectError) as refused:
            async with asyncmqtt.Client("127.0.0.1", port, username="alice", password="nope"):
                pass
        assert refused.value.rc == 0x86  # Bad user name or password
        process.send_signal(signal.SIGINT)
        _, rest = await asyncio.wait_for(process.communicate(), WAIT)
    finally:
        await _stop(process)
    assert process.returncode == 0
    log = rest.decode()
    assert "connected from 127.0.0.1" in log
    assert "0x86" in log and "refused client" in log
    assert log.rstrip().endswith("broker stopped")
    assert "secret" not in log
