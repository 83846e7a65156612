"""The names programs written for aiomqtt 2.x and asyncio-mqtt 0.x import, at the module paths
they imported them from: ``exceptions``, ``message`` and ``topic`` (aiomqtt 2), ``error``
(asyncio-mqtt 0.16), ``MessagesIterator``, and the version."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import asyncmqtt
import asyncmqtt.errors
import asyncmqtt.messages
import asyncmqtt.topics
from asyncmqtt import _version

SRC = Path(asyncmqtt.__file__).parent.parent

# What each module held in the library it comes from (public names only).
AIOMQTT_EXCEPTIONS = {"MqttError", "MqttCodeError", "MqttConnectError", "MqttReentrantError"}
ASYNCIO_MQTT_ERROR = {"MqttError", "MqttCodeError", "MqttConnectError", "MqttReentrantError"}
AIOMQTT_TOPIC = {"MAX_TOPIC_LENGTH", "Topic", "TopicLike", "Wildcard", "WildcardLike"}
AIOMQTT_MESSAGE = {"Message", "MessagesIterator"}


@pytest.mark.parametrize(
    ("module_name", "names", "home"),
    [
        ("asyncmqtt.exceptions", AIOMQTT_EXCEPTIONS, asyncmqtt.errors),
        ("asyncmqtt.error", ASYNCIO_MQTT_ERROR, asyncmqtt.errors),
        ("asyncmqtt.topic", AIOMQTT_TOPIC - {"MAX_TOPIC_LENGTH"}, asyncmqtt.topics),
        ("asyncmqtt.message", {"Message"}, asyncmqtt.messages),
    ],
)
def test_modules_re_export_the_same_objects(
    module_name: str, names: set[str], home: object
) -> None:
    module = importlib.import_module(module_name)
    for name in names:
        # The very object, not a copy: except clauses and isinstance checks agree.
        assert getattr(module, name) is getattr(home, name), name


@pytest.mark.parametrize(
    ("module_name", "names"),
    [
        ("asyncmqtt.exceptions", AIOMQTT_EXCEPTIONS),
        ("asyncmqtt.error", ASYNCIO_MQTT_ERROR),
        ("asyncmqtt.topic", AIOMQTT_TOPIC),
        ("asyncmqtt.message", AIOMQTT_MESSAGE),
    ],
)
def test_star_import_gives_exactly_those_names(module_name: str, names: set[str]) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == names


def test_aiomqtt_style_imports_work() -> None:
    from asyncmqtt.exceptions import MqttCodeError, MqttError
    from asyncmqtt.message import Message
    from asyncmqtt.topic import Topic, Wildcard

    message = Message("a/b", b"1", 1, False, 7, None)
    assert isinstance(message.topic, Topic)
    assert message.topic.matches(Wildcard("a/+"))
    assert issubclass(MqttCodeError, MqttError)


def test_asyncio_mqtt_style_imports_work() -> None:
    from asyncmqtt.error import MqttCodeError, MqttError

    with pytest.raises(MqttError) as caught:
        raise MqttCodeError(5, "not authorised")
    assert caught.value.rc == 5  # type: ignore[attr-defined]


def test_max_topic_length_is_aiomqtt_s_value() -> None:
    from asyncmqtt.topic import MAX_TOPIC_LENGTH, Topic

    assert MAX_TOPIC_LENGTH == 65535
    assert Topic("a" * MAX_TOPIC_LENGTH).value == "a" * 65535
    with pytest.raises(ValueError, match=r"^Invalid topic: "):
        Topic("a" * (MAX_TOPIC_LENGTH + 1))


def test_messages_iterator_is_the_type_of_client_messages() -> None:
    from asyncmqtt.message import MessagesIterator

    assert MessagesIterator is asyncmqtt.MessageStream
    client = asyncmqtt.Client("127.0.0.1")  # never entered: nothing connects
    assert isinstance(client.messages, MessagesIterator)


# -- the version --------------------------------------------------------------------------------


def test_version_comes_from_the_installed_metadata() -> None:
    assert _version.__version__ == metadata.version("asyncmqtt")
    assert _version.__version_tuple__ == _version.version_tuple(_version.__version__)
    assert all(isinstance(part, int) for part in _version.__version_tuple__[:2])


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0", (0, 1, 0)),
        ("2.5.1", (2, 5, 1)),
        ("1.2.0rc1", (1, 2, "0rc1")),
        ("0.2.dev3+g1a2b3c.d20250101", (0, 2, "dev3", "g1a2b3c.d20250101")),
        ("0+unknown", (0, "unknown")),
    ],
)
def test_version_tuple_has_setuptools_scm_s_shape(
    version: str, expected: tuple[int | str, ...]
) -> None:
    assert _version.version_tuple(version) == expected


def test_an_uninstalled_package_has_a_clear_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert _version.installed_version() == _version.UNKNOWN_VERSION == "0+unknown"


def test_a_source_tree_without_metadata_imports(tmp_path: Path) -> None:
    # A fresh interpreter that sees the source tree but no installed distribution.
    script = (
        "import importlib.metadata as m, sys\n"
        "real = m.version\n"
        "def version(name):\n"
        "    if name == 'asyncmqtt':\n"
        "        raise m.PackageNotFoundError(name)\n"
        "    return real(name)\n"
        "m.version = version\n"
        "from asyncmqtt._version import __version__, __version_tuple__\n"
        "print(__version__, __version_tuple__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC)},
        cwd=tmp_path,
        timeout=60,
    )
    assert result.stdout.strip() == "0+unknown (0, 'unknown')"


def test_top_level_names() -> None:
    assert asyncmqtt.MessagesIterator is asyncmqtt.MessageStream
    assert (asyncmqtt.__version__, asyncmqtt.__version_tuple__) == (
        _version.__version__,
        _version.__version_tuple__,
    )
    assert {"MessagesIterator", "__version__", "__version_tuple__"} <= set(asyncmqtt.__all__)


def test_client_id_is_the_identifier() -> None:
    client = asyncmqtt.Client("broker.example", identifier="sensor-1")
    assert client.id == client.identifier == "sensor-1"
