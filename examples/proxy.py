"""Reach a broker through a SOCKS4, SOCKS5 or HTTP CONNECT proxy.

    python examples/proxy.py BROKER_HOST [--port 1883]
        --proxy-type socks5 --proxy-host PROXY [--proxy-port 1080]
        [--proxy-user NAME [--proxy-password SECRET]] [--local-dns] [--tls [--ca-file CA.pem]]

Needs the proxy extra: ``pip install 'asyncmqtt[proxy]'``. The proxy resolves the broker's name
unless --local-dns is given. --tls runs TLS end to end, through the tunnel: the proxy sees only
encrypted bytes, and the broker's certificate is checked against BROKER_HOST.
"""

import argparse
import asyncio

import asyncmqtt

TOPIC = "asyncmqtt/examples/proxy"


async def main(options: argparse.Namespace) -> None:
    proxy = asyncmqtt.ProxySettings(
        proxy_type=asyncmqtt.ProxyType[options.proxy_type.upper()],
        proxy_addr=options.proxy_host,
        proxy_port=options.proxy_port,  # None: 1080 for SOCKS, 8080 for HTTP
        proxy_rdns=not options.local_dns,  # True: the proxy resolves the broker's name
        proxy_username=options.proxy_user,  # None: the proxy asks for no credentials
        proxy_password=options.proxy_password,
    )
    # TLS runs end to end through the tunnel, checked against the broker's name.
    tls_params = asyncmqtt.TLSParameters(ca_certs=options.ca_file) if options.tls else None
    async with asyncmqtt.Client(
        options.host, options.port, proxy=proxy, tls_params=tls_params
    ) as client:
        await client.subscribe(TOPIC, qos=1)
        await client.publish(TOPIC, payload="hello through a proxy", qos=1)
        async for message in client.messages:
            print(f"{message.topic}: {message.payload.decode()}")
            break


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--proxy-type", choices=["socks4", "socks5", "http"], required=True)
    parser.add_argument("--proxy-host", required=True)
    parser.add_argument("--proxy-port", type=int)
    parser.add_argument("--proxy-user")
    parser.add_argument("--proxy-password")
    parser.add_argument("--local-dns", action="store_true")
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--ca-file")
    asyncio.run(main(parser.parse_args()))
