"""The connection options of the command line, turned into ``asyncmqtt.Client``'s keyword
arguments: the command connects with exactly the library's connection code.

Where: ``--url`` first (``mqtt``, ``mqtts``, ``ws``, ``wss``; also ``tcp``, ``ssl``, ``tls``),
then ``-h`` / ``-p`` / ``-u`` / ``-P`` override its parts. The password comes from ``-P``, the
URL, the environment variable ``MQTT_PASSWORD`` or, with ``-u`` on an interactive terminal, a
prompt that does not echo; it is never printed nor logged. Everything the library checks (a
topic, a header, a property) is checked there, when the ``Client`` or the value is made, and
its ``ValueError`` / ``TypeError`` is a usage error.
"""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import os
import ssl
import sys
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from ..protocol.properties import Properties
from ..transports import ProxySettings, ProxyType, TLSParameters
from ..types import Will
from ._parser import UsageError

__all__ = (
    "PASSWORD_VARIABLE",
    "Broker",
    "broker_from",
    "client_arguments",
    "message_properties",
    "proxy_from_url",
    "read_password",
    "require",
)

PASSWORD_VARIABLE: Final = "MQTT_PASSWORD"
_SCHEMES: Final = {
    # scheme: (transport, TLS, default port)
    "mqtt": ("tcp", False, 1883),
    "tcp": ("tcp", False, 1883),
    "mqtts": ("tcp", True, 8883),
    "ssl": ("tcp", True, 8883),
    "tls": ("tcp", True, 8883),
    "ws": ("websockets", False, 80),
    "wss": ("websockets", True, 443),
}
_PROXY_SCHEMES: Final = {
    # scheme: (kind, whether the proxy resolves the broker's name) - curl's conventions
    "socks5": (ProxyType.SOCKS5, False),
    "socks5h": (ProxyType.SOCKS5, True),
    "socks4": (ProxyType.SOCKS4, False),
    "socks4a": (ProxyType.SOCKS4, True),
    "http": (ProxyType.HTTP, True),
}


@dataclass(frozen=True, slots=True)
class Broker:
    """Where to connect, from ``--url`` and the options that override its parts."""

    host: str
    port: int
    transport: str  # "tcp" or "websockets"
    tls: bool
    websocket_path: str | None
    username: str | None
    password: str | None  # from -P or the URL only (see read_password for the rest)

    @property
    def url(self) -> str:
        """The broker as a URL without credentials, for messages."""
        scheme = {"tcp": "mqtt", "websockets": "ws"}[self.transport] + ("s" if self.tls else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{self.websocket_path or ''}"


def broker_from(args: argparse.Namespace) -> Broker:
    """The broker the options name; ``UsageError`` for a URL that does not name one."""
    host, port, username, password, path = "localhost", None, None, None, None
    transport, tls = "tcp", False
    if args.url is not None:
        parts = urlsplit(args.url)
        scheme = _SCHEMES.get(parts.scheme.lower())
        if scheme is None or not parts.hostname:
            raise UsageError(
                f"--url {args.url!r} is not mqtt[s]://HOST[:PORT] or ws[s]://HOST[:PORT][/PATH]"
            )
        transport, tls, _default = scheme
        host = parts.hostname
        try:
            port = parts.port
        except ValueError:
            raise UsageError(f"--url {args.url!r} has an invalid port") from None
        username = None if parts.username is None else unquote(parts.username)
        password = None if parts.password is None else unquote(parts.password)
        if parts.path not in ("", "/"):
            if transport != "websockets":
                raise UsageError(f"--url {args.url!r}: only ws:// and wss:// URLs have a path")
            path = parts.path
    if args.ws:
        transport = "websockets"
    tls = tls or args.tls or any((args.cafile, args.cert, args.key, args.no_verify))
    if args.ws_path is not None:
        if transport != "websockets":
            raise UsageError("--ws-path needs --ws (or a ws:// URL)")
        path = args.ws_path
    if args.ws_header and transport != "websockets":
        raise UsageError("--ws-header needs --ws (or a ws:// URL)")
    if args.insecure and not tls:
        raise UsageError("--insecure needs TLS (--tls, or an mqtts:// or wss:// URL)")
    if args.host is not None:
        host = args.host
    if args.port is not None:
        port = args.port
    if port is None:
        port = {("tcp", False): 1883, ("tcp", True): 8883}.get((transport, tls), 443 if tls else 80)
    if args.username is not None:
        username = args.username
    if args.password is not None:
        password = args.password
    return Broker(host, port, transport, tls, path, username, password)


def read_password(broker: Broker) -> str | None:
    """The password: given (``-P``, the URL); else, with a user name, ``MQTT_PASSWORD`` or, on
    an interactive terminal, typed at a prompt that does not echo (nothing typed: none)."""
    if broker.password is not None or broker.username is None:
        return broker.password
    from_environment = os.environ.get(PASSWORD_VARIABLE)
    if from_environment is not None:
        return from_environment
    if broker.username is not None and sys.stdin.isatty():
        typed = getpass.getpass(f"Password for {broker.username} at {broker.url}: ")
        return typed or None
    return None


def client_arguments(
    args: argparse.Namespace,
    broker: Broker,
    password: str | None,
    *,
    reconnect: bool = False,
) -> dict[str, Any]:
    """``Client``'s keyword arguments for the connection options (the identifier too)."""
    arguments: dict[str, Any] = {
        "hostname": broker.host,
        "port": broker.port,
        "username": broker.username,
        "password": password,
        "identifier": args.identifier,
        "keepalive": args.keepalive,
        "protocol": args.protocol,
        "timeout": args.timeout,
        "reconnect": reconnect,
    }
    if args.clean_start is True:
        arguments["clean_start"] = True
    elif args.clean_start is False:
        arguments["clean_session"] = False  # (MQTT 5: the session never expires by default)
    if args.session_expiry is not None:
        arguments["properties"] = Properties(session_expiry_interval=args.session_expiry)
    if broker.transport == "websockets":
        require("websockets", "websockets", "--ws (MQTT over WebSocket)")
        arguments["transport"] = "websockets"
        arguments["websocket_path"] = broker.websocket_path
        if args.ws_header:
            arguments["websocket_headers"] = dict(map(_header, args.ws_header))
    if broker.tls:
        arguments["tls_params"] = TLSParameters(
            ca_certs=args.cafile,
            certfile=args.cert,
            keyfile=args.key,
            cert_reqs=ssl.CERT_NONE if args.no_verify else None,
        )
        arguments["tls_insecure"] = args.insecure
    if args.proxy is not None:
        require("python_socks", "proxy", "--proxy")
        arguments["proxy"] = proxy_from_url(args.proxy)
    will = _will(args)
    if will is not None:
        arguments["will"] = will
    return arguments


def message_properties(args: argparse.Namespace) -> Properties | None:
    """The MQTT 5 properties of the messages pub / req send (None when there are none)."""
    properties = Properties(
        user_properties=tuple(args.user_property),
        content_type=args.content_type,
        message_expiry_interval=args.message_expiry,
        response_topic=args.response_topic,
        correlation_data=None if args.correlation_data is None else args.correlation_data.encode(),
    )
    return properties or None


def proxy_from_url(url: str) -> ProxySettings:
    """``ProxySettings`` from ``socks5://[user[:password]@]host[:port]`` and the like."""
    parts = urlsplit(url)
    scheme = _PROXY_SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise UsageError(
            f"--proxy {url!r} is not SCHEME://[USER[:PASSWORD]@]HOST[:PORT] with SCHEME one "
            f"of {', '.join(_PROXY_SCHEMES)}"
        )
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"--proxy {url!r} has an invalid port") from None
    kind, remote_dns = scheme
    return ProxySettings(
        proxy_type=kind,
        proxy_addr=parts.hostname,
        proxy_port=port,
        proxy_rdns=remote_dns,
        proxy_username=None if parts.username is None else unquote(parts.username),
        proxy_password=None if parts.password is None else unquote(parts.password),
    )


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon:
        raise UsageError(f"--ws-header {text!r} is not 'NAME: VALUE'")
    return name.strip(), value.strip()


def _will(args: argparse.Namespace) -> Will | None:
    if args.will_topic is None:
        if args.will_payload is not None or args.will_qos or args.will_retain:
            raise UsageError("--will-payload, --will-qos and --will-retain need --will-topic")
        return None
    return Will(args.will_topic, args.will_payload, args.will_qos, args.will_retain)


def require(module: str, extra: str, what: str) -> None:
    """``UsageError`` when ``module``, which ``what`` needs, is not installed: it says how to
    install it, with the ``cli`` extra (every transport of the command) or the library's own
    ``extra`` for it. (The library would say it too, later, naming its own argument.)"""
    if importlib.util.find_spec(module) is None:
        package = {"python_socks": "python-socks"}.get(module, module)
        raise UsageError(
            f"{what} needs the {package!r} package, which is not installed; install it with: "
            f"pip install 'asyncmqtt[cli]' (or 'asyncmqtt[{extra}]')"
        )
