"""A second opinion on the embedded broker: mosquitto's own clients (mosquitto_pub and
mosquitto_sub, package mosquitto-clients) in MQTT 3.1, 3.1.1 and 5.0 against it, next to
asyncmqtt.Client: QoS 0/1/2 both ways, a will when the process is killed, a persistent
session."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from broker import INSTALL_HINT, find_mosquitto
from embedded_helpers import EVENT_TIMEOUT, receive

from asyncmqtt import Client
from asyncmqtt.broker import Broker

VERSIONS = ["mqttv31", "mqttv311", "mqttv5"]


@pytest.fixture(autouse=True)
def _mosquitto_clients() -> None:
    for tool in ("mosquitto_pub", "mosquitto_sub"):
        if find_mosquitto(tool) is None:
            pytest.fail(f"{tool} is not installed; install it with: {INSTALL_HINT}", pytrace=False)


def address(broker: Broker) -> list[str]:
    return ["-h", broker.host, "-p", str(broker.port)]


async def run(*arguments: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def finish(process: asyncio.subprocess.Process) -> str:
    async with asyncio.timeout(EVENT_TIMEOUT):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def until_connected(broker: Broker, client_id: str) -> None:
    async with asyncio.timeout(EVENT_TIMEOUT):
        while (
            client_id not in broker.core.clients
            or not broker.core.sessions[client_id].state.subscriptions
        ):
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("version", VERSIONS)
async def test_mosquitto_sub_receives_every_qos(broker: Broker, version: str) -> None:
    options = ["-V", version, "-i", "msub", "-t", "interop/#", "-q", "2", "-C", "3", "-v"]
    sub = await run("mosquitto_sub", *address(broker), *options)
    await until_connected(broker, "msub")
    async with Client(broker.host, broker.port) as publisher:
        for qos in (0, 1, 2):
            await publisher.publish(f"interop/{qos}", f"qos{qos}", qos=qos)
    assert (await finish(sub)).splitlines() == [f"interop/{q} qos{q}" for q in (0, 1, 2)]


@pytest.mark.parametrize("version", VERSIONS)
async def test_mosquitto_pub_publishes_every_qos(broker: Broker, version: str) -> None:
    async with Client(broker.host, broker.port) as subscriber:
        await subscriber.subscribe("interop/#", qos=2)
        for qos in (0, 1, 2):
            options = ["-V", version, "-t", f"interop/{qos}", "-m", f"qos{qos}", "-q", str(qos)]
            await finish(await run("mosquitto_pub", *address(broker), *options))
        received = await receive(subscriber, 3)
    assert [(m.payload, m.qos) for m in received] == [(b"qos0", 0), (b"qos1", 1), (b"qos2", 2)]


async def test_the_will_of_a_killed_mosquitto_sub(broker: Broker) -> None:
    async with Client(broker.host, broker.port) as watcher:
        await watcher.subscribe("wills/#", qos=1)
        will = ["--will-topic", "wills/doomed", "--will-payload", "killed", "--will-qos", "1"]
        options = ["-i", "doomed", "-t", "anything", *will]
        doomed = await run("mosquitto_sub", *address(broker), *options)
        await until_connected(broker, "doomed")
        os.kill(doomed.pid, signal.SIGKILL)
        await doomed.wait()
        (published,) = await receive(watcher, 1)
    assert (str(published.topic), published.payload, published.qos) == (
        "wills/doomed",
        b"killed",
        1,
    )


async def test_a_persistent_mosquitto_sub_session(broker: Broker) -> None:
    persistent = ["-i", "keeper", "-c", "-q", "1", "-t", "kept/#", "-V", "mqttv311"]
    await finish(await run("mosquitto_sub", *address(broker), *persistent, "-E"))
    async with Client(broker.host, broker.port) as publisher:
        for n in range(3):
            await publisher.publish(f"kept/{n}", n, qos=1)
    out = await finish(await run("mosquitto_sub", *address(broker), *persistent, "-C", "3"))
    assert out.splitlines() == ["0", "1", "2"]
