"""The sans-I/O rule: nothing under asyncmqtt.protocol may use asyncio, sockets, clocks or chance.

Two checks, because each misses what the other sees:

* Dynamic: a fresh interpreter imports every module of the package and reports which modules
  appeared. The interpreter imports some forbidden modules at startup (``time`` always, and
  ``.pth`` files may pull in ``threading`` or ``random``), so the child first forgets those, which
  makes a later import of them show up again; a baseline child that imports nothing shows what
  the mechanism itself adds. The parent ``asyncmqtt`` package is replaced by an empty stub, so
  that its ``__init__`` (which imports the asyncio client) does not count against the core.
* Static: no ``import`` statement in the package's source names a forbidden module, even one
  that is imported only inside a function and so never runs at import time.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

import asyncmqtt.protocol

FORBIDDEN = frozenset(
    {"asyncio", "socket", "ssl", "time", "random", "select", "selectors", "threading"}
)
PROTOCOL_DIR = Path(asyncmqtt.protocol.__file__).parent
PACKAGE_DIR = PROTOCOL_DIR.parent

# Runs in a fresh interpreter: argv[1] is a JSON list of modules to import, argv[2] the
# directory of the asyncmqtt package, argv[3] the JSON list of forbidden top-level names.
_CHILD = """
import importlib, json, sys, types

modules, package_dir, forbidden = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
stub = types.ModuleType("asyncmqtt")
stub.__path__ = [package_dir]
sys.modules["asyncmqtt"] = stub
for name in [name for name in sys.modules if name.partition(".")[0] in forbidden]:
    del sys.modules[name]
before = set(sys.modules)
for module in modules:
    importlib.import_module(module)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def protocol_modules() -> list[str]:
    """Every module under asyncmqtt.protocol, found on disk so that nothing is imported here."""
    names = []
    for path in sorted(PROTOCOL_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def modules_imported_by(modules: Sequence[str]) -> set[str]:
    """The modules a fresh interpreter loads while importing ``modules``."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            json.dumps(modules),
            str(PACKAGE_DIR),
            json.dumps(sorted(FORBIDDEN)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"a fresh interpreter failed to import {modules}:\n{result.stderr}")
    return set(json.loads(result.stdout))


def forbidden_in(modules: Iterable[str]) -> list[str]:
    return sorted(name for name in modules if name.partition(".")[0] in FORBIDDEN)


def forbidden_import_statements(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import statement in ``source`` that names a forbidden module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            named = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            named = [node.module]
        else:
            continue
        found += [(node.lineno, name) for name in named if name.partition(".")[0] in FORBIDDEN]
    return sorted(found)


def test_the_walk_finds_the_core_modules() -> None:
    modules = protocol_modules()
    assert "asyncmqtt.protocol" in modules
    assert {"asyncmqtt.protocol.packets", "asyncmqtt.protocol.enums"} <= set(modules)


def test_importing_the_protocol_package_loads_no_io_modules() -> None:
    modules = protocol_modules()
    baseline = modules_imported_by([])
    imported = modules_imported_by(modules)

    assert set(modules) <= imported  # the child really imported the package
    assert forbidden_in(imported - baseline) == []


def test_the_dynamic_check_sees_a_forbidden_import() -> None:
    # time is loaded at interpreter startup, so this also proves the child forgets it.
    imported = modules_imported_by(["time", "asyncio"])
    assert {"time", "asyncio", "socket", "selectors"} <= set(forbidden_in(imported))


def test_no_protocol_source_imports_io_modules() -> None:
    offenders = {
        str(path.relative_to(PACKAGE_DIR)): found
        for path in sorted(PROTOCOL_DIR.rglob("*.py"))
        if (found := forbidden_import_statements(path.read_text()))
    }
    assert offenders == {}


def test_the_static_check_sees_every_import_form() -> None:
    source = (
        "import os, socket\n"
        "from asyncio import Queue\n"
        "from .time import clock\n"  # a relative module of that name is ours, not the stdlib's
        "def later():\n"
        "    import ssl\n"
        "    from concurrent.futures import thread\n"
        "import selectors as sel\n"
    )
    assert forbidden_import_statements(source) == [
        (1, "socket"),
        (2, "asyncio"),
        (5, "ssl"),
        (7, "selectors"),
    ]
