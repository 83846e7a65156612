"""The client's feature tests run against mosquitto and the embedded broker alike: the
``broker`` and ``make_broker`` fixtures (conftest.py), parametrized over ``BROKERS``.

``broker`` is mosquitto (the session's shared one) or a fresh ``asyncmqtt.broker.Broker`` on a
free port; both have ``host`` and ``port``, which is all ``client_for`` needs.
``await make_broker(**options)`` starts a broker of the test's kind with the options written
once for both (``BrokerOptions``), each translated into that broker's own terms; ``restart``
restarts either on the same port with its sessions (mosquitto through its persistence).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict, Unpack

from broker import Mosquitto

from asyncmqtt.broker import Action, Broker
from asyncmqtt.protocol.enums import ConnAckReasonCode, PubAckReasonCode
from asyncmqtt.protocol.topics import matches

if TYPE_CHECKING:
    from conftest import MosquittoFactory

BROKERS = ("mosquitto", "embedded")
AnyBroker: TypeAlias = Mosquitto | Broker


class BrokerOptions(TypedDict, total=False):
    """What a feature test may ask of either broker."""

    maximum_packet_size: int
    """mosquitto's ``max_packet_size``; the embedded broker's ``maximum_packet_size``."""
    max_queued_messages: int
    """Both brokers' ``max_queued_messages`` (messages queued per client)."""
    receive_maximum: int
    """The Receive Maximum in CONNACK: mosquitto's ``max_inflight_messages``, the embedded
    broker's ``receive_maximum``."""
    users: Mapping[str, str]
    """User name -> password; anonymous clients are then refused."""
    allowed_topics: Sequence[str]
    """With ``users``: the filters every user may publish and subscribe to (nothing else)."""
    persistence: bool
    """mosquitto saves its sessions on a restart; the embedded broker always keeps them in
    memory across ``restart()``."""


class MakeBroker:
    """``await make_broker(**options)``: a broker of the test's kind, stopped after the test."""

    def __init__(
        self,
        kind: str,
        make_mosquitto: MosquittoFactory | None,
        stack: contextlib.AsyncExitStack,
    ) -> None:
        self.kind = kind
        self._make_mosquitto = make_mosquitto
        self._stack = stack

    async def __call__(self, **options: Unpack[BrokerOptions]) -> AnyBroker:
        if self._make_mosquitto is not None:
            return self._make_mosquitto(**_mosquitto_options(options))
        return await self._stack.enter_async_context(Broker(port=0, **_embedded_settings(options)))


def _mosquitto_options(options: BrokerOptions) -> dict[str, Any]:
    translated: dict[str, Any] = {}
    if "maximum_packet_size" in options:
        translated["max_packet_size"] = options["maximum_packet_size"]
    if "max_queued_messages" in options:
        translated["max_queued_messages"] = options["max_queued_messages"]
    if "receive_maximum" in options:
        translated["max_inflight_messages"] = options["receive_maximum"]
    if "persistence" in options:
        translated["persistence"] = options["persistence"]
    if "users" in options:
        translated.update(anonymous=False, users=dict(options["users"]))
        if "allowed_topics" in options:
            translated["acl"] = "".join(
                f"user {user}\n"
                + "".join(f"topic readwrite {t}\n" for t in options["allowed_topics"])
                for user in options["users"]
            )
    return translated


def _embedded_settings(options: BrokerOptions) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if "maximum_packet_size" in options:
        settings["maximum_packet_size"] = options["maximum_packet_size"]
    if "max_queued_messages" in options:
        settings["max_queued_messages"] = options["max_queued_messages"]
    if "receive_maximum" in options:
        settings["receive_maximum"] = options["receive_maximum"]
    users = dict(options.get("users", {}))
    if users:

        def authenticate(client_id: str, username: str | None, password: bytes | None) -> int:
            if username in users and password == users[username].encode():
                return 0
            # As mosquitto answers a wrong password: 0x86 means a malformed one (MQTT 5,
            # 3.2.2.2), and 3.1.x clients get return code 5 for it.
            return ConnAckReasonCode.NOT_AUTHORIZED

        settings["authenticate"] = authenticate
    allowed = tuple(options.get("allowed_topics", ()))
    if allowed:

        def authorize(client_id: str, username: str | None, action: Action, topic: str) -> int:
            if any(matches(allowed_filter, topic) for allowed_filter in allowed):
                return 0
            return PubAckReasonCode.NOT_AUTHORIZED

        settings["authorize"] = authorize
    return settings


async def restart(broker: AnyBroker) -> None:
    """Stop the broker and start it again on the same port, its sessions kept."""
    if isinstance(broker, Mosquitto):
        await asyncio.to_thread(broker.restart)
    else:
        await broker.restart()
