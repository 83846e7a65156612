"""What probably went wrong when connecting fails at the transport: the hints in the errors.

A client pointed at the wrong kind of port, or without the client certificate a broker
requires, fails in ways whose plain description misleads: a TLS port resets a plain MQTT
connection ("closed before CONNACK"), a WebSocket port answers an HTTP error that decodes as a
malformed PUBACK, a TLS 1.3 broker that wants a client certificate lets the handshake finish and
closes after it. The functions here turn what was observed (the first bytes the server sent,
the exception that ended the connection, the kind of connection tried) into a sentence saying
what probably happened and what to check. They are pure and do no I/O: ``transports`` uses them
for the tls and websocket stages, the client for a connection that ended before CONNACK.

Each returns ``None`` when it has nothing useful to add: a hint is only given for a pattern
that the wrong port or a missing certificate produces.
"""

from __future__ import annotations

import ssl
from typing import Final

__all__ = (
    "explain_first_bytes",
    "explain_no_connack",
    "explain_tls_error",
    "explain_websocket_failure",
    "looks_like_another_protocol",
)

# TLS record content types: change_cipher_spec, alert, handshake, application_data.
_TLS_CONTENT_TYPES: Final = frozenset({0x14, 0x15, 0x16, 0x17})
_TLS_ALERT: Final = 0x15
_SHOWN_CHARS: Final = 60

_USE_TLS: Final = "connect with tls_params=TLSParameters(...) or a tls_context"
_USE_WEBSOCKETS: Final = "connect with transport='websockets' (and the broker's websocket_path)"
_WHICH_PORTS: Final = "(MQTT usually listens on 1883, MQTT over TLS on 8883)"

# OpenSSL's reasons (ssl.SSLError.reason), grouped by what they mean for the user.
_CERTIFICATE_REQUIRED: Final = frozenset({"TLSV13_ALERT_CERTIFICATE_REQUIRED"})
_CERTIFICATE_REFUSED: Final = frozenset(
    {
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
        "TLSV1_ALERT_DECRYPT_ERROR",
    }
)
_HANDSHAKE_REFUSED: Final = frozenset({"SSLV3_ALERT_HANDSHAKE_FAILURE"})
_NOT_TLS: Final = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
        "HTTP_REQUEST",
        "HTTPS_PROXY_REQUEST",
    }
)
_NO_COMMON_VERSION: Final = frozenset(
    {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"}
)
_CLOSED_TEXTS: Final = ("UNEXPECTED_EOF", "EOF occurred in violation of protocol")


# -- what the server sent -------------------------------------------------------------------------


def explain_first_bytes(data: bytes) -> str | None:
    """What the first bytes a server sent instead of CONNACK say about it, or None.

    Recognises a TLS record (a TLS port answering plain MQTT: usually an alert), an HTTP
    response (a WebSocket or web port), and other text that starts with a letter (some other
    server's banner or error line, four printable characters at least). A TLS record begins
    with what would be a CONNECT (0x14-0x17), which no broker sends; a line of text cannot
    begin a packet that decodes as CONNACK (0x20) and would have ended the connect well. So
    this is meant for bytes the client could not take as the CONNACK it waited for.
    """
    if len(data) >= 3 and data[0] in _TLS_CONTENT_TYPES and data[1] == 0x03 and data[2] <= 0x04:
        what = "a TLS alert" if data[0] == _TLS_ALERT else "TLS"
        return f"the server answered with {what}, not MQTT: this port expects TLS; {_USE_TLS}"
    line = _text_line(data)
    if line is None or not line[0].isalpha():
        return None
    if line.startswith("HTTP/"):
        return (
            f"the server answered with HTTP ({_show(line)}), not MQTT: this looks like a "
            f"WebSocket (or web) port; {_USE_WEBSOCKETS}, or use the broker's MQTT port"
        )
    return (
        f"the server answered with text ({_show(line)}), not MQTT: is this the broker's MQTT "
        f"port? {_WHICH_PORTS}"
    )


def looks_like_another_protocol(data: bytes) -> bool:
    """Whether ``data`` (the first bytes a server sent) are TLS, HTTP or text, never MQTT.

    When they are, trying again with another MQTT version cannot help.
    """
    return explain_first_bytes(data) is not None


def _text_line(data: bytes) -> str | None:
    """The first line of ``data`` if it is printable ASCII text (at least 4 characters)."""
    end = len(data)
    for index, byte in enumerate(data):
        if byte in (0x0A, 0x0D):
            end = index
            break
        if not 0x20 <= byte < 0x7F and byte != 0x09:
            return None
    if end < 4:
        return None
    return data[:end].decode("ascii")


def _show(text: str) -> str:
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return repr(text[:_SHOWN_CHARS]) + "..."


# -- TLS ----------------------------------------------------------------------------------------


def explain_tls_error(error: BaseException, *, client_certificate: bool | None) -> str | None:
    """What a TLS failure (during the handshake, or right after it) probably means, or None.

    ``client_certificate``: whether the client offered a certificate (True: ``tls_params``
    with a ``certfile``; False: ``tls_params`` without one; None: a ``tls_context``, which may
    or may not hold one). A failed verification of the broker's certificate is left alone:
    its own text ("certificate verify failed: ...") says what is wrong.
    """
    if isinstance(error, ssl.SSLCertVerificationError):
        return None
    reason = getattr(error, "reason", None) if isinstance(error, ssl.SSLError) else None
    if reason in _CERTIFICATE_REQUIRED:
        return (
            "the broker requires a client certificate and got none: "
            f"{_give_certificate(client_certificate)}"
        )
    if reason in _CERTIFICATE_REFUSED:
        return (
            "the broker did not accept the client certificate: is it signed by a CA the broker "
            "trusts, valid now, and given with its key (certfile/keyfile)?"
        )
    if reason in _HANDSHAKE_REFUSED:
        if client_certificate:
            return "the broker refused the TLS handshake: do tls_version and ciphers match its?"
        return (
            "the broker refused the TLS handshake: does it require a client certificate? "
            f"({_give_certificate(client_certificate)}; else check tls_version and ciphers)"
        )
    if reason in _NOT_TLS:
        return (
            "the server did not answer in TLS: is this a TLS port? "
            f"For a plain MQTT port drop the TLS settings {_WHICH_PORTS}"
        )
    if reason in _NO_COMMON_VERSION:
        return "the broker and the client have no TLS version in common: check tls_version"
    if _closed(error):
        question = "is this a TLS port?"
        if not client_certificate:
            question = (
                f"does it require a client certificate ({_give_certificate(client_certificate)})? "
                "Is this a TLS port?"
            )
        return f"the broker closed the TLS connection during the handshake: {question}"
    return None


def _give_certificate(client_certificate: bool | None) -> str:
    if client_certificate is None:
        return "load one into the tls_context with load_cert_chain"
    return "give tls_params certfile/keyfile"


def _closed(error: BaseException) -> bool:
    """Whether ``error`` means that the peer closed or reset the connection."""
    if isinstance(error, ConnectionError | ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return True
    return isinstance(error, ssl.SSLError) and any(text in str(error) for text in _CLOSED_TEXTS)


# -- WebSocket ----------------------------------------------------------------------------------


def explain_websocket_failure(
    cause: BaseException | None, *, tls: bool, client_certificate: bool | None
) -> str | None:
    """Why a WebSocket upgrade got no answer: ``cause`` is what ended the connection.

    A TLS failure is explained as such; a connection closed (or answered with something that
    is not HTTP) means the port is probably not a WebSocket port.
    """
    if tls and isinstance(cause, ssl.SSLError) and not _closed(cause):
        return explain_tls_error(cause, client_certificate=client_certificate)
    if cause is None or _closed(cause) or not isinstance(cause, OSError):
        hint = (
            "the server closed the connection instead of answering the WebSocket upgrade: is "
            "this a WebSocket port"
        )
        if tls:
            hint += " for TLS (wss)?"
            if not client_certificate:
                hint += (
                    " Does the broker require a client certificate "
                    f"({_give_certificate(client_certificate)})?"
                )
        else:
            hint += " without TLS (for wss give tls_params or a tls_context)?"
        return f"{hint} For an MQTT port use transport='tcp' {_WHICH_PORTS}"
    return None


# -- no CONNACK -----------------------------------------------------------------------------------


def explain_no_connack(
    *,
    received: bytes,
    lost: BaseException | None,
    tls: bool,
    websocket: bool,
    client_certificate: bool | None,
) -> str | None:
    """Why a connection the transport opened probably ended before CONNACK, or None.

    ``received``: the first bytes the server sent (empty if none); ``lost``: the exception
    that ended the connection (``connection_lost``'s), if any; ``tls``, ``websocket`` and
    ``client_certificate``: what kind of connection it was (see ``explain_tls_error``).
    """
    if received:
        return explain_first_bytes(received)
    if tls and lost is not None:
        hint = explain_tls_error(lost, client_certificate=client_certificate)
        if hint is not None:
            return hint
    if websocket:
        return None  # the upgrade succeeded: the server does speak WebSocket on this port
    if tls:
        if client_certificate:
            return None
        # TLS 1.3: the client's handshake ends before the broker checks for a certificate,
        # so its refusal arrives (or the connection just closes) after the handshake.
        return (
            "the broker closed the TLS connection without answering CONNECT: does it require "
            f"a client certificate ({_give_certificate(client_certificate)})?"
        )
    return (
        "the server closed the connection without answering CONNECT: if this port expects "
        f"TLS, {_USE_TLS}; if it is a WebSocket port, {_USE_WEBSOCKETS} {_WHICH_PORTS}"
    )
