"""Helpers the client tests import."""

from __future__ import annotations

import asyncio
from typing import Any

from broker import Mosquitto

from asyncmqtt import Client, Message, MessageStream

# A guard against a test hanging forever on a message that never comes: generous, never reached
# by a passing test, so it is not a timing assumption.
GUARD_SECONDS = 10.0


def client_for(broker: Mosquitto, **options: Any) -> Client:
    """A Client for ``broker`` (MQTT 5 unless ``protocol`` says otherwise)."""
    return Client(broker.host, broker.port, **options)


async def next_message(stream: MessageStream) -> Message:
    """The next message of ``stream``; fails the test instead of hanging if none comes."""
    async with asyncio.timeout(GUARD_SECONDS):
        return await anext(stream)


async def take(stream: MessageStream, count: int) -> list[Message]:
    """The next ``count`` messages of ``stream`` (with the same guard)."""
    async with asyncio.timeout(GUARD_SECONDS):
        return [await anext(stream) for _ in range(count)]
