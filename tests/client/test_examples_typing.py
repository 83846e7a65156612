"""The examples of the MQTT 5 features (request/response, enhanced authentication, topic
aliases, shared subscriptions, routing, failover) are checked by ``mypy --strict``, as
applications using that API would be. (The router's and failover's own typing cases, which
must fail, are in their tests.)"""

from __future__ import annotations

from pathlib import Path

import mypy.api

REPOSITORY = Path(__file__).resolve().parents[2]
TYPED_EXAMPLES = (
    "request_response_requester.py",
    "request_response_responder.py",
    "scram_authentication.py",
    "topic_aliases.py",
    "shared_subscriptions.py",
    "router.py",
    "failover.py",
)


def test_the_mqtt5_feature_examples_pass_mypy_strict() -> None:
    paths = [str(REPOSITORY / "examples" / name) for name in TYPED_EXAMPLES]
    report, errors, status = mypy.api.run(
        ["--strict", "--cache-dir", str(REPOSITORY / ".mypy_cache"), *paths]
    )
    assert (status, errors) == (0, ""), report
    assert f"no issues found in {len(paths)} source files" in report
