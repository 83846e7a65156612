"""The guides in docs/ show the example files literally, so the docs cannot drift from code
that the test suite runs (test_client_examples.py; the transports' own examples, in the TLS,
WebSocket and proxy guides, in tests/transports/test_examples.py)."""

from __future__ import annotations

import re

import pytest
from client_helpers import EXAMPLES, REPOSITORY

DOCS = REPOSITORY / "docs"
GUIDES = [
    "connecting.md",
    "publishing.md",
    "subscribing.md",
    "filtered-streams.md",
    "routing.md",
    "shared-subscriptions.md",
    "sharing-the-connection.md",
    "web-frameworks.md",
    "reconnecting.md",
    "failover.md",
    "offline-queue.md",
    "persistent-sessions.md",
    "session-stores.md",
    "manual-acks.md",
    "request-response.md",
    "topic-aliases.md",
    "migration.md",
    "interoperability.md",
    "tls.md",
    "authentication.md",
    "websockets.md",
    "proxies.md",
    "observability.md",
    "broker.md",
    "testing.md",
]
INCLUDE = re.compile(r"<!-- example: (\S+) -->\n```python\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("guide", GUIDES)
def test_every_python_block_is_an_example_file(guide: str) -> None:
    text = (DOCS / guide).read_text()
    included = INCLUDE.findall(text)
    # Every Python block of the guide is an included file, shown exactly as it is.
    assert len(included) == text.count("```python")
    for path, code in included:
        assert (REPOSITORY / path).read_text() == code, f"{guide} shows an old {path}"


@pytest.mark.parametrize("guide", GUIDES)
def test_links_between_guides_resolve(guide: str) -> None:
    text = (DOCS / guide).read_text()
    for target in re.findall(r"\]\(([^)#]+\.md)\)", text):
        assert (DOCS / target).is_file(), f"{guide} links to a missing {target}"


def test_every_example_appears_in_a_guide() -> None:
    shown = {path for guide in GUIDES for path, _ in INCLUDE.findall((DOCS / guide).read_text())}
    present = {
        f"examples/{path.relative_to(EXAMPLES).as_posix()}" for path in EXAMPLES.rglob("*.py")
    }
    assert present == shown
