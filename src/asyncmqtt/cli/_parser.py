"""The command line's grammar: the parser class, exit codes, and the option groups that several
subcommands share (where to connect, how, and the MQTT 5 properties of a message).

``-h`` is ``--host``, as in ``mosquitto_pub`` and MQTT.js's ``mqtt``, so help is ``--help``
only. A usage error exits with status 1, not argparse's 2 (2 means "could not connect" here).
"""

from __future__ import annotations

import argparse
import enum
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = (
    "ExitCode",
    "Parser",
    "UsageError",
    "add_connection_options",
    "add_debug_option",
    "add_message_properties",
    "add_payload_options",
    "add_subparser",
    "duration",
    "format_examples",
    "non_negative_int",
    "port_number",
    "positive_int",
    "qos",
)


class ExitCode(enum.IntEnum):
    """The command's exit status, as the documentation lists them."""

    OK = 0
    USAGE = 1
    """A usage error: a bad option or value (also a file that cannot be read, a missing extra)."""
    CONNECT = 2
    """Could not connect, or the connection was lost."""
    TIMEOUT = 3
    """An answer did not come in time (an acknowledgement, a response, ``sub -W``)."""
    REFUSED = 4
    """The broker refused: a failure code in CONNACK, SUBACK, PUBACK / PUBREC."""


class UsageError(Exception):
    """A usage error found after parsing (values that do not go together); exit status 1."""


class _Formatter(argparse.HelpFormatter):
    """Wraps the description's paragraphs; keeps indented lines (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            if not line or line[0].isspace():
                lines.append(indent + line)
            else:
                lines.append(super()._fill_text(line, width, indent))
        return "\n".join(lines)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors exit with status 1 and that has ``--help``
    only (``-h`` is the host)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("add_help", False)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self.add_argument("--help", action="help", help="show this help and exit")

    def error(self, message: str) -> NoReturn:
        # One line, as every other error of the command (argparse would print the usage
        # first): what is wrong, and where to look.
        self.exit(ExitCode.USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def add_subparser(
    subparsers: argparse._SubParsersAction[Parser],
    name: str,
    *,
    summary: str,
    description: str,
    examples: str,
) -> Parser:
    """A subcommand's parser, with its one-line ``summary`` (for ``asyncmqtt --help``), its
    ``description`` and its ``examples`` (shown after the options by ``--help``)."""
    parser: Parser = subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"examples:\n{examples}",
        add_help=False,
    )
    return parser


# -- value types (argparse calls them; ArgumentTypeError becomes a usage error) -------------


def _integer(text: str, low: int, high: int | None, what: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low or (high is not None and value > high):
        allowed = f"at least {low}" if high is None else f"{low} to {high}"
        raise argparse.ArgumentTypeError(f"{what} must be {allowed}, got {value}")
    return value


def port_number(text: str) -> int:
    """A TCP port, 0 to 65535."""
    return _integer(text, 0, 65535, "a port")


def positive_int(text: str) -> int:
    """A whole number from 1."""
    return _integer(text, 1, None, "the number")


def non_negative_int(text: str) -> int:
    """A whole number from 0."""
    return _integer(text, 0, None, "the number")


def qos(text: str) -> int:
    """A QoS: 0, 1 or 2."""
    return _integer(text, 0, 2, "the QoS")


def _four_byte(text: str) -> int:
    return _integer(text, 0, 0xFFFF_FFFF, "an interval in seconds")


def duration(text: str) -> float:
    """Seconds: a number of 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):  # (also NaN)
        raise argparse.ArgumentTypeError(f"seconds must be a finite number >= 0, got {text}")
    return value


def _protocol(text: str) -> int:
    # (also mosquitto's mqttv31, mqttv311, mqttv5 and the protocol levels 3, 4, 5)
    versions = {"3.1": 3, "31": 3, "3": 3, "3.1.1": 4, "311": 4, "4": 4, "5": 5, "5.0": 5}
    version = versions.get(text.lower().removeprefix("mqttv").removeprefix("v"))
    if version is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an MQTT version: use 3.1, 3.1.1 or 5")
    return version


def _key_value(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


# -- shared option groups ----------------------------------------------------------------------


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    """``-d/--debug``: tracebacks and the library's DEBUG log on stderr."""
    parser.add_argument(
        "-d",
        "--debug",
        action="store_true",
        help="show the library's debug log and, on an error, its traceback",
    )


def add_connection_options(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    """Where and how to connect: the options every client subcommand shares. ``many``: the
    command makes many clients (``-i`` is then a prefix of their identifiers)."""
    where = parser.add_argument_group("connection")
    where.add_argument(
        "--url",
        metavar="URL",
        help="the broker as mqtt[s]://[USER[:PASSWORD]@]HOST[:PORT] or "
        "ws[s]://[USER[:PASSWORD]@]HOST[:PORT][/PATH]; -h, -p, -u, -P override its parts",
    )
    where.add_argument("-h", "--host", help="the broker's host name or address (localhost)")
    where.add_argument(
        "-p",
        "--port",
        type=port_number,
        help="the broker's port (1883; 8883 with TLS; 80 / 443 over WebSocket)",
    )
    where.add_argument("-u", "--username", help="the user name to connect with")
    where.add_argument(
        "-P",
        "--password",
        help="the password (visible to other users in the process list: prefer the "
        "environment variable MQTT_PASSWORD, or the prompt a terminal gets with -u)",
    )
    where.add_argument(
        "-i",
        "--id",
        dest="identifier",
        metavar="ID",
        help=(
            "the client identifiers' prefix (a number is added per client)"
            if many
            else "the client identifier (default: asyncmqtt and random hex digits)"
        ),
    )
    where.add_argument(
        "-k",
        "--keepalive",
        type=lambda text: _integer(text, 0, 65535, "the keepalive"),
        default=60,
        metavar="SECONDS",
        help="the keepalive interval (60)",
    )
    where.add_argument(
        "-V",
        "--protocol",
        type=_protocol,
        metavar="VERSION",
        help="3.1, 3.1.1 or 5 (default: 5, or 3.1.1 when the broker does not speak 5)",
    )
    where.add_argument(
        "--clean-start",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start a new session (the default), or with --no-clean-start resume the one the "
        "broker kept (MQTT 5: it then lasts --session-expiry, default forever)",
    )
    where.add_argument(
        "--session-expiry",
        type=_four_byte,
        metavar="SECONDS",
        help="MQTT 5: how long the broker keeps the session after the connection ends",
    )
    where.add_argument(
        "--timeout",
        type=duration,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the broker: connecting, each acknowledgement, a response (10)",
    )
    tls = parser.add_argument_group("TLS")
    tls.add_argument("--tls", action="store_true", help="connect with TLS (mqtts:// and wss:// do)")
    tls.add_argument("--cafile", metavar="FILE", help="the CA certificates to trust (PEM)")
    tls.add_argument("--cert", metavar="FILE", help="a client certificate (PEM)")
    tls.add_argument("--key", metavar="FILE", help="the client certificate's private key (PEM)")
    tls.add_argument(
        "--insecure",
        action="store_true",
        help="do not check that the certificate names the host (as mosquitto's --insecure)",
    )
    tls.add_argument(
        "--no-verify",
        action="store_true",
        help="do not verify the broker's certificate at all (as MQTT.js's --insecure)",
    )
    ws = parser.add_argument_group("WebSocket (needs the websockets extra)")
    ws.add_argument("--ws", action="store_true", help="MQTT over WebSocket (ws:// and wss:// do)")
    ws.add_argument("--ws-path", metavar="PATH", help="the WebSocket request path (/mqtt)")
    ws.add_argument(
        "--ws-header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an HTTP header for the WebSocket handshake (repeatable)",
    )
    proxy = parser.add_argument_group("proxy (needs the proxy extra)")
    proxy.add_argument(
        "--proxy",
        metavar="URL",
        help="connect through a proxy: socks5://, socks5h:// (the proxy resolves the name), "
        "socks4://, socks4a:// or http:// [USER[:PASSWORD]@]HOST[:PORT]",
    )
    will = parser.add_argument_group("will (what the broker publishes if we vanish)")
    will.add_argument("--will-topic", metavar="TOPIC", help="the will's topic")
    will.add_argument("--will-payload", metavar="TEXT", help="the will's payload (empty)")
    will.add_argument("--will-qos", type=qos, default=0, metavar="QOS", help="its QoS (0)")
    will.add_argument("--will-retain", action="store_true", help="the broker retains it")
    mqtt5 = parser.add_argument_group("MQTT 5")
    mqtt5.add_argument(
        "-D",
        "--user-property",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="a user property (repeatable) on what this command sends (PUBLISH; SUBSCRIBE for sub)",
    )
    add_debug_option(parser)


def add_payload_options(parser: argparse.ArgumentParser, *, lines: bool) -> None:
    """Where the payload comes from (one of them is required); ``lines``: also
    ``--stdin-lines``, a message per line."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("-m", "--message", metavar="TEXT", help="the payload, as UTF-8 text")
    source.add_argument("-f", "--file", metavar="FILE", help="the payload: a file's bytes")
    source.add_argument("--stdin", action="store_true", help="the payload: all of stdin")
    if lines:
        source.add_argument(
            "--stdin-lines",
            action="store_true",
            help="one message per line of stdin (without its line break; empty lines are skipped)",
        )
    source.add_argument("-n", "--null", action="store_true", help="an empty payload")


def add_message_properties(parser: argparse.ArgumentParser, *, request: bool = False) -> None:
    """The MQTT 5 properties of a PUBLISH (pub; req without the two it sets itself)."""
    group = parser.add_argument_group("MQTT 5 message properties")
    group.add_argument("--content-type", metavar="TYPE", help="e.g. application/json")
    group.add_argument(
        "--message-expiry",
        type=_four_byte,
        metavar="SECONDS",
        help="the broker drops the message when not delivered within this time",
    )
    if request:
        parser.set_defaults(response_topic=None, correlation_data=None)
        return
    group.add_argument("--response-topic", metavar="TOPIC", help="where to answer")
    group.add_argument(
        "--correlation-data", metavar="TEXT", help="data the responder sends back (UTF-8)"
    )


def format_examples(lines: Sequence[tuple[str, str]]) -> str:
    """The examples section of a ``--help``: each command line under its explanation."""
    return "\n".join(f"  # {what}\n  {command}\n" for what, command in lines)
