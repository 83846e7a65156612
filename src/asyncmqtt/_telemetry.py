"""``Telemetry``: what a client tells an observer (OpenTelemetry, see ``asyncmqtt.otel``).

A client has no telemetry unless one is installed on it; then it calls ``publish_started``
for every publish (the telemetry may add properties, e.g. a W3C ``traceparent`` user property,
and gets called back with the outcome) and ``message_received`` for every message it routes.
Without one, the cost is an attribute read per call.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

from .protocol.properties import Properties

if TYPE_CHECKING:
    from .messages import Message

__all__ = ("Telemetry", "in_traced_publish")

# Set while a traced publish runs the untraced one inside it (same task, same context).
in_traced_publish: ContextVar[bool] = ContextVar("asyncmqtt_in_traced_publish", default=False)


class Telemetry(Protocol):
    """An observer of a client's publishes and received messages."""

    def publish_started(
        self,
        topic: str,
        qos: int,
        properties: Properties,
        v5: bool,
        payload_size: int | None = None,
    ) -> tuple[Properties, Callable[[BaseException | None], None]]:
        """A publish begins (``payload_size`` in bytes): returns the properties to send
        instead, and a function the client calls once with the outcome (None: success, else
        the exception)."""
        ...

    def message_received(self, message: Message) -> None:
        """A message arrived and is about to be routed to the streams."""
        ...
