"""The example test suite of docs/testing.md (examples/testing/: the thermostat and its tests)
passes, run as its user would run it: copied into a scratch folder with its own pytest.ini,
and run by pytest (``pytester``, in this process) with asyncmqtt's plugin coming in through
its entry point; on the embedded broker, and with ``--mqtt-broker=mosquitto``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from broker import INSTALL_HINT, find_mosquitto

SUITE = Path(__file__).resolve().parents[1] / "examples" / "testing"


def run_suite(pytester: pytest.Pytester, *arguments: str) -> pytest.RunResult:
    for path in SUITE.iterdir():
        if path.is_file():
            shutil.copy(path, pytester.path / path.name)
    # (hypothesis's plugin would import all of hypothesis again: seconds, for nothing here.)
    return pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-rs", *arguments
    )


def test_the_example_suite_passes_on_the_embedded_broker(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester)
    result.assert_outcomes(passed=5)


def test_the_example_suite_on_mosquitto_skips_what_needs_the_embedded_broker(
    pytester: pytest.Pytester,
) -> None:
    if find_mosquitto() is None:
        pytest.fail(f"mosquitto is not installed: {INSTALL_HINT}", pytrace=False)
    result = run_suite(pytester, "--mqtt-broker=mosquitto")
    # The hooks (authenticate) and restart() are the embedded broker's: those two skip,
    # saying why; the rest passes on mosquitto.
    result.assert_outcomes(passed=3, skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED*mqtt_broker_factory(authenticate=...)*",
            "SKIPPED*restart() is the embedded broker's*",
        ]
    )
