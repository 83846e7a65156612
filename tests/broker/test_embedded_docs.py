"""The broker's modules in the API reference: every public name (each module's ``__all__``) is
named by a ``:::`` directive of a page in docs/api/, under one of its public import paths.

A static check of the pages' sources, so that it needs no site build; ``make docs`` (strict)
then proves that each directive renders. (tests/test_docs_site.py checks the built site's
anchors for the modules of its PUBLIC_MODULES.)
"""

from __future__ import annotations

import importlib
import re
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
import yaml

DOCS_API = Path(__file__).resolve().parents[2] / "docs" / "api"
BROKER_MODULES = (
    "asyncmqtt.broker",
    "asyncmqtt.protocol.broker",
    "asyncmqtt.protocol.broker_config",
    "asyncmqtt.protocol.server",
    "asyncmqtt.protocol.server_session",
    "asyncmqtt.protocol.timers",
)
MODULES: dict[str, ModuleType] = {name: importlib.import_module(name) for name in BROKER_MODULES}
DIRECTIVE = re.compile(r"^::: (\S+)\n((?:[ \t]+\S.*\n?)*)", re.MULTILINE)


def documented_paths() -> set[str]:
    """The import paths the reference's directives render."""
    paths: set[str] = set()
    for page in DOCS_API.rglob("*.md"):
        for target, block in DIRECTIVE.findall(page.read_text()):
            options = (yaml.safe_load(textwrap.dedent(block)) or {}).get("options", {})
            members = options.get("members")
            if members:
                paths.update(f"{target}.{member}" for member in members)
            else:
                paths.add(target)
    return paths


DOCUMENTED = documented_paths()


@pytest.mark.parametrize(
    ("module", "name"),
    [(module, name) for module in BROKER_MODULES for name in MODULES[module].__all__],
)
def test_every_public_broker_name_is_in_the_api_reference(module: str, name: str) -> None:
    value = getattr(MODULES[module], name)
    paths = {
        f"{other}.{name}"
        for other, namespace in MODULES.items()
        if getattr(namespace, name, None) is value
    }
    assert paths & DOCUMENTED, f"{module}.{name} is missing from docs/api/ (as any of {paths})"


def test_every_broker_module_has_a_page() -> None:
    for module in BROKER_MODULES:
        assert any(path.startswith(f"{module}.") for path in DOCUMENTED), module
