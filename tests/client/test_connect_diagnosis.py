"""A Client pointed at the wrong kind of port, or without the client certificate the broker
requires, fails with ``MqttConnectError`` saying what probably happened and what to check,
instead of "closed before CONNACK" or "malformed PUBACK" (mosquitto's real listeners).

The connack-stage hints need the supervisor to hand the link's first bytes and the exception
that ended the connection to ``transports.explain_no_connack``; until it does, those tests are
expected to fail (strict: once they pass, the marker must go).
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import pytest
from transport_servers import Pki, TransportBroker

import asyncmqtt
from asyncmqtt import MqttConnectError, TLSParameters

TIMEOUT = 10.0  # nothing here waits for it: every case fails at once


async def _connect_error(broker: TransportBroker, port: int, **options: Any) -> MqttConnectError:
    with pytest.raises(MqttConnectError) as caught:
        async with asyncmqtt.Client(broker.host, port, timeout=TIMEOUT, **options):
            pass
    return caught.value


def _fell_back(caplog: pytest.LogCaptureFixture) -> bool:
    return any("connecting with MQTT 3.1.1" in record.getMessage() for record in caplog.records)


async def test_plain_tcp_at_a_tls_port(transport_broker: TransportBroker) -> None:
    error = await _connect_error(transport_broker, transport_broker.port_of(transport_broker.tls))
    assert error.stage == "connack"
    assert "if this port expects TLS, connect with tls_params" in str(error)


async def test_plain_tcp_at_a_websocket_port(
    transport_broker: TransportBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    port = transport_broker.port_of(transport_broker.websocket)
    error = await _connect_error(transport_broker, port)
    assert error.stage == "connack"
    assert "the server answered with HTTP ('HTTP/" in str(error)
    assert "transport='websockets'" in str(error)
    assert "PUBACK" not in str(error)  # what the decoder made of it is only the cause
    # HTTP is not MQTT of another version: no second attempt with MQTT 3.1.1.
    assert not _fell_back(caplog)


async def test_tls13_without_the_required_client_certificate(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    # TLS 1.3: the handshake completes; the broker's refusal (an alert, or a reset) follows.
    params = TLSParameters(ca_certs=str(pki.ca_pem), tls_version=ssl.TLSVersion.TLSv1_3)
    port = transport_broker.port_of(transport_broker.mutual_tls)
    error = await _connect_error(transport_broker, port, tls_params=params)
    assert error.stage == "connack"
    assert "client certificate" in str(error)
    assert "tls_params certfile/keyfile" in str(error)


async def test_tls12_without_the_required_client_certificate(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    params = TLSParameters(ca_certs=str(pki.ca_pem), tls_version=ssl.PROTOCOL_TLSv1_2)
    port = transport_broker.port_of(transport_broker.mutual_tls)
    error = await _connect_error(transport_broker, port, tls_params=params)
    assert error.stage == "tls"
    assert "does it require a client certificate?" in str(error)


async def test_tls_at_a_plain_port(transport_broker: TransportBroker, pki: Pki) -> None:
    params = TLSParameters(ca_certs=str(pki.ca_pem))
    error = await _connect_error(transport_broker, transport_broker.port, tls_params=params)
    assert error.stage == "tls"
    assert "Is this a TLS port?" in str(error)


async def test_websockets_at_a_plain_port(transport_broker: TransportBroker) -> None:
    error = await _connect_error(transport_broker, transport_broker.port, transport="websockets")
    assert error.stage == "websocket"
    assert "is this a WebSocket port" in str(error)
