"""``Client``'s keyword arguments, checked once and turned into what each part needs.

``ClientOptions`` is made once, in ``Client.__init__``: the protocol core's ``ClientConfig``
(for MQTT 5.0 when the version is left to negotiation: the 3.1.1 fallback derives its own
with ``ClientConfig.for_version``), the transport settings, and the asyncio layer's own
settings (timeout, logger, queue sizes). aiomqtt's names map onto the core's here, and only
here: ``clean_session`` onto ``clean_start`` and a session expiry, the limits given as CONNECT
properties onto the core's limit fields, ``keepalive`` onto ``keep_alive``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from ._checks import (
    Logger,
    check_clean_start,
    check_logger,
    check_optional_int,
    check_optional_str,
    check_password,
    check_protocol,
    check_queue_type,
    check_timeout,
)
from ._reconnect import Reconnect
from ._servers import check_failover_servers
from .protocol.checks import check_bool, check_int, check_str
from .protocol.config import Authenticator, ClientConfig, SessionLostPolicy
from .protocol.enums import PacketType, ProtocolVersion
from .protocol.properties import Properties
from .store import MemoryStore, SessionStore
from .transports import (
    ProxySettings,
    SocketOption,
    TLSParameters,
    TransportSettings,
    WebSocketHeaders,
)
from .types import Will, check_properties

__all__ = ("DEFAULT_TIMEOUT", "ClientOptions", "version_text")

DEFAULT_TIMEOUT: Final = 10.0
_SESSION_NEVER_EXPIRES: Final = 0xFFFF_FFFF
_V5 = ProtocolVersion.V5
_LIMITS: Final = ("receive_maximum", "maximum_packet_size", "topic_alias_maximum")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """Everything a ``Client`` was configured with, checked (see the module docstring)."""

    config: ClientConfig  # for the first version tried: the requested one, else 5.0
    negotiate: bool  # protocol=None: fall back to 3.1.1 when the broker refuses 5.0
    transport: TransportSettings
    timeout: float | None
    logger: Logger
    queue_type: type[asyncio.Queue[Any]]
    max_incoming: int | None  # max_queued_incoming_messages: a limit per message stream
    max_outgoing: int | None  # max_queued_outgoing_messages: publishes waiting to be written
    max_calls: int | None  # max_concurrent_outgoing_calls
    reconnect: Reconnect | None  # None: a lost connection ends the block's streams and calls
    store: SessionStore  # where the session is kept (MemoryStore: nowhere beyond the process)
    manual_ack: bool  # the application acknowledges received messages (message.ack())
    failover: tuple[TransportSettings, ...]  # the failover servers, tried after the primary
    follow_redirects: bool  # follow CONNACK / DISCONNECT 0x9C and 0x9D with a Server Reference
    identifier_given: bool  # (else generated: a stored session's identifier takes its place)

    @property
    def address(self) -> str:
        return self.transport.address

    @classmethod
    def from_arguments(
        cls,
        *,
        hostname: str,
        port: int,
        username: str | None,
        password: str | bytes | None,
        logger: Logger | None,
        identifier: str | None,
        client_id: str | None,
        queue_type: type[asyncio.Queue[Any]] | None,
        protocol: ProtocolVersion | int | None,
        will: Will | None,
        clean_session: bool | None,
        transport: Literal["tcp", "websockets", "unix"],
        timeout: float | None,
        keepalive: int,
        bind_address: str,
        bind_port: int,
        clean_start: object,
        max_queued_incoming_messages: int | None,
        max_queued_outgoing_messages: int | None,
        max_inflight_messages: int | None,
        max_concurrent_outgoing_calls: int | None,
        properties: Properties | None,
        tls_context: ssl.SSLContext | None,
        tls_params: TLSParameters | None,
        tls_insecure: bool | None,
        proxy: ProxySettings | None,
        socket_options: Iterable[SocketOption] | None,
        websocket_path: str | None,
        websocket_headers: WebSocketHeaders | None,
        message_retry_set: float | None,
        session_lost_policy: SessionLostPolicy | str,
        reconnect: bool | Reconnect,
        offline_qos0: Literal["queue", "raise"],
        session_store: SessionStore | None,
        manual_ack: bool,
        authenticator: Authenticator | None = None,
        topic_alias_maximum: int | None = None,
        outgoing_topic_aliases: bool = False,
        strict_receive_maximum: bool = True,
        failover_servers: Iterable[tuple[str, int]] | None = None,
        follow_redirects: bool = True,
    ) -> ClientOptions:
        seconds = check_timeout("timeout", timeout, DEFAULT_TIMEOUT)
        if tls_insecure is not None:
            check_bool(tls_insecure, "tls_insecure")
        transport_settings = TransportSettings(
            hostname=hostname,
            port=port,
            transport=transport,
            tls_context=tls_context,
            tls_params=tls_params,
            tls_insecure=bool(tls_insecure),
            proxy=proxy,
            websocket_path=websocket_path,
            websocket_headers=websocket_headers,
            bind_address=bind_address,
            bind_port=bind_port,
            socket_options=() if socket_options is None else socket_options,
            timeout=seconds,
        )
        if message_retry_set is not None:  # (asyncio-mqtt 0.x; MQTT 5 has no retries)
            check_timeout("message_retry_set", message_retry_set)
        requested = check_protocol(protocol)
        if authenticator is not None and requested not in (None, _V5):
            raise ValueError(
                f"authenticator (MQTT 5 enhanced authentication) needs MQTT 5.0, not "
                f"{version_text(requested)}: leave protocol out, or give ProtocolVersion.V5"
            )
        policy = _reconnect_policy(reconnect)
        store = _session_store(session_store)
        if offline_qos0 not in ("queue", "raise"):
            raise ValueError(f"offline_qos0={offline_qos0!r} must be 'queue' or 'raise'")
        config = _core_config(
            version=requested or _V5,
            identifier=_identifier(identifier, client_id),
            username=check_optional_str("username", username),
            password=check_password(password),
            will=will,
            clean_session=clean_session,
            clean_start=check_clean_start(clean_start),
            keepalive=check_int("keepalive", keepalive, 0, 65535),
            max_inflight=check_optional_int("max_inflight_messages", max_inflight_messages, 1),
            properties=check_properties(
                properties, PacketType.CONNECT, what="the Client's CONNECT properties"
            ),
            session_lost_policy=_session_lost_policy(session_lost_policy),
            queue_qos0_offline=policy is not None and offline_qos0 == "queue",
            # A reconnect the application does not see, or a session from a store, must find
            # the subscriptions again by itself when the broker lost them.
            restore_subscriptions=policy is not None or store.durable,
            authenticator=authenticator,
            topic_alias_maximum=check_optional_int("topic_alias_maximum", topic_alias_maximum, 0),
            outgoing_topic_aliases=check_bool(outgoing_topic_aliases, "outgoing_topic_aliases"),
            strict_receive_maximum=check_bool(strict_receive_maximum, "strict_receive_maximum"),
        )
        return cls(
            config=config,
            # (No 3.1.1 fallback with an authenticator: it would connect unauthenticated.)
            negotiate=requested is None and authenticator is None,
            transport=transport_settings,
            timeout=seconds,
            logger=check_logger(logger),
            queue_type=check_queue_type(queue_type),
            max_incoming=check_optional_int(
                "max_queued_incoming_messages", max_queued_incoming_messages, None
            ),
            max_outgoing=check_optional_int(
                "max_queued_outgoing_messages", max_queued_outgoing_messages, 0
            ),
            max_calls=check_optional_int(
                "max_concurrent_outgoing_calls", max_concurrent_outgoing_calls, 1
            ),
            reconnect=policy,
            store=store,
            manual_ack=check_bool(manual_ack, "manual_ack"),
            failover=_failover(transport_settings, failover_servers),
            follow_redirects=check_bool(follow_redirects, "follow_redirects"),
            identifier_given=identifier is not None or client_id is not None,
        )


def _core_config(
    *,
    version: ProtocolVersion,
    identifier: str,
    username: str | None,
    password: bytes | None,
    will: Will | None,
    clean_session: bool | None,
    clean_start: bool | Literal["first_only"],
    keepalive: int,
    max_inflight: int | None,
    properties: Properties,
    session_lost_policy: SessionLostPolicy,
    queue_qos0_offline: bool,
    restore_subscriptions: bool,
    authenticator: Authenticator | None = None,
    topic_alias_maximum: int | None = None,
    outgoing_topic_aliases: bool = False,
    strict_receive_maximum: bool = True,
) -> ClientConfig:
    """The protocol core's configuration for ``version``, from the Client's arguments."""
    if will is not None and not isinstance(will, Will):
        raise TypeError(f"will must be an asyncmqtt.Will, got {will!r}")
    if clean_session is not None:
        check_bool(clean_session, "clean_session")
    if version is not _V5:
        name = version_text(version)
        if properties:
            raise ValueError(f"properties (CONNECT properties) need MQTT 5.0, not {name}")
        if will is not None and will.to_message().properties:
            raise ValueError(f"will properties need MQTT 5.0, not {name}")
        if password is not None and username is None:
            raise ValueError(f"a password without a username needs MQTT 5.0, not {name}")
        if topic_alias_maximum:
            raise ValueError(f"topic_alias_maximum (topic aliases) needs MQTT 5.0, not {name}")
        if outgoing_topic_aliases:
            raise ValueError(f"outgoing_topic_aliases=True needs MQTT 5.0, not {name}")
    start: bool | Literal["first_only"] = clean_start
    if clean_session is not None:
        start = clean_session
        if not clean_session and properties.session_expiry_interval is None:
            # An MQTT 3.1.1 persistent session lasts until the client comes back.
            properties = dataclasses.replace(
                properties, session_expiry_interval=_SESSION_NEVER_EXPIRES
            )
    # The limits we announce are the core's own fields, never CONNECT properties.
    limits = properties
    given = properties.topic_alias_maximum
    if topic_alias_maximum is not None and given is not None and given != topic_alias_maximum:
        raise ValueError(
            f"topic_alias_maximum={topic_alias_maximum} and the CONNECT property "
            f"topic_alias_maximum={given} disagree: give one"
        )
    if topic_alias_maximum is None:
        topic_alias_maximum = given
    if any(getattr(limits, name) is not None for name in _LIMITS):
        properties = dataclasses.replace(
            properties, receive_maximum=None, maximum_packet_size=None, topic_alias_maximum=None
        )
    config = ClientConfig(
        client_id=identifier,
        clean_start=start,
        keep_alive=keepalive,
        username=username,
        password=password,
        will=None if will is None else will.to_message(),
        properties=properties,
        receive_maximum=limits.receive_maximum or 65535,
        maximum_packet_size=limits.maximum_packet_size,
        topic_alias_maximum=topic_alias_maximum or 0,
        max_inflight=max_inflight or 65535,
        session_lost_policy=session_lost_policy,
        manual_ack=True,  # the message streams acknowledge what they deliver (messages.py)
        queue_qos0_offline=queue_qos0_offline,
        restore_subscriptions=restore_subscriptions,
        authenticator=authenticator,
        outgoing_topic_aliases=outgoing_topic_aliases,
        strict_receive_maximum=strict_receive_maximum,
    )
    return config if version is _V5 else config.for_version(version)


def _failover(primary: TransportSettings, value: object) -> tuple[TransportSettings, ...]:
    """The failover servers' transport settings: the primary's, with their host and port."""
    servers = check_failover_servers(value)
    if servers and primary.transport == "unix":
        raise ValueError("failover_servers need a network transport, not transport='unix'")
    return tuple(dataclasses.replace(primary, hostname=host, port=port) for host, port in servers)


def _identifier(identifier: object, client_id: object) -> str:
    if identifier is not None and client_id is not None and identifier != client_id:
        raise ValueError(
            f"identifier={identifier!r} and client_id={client_id!r} disagree: client_id is the "
            "asyncio-mqtt 0.x name of identifier; give one"
        )
    value = identifier if identifier is not None else client_id
    if value is None:
        # 23 characters from [0-9a-z], the most every MQTT version must accept.
        return "asyncmqtt" + secrets.token_hex(7)
    return check_str("identifier", value)


def _session_lost_policy(value: object) -> SessionLostPolicy:
    if isinstance(value, SessionLostPolicy):
        return value
    try:
        return SessionLostPolicy(value)
    except ValueError:
        raise ValueError(
            f"session_lost_policy={value!r} is not a policy: use SessionLostPolicy.RESEND "
            "('resend') or SessionLostPolicy.FAIL ('fail')"
        ) from None


def _reconnect_policy(value: object) -> Reconnect | None:
    if value is True:
        return Reconnect()
    if value is False or value is None:
        return None
    if not isinstance(value, Reconnect):
        raise TypeError(f"reconnect must be True, False or an asyncmqtt.Reconnect, got {value!r}")
    return value


def _session_store(value: object) -> SessionStore:
    if value is None:
        return MemoryStore()
    if not isinstance(value, SessionStore):
        raise TypeError(
            "session_store must be a session store (asyncmqtt.SQLiteStore, MemoryStore or "
            f"another SessionStore), got {value!r}"
        )
    return value


def version_text(version: ProtocolVersion) -> str:
    return {ProtocolVersion.V31: "3.1", ProtocolVersion.V311: "3.1.1", _V5: "5.0"}[version]
