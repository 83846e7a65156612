"""Fixtures for the tests of the ``asyncmqtt`` command.

``cli(*argv)`` runs the command in this process (``asyncmqtt.cli.main``) with its output
captured: most tests use it, since starting a Python process costs about 0.3 s. The tests that
need a real process (signals, the process list, ``python -m``) start one with ``command()``.
``await acli(*argv)`` runs it in a thread, so that an async test can run an embedded broker
or a client meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import Awaitable, Callable, Iterator

import pytest
from cli_helpers import Result

from asyncmqtt.cli import main

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _keep_loggers() -> Iterator[None]:
    """The command configures the asyncmqtt loggers (as a program may); undo it after each
    test, so that other tests see the library's loggers untouched."""
    names = ("asyncmqtt", "asyncmqtt.broker")
    saved = {
        name: (
            logging.getLogger(name).level,
            list(logging.getLogger(name).handlers),
            logging.getLogger(name).propagate,
        )
        for name in names
    }
    yield
    for name, (level, handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``cli("pub", "-t", ...)``: run the command here; its status and output."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def acli(cli: Callable[..., Result]) -> Callable[..., Awaitable[Result]]:
    """``await acli("sub", ...)``: the command run in a thread, so that an async test can
    serve it (an embedded broker) or talk to it (a client) meanwhile."""

    async def run(*argv: str) -> Result:
        return await asyncio.to_thread(cli, *argv)

    return run


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic no other test uses (the brokers are shared)."""
    name = re.sub(r"\W", "_", request.node.name)
    return f"test/cli/{name}/{next(_counter)}"
