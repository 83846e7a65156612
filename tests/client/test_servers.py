"""_servers: failover_servers checked, Server References parsed (MQTT 5.0, section 4.11)."""

from __future__ import annotations

from typing import Any

import pytest

from asyncmqtt._servers import check_failover_servers, parse_server_reference


@pytest.mark.parametrize(
    ("text", "servers"),
    [
        # The specification's examples.
        ("myserver.xyz.org", [("myserver.xyz.org", 1883)]),
        ("myserver.xyz.org:8883", [("myserver.xyz.org", 8883)]),
        (
            "10.10.151.22:8883 [fe80::9610:3eff:fe1c]:1883",
            [("10.10.151.22", 8883), ("fe80::9610:3eff:fe1c", 1883)],
        ),
        # Brackets without a port, an IPv6 literal without brackets (so without port), spaces.
        ("[::1]", [("::1", 1883)]),
        ("2001:db8::7", [("2001:db8::7", 1883)]),
        ("  a:1   b  ", [("a", 1), ("b", 1883)]),
    ],
)
def test_server_references(text: str, servers: list[tuple[str, int]]) -> None:
    assert parse_server_reference(text, 1883) == servers


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "names no server"),
        ("a:", "'' is not a port"),
        ("a:0", "'0' is not a port"),
        ("a:65536", "'65536' is not a port"),
        ("a:\uff11\uff18\uff18\uff13", "is not a port"),  # (fullwidth digits: not ASCII)
        (":1883", "':1883': no host"),
        ("[]:1883", "an unclosed or empty '['"),
        ("[::1]1883", "only ':port' may follow ']'"),
        ("good:1 [::1", "an unclosed or empty '['"),
    ],
)
def test_unreadable_references_raise_naming_them(text: str, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_server_reference(text, 1883)
    assert words in str(caught.value) and repr(text) in str(caught.value)


def test_failover_servers() -> None:
    assert check_failover_servers(None) == ()
    assert check_failover_servers([("b", 1), ["c", 2]]) == (("b", 1), ("c", 2))
    assert check_failover_servers(iter([("b", 1)])) == (("b", 1),)


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        ("b:1883", TypeError, "a list of (host, port) tuples, got 'b:1883'"),
        (5, TypeError, "a list of (host, port) tuples"),
        (["b"], TypeError, "failover_servers[0]='b' must be a (host, port) tuple"),
        ([("b", 1, 2)], TypeError, "must be a (host, port) tuple"),
        ([(b"b", 1)], TypeError, "failover_servers[0]=(b'b', 1): the host must be a str"),
        ([("", 1)], ValueError, "the host must be a non-empty name"),
        ([("b c", 1)], ValueError, "the host must be a non-empty name"),
        ([("b", "1883")], TypeError, "the port must be an int"),
        ([("b", True)], TypeError, "the port must be an int"),
        ([("b", 1), ("c", 70000)], ValueError, "failover_servers[1]=('c', 70000): the port"),
    ],
)
def test_bad_failover_servers(value: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as caught:
        check_failover_servers(value)
    assert words in str(caught.value)
