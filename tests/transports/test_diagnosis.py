"""Connecting to the wrong kind of port, or without the client certificate a broker requires,
fails with an error that says what probably happened and what to check.

First the pure helpers of ``asyncmqtt._diagnosis`` on bytes and exceptions as servers produce
them; then every case against mosquitto's real listeners (``transport_broker``): the tls and
websocket stages raise the hint themselves, and for a connection that ends before CONNACK the
test's own protocol records what the client's link sees (the first bytes, the exception that
ended the connection) and hands it to ``transports.explain_no_connack``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest
from mqtt_session import MqttSession
from transport_servers import Pki, TransportBroker

from asyncmqtt._diagnosis import (
    explain_first_bytes,
    explain_no_connack,
    explain_tls_error,
    explain_websocket_failure,
    looks_like_another_protocol,
)
from asyncmqtt.errors import MqttConnectError
from asyncmqtt.protocol.events import Connected
from asyncmqtt.transports import TLSParameters, TransportSettings, open_connection
from asyncmqtt.transports import explain_no_connack as explain_for_settings

LOST_TIMEOUT = 10.0  # a safety net against a hung test, never a synchronisation

# -- what servers send where CONNACK should be ------------------------------------------------

TLS_ALERT = bytes.fromhex("15030100020246")  # protocol_version alert, TLS 1.0 record
TLS_HANDSHAKE = bytes.fromhex("160303007a020000760303")  # a ServerHello's first bytes
HTTP_403 = b"HTTP/1.0 403 Forbidden\r\ncontent-type: text/html\r\n\r\n<html>"
MQTT_FIRST_BYTES = [
    bytes.fromhex("20020000"),  # CONNACK 3.1.1, accepted
    bytes.fromhex("20030000" + "00"),  # CONNACK 5.0
    bytes.fromhex("20020005"),  # CONNACK 3.1.1, not authorised
    bytes.fromhex("2003008700"),  # CONNACK 5.0, not authorised
    bytes.fromhex("300a0003612f6268656c6c6f"),  # PUBLISH
    bytes.fromhex("40020001"),  # PUBACK
    bytes.fromhex("e000"),  # DISCONNECT
    bytes.fromhex("d000"),  # PINGRESP
]


def test_a_tls_alert_means_a_tls_port() -> None:
    hint = explain_first_bytes(TLS_ALERT)
    assert hint is not None
    assert hint.startswith("the server answered with a TLS alert, not MQTT")
    assert "this port expects TLS" in hint and "tls_params" in hint


def test_a_tls_handshake_record_means_a_tls_port() -> None:
    hint = explain_first_bytes(TLS_HANDSHAKE)
    assert hint is not None and hint.startswith("the server answered with TLS, not MQTT")


def test_an_http_response_means_a_websocket_port() -> None:
    hint = explain_first_bytes(HTTP_403)
    assert hint is not None
    assert "answered with HTTP ('HTTP/1.0 403 Forbidden'), not MQTT" in hint
    assert "transport='websockets'" in hint


def test_other_text_is_quoted_shortened() -> None:
    hint = explain_first_bytes(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    assert hint is not None and "answered with text ('SSH-2.0-OpenSSH_9.2p1 Debian-2')" in hint
    long_line = b"ERROR " + b"x" * 200 + b"\n"
    hint = explain_first_bytes(long_line)
    assert hint is not None and "'ERROR xxx" in hint and "x' ..." not in hint
    assert len(hint) < 250


@pytest.mark.parametrize("data", MQTT_FIRST_BYTES, ids=lambda data: data[:2].hex())
def test_mqtt_is_never_taken_for_another_protocol(data: bytes) -> None:
    assert explain_first_bytes(data) is None
    assert not looks_like_another_protocol(data)


@pytest.mark.parametrize("data", [b"", b"\x16", b"\x16\x03", b"HT", b"ab\x00cd", b"\xff" * 8])
def test_too_little_or_binary_says_nothing(data: bytes) -> None:
    assert explain_first_bytes(data) is None


def test_looks_like_another_protocol() -> None:
    assert looks_like_another_protocol(TLS_ALERT)
    assert looks_like_another_protocol(HTTP_403)


# -- TLS failures ---------------------------------------------------------------------------


def _ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower().replace('_', ' ')} (_ssl.c:1006)")
    error.reason = reason
    return error


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("TLSV13_ALERT_CERTIFICATE_REQUIRED", "requires a client certificate and got none"),
        ("TLSV1_ALERT_UNKNOWN_CA", "did not accept the client certificate"),
        ("SSLV3_ALERT_BAD_CERTIFICATE", "did not accept the client certificate"),
        ("SSLV3_ALERT_HANDSHAKE_FAILURE", "does it require a client certificate?"),
        ("WRONG_VERSION_NUMBER", "did not answer in TLS: is this a TLS port?"),
        ("TLSV1_ALERT_PROTOCOL_VERSION", "no TLS version in common: check tls_version"),
        ("UNEXPECTED_EOF_WHILE_READING", "closed the TLS connection during the handshake"),
    ],
)
def test_tls_errors_by_reason(reason: str, expected: str) -> None:
    hint = explain_tls_error(_ssl_error(reason), client_certificate=False)
    assert hint is not None and expected in hint


def test_the_certificate_hint_fits_how_tls_was_configured() -> None:
    required = _ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED")
    with_params = explain_tls_error(required, client_certificate=False)
    with_context = explain_tls_error(required, client_certificate=None)
    assert with_params is not None and "tls_params certfile/keyfile" in with_params
    assert with_context is not None and "load_cert_chain" in with_context
    # A client that offered a certificate is not asked whether it should offer one.
    refused = _ssl_error("SSLV3_ALERT_HANDSHAKE_FAILURE")
    with_certificate = explain_tls_error(refused, client_certificate=True)
    assert with_certificate is not None and "certificate" not in with_certificate
    reset = explain_tls_error(ConnectionResetError(104, "reset"), client_certificate=True)
    assert reset == "the broker closed the TLS connection during the handshake: is this a TLS port?"


def test_a_failed_verification_keeps_its_own_text() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed: unable to get issuer")
    assert explain_tls_error(error, client_certificate=False) is None
    assert explain_tls_error(_ssl_error("SOMETHING_ELSE"), client_certificate=False) is None
    assert explain_tls_error(ValueError("no"), client_certificate=False) is None


# -- WebSocket upgrades that get no answer ----------------------------------------------------


def test_a_websocket_upgrade_closed_unanswered() -> None:
    plain = explain_websocket_failure(
        ConnectionResetError(104, "reset"), tls=False, client_certificate=False
    )
    assert plain is not None and "is this a WebSocket port without TLS" in plain
    assert "transport='tcp'" in plain
    secure = explain_websocket_failure(None, tls=True, client_certificate=False)
    assert secure is not None and "WebSocket port for TLS (wss)?" in secure
    assert "require a client certificate" in secure
    required = _ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED")
    hint = explain_websocket_failure(required, tls=True, client_certificate=False)
    assert hint is not None and "requires a client certificate" in hint
    assert (
        explain_websocket_failure(OSError(22, "other"), tls=False, client_certificate=None) is None
    )


# -- no CONNACK -------------------------------------------------------------------------------


def _no_connack(**observed: Any) -> str | None:
    kind = {"tls": False, "websocket": False, "client_certificate": False}
    return explain_no_connack(**{"received": b"", "lost": None, **kind, **observed})


def test_no_connack_explained_by_the_first_bytes() -> None:
    assert _no_connack(received=HTTP_403) == explain_first_bytes(HTTP_403)
    assert _no_connack(received=bytes.fromhex("20020005")) is None


def test_no_connack_after_a_silent_close() -> None:
    plain = _no_connack(lost=ConnectionResetError(104, "reset"))
    assert plain is not None and plain.startswith(
        "the server closed the connection without answering CONNECT: if this port expects TLS"
    )
    tls = _no_connack(tls=True)
    assert tls is not None and "does it require a client certificate" in tls
    assert _no_connack(tls=True, client_certificate=True) is None
    assert _no_connack(websocket=True) is None  # its upgrade was answered: a WebSocket port


def test_no_connack_after_a_tls_alert() -> None:
    lost = _ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED")
    hint = _no_connack(tls=True, lost=lost)
    assert hint is not None and hint.startswith("the broker requires a client certificate")


# -- against mosquitto's listeners ------------------------------------------------------------


class RecordingSession(MqttSession):
    """Records what the client's link would see: the first bytes, how the connection ended."""

    def __init__(self) -> None:
        super().__init__()
        self.first_bytes = b""

    def data_received(self, data: bytes) -> None:
        if not self.first_bytes:
            self.first_bytes = bytes(data)
        super().data_received(data)


async def _no_connack_hint(settings: TransportSettings) -> str | None:
    """Connect (the transport opens), wait for the end before any CONNACK, explain it."""
    _, session = await open_connection(RecordingSession, settings)
    async with asyncio.timeout(LOST_TIMEOUT):
        lost = await session.lost
    while not session.events.empty():
        assert not isinstance(session.events.get_nowait(), Connected)
    return explain_for_settings(settings, session.first_bytes, lost)


async def _stage_error(settings: TransportSettings, stage: str) -> str:
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    assert caught.value.stage == stage
    return str(caught.value)


def _at(broker: TransportBroker, port: int, **options: Any) -> TransportSettings:
    return TransportSettings(hostname=broker.host, port=port, timeout=LOST_TIMEOUT, **options)


async def test_plain_tcp_at_a_tls_port(transport_broker: TransportBroker) -> None:
    hint = await _no_connack_hint(
        _at(transport_broker, transport_broker.port_of(transport_broker.tls))
    )
    # mosquitto resets the connection without a byte: the hint names both likely ports.
    assert hint is not None
    assert "closed the connection without answering CONNECT: if this port expects TLS" in hint


async def test_plain_tcp_at_a_websocket_port(transport_broker: TransportBroker) -> None:
    hint = await _no_connack_hint(
        _at(transport_broker, transport_broker.port_of(transport_broker.websocket))
    )
    assert hint is not None
    assert hint.startswith("the server answered with HTTP ('HTTP/")
    assert "transport='websockets'" in hint


async def test_plain_tcp_at_a_tls_websocket_port(transport_broker: TransportBroker) -> None:
    hint = await _no_connack_hint(
        _at(transport_broker, transport_broker.port_of(transport_broker.websocket_tls))
    )
    assert hint is not None and "if this port expects TLS" in hint


async def test_tls13_without_the_required_client_certificate(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    # TLS 1.3: the handshake completes, the broker's refusal comes after it.
    params = TLSParameters(ca_certs=str(pki.ca_pem), tls_version=ssl.TLSVersion.TLSv1_3)
    settings = _at(
        transport_broker, transport_broker.port_of(transport_broker.mutual_tls), tls_params=params
    )
    hint = await _no_connack_hint(settings)
    assert hint is not None and "client certificate" in hint
    assert "tls_params certfile/keyfile" in hint


async def test_tls12_without_the_required_client_certificate(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    params = TLSParameters(ca_certs=str(pki.ca_pem), tls_version=ssl.PROTOCOL_TLSv1_2)
    settings = _at(
        transport_broker, transport_broker.port_of(transport_broker.mutual_tls), tls_params=params
    )
    text = await _stage_error(settings, "tls")
    assert "the broker refused the TLS handshake: does it require a client certificate?" in text
    assert "handshake failure" in text  # OpenSSL's own words stay


async def test_tls_at_a_plain_mqtt_port(transport_broker: TransportBroker, pki: Pki) -> None:
    params = TLSParameters(ca_certs=str(pki.ca_pem))
    text = await _stage_error(
        _at(transport_broker, transport_broker.port, tls_params=params), "tls"
    )
    assert "the broker closed the TLS connection during the handshake" in text
    assert "Is this a TLS port?" in text


async def test_tls_at_a_plain_websocket_port(transport_broker: TransportBroker, pki: Pki) -> None:
    params = TLSParameters(ca_certs=str(pki.ca_pem))
    port = transport_broker.port_of(transport_broker.websocket)
    text = await _stage_error(_at(transport_broker, port, tls_params=params), "tls")
    assert "the server did not answer in TLS: is this a TLS port?" in text


@pytest.mark.parametrize("listener", ["plain", "tls"])
async def test_websocket_at_an_mqtt_port(transport_broker: TransportBroker, listener: str) -> None:
    port = (
        transport_broker.port
        if listener == "plain"
        else transport_broker.port_of(transport_broker.tls)
    )
    text = await _stage_error(_at(transport_broker, port, transport="websockets"), "websocket")
    assert "instead of answering the WebSocket upgrade: is this a WebSocket port" in text
    assert "transport='tcp'" in text


async def test_secure_websocket_without_the_required_client_certificate(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    params = TLSParameters(ca_certs=str(pki.ca_pem))
    port = transport_broker.port_of(transport_broker.mutual_tls)
    text = await _stage_error(
        _at(transport_broker, port, transport="websockets", tls_params=params), "websocket"
    )
    assert "client certificate" in text


async def test_the_right_port_needs_no_hint(transport_broker: TransportBroker) -> None:
    _, session = await open_connection(
        RecordingSession, _at(transport_broker, transport_broker.port)
    )
    await session.next_event(Connected)
    assert not looks_like_another_protocol(session.first_bytes)
    assert await session.close() is None
