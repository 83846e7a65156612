"""``asyncmqtt pub``: publish one message (or one per line of stdin, or one repeated) and exit
with status 0 only when each one was acknowledged (QoS 1 / 2) or written (QoS 0)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

from ..client import Client
from ..topics import Topic
from ._connect import Broker, client_arguments, message_properties
from ._parser import (
    ExitCode,
    Parser,
    add_connection_options,
    add_message_properties,
    add_payload_options,
    add_subparser,
    duration,
    format_examples,
    positive_int,
    qos,
)

__all__ = ("add_parser", "given_payload", "run")

SUMMARY: Final = "publish a message"
EXAMPLES: Final = format_examples(
    [
        ("a text message", "asyncmqtt pub -t sensors/temp -m 21.5"),
        (
            "retained, QoS 1, with MQTT 5 properties",
            "asyncmqtt pub -t config -m '{\"on\": true}' -r -q 1 "
            "--content-type application/json -D source=cli",
        ),
        ("a file's bytes", "asyncmqtt pub -t firmware/blob -f image.bin -q 1"),
        (
            "each line of a log as a message",
            "tail -f app.log | asyncmqtt pub -t logs/app --stdin-lines",
        ),
        ("ten messages, one a second", "asyncmqtt pub -t tick -m hello --count 10 --interval 1"),
        ("clear a retained message (an empty one)", "asyncmqtt pub -t config -n -r"),
    ]
)


def add_parser(subparsers: argparse._SubParsersAction[Parser]) -> None:
    parser = add_subparser(
        subparsers,
        "pub",
        summary=SUMMARY,
        description="Publish a message and exit: with status 0 once the broker acknowledged "
        "it (QoS 1 and 2) or it was written (QoS 0).",
        examples=EXAMPLES,
    )
    parser.add_argument("-t", "--topic", required=True, help="the topic to publish to")
    add_payload_options(parser, lines=True)
    parser.add_argument("-q", "--qos", type=qos, default=0, help="0, 1 or 2 (0)")
    parser.add_argument(
        "-r", "--retain", action="store_true", help="the broker keeps it for new subscribers"
    )
    parser.add_argument(
        "--count", type=positive_int, default=1, help="publish each message COUNT times (1)"
    )
    parser.add_argument(
        "--interval",
        type=duration,
        default=0.0,
        metavar="SECONDS",
        help="with --count: the time between two publishes (0)",
    )
    add_message_properties(parser)
    add_connection_options(parser)
    parser.set_defaults(client_command=run)


async def run(args: argparse.Namespace, broker: Broker, password: str | None) -> int:
    """Publish and return the exit status (a failure raises)."""
    # Everything is checked and read before connecting: a bad topic, property or file
    # sends nothing.
    topic = Topic(args.topic)
    properties = message_properties(args)
    first = given_payload(args)
    client = Client(**client_arguments(args, broker, password))
    async with client:
        published = 0
        async for payload in _payloads(args, first):
            for _ in range(args.count):
                if published and args.interval:
                    await asyncio.sleep(args.interval)
                await client.publish(topic, payload, args.qos, args.retain, properties)
                published += 1
    return ExitCode.OK


def given_payload(args: argparse.Namespace) -> bytes | None:
    """The payload ``add_payload_options``' options give (None for --stdin-lines)."""
    if args.message is not None:
        payload: bytes = args.message.encode()
        return payload
    if args.file is not None:
        return Path(args.file).read_bytes()
    if args.stdin:
        return sys.stdin.buffer.read()
    if args.null:
        return b""
    return None


async def _payloads(args: argparse.Namespace, first: bytes | None) -> AsyncIterator[bytes]:
    if first is not None:
        yield first
        return
    async for line in _stdin_lines():
        if line:
            yield line


async def _stdin_lines() -> AsyncIterator[bytes]:
    """The lines of stdin without their line breaks, read by a daemon thread: a read that
    blocks (a terminal, ``tail -f``) must neither stop the event loop (keepalive) nor keep
    the process alive after Ctrl-C."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1000)

    def read() -> None:
        try:
            for line in sys.stdin.buffer:
                asyncio.run_coroutine_threadsafe(lines.put(line), loop).result()
            asyncio.run_coroutine_threadsafe(lines.put(None), loop).result()
        except (RuntimeError, asyncio.CancelledError):
            return  # the command ended first (the event loop is closed)

    threading.Thread(target=read, name="asyncmqtt-stdin", daemon=True).start()
    while (line := await lines.get()) is not None:
        line = line.removesuffix(b"\n")
        yield line.removesuffix(b"\r")
