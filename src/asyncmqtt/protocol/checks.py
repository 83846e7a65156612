"""Argument checks the whole library shares: one function per rule, one wording per error.

The protocol core owns every MQTT rule (QoS levels, ranges of wire integers); the asyncio layer
imports these instead of writing its own, so that a rule and its message exist once.
"""

from __future__ import annotations

__all__ = ("check_bool", "check_int", "check_qos", "check_str", "show")


def show(value: object) -> str:
    """The repr of a value, shortened so that a huge string does not flood an error message."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:45]}... ({len(text)} characters)"


def check_int(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int from ``low`` to ``high``; TypeError/ValueError naming ``name``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {show(value)}")
    if not low <= value <= high:
        raise ValueError(f"{name}={value!r} is out of range: it must be between {low} and {high}")
    return value


def check_qos(qos: object, name: str = "qos") -> int:
    """``qos`` as an int 0, 1 or 2 (``QoS`` members included)."""
    if not isinstance(qos, int) or isinstance(qos, bool):
        raise TypeError(f"{name} must be an int 0, 1 or 2, got {show(qos)}")
    if not 0 <= qos <= 2:
        raise ValueError(f"{name}={qos} is not a QoS level: it must be 0, 1 or 2")
    return int(qos)


def check_bool(value: object, name: str) -> bool:
    """``value`` if it is a bool; TypeError naming ``name`` otherwise."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {show(value)}")
    return value


def check_str(name: str, value: object) -> str:
    """``value`` if it is a str; TypeError naming ``name`` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {show(value)}")
    return value
