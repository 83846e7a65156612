"""Tests of the WebSocket and proxy examples, waiting for the Client to use
``asyncmqtt.transports.open_connection`` (today ``Client`` refuses transport="websockets" and
``proxy``). Not collected by pytest (the file name does not start with ``test_``); once the
Client is wired, move these functions into ``test_examples.py``.

They passed against the test servers with the Client's ``_open_link`` replaced by a call to
``open_connection`` (a local simulation of the wiring, not committed).
"""

from __future__ import annotations

from proxy_server import PROXY_PASSWORD, PROXY_USER, Pproxy
from test_examples import run_example
from transport_servers import Pki, TransportBroker


def test_websockets_example(transport_broker: TransportBroker) -> None:
    port = transport_broker.port_of(transport_broker.websocket)
    output = run_example("websockets.py", transport_broker.host, "--port", port)
    assert output == "asyncmqtt/examples/websockets: hello over WebSocket\n"


def test_secure_websockets_example(transport_broker: TransportBroker, pki: Pki) -> None:
    port = transport_broker.port_of(transport_broker.websocket_tls)
    output = run_example(
        "websockets.py",
        transport_broker.host,
        "--port",
        port,
        "--tls",
        "--ca-file",
        pki.ca_pem,
        "--header",
        "Authorization=Bearer example",
    )
    assert output == "asyncmqtt/examples/websockets: hello over WebSocket\n"


def test_proxy_example_socks5_with_a_password(
    transport_broker: TransportBroker, proxies: Pproxy
) -> None:
    output = run_example(
        "proxy.py",
        transport_broker.host,
        "--port",
        transport_broker.port,
        "--proxy-type",
        "socks5",
        "--proxy-host",
        proxies.host,
        "--proxy-port",
        proxies.port("socks5_auth"),
        "--proxy-user",
        PROXY_USER,
        "--proxy-password",
        PROXY_PASSWORD,
    )
    assert output == "asyncmqtt/examples/proxy: hello through a proxy\n"


def test_proxy_example_tls_through_http_connect(
    transport_broker: TransportBroker, proxies: Pproxy, pki: Pki
) -> None:
    output = run_example(
        "proxy.py",
        transport_broker.host,
        "--port",
        transport_broker.port_of(transport_broker.tls),
        "--proxy-type",
        "http",
        "--proxy-host",
        proxies.host,
        "--proxy-port",
        proxies.port("http"),
        "--tls",
        "--ca-file",
        pki.ca_pem,
    )
    assert output == "asyncmqtt/examples/proxy: hello through a proxy\n"
