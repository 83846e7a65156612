"""One embedded broker, several ways in: TCP, WebSocket, a Unix socket, and TLS.

    python examples/broker_listeners.py [--tls-cert server.pem --tls-key server.key
                                         --ca-file ca.pem]

Each listener takes any free port (port 0); a client reaches each one with the arguments
``listener.client_arguments()`` gives. With a certificate and its key, a TLS listener is added
(the CA file lets the client verify it). WebSocket listeners need ``asyncmqtt[websockets]``.
"""

import argparse
import asyncio
import ssl
import tempfile
from pathlib import Path

import asyncmqtt
from asyncmqtt.broker import Broker, Listener


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        listeners = [
            Listener.tcp(port=0),  # mqtt://127.0.0.1:<free port>
            Listener.websocket(port=0, path="/mqtt"),  # ws://127.0.0.1:<free port>/mqtt
            Listener.unix(Path(folder) / "mqtt.sock"),  # unix:<path>
        ]
        client_tls = None
        if options.tls_cert:
            server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_tls.load_cert_chain(options.tls_cert, options.tls_key)
            listeners.append(Listener.tls(server_tls, port=0))  # mqtts://127.0.0.1:<free port>
            client_tls = ssl.create_default_context(cafile=options.ca_file)

        async with Broker(listeners=listeners) as broker:
            for listener in broker.listeners:  # with the ports they got
                arguments = listener.client_arguments()
                if listener.uses_tls:
                    arguments["tls_context"] = client_tls
                async with asyncmqtt.Client(**arguments) as client:
                    await client.subscribe("hello", qos=1)
                    await client.publish("hello", f"over {listener.transport}", qos=1)
                    message = await anext(client.messages)
                scheme = listener.url.split(":")[0]
                print(f"{scheme}: {message.payload.decode()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tls-cert", help="the server's certificate (PEM)")
    parser.add_argument("--tls-key", help="its private key (PEM)")
    parser.add_argument("--ca-file", help="the CA that signed it, for the client (PEM)")
    asyncio.run(main(parser.parse_args()))
