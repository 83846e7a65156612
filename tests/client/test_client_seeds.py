"""Every code example of the seed documents runs against a local broker, changed only as the
issue allows: the import (``import asyncmqtt as aiomqtt``) and the broker's address.

The blocks are read from ../shared/seeds/ (Markdown ```python blocks and reStructuredText
``code-block:: python`` blocks) and changed mechanically:

* ``import asyncio_mqtt as aiomqtt`` / ``import aiomqtt`` become ``import asyncmqtt as aiomqtt``;
  the fragments of seed 004 that use a bare ``Client`` get ``from asyncmqtt import Client`` and
  are wrapped in ``async def main()`` + ``asyncio.run(main())``, since they are not programs;
* the broker ``"test.mosquitto.org"`` becomes a local mosquitto (its address and port);
* in the configuration example, paho-mqtt's ``MQTT_CLEAN_START_FIRST_ONLY`` (the int 3, which
  ``clean_start`` accepts) is spelled ``aiomqtt.CLEAN_START_FIRST_ONLY``, as paho is not
  installed; in the proxy example PySocks' ``socks.HTTP`` is ``aiomqtt.ProxyType.HTTP`` (the
  same int, 3) and the proxy ``www.example.com`` is a local HTTP proxy.

Two kinds of block cannot run and are listed, not skipped: seed 002's blocks lost their
indentation in the seed text (their code is examples/connecting.py and
examples/sharing_the_connection.py, run by test_client_examples.py), and seed 004's Windows note
sets a Windows-only event loop policy that asyncmqtt does not need (it uses transports, not
``add_reader``).
"""

from __future__ import annotations

import re
import textwrap
import types
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest
from broker import Mosquitto
from client_helpers import REPOSITORY, RunningProgram, example_env, run_program

if TYPE_CHECKING:
    from conftest import MosquittoFactory
    from proxy_server import Pproxy
    from transport_servers import Pki, TransportBroker

SEEDS = REPOSITORY.parent / "shared" / "seeds"
if not SEEDS.is_dir():  # the seeds sit next to the repository: /work/shared/seeds
    SEEDS = Path("/work/shared/seeds")


class Block(NamedTuple):
    seed: str
    kind: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.seed[:3]}-{self.kind}"


def classify(code: str) -> str:
    if "WindowsSelectorEventLoopPolicy" in code:
        return "windows-note"
    if "\n    " not in code:
        return "flattened"
    checks = [
        ("import socks", "proxy"),
        ("TLSParameters", "tls"),
        ("starlette", "starlette-lifespan"),
        ("filtered_messages('/measurements/humidity')", "reconnecting"),
        ("AsyncExitStack", "topic-filters"),
        ("def listen", "listening-without-blocking"),
        ("paho.mqtt", "configuration"),
        ("publish_humidity", "sharing"),
        ("unfiltered_messages", "subscriber"),
    ]
    for needle, kind in checks:
        if needle in code:
            return kind
    return "publisher"


def seed_blocks() -> list[Block]:
    blocks = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text()
        found = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
        found += re.findall(r"\.\. code-block:: python\n\n((?:(?:[ ]{3,}[^\n]*)?\n)+)", text)
        for indented in found:
            code = textwrap.dedent(indented)
            blocks.append(Block(path.name, classify(code), code))
    return blocks


BLOCKS = seed_blocks()
NOT_RUNNABLE = {"flattened", "windows-note"}


def blocks_of(kind: str) -> list[Block]:
    return [block for block in BLOCKS if block.kind == kind]


def test_the_inventory_of_seed_examples() -> None:
    """Every block is one of the kinds below, so a new or changed seed example is noticed."""
    kinds = sorted(block.id for block in BLOCKS)
    assert kinds == sorted(
        [
            "000-sharing",
            "000-starlette-lifespan",
            "001-sharing",
            "001-starlette-lifespan",
            "002-flattened",
            "002-flattened",
            "004-subscriber",
            "004-publisher",
            "004-configuration",
            "004-reconnecting",
            "004-topic-filters",
            "004-sharing",
            "004-starlette-lifespan",
            "004-listening-without-blocking",
            "004-tls",
            "004-proxy",
            "004-windows-note",
        ]
    )


def adapt(code: str, host: str, port: int) -> str:
    """The changes the module docstring lists, and nothing else."""
    code = re.sub(
        r"^import (asyncio_mqtt|aiomqtt) as aiomqtt$",
        "import asyncmqtt as aiomqtt",
        code,
        flags=re.M,
    )
    code = re.sub(r"^import aiomqtt$", "import asyncmqtt as aiomqtt", code, flags=re.M)
    code = code.replace('hostname="test.mosquitto.org"', f'hostname="{host}"')
    code = code.replace("port=1883,", f"port={port},")
    code = code.replace('"test.mosquitto.org"', f'"{host}", port={port}')
    code = code.replace("import paho.mqtt as mqtt\n", "")
    code = code.replace("mqtt.client.MQTT_CLEAN_START_FIRST_ONLY", "aiomqtt.CLEAN_START_FIRST_ONLY")
    code = code.replace("import socks\n", "")
    code = code.replace("socks.HTTP", "aiomqtt.ProxyType.HTTP")
    if code.startswith("async with Client("):
        body = textwrap.indent(code, "    ")
        code = (
            "import asyncio\nfrom asyncmqtt import Client\n\n\n"
            f"async def main():\n{body}\n\nasyncio.run(main())\n"
        )
    return code


def write(tmp_path: Path, block: Block, code: str) -> Path:
    path = tmp_path / f"seed_{block.id.replace('-', '_')}.py"
    path.write_text(code)
    return path


def retain(broker: Mosquitto, *messages: tuple[str, str]) -> None:
    """Publish retained messages, so that a subscriber started later gets them at once."""
    import asyncio

    from client_helpers import client_for

    async def publish() -> None:
        async with client_for(broker) as client:
            for topic, payload in messages:
                await client.publish(topic, payload, qos=1, retain=True)

    asyncio.run(publish())


# ---------------------------------------------------------------- programs that end


@pytest.mark.parametrize("block", blocks_of("sharing"), ids=lambda b: b.id)
def test_sharing(block: Block, make_mosquitto: MosquittoFactory, tmp_path: Path) -> None:
    broker = make_mosquitto()
    path = write(tmp_path, block, adapt(block.code, broker.host, broker.port))
    assert run_program(path, example_env(broker)) == ""
    # The program's DISCONNECT is logged after everything it sent before it.
    log = broker.wait_for_log("Received DISCONNECT")
    published = re.findall(r"Received PUBLISH from \S+ \(d0, q0, r0, m0, '([^']+)'", log)
    # Exactly the publishes the example makes, in its order.
    assert published == re.findall(r'client\.publish\("([^"]+)"', block.code)
    assert len(published) == 2


def test_publisher_and_configuration(make_mosquitto: MosquittoFactory, tmp_path: Path) -> None:
    broker = make_mosquitto()
    for block in blocks_of("publisher") + blocks_of("configuration"):
        path = write(tmp_path, block, adapt(block.code, broker.host, broker.port))
        assert run_program(path, example_env(broker)) == ""
    broker.wait_for_log("'measurements/humidity', ... (4 bytes)")


def test_tls(transport_broker: TransportBroker, pki: Pki, tmp_path: Path) -> None:
    (block,) = blocks_of("tls")
    port = transport_broker.port_of(transport_broker.tls)
    path = write(tmp_path, block, adapt(block.code, transport_broker.host, port))
    # ca_certs=None means the system's CAs; point the system's CA file at the test CA.
    env = example_env(transport_broker.mosquitto, SSL_CERT_FILE=str(pki.ca_pem))
    assert run_program(path, env) == ""


def test_proxy(make_mosquitto: MosquittoFactory, proxies: Pproxy, tmp_path: Path) -> None:
    (block,) = blocks_of("proxy")
    broker = make_mosquitto()
    code = adapt(block.code, broker.host, broker.port)
    code = code.replace(
        'proxy_addr="www.example.com",',
        f'proxy_addr="127.0.0.1", proxy_port={proxies.port("http")},',
    )
    path = write(tmp_path, block, code)
    assert run_program(path, example_env(broker)) == ""
    assert f"{broker.host}:{broker.port}" in proxies.log_text()
    broker.wait_for_log("'measurements/humidity'")


# ---------------------------------------------------------------- programs that run until stopped


def test_subscriber(make_mosquitto: MosquittoFactory, tmp_path: Path) -> None:
    (block,) = blocks_of("subscriber")
    broker = make_mosquitto()
    retain(broker, ("measurements/humidity", "0.38"))
    program = RunningProgram(
        write(tmp_path, block, adapt(block.code, broker.host, broker.port)), example_env(broker)
    )
    try:
        assert program.expect("0.38") == "b'0.38'"
    finally:
        program.stop()


def test_topic_filters(make_mosquitto: MosquittoFactory, tmp_path: Path) -> None:
    (block,) = blocks_of("topic-filters")
    broker = make_mosquitto()
    retain(
        broker,
        ("measurements/humidity", "0.38"),
        ("measurements/temperature", "28.3"),
        ("measurements/pressure", "1013"),
    )
    program = RunningProgram(
        write(tmp_path, block, adapt(block.code, broker.host, broker.port)), example_env(broker)
    )
    try:
        lines = {program.expect("]") for _ in range(3)}
    finally:
        program.stop()
    assert lines == {
        "[topic_filter=\"measurements/humidity\"] b'0.38'",
        "[topic_filter=\"measurements/temperature\"] b'28.3'",
        "[unfiltered] b'1013'",
    }


def test_listening_without_blocking(make_mosquitto: MosquittoFactory, tmp_path: Path) -> None:
    (block,) = blocks_of("listening-without-blocking")
    broker = make_mosquitto()
    retain(broker, ("measurements/humidity", "0.38"))
    program = RunningProgram(
        write(tmp_path, block, adapt(block.code, broker.host, broker.port)), example_env(broker)
    )
    try:
        program.expect("Magic!")
        assert program.expect("0.38") == "b'0.38'"
    finally:
        program.stop()


def test_reconnecting(make_mosquitto: MosquittoFactory, tmp_path: Path) -> None:
    (block,) = blocks_of("reconnecting")
    broker = make_mosquitto()
    program = RunningProgram(
        write(tmp_path, block, adapt(block.code, broker.host, broker.port)), example_env(broker)
    )
    try:
        broker.wait_for_log("\tmeasurements/# (QoS 0)")
        broker.restart()
        line = program.expect("Error")
        assert line.startswith('Error "') and line.endswith("Reconnecting in 5 seconds.")
    finally:
        program.stop()


# ---------------------------------------------------------------- the web framework lifespan


@pytest.mark.parametrize("block", blocks_of("starlette-lifespan"), ids=lambda b: b.id)
async def test_starlette_lifespan(block: Block, make_mosquitto: MosquittoFactory) -> None:
    broker = make_mosquitto()
    module = types.ModuleType(f"seed_{block.id.replace('-', '_')}")
    exec(
        compile(adapt(block.code, broker.host, broker.port), module.__name__, "exec"),
        module.__dict__,
    )
    app = module.app
    assert module.client is None
    async with app.router.lifespan_context(app):
        assert module.client.is_connected
        await module.client.publish("measurements/humidity", payload=0.38, qos=1)
    assert not module.client.is_connected
    broker.wait_for_log("'measurements/humidity', ... (4 bytes)")


def test_not_runnable_blocks_are_only_those_listed() -> None:
    assert {block.id for block in BLOCKS if block.kind in NOT_RUNNABLE} == {
        "002-flattened",
        "004-windows-note",
    }
