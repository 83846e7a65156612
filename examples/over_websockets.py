"""Talk to a broker over WebSocket (ws://) or secure WebSocket (wss://).

    python examples/over_websockets.py HOST [--port 8080] [--path /mqtt]
                                       [--header NAME=VALUE ...] [--token-file FILE]
                                       [--tls [--ca-file CA.pem]]

Needs the WebSocket extra: ``pip install 'asyncmqtt[websockets]'``. The upgrade request asks for
the subprotocol "mqtt" at --path (default "/mqtt"); each --header is added to it. With
--token-file the request carries "Authorization: Bearer TOKEN" too, TOKEN read from the file at
every connection attempt (a token that another program renews). --tls runs the WebSocket over
TLS, verified with --ca-file or the system's CAs. Example:
``python examples/over_websockets.py test.mosquitto.org --port 8081 --tls``.
"""

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncmqtt

TOPIC = "asyncmqtt/examples/websockets"
Headers = dict[str, str]  # HTTP header name -> value


def upgrade_headers(options: argparse.Namespace) -> Headers | Callable[[Headers], Headers] | None:
    """The ``websocket_headers``: a dict, or a callable when a token must be read each time."""
    extra = dict(header.split("=", 1) for header in options.header)
    if options.token_file is None:
        return extra or None  # a dict: added to the client's own headers

    def with_token(ours: Headers) -> Headers:
        # Called on every connection attempt with the client's headers; returns all to send.
        token = Path(options.token_file).read_text().strip()  # a small file: a quick read
        return {**ours, **extra, "Authorization": f"Bearer {token}"}

    return with_token


async def main(options: argparse.Namespace) -> None:
    tls_params = asyncmqtt.TLSParameters(ca_certs=options.ca_file) if options.tls else None
    async with asyncmqtt.Client(
        options.host,
        options.port,
        transport="websockets",
        websocket_path=options.path,
        websocket_headers=upgrade_headers(options),
        tls_params=tls_params,  # None: ws://, TLS settings: wss://
    ) as client:
        await client.subscribe(TOPIC, qos=1)
        await client.publish(TOPIC, payload="hello over WebSocket", qos=1)
        async for message in client.messages:
            print(f"{message.topic}: {message.payload.decode()}")
            break


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--path", default="/mqtt")
    parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--token-file")
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--ca-file")
    asyncio.run(main(parser.parse_args()))
