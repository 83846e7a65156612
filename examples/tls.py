"""Talk to a broker over TLS: verify its certificate, and optionally present our own.

    python examples/tls.py HOST [--port 8883] [--ca-file CA.pem]
                                [--cert client.pem --key client.key] [--insecure]

Without --ca-file the system's trusted CAs verify the broker, as for any public broker
(``python examples/tls.py test.mosquitto.org``). With --cert and --key the client proves who it
is too (mutual TLS); an encrypted key's password is read from the environment variable
TLS_KEY_PASSWORD (not from the command line, where other users could see it). --insecure skips
the hostname check only; the certificate chain is still verified. Certificate files are read
off the event loop.
"""

import argparse
import asyncio
import os

import asyncmqtt

TOPIC = "asyncmqtt/examples/tls"


async def main(options: argparse.Namespace) -> None:
    tls_params = asyncmqtt.TLSParameters(
        ca_certs=options.ca_file,  # None: the system's trusted CAs
        certfile=options.cert,  # None: no client certificate
        keyfile=options.key,
        keyfile_password=os.environ.get("TLS_KEY_PASSWORD"),  # None: the key is not encrypted
    )
    async with asyncmqtt.Client(
        options.host, options.port, tls_params=tls_params, tls_insecure=options.insecure
    ) as client:
        await client.subscribe(TOPIC, qos=1)
        await client.publish(TOPIC, payload="hello over TLS", qos=1)
        async for message in client.messages:
            print(f"{message.topic}: {message.payload.decode()}")
            break


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("--port", type=int, default=8883)
    parser.add_argument("--ca-file")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--insecure", action="store_true")
    asyncio.run(main(parser.parse_args()))
