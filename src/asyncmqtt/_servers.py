"""Where a client connects: its failover servers, and the server references of redirects.

Pure functions, no I/O. ``check_failover_servers`` checks ``Client(failover_servers=...)`` once,
when the client is made. ``parse_server_reference`` reads the Server Reference property of an
MQTT 5 CONNACK or DISCONNECT with reason code 0x9C (Use another server) or 0x9D (Server moved).

The specification leaves the reference's format open and recommends one (MQTT 5.0, section
4.11): a space-separated list of references, each a name optionally followed by ``:`` and a
port, a name containing colons (an IPv6 literal) in square brackets. The client is expected to
choose one of them: asyncmqtt tries them in order. A reference without a port means the port of
the server that sent it (the specification leaves that default to the client too: the same
port is what a cluster of brokers behind one name uses).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

__all__ = ("Server", "check_failover_servers", "parse_server_reference")

Server: TypeAlias = tuple[str, int]
"""A server to connect to: (host name or address, port)."""


def check_failover_servers(value: object) -> tuple[Server, ...]:
    """``failover_servers`` as a tuple of (host, port); raises naming the bad entry.

    None gives none. Each entry is a (host, port) tuple (or list): a non-empty host without
    spaces and a port from 1 to 65535.
    """
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"failover_servers must be a list of (host, port) tuples, got {value!r}")
    servers: list[Server] = []
    for index, entry in enumerate(value):
        where = f"failover_servers[{index}]={entry!r}"
        if not isinstance(entry, tuple | list) or len(entry) != 2:
            raise TypeError(f"{where} must be a (host, port) tuple")
        host, port = entry
        if not isinstance(host, str):
            raise TypeError(f"{where}: the host must be a str")
        if not host or any(char.isspace() for char in host):
            raise ValueError(f"{where}: the host must be a non-empty name or address")
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"{where}: the port must be an int")
        if not 1 <= port <= 65535:
            raise ValueError(f"{where}: the port must be from 1 to 65535")
        servers.append((host, port))
    return tuple(servers)


def parse_server_reference(text: str, default_port: int) -> list[Server]:
    """The servers a Server Reference names, in its order; ``default_port`` for those without
    a port. Raises ``ValueError`` naming the reference when it cannot be read."""
    servers = [_parse_one(reference, default_port, text) for reference in text.split()]
    if not servers:
        raise ValueError(f"the server reference {text!r} names no server")
    return servers


def _parse_one(reference: str, default_port: int, text: str) -> Server:
    port_text: str | None = None
    if reference.startswith("["):
        host, bracket, rest = reference[1:].partition("]")
        if not bracket or not host:
            raise ValueError(
                f"the server reference {text!r} has {reference!r}: an unclosed or empty '['"
            )
        if rest:
            if not rest.startswith(":"):
                raise ValueError(
                    f"the server reference {text!r} has {reference!r}: only ':port' may follow ']'"
                )
            port_text = rest[1:]
    elif reference.count(":") == 1:
        host, _, port_text = reference.partition(":")
    else:
        host = reference  # a name, or an IPv6 literal without brackets (and so without port)
    if not host:
        raise ValueError(f"the server reference {text!r} has {reference!r}: no host")
    if port_text is None:
        return host, default_port
    if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise ValueError(
            f"the server reference {text!r} has {reference!r}: {port_text!r} is not a port "
            "(1 to 65535)"
        )
    return host, int(port_text)
