"""Talk to a broker over WebSocket (ws://) or secure WebSocket (wss://).

    python examples/over_websockets.py HOST [--port 8080] [--path /mqtt]
                                       [--header NAME=VALUE ...] [--tls [--ca-file CA.pem]]

Needs the WebSocket extra: ``pip install 'asyncmqtt[websockets]'``. The upgrade request asks for
the subprotocol "mqtt" at --path (default "/mqtt"); each --header is added to it (an
Authorization header, say). --tls runs the WebSocket over TLS, verified with --ca-file or the
system's CAs. Example: ``python examples/over_websockets.py test.mosquitto.org --port 8081 --tls``.
"""

import argparse
import asyncio

import asyncmqtt

TOPIC = "asyncmqtt/examples/websockets"


async def main(options: argparse.Namespace) -> None:
    headers = dict(header.split("=", 1) for header in options.header)
    tls_params = asyncmqtt.TLSParameters(ca_certs=options.ca_file) if options.tls else None
    async with asyncmqtt.Client(
        options.host,
        options.port,
        transport="websockets",
        websocket_path=options.path,
        websocket_headers=headers or None,
        tls_params=tls_params,
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
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--ca-file")
    asyncio.run(main(parser.parse_args()))
