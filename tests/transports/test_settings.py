"""The settings values: what they accept, what they refuse (at the call, naming the value and
the rule), and the SSL context ``TLSParameters`` builds."""

from __future__ import annotations

import math
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from transport_servers import KEY_PASSWORD, Pki

from asyncmqtt.transports import (
    ProxySettings,
    ProxyType,
    TLSParameters,
    TransportSettings,
)

# -- TransportSettings -----------------------------------------------------------------------------


def test_defaults() -> None:
    settings = TransportSettings(hostname="broker.example")
    assert (settings.port, settings.transport, settings.timeout) == (1883, "tcp", None)
    assert settings.socket_options == ()
    assert settings.local_address is None
    assert not settings.uses_tls
    assert settings.address == "mqtt://broker.example:1883"


@pytest.mark.parametrize(
    ("options", "address"),
    [
        ({"hostname": "::1", "port": 8883, "tls_params": TLSParameters()}, "mqtts://[::1]:8883"),
        (
            {"hostname": "b.example", "port": 80, "transport": "websockets"},
            "ws://b.example:80/mqtt",
        ),
        (
            {
                "hostname": "b.example",
                "port": 443,
                "transport": "websockets",
                "websocket_path": "/ws",
                "tls_context": ssl.create_default_context(),
            },
            "wss://b.example:443/ws",
        ),
        ({"hostname": "/run/mosquitto.sock", "transport": "unix"}, "unix:/run/mosquitto.sock"),
    ],
)
def test_address_names_the_transport(options: dict[str, Any], address: str) -> None:
    assert TransportSettings(**options).address == address


def test_socket_options_are_kept_as_a_tuple() -> None:
    options = iter([(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1), (1, 2, None, 4)])
    settings = TransportSettings(hostname="b.example", socket_options=options)
    assert settings.socket_options == ((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1), (1, 2, None, 4))


@pytest.mark.parametrize(("timeout", "kept"), [(5, 5.0), (0.25, 0.25), (math.inf, None)])
def test_timeout(timeout: float, kept: float | None) -> None:
    assert TransportSettings(hostname="b.example", timeout=timeout).timeout == kept


def test_local_address() -> None:
    settings = TransportSettings(hostname="b.example", bind_address="10.0.0.2", bind_port=4000)
    assert settings.local_address == ("10.0.0.2", 4000)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"hostname": 42}, TypeError, "hostname must be a str"),
        ({"hostname": ""}, ValueError, "non-empty host name"),
        ({"hostname": "a b"}, ValueError, "non-empty host name"),
        ({"port": 0}, ValueError, "port=0 must be from 1 to 65535"),
        ({"port": "1883"}, TypeError, "port must be an int"),
        ({"port": True}, TypeError, "port must be an int"),
        ({"transport": "quic"}, ValueError, "transport='quic' is not one of"),
        ({"tls_context": "yes"}, TypeError, "tls_context must be an ssl.SSLContext"),
        ({"tls_params": {"ca_certs": "x"}}, TypeError, "tls_params must be a TLSParameters"),
        (
            {"tls_context": ssl.create_default_context(), "tls_params": TLSParameters()},
            ValueError,
            "give tls_context or tls_params, not both",
        ),
        ({"tls_insecure": True}, ValueError, "tls_insecure=True needs TLS"),
        ({"tls_insecure": None}, TypeError, "tls_insecure must be a bool"),
        ({"proxy": ("socks5", "p")}, TypeError, "proxy must be a ProxySettings"),
        ({"websocket_path": "/mqtt"}, ValueError, "only used with transport='websockets'"),
        ({"websocket_headers": {"a": "b"}}, ValueError, "only used with transport='websockets'"),
        ({"bind_address": "my-laptop"}, ValueError, "must be an IP address"),
        ({"bind_address": 1}, TypeError, "bind_address must be a str"),
        ({"bind_port": 70000}, ValueError, "bind_port=70000 must be an int from 0 to 65535"),
        ({"socket_options": 5}, TypeError, "socket_options must be an iterable of tuples"),
        ({"socket_options": [(1, 2)]}, TypeError, "each socket option must be a tuple"),
        ({"socket_options": [("1", 2, 3)]}, TypeError, "level and option must be ints"),
        ({"socket_options": [(1, 2, 3.5)]}, TypeError, "value must be an int or bytes"),
        ({"socket_options": [(1, 2, 3, 4)]}, TypeError, "(level, option, None, length)"),
        ({"timeout": 0}, ValueError, "timeout=0 must be a positive number"),
        ({"timeout": math.nan}, ValueError, "must be a positive number"),
        ({"timeout": "5"}, TypeError, "timeout must be a number of seconds"),
    ],
)
def test_bad_tcp_settings(options: dict[str, Any], error: type[Exception], message: str) -> None:
    arguments = {"hostname": "b.example", **options}
    with pytest.raises(error) as caught:
        TransportSettings(**arguments)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"websocket_path": "mqtt"}, ValueError, "must start with '/'"),
        ({"websocket_path": "/a b"}, ValueError, "contain no whitespace"),
        ({"websocket_path": b"/mqtt"}, TypeError, "websocket_path must be a str"),
        ({"websocket_headers": ["Host"]}, TypeError, "must be a dict of str to str"),
        ({"websocket_headers": {"X": 1}}, TypeError, "must map str to str"),
        ({"websocket_headers": {"X:Y": "1"}}, ValueError, "not a valid HTTP header name"),
        ({"websocket_headers": {"X": "1\r\nEvil: 2"}}, ValueError, "must not contain a line break"),
    ],
)
def test_bad_websocket_settings(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        TransportSettings(hostname="b.example", transport="websockets", **options)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bind_port": 5000}, "bind_address and bind_port do not apply to transport='unix'"),
        ({"tls_params": TLSParameters()}, "TLS over a Unix socket is not supported"),
        (
            {"proxy": ProxySettings(proxy_type=ProxyType.SOCKS5, proxy_addr="p")},
            "a proxy cannot reach a Unix socket",
        ),
        ({"hostname": ""}, "must be the path of a Unix socket"),
    ],
)
def test_bad_unix_settings(options: dict[str, Any], message: str) -> None:
    arguments = {"hostname": "/run/mqtt.sock", "transport": "unix", **options}
    with pytest.raises(ValueError, match=message):
        TransportSettings(**arguments)


def test_a_unix_socket_path_must_be_a_str() -> None:
    with pytest.raises(TypeError, match="hostname must be the socket path"):
        TransportSettings(hostname=Path("/run/mqtt.sock"), transport="unix")  # type: ignore[arg-type]


def test_settings_are_frozen() -> None:
    settings = TransportSettings(hostname="b.example")
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


# -- ProxySettings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxy_type", "kind", "port"),
    [(1, ProxyType.SOCKS4, 1080), (2, ProxyType.SOCKS5, 1080), (3, ProxyType.HTTP, 8080)],
)
def test_pysocks_integers_and_default_ports(proxy_type: int, kind: ProxyType, port: int) -> None:
    # PySocks: socks.SOCKS4 == 1, socks.SOCKS5 == 2, socks.HTTP == 3 (the seed's example).
    proxy = ProxySettings(proxy_type=proxy_type, proxy_addr="proxy.example")  # type: ignore[arg-type]
    assert proxy.proxy_type is kind
    assert proxy.port == port
    assert ProxySettings(proxy_type=kind, proxy_addr="p", proxy_port=3128).port == 3128


def test_the_proxy_password_stays_out_of_repr() -> None:
    proxy = ProxySettings(
        proxy_type=ProxyType.SOCKS5,
        proxy_addr="p",
        proxy_username="me",
        proxy_password="s3cret",
    )
    assert "s3cret" not in repr(proxy)
    assert "me" in repr(proxy)


def test_proxy_settings_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ProxySettings(ProxyType.HTTP, "proxy.example")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"proxy_type": 4}, ValueError, "proxy_type=4 is not a proxy type"),
        ({"proxy_type": "socks5"}, ValueError, "is not a proxy type"),
        ({"proxy_addr": ""}, ValueError, "proxy_addr='' must be a non-empty host"),
        ({"proxy_port": 0}, ValueError, "proxy_port=0 must be from 1 to 65535"),
        ({"proxy_rdns": "yes"}, TypeError, "proxy_rdns must be a bool or None"),
        ({"proxy_username": 1}, TypeError, "proxy_username must be a str or None"),
        ({"proxy_password": "x"}, ValueError, "proxy_password needs a proxy_username"),
        (
            {"proxy_type": 1, "proxy_username": "u", "proxy_password": "x"},
            ValueError,
            "SOCKS4 proxy takes a user id",
        ),
    ],
)
def test_bad_proxy_settings(options: dict[str, Any], error: type[Exception], message: str) -> None:
    arguments = {"proxy_type": ProxyType.SOCKS5, "proxy_addr": "proxy.example", **options}
    with pytest.raises(error, match=message):
        ProxySettings(**arguments)


# -- TLSParameters --------------------------------------------------------------------------------


def test_default_context_verifies_certificates_and_hostnames() -> None:
    context = TLSParameters().context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version in (ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.TLSv1_2)


def test_cert_none_turns_off_the_hostname_check_too() -> None:
    context = TLSParameters(cert_reqs=ssl.CERT_NONE).context()
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)


@pytest.mark.parametrize(
    ("tls_version", "minimum", "maximum"),
    [
        (ssl.PROTOCOL_TLSv1_2, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
        (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.MAXIMUM_SUPPORTED),
        (ssl.PROTOCOL_TLS, None, ssl.TLSVersion.MAXIMUM_SUPPORTED),
    ],
)
def test_tls_version(
    tls_version: int, minimum: ssl.TLSVersion | None, maximum: ssl.TLSVersion
) -> None:
    context = TLSParameters(tls_version=tls_version).context()
    if minimum is not None:
        assert context.minimum_version is minimum
    assert context.maximum_version is maximum


def test_files_and_ciphers_are_loaded(pki: Pki) -> None:
    params = TLSParameters(
        ca_certs=pki.ca_pem,
        certfile=pki.client_cert,
        keyfile=pki.client_key_encrypted,
        keyfile_password=KEY_PASSWORD,
        ciphers="ECDHE+AESGCM",
    )
    context = params.context()
    assert len(context.get_ca_certs()) == 1
    # set_ciphers governs TLS 1.2 and older; TLS 1.3 suites are configured apart.
    older = [cipher["name"] for cipher in context.get_ciphers() if cipher["protocol"] != "TLSv1.3"]
    assert older and all("ECDHE" in name and "GCM" in name for name in older)
    assert "correct horse" not in repr(params)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"ca_certs": 5}, TypeError, "ca_certs must be a file path"),
        ({"keyfile": "k.pem"}, ValueError, "keyfile needs a certfile"),
        ({"cert_reqs": 7}, ValueError, "cert_reqs=7 is not valid"),
        ({"tls_version": 99}, ValueError, "tls_version=99 is not a client TLS version"),
        ({"tls_version": ssl.PROTOCOL_TLS_SERVER}, ValueError, "is not a client TLS version"),
        ({"ciphers": 1}, TypeError, "ciphers must be a str or None"),
        ({"keyfile_password": b"pw"}, TypeError, "keyfile_password must be a str or None"),
    ],
)
def test_bad_tls_parameters(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        TLSParameters(**options)


def test_tls_parameters_accept_the_seed_example() -> None:
    # The asyncio-mqtt README's example, positional order as aiomqtt's dataclass.
    params = TLSParameters(None, None, None, ssl.CERT_REQUIRED, ssl.PROTOCOL_TLS, None)
    assert params.cert_reqs is ssl.CERT_REQUIRED
