"""The examples of docs/tls.md, docs/websockets.md and docs/proxies.md, run as a user would run
them (a fresh interpreter, command-line arguments) against the test servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from transport_servers import Pki, TransportBroker

EXAMPLES = Path(__file__).parents[2] / "examples"
EXAMPLE_TIMEOUT = 60.0  # a safety net against a hung example, never a synchronisation


def run_example(name: str, *arguments: object) -> str:
    """Run examples/NAME with ``arguments``; return its output, which must end in success."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *map(str, arguments)],
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


def test_tls_example_insecure(transport_broker: TransportBroker, pki: Pki) -> None:
    # The broker's certificate names 127.0.0.1, not localhost.
    port = transport_broker.port_of(transport_broker.tls)
    arguments = ("localhost", "--port", port, "--ca-file", pki.ca_pem)
    output = run_example("tls.py", *arguments, "--insecure")
    assert output == "asyncmqtt/examples/tls: hello over TLS\n"
