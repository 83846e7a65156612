"""Proxies: SOCKS4, SOCKS5 and HTTP CONNECT through real pproxy servers on loopback, with and
without authentication, plain and with TLS or WebSocket on top.

pproxy logs each tunnel before it opens it ("socks5 127.0.0.1:51234 -> 127.0.0.1:1883"), so
after a round trip its log shows that the traffic really went through the proxy, and to which
name: the broker's hostname (resolved by the proxy) or an address (resolved here).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from mqtt_session import MqttSession, round_trip, round_trip_through
from proxy_server import PROXY_PASSWORD, PROXY_USER, Pproxy
from transport_servers import Pki, TransportBroker

from asyncmqtt.errors import MqttConnectError
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.transports import (
    ProxySettings,
    ProxyType,
    TLSParameters,
    TransportSettings,
    open_connection,
)

KINDS = {"socks4": ProxyType.SOCKS4, "socks5": ProxyType.SOCKS5, "http": ProxyType.HTTP}


def _proxy(proxies: Pproxy, listener: str, **options: Any) -> ProxySettings:
    kind = KINDS[listener.removesuffix("_auth")]
    if listener.endswith("_auth") and "proxy_username" not in options:
        options["proxy_username"] = PROXY_USER
        if kind is not ProxyType.SOCKS4:
            options["proxy_password"] = PROXY_PASSWORD
    return ProxySettings(
        proxy_type=kind, proxy_addr=proxies.host, proxy_port=proxies.port(listener), **options
    )


def _tunnelled(proxies: Pproxy, listener: str, target: str) -> bool:
    scheme = listener.removesuffix("_auth")
    return any(
        line.startswith(f"{scheme} ") and line.endswith(f" -> {target}")
        for line in proxies.log_text().splitlines()
    )


@pytest.mark.parametrize("listener", ["socks4", "socks5", "http"])
async def test_round_trip_through_a_proxy(
    transport_broker: TransportBroker, proxies: Pproxy, listener: str
) -> None:
    settings = TransportSettings(
        hostname=transport_broker.host,
        port=transport_broker.port,
        proxy=_proxy(proxies, listener),
    )
    transport, session = await open_connection(MqttSession, settings)
    # The socket leads to the proxy; the proxy leads to the broker.
    assert transport.get_extra_info("peername") == (proxies.host, proxies.port(listener))
    await round_trip(session)
    assert await session.close() is None
    assert _tunnelled(proxies, listener, f"{transport_broker.host}:{transport_broker.port}")


@pytest.mark.parametrize("listener", ["socks4_auth", "socks5_auth", "http_auth"])
async def test_round_trip_through_a_proxy_with_authentication(
    transport_broker: TransportBroker, proxies: Pproxy, listener: str
) -> None:
    settings = TransportSettings(
        hostname=transport_broker.host,
        port=transport_broker.port,
        proxy=_proxy(proxies, listener),
    )
    await round_trip_through(settings, lambda: MqttSession(ProtocolVersion.V311))
    assert _tunnelled(proxies, listener, f"{transport_broker.host}:{transport_broker.port}")


@pytest.mark.parametrize(
    ("listener", "credentials"),
    [
        ("socks4_auth", {"proxy_username": "intruder"}),
        ("socks5_auth", {"proxy_username": PROXY_USER, "proxy_password": "wrong"}),
        ("socks5_auth", {}),
        ("http_auth", {"proxy_username": PROXY_USER, "proxy_password": "wrong"}),
        ("http_auth", {}),
    ],
    ids=["socks4-wrong-user", "socks5-wrong-password", "socks5-none", "http-wrong", "http-none"],
)
async def test_wrong_or_missing_credentials_are_refused_at_the_proxy_stage(
    transport_broker: TransportBroker, proxies: Pproxy, listener: str, credentials: dict[str, str]
) -> None:
    kind = KINDS[listener.removesuffix("_auth")]
    proxy = ProxySettings(
        proxy_type=kind, proxy_addr=proxies.host, proxy_port=proxies.port(listener), **credentials
    )
    settings = TransportSettings(
        hostname=transport_broker.host, port=transport_broker.port, proxy=proxy
    )
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    error = caught.value
    assert error.stage == "proxy"
    assert error.address == settings.address
    assert f"{kind.name} proxy {proxies.host}:{proxies.port(listener)}" in str(error)
    assert error.__cause__ is not None
    if listener == "http_auth":
        assert "407" in str(error)


async def test_tls_through_a_proxy(
    transport_broker: TransportBroker, proxies: Pproxy, pki: Pki
) -> None:
    tls_port = transport_broker.port_of(transport_broker.tls)
    settings = TransportSettings(
        hostname=transport_broker.host,
        port=tls_port,
        tls_params=TLSParameters(ca_certs=str(pki.ca_pem)),
        proxy=_proxy(proxies, "socks5_auth"),
    )
    transport, session = await open_connection(MqttSession, settings)
    assert transport.get_extra_info("ssl_object") is not None
    await round_trip(session)
    assert await session.close() is None
    assert _tunnelled(proxies, "socks5_auth", f"{transport_broker.host}:{tls_port}")


async def test_tls_through_a_proxy_still_checks_the_hostname(
    transport_broker: TransportBroker, proxies: Pproxy, pki: Pki
) -> None:
    settings = TransportSettings(
        hostname="localhost",  # the certificate names 127.0.0.1 only
        port=transport_broker.port_of(transport_broker.tls),
        tls_params=TLSParameters(ca_certs=str(pki.ca_pem)),
        proxy=_proxy(proxies, "http"),
    )
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    assert caught.value.stage == "tls"


async def test_secure_websocket_through_a_proxy(
    transport_broker: TransportBroker, proxies: Pproxy, pki: Pki
) -> None:
    wss_port = transport_broker.port_of(transport_broker.websocket_tls)
    settings = TransportSettings(
        hostname=transport_broker.host,
        port=wss_port,
        transport="websockets",
        tls_params=TLSParameters(ca_certs=str(pki.ca_pem)),
        proxy=_proxy(proxies, "http_auth"),
    )
    await round_trip_through(settings)
    assert _tunnelled(proxies, "http_auth", f"{transport_broker.host}:{wss_port}")


@pytest.mark.parametrize(
    ("listener", "rdns", "target"),
    [
        # Remote DNS: the proxy gets the name and resolves it.
        ("socks5", True, "localhost"),
        ("http", True, "localhost"),
        # Local DNS: the proxy gets the address we resolved (SOCKS4 carries only addresses).
        ("socks4", False, "127.0.0.1"),
        ("socks5", False, "127.0.0.1"),
        ("http", False, "127.0.0.1"),
    ],
)
async def test_proxy_rdns_decides_who_resolves_the_broker_name(
    transport_broker: TransportBroker, proxies: Pproxy, listener: str, rdns: bool, target: str
) -> None:
    settings = TransportSettings(
        hostname="localhost",
        port=transport_broker.port,
        proxy=_proxy(proxies, listener, proxy_rdns=rdns),
    )
    await round_trip_through(settings)
    assert _tunnelled(proxies, listener, f"{target}:{transport_broker.port}")


async def test_local_dns_failure_is_the_resolve_stage(
    transport_broker: TransportBroker, proxies: Pproxy
) -> None:
    settings = TransportSettings(
        hostname="no-such-broker.invalid",
        port=transport_broker.port,
        proxy=_proxy(proxies, "socks5", proxy_rdns=False),
    )
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    assert caught.value.stage == "resolve"
    assert "no-such-broker.invalid" in str(caught.value)


async def test_a_proxy_that_cannot_reach_the_broker_fails_at_the_proxy_stage(
    transport_broker: TransportBroker, proxies: Pproxy, unused_tcp_port: int
) -> None:
    # HTTP: pproxy answers CONNECT once it reached the target. (Its SOCKS5 server grants the
    # tunnel before it tries the target, so there the failure would come later, as a lost
    # connection before CONNACK.)
    settings = TransportSettings(
        hostname=transport_broker.host, port=unused_tcp_port, proxy=_proxy(proxies, "http")
    )
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    assert caught.value.stage == "proxy"


async def test_an_unreachable_proxy_fails_at_the_proxy_stage(
    transport_broker: TransportBroker, unused_tcp_port: int
) -> None:
    proxy = ProxySettings(
        proxy_type=ProxyType.SOCKS5, proxy_addr="127.0.0.1", proxy_port=unused_tcp_port
    )
    settings = TransportSettings(
        hostname=transport_broker.host, port=transport_broker.port, proxy=proxy
    )
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    error = caught.value
    assert error.stage == "proxy"
    assert f"SOCKS5 proxy 127.0.0.1:{unused_tcp_port}" in str(error)
    assert isinstance(error.__cause__, OSError)


async def test_bind_address_applies_to_the_connection_to_the_proxy(
    transport_broker: TransportBroker, proxies: Pproxy, unused_tcp_port: int
) -> None:
    settings = TransportSettings(
        hostname=transport_broker.host,
        port=transport_broker.port,
        proxy=_proxy(proxies, "socks5"),
        bind_address="127.0.0.1",
        bind_port=unused_tcp_port,
    )
    transport, session = await open_connection(MqttSession, settings)
    assert transport.get_extra_info("sockname") == ("127.0.0.1", unused_tcp_port)
    await round_trip(session)
    assert await session.close() is None
    # pproxy logs the client's address with each tunnel (before it connects to the broker).
    assert f"socks5 127.0.0.1:{unused_tcp_port} -> " in proxies.log_text()


async def test_an_address_needs_no_resolving_with_local_dns(
    transport_broker: TransportBroker, proxies: Pproxy
) -> None:
    settings = TransportSettings(
        hostname=transport_broker.host,
        port=transport_broker.port,
        proxy=_proxy(proxies, "socks4", proxy_rdns=False),
    )
    await round_trip_through(settings)


async def test_socket_options_are_set_once_the_tunnel_is_open(
    transport_broker: TransportBroker, proxies: Pproxy
) -> None:
    settings = TransportSettings(
        hostname=transport_broker.host,
        port=transport_broker.port,
        proxy=_proxy(proxies, "socks5"),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 91)],
    )
    transport, session = await open_connection(MqttSession, settings)
    sock = transport.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 91
    await round_trip(session)
    assert await session.close() is None


async def test_a_refused_socket_option_through_a_proxy(
    transport_broker: TransportBroker, proxies: Pproxy
) -> None:
    settings = TransportSettings(
        hostname=transport_broker.host,
        port=transport_broker.port,
        proxy=_proxy(proxies, "socks5"),
        socket_options=[(socket.SOL_SOCKET, 0x7FFF, 1)],
    )
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    assert caught.value.stage == "tcp"
    assert "cannot set socket option" in str(caught.value)
