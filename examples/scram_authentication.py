"""SCRAM-SHA-256 with the embedded broker: the password never crosses the network, and the
broker has to prove that it holds the user's keys too.

The broker keeps only what SCRAM needs (a salt and two keys per user, no password); the client
runs the exchange on every connection, and again on the live connection when asked.
"""

import asyncio

import asyncmqtt
from asyncmqtt.broker import Broker
from asyncmqtt.scram import ScramCredentials, ScramSha256Verifier

PASSWORD = "correct horse battery staple"


async def main() -> None:
    # What the broker stores instead of passwords (a real one loads it from its user database).
    users = {"alice": ScramCredentials.from_password(PASSWORD)}
    verifier = ScramSha256Verifier(users)  # the broker's side of the exchange
    async with Broker(port=0, enhanced_authentication=verifier) as broker:  # 127.0.0.1
        authenticator = asyncmqtt.ScramSha256Authenticator("alice", PASSWORD)
        client = asyncmqtt.Client(broker.host, broker.port, authenticator=authenticator)
        async with client:
            print(f"connected as {authenticator.username} ({authenticator.method})")
            await client.subscribe("greetings", qos=1)
            await client.publish("greetings", "hello", qos=1)
            message = await anext(client.messages)
            print(f"received {message.payload!r}")
            await client.reauthenticate()  # a new exchange, on the same connection
            print("re-authenticated")

        wrong = asyncmqtt.ScramSha256Authenticator("alice", "not the password")
        try:
            async with asyncmqtt.Client(broker.host, broker.port, authenticator=wrong):
                pass
        except asyncmqtt.MqttConnectError as error:
            print(f"a wrong password is refused: {error}")


asyncio.run(main())
