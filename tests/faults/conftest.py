"""Fixtures for the fault tests: a unique topic prefix, and relays closed when the test ends."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator

import pytest
from relay import Relay

_counter = itertools.count()


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic prefix no other test uses (no wildcards, no '/' from the test name)."""
    name = re.sub(r"\W", "_", request.node.name)
    return f"faults/{name}/{next(_counter)}"


@pytest.fixture
def make_relay() -> Iterator[Callable[[int], Relay]]:
    """``make_relay(port)`` starts a Relay to ``port`` on 127.0.0.1; closed after the test."""
    relays: list[Relay] = []

    def make(port: int) -> Relay:
        relay = Relay(port)
        relays.append(relay)
        relay.start()
        return relay

    try:
        yield make
    finally:
        for relay in reversed(relays):
            relay.close()
