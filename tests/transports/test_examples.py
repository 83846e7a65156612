"""The examples of docs/tls.md, docs/websockets.md and docs/proxies.md (each guide shows its
example in full: tests/client/test_client_docs.py), run as a user would run them (a fresh
interpreter, command-line arguments) against the test servers: every variation the guide
describes, with the options that give it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from proxy_server import PROXY_PASSWORD, PROXY_USER, Pproxy
from transport_servers import KEY_PASSWORD, Pki, TransportBroker

EXAMPLES = Path(__file__).parents[2] / "examples"
EXAMPLE_TIMEOUT = 60.0  # a safety net against a hung example, never a synchronisation


def run_example(name: str, *arguments: object, env: dict[str, str] | None = None) -> str:
    """Run examples/NAME with ``arguments`` (and ``env`` added to the environment); return its
    output, which must end in success."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *map(str, arguments)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_tls_example(transport_broker: TransportBroker, pki: Pki) -> None:
    port = transport_broker.port_of(transport_broker.tls)
    output = run_example("tls.py", transport_broker.host, "--port", port, "--ca-file", pki.ca_pem)
    assert output == "asyncmqtt/examples/tls: hello over TLS\n"


def test_tls_example_with_a_client_certificate(transport_broker: TransportBroker, pki: Pki) -> None:
    port = transport_broker.port_of(transport_broker.mutual_tls)
    output = run_example(
        "tls.py",
        transport_broker.host,
        "--port",
        port,
        "--ca-file",
        pki.ca_pem,
        "--cert",
        pki.client_cert,
        "--key",
        pki.client_key,
    )
    assert output == "asyncmqtt/examples/tls: hello over TLS\n"


def test_tls_example_with_an_encrypted_client_key(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    port = transport_broker.port_of(transport_broker.mutual_tls)
    output = run_example(
        "tls.py",
        transport_broker.host,
        "--port",
        port,
        "--ca-file",
        pki.ca_pem,
        "--cert",
        pki.client_cert,
        "--key",
        pki.client_key_encrypted,
        env={"TLS_KEY_PASSWORD": KEY_PASSWORD},
    )
    assert output == "asyncmqtt/examples/tls: hello over TLS\n"


def test_tls_example_insecure(transport_broker: TransportBroker, pki: Pki) -> None:
    # The broker's certificate names 127.0.0.1, not localhost.
    port = transport_broker.port_of(transport_broker.tls)
    arguments = ("localhost", "--port", port, "--ca-file", pki.ca_pem)
    output = run_example("tls.py", *arguments, "--insecure")
    assert output == "asyncmqtt/examples/tls: hello over TLS\n"


def test_websockets_example(transport_broker: TransportBroker) -> None:
    port = transport_broker.port_of(transport_broker.websocket)
    output = run_example("over_websockets.py", transport_broker.host, "--port", port)
    assert output == "asyncmqtt/examples/websockets: hello over WebSocket\n"


def test_secure_websockets_example(transport_broker: TransportBroker, pki: Pki) -> None:
    port = transport_broker.port_of(transport_broker.websocket_tls)
    output = run_example(
        "over_websockets.py",
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


def test_websockets_example_with_a_token_file(
    transport_broker: TransportBroker, tmp_path: Path
) -> None:
    # The callable form of websocket_headers, with --path and a --header added to it.
    token_file = tmp_path / "token"
    token_file.write_text("example-token\n")
    port = transport_broker.port_of(transport_broker.websocket)
    output = run_example(
        "over_websockets.py",
        transport_broker.host,
        "--port",
        port,
        "--path",
        "/mqtt?client=example",
        "--header",
        "X-Example=yes",
        "--token-file",
        token_file,
    )
    assert output == "asyncmqtt/examples/websockets: hello over WebSocket\n"


def tunnelled(proxies: Pproxy, scheme: str, port: int) -> bool:
    """Whether pproxy logged a ``scheme`` tunnel to the broker's ``port``."""
    lines = proxies.log_text().splitlines()
    return any(line.startswith(f"{scheme} ") and line.endswith(f":{port}") for line in lines)


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
    assert tunnelled(proxies, "socks5", transport_broker.port)


def test_proxy_example_socks4_with_a_user_id_and_local_dns(
    transport_broker: TransportBroker, proxies: Pproxy
) -> None:
    output = run_example(
        "proxy.py",
        transport_broker.host,
        "--port",
        transport_broker.port,
        "--proxy-type",
        "socks4",
        "--proxy-host",
        proxies.host,
        "--proxy-port",
        proxies.port("socks4_auth"),
        "--proxy-user",
        PROXY_USER,
        "--local-dns",
    )
    assert output == "asyncmqtt/examples/proxy: hello through a proxy\n"
    assert tunnelled(proxies, "socks4", transport_broker.port)


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
    assert tunnelled(proxies, "http", transport_broker.port_of(transport_broker.tls))
