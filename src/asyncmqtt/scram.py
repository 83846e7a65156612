"""SCRAM-SHA-256 over MQTT 5 enhanced authentication: the client's authenticator, and a
verifier for the embedded broker.

SCRAM (RFC 5802, with SHA-256 from RFC 7677) proves both ways that each side knows the
password without sending it, and without the server storing it: the server keeps a salt, an
iteration count and two keys derived from the password (``ScramCredentials``). The client
proves it knows the password; the server proves it knows the keys, so a broker that is not
the real one is found out too.

Over MQTT (Authentication Method ``"SCRAM-SHA-256"``) the four SCRAM messages ride in the
Authentication Data of these packets::

    client                                              broker
    CONNECT    client-first-message  (user, nonce)  ->
                                                    <-  AUTH 0x18  server-first-message
                                                                   (nonce, salt, iterations)
    AUTH 0x18  client-final-message  (proof)        ->
                                                    <-  CONNACK 0x00  server-final-message
                                                                      (server signature)

A re-authentication is the same with AUTH 0x19 in place of CONNECT and AUTH 0x00 in place
of CONNACK. A wrong password ends with CONNACK 0x87 (Not authorized), or DISCONNECT 0x87
when re-authenticating; a broker whose signature does not verify is rejected by the client,
which then closes the connection (0x87).

Why this module is outside ``asyncmqtt.protocol``: SCRAM needs a fresh random nonce for every
exchange, and the sans-I/O engine takes no randomness (nor imports ``os``, ``random`` or
``secrets``). Here the nonces come from ``secrets`` unless the caller injects its own
(``nonce=``, as the tests do to replay the RFC's example). The engine sees only the
``Authenticator`` interface. The arithmetic is the standard library's: PBKDF2 from
``hashlib``, HMAC from ``hmac``.

Not supported: channel binding (SCRAM-SHA-256-PLUS; the client sends the GS2 header ``n,,``)
and authorization identities other than the user itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from .protocol.broker_config import (
    AuthContinue,
    AuthFailure,
    AuthReply,
    AuthSuccess,
    ServerAuthenticator,
)
from .protocol.checks import check_int, check_str, show
from .protocol.enums import ConnAckReasonCode

__all__ = ("ScramCredentials", "ScramSha256Authenticator", "ScramSha256Verifier")

_METHOD: Final = "SCRAM-SHA-256"
_GS2_HEADER: Final = "n,,"  # no channel binding, no authorization identity
_KEY_SIZE: Final = 32  # SHA-256
# RFC 7677: a server SHOULD use at least 4096 iterations. Far more would let a rogue broker
# stall the client's event loop: PBKDF2 runs synchronously, inside the engine's callback.
_MINIMUM_ITERATIONS: Final = 4096
_MAXIMUM_ITERATIONS: Final = 1_000_000


# ---------------------------------------------------------------------- the arithmetic


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


def _salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)


def _client_key(salted: bytes) -> bytes:
    return _hmac(salted, b"Client Key")


def _server_key(salted: bytes) -> bytes:
    return _hmac(salted, b"Server Key")


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError(f"the {what} is not valid base64: {show(text)}") from None


# ---------------------------------------------------------------------- strings


def _saslprep(text: str, *, stored: bool = False) -> str:
    """``text`` prepared with SASLprep (RFC 4013), as SCRAM does user names and passwords.

    Non-ASCII spaces become spaces, characters "commonly mapped to nothing" (soft hyphens,
    zero-width joiners, ...) are removed, the rest is normalized to NFKC; prohibited
    characters (controls, private use, surrogates, ...) and mixed-direction text raise
    ``ValueError``. ``stored=True`` also refuses unassigned code points (for what a server
    stores; queries allow them).
    """
    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char
        for char in text
        if not stringprep.in_table_b1(char)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    for char in prepared:
        if (
            stringprep.in_table_c12(char)
            or stringprep.in_table_c21_c22(char)
            or stringprep.in_table_c3(char)
            or stringprep.in_table_c4(char)
            or stringprep.in_table_c5(char)
            or stringprep.in_table_c6(char)
            or stringprep.in_table_c7(char)
            or stringprep.in_table_c8(char)
            or stringprep.in_table_c9(char)
        ):
            raise ValueError(f"SASLprep prohibits the character U+{ord(char):04X}")
        if stored and stringprep.in_table_a1(char):
            raise ValueError(f"SASLprep refuses the unassigned code point U+{ord(char):04X}")
    # Bidirectional text (RFC 3454 section 6): right-to-left text may hold no left-to-right
    # character, and must begin and end with a right-to-left one.
    if any(stringprep.in_table_d1(char) for char in prepared) and (
        any(stringprep.in_table_d2(char) for char in prepared)
        or not stringprep.in_table_d1(prepared[0])
        or not stringprep.in_table_d1(prepared[-1])
    ):
        raise ValueError(f"SASLprep refuses this mix of text directions: {show(text)}")
    return prepared


def _prepared(name: str, value: object, *, stored: bool = False) -> str:
    text = _saslprep(check_str(name, value), stored=stored)
    if not text:
        raise ValueError(f"{name} must not be empty (after SASLprep)")
    return text


def _escape_name(name: str) -> str:
    # (The order matters: "=" first, or the "=" of "=2C" would be escaped again.)
    return name.replace("=", "=3D").replace(",", "=2C")


def _unescape_name(text: str) -> str:
    parts = text.split("=")
    for part in parts[1:]:
        if part[:2] not in ("2C", "3D"):
            raise ValueError(f"the user name {show(text)} holds an '=' that is not =2C or =3D")
    return text.replace("=2C", ",").replace("=3D", "=")


def _check_nonce(nonce: object, what: str) -> str:
    """A nonce as SCRAM allows it: printable ASCII except ','."""
    if not isinstance(nonce, str) or not nonce:
        raise ValueError(f"the {what} must be a non-empty str, got {show(nonce)}")
    if any(not "!" <= char <= "~" or char == "," for char in nonce):
        raise ValueError(f"the {what} {show(nonce)} must be printable ASCII without ','")
    return nonce


def _random_nonce() -> str:
    return secrets.token_urlsafe(18)  # 144 bits, 24 characters from [A-Za-z0-9_-]


def _attributes(message: str, expected: str, what: str) -> list[str]:
    """The values of a SCRAM message's leading ``k=value`` attributes, in ``expected`` order;
    extensions after them are ignored (a mandatory one, ``m=``, fails)."""
    parts = message.split(",")
    if parts[0].startswith("m="):
        raise ValueError(f"the {what} asks for an extension this SCRAM does not support")
    values = []
    for index, key in enumerate(expected):
        if index >= len(parts) or not parts[index].startswith(f"{key}="):
            raise ValueError(f"the {what} {show(message)} has no '{key}=' attribute where due")
        values.append(parts[index][2:])
    return values


def _text(data: bytes | None, what: str) -> str:
    if data is None:
        raise ValueError(f"the broker sent no {what} (no Authentication Data)")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ValueError(f"the {what} is not UTF-8: {show(data)}") from None


# ---------------------------------------------------------------------- client side


class ScramSha256Authenticator:
    """The client side of SCRAM-SHA-256: an ``Authenticator`` for ``Client(authenticator=...)``.

    ``username`` and ``password`` are the SCRAM credentials (``str``; prepared with SASLprep).
    They travel inside the exchange, not in CONNECT's user name and password fields (a broker
    may want those too; ``Client``'s ``username`` stays free for that).

    Keyword only:

    * ``nonce``: called once per exchange for this side's nonce (printable ASCII without
      ``,``); default: 24 random characters from ``secrets``. Tests inject fixed ones.
    * ``minimum_iterations`` / ``maximum_iterations``: the PBKDF2 iteration counts accepted
      from the broker (default 4096, RFC 7677's floor, to 1,000,000). Fewer would weaken what
      an eavesdropper can brute-force; more would stall the event loop (PBKDF2 runs inside
      the engine's callback, once per salt and iteration count: the result is kept for the
      next exchange).

    Each ``initial_data`` starts a new exchange with a new nonce and forgets the previous
    one, so a reconnect, or a re-authentication, never reuses a nonce or a half-done
    exchange. Any failure to verify the broker raises ``ValueError`` (the engine then ends
    the connection with 0x87): a server nonce that does not extend ours, an iteration count
    out of range, a server signature that does not match, or a broker that accepted without
    finishing the exchange. Raises ``TypeError`` / ``ValueError`` for bad arguments.
    """

    __slots__ = (
        "_client_nonce",
        "_first_bare",
        "_keys",
        "_maximum_iterations",
        "_minimum_iterations",
        "_nonce",
        "_password",
        "_server_signature",
        "_stage",
        "_username",
    )

    def __init__(
        self,
        username: str,
        password: str,
        *,
        nonce: Callable[[], str] | None = None,
        minimum_iterations: int = _MINIMUM_ITERATIONS,
        maximum_iterations: int = _MAXIMUM_ITERATIONS,
    ) -> None:
        self._username = _prepared("username", username)
        self._password = _prepared("password", password)
        if nonce is not None and not callable(nonce):
            raise TypeError(f"nonce must be callable or None, got {show(nonce)}")
        self._nonce = _random_nonce if nonce is None else nonce
        self._minimum_iterations = check_int("minimum_iterations", minimum_iterations, 1, 2**31)
        self._maximum_iterations = check_int(
            "maximum_iterations", maximum_iterations, self._minimum_iterations, 2**31
        )
        # (salt, iterations, ClientKey, ServerKey) of the last exchange: reused while the
        # broker sends the same salt and count, as it does for one user.
        self._keys: tuple[bytes, int, bytes, bytes] | None = None
        self._stage = "idle"  # idle -> first sent -> final sent -> done
        self._client_nonce = ""
        self._first_bare = ""
        self._server_signature = b""

    def __repr__(self) -> str:  # (never the password)
        return f"ScramSha256Authenticator(username={self._username!r})"

    @property
    def method(self) -> str:
        """``"SCRAM-SHA-256"``, the Authentication Method."""
        return _METHOD

    @property
    def username(self) -> str:
        """The SCRAM user name (after SASLprep)."""
        return self._username

    def initial_data(self) -> bytes:
        """The client-first-message of a new exchange (``n,,n=<user>,r=<nonce>``)."""
        nonce = _check_nonce(self._nonce(), "client nonce")
        self._client_nonce = nonce
        self._first_bare = f"n={_escape_name(self._username)},r={nonce}"
        self._stage = "first sent"
        return (_GS2_HEADER + self._first_bare).encode()

    def challenge(self, data: bytes | None) -> bytes:
        """The client-final-message (the proof), given the broker's server-first-message."""
        if self._stage != "first sent":
            raise ValueError(
                f"SCRAM: the broker sent a challenge where none was due ({self._stage})"
            )
        server_first = _text(data, "server-first-message")
        nonce, salt_text, count = _attributes(server_first, "rsi", "server-first-message")
        if not nonce.startswith(self._client_nonce) or nonce == self._client_nonce:
            raise ValueError("SCRAM: the broker's nonce does not extend the client's nonce")
        _check_nonce(nonce, "broker's nonce")
        salt = _unb64(salt_text, "salt")
        if not salt:
            raise ValueError("SCRAM: the broker sent an empty salt")
        if not count.isdigit() or not count.isascii():
            raise ValueError(f"SCRAM: the iteration count {show(count)} is not a number")
        iterations = int(count)
        low, high = self._minimum_iterations, self._maximum_iterations
        if not low <= iterations <= high:
            raise ValueError(
                f"SCRAM: the broker asks for {iterations} iterations, outside the accepted "
                f"{low} to {high} (minimum_iterations, maximum_iterations)"
            )
        client_key, server_key = self._derive(salt, iterations)
        without_proof = f"c={_b64(_GS2_HEADER.encode())},r={nonce}"
        auth_message = f"{self._first_bare},{server_first},{without_proof}".encode()
        stored_key = hashlib.sha256(client_key).digest()
        proof = _xor(client_key, _hmac(stored_key, auth_message))
        self._server_signature = _hmac(server_key, auth_message)
        self._stage = "final sent"
        return f"{without_proof},p={_b64(proof)}".encode()

    def complete(self, data: bytes | None) -> None:
        """Check the broker's server-final-message (its signature); ``ValueError`` if wrong."""
        stage, self._stage = self._stage, "done"
        if stage != "final sent":
            raise ValueError(
                "SCRAM: the broker accepted before the exchange was finished, so it never "
                "proved that it knows the password's keys"
            )
        server_final = _text(data, "server-final-message")
        if server_final.startswith("e="):
            raise ValueError(f"SCRAM: the broker reported the error {server_final[2:]!r}")
        [signature] = _attributes(server_final, "v", "server-final-message")
        if not hmac.compare_digest(_unb64(signature, "server signature"), self._server_signature):
            raise ValueError(
                "SCRAM: the broker's signature does not verify: it does not hold this user's "
                "keys (the wrong broker, or someone in between)"
            )

    def _derive(self, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
        keys = self._keys
        if keys is None or keys[0] != salt or keys[1] != iterations:
            salted = _salted_password(self._password, salt, iterations)
            keys = self._keys = (salt, iterations, _client_key(salted), _server_key(salted))
        return keys[2], keys[3]


# ---------------------------------------------------------------------- server side


@dataclass(frozen=True, slots=True)
class ScramCredentials:
    """What a SCRAM server stores for one user instead of the password.

    Make it with ``ScramCredentials.from_password``, or from the four values stored
    elsewhere. Raises ``TypeError`` / ``ValueError`` for values of the wrong type or size.
    """

    salt: bytes
    """The random salt (not empty)."""
    iterations: int
    """The PBKDF2 iteration count (1 or more; 4096 or more is RFC 7677's advice)."""
    stored_key: bytes
    """SHA-256 of the ClientKey (32 bytes): what the client's proof is checked against."""
    server_key: bytes
    """HMAC of the salted password with "Server Key" (32 bytes): signs the server's answer."""

    def __post_init__(self) -> None:
        for name in ("salt", "stored_key", "server_key"):
            value = getattr(self, name)
            if not isinstance(value, bytes):
                raise TypeError(f"{name} must be bytes, got {show(value)}")
        if not self.salt:
            raise ValueError("salt must not be empty")
        check_int("iterations", self.iterations, 1, 2**31)
        if len(self.stored_key) != _KEY_SIZE or len(self.server_key) != _KEY_SIZE:
            raise ValueError(f"stored_key and server_key must be {_KEY_SIZE} bytes (SHA-256)")

    @classmethod
    def from_password(
        cls, password: str, *, salt: bytes | None = None, iterations: int = 4096
    ) -> ScramCredentials:
        """The credentials for ``password`` (SASLprep applied), with ``salt`` (default: 16
        random bytes) and ``iterations`` (default 4096)."""
        prepared = _prepared("password", password, stored=True)
        if salt is None:
            salt = secrets.token_bytes(16)
        check_int("iterations", iterations, 1, 2**31)
        if not isinstance(salt, bytes) or not salt:
            raise TypeError(f"salt must be non-empty bytes, got {show(salt)}")
        salted = _salted_password(prepared, salt, iterations)
        return cls(
            salt=salt,
            iterations=iterations,
            stored_key=hashlib.sha256(_client_key(salted)).digest(),
            server_key=_server_key(salted),
        )


class ScramSha256Verifier:
    """The server side of SCRAM-SHA-256, as the embedded broker's enhanced-authentication hook.

    ``Broker(port=0, enhanced_authentication=ScramSha256Verifier({"alice": "secret"}))``:
    clients connecting with ``ScramSha256Authenticator("alice", "secret")`` are accepted,
    others get CONNACK 0x87 (DISCONNECT 0x87 when re-authenticating). Other Authentication
    Methods are refused as unsupported (0x8C).

    ``users``: a mapping from user name to a password (``str``, turned into
    ``ScramCredentials`` with a random salt here) or to ``ScramCredentials``; or a callable
    that returns a user's ``ScramCredentials``, or None for an unknown user. An unknown user
    is not told so: the exchange runs on with made-up credentials and fails at the proof,
    as a wrong password does.

    ``nonce`` (keyword only): called once per exchange for the server's half of the nonce;
    default: random, from ``secrets``.

    The user name is SCRAM's own: the broker's ``authenticate`` / ``authorize`` hooks see the
    CONNECT user name, which a client may set to anything. Use the same name for both, or
    have those hooks ignore the CONNECT user name.
    """

    __slots__ = ("_lookup", "_nonce", "_secret")

    def __init__(
        self,
        users: Mapping[str, str | ScramCredentials] | Callable[[str], ScramCredentials | None],
        *,
        nonce: Callable[[], str] | None = None,
    ) -> None:
        if isinstance(users, Mapping):
            table = {
                _prepared("user name", name): (
                    value
                    if isinstance(value, ScramCredentials)
                    else ScramCredentials.from_password(value)
                )
                for name, value in users.items()
            }
            self._lookup: Callable[[str], ScramCredentials | None] = table.get
        elif callable(users):
            self._lookup = users
        else:
            raise TypeError(
                f"users must be a mapping of user names or a callable, got {show(users)}"
            )
        if nonce is not None and not callable(nonce):
            raise TypeError(f"nonce must be callable or None, got {show(nonce)}")
        self._nonce = _random_nonce if nonce is None else nonce
        self._secret = secrets.token_bytes(32)  # for the made-up salts of unknown users

    def __call__(self, method: str) -> ServerAuthenticator | None:
        """A new exchange for ``method`` (a ``ServerAuthenticator``), or None for a method
        other than SCRAM-SHA-256."""
        if method != _METHOD:
            return None
        return _ScramServerExchange(self)

    def _credentials(self, username: str) -> tuple[ScramCredentials, bool]:
        """The user's credentials and True; for an unknown user, made-up ones and False."""
        found = self._lookup(username)
        if found is not None:
            if not isinstance(found, ScramCredentials):
                raise TypeError(
                    f"the user lookup must return ScramCredentials or None, not {found!r}"
                )
            return found, True
        salt = _hmac(self._secret, username.encode())[:16]  # the same every time, as if real
        fake = bytes(_KEY_SIZE)
        return ScramCredentials(salt=salt, iterations=4096, stored_key=fake, server_key=fake), False


class _ScramServerExchange:
    """One SCRAM exchange on the server side (a ``ServerAuthenticator``)."""

    __slots__ = (
        "_auth_prefix",
        "_credentials",
        "_gs2_header",
        "_known",
        "_nonce",
        "_steps",
        "_verifier",
    )

    def __init__(self, verifier: ScramSha256Verifier) -> None:
        self._verifier = verifier
        self._steps = 0
        self._nonce = ""  # the combined nonce, once the first message came
        self._gs2_header = ""
        self._auth_prefix = ""  # client-first-message-bare "," server-first-message
        self._credentials: ScramCredentials | None = None
        self._known = False

    def step(self, data: bytes | None) -> AuthReply:
        """The answer to the client's next message (see ``ServerAuthenticator``): any
        message that is not what SCRAM expects fails the exchange with 0x87."""
        self._steps += 1
        try:
            if self._steps == 1:
                return self._first(_text(data, "client-first-message"))
            if self._steps == 2 and self._credentials is not None:  # (the first went well)
                return self._final(_text(data, "client-final-message"))
        except ValueError:
            pass
        return AuthFailure(ConnAckReasonCode.NOT_AUTHORIZED)

    def _first(self, message: str) -> AuthReply:
        flag, authzid, bare = _split_gs2(message)
        if flag not in ("n", "y"):
            raise ValueError("channel binding is not supported")
        name_text, client_nonce = _attributes(bare, "nr", "client-first-message")
        username = _unescape_name(name_text)
        if authzid and authzid != f"a={name_text}":
            raise ValueError("an authorization identity other than the user")
        _check_nonce(client_nonce, "client nonce")
        credentials, self._known = self._verifier._credentials(_saslprep(username))
        self._credentials = credentials
        self._nonce = client_nonce + _check_nonce(self._verifier._nonce(), "server nonce")
        self._gs2_header = f"{flag},{authzid},"
        server_first = f"r={self._nonce},s={_b64(credentials.salt)},i={credentials.iterations}"
        self._auth_prefix = f"{bare},{server_first}"
        return AuthContinue(server_first.encode())

    def _final(self, message: str) -> AuthReply:
        credentials = self._credentials
        assert credentials is not None
        without_proof, separator, proof_text = message.rpartition(",p=")
        if not separator:
            raise ValueError("the client-final-message has no proof")
        binding, nonce = _attributes(without_proof, "cr", "client-final-message")
        if _unb64(binding, "channel binding") != self._gs2_header.encode() or nonce != self._nonce:
            raise ValueError("the channel binding or the nonce does not match")
        proof = _unb64(proof_text, "proof")
        if len(proof) != _KEY_SIZE:
            raise ValueError("the proof has the wrong size")
        auth_message = f"{self._auth_prefix},{without_proof}".encode()
        client_key = _xor(proof, _hmac(credentials.stored_key, auth_message))
        valid = hmac.compare_digest(hashlib.sha256(client_key).digest(), credentials.stored_key)
        if not (valid and self._known):
            return AuthFailure(ConnAckReasonCode.NOT_AUTHORIZED)
        signature = _hmac(credentials.server_key, auth_message)
        return AuthSuccess(f"v={_b64(signature)}".encode())


def _split_gs2(message: str) -> tuple[str, str, str]:
    """(channel binding flag, authorization identity attribute, the rest) of a
    client-first-message."""
    parts = message.split(",", 2)
    if len(parts) != 3:
        raise ValueError("the client-first-message has no GS2 header")
    return parts[0], parts[1], parts[2]
