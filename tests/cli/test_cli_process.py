"""The command as a process of its own: Ctrl-C, the process list, ``python -m asyncmqtt``,
the ``asyncmqtt`` console script and ``asyncmqtt broker``. Few tests: each process start costs
about 0.3 s."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import command
from transport_servers import Pki

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


async def test_the_broker_command(topic: str, pki: Pki) -> None:
    process = await asyncio.create_subprocess_exec(
        str(CONSOLE_SCRIPT),
        "broker", "--port", "0", "--ws-port", "0", "--allow", "alice:secret",
        "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-port", "0",
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = await asyncio.wait_for(process.stderr.readline(), WAIT)
        found = re.search(
            rb"listening on mqtt://127\.0\.0\.1:(\d+), mqtts://127\.0\.0\.1:(\d+), "
            rb"ws://127\.0\.0\.1:(\d+)/mqtt",
            line,
        )
        assert found is not None, line
        port, tls_port, ws_port = int(found[1]), int(found[2]), int(found[3])
        trusting = ssl.create_default_context(cafile=str(pki.ca_pem))
        async with asyncmqtt.Client(
            "127.0.0.1", tls_port, tls_context=trusting, username="alice", password="secret"
        ) as client:
            await client.publish(f"{topic}/tls", "over TLS", qos=1, retain=True)
        async with asyncmqtt.Client(
            "127.0.0.1", ws_port, transport="websockets", username="alice", password="secret"
        ) as client:
            await client.subscribe(f"{topic}/tls")  # (retained, from the TLS listener)
            retained = await anext(aiter(client.messages))
            assert (retained.payload, retained.retain) == (b"over TLS", True)
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


# -- each subcommand as a process ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def _responder(port: int, topic: str) -> AsyncIterator[None]:
    """Answers each request on ``topic`` with the sum of its JSON numbers (or not at all when
    it is ``silence``)."""
    client = asyncmqtt.Client("127.0.0.1", port)
    async with client, client.subscription(topic, qos=1) as requests:

        async def serve() -> None:
            async for request in requests:
                if request.payload != b"silence":
                    await client.respond(request, str(sum(json.loads(request.payload))))

        task = asyncio.create_task(serve())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _finished(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode is not None
    return process.returncode, out.decode(), (err or b"").decode()


async def test_the_subcommands_as_processes_with_each_exit_status(topic: str) -> None:
    """The subcommands the other tests here do not start (pub, req, bench pub|sub|conn) as
    processes of their own, all at once (each start costs about 0.4 s of CPU, importing the
    library), each ending with another documented exit status; ``bench sub`` stopped by
    Ctrl-C reports what it measured."""
    bench_subscribed = asyncio.Event()

    def authorize(client_id: str, username: str | None, action: Action, name: str) -> int:
        if name == f"{topic}/refused":
            return 0x87
        if action is Action.SUBSCRIBE and client_id == "cli-bench-sub-0":
            bench_subscribed.set()
        return 0

    async with (
        Broker(port=0, authorize=authorize) as broker,
        _responder(broker.port, f"{topic}/service"),
    ):
        where = ["-h", "127.0.0.1", "-p", str(broker.port)]
        runs = {
            "usage": ["bench", "pub", *where, "-c", "0"],
            "connect": ["bench", "conn", "-p", "1", "-c", "2"],
            "timeout": [
                "req",
                *where,
                "-t",
                f"{topic}/service",
                "-m",
                "silence",
                "--timeout",
                "0.3",
            ],
            "refused": ["pub", *where, "-t", f"{topic}/refused", "-m", "x", "-q", "1"],
        }
        processes = {
            name: await asyncio.create_subprocess_exec(
                *command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for name, argv in runs.items()
        }
        bench = await asyncio.create_subprocess_exec(
            *command(
                "bench", "sub", *where, "-i", "cli-bench", "-t", f"{topic}/bench/#", "-q", "1",
                "--progress", "--json",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            await asyncio.wait_for(bench_subscribed.wait(), WAIT)
            for index in range(3):
                broker.publish(f"{topic}/bench/{index}", b"x", qos=1)
            assert bench.stderr is not None
            while b"received 3 (" not in await asyncio.wait_for(bench.stderr.readline(), WAIT):
                pass  # (a progress line a second)
            bench.send_signal(signal.SIGINT)
            results = {name: await _finished(process) for name, process in processes.items()}
            bench_result = await _finished(bench)
        finally:
            for process in [*processes.values(), bench]:
                await _stop(process)
    code, _, err = results["usage"]
    assert code == 1
    assert err == (
        "asyncmqtt bench pub: argument -c/--clients: the number must be at least 1, got 0 "
        "(see 'asyncmqtt bench pub --help')\n"
    )
    code, _, err = results["connect"]
    assert code == 2
    assert err.startswith("asyncmqtt bench: connecting to mqtt://localhost:1 failed at the tcp")
    code, _, err = results["timeout"]
    assert code == 3
    assert err.startswith("asyncmqtt req: ")
    assert "0.3" in err
    code, _, err = results["refused"]
    assert code == 4
    assert err.startswith("asyncmqtt pub: [code:135 NOT_AUTHORIZED]")
    for code, _, err in results.values():
        assert "Traceback" not in err
        assert code == 0 or len(err.splitlines()) == 1
    code, out, err = bench_result
    assert code == 0, err
    record = json.loads(out)
    assert (record["command"], record["received"], record["completed"]) == ("bench sub", 3, False)


# -- the password prompt ---------------------------------------------------------------------


def _read_until(fd: int, marker: bytes, seen: bytearray) -> None:
    """Read the terminal's output into ``seen`` until it holds ``marker`` (or it closes)."""
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], WAIT)
        assert ready, f"no {marker!r} after {WAIT} s: {bytes(seen)!r}"
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # (EIO: the process closed the terminal)
            return
        if not chunk:
            return
        seen += chunk


async def test_the_password_prompt_does_not_echo(topic: str) -> None:
    import pty

    credentials: list[tuple[str | None, bytes | None]] = []

    def authenticate(client_id: str, username: str | None, password: bytes | None) -> None:
        credentials.append((username, password))

    terminal, its_end = pty.openpty()
    try:
        async with Broker(port=0, authenticate=authenticate) as broker:
            environment = {k: v for k, v in os.environ.items() if k != "MQTT_PASSWORD"}
            process = await asyncio.create_subprocess_exec(
                *command("pub", "-p", str(broker.port), "-u", "alice", "-t", topic, "-m", "x"),
                stdin=its_end,
                stdout=subprocess.PIPE,
                stderr=its_end,
                env=environment,
                start_new_session=True,  # (no controlling terminal: it uses its stdin's)
            )
            os.close(its_end)
            its_end = -1
            seen = bytearray()
            try:
                await asyncio.to_thread(_read_until, terminal, b"Password for alice at ", seen)
                await asyncio.to_thread(_read_until, terminal, b": ", seen)
                os.write(terminal, b"typed in secret\n")
                code, out, err = await _finished(process)
                await asyncio.to_thread(_read_until, terminal, b"\x00never", seen)
            finally:
                await _stop(process)
    finally:
        os.close(terminal)
        if its_end >= 0:
            os.close(its_end)
    assert (code, out, err) == (0, "", "")
    assert credentials == [("alice", b"typed in secret")]
    shown = seen.decode()
    assert shown.startswith(f"Password for alice at mqtt://localhost:{broker.port}: ")
    assert "typed in secret" not in shown  # (the terminal did not echo it)
