"""Enhanced authentication (MQTT 5) on the embedded broker: a challenge-response method of
your own, both sides.

The method here, "EXAMPLE-HMAC", is a toy: the client names its user, the broker answers with a
random challenge, and the client proves that it holds the user's key by returning the
challenge's HMAC. For real use, SCRAM-SHA-256 ships with asyncmqtt (see the Authentication
guide); this shows how any method plugs in.
"""

import asyncio
import hashlib
import hmac
import os

import asyncmqtt
from asyncmqtt.broker import AuthContinue, AuthFailure, AuthSuccess, Broker

METHOD = "EXAMPLE-HMAC"
KEYS = {"alice": b"alice's secret key"}  # what the broker knows


class HmacVerifier:
    """The broker's side of one exchange (a ``ServerAuthenticator``)."""

    def __init__(self) -> None:
        self.key: bytes | None = None
        self.challenge = b""

    def step(self, data: bytes | None) -> AuthContinue | AuthSuccess | AuthFailure:
        if self.key is None:  # the first step: data is the user name, from CONNECT
            key = KEYS.get((data or b"").decode(errors="replace"))
            if key is None:
                return AuthFailure(0x87)  # Not authorized
            self.key, self.challenge = key, os.urandom(16)
            return AuthContinue(self.challenge)  # AUTH 0x18 with the challenge
        expected = hmac.new(self.key, self.challenge, hashlib.sha256).digest()
        if data is not None and hmac.compare_digest(data, expected):
            return AuthSuccess()  # CONNACK 0x00
        return AuthFailure(0x87)


def enhanced_authentication(method: str) -> HmacVerifier | None:
    """The hook: a new verifier per exchange, None for a method the broker does not know."""
    return HmacVerifier() if method == METHOD else None


class HmacAuthenticator:
    """The client's side (an ``asyncmqtt.Authenticator``): a new exchange per connection."""

    method = METHOD

    def __init__(self, username: str, key: bytes) -> None:
        self.username, self.key = username, key

    def initial_data(self) -> bytes:
        return self.username.encode()

    def challenge(self, data: bytes | None) -> bytes:
        return hmac.new(self.key, data or b"", hashlib.sha256).digest()

    def complete(self, data: bytes | None) -> None:
        pass  # (a method where the broker proves itself too checks that here)


async def main() -> None:
    async with Broker(port=0, enhanced_authentication=enhanced_authentication) as broker:
        authenticator = HmacAuthenticator("alice", KEYS["alice"])
        client = asyncmqtt.Client(broker.host, broker.port, authenticator=authenticator)
        async with client:
            print(f"alice connected with {authenticator.method}")
            await client.reauthenticate()  # AUTH 0x19: a new exchange on the live connection
            print("alice re-authenticated")

        impostor = HmacAuthenticator("alice", b"a guessed key")
        try:
            async with asyncmqtt.Client(broker.host, broker.port, authenticator=impostor):
                pass
        except asyncmqtt.MqttConnectError as error:
            print(f"a wrong key is refused: CONNACK {error.rc:#04x}")


asyncio.run(main())
