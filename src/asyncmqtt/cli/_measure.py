"""What ``asyncmqtt bench`` measures with: latency samples and their percentiles, the
process's CPU time, the payload's time stamp, the live progress line, number formatting.

Latencies are kept as microseconds, every sample up to ``Latencies.capacity`` and from then on
a uniform random sample of that size (reservoir sampling, algorithm R), so a long run has
bounded memory and unbiased percentiles; the count and the maximum are always exact.

Time stamps: a bench payload of 12 bytes or more starts with ``STAMP_MAGIC`` and the send
time (``time.time_ns()``, big-endian), so that a receiver, in this process or another one on
the same machine (or one whose clock is synchronised), can tell how long the message took.
"""

from __future__ import annotations

import math
import os
import random
import struct
import sys
import time
from collections.abc import Callable
from typing import IO, Final

__all__ = (
    "STAMP_MAGIC",
    "STAMP_SIZE",
    "Latencies",
    "Meter",
    "Progress",
    "cpu_seconds",
    "format_count",
    "format_duration",
    "format_rate",
    "stamp_reader",
    "stamp_writer",
)

STAMP_MAGIC: Final = b"amqB"
_STAMP: Final = struct.Struct("!4sQ")
STAMP_SIZE: Final = _STAMP.size  # 12


def cpu_seconds() -> float:
    """The CPU time (user and system, every thread) this process used so far."""
    times = os.times()
    return times.user + times.system


def stamp_writer(size: int) -> Callable[[], bytes]:
    """A function making ``size``-byte payloads; time-stamped when ``size`` allows it."""
    if size < STAMP_SIZE:
        constant = bytes(size)
        return lambda: constant
    padding = bytes(size - STAMP_SIZE)
    pack, now = _STAMP.pack, time.time_ns
    return lambda: pack(STAMP_MAGIC, now()) + padding


def stamp_reader() -> Callable[[bytes], float | None]:
    """A function giving a payload's age in microseconds (None: it has no stamp)."""
    unpack, now = _STAMP.unpack_from, time.time_ns

    def age(payload: bytes) -> float | None:
        if len(payload) < STAMP_SIZE or payload[:4] != STAMP_MAGIC:
            return None
        sent: int = unpack(payload)[1]
        return (now() - sent) / 1000.0

    return age


class Latencies:
    """Latency samples in microseconds: count, maximum, and percentiles of a bounded sample."""

    capacity: Final = 1_000_000

    __slots__ = ("_random", "count", "maximum", "samples")

    def __init__(self, seed: int | None = None) -> None:
        self.samples: list[float] = []
        self.count = 0
        self.maximum = 0.0
        self._random = random.Random(seed)

    def add(self, microseconds: float) -> None:
        """Record one latency."""
        self.count += 1
        self.maximum = max(self.maximum, microseconds)
        if len(self.samples) < self.capacity:
            self.samples.append(microseconds)
            return
        slot = self._random.randrange(self.count)
        if slot < self.capacity:
            self.samples[slot] = microseconds

    def summary(self) -> dict[str, float | int | None]:
        """count, p50, p90, p99, max (microseconds; None without samples)."""
        if not self.samples:
            return {"count": 0, "p50_us": None, "p90_us": None, "p99_us": None, "max_us": None}
        ordered = sorted(self.samples)

        def rank(fraction: float) -> float:
            return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]

        return {
            "count": self.count,
            "p50_us": rank(0.50),
            "p90_us": rank(0.90),
            "p99_us": rank(0.99),
            "max_us": self.maximum,
        }


class Progress:
    """The live progress line on stderr: rewritten in place on a terminal (carriage return),
    one line per report otherwise (when asked for with ``--progress``)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.in_place = self.stream.isatty()
        self._shown = False

    def show(self, text: str) -> None:
        if self.in_place:
            self.stream.write(f"\r{text}\x1b[K")
        else:
            self.stream.write(f"{text}\n")
        self.stream.flush()
        self._shown = True

    def finish(self) -> None:
        """End the line (on a terminal), before the summary."""
        if self.in_place and self._shown:
            self.stream.write("\n")
            self.stream.flush()
        self._shown = False


class Meter:
    """A counter's progress: its value and its rate since the previous reading."""

    __slots__ = ("_count", "_elapsed")

    def __init__(self) -> None:
        self._count = 0
        self._elapsed = 0.0

    def reading(self, count: int, elapsed: float) -> str:
        """``12,345 (6,000/s)``: ``count`` now, ``elapsed`` seconds into the run."""
        rate = format_rate(count - self._count, elapsed - self._elapsed)
        self._count, self._elapsed = count, elapsed
        return f"{format_count(count)} ({rate})"


def format_count(value: int) -> str:
    """``12,345``."""
    return f"{value:,}"


def format_rate(count: float, seconds: float) -> str:
    """``12,345/s`` (``-`` for no time)."""
    if seconds <= 0:
        return "-"
    return f"{count / seconds:,.0f}/s"


def format_duration(microseconds: float | None) -> str:
    """A latency for people: ``412 us``, ``1.23 ms``, ``2.5 s``."""
    if microseconds is None:
        return "-"
    if microseconds < 1000:
        return f"{microseconds:.0f} us"
    if microseconds < 1_000_000:
        return f"{microseconds / 1000:.3g} ms"
    return f"{microseconds / 1_000_000:.3g} s"
