"""The connection options against mosquitto's TLS, mutual-TLS and WebSocket listeners and
through real proxies, in this process: ``pub -r`` leaves a retained message, ``sub -C 1``
fetches it back over another way of connecting."""

from __future__ import annotations

import json
from collections.abc import Callable

from cli_helpers import Result
from proxy_server import PROXY_PASSWORD, PROXY_USER, Pproxy
from transport_servers import Pki, TransportBroker

Cli = Callable[..., Result]


def _fetch(cli: Cli, topic: str, *where: str) -> dict[str, object]:
    done = cli("sub", *where, "-t", topic, "-C", "1", "-W", "10", "--json")
    assert done.code == 0, done.err
    record: dict[str, object] = json.loads(done.out)
    return record


def test_tls_with_a_ca_file(
    cli: Cli, transport_broker: TransportBroker, pki: Pki, topic: str
) -> None:
    port = str(transport_broker.port_of(transport_broker.tls))
    url = f"mqtts://127.0.0.1:{port}"
    done = cli("pub", "--url", url, "--cafile", str(pki.ca_pem), "-t", topic, "-m", "tls", "-r")
    assert done.code == 0, done.err
    where = ["-h", "127.0.0.1", "-p", port, "--cafile", str(pki.ca_pem)]
    assert _fetch(cli, topic, *where)["payload"] == "tls"


def test_tls_refuses_a_certificate_that_does_not_name_the_host(
    cli: Cli, transport_broker: TransportBroker, pki: Pki, topic: str
) -> None:
    port = str(transport_broker.port_of(transport_broker.tls))
    where = ["-h", "localhost", "-p", port, "--cafile", str(pki.ca_pem)]  # (made for 127.0.0.1)
    done = cli("pub", *where, "-t", topic, "-m", "x")
    assert done.code == 2
    assert "failed at the tls stage" in done.err
    assert "(check --cafile, --cert, --key (or --insecure / --no-verify" in done.err
    assert cli("pub", *where, "--insecure", "-t", topic, "-m", "x").code == 0
    # A CA we do not trust: only --no-verify gets through.
    unknown = ["-h", "127.0.0.1", "-p", port, "--cafile", str(pki.unknown_ca_pem)]
    assert cli("pub", *unknown, "-t", topic, "-m", "x").code == 2
    assert cli("pub", *unknown, "--no-verify", "-t", topic, "-m", "x").code == 0


def test_mutual_tls(cli: Cli, transport_broker: TransportBroker, pki: Pki, topic: str) -> None:
    port = str(transport_broker.port_of(transport_broker.mutual_tls))
    where = ["-h", "127.0.0.1", "-p", port, "--cafile", str(pki.ca_pem)]
    mine = ["--cert", str(pki.client_cert), "--key", str(pki.client_key)]
    assert cli("pub", *where, *mine, "-t", topic, "-m", "mutual", "-r").code == 0
    assert _fetch(cli, topic, *where, *mine)["payload"] == "mutual"
    assert cli("pub", *where, "-t", topic, "-m", "x").code == 2  # (no certificate of ours)


def test_websockets(cli: Cli, transport_broker: TransportBroker, pki: Pki, topic: str) -> None:
    plain = transport_broker.port_of(transport_broker.websocket)
    secure = transport_broker.port_of(transport_broker.websocket_tls)
    done = cli(
        "pub", "--url", f"ws://127.0.0.1:{plain}/mqtt", "-t", topic, "-m", "ws", "-r",
        "--ws-header", "X-Test: cli",
    )  # fmt: skip
    assert done.code == 0, done.err
    where = ["--ws", "-p", str(secure), "-h", "127.0.0.1", "--cafile", str(pki.ca_pem)]
    assert _fetch(cli, topic, *where)["payload"] == "ws"
    url = f"wss://127.0.0.1:{secure}/mqtt"  # (the same, as a URL)
    assert _fetch(cli, topic, "--url", url, "--cafile", str(pki.ca_pem))["payload"] == "ws"
    # A WebSocket client at an MQTT port: told what to check.
    done = cli("pub", "--ws", "-p", str(transport_broker.port), "-t", topic, "-m", "x")
    assert done.code == 2
    assert "websocket stage" in done.err


def test_proxies(cli: Cli, transport_broker: TransportBroker, proxies: Pproxy, topic: str) -> None:
    broker = ["-h", "localhost", "-p", str(transport_broker.port)]
    http = f"http://{proxies.host}:{proxies.port('http')}"
    assert cli("pub", *broker, "--proxy", http, "-t", topic, "-m", "proxied", "-r").code == 0
    socks = f"socks5h://{PROXY_USER}:{PROXY_PASSWORD}@{proxies.host}:{proxies.port('socks5_auth')}"
    assert _fetch(cli, topic, *broker, "--proxy", socks)["payload"] == "proxied"
    tunnels = [
        line
        for line in proxies.log_text().splitlines()
        if line.endswith(f" -> localhost:{transport_broker.port}")
    ]
    # Both went through their proxy, which resolved the broker's name (http, socks5h).
    assert any(line.startswith("http ") for line in tunnels)
    assert any(line.startswith("socks5 ") for line in tunnels)
    wrong = f"socks5://{PROXY_USER}:nope@{proxies.host}:{proxies.port('socks5_auth')}"
    done = cli("pub", *broker, "--proxy", wrong, "-t", topic, "-m", "x")
    assert done.code == 2
    assert "(check --proxy (its address, user name and password))" in done.err


def test_bench_clients_share_the_tls_settings(
    cli: Cli, transport_broker: TransportBroker, pki: Pki, topic: str
) -> None:
    port = transport_broker.port_of(transport_broker.mutual_tls)
    mine = [
        "--cafile",
        str(pki.ca_pem),
        "--cert",
        str(pki.client_cert),
        "--key",
        str(pki.client_key),
    ]
    done = cli(
        "bench", "pub", "--url", f"mqtts://127.0.0.1:{port}", *mine, "-c", "2", "-q", "1",
        "--count", "20", "--subscribers", "2", "-t", f"{topic}/%i", "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    record = json.loads(done.out)
    assert (record["broker"], record["received"], record["lost"]) == (
        f"mqtts://127.0.0.1:{port}",
        80,  # (2 publishers x 20, each message to 2 subscribers)
        0,
    )
