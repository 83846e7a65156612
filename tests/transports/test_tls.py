"""TLS against mosquitto's TLS listeners, with certificates made for this run (``pki``).

The server certificate names 127.0.0.1 only, so connecting to "localhost" is a hostname
mismatch. The mutual-TLS listener requires a client certificate signed by the same CA.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator

import pytest
from mqtt_session import MqttSession, round_trip, round_trip_through
from transport_servers import KEY_PASSWORD, Pki, TransportBroker

from asyncmqtt.errors import MqttConnectError
from asyncmqtt.protocol.enums import ProtocolVersion
from asyncmqtt.protocol.events import Connected
from asyncmqtt.transports import TLSParameters, TransportSettings, open_connection


def _tls(broker: TransportBroker, **options: object) -> TransportSettings:
    return TransportSettings(
        hostname=options.pop("hostname", broker.host),  # type: ignore[arg-type]
        port=broker.port_of(broker.tls),
        **options,  # type: ignore[arg-type]
    )


async def _refused_at_tls(settings: TransportSettings) -> MqttConnectError:
    with pytest.raises(MqttConnectError) as caught:
        await open_connection(MqttSession, settings)
    error = caught.value
    assert error.stage == "tls"
    assert error.address == settings.address
    assert "tls stage" in str(error) and settings.address in str(error)
    return error


@pytest.mark.parametrize("version", [ProtocolVersion.V311, ProtocolVersion.V5], ids=str)
async def test_round_trip_with_tls_params(
    transport_broker: TransportBroker, pki: Pki, version: ProtocolVersion
) -> None:
    settings = _tls(transport_broker, tls_params=TLSParameters(ca_certs=str(pki.ca_pem)))
    assert settings.address.startswith("mqtts://")
    transport, session = await open_connection(lambda: MqttSession(version), settings)
    ssl_object = transport.get_extra_info("ssl_object")
    assert ssl_object is not None
    assert ssl_object.getpeercert()["subjectAltName"] == (("IP Address", "127.0.0.1"),)
    await round_trip(session)
    assert await session.close() is None


async def test_round_trip_with_an_ssl_context(transport_broker: TransportBroker, pki: Pki) -> None:
    context = ssl.create_default_context(cafile=str(pki.ca_pem))
    transport, session = await open_connection(
        MqttSession, _tls(transport_broker, tls_context=context)
    )
    assert transport.get_extra_info("sslcontext") is context
    await round_trip(session)
    assert await session.close() is None


async def test_an_unknown_ca_is_refused(transport_broker: TransportBroker, pki: Pki) -> None:
    settings = _tls(transport_broker, tls_params=TLSParameters(ca_certs=str(pki.unknown_ca_pem)))
    error = await _refused_at_tls(settings)
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
    assert "certificate verify failed" in str(error)


async def test_verification_is_on_by_default(transport_broker: TransportBroker) -> None:
    # The system's CAs do not know the CA made for this run.
    error = await _refused_at_tls(_tls(transport_broker, tls_params=TLSParameters()))
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)


async def test_cert_none_turns_verification_off(transport_broker: TransportBroker) -> None:
    params = TLSParameters(cert_reqs=ssl.CERT_NONE)
    await round_trip_through(_tls(transport_broker, tls_params=params))


async def test_a_hostname_mismatch_is_refused(transport_broker: TransportBroker, pki: Pki) -> None:
    settings = _tls(
        transport_broker, hostname="localhost", tls_params=TLSParameters(ca_certs=str(pki.ca_pem))
    )
    error = await _refused_at_tls(settings)
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
    assert error.__cause__.verify_message.startswith("Hostname mismatch")


async def test_tls_insecure_accepts_a_hostname_mismatch(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    settings = _tls(
        transport_broker,
        hostname="localhost",
        tls_params=TLSParameters(ca_certs=str(pki.ca_pem)),
        tls_insecure=True,
    )
    await round_trip_through(settings)


async def test_tls_insecure_still_verifies_the_chain(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    settings = _tls(
        transport_broker,
        hostname="localhost",
        tls_params=TLSParameters(ca_certs=str(pki.unknown_ca_pem)),
        tls_insecure=True,
    )
    await _refused_at_tls(settings)


async def test_tls_insecure_with_a_context_turns_its_hostname_check_off(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    context = ssl.create_default_context(cafile=str(pki.ca_pem))
    settings = _tls(transport_broker, hostname="localhost", tls_context=context, tls_insecure=True)
    _, session = await open_connection(MqttSession, settings)
    assert context.check_hostname is False  # as paho-mqtt's tls_insecure_set does
    await round_trip(session)
    assert await session.close() is None


# -- mutual TLS ---------------------------------------------------------------------------------


def _mutual(broker: TransportBroker, params: TLSParameters) -> TransportSettings:
    return TransportSettings(
        hostname=broker.host, port=broker.port_of(broker.mutual_tls), tls_params=params
    )


async def test_mutual_tls_with_a_client_certificate(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    params = TLSParameters(
        ca_certs=str(pki.ca_pem), certfile=str(pki.client_cert), keyfile=str(pki.client_key)
    )
    await round_trip_through(_mutual(transport_broker, params))


async def test_mutual_tls_with_a_password_protected_key(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    params = TLSParameters(
        ca_certs=pki.ca_pem,
        certfile=pki.client_cert,
        keyfile=pki.client_key_encrypted,
        keyfile_password=KEY_PASSWORD,
    )
    await round_trip_through(_mutual(transport_broker, params))


async def test_a_wrong_key_password_fails_at_the_tls_stage(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    params = TLSParameters(
        ca_certs=pki.ca_pem,
        certfile=pki.client_cert,
        keyfile=pki.client_key_encrypted,
        keyfile_password="wrong",
    )
    error = await _refused_at_tls(_mutual(transport_broker, params))
    assert "cannot build the TLS context" in str(error)
    assert isinstance(error.__cause__, ssl.SSLError)


async def test_mutual_tls_without_a_client_certificate_tls12(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    # In TLS 1.2 the server asks for the certificate during the handshake, which fails.
    params = TLSParameters(ca_certs=str(pki.ca_pem), tls_version=ssl.PROTOCOL_TLSv1_2)
    error = await _refused_at_tls(_mutual(transport_broker, params))
    assert isinstance(error.__cause__, ssl.SSLError)
    assert "handshake failure" in str(error)


async def test_mutual_tls_without_a_client_certificate_tls13(
    transport_broker: TransportBroker, pki: Pki
) -> None:
    # In TLS 1.3 the client finishes its handshake first; the server's refusal arrives as an
    # alert afterwards, so the connection is lost before any CONNACK.
    params = TLSParameters(ca_certs=str(pki.ca_pem), tls_version=ssl.TLSVersion.TLSv1_3)
    _, session = await open_connection(MqttSession, _mutual(transport_broker, params))
    async with asyncio.timeout(10):
        lost = await session.lost
    assert not any(isinstance(event, Connected) for event in _drain(session))
    assert isinstance(lost, ssl.SSLError)
    assert "certificate required" in str(lost)


def _drain(session: MqttSession) -> Iterator[object]:
    while not session.events.empty():
        yield session.events.get_nowait()


# -- how the context is made and used ----------------------------------------------------------


async def test_certificate_files_are_read_off_the_event_loop(
    transport_broker: TransportBroker, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    build = TLSParameters.context

    def recording_context(self: TLSParameters) -> ssl.SSLContext:
        threads.append(threading.current_thread())
        return build(self)

    monkeypatch.setattr(TLSParameters, "context", recording_context)
    settings = _tls(transport_broker, tls_params=TLSParameters(ca_certs=str(pki.ca_pem)))
    _, session = await open_connection(MqttSession, settings)
    assert len(threads) == 1 and threads[0] is not threading.main_thread()
    await session.next_event(Connected)
    assert await session.close() is None


async def test_sni_names_the_host(pki: Pki) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(pki.localhost_cert, pki.localhost_key)
    names: list[str | None] = []
    server_context.sni_callback = lambda ssl_object, name, context: names.append(name)
    server = await asyncio.start_server(
        lambda reader, writer: writer.close(), "127.0.0.1", 0, ssl=server_context
    )
    port = server.sockets[0].getsockname()[1]
    async with server:
        settings = TransportSettings(
            hostname="localhost", port=port, tls_params=TLSParameters(ca_certs=str(pki.ca_pem))
        )
        transport, session = await open_connection(MqttSession, settings)
        transport.close()
        async with asyncio.timeout(10):
            await session.lost
    assert names == ["localhost"]


async def test_a_missing_ca_file_fails_at_the_tls_stage(
    transport_broker: TransportBroker, tmp_path: object
) -> None:
    missing = f"{tmp_path}/missing-ca.pem"
    error = await _refused_at_tls(
        _tls(transport_broker, tls_params=TLSParameters(ca_certs=missing))
    )
    assert isinstance(error.__cause__, FileNotFoundError)
