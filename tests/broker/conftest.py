"""Fixtures for the embedded broker's tests: ``broker`` (a running ``Broker`` on a free port of
127.0.0.1) and ``make_broker`` (``await make_broker(**arguments)`` starts one with other
listeners, settings or hooks; every broker made is closed when the test ends)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from embedded_helpers import MakeBroker

from asyncmqtt.broker import Broker


@pytest.fixture
async def make_broker() -> AsyncIterator[MakeBroker]:
    async with contextlib.AsyncExitStack() as stack:

        async def make(**arguments: Any) -> Broker:
            arguments.setdefault("port", None if "listeners" in arguments else 0)
            if arguments["port"] is None:
                del arguments["port"]
            return await stack.enter_async_context(Broker(**arguments))

        yield make


@pytest.fixture
async def broker(make_broker: MakeBroker) -> Broker:
    return await make_broker()
