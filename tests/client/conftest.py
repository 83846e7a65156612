"""Fixtures for the client tests (helpers that tests import live in client_helpers.py)."""

from __future__ import annotations

import itertools
import re

import pytest

_counter = itertools.count()


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic prefix no other test uses, so tests sharing a broker never see each other."""
    name = re.sub(r"\W", "_", request.node.name)  # no wildcards, no '/'
    return f"test/{name}/{next(_counter)}"
