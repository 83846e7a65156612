"""How the command line shows a received message: text, verbose (``-v``), JSON (``--json``) or
raw bytes (``--raw``).

A payload is shown as text when it is valid UTF-8; otherwise as ``<N bytes, not UTF-8: HEX>``
so that binary data never reaches a terminal as control characters. JSON carries it as
``"payload"`` (text) or ``"payload_base64"``, so every payload round-trips; bytes-valued
properties (``correlation_data``) follow the same rule.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import Any

from ..messages import Message
from ..protocol.properties import Properties

__all__ = (
    "add_output_options",
    "message_json",
    "message_line",
    "payload_text",
    "properties_json",
    "write_message",
)

_HEX_SHOWN = 64  # bytes of a binary payload shown in hex before "..."


def payload_text(payload: bytes) -> str:
    """The payload as text when it is UTF-8, else a marked hexadecimal form."""
    try:
        return payload.decode()
    except UnicodeDecodeError:
        shown = payload[:_HEX_SHOWN].hex()
        more = "..." if len(payload) > _HEX_SHOWN else ""
        return f"<{len(payload)} bytes, not UTF-8: {shown}{more}>"


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``-v``, ``--json``, ``--raw``: how the messages a command receives are shown."""
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the topic, QoS, retain flag and MQTT 5 properties before the payload",
    )
    output.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per message (payload as text, or payload_base64)",
    )
    output.add_argument(
        "--raw", action="store_true", help="write the payloads' bytes as they are, nothing else"
    )


def write_message(message: Message, args: argparse.Namespace) -> None:
    """Show ``message`` on stdout as ``add_output_options``' options say, at once (flushed:
    a pipe sees each message as it comes)."""
    if args.raw:
        sys.stdout.buffer.write(message.payload)
        sys.stdout.buffer.flush()
        return
    line = message_json(message) if args.json else message_line(message, verbose=args.verbose)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def message_line(message: Message, *, verbose: bool) -> str:
    """One message for a terminal: its payload; with ``verbose``, first its topic, QoS,
    retain flag and MQTT 5 properties (``user:NAME=VALUE`` for user properties; values with
    spaces, quotes, ``=`` or control characters JSON-quoted)."""
    text = payload_text(message.payload)
    if not verbose:
        return text
    fields = [str(message.topic), f"qos={message.qos}", f"retain={int(message.retain)}"]
    for name, value in _property_items(message.properties):
        fields.append(f"{name}={_shown(value)}")
    return " ".join([*fields, text])


def message_json(message: Message) -> str:
    """One message as a JSON object on one line: topic, payload (or payload_base64), qos,
    retain, and the properties it carried."""
    record: dict[str, Any] = {"topic": str(message.topic)}
    record.update(_bytes_field("payload", message.payload))
    record["qos"] = message.qos
    record["retain"] = message.retain
    properties = properties_json(message.properties)
    if properties:
        record["properties"] = properties
    return json.dumps(record, ensure_ascii=False)


def properties_json(properties: Properties) -> dict[str, Any]:
    """The properties that are set, as JSON values: user properties a list of [name, value]
    pairs (names may repeat), bytes as text or ``NAME_base64``."""
    out: dict[str, Any] = {}
    for spec, value in properties.present():
        name = spec.name
        if isinstance(value, bytes):
            out.update(_bytes_field(name, value))
        elif name == "user_properties":
            out[name] = [list(pair) for pair in value]  # type: ignore[attr-defined]
        elif isinstance(value, tuple):
            out[name] = list(value)
        else:
            out[name] = value
    return out


def _bytes_field(name: str, data: bytes) -> dict[str, str]:
    try:
        return {name: data.decode()}
    except UnicodeDecodeError:
        return {f"{name}_base64": base64.b64encode(data).decode("ascii")}


def _property_items(properties: Properties) -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    for spec, value in properties.present():
        if spec.name == "user_properties":
            # (marked, so that a user property never reads as one of MQTT's own)
            items += [(f"user:{_shown(key)}", text) for key, text in value]  # type: ignore[attr-defined]
        elif isinstance(value, bytes):
            items.append((spec.name, payload_text(value)))
        elif isinstance(value, tuple):
            items.append((spec.name, ",".join(map(str, value))))
        else:
            items.append((spec.name, value))
    return items


def _shown(value: object) -> str:
    text = str(value)
    if not text.isprintable() or not text or any(char in " \"'=" for char in text):
        return json.dumps(text, ensure_ascii=False)
    return text
