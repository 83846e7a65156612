"""The guide docs/cli.md against the command: every command line it shows parses (so the
guide and its comparison table cannot drift from the options), and every subcommand and
option group is in it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from asyncmqtt.cli import build_parser

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def shown_commands() -> list[str]:
    """The complete ``asyncmqtt ...`` command lines of the guide (not the names in headings,
    the synopses, which have placeholders in brackets, nor the error messages it quotes)."""
    text = GUIDE.read_text()
    candidates = re.findall(r"`(asyncmqtt [^`]+)`", text)
    candidates += re.findall(r"^(?:MQTT_PASSWORD=\S+ )?(asyncmqtt .+)$", text, re.MULTILINE)
    commands = []
    for line in candidates:
        words = line.split()
        if len(words) < 3 or "[" in line or "|" in words[2] or words[1].endswith(":"):
            continue  # (a name in a heading, a synopsis, an error message)
        commands.append(re.split(r" [|>] ", line)[0])  # (without a pipe or redirection)
    return sorted(set(commands))


def test_the_guide_shows_commands() -> None:
    assert len(shown_commands()) > 20


@pytest.mark.parametrize("line", shown_commands())
def test_every_command_in_the_guide_parses(line: str) -> None:
    argv = shlex.split(line)[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as exit:
        if exit.code:  # (--help exits with 0)
            pytest.fail(f"the guide shows {line!r}, which exits with {exit.code}")


def test_every_subcommand_has_a_section() -> None:
    text = GUIDE.read_text()
    for name in ("sub", "pub", "bench", "req", "broker"):
        assert f"`asyncmqtt {name}`" in text
