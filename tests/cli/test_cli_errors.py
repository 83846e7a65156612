"""What the command says when something fails, and with which exit status: one line, what
failed and what to check, never a traceback unless --debug."""

from __future__ import annotations

import pytest

from asyncmqtt import (
    ConnAckReasonCode,
    ConnectionLostError,
    MqttCodeError,
    MqttError,
    MqttTimeoutError,
    PubAckReasonCode,
    PublishWithdrawnError,
    SubAckReasonCode,
)
from asyncmqtt.cli._parser import ExitCode, UsageError
from asyncmqtt.cli._run import describe, exit_code
from asyncmqtt.errors import MqttConnectError
from asyncmqtt.protocol.enums import ConnectReturnCode


def refused(code: int) -> MqttConnectError:
    return MqttConnectError("the broker refused", stage="connack", address="mqtt://b:1", rc=code)


def failed(stage: str) -> MqttConnectError:
    return MqttConnectError(f"failed at the {stage} stage", stage=stage, address="mqtt://b:1")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (failed("tcp"), ExitCode.CONNECT),
        (failed("connack"), ExitCode.CONNECT),
        (refused(ConnAckReasonCode.NOT_AUTHORIZED), ExitCode.REFUSED),
        (refused(ConnectReturnCode.BAD_USER_NAME_OR_PASSWORD), ExitCode.REFUSED),
        (MqttCodeError((SubAckReasonCode.NOT_AUTHORIZED,), "refused"), ExitCode.REFUSED),
        (MqttCodeError(PubAckReasonCode.QUOTA_EXCEEDED, "refused"), ExitCode.REFUSED),
        (MqttTimeoutError("no PUBACK"), ExitCode.TIMEOUT),
        (PublishWithdrawnError("timed out before written"), ExitCode.TIMEOUT),
        (TimeoutError("-W"), ExitCode.TIMEOUT),
        (ConnectionLostError("lost"), ExitCode.CONNECT),
        (MqttError("not connected"), ExitCode.CONNECT),
        (UsageError("bad"), ExitCode.USAGE),
        (ValueError("bad topic"), ExitCode.USAGE),
        (FileNotFoundError(2, "No such file or directory", "x.bin"), ExitCode.USAGE),
        (ImportError("needs websockets"), ExitCode.USAGE),
        (RuntimeError("a bug"), ExitCode.USAGE),
    ],
)
def test_exit_status(error: BaseException, status: ExitCode) -> None:
    assert exit_code(error) == status


@pytest.mark.parametrize(
    ("stage", "hint"),
    [
        ("resolve", "check the host name"),
        ("tcp", "is a broker listening there?"),
        ("proxy", "check --proxy"),
        ("tls", "check --cafile, --cert, --key"),
        ("websocket", "check --ws-path"),
    ],
)
def test_a_failed_connect_says_what_to_check(stage: str, hint: str) -> None:
    text = describe(failed(stage))
    assert text.startswith(f"failed at the {stage} stage (")
    assert hint in text


def test_a_refusal_says_what_to_check() -> None:
    assert "(check -u and the password (-P, MQTT_PASSWORD))" in describe(
        refused(ConnAckReasonCode.BAD_USER_NAME_OR_PASSWORD)
    )
    assert "check -u and the password" in describe(refused(ConnectReturnCode.NOT_AUTHORIZED))
    assert "try another -V" in describe(refused(ConnAckReasonCode.UNSUPPORTED_PROTOCOL_VERSION))
    assert "(" not in describe(refused(ConnAckReasonCode.SERVER_BUSY)).replace("[code:", "")


def test_every_description_is_one_line() -> None:
    assert describe(ValueError("first\nsecond  line")) == "first second line"
    assert describe(FileNotFoundError(2, "No such file or directory", "x.bin")) == (
        "No such file or directory: x.bin"
    )


def test_an_unexpected_error_is_named_and_points_to_debug() -> None:
    assert describe(RuntimeError("boom")) == (
        "RuntimeError: boom (an unexpected error: --debug shows where)"
    )
    assert describe(KeyError("k")) == "KeyError: 'k' (an unexpected error: --debug shows where)"
