"""What the transport tests connect to: certificates made at test time, and one broker with a
listener of every kind. The fixtures that build them live in ``conftest.py``.

``make_pki`` writes a throwaway CA (PyPI ``trustme``) with a server certificate for 127.0.0.1
only (so "localhost" is a hostname mismatch), a client certificate, the client key once more
encrypted with ``KEY_PASSWORD``, the certificate of a second CA that signed nothing we use (an
"unknown CA"), and a certificate for "localhost" for servers of our own.
``start_transport_broker`` starts a mosquitto with a plain TCP, a TLS, a mutual-TLS, a
WebSocket, a TLS WebSocket and a Unix-socket listener.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from broker import Mosquitto, TlsFiles, TlsListener, UnixListener, WebSocketListener

__all__ = ("KEY_PASSWORD", "Pki", "TransportBroker", "make_pki", "start_transport_broker")

KEY_PASSWORD = "correct horse"


@dataclass(frozen=True)
class Pki:
    ca_pem: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    unknown_ca_pem: Path
    localhost_cert: Path  # a server certificate for the name "localhost" (the SNI test)
    localhost_key: Path

    def server_files(self, *, require_certificate: bool = False) -> TlsFiles:
        return TlsFiles(self.ca_pem, self.server_cert, self.server_key, require_certificate)


def make_pki(directory: Path) -> Pki:
    import trustme
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    client = ca.issue_cert("client.asyncmqtt.test")
    pki = Pki(
        ca_pem=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        client_key_encrypted=directory / "client-encrypted.key",
        unknown_ca_pem=directory / "unknown-ca.pem",
        localhost_cert=directory / "localhost.pem",
        localhost_key=directory / "localhost.key",
    )
    ca.cert_pem.write_to_path(str(pki.ca_pem))
    server.cert_chain_pems[0].write_to_path(str(pki.server_cert))
    server.private_key_pem.write_to_path(str(pki.server_key))
    client.cert_chain_pems[0].write_to_path(str(pki.client_cert))
    client.private_key_pem.write_to_path(str(pki.client_key))
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    pki.client_key_encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
        )
    )
    trustme.CA().cert_pem.write_to_path(str(pki.unknown_ca_pem))
    localhost = ca.issue_cert("localhost")
    localhost.cert_chain_pems[0].write_to_path(str(pki.localhost_cert))
    localhost.private_key_pem.write_to_path(str(pki.localhost_key))
    return pki


@dataclass
class TransportBroker:
    """One mosquitto with a listener of every kind, and where each one is."""

    mosquitto: Mosquitto
    tls: TlsListener
    mutual_tls: TlsListener
    websocket: WebSocketListener
    websocket_tls: WebSocketListener
    unix: UnixListener

    @property
    def host(self) -> str:
        return self.mosquitto.host

    @property
    def port(self) -> int:
        """The plain TCP listener's port."""
        return self.mosquitto.port

    @staticmethod
    def port_of(listener: TlsListener | WebSocketListener) -> int:
        assert listener.port is not None, "the broker picks ports when it starts"
        return listener.port


def start_transport_broker(pki: Pki) -> TransportBroker:
    """Start (and return) the broker; the caller closes ``.mosquitto``."""
    mosquitto = Mosquitto()
    broker = TransportBroker(
        mosquitto=mosquitto,
        tls=mosquitto.add_tls_listener(pki.server_files()),
        mutual_tls=mosquitto.add_tls_listener(pki.server_files(require_certificate=True)),
        websocket=mosquitto.add_websocket_listener(),
        websocket_tls=mosquitto.add_websocket_listener(pki.server_files()),
        unix=mosquitto.add_unix_listener(),
    )
    try:
        mosquitto.start()
    except BaseException:
        mosquitto.close()
        raise
    return broker
