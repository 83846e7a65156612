"""Fixtures for the client tests (helpers that tests import live in client_helpers.py)."""

from __future__ import annotations

import itertools

import pytest

_counter = itertools.count()


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic prefix no other test uses, so tests sharing a broker never see each other."""
    name = request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    return f"test/{name}/{next(_counter)}"
