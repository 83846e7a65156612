"""The command line's grammar and the connection options, in this process: what each option
becomes among ``Client``'s keyword arguments, and the usage errors (status 1)."""

from __future__ import annotations

import argparse
import ssl

import pytest
from cli_helpers import Cli

from asyncmqtt import ProxyType, TLSParameters, Will
from asyncmqtt.cli import build_parser
from asyncmqtt.cli._connect import (
    Broker,
    broker_from,
    client_arguments,
    message_properties,
    proxy_from_url,
    read_password,
)
from asyncmqtt.protocol.properties import Properties


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def arguments(*argv: str, password: str | None = None) -> dict[str, object]:
    args = parse(*argv)
    return client_arguments(args, broker_from(args), password)


# -- help and usage errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["sub", "--help"],
        ["pub", "--help"],
        ["req", "--help"],
        ["broker", "--help"],
        ["bench", "--help"],
        ["bench", "pub", "--help"],
        ["bench", "sub", "--help"],
        ["bench", "conn", "--help"],
    ],
)
def test_help_at_every_level_has_examples(cli: Cli, argv: list[str]) -> None:
    done = cli(*argv)
    assert done.code == 0
    assert "examples:" in done.out
    assert "  asyncmqtt " in done.out  # (an example command line)


def test_the_top_level_help_lists_the_commands_and_the_exit_statuses(cli: Cli) -> None:
    out = cli("--help").out
    for name in ("sub", "pub", "req", "bench", "broker"):
        assert f"    {name} " in out
    for status in range(5):
        assert f"\n  {status}  " in out


def test_version(cli: Cli) -> None:
    from asyncmqtt import __version__

    done = cli("--version")
    assert (done.code, done.out.strip()) == (0, f"asyncmqtt {__version__}")


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        ([], "required: COMMAND"),
        (["nonsense"], "invalid choice"),
        (["sub"], "required: -t/--topic"),
        (["pub", "-t", "x"], "one of the arguments -m/--message"),
        (["pub", "-t", "x", "-m", "a", "-n"], "not allowed with argument"),
        (["sub", "-t", "x", "-q", "3"], "the QoS must be 0 to 2, got 3"),
        (["sub", "-t", "x", "-p", "70000"], "a port must be 0 to 65535, got 70000"),
        (
            ["sub", "-t", "x", "-C", "0"],
            "argument -C/--count: the number must be at least 1, got 0",
        ),
        (["bench", "pub", "-s", "-1"], "argument -s/--size: the number must be at least 0, got -1"),
        (["sub", "-t", "x", "-p", "http"], "'http' is not a whole number"),
        (["sub", "-t", "x", "-V", "4.0"], "'4.0' is not an MQTT version"),
        (["pub", "-t", "x", "-m", "a", "-D", "novalue"], "'novalue' is not KEY=VALUE"),
        (["pub", "-t", "x", "-m", "a", "--interval", "-1"], "finite number >= 0"),
        (["sub", "-t", "x", "--json", "--raw"], "not allowed with argument"),
        (["bench", "pub", "--count", "5", "--duration", "2"], "not allowed with argument"),
    ],
)
def test_usage_errors_exit_with_status_1(cli: Cli, argv: list[str], complaint: str) -> None:
    done = cli(*argv)
    assert done.code == 1
    assert complaint in done.err
    assert done.err.startswith("asyncmqtt")
    assert done.err.endswith(" --help')\n")
    assert len(done.err.splitlines()) == 1
    assert "Traceback" not in done.err


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--url", "http://example.com"], "is not mqtt[s]://HOST[:PORT]"),
        (["--url", "mqtt://host:99999"], "has an invalid port"),
        (["--url", "mqtt://host/path"], "only ws:// and wss:// URLs have a path"),
        (["--ws-path", "/x"], "--ws-path needs --ws"),
        (["--ws-header", "A: b"], "--ws-header needs --ws"),
        (["--insecure"], "--insecure needs TLS"),
        (["--proxy", "ftp://proxy"], "is not SCHEME://"),
        (["--will-payload", "x"], "need --will-topic"),
        (["--ws", "--ws-header", "no colon"], "is not 'NAME: VALUE'"),
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(
    cli: Cli, argv: list[str], complaint: str
) -> None:
    done = cli("pub", "-t", "x", "-m", "y", *argv)
    assert done.code == 1
    assert complaint in done.err
    assert done.err.startswith("asyncmqtt pub: ")
    assert len(done.err.splitlines()) == 1


def test_a_value_the_library_refuses_is_a_usage_error_naming_it(cli: Cli) -> None:
    done = cli("pub", "-p", "1", "-t", "a/+", "-m", "x")
    assert done.code == 1
    assert "wildcards" in done.err and "'a/+'" in done.err  # (nothing was sent: port 1)


# -- where to connect ------------------------------------------------------------------------


def test_the_defaults() -> None:
    assert broker_from(parse("sub", "-t", "x")) == Broker(
        "localhost", 1883, "tcp", False, None, None, None
    )
    given = arguments("sub", "-t", "x")
    assert given == {
        "hostname": "localhost",
        "port": 1883,
        "username": None,
        "password": None,
        "identifier": None,
        "keepalive": 60,
        "protocol": None,
        "timeout": 10.0,
        "reconnect": False,
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker", Broker("broker", 1883, "tcp", False, None, None, None)),
        ("mqtts://broker", Broker("broker", 8883, "tcp", True, None, None, None)),
        ("tcp://broker:1884", Broker("broker", 1884, "tcp", False, None, None, None)),
        ("ws://broker", Broker("broker", 80, "websockets", False, None, None, None)),
        ("wss://broker:8443/ws", Broker("broker", 8443, "websockets", True, "/ws", None, None)),
        (
            "mqtt://al%40ice:p%3Ass@[::1]:1883",
            Broker("::1", 1883, "tcp", False, None, "al@ice", "p:ss"),
        ),
    ],
)
def test_urls(url: str, expected: Broker) -> None:
    assert broker_from(parse("sub", "-t", "x", "--url", url)) == expected


def test_options_override_the_parts_of_the_url() -> None:
    args = parse(
        "sub", "-t", "x", "--url", "mqtts://u:p@one:1", "-h", "two", "-p", "2", "-u", "v", "-P", "q"
    )
    assert broker_from(args) == Broker("two", 2, "tcp", True, None, "v", "q")


@pytest.mark.parametrize(
    ("argv", "port"),
    [
        ([], 1883),
        (["--tls"], 8883),
        (["--cafile", "ca.pem"], 8883),
        (["--ws"], 80),
        (["--ws", "--tls"], 443),
    ],
)
def test_the_default_port_follows_the_transport(argv: list[str], port: int) -> None:
    assert broker_from(parse("sub", "-t", "x", *argv)).port == port


def test_the_url_shown_in_messages_has_no_credentials() -> None:
    broker = broker_from(parse("sub", "-t", "x", "--url", "wss://u:secret@h/mqtt"))
    assert broker.url == "wss://h:443/mqtt"


# -- the password -----------------------------------------------------------------------------


def test_the_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQTT_PASSWORD", "from-env")
    assert read_password(broker_from(parse("sub", "-t", "x", "-u", "alice"))) == "from-env"
    # -P (or the URL) comes first; without a user name the variable is not used
    assert read_password(broker_from(parse("sub", "-t", "x", "-u", "a", "-P", "given"))) == "given"
    assert read_password(broker_from(parse("sub", "-t", "x"))) is None


def test_a_terminal_is_asked_for_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MQTT_PASSWORD", raising=False)
    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return "typed"

    monkeypatch.setattr("getpass.getpass", getpass)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    broker = broker_from(parse("sub", "-t", "x", "-u", "alice", "-h", "b"))
    assert read_password(broker) == "typed"
    assert prompts == ["Password for alice at mqtt://b:1883: "]
    monkeypatch.setattr("getpass.getpass", lambda prompt: "")
    assert read_password(broker) is None  # (nothing typed: no password)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert read_password(broker) is None  # (no terminal: no prompt)


# -- how to connect ---------------------------------------------------------------------------


def test_session_options() -> None:
    given = arguments(
        "sub",
        "-t",
        "x",
        "-i",
        "me",
        "-k",
        "5",
        "-V",
        "3.1.1",
        "--timeout",
        "2.5",
        "--no-clean-start",
        "--session-expiry",
        "300",
    )
    assert given["identifier"] == "me"
    assert given["keepalive"] == 5
    assert given["protocol"] == 4
    assert given["timeout"] == 2.5
    assert given["clean_session"] is False
    assert given["properties"] == Properties(session_expiry_interval=300)
    assert arguments("sub", "-t", "x", "--clean-start")["clean_start"] is True
    assert parse("sub", "-t", "x", "-V", "5").protocol == 5
    assert parse("sub", "-t", "x", "-V", "mqttv31").protocol == 3


def test_tls_options() -> None:
    given = arguments(
        "sub", "-t", "x", "--cafile", "ca.pem", "--cert", "c.pem", "--key", "k.pem", "--insecure"
    )
    assert given["tls_params"] == TLSParameters(
        ca_certs="ca.pem", certfile="c.pem", keyfile="k.pem"
    )
    assert given["tls_insecure"] is True
    unverified = arguments("sub", "-t", "x", "--no-verify")["tls_params"]
    assert isinstance(unverified, TLSParameters)
    assert unverified.cert_reqs == ssl.CERT_NONE


def test_websocket_options() -> None:
    given = arguments(
        "sub", "-t", "x", "--ws", "--ws-path", "/ws", "--ws-header", "Authorization: Bearer t"
    )
    assert given["transport"] == "websockets"
    assert given["websocket_path"] == "/ws"
    assert given["websocket_headers"] == {"Authorization": "Bearer t"}


@pytest.mark.parametrize(
    ("url", "kind", "remote_dns"),
    [
        ("socks5://p:1080", ProxyType.SOCKS5, False),
        ("socks5h://p:1080", ProxyType.SOCKS5, True),
        ("socks4://p:1080", ProxyType.SOCKS4, False),
        ("socks4a://p:1080", ProxyType.SOCKS4, True),
        ("http://p:3128", ProxyType.HTTP, True),
    ],
)
def test_proxy_urls(url: str, kind: ProxyType, remote_dns: bool) -> None:
    proxy = proxy_from_url(url)
    assert (proxy.proxy_type, proxy.proxy_addr, proxy.proxy_rdns) == (kind, "p", remote_dns)


def test_proxy_credentials() -> None:
    proxy = proxy_from_url("socks5://user:pa%20ss@p")
    assert (proxy.proxy_username, proxy.proxy_password, proxy.port) == ("user", "pa ss", 1080)
    assert arguments("sub", "-t", "x", "--proxy", "http://p")["proxy"] == proxy_from_url("http://p")


def test_will_options() -> None:
    given = arguments(
        "sub",
        "-t",
        "x",
        "--will-topic",
        "w",
        "--will-payload",
        "bye",
        "--will-qos",
        "1",
        "--will-retain",
    )
    assert given["will"] == Will("w", "bye", 1, True)


def test_message_properties() -> None:
    args = parse(
        "pub",
        "-t",
        "x",
        "-m",
        "y",
        "-D",
        "a=1",
        "-D",
        "a=2=3",
        "--content-type",
        "text/plain",
        "--message-expiry",
        "60",
        "--response-topic",
        "r",
        "--correlation-data",
        "id-7",
    )
    assert message_properties(args) == Properties(
        user_properties=(("a", "1"), ("a", "2=3")),
        content_type="text/plain",
        message_expiry_interval=60,
        response_topic="r",
        correlation_data=b"id-7",
    )
    assert message_properties(parse("pub", "-t", "x", "-m", "y")) is None


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (
            ["pub", "-t", "x", "-m", "y", "--ws"],
            "asyncmqtt pub: --ws (MQTT over WebSocket) needs the 'websockets' package",
        ),
        (
            ["sub", "-t", "x", "--proxy", "socks5://p"],
            "asyncmqtt sub: --proxy needs the 'python-socks' package",
        ),
        (
            ["bench", "conn", "--url", "ws://h"],
            "asyncmqtt bench: --ws (MQTT over WebSocket) needs the 'websockets' package",
        ),
        (
            ["broker", "--port", "0", "--ws-port", "0"],
            "asyncmqtt broker: --ws-port / --wss-port (MQTT over WebSocket) needs the "
            "'websockets' package",
        ),
    ],
)
def test_a_missing_extra_says_how_to_install_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, argv: list[str], complaint: str
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *rest: None if name in ("websockets", "python_socks") else real(name),
    )
    done = cli(*argv)
    assert done.code == 1
    assert done.err.startswith(complaint + ", which is not installed; install it with: ")
    assert "pip install 'asyncmqtt[cli]' (or 'asyncmqtt[" in done.err
    assert len(done.err.splitlines()) == 1


def test_the_cli_extra_installs_what_the_command_may_need() -> None:
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    # (the packages the messages above name; each also has the library's own extra)
    assert {requirement.split(">")[0] for requirement in extras["cli"]} == {
        "websockets",
        "python-socks[asyncio]",
    }
    assert [*extras["websockets"], *extras["proxy"]] == extras["cli"]
