"""Failover and redirects end to end: two mosquittos, the first killed, for failover; the
embedded broker (mosquitto sends no redirects) for CONNACK and DISCONNECT 0x9C / 0x9D with a
Server Reference. The logic's corner cases are tested offline in test_supervisor_failover.py."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import mypy.api
import pytest
from client_helpers import GUARD_SECONDS, next_message

from asyncmqtt import Client, MqttConnectError, MqttError, Reconnect
from asyncmqtt.broker import Broker, Redirect

if TYPE_CHECKING:
    from conftest import MosquittoFactory

REPOSITORY = Path(__file__).resolve().parents[2]
STEADY = Reconnect(initial_delay=0.05, max_delay=0.05, jitter=False)
# A backoff the test would notice: a reconnection that waited for it would outlast the guard.
SLOW = Reconnect(initial_delay=3 * GUARD_SECONDS, max_delay=3 * GUARD_SECONDS, jitter=False)


async def round_trip(client: Client, topic: str) -> bytes:
    """Publish to ``topic`` (which ``client`` subscribed to) and return what comes back."""
    await client.publish(topic, b"ping", qos=1)
    return (await next_message(client.messages)).payload


async def test_a_killed_primary_fails_over_to_the_second_mosquitto(
    make_mosquitto: MosquittoFactory, topic: str
) -> None:
    primary, second = make_mosquitto(), make_mosquitto()
    client = Client(
        primary.host,
        primary.port,
        identifier="failing-over",
        failover_servers=[(second.host, second.port)],
        reconnect=STEADY,
    )
    async with client:
        assert client.server_address == (primary.host, primary.port)
        await client.subscribe(topic, qos=1)
        primary.kill()
        # The publish waits for the reconnection, which lands on the second broker; the
        # subscription is made again there (a broker that never saw this client).
        assert await round_trip(client, topic) == b"ping"
        assert client.server_address == (second.host, second.port)
    # A first connection tries the servers in order too; the primary, back, is used again.
    async with client:
        assert client.server_address == (second.host, second.port)
    primary.start()
    async with client:
        assert client.server_address == (primary.host, primary.port)


@pytest.mark.parametrize("permanent", [False, True])
async def test_a_connack_redirect_of_the_embedded_broker_is_followed(
    permanent: bool, topic: str
) -> None:
    asked: list[str] = []
    async with Broker(port=0) as target:

        def redirect(client_id: str, username: str | None) -> Redirect:
            asked.append(client_id)
            return Redirect(f"{target.host}:{target.port}", permanent)

        async with Broker(port=0, redirect=redirect) as origin:
            client = Client(origin.host, origin.port, identifier="redirected")
            async with client:
                assert client.server_address == (target.host, target.port)
                assert "redirected" in target.core.clients
                await client.subscribe(topic, qos=1)
                assert await round_trip(client, topic) == b"ping"
            async with client:
                assert client.server_address == (target.host, target.port)
            # 0x9C is for this attempt only: the origin is asked again. 0x9D: it moved.
            assert asked == (["redirected"] if permanent else ["redirected", "redirected"])
            with pytest.raises(MqttConnectError) as caught:
                async with Client(origin.host, origin.port, follow_redirects=False):
                    pass
            assert caught.value.rc == (0x9D if permanent else 0x9C)
            assert f"(server reference '{target.host}:{target.port}')" in str(caught.value)
            assert str(caught.value).endswith("not followed: follow_redirects=False")


@pytest.mark.parametrize("permanent", [False, True])
async def test_a_disconnect_redirect_of_the_embedded_broker_is_followed_at_once(
    permanent: bool, topic: str
) -> None:
    async with Broker(port=0) as origin, Broker(port=0) as target:
        client = Client(origin.host, origin.port, identifier="moving", reconnect=SLOW)
        async with client:
            await client.subscribe(topic, qos=1)
            reference = f"{target.host}:{target.port}"
            assert origin.disconnect("moving", redirect=Redirect(reference, permanent))
            # No backoff delay before following the broker's word (SLOW would outlast the
            # guard of next_message).
            assert await round_trip(client, topic) == b"ping"
            assert client.server_address == (target.host, target.port)
            assert "moving" not in origin.core.clients
        # Later connections start from the primary again, unless the server moved.
        async with client:
            where = client.server_address
        assert where == ((target.host, target.port) if permanent else (origin.host, origin.port))


async def test_without_reconnect_a_disconnect_redirect_ends_the_block_and_is_followed_next(
    topic: str,
) -> None:
    async with Broker(port=0) as origin, Broker(port=0) as target:
        client = Client(origin.host, origin.port, identifier="moving")
        with pytest.raises(MqttError, match=r"USE_ANOTHER_SERVER\) \(server reference"):
            async with client:
                origin.disconnect("moving", redirect=Redirect(f"{target.host}:{target.port}"))
                await anext(client.messages)
        async with client:
            assert client.server_address == (target.host, target.port)


TYPING_CASES = """\
from asyncmqtt import Client

client = Client("a", failover_servers=[("b", 1883)], follow_redirects=False)
host, port = client.server_address
reveal_type(client.server_address)
Client("a", failover_servers=[("b", "1883")])  # line 6: the port is an int
Client("a", failover_servers=["b:1883"])  # line 7: (host, port) tuples
"""


def test_the_failover_arguments_are_typed_under_mypy_strict(tmp_path: Path) -> None:
    cases = tmp_path / "cases.py"
    cases.write_text(TYPING_CASES)
    example = REPOSITORY / "examples" / "failover.py"
    report, errors, status = mypy.api.run(
        ["--strict", "--cache-dir", str(REPOSITORY / ".mypy_cache"), str(example), str(cases)]
    )
    found = [
        line.split(": error: ")[0].rsplit(":", 1)[1]
        for line in report.splitlines()
        if ": error: " in line
    ]
    assert (status, errors, found) == (1, "", ["6", "7"]), report
    revealed = 'Revealed type is "tuple[str, int]"'
    assert revealed in report.replace("builtins.", ""), report
    assert "failover.py" not in report  # examples/failover.py is clean
