"""The examples of docs/broker.md, run as the guide shows them: each starts its own embedded
broker (run here in this process with ``runpy``, as ``python examples/NAME.py`` would, which
saves a new interpreter per example), and what it printed is checked line by line."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest
import trustme

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, capsys: pytest.CaptureFixture[str], *arguments: str) -> list[str]:
    path = EXAMPLES / name
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [str(path), *arguments])
        runpy.run_path(str(path), run_name="__main__")
    return capsys.readouterr().out.splitlines()


def test_embedded_broker(capsys: pytest.CaptureFixture[str]) -> None:
    output = run_example("embedded_broker.py", capsys)
    assert re.fullmatch(r"listening on mqtt://127\.0\.0\.1:\d+", output[0])
    assert output[1:] == [
        "greetings/en: hello",
        "sessions kept: ['logger']",
        "session present: True",
        "queued while away: alerts/door = open",
        "retained: status/broker = up",
    ]


def test_broker_listeners(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_example("broker_listeners.py", capsys) == [
        "mqtt: over tcp",
        "ws: over websockets",
        "unix: over unix",
    ]


def test_broker_listeners_with_tls(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    tls = ("--tls-cert", str(cert), "--tls-key", str(key), "--ca-file", str(ca_file))
    output = run_example("broker_listeners.py", capsys, *tls)
    assert output == ["mqtt: over tcp", "ws: over websockets", "unix: over unix", "mqtts: over tcp"]


def test_broker_hooks(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_example("broker_hooks.py", capsys) == [
        "wrong password: CONNACK 0x86",
        "bob subscribing to admin/#: SUBACK (<SubAckReasonCode.NOT_AUTHORIZED: 135>,)",
        "bob publishing to sensors/kitchen: PUBACK 0x87",
        "bob received sensors/kitchen = 21.5",
        "legacy-7 was sent to the new broker: True",
        "legacy-8, not following: CONNACK 0x9d",
    ]


def test_broker_enhanced_auth(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_example("broker_enhanced_auth.py", capsys) == [
        "alice connected with EXAMPLE-HMAC",
        "alice re-authenticated",
        "a wrong key is refused: CONNACK 0x87",
    ]


def test_broker_limits(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_example("broker_limits.py", capsys) == [
        "a third connection: CONNACK 0x97",
        "2000 bytes, refused by the client: the PUBLISH to 'jobs' would be 2012 bytes, above "
        "the broker's maximum packet size of 1024 bytes",
        "dropped: ['job 4', 'job 5']",
        "broker.stats.messages_dropped: 2",
        "away gets job 1",
        "away gets job 2",
        "away gets job 3",
    ]
