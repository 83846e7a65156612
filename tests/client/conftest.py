"""Fixtures for the client tests (helpers that tests import live in client_helpers.py).

``broker`` and ``make_broker`` run a feature test once against mosquitto and once against the
embedded broker (``both_brokers.py``): the test's id says which, ``[mosquitto-...]`` or
``[embedded-...]``. Every test of what a broker does for the client (messages, QoS, retained,
wills, sessions, MQTT 5 options, limits, refusals) takes one of them. Tests that take
``mosquitto`` or ``make_mosquitto`` instead read mosquitto's log, show one of its own
behaviours, or test client-only logic (argument checks, reentrancy, the client's logging) for
which a second broker would add time and nothing else; a comment says which when it is not
plain.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from both_brokers import BROKERS, AnyBroker, MakeBroker

from asyncmqtt.broker import Broker

_counter = itertools.count()


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic prefix no other test uses, so tests sharing a broker never see each other."""
    name = re.sub(r"\W", "_", request.node.name)  # no wildcards, no '/'
    return f"test/{name}/{next(_counter)}"


@pytest.fixture(params=BROKERS)
def broker_kind(request: pytest.FixtureRequest) -> str:
    """``"mosquitto"`` or ``"embedded"``: the broker this run of the test uses."""
    kind: str = request.param
    return kind


@pytest.fixture
def embedded_settings() -> dict[str, Any]:
    """``Broker`` settings for the embedded broker of ``broker``: none here, a module that
    tests a feature mosquitto 2.0.11 lacks overrides this fixture (mosquitto keeps its
    defaults)."""
    return {}


@pytest.fixture
async def broker(
    broker_kind: str, embedded_settings: dict[str, Any], request: pytest.FixtureRequest
) -> AsyncIterator[AnyBroker]:
    """The session's mosquitto, or an embedded broker of this test's own (in process, it
    starts in about a millisecond)."""
    if broker_kind == "mosquitto":
        yield request.getfixturevalue("mosquitto")
        return
    async with Broker(port=0, **embedded_settings) as embedded:
        yield embedded


@pytest.fixture
async def make_broker(
    broker_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[MakeBroker]:
    """``await make_broker(**options)``: a broker of this run's kind with those options."""
    make_mosquitto = (
        request.getfixturevalue("make_mosquitto") if broker_kind == "mosquitto" else None
    )
    async with contextlib.AsyncExitStack() as stack:
        yield MakeBroker(broker_kind, make_mosquitto, stack)
