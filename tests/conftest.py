"""Shared test fixtures: real mosquitto brokers, and the event loops async tests run on.

Brokers: ``mosquitto`` is one anonymous plain-TCP broker for the whole session; ``make_mosquitto``
builds brokers with special configs (passwords, ACLs, persistence, limits) that are stopped when
the test ends. A missing mosquitto is an error, never a skip. When a test fails, the tail of the
log of every broker it used is attached to the report.

Event loops: pytest-asyncio (1.4 or later) asks the ``pytest_asyncio_loop_factories`` hook which
loops to run each async test on. Tests under ``tests/client/`` and ``tests/transports/``, and
tests marked ``all_event_loops``, run once per loop in ``EVENT_LOOPS`` (default asyncio and
uvloop); every other async test runs on the default asyncio loop only.

Transport test servers (session-wide): ``pki`` (certificates made now), ``transport_broker``
(one mosquitto with TCP, TLS, mutual-TLS, WebSocket, TLS WebSocket and Unix-socket listeners)
and ``proxies`` (pproxy with SOCKS4, SOCKS5 and HTTP CONNECT, with and without authentication);
see ``transport_servers.py`` and ``proxy_server.py``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

import pytest
from broker import INSTALL_HINT, Mosquitto, MosquittoOptions, find_mosquitto

if TYPE_CHECKING:
    # Imported where used, so that a copy of this file needs only broker.py beside it.
    from proxy_server import Pproxy
    from transport_servers import Pki, TransportBroker

# pytester runs small pytest sessions in a subprocess, to test what these fixtures report.
# asyncmqtt's own plugin is loaded here, not through its entry point (pyproject.toml blocks
# that one): a conftest is imported after coverage started.
pytest_plugins = ["pytester", "asyncmqtt.pytest_plugin"]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

EVENT_LOOPS: dict[str, LoopFactory] = {"asyncio": asyncio.new_event_loop}
if sys.platform != "win32":  # uvloop does not exist on Windows
    import uvloop

    EVENT_LOOPS["uvloop"] = uvloop.new_event_loop

ALL_LOOPS_MARKER = "all_event_loops"
CLIENT_TESTS_DIR = Path(__file__).parent / "client"
TRANSPORT_TESTS_DIR = Path(__file__).parent / "transports"
ALL_LOOPS_DIRS = (CLIENT_TESTS_DIR, TRANSPORT_TESTS_DIR)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{ALL_LOOPS_MARKER}: run this async test on every event loop in conftest.EVENT_LOOPS "
        "(implied for tests under tests/client/ and tests/transports/)",
    )


def loop_factories_for(path: Path, marked: bool) -> dict[str, LoopFactory]:
    """The event loops an async test at ``path`` runs on."""
    if marked or any(path.is_relative_to(directory) for directory in ALL_LOOPS_DIRS):
        return dict(EVENT_LOOPS)
    return {"asyncio": EVENT_LOOPS["asyncio"]}


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, LoopFactory]:
    marked = item.get_closest_marker(ALL_LOOPS_MARKER) is not None
    return loop_factories_for(item.path, marked)


# -- brokers ----------------------------------------------------------------------------------


def _running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_mosquitto() -> None:
    """Fail (never skip) when mosquitto is missing; in CI, stop the whole run at once."""
    if find_mosquitto() is not None and find_mosquitto("mosquitto_passwd") is not None:
        return
    message = (
        "mosquitto is not installed, and the integration tests need a real broker.\n"
        f"Install it (as root) with: {INSTALL_HINT}"
    )
    if _running_in_ci():
        pytest.exit(
            f"CI machine is missing mosquitto; .ci/run should have installed it.\n{message}"
        )
    pytest.fail(message, pytrace=False)


class MosquittoFactory:
    """Builds and starts brokers for one test; ``close_all()`` stops them."""

    def __init__(self) -> None:
        self.brokers: list[Mosquitto] = []

    def __call__(self, **options: Unpack[MosquittoOptions]) -> Mosquitto:
        broker = Mosquitto(**options)
        self.brokers.append(broker)
        broker.start()
        return broker

    def close_all(self) -> None:
        for broker in reversed(self.brokers):
            broker.close()


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    """An anonymous plain-TCP mosquitto on 127.0.0.1, shared by the whole session."""
    require_mosquitto()
    with Mosquitto() as broker:
        yield broker


@pytest.fixture
def make_mosquitto() -> Iterator[MosquittoFactory]:
    """``make_mosquitto(**options)`` starts a broker with its own config for this test."""
    require_mosquitto()
    factory = MosquittoFactory()
    try:
        yield factory
    finally:
        factory.close_all()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA with server and client certificates, written to files."""
    from transport_servers import make_pki

    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def transport_broker(pki: Pki) -> Iterator[TransportBroker]:
    """One mosquitto with a listener of every kind, shared by the transport tests."""
    from transport_servers import start_transport_broker

    require_mosquitto()
    broker = start_transport_broker(pki)
    try:
        yield broker
    finally:
        broker.mosquitto.close()


@pytest.fixture(scope="session")
def proxies() -> Iterator[Pproxy]:
    """pproxy with SOCKS4, SOCKS5 and HTTP CONNECT listeners, with and without authentication."""
    from proxy_server import Pproxy

    with Pproxy() as servers:
        yield servers


def _brokers_used_by(item: pytest.Item) -> list[Mosquitto]:
    brokers: list[Mosquitto] = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, Mosquitto):
            brokers.append(value)
        elif isinstance(value, MosquittoFactory):
            brokers += value.brokers
        elif isinstance(getattr(value, "mosquitto", None), Mosquitto):  # a TransportBroker
            brokers.append(value.mosquitto)
    return brokers


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and call.when == "call":
        for broker in _brokers_used_by(item):
            port = broker.listeners[0].port
            report.sections.append((f"mosquitto log (port {port}), last lines", broker.log_tail()))
        for value in getattr(item, "funcargs", {}).values():
            # Other test servers (the proxies) describe themselves.
            failure_report = getattr(value, "failure_report", None)
            if callable(failure_report):
                report.sections.append(failure_report())
    return report
