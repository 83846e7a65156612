"""``asyncmqtt sub``: subscribe and print each message, until Ctrl-C, ``-C COUNT`` or ``-W``."""

from __future__ import annotations

import argparse
import asyncio
from typing import Final

from ..client import Client
from ..protocol.properties import Properties
from ..topics import Wildcard
from ._connect import Broker, client_arguments
from ._output import add_output_options, write_message
from ._parser import (
    ExitCode,
    Parser,
    UsageError,
    add_connection_options,
    add_subparser,
    duration,
    format_examples,
    positive_int,
    qos,
)

__all__ = ("add_parser", "run")

SUMMARY: Final = "subscribe and print the messages"
EXAMPLES: Final = format_examples(
    [
        (
            "every message under sensors/, with topic, QoS and properties",
            "asyncmqtt sub -t 'sensors/#' -v",
        ),
        (
            "one message as JSON, waiting at most 5 s",
            "asyncmqtt sub -t jobs/done -C 1 -W 5 --json",
        ),
        (
            "over TLS with a user name (the password from MQTT_PASSWORD or a prompt)",
            "asyncmqtt sub --url mqtts://broker.example -u alice -t alerts -q 1",
        ),
        (
            "over WebSocket, through a SOCKS5 proxy",
            "asyncmqtt sub --url wss://broker.example/mqtt --proxy socks5h://127.0.0.1:1080 -t x",
        ),
        ("keep listening across broker restarts", "asyncmqtt sub -t 'logs/#' --reconnect"),
    ]
)


def add_parser(subparsers: argparse._SubParsersAction[Parser]) -> None:
    parser = add_subparser(
        subparsers,
        "sub",
        summary=SUMMARY,
        description="Subscribe to one or more topic filters and print each message as it "
        "comes: its payload as text (or <N bytes, not UTF-8: HEX> when it is not UTF-8). "
        "Ctrl-C ends it cleanly (status 0).",
        examples=EXAMPLES,
    )
    parser.add_argument(
        "-t",
        "--topic",
        dest="filters",
        action="append",
        required=True,
        metavar="FILTER",
        help="a topic filter (+ and # wildcards); repeatable",
    )
    parser.add_argument("-q", "--qos", type=qos, default=0, help="the QoS asked for (0)")
    parser.add_argument("-C", "--count", type=positive_int, help="exit after COUNT messages")
    parser.add_argument(
        "-W",
        "--wait",
        type=duration,
        metavar="SECONDS",
        help="exit after SECONDS (status 3 when -C messages did not all come by then)",
    )
    add_output_options(parser)
    parser.add_argument(
        "--reconnect",
        action="store_true",
        help="when the connection is lost, connect again (with backoff) and resubscribe",
    )
    add_connection_options(parser)
    parser.set_defaults(client_command=run)


async def run(args: argparse.Namespace, broker: Broker, password: str | None) -> int:
    """Subscribe, print, and return the exit status."""
    if args.wait is not None and args.wait == 0:
        raise UsageError("-W must be more than 0 seconds")
    filters = [Wildcard(text) for text in args.filters]  # (checked before connecting)
    arguments = client_arguments(args, broker, password, reconnect=args.reconnect)
    properties = Properties(user_properties=tuple(args.user_property)) or None
    client = Client(**arguments)
    received = 0
    async with client:
        await client.subscribe([(text, args.qos) for text in filters], properties=properties)
        try:
            async with asyncio.timeout(args.wait):
                async for message in client.messages:
                    write_message(message, args)
                    received += 1
                    if received == args.count:
                        break
        except TimeoutError:
            if args.count is not None:
                raise TimeoutError(
                    f"-W: {received} of {args.count} messages came within {args.wait:g} s"
                ) from None
    return ExitCode.OK
