"""Public value types: payloads, ``Will``, ``SubscribeOptions`` (TLS and proxy settings are
``transports``' own, re-exported here).

Payloads follow aiomqtt's (that is, paho-mqtt's) encoding rules, so that code moving over sends
the same bytes: ``str`` is encoded as UTF-8, ``int`` and ``float`` (``bool`` included, being an
``int``) as the UTF-8 text of ``str(value)``, ``None`` as the empty payload, and ``bytes`` /
``bytearray`` as they are. Anything else is a ``TypeError``.

MQTT 5 properties are ``asyncmqtt.Properties`` values; the core's ``check_properties``
(re-exported here) says clearly when a property does not belong to the packet it is given for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from ._checks import CLEAN_START_FIRST_ONLY
from .protocol.checks import check_bool, check_qos
from .protocol.enums import ProtocolVersion, QoS, RetainHandling
from .protocol.packets import Subscription, WillMessage
from .protocol.properties import WILL, Properties, check_properties
from .protocol.topics import validate_topic_filter, validate_topic_name
from .topics import Topic, TopicLike, Wildcard, WildcardLike
from .transports import ProxySettings, ProxyType, SocketOption, TLSParameters

__all__ = (
    "CLEAN_START_FIRST_ONLY",
    "PayloadType",
    "ProtocolVersion",
    "ProxySettings",
    "ProxyType",
    "QoS",
    "RetainHandling",
    "SocketOption",
    "SubscribeOptions",
    "TLSParameters",
    "Will",
    "check_properties",
    "subscriptions_from",
    "unsubscribe_filters",
    "check_qos",
    "encode_payload",
    "filter_text",
    "topic_text",
)

PayloadType: TypeAlias = str | bytes | bytearray | int | float | None
"""What ``publish`` and ``Will`` accept as a payload."""


def encode_payload(payload: object) -> bytes:
    """The bytes sent for ``payload``, by aiomqtt's rules (see the module docstring)."""
    if isinstance(payload, bytes):
        return payload if type(payload) is bytes else bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    if payload is None:
        return b""
    if isinstance(payload, bytearray):
        return bytes(payload)
    if isinstance(payload, int | float):
        return str(payload).encode()
    raise TypeError(
        f"payload must be str, bytes, bytearray, int, float or None, got {type(payload).__name__}"
    )


def topic_text(topic: object) -> str:
    """The text of a topic name given as ``str`` or ``Topic`` (validated by the caller)."""
    if isinstance(topic, str):
        return topic if type(topic) is str else str(topic)
    if isinstance(topic, Topic):
        return topic.value
    raise TypeError(f"topic must be a str or a Topic, got {type(topic).__name__}: {topic!r}")


def filter_text(topic_filter: object) -> str:
    """The text of a topic filter given as ``str`` or ``Wildcard`` (or ``Topic``)."""
    if isinstance(topic_filter, Wildcard):
        return topic_filter.value
    if isinstance(topic_filter, str):
        return str(topic_filter)
    raise TypeError(
        f"a topic filter must be a str or a Wildcard, got "
        f"{type(topic_filter).__name__}: {topic_filter!r}"
    )


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for us if we vanish without a DISCONNECT.

    ``payload`` follows the same rules as ``publish``; ``properties`` are MQTT 5 will
    properties (``will_delay_interval``, ``message_expiry_interval``, ``content_type``, ...).
    Everything is checked here, so a bad will fails where it is made: ``TypeError`` for a
    value of the wrong type, ``ValueError`` for an invalid topic name, a QoS other than 0, 1
    or 2, or a property that is not a will property. Give it as ``Client(will=...)``; the
    broker also publishes it when we disconnect with reason code 0x04 (Disconnect with Will
    Message).
    """

    topic: TopicLike
    """The topic name to publish to (a ``str`` or ``Topic``; no wildcards)."""
    payload: PayloadType = None
    """The payload: ``str`` (sent as UTF-8), ``bytes`` / ``bytearray``, ``int`` / ``float``
    (sent as their text), or None (the default) for an empty payload."""
    qos: int = 0
    """The QoS the broker publishes it with: 0 (the default), 1 or 2."""
    retain: bool = False
    """Whether the broker retains it for future subscribers (default False)."""
    properties: Properties | None = None
    """MQTT 5 will properties, or None (the default) for none: ``will_delay_interval``
    (seconds the broker waits before publishing it), ``message_expiry_interval`` (seconds),
    ``payload_format_indicator``, ``content_type``, ``response_topic``, ``correlation_data``,
    ``user_properties``."""
    _message: WillMessage = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        topic = topic_text(self.topic)
        validate_topic_name(topic)
        message = WillMessage(
            topic=topic,
            payload=encode_payload(self.payload),
            qos=check_qos(self.qos),
            retain=check_bool(self.retain, "retain"),
            properties=check_properties(self.properties, WILL, what="a Will"),
        )
        object.__setattr__(self, "_message", message)

    def to_message(self) -> WillMessage:
        """The will as the protocol core takes it (a ``WillMessage``, payload encoded)."""
        return self._message


@dataclass(frozen=True, slots=True)
class SubscribeOptions:
    """The options of one subscription: the QoS, and for MQTT 5 the three subscription options.

    ``no_local``: do not send us our own messages. ``retain_as_published``: keep the RETAIN flag
    as the publisher set it (instead of clearing it on live messages). ``retain_handling``: when
    the broker sends retained messages (``RetainHandling``: on every subscribe, only for a new
    subscription, or never). They take the place of paho-mqtt's ``SubscribeOptions``.

    Checked when made: ``TypeError`` for a value of the wrong type, ``ValueError`` for a QoS
    or a ``retain_handling`` out of range. With MQTT 3.1.x only the QoS can be sent, so
    subscribing with any other option set raises ``ValueError`` there. See the guide
    Subscribing.
    """

    qos: int = 0
    """The highest QoS we want the messages with: 0 (the default), 1 or 2. The broker may
    grant less (its SUBACK code says which)."""
    no_local: bool = False
    """MQTT 5: do not send us the messages we publish ourselves (default False). Not allowed
    on a shared subscription."""
    retain_as_published: bool = False
    """MQTT 5: keep the RETAIN flag as the publisher set it on the messages forwarded live,
    instead of clearing it (retained messages sent when subscribing have it set either way).
    Default False."""
    retain_handling: RetainHandling = RetainHandling.SEND_ON_SUBSCRIBE
    """MQTT 5: when the broker sends the retained messages that match (default
    ``SEND_ON_SUBSCRIBE``, on every subscribe; a plain int 0, 1 or 2 is converted)."""

    def __post_init__(self) -> None:
        check_qos(self.qos)
        check_bool(self.no_local, "no_local")
        check_bool(self.retain_as_published, "retain_as_published")
        handling = self.retain_handling
        if not isinstance(handling, int) or isinstance(handling, bool):
            raise TypeError(f"retain_handling must be a RetainHandling, got {handling!r}")
        try:
            object.__setattr__(self, "retain_handling", RetainHandling(handling))
        except ValueError:
            raise ValueError(
                f"retain_handling={handling!r} is not valid: it must be 0, 1 or 2 "
                "(a RetainHandling member)"
            ) from None

    def _subscription(self, topic_filter: str) -> Subscription:
        return Subscription(
            topic_filter,
            self.qos,
            self.no_local,
            self.retain_as_published,
            self.retain_handling,
        )

    @property
    def is_default(self) -> bool:
        """True when only the QoS is set (the options MQTT 3.1.x can carry)."""
        return not (
            self.no_local
            or self.retain_as_published
            or self.retain_handling is not RetainHandling.SEND_ON_SUBSCRIBE
        )


def subscription_for(topic_filter: WildcardLike, options: SubscribeOptions) -> Subscription:
    """The core's ``Subscription`` of ``topic_filter`` with ``options`` (not validated)."""
    return options._subscription(filter_text(topic_filter))


def subscriptions_from(
    topic: object, qos: object, options: SubscribeOptions | None
) -> list[Subscription]:
    """The validated subscriptions of ``subscribe(topic, qos, options=...)``'s arguments.

    ``topic`` is a filter, a (filter, qos or ``SubscribeOptions``) pair, or a list of those;
    ``qos`` / ``options`` apply to filters without their own. Raises ``TypeError`` /
    ``ValueError`` for anything else, naming it.
    """
    if options is not None:
        if not isinstance(options, SubscribeOptions):
            raise TypeError(f"options must be a SubscribeOptions, got {options!r}")
        if qos and qos != options.qos:
            raise ValueError(
                f"qos={qos!r} and options.qos={options.qos} disagree: give the QoS in one place"
            )
        default = options
    else:
        default = SubscribeOptions(check_qos(qos))
    if isinstance(topic, str | Wildcard):
        items: Sequence[object] = [topic]
    elif (
        isinstance(topic, tuple)
        and len(topic) == 2
        and isinstance(topic[1], int | SubscribeOptions)
    ):
        items = [topic]
    elif isinstance(topic, list | tuple):
        items = topic
        if not items:
            raise ValueError("subscribe() needs at least one topic filter, got an empty list")
    else:
        raise TypeError(
            "topic must be a topic filter (str or Wildcard), a (filter, qos or SubscribeOptions) "
            f"pair, or a list of those; got {type(topic).__name__}: {topic!r}"
        )
    subscriptions = []
    for item in items:
        if isinstance(item, tuple):
            if len(item) != 2:
                raise TypeError(
                    f"a subscription pair must be (filter, qos or options), got {item!r}"
                )
            topic_filter, choice = item
            item_options = (
                choice
                if isinstance(choice, SubscribeOptions)
                else SubscribeOptions(check_qos(choice))
            )
        else:
            topic_filter, item_options = item, default
        subscription = subscription_for(topic_filter, item_options)
        validate_topic_filter(subscription.topic_filter)
        subscriptions.append(subscription)
    return subscriptions


def unsubscribe_filters(topic: object) -> list[str]:
    """The validated filters of ``unsubscribe(topic)``: a filter or a list of them."""
    items = topic if isinstance(topic, list | tuple) else [topic]
    if not items:
        raise ValueError("unsubscribe() needs at least one topic filter, got an empty list")
    filters = []
    for item in items:
        text = filter_text(item)
        validate_topic_filter(text)
        filters.append(text)
    return filters
