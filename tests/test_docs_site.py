"""The documentation site (mkdocs.yml): it builds in strict mode, its API reference has an entry
for every public name, its navigation has every page, and docs/ reads on GitHub as well.

The site is built once, into a temporary directory, with the ``mkdocs`` of this environment.
mkdocstrings gives every object it documents an HTML anchor named by its import path
(``id="asyncmqtt.Client"``): a public name without one was left out of the reference.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

import asyncmqtt

REPOSITORY = Path(__file__).resolve().parent.parent
DOCS = REPOSITORY / "docs"
PAGES = sorted(DOCS.rglob("*.md"))

# Modules whose ``__all__`` is public API beyond ``asyncmqtt.__all__``: the errors (all of the
# tree), the import paths kept for aiomqtt / asyncio-mqtt programs, and the sans-I/O engine.
PUBLIC_MODULES = (
    "asyncmqtt.errors",
    "asyncmqtt.exceptions",
    "asyncmqtt.message",
    "asyncmqtt.topic",
    "asyncmqtt.error",
    "asyncmqtt.protocol.connection",
    "asyncmqtt.protocol.config",
    "asyncmqtt.protocol.session",
    "asyncmqtt.protocol.events",
    "asyncmqtt.protocol.packets",
    "asyncmqtt.protocol.codec",
    "asyncmqtt.protocol.properties",
    "asyncmqtt.protocol.topics",
    "asyncmqtt.protocol.enums",
    "asyncmqtt.otel",
    "asyncmqtt.scram",
    "asyncmqtt.broker",
    "asyncmqtt.pytest_plugin",
    "asyncmqtt.protocol.broker",
    "asyncmqtt.protocol.broker_config",
    "asyncmqtt.protocol.server",
    "asyncmqtt.protocol.server_session",
    "asyncmqtt.protocol.timers",
    "asyncmqtt.router",
)
MODULES: dict[str, ModuleType] = {
    name: importlib.import_module(name) for name in ("asyncmqtt", *PUBLIC_MODULES)
}

ANCHOR = re.compile(r'\bid="([^"]+)"')
# An example included in a page: the marker, then the file's text as a Python block.
INCLUDE = re.compile(r"<!-- example: (\S+) -->\n```python\n(.*?)```", re.DOTALL)
# The target of an inline link or image, outside code spans (those are matched and skipped).
LINK = re.compile(r"(`+).+?\1|\]\(([^)\s]+)\)")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built strictly: any warning (a broken link, a missing object) fails it.

    Not with ``--quiet``: MkDocs 1.6 then drops warnings before strict mode counts them.
    """
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPOSITORY,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}{result.stderr}"
    return out


@pytest.fixture(scope="session")
def anchors(site: Path) -> set[str]:
    """Every anchor of the API reference's pages."""
    pages = (site / "api").rglob("*.html")
    return {anchor for page in pages for anchor in ANCHOR.findall(page.read_text())}


def test_the_site_has_every_section(site: Path) -> None:
    for page in ("index.html", "api/index.html", "changelog/index.html", "benchmarks/index.html"):
        assert (site / page).is_file(), page
    # The example programs the TLS, WebSocket and proxy guides link to are published.
    published = site / "examples" / "tls.py"
    assert published.read_text() == (REPOSITORY / "examples" / "tls.py").read_text()


@pytest.mark.parametrize("name", asyncmqtt.__all__)
def test_every_public_name_is_in_the_api_reference(name: str, anchors: set[str]) -> None:
    assert f"asyncmqtt.{name}" in anchors, f"asyncmqtt.{name} is missing from docs/api/"


def public_paths(module: str, name: str) -> set[str]:
    """Every public import path of ``module.name``'s object under that same name."""
    value = getattr(MODULES[module], name)
    return {
        f"{other}.{name}"
        for other, namespace in MODULES.items()
        if getattr(namespace, name, None) is value
    }


@pytest.mark.parametrize(
    ("module", "name"),
    [(module, name) for module in PUBLIC_MODULES for name in MODULES[module].__all__],
)
def test_every_public_module_name_is_in_the_api_reference(
    module: str, name: str, anchors: set[str]
) -> None:
    # Documented once, under any of its public paths (``asyncmqtt.QoS`` covers
    # ``asyncmqtt.protocol.enums.QoS``).
    paths = public_paths(module, name)
    assert paths & anchors, f"{module}.{name} is missing from docs/api/ (as any of {paths})"


def nav_pages(entries: object) -> set[str]:
    if isinstance(entries, str):
        return {entries}
    if isinstance(entries, list):
        return {page for entry in entries for page in nav_pages(entry)}
    if isinstance(entries, dict):
        return {page for entry in entries.values() for page in nav_pages(entry)}
    return set()


def test_the_navigation_has_every_page() -> None:
    config = yaml.safe_load((REPOSITORY / "mkdocs.yml").read_text())
    in_nav = nav_pages(config["nav"])
    assert {page.relative_to(DOCS).as_posix() for page in PAGES} <= in_nav
    # ... and the files published from elsewhere in the repository (scripts/mkdocs_hooks.py).
    assert {"changelog.md", "architecture.md", "benchmarks/index.md"} <= in_nav


# Every page shows only example files, which the test suite runs.
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(DOCS).as_posix())
def test_every_python_block_of_a_page_is_an_example_file(page: Path) -> None:
    text = page.read_text()
    included = INCLUDE.findall(text)
    assert len(included) == text.count("```python")
    for path, code in included:
        assert (REPOSITORY / path).read_text() == code, f"{page.name} shows an old {path}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(DOCS).as_posix())
def test_relative_links_resolve_in_the_repository(page: Path) -> None:
    # docs/ is read on GitHub too: its links point to files of the repository, which the site
    # maps to its own pages.
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.DOTALL | re.MULTILINE)
    for _, target in LINK.findall(text):
        path = target.partition("#")[0]
        if not target or re.match(r"[a-z][a-z0-9+.-]*:", target) or not path:
            continue
        assert (page.parent / path).exists(), f"{page.name} links to a missing {target}"
