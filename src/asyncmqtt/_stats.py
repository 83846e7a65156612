"""``ClientStats``: what a client did and holds, for the people who operate it.

Counters are plain integer attributes that the client increments where the thing happens (a
few additions per message), so they cost next to nothing and are always on. Depths (messages
in flight, waiting to be sent, waiting to be read) are read from the client's parts when asked.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ("ClientStats",)


class ClientStats:
    """What a ``Client`` counted since it was made, and what it holds now (``client.stats``).

    Counters (ints, only ever growing):

    * ``messages_sent``: messages the client accepted to publish, by QoS (a list of three:
      QoS 0, 1, 2); ``messages_received``: messages received, by QoS;
    * ``bytes_sent`` / ``bytes_received``: bytes written to / read from the network (MQTT
      packets, all kinds);
    * ``publishes_acknowledged``: QoS 1/2 publishes the broker acknowledged with success;
      ``publishes_refused``: those it refused, by reason code (a dict, code -> count);
      ``publishes_failed``: those that ended without the broker's answer (a lost session with
      ``session_lost_policy="fail"``, a limit the broker no longer allows, ...);
    * ``connections``: network connections established (CONNACK accepted), so
      ``connections - 1`` reconnections; ``connection_losses``: established connections that
      ended other than by leaving the client's ``async with`` block;
    * ``messages_discarded``: messages no stream wanted, by the documented policy of the
      asyncio-mqtt 0.x streams (each also logged);
    * ``responses_discarded``: messages on the response topic of ``client.request`` that no
      request waited for (late responses, duplicates, strangers; each also logged);
    * ``receive_maximum_exceeded``: messages the broker sent beyond our Receive Maximum,
      tolerated with ``strict_receive_maximum=False`` (logged).

    Depths (read when asked): ``in_flight`` (QoS 1/2 publishes written and not yet
    acknowledged), ``queued_outgoing`` (publishes waiting to be written: for a slot under the
    broker's Receive Maximum, or for the connection), ``queued_incoming`` (received messages
    waiting in the client's streams and backlog to be read).

    The client makes it; a program reads it (``client.stats``) and never makes one. The
    constructor's two parameters are internal: callables the depths are read from
    (``session_depths`` gives (in flight, queued outgoing), ``incoming_depth`` the queued
    incoming messages); without them every depth is 0.
    """

    __slots__ = (
        "_incoming_depth",
        "_session_depths",
        "bytes_received",
        "bytes_sent",
        "connection_losses",
        "connections",
        "messages_discarded",
        "messages_received",
        "messages_sent",
        "publishes_acknowledged",
        "publishes_failed",
        "publishes_refused",
        "receive_maximum_exceeded",
        "responses_discarded",
    )

    def __init__(
        self,
        session_depths: Callable[[], tuple[int, int]] = lambda: (0, 0),
        incoming_depth: Callable[[], int] = lambda: 0,
    ) -> None:
        self.messages_sent = [0, 0, 0]
        """Messages the client accepted to publish, by QoS: ``[QoS 0, QoS 1, QoS 2]``."""
        self.messages_received = [0, 0, 0]
        """Messages received, by QoS: ``[QoS 0, QoS 1, QoS 2]``."""
        self.bytes_sent = 0
        """Bytes written to the network: MQTT packets of every kind (no TLS or WebSocket
        framing)."""
        self.bytes_received = 0
        """Bytes read from the network: MQTT packets of every kind (no TLS or WebSocket
        framing)."""
        self.publishes_acknowledged = 0
        """QoS 1/2 publishes the broker acknowledged with success (a code below 0x80)."""
        self.publishes_refused: dict[int, int] = {}
        """QoS 1/2 publishes the broker refused, by reason code: code -> count."""
        self.publishes_failed = 0
        """QoS 1/2 publishes that ended without the broker's answer (a lost session with
        ``session_lost_policy="fail"``, a limit the broker no longer allows, ...)."""
        self.connections = 0
        """Network connections established (CONNACK accepted): ``connections - 1``
        reconnections."""
        self.connection_losses = 0
        """Established connections that ended other than by leaving the client's
        ``async with`` block."""
        self.messages_discarded = 0
        """Messages no stream wanted, discarded by the documented policy of the asyncio-mqtt
        0.x streams (each also logged; see the guide Filtered streams)."""
        self.responses_discarded = 0
        """Messages on the response topic of ``client.request`` that no request waited for:
        responses that came after their request timed out or was cancelled, duplicates, and
        messages that are not responses to this client (each also logged; see the guide
        Request/response)."""
        self.receive_maximum_exceeded = 0
        """Messages the broker sent while as many as our Receive Maximum were unacknowledged:
        a protocol violation, tolerated with ``Client(strict_receive_maximum=False)`` (the
        message is delivered; see the guide Subscribing). Always 0 when strict, the default:
        the connection ends instead."""
        self._session_depths = session_depths
        self._incoming_depth = incoming_depth

    @property
    def in_flight(self) -> int:
        """QoS 1/2 publishes written and not yet acknowledged, now."""
        return self._session_depths()[0]

    @property
    def queued_outgoing(self) -> int:
        """Publishes waiting to be written, now: for a slot under the broker's Receive Maximum,
        or for the connection."""
        return self._session_depths()[1]

    @property
    def queued_incoming(self) -> int:
        """Received messages waiting to be read, now: in the client's streams and backlog."""
        return self._incoming_depth()

    def as_dict(self) -> dict[str, object]:
        """Every counter and depth by name (for metrics exporters and logs)."""
        names = [name for name in self.__slots__ if not name.startswith("_")]
        values: dict[str, object] = {name: getattr(self, name) for name in names}
        values["messages_sent"] = list(self.messages_sent)
        values["messages_received"] = list(self.messages_received)
        values["publishes_refused"] = dict(self.publishes_refused)
        values.update(
            in_flight=self.in_flight,
            queued_outgoing=self.queued_outgoing,
            queued_incoming=self.queued_incoming,
        )
        return values

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value}" for name, value in self.as_dict().items())
        return f"ClientStats({fields})"
