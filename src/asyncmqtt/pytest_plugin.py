"""pytest fixtures for testing MQTT applications: a broker per test, nothing to install.

pytest loads this plugin by itself wherever asyncmqtt is installed (the ``pytest11`` entry
point); ``import asyncmqtt`` never imports it, so pytest stays optional for the library.

```python
async def test_round_trip(mqtt_client):
    await mqtt_client.subscribe("greetings/#")
    await mqtt_client.publish("greetings/en", "hello")
    message = await anext(mqtt_client.messages)
    assert message.payload == b"hello"
```

Fixtures (each function-scoped, so every test gets a fresh broker and client):

* ``mqtt_broker``: a running broker on a free port of 127.0.0.1: the embedded
  ``asyncmqtt.broker.Broker`` (the default), or a mosquitto process with
  ``--mqtt-broker=mosquitto``. Both have ``host``, ``port``, ``url`` and
  ``client_arguments()``; the embedded one also shows its state (``core.sessions``,
  ``core.retained``, ``stats``) and has ``publish()`` and ``disconnect()``.
* ``mqtt_broker_factory``: ``await mqtt_broker_factory(**arguments)`` starts another broker;
  the arguments are ``Broker``'s (``BrokerConfig`` settings and hooks such as
  ``authenticate``, ``authorize``, ``on_event``, listeners). Under ``--mqtt-broker=mosquitto``
  a call without arguments starts a mosquitto, and a call with some skips the test: mosquitto
  has no such settings or hooks. Every broker it started is stopped when the test ends.
* ``mqtt_client``: an ``asyncmqtt.Client`` connected (MQTT 5) to ``mqtt_broker``.
* ``mqtt_broker_kind``: ``"embedded"`` or ``"mosquitto"``, the broker this run uses.

Command line: ``--mqtt-broker=embedded`` (the default) or ``--mqtt-broker=mosquitto`` (the
``mosquitto`` executable must be installed: on PATH or in ``/usr/sbin``; each test's broker
gets a generated config, its own free port, and is stopped by its pid when the test ends; a
missing mosquitto fails the test saying how to install it).

The broker fixtures are async, and the embedded broker runs on the test's event loop, so they
are for async tests, run by pytest-asyncio (``asyncio_mode = "auto"``, or strict mode with
``@pytest.mark.asyncio``; the fixtures run on the loop of
``asyncio_default_fixture_loop_scope``, so keep the tests that use them on that loop: the
default, ``function``, for both) or by anyio's plugin (``@pytest.mark.anyio`` on the asyncio
backend; with pytest-asyncio in strict mode if both are installed). A sync test that asks for
them, or an async test with neither plugin, fails saying so. Nothing here changes tests that
do not use these fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import types
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, Final, Literal, Protocol, TypeAlias, TypeVar, cast

import pytest

from ._mosquitto import MosquittoBroker, MosquittoNotFoundError
from .broker import Broker
from .client import Client

_asyncio_fixture: Callable[[Any], Any] | None
try:  # pytest-asyncio is optional: only the async fixtures need it (or anyio's plugin)
    from pytest_asyncio import fixture as _asyncio_fixture
except ImportError:  # pragma: no cover - the project's own tests always have it
    _asyncio_fixture = None

__all__ = (
    "BrokerFactory",
    "BrokerKind",
    "MosquittoBroker",
    "MosquittoNotFoundError",
    "MqttBroker",
    "mqtt_broker",
    "mqtt_broker_factory",
    "mqtt_broker_kind",
    "mqtt_client",
)

BrokerKind: TypeAlias = Literal["embedded", "mosquitto"]
"""The brokers ``--mqtt-broker`` chooses from."""
BROKER_KINDS: Final = ("embedded", "mosquitto")
MqttBroker: TypeAlias = Broker | MosquittoBroker
"""What ``mqtt_broker`` gives: the embedded ``Broker``, or a ``MosquittoBroker``."""


class BrokerFactory(Protocol):
    """The ``mqtt_broker_factory`` fixture: ``await mqtt_broker_factory(**arguments)``."""

    async def __call__(self, **arguments: Any) -> MqttBroker:
        """Start a broker (``Broker(**arguments)``, on a free port of 127.0.0.1 unless
        ``listeners`` are given); it is stopped when the test ends."""
        ...


# -- the command-line option ---------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("asyncmqtt", "asyncmqtt's MQTT test fixtures")
    group.addoption(
        "--mqtt-broker",
        choices=BROKER_KINDS,
        default="embedded",
        help="the broker of the mqtt_broker fixture: embedded (asyncmqtt.broker, the default) "
        "or mosquitto (a mosquitto process per test; mosquitto must be installed)",
    )


@pytest.fixture(scope="session")
def mqtt_broker_kind(request: pytest.FixtureRequest) -> BrokerKind:
    """``"embedded"`` or ``"mosquitto"``: the broker ``--mqtt-broker`` chose for this run."""
    kind: BrokerKind = request.config.getoption("mqtt_broker")
    return kind


# -- the async fixtures ----------------------------------------------------------------------

_FixtureFunction = TypeVar("_FixtureFunction", bound=Callable[..., Any])
# Each async fixture's function as pytest-asyncio does not see it: anyio's plugin runs that
# one (pytest-asyncio marks the function itself when it makes it a fixture, hence a copy).
_UNMARKED: dict[str, Callable[..., Any]] = {}


def _async_fixture(function: _FixtureFunction) -> _FixtureFunction:
    """``function`` as a fixture that pytest-asyncio runs in its strict mode too."""
    _UNMARKED[function.__name__] = function
    copy = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__doc__ = function.__doc__
    copy.__qualname__ = function.__qualname__
    copy.__annotations__ = function.__annotations__
    make_fixture = pytest.fixture if _asyncio_fixture is None else _asyncio_fixture
    return cast(_FixtureFunction, make_fixture(copy))


@_async_fixture
async def mqtt_broker_factory(request: pytest.FixtureRequest) -> AsyncIterator[BrokerFactory]:
    """``await mqtt_broker_factory(**arguments)``: another broker for this test, stopped when
    the test ends. The arguments are ``asyncmqtt.broker.Broker``'s (its settings and hooks:
    ``authenticate=``, ``authorize=``, ``max_queued_messages=``, ``on_event=``, ...); without
    ``listeners`` it listens on a free port of 127.0.0.1. Under ``--mqtt-broker=mosquitto`` a
    call without arguments starts a mosquitto, and a call with arguments skips the test."""
    kind: BrokerKind = request.config.getoption("mqtt_broker")
    async with contextlib.AsyncExitStack() as brokers:

        async def make(**arguments: Any) -> MqttBroker:
            if kind == "mosquitto":
                if arguments:
                    pytest.skip(
                        f"mqtt_broker_factory({', '.join(sorted(arguments))}=...): settings "
                        "and hooks of the embedded broker, which --mqtt-broker=mosquitto "
                        "does not have"
                    )
                return await _start_mosquitto(brokers)
            if "listeners" not in arguments:
                arguments.setdefault("port", 0)
            return await brokers.enter_async_context(Broker(**arguments))

        yield make


async def _start_mosquitto(brokers: contextlib.AsyncExitStack) -> MosquittoBroker:
    broker = MosquittoBroker()
    brokers.push_async_callback(asyncio.to_thread, broker.close)
    try:
        await asyncio.to_thread(broker.start)  # blocks about 0.1 s: not on the loop
    except MosquittoNotFoundError as error:
        pytest.fail(str(error), pytrace=False)
    return broker


@_async_fixture
async def mqtt_broker(mqtt_broker_factory: BrokerFactory) -> MqttBroker:
    """A broker for this test on a free port of 127.0.0.1: the embedded
    ``asyncmqtt.broker.Broker``, or a ``MosquittoBroker`` under ``--mqtt-broker=mosquitto``.
    Reach it with ``Client(mqtt_broker.host, mqtt_broker.port)``."""
    return await mqtt_broker_factory()


@_async_fixture
async def mqtt_client(mqtt_broker: MqttBroker) -> AsyncIterator[Client]:
    """An ``asyncmqtt.Client`` connected to ``mqtt_broker`` (MQTT 5, a clean session),
    disconnected when the test ends."""
    async with Client(mqtt_broker.host, mqtt_broker.port) as client:
        yield client


# -- which event loop runs them --------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    unmarked = _UNMARKED.get(fixturedef.argname)
    if unmarked is None or getattr(fixturedef.func, "__module__", None) != __name__:
        return (yield)  # not one of ours (or the user's fixture of the same name)
    problem = _why_it_cannot_run(fixturedef.argname, request)
    if problem is not None:
        # The fixture fails, rather than this hook: pytest then keeps its usual records.
        function: Callable[..., Any] = functools.partial(_fail, problem)
    elif "anyio_backend" in request.fixturenames:
        # An anyio test: anyio's plugin runs the fixture on the test's own loop, provided
        # pytest-asyncio (in strict mode) does not take it first.
        function = unmarked
    else:
        return (yield)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fixturedef, "func", function)
        return (yield)


def _fail(problem: str, **_fixtures: object) -> None:
    pytest.fail(problem, pytrace=False)


def _why_it_cannot_run(name: str, request: pytest.FixtureRequest) -> str | None:
    # Name the fixture the test asked for, rather than the one it uses underneath.
    name = next((asked for asked in request.fixturenames if asked in _UNMARKED), name)
    test = request.node
    if isinstance(test, pytest.Function) and not inspect.iscoroutinefunction(test.obj):
        return (
            f"{test.name} is not an async test, and the fixture {name} is async (the embedded "
            "broker runs on the test's event loop): make it `async def`"
        )
    if "anyio_backend" in request.fixturenames:
        return None
    if not request.config.pluginmanager.has_plugin("asyncio"):
        return (
            f"the fixture {name} (asyncmqtt's pytest plugin) is async, and no plugin here "
            "runs async fixtures: install pytest-asyncio (`pip install pytest-asyncio`; then "
            'asyncio_mode = "auto", or @pytest.mark.asyncio on each test), or mark the test '
            "@pytest.mark.anyio to use anyio's plugin"
        )
    return None


# -- failure reports -------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and call.when == "call":
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, MosquittoBroker) and value.log_tail():
                report.sections.append((f"mosquitto log ({value.url})", value.log_tail()))
    return report
