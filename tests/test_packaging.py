"""The packages users install: what the sdist and the wheel hold, and that the wheel works in a
fresh virtual environment with no extras (a real round trip through mosquitto)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker import Mosquitto

REPOSITORY = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
NAME, VERSION = PROJECT["name"], PROJECT["version"]

# What a package must never carry: the project's own tests, benchmarks, caches.
FORBIDDEN_PARTS = {"tests", "benchmarks", "__pycache__", ".pytest_cache", ".mypy_cache"}

SMOKE = """
import asyncio, sys
import asyncmqtt
from asyncmqtt.protocol.codec import Decoder, encode
from asyncmqtt.protocol.packets import Publish

async def main(host, port):
    packet = Publish("smoke/test", b"x", 1, packet_id=7)
    decoder = Decoder(version=asyncmqtt.ProtocolVersion.V5)
    decoder.feed(encode(packet, asyncmqtt.ProtocolVersion.V5))
    assert decoder.next_packet() == packet
    async with asyncmqtt.Client(host, int(port)) as client:
        await client.subscribe("smoke/#", qos=1)
        await client.publish("smoke/test", "round trip", qos=1)
        message = await anext(client.messages)
    print(asyncmqtt.__version__, message.topic.value, message.payload.decode())

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sdist and the wheel, built from this tree."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPOSITORY)],
        check=True,
        capture_output=True,
    )
    yield out


def test_the_wheel_holds_the_package_its_types_and_its_license(dist: Path) -> None:
    [wheel] = dist.glob(f"{NAME}-{VERSION}-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert f"{NAME}/py.typed" in names
    assert f"{NAME}/protocol/connection.py" in names
    assert f"{NAME}-{VERSION}.dist-info/licenses/LICENSE" in names
    assert not [name for name in names if FORBIDDEN_PARTS & set(Path(name).parts)]
    assert not [name for name in names if name.endswith(".pyc")]
    assert {Path(name).parts[0] for name in names} == {NAME, f"{NAME}-{VERSION}.dist-info"}


def test_the_sdist_holds_the_sources_and_nothing_of_the_projects_own(dist: Path) -> None:
    [sdist] = dist.glob(f"{NAME}-{VERSION}.tar.gz")
    with tarfile.open(sdist) as archive:
        names = [Path(name).relative_to(f"{NAME}-{VERSION}") for name in archive.getnames()]
    assert {Path("LICENSE"), Path("README.md"), Path("CHANGELOG.md")} <= set(names)
    assert Path(f"src/{NAME}/py.typed") in names
    assert not [name for name in names if FORBIDDEN_PARTS & set(name.parts)]


def test_the_wheel_works_in_a_fresh_environment_without_extras(
    dist: Path, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    [wheel] = dist.glob("*.whl")
    venv = tmp_path / "venv"
    # Without pip of its own (ensurepip took half a minute of the suite): this environment's
    # pip installs into it and lists it.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True
    )
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run(
        [*pip, "install", "--quiet", "--no-index", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    installed = subprocess.run(
        [*pip, "list", "--format=freeze"], check=True, capture_output=True, text=True
    ).stdout.split()
    # Nothing but the library: it has no runtime dependencies.
    assert {line.split("==")[0] for line in installed} == {NAME}
    done = subprocess.run(
        [str(python), "-c", SMOKE, mosquitto.host, str(mosquitto.port)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # (not the repository: only the installed package can be imported)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [VERSION, "smoke/test", "round", "trip"]
    # The console script is installed too, and works without extras.
    command = [str(venv / "bin" / "asyncmqtt")]
    where = ["-h", mosquitto.host, "-p", str(mosquitto.port), "-t", f"smoke/cli/{tmp_path.name}"]
    for argv in (["pub", "-m", "from the console script", "-r", "-q", "1"], ["sub", "-C", "1"]):
        done = subprocess.run(
            [*command, *argv, *where], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
    assert done.stdout == "from the console script\n"
    subprocess.run([*command, "pub", "-n", "-r", *where], check=True, timeout=60)
