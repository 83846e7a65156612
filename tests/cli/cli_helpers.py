"""Helpers the tests of the ``asyncmqtt`` command import (the fixtures are in conftest.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ("Cli", "Result", "command")


@dataclass(frozen=True)
class Result:
    """What one run of the command did: its exit status and output."""

    code: int
    out: str
    err: str

    def lines(self) -> list[str]:
        return self.out.splitlines()


Cli = Callable[..., Result]
"""The ``cli`` fixture: ``cli("pub", "-t", ...)`` runs the command in this process."""


def command(*argv: str) -> list[str]:
    """The command line that runs ``asyncmqtt`` in a new process (``python -m asyncmqtt``)."""
    return [sys.executable, "-m", "asyncmqtt", *argv]
