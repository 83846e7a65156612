"""asyncmqtt's pytest plugin (``asyncmqtt.pytest_plugin``), as a user's test suite meets it.

Each test writes a small test suite into a scratch folder and runs pytest on it (``pytester``,
in this process: a subprocess per run took several seconds more each): the plugin comes in
through its ``pytest11`` entry point, as it does for users, with whatever plugins and settings
the scratch suite has. The outcomes and the output are what is checked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from broker import INSTALL_HINT, find_mosquitto

import asyncmqtt._mosquitto

# The settings of a user who runs async tests with pytest-asyncio in auto mode.
AUTO_MODE = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""
STRICT_MODE = AUTO_MODE.replace("auto", "strict")


def run(pytester: pytest.Pytester, *arguments: str) -> pytest.RunResult:
    # (hypothesis's plugin would import all of hypothesis again in each run: seconds, here.)
    return pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-ra", *arguments
    )


def write_suite(pytester: pytest.Pytester, source: str, ini: str = AUTO_MODE) -> None:
    pytester.makeini(ini)
    pytester.makepyfile(test_app=textwrap.dedent(source))


ROUND_TRIP = """
    import asyncmqtt
    from asyncmqtt.broker import Broker
    from asyncmqtt.pytest_plugin import MosquittoBroker

    async def test_round_trip(mqtt_client, mqtt_broker, mqtt_broker_kind):
        await mqtt_client.subscribe("greetings/#", qos=1)
        await mqtt_client.publish("greetings/en", "hello", qos=1, retain=True)
        message = await anext(mqtt_client.messages)
        assert message.payload == b"hello"
        expected = {"embedded": Broker, "mosquitto": MosquittoBroker}[mqtt_broker_kind]
        assert type(mqtt_broker) is expected
        print("BROKER", mqtt_broker_kind, mqtt_broker.port)

    async def test_each_test_has_a_fresh_broker(mqtt_client, mqtt_broker):
        # The message the test before retained is not there: another broker.
        await mqtt_client.subscribe("greetings/#", qos=1)
        await mqtt_client.publish("greetings/fr", "bonjour", qos=1)
        message = await anext(mqtt_client.messages)
        assert message.payload == b"bonjour"
        print("BROKER", "again", mqtt_broker.port)

    async def test_a_second_client(mqtt_broker, mqtt_client):
        async with asyncmqtt.Client(**mqtt_broker.client_arguments()) as publisher:
            await mqtt_client.subscribe("a/b")
            await publisher.publish("a/b", "from another client")
            assert (await anext(mqtt_client.messages)).payload == b"from another client"
"""


def test_fixtures_in_a_users_test_file(pytester: pytest.Pytester) -> None:
    write_suite(pytester, ROUND_TRIP)
    result = run(pytester, "-s")
    result.assert_outcomes(passed=3)
    assert "BROKER embedded" in result.stdout.str()


def test_the_fixtures_in_strict_mode(pytester: pytest.Pytester) -> None:
    write_suite(
        pytester,
        """
        import pytest

        @pytest.mark.asyncio
        async def test_publish(mqtt_client, mqtt_broker):
            await mqtt_client.publish("a/b", "c", qos=1)
            assert mqtt_broker.stats.messages_received == 1
        """,
        STRICT_MODE,
    )
    run(pytester).assert_outcomes(passed=1)


def test_the_factory_with_an_authenticate_hook(pytester: pytest.Pytester) -> None:
    write_suite(
        pytester,
        """
        import pytest
        import asyncmqtt
        from asyncmqtt import ConnAckReasonCode
        from asyncmqtt.broker import ClientConnected, ConnectionRefused

        PORTS = []

        def authenticate(client_id, username, password):
            if username == "alice" and password == b"secret":
                return None
            return ConnAckReasonCode.BAD_USER_NAME_OR_PASSWORD

        async def test_only_alice_gets_in(mqtt_broker_factory):
            events = []
            broker = await mqtt_broker_factory(authenticate=authenticate, on_event=events.append)
            PORTS.append(broker.port)
            with pytest.raises(asyncmqtt.MqttCodeError) as refused:
                async with asyncmqtt.Client(
                    broker.host, broker.port, identifier="m", username="mallory"
                ):
                    pass
            assert refused.value.rc == ConnAckReasonCode.BAD_USER_NAME_OR_PASSWORD
            async with asyncmqtt.Client(
                broker.host, broker.port, identifier="a", username="alice", password="secret"
            ) as client:
                await client.publish("a/b", "c", qos=1)
            seen = [(type(event), event.client_id) for event in events]
            assert (ConnectionRefused, "m") in seen and (ClientConnected, "a") in seen

        def test_the_factorys_broker_was_stopped():
            import socket
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", PORTS[0]), timeout=5)

        async def test_settings(mqtt_broker_factory, mqtt_broker):
            limited = await mqtt_broker_factory(maximum_packet_size=1000)
            assert limited.port != mqtt_broker.port
            async with asyncmqtt.Client(limited.host, limited.port) as client:
                with pytest.raises(ValueError, match="1000"):
                    await client.publish("a/b", b"x" * 2000)
        """,
    )
    run(pytester).assert_outcomes(passed=3)


def require_mosquitto() -> None:
    if find_mosquitto() is None:
        pytest.fail(f"mosquitto is not installed: {INSTALL_HINT}", pytrace=False)


def test_the_option_runs_the_same_tests_against_mosquitto(pytester: pytest.Pytester) -> None:
    require_mosquitto()
    write_suite(
        pytester,
        ROUND_TRIP
        + """
    PIDS = []

    async def test_the_process(mqtt_broker):
        PIDS.append(mqtt_broker.pid)
        from pathlib import Path
        assert Path(f"/proc/{mqtt_broker.pid}/comm").read_text().strip() == "mosquitto"

    def test_stopped_by_its_pid():
        import os
        assert not os.path.exists(f"/proc/{PIDS[0]}")

    async def test_settings_skip_on_mosquitto(mqtt_broker_factory):
        await mqtt_broker_factory(max_queued_messages=5)
    """,
    )
    result = run(pytester, "-s", "--mqtt-broker=mosquitto")
    result.assert_outcomes(passed=5, skipped=1)
    output = result.stdout.str()
    assert output.count("BROKER mosquitto") == 1
    result.stdout.fnmatch_lines(
        ["SKIPPED*mqtt_broker_factory(max_queued_messages=...)*--mqtt-broker=mosquitto*"]
    )
    # The first two tests had a mosquitto each.
    assert len(re.findall(r"BROKER \S+ \d+", output)) == 2

    result = run(pytester, "--mqtt-broker=embedded", "-k", "round_trip or fresh or second")
    result.assert_outcomes(passed=3)


def test_the_option_takes_only_the_two_brokers(pytester: pytest.Pytester) -> None:
    write_suite(pytester, ROUND_TRIP)
    result = run(pytester, "--mqtt-broker=hivemq")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mqtt-broker: invalid choice: 'hivemq'*"])


def test_a_missing_mosquitto_is_a_clear_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_suite(
        pytester,
        """
        async def test_publish(mqtt_client):
            await mqtt_client.publish("a/b", "c")
        """,
    )
    # A PATH without mosquitto, and no sbin folder to find it in.
    monkeypatch.setattr(asyncmqtt._mosquitto, "SBIN_DIRS", ())
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    result = run(pytester, "--mqtt-broker=mosquitto")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*--mqtt-broker=mosquitto: the mosquitto executable was not found on PATH*",
            "*apt-get install mosquitto*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_without_pytest_asyncio_the_fixtures_say_what_to_install(
    pytester: pytest.Pytester,
) -> None:
    write_suite(
        pytester,
        """
        async def test_publish(mqtt_client):
            pass

        def test_sync_tests_are_not_touched():
            assert True
        """,
        "[pytest]\nfilterwarnings = error\n",
    )
    result = run(pytester, "-p", "no:asyncio")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*the fixture mqtt_client (asyncmqtt's pytest plugin) is async*install pytest-asyncio*"]
    )


def test_a_sync_test_asking_for_a_broker_is_told_to_be_async(pytester: pytest.Pytester) -> None:
    write_suite(
        pytester,
        """
        def test_sync(mqtt_broker):
            pass
        """,
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_sync is not an async test, and the fixture mqtt_broker is async*"]
    )


def test_anyio_tests_get_the_fixtures_on_their_own_loop(pytester: pytest.Pytester) -> None:
    write_suite(
        pytester,
        """
        import asyncio
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_publish(mqtt_client, mqtt_broker):
            await mqtt_client.publish("a/b", "c", qos=1)
            assert mqtt_broker.stats.messages_received == 1
        """,
        STRICT_MODE,
    )
    run(pytester).assert_outcomes(passed=1)
    # and with no pytest-asyncio at all
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    run(pytester, "-p", "no:asyncio").assert_outcomes(passed=1)


def test_a_failing_test_on_mosquitto_shows_its_log(pytester: pytest.Pytester) -> None:
    require_mosquitto()
    write_suite(
        pytester,
        """
        async def test_fails(mqtt_client):
            assert False, "on purpose"
        """,
    )
    result = run(pytester, "--mqtt-broker=mosquitto")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*mosquitto log (mqtt://127.0.0.1:*)*", "*mosquitto version*"])


def test_importing_asyncmqtt_imports_neither_pytest_nor_the_plugin() -> None:
    code = (
        "import sys, asyncmqtt, asyncmqtt.broker\n"
        "loaded = [name for name in ('pytest', 'asyncmqtt.pytest_plugin') if name in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})
