"""The embedded broker's hooks: who may connect, what each client may do, and where a client
should go instead (here: a second embedded broker, standing for a new installation).

Each hook is a plain function the broker calls while it handles the packet, so it must answer
at once (no I/O): None lets the client through, a reason code refuses.
"""

import asyncio
from collections.abc import Callable

import asyncmqtt
from asyncmqtt import ConnAckReasonCode
from asyncmqtt.broker import Action, Broker, Redirect

PASSWORDS = {"alice": b"wonderland", "bob": b"builder"}


def authenticate(client_id: str, username: str | None, password: bytes | None) -> int | None:
    """Checks CONNECT's user name and password: None accepts, a CONNACK code refuses."""
    if username in PASSWORDS and password == PASSWORDS[username]:
        return None
    return ConnAckReasonCode.BAD_USER_NAME_OR_PASSWORD  # 0x86


def authorize(client_id: str, username: str | None, action: Action, topic: str) -> int | None:
    """Everyone may read sensors/#; only alice may publish there."""
    if action is Action.PUBLISH and topic.startswith("sensors/") and username != "alice":
        return 0x87  # Not authorized: in PUBACK / PUBREC (a QoS 0 message is dropped)
    if action is Action.SUBSCRIBE and not topic.startswith("sensors/"):
        return 0x87  # in SUBACK
    return None


def redirect_to(new_broker: str) -> Callable[[str, str | None], Redirect | None]:
    """A redirect hook: the clients of the old installation go to the new broker."""

    def redirect(client_id: str, username: str | None) -> Redirect | None:
        if client_id.startswith("legacy-"):
            return Redirect(new_broker, permanent=True)  # CONNACK 0x9D, Server moved
        return None  # the others connect here

    return redirect


async def main() -> None:
    async with Broker(port=0) as new_broker:
        old_broker = Broker(
            port=0,
            authenticate=authenticate,
            authorize=authorize,
            redirect=redirect_to(f"{new_broker.host}:{new_broker.port}"),
        )
        async with old_broker:
            await use(old_broker, new_broker)


async def use(broker: Broker, new_broker: Broker) -> None:
    address = (broker.host, broker.port)
    try:
        async with asyncmqtt.Client(*address, username="alice", password="rabbit"):
            pass
    except asyncmqtt.MqttConnectError as error:
        print(f"wrong password: CONNACK {error.rc:#04x}")

    alice = asyncmqtt.Client(*address, username="alice", password="wonderland")
    bob = asyncmqtt.Client(*address, username="bob", password="builder")
    async with alice, bob:
        await bob.subscribe("sensors/#", qos=1)
        try:
            await bob.subscribe("admin/#", qos=1)
        except asyncmqtt.MqttCodeError as error:
            print(f"bob subscribing to admin/#: SUBACK {error.rc}")
        try:
            await bob.publish("sensors/kitchen", "1.0", qos=1)
        except asyncmqtt.MqttCodeError as error:
            print(f"bob publishing to sensors/kitchen: PUBACK {error.rc:#04x}")
        await alice.publish("sensors/kitchen", "21.5", qos=1)
        message = await anext(bob.messages)
        print(f"bob received {message.topic} = {message.payload.decode()}")

    # asyncmqtt's client follows a redirect (the Server Reference) by itself...
    legacy = asyncmqtt.Client(*address, identifier="legacy-7", username="bob", password="builder")
    async with legacy:
        moved = legacy.server_address == (new_broker.host, new_broker.port)
        print(f"legacy-7 was sent to the new broker: {moved}")
    # ...unless told not to.
    try:
        async with asyncmqtt.Client(*address, identifier="legacy-8", follow_redirects=False):
            pass
    except asyncmqtt.MqttConnectError as error:
        print(f"legacy-8, not following: CONNACK {error.rc:#04x}")


asyncio.run(main())
