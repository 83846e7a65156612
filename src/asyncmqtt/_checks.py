"""The asyncio layer's own argument checks, each written once.

MQTT's rules (QoS levels, topic names and filters, ranges of wire integers) belong to the
protocol core (``protocol/checks.py``, ``protocol/topics.py``); what is checked here exists
only in this layer: timeouts in seconds, loggers, queue types, the spellings ``Client``
accepts for its options, HTTP headers.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from typing import Any, Final, Literal, TypeAlias

from .protocol.checks import show
from .protocol.enums import ProtocolVersion

__all__ = (
    "CLEAN_START_FIRST_ONLY",
    "Logger",
    "check_clean_start",
    "check_headers",
    "check_logger",
    "check_optional_int",
    "check_optional_str",
    "check_password",
    "check_protocol",
    "check_queue_maxsize",
    "check_queue_type",
    "check_timeout",
)

Logger: TypeAlias = logging.Logger | logging.LoggerAdapter[logging.Logger]

CLEAN_START_FIRST_ONLY: Final = 3
"""paho-mqtt's ``MQTT_CLEAN_START_FIRST_ONLY``: clean start on the first connection only."""


def check_timeout(name: str, value: object, default: float | None = None) -> float | None:
    """Seconds as a float; None gives ``default``; ``math.inf`` means no limit (None)."""
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, got {show(value)}")
    if math.isnan(value) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive number of seconds (or math.inf)")
    return None if math.isinf(value) else float(value)


def check_optional_int(name: str, value: object, low: int | None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int or None, got {show(value)}")
    if low is not None and value < low:
        raise ValueError(f"{name}={value} is out of range: it must be at least {low}")
    return value


def check_optional_str(name: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {show(value)}")
    return value


def check_queue_maxsize(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"queue_maxsize must be an int, got {show(value)}")
    return max(value, 0)


def check_password(password: object) -> bytes | None:
    if password is None:
        return None
    if isinstance(password, str):
        return password.encode()
    if isinstance(password, bytes):
        return password
    # Never show the value: it is a secret.
    raise TypeError(f"password must be a str, bytes or None, got {type(password).__name__}")


def check_logger(logger: object) -> Logger:
    if logger is None:
        return logging.getLogger("asyncmqtt")
    if not isinstance(logger, logging.Logger | logging.LoggerAdapter):
        raise TypeError(f"logger must be a logging.Logger, got {logger!r}")
    return logger


def check_queue_type(queue_type: object) -> type[asyncio.Queue[Any]]:
    if queue_type is None:
        return asyncio.Queue
    if not isinstance(queue_type, type) or not issubclass(queue_type, asyncio.Queue):
        raise TypeError(
            f"queue_type must be asyncio.Queue or a subclass (PriorityQueue, LifoQueue, ...), "
            f"got {queue_type!r}"
        )
    return queue_type


def check_protocol(protocol: object) -> ProtocolVersion | None:
    if protocol is None:
        return None
    if not isinstance(protocol, int) or isinstance(protocol, bool):
        raise TypeError(f"protocol must be a ProtocolVersion or None, got {protocol!r}")
    try:
        return ProtocolVersion(protocol)
    except ValueError:
        raise ValueError(
            f"protocol={protocol!r} is not an MQTT version: use ProtocolVersion.V31, V311 or V5"
        ) from None


def check_clean_start(value: object) -> bool | Literal["first_only"]:
    if value is True or value is False:
        return value
    if value in (CLEAN_START_FIRST_ONLY, "first_only"):
        return "first_only"
    raise ValueError(
        f"clean_start={value!r} is not valid: use True, False, or 3 / 'first_only' "
        "(clean start on the first connection only)"
    )


def check_headers(headers: object, what: str) -> Mapping[str, str]:
    """``headers`` as a mapping of str to str without line breaks; TypeError/ValueError if not."""
    if not isinstance(headers, Mapping):
        raise TypeError(f"{what} must be a dict of str to str, got {headers!r}")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"{what} must map str to str, got {name!r}: {value!r}")
        if not name or any(char in name for char in ":\r\n \t"):
            raise ValueError(f"{what}: {name!r} is not a valid HTTP header name")
        if "\r" in value or "\n" in value:
            raise ValueError(f"{what}: the value of {name!r} must not contain a line break")
    return headers
