"""``asyncmqtt broker``: the embedded broker (``asyncmqtt.broker.Broker``) in the foreground,
for local development, logging every connection on stderr until Ctrl-C."""

from __future__ import annotations

import argparse
import hmac
import logging
import ssl
import sys
from typing import Final

from ..protocol.broker_config import AuthenticateHook
from ..protocol.enums import ConnAckReasonCode
from ._connect import require
from ._parser import (
    ExitCode,
    Parser,
    UsageError,
    add_debug_option,
    add_subparser,
    format_examples,
    port_number,
)

__all__ = ("add_parser", "authenticator", "run")

SUMMARY: Final = "run the embedded broker (for local development)"
EXAMPLES: Final = format_examples(
    [
        ("MQTT on 127.0.0.1:1883", "asyncmqtt broker"),
        (
            "also MQTT over WebSocket on port 8080, reachable from other machines",
            "asyncmqtt broker --host 0.0.0.0 --ws-port 8080",
        ),
        (
            "TLS on 8883 besides plain MQTT, and only two users",
            "asyncmqtt broker --tls-cert server.pem --tls-key server.key "
            "--allow alice:secret --allow bob:hunter2",
        ),
        ("a free port, printed in the log", "asyncmqtt broker --port 0"),
    ]
)


def add_parser(subparsers: argparse._SubParsersAction[Parser]) -> None:
    parser = add_subparser(
        subparsers,
        "broker",
        summary=SUMMARY,
        description="Run asyncmqtt's embedded broker in the foreground: MQTT 3.1, 3.1.1 and "
        "5.0, state in memory only. It logs each connection on stderr. Ctrl-C stops it "
        "(MQTT 5 clients get DISCONNECT 0x8B, Server shutting down). For production, use a "
        "broker such as mosquitto, EMQX, HiveMQ or VerneMQ.",
        examples=EXAMPLES,
    )
    add_debug_option(parser)
    parser.add_argument(
        "-h",
        "--host",
        default="127.0.0.1",
        help="the address to listen on (127.0.0.1; 0.0.0.0 for every IPv4 interface)",
    )
    parser.add_argument(
        "-p",
        "--port",
        type=port_number,
        default=1883,
        help="the MQTT port (1883; 0 picks a free one)",
    )
    parser.add_argument("--ws-port", type=port_number, help="also MQTT over WebSocket here")
    parser.add_argument("--ws-path", default="/mqtt", help="the WebSocket path (/mqtt)")
    tls = parser.add_argument_group("TLS")
    tls.add_argument("--tls-cert", metavar="FILE", help="the server certificate chain (PEM)")
    tls.add_argument("--tls-key", metavar="FILE", help="its private key (PEM)")
    tls.add_argument(
        "--tls-port", type=port_number, default=8883, help="the MQTT over TLS port (8883)"
    )
    tls.add_argument("--wss-port", type=port_number, help="also MQTT over WebSocket with TLS here")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="USER:PASSWORD",
        help="accept only these credentials (repeatable); without it, anyone may connect",
    )


def authenticator(allowed: dict[str, str]) -> AuthenticateHook:
    """The ``authenticate`` hook accepting only ``allowed`` user names with their passwords."""
    expected = {name: password.encode() for name, password in allowed.items()}

    def authenticate(client_id: str, username: str | None, password: bytes | None) -> int | None:
        if username is None:
            return ConnAckReasonCode.NOT_AUTHORIZED
        wanted = expected.get(username)
        if wanted is None or password is None or not hmac.compare_digest(wanted, password):
            return ConnAckReasonCode.BAD_USER_NAME_OR_PASSWORD
        return None

    return authenticate


def _credentials(entries: list[str]) -> dict[str, str]:
    allowed: dict[str, str] = {}
    for entry in entries:
        name, colon, password = entry.partition(":")
        if not colon or not name:
            raise UsageError(f"--allow {name or entry!r}...: give USER:PASSWORD")
        allowed[name] = password
    return allowed


async def run(args: argparse.Namespace) -> int:
    """Serve until cancelled (Ctrl-C)."""
    from ..broker import Broker, Listener  # noqa: PLC0415 - only the broker command needs it

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for name in ("asyncmqtt.broker", "asyncmqtt"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if args.debug else logging.INFO)
        logger.propagate = False
    if args.ws_port is not None or args.wss_port is not None:
        require("websockets", "websockets", "--ws-port / --wss-port (MQTT over WebSocket)")
    listeners = [Listener.tcp(args.port, args.host)]
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    context = None
    if args.tls_cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        listeners.append(Listener.tls(context, args.tls_port, args.host))
    elif args.wss_port is not None:
        raise UsageError("--wss-port needs --tls-cert and --tls-key")
    if args.ws_port is not None:
        listeners.append(Listener.websocket(args.ws_port, args.host, path=args.ws_path))
    if args.wss_port is not None:
        listeners.append(
            Listener.websocket(args.wss_port, args.host, path=args.ws_path, tls_context=context)
        )
    allowed = _credentials(args.allow)
    broker = Broker(listeners=listeners, authenticate=authenticator(allowed) if allowed else None)
    await broker.serve_forever()
    return ExitCode.OK
