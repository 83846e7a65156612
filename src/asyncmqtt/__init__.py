"""asyncmqtt: the idiomatic asyncio MQTT client, on its own sans-I/O protocol core.

Everything public is importable from here::

    import asyncmqtt

    async with asyncmqtt.Client("localhost") as client:
        await client.subscribe("measurements/#", qos=1)
        async for message in client.messages:
            print(message.topic, message.payload)
"""

import logging

from ._reconnect import Reconnect
from ._stats import ClientStats
from ._version import __version__, __version_tuple__
from .client import Client
from .errors import (
    ConnectionLostError,
    MqttCodeError,
    MqttConnectError,
    MqttError,
    MqttReentrantError,
    MqttTimeoutError,
    ProtocolError,
    PublishWithdrawnError,
    SessionLostError,
)
from .message import MessagesIterator
from .messages import Message, MessageStream
from .protocol.config import Authenticator, SessionLostPolicy
from .protocol.enums import (
    ConnAckReasonCode,
    ProtocolVersion,
    PubAckReasonCode,
    QoS,
    RetainHandling,
    SubAckReasonCode,
    UnsubAckReasonCode,
)
from .protocol.events import ServerSettings
from .protocol.properties import Properties
from .router import Router
from .scram import ScramSha256Authenticator
from .store import MemoryStore, SessionStore, SQLiteStore, StoreError, StoreInUseError
from .topics import Topic, TopicLike, Wildcard, WildcardLike
from .types import (
    CLEAN_START_FIRST_ONLY,
    PayloadType,
    ProxySettings,
    ProxyType,
    SubscribeOptions,
    TLSParameters,
    Will,
)

__all__ = (
    "Authenticator",
    "CLEAN_START_FIRST_ONLY",
    "Client",
    "ClientStats",
    "MemoryStore",
    "ConnAckReasonCode",
    "ConnectionLostError",
    "Message",
    "MessageStream",
    "MessagesIterator",
    "MqttCodeError",
    "MqttConnectError",
    "MqttError",
    "MqttReentrantError",
    "MqttTimeoutError",
    "PayloadType",
    "Properties",
    "ProtocolError",
    "ProtocolVersion",
    "ProxySettings",
    "ProxyType",
    "PubAckReasonCode",
    "PublishWithdrawnError",
    "QoS",
    "Reconnect",
    "RetainHandling",
    "Router",
    "ScramSha256Authenticator",
    "ServerSettings",
    "SessionLostError",
    "SessionLostPolicy",
    "SessionStore",
    "SQLiteStore",
    "StoreError",
    "StoreInUseError",
    "SubAckReasonCode",
    "SubscribeOptions",
    "TLSParameters",
    "Topic",
    "TopicLike",
    "UnsubAckReasonCode",
    "Wildcard",
    "WildcardLike",
    "Will",
    "__version__",
    "__version_tuple__",
)

# The library logs to "asyncmqtt" and configures nothing else: without a handler of the
# application's, its records go nowhere (not to stderr through logging's last resort).
logging.getLogger("asyncmqtt").addHandler(logging.NullHandler())
