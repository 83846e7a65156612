"""``asyncmqtt req``: MQTT 5 request / response (``Client.request``): publish a request, print
the response, exit."""

from __future__ import annotations

import argparse
from typing import Final

from ..client import Client
from ..topics import Topic
from ._connect import Broker, client_arguments, message_properties
from ._output import add_output_options, write_message
from ._parser import (
    ExitCode,
    Parser,
    add_connection_options,
    add_message_properties,
    add_payload_options,
    add_subparser,
    format_examples,
    qos,
)
from ._pub import given_payload

__all__ = ("add_parser", "run")

SUMMARY: Final = "send an MQTT 5 request and print the response"
EXAMPLES: Final = format_examples(
    [
        (
            "ask a service, wait 10 s at most for its answer",
            "asyncmqtt req -t services/adder -m '[1, 2]'",
        ),
        (
            "the whole response as JSON (properties too), 3 s at most",
            "asyncmqtt req -t services/time -n --json --timeout 3",
        ),
    ]
)


def add_parser(subparsers: argparse._SubParsersAction[Parser]) -> None:
    parser = add_subparser(
        subparsers,
        "req",
        summary=SUMMARY,
        description="Publish a request with a Response Topic and Correlation Data (MQTT 5), "
        "wait for the response (--timeout, 10 s by default) and print it as sub prints a "
        "message. The responder publishes its answer to the Response Topic with the same "
        "Correlation Data (asyncmqtt's client.respond does). Status 3 when no response came "
        "in time, 4 when the broker said that nobody subscribes to the topic (PUBACK 0x10).",
        examples=EXAMPLES,
    )
    parser.add_argument("-t", "--topic", required=True, help="the topic to send the request to")
    add_payload_options(parser, lines=False)
    parser.add_argument("-q", "--qos", type=qos, default=1, help="the request's QoS (1)")
    add_output_options(parser)
    add_message_properties(parser, request=True)
    add_connection_options(parser)
    parser.set_defaults(client_command=run)


async def run(args: argparse.Namespace, broker: Broker, password: str | None) -> int:
    """Send the request, print the response, return the exit status."""
    topic = Topic(args.topic)  # (everything checked and read before connecting)
    properties = message_properties(args)
    payload = given_payload(args)
    async with Client(**client_arguments(args, broker, password)) as client:
        response = await client.request(topic, payload, qos=args.qos, properties=properties)
        write_message(response, args)
    return ExitCode.OK
