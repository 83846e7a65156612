"""What ``asyncmqtt bench`` measures with: latency samples and their percentiles, the
process's CPU time, the payload's time stamp, the live progress line, number formatting.

Latencies are kept as microseconds, every sample up to ``Latencies.capacity`` and from then on
a uniform random sample of that size (reservoir sampling, algorithm R), so a long run has
bounded memory and unbiased percentiles; the count and the maximum are always exact.

Time stamps: a bench payload of 12 bytes or more starts with ``STAMP_MAGIC`` and the send
time (``time.time_ns()``, 8 bytes big-endian), then zeros, so that a receiver, in this process
or another one on the same machine (or one whose clock is synchronised), can tell how long the
message took. Both ends run for every message, so they are one ``struct`` call each.
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
_TIME: Final = struct.Struct("!Q")
STAMP_SIZE: Final = len(STAMP_MAGIC) + _TIME.size  # 12


def cpu_seconds() -> float:
    """The CPU time (user and system, every thread) this process used so far."""
    times = os.times()
    return times.user + times.system


def stamp_writer(size: int) -> Callable[[], bytes]:
    """A function making ``size``-byte payloads; time-stamped when ``size`` allows it."""
    if size < STAMP_SIZE:
        constant = bytes(size)
        return lambda: constant
    # (One pack per payload: magic, time and the zero padding in a single bytes object.)
    pack, now = struct.Struct(f"!4sQ{size - STAMP_SIZE}x").pack, time.time_ns
    return lambda: pack(STAMP_MAGIC, now())


def stamp_reader() -> Callable[[bytes], int | None]:
    """A function giving a payload's send time (``time.time_ns()``), None without a stamp."""
    unpack, magic, size = _TIME.unpack_from, STAMP_MAGIC, STAMP_SIZE

    def sent(payload: bytes) -> int | None:
        if len(payload) < size or not payload.startswith(magic):
            return None
        stamp: int = unpack(payload, 4)[0]
        return stamp

    return sent


class Latencies:
    """Latency samples in microseconds: count, maximum, and percentiles of a bounded sample."""

    capacity: Final = 1_000_000

    __slots__ = ("_dropped", "_dropped_maximum", "_random", "samples")

    def __init__(self, seed: int | None = None) -> None:
        self.samples: list[float] = []
        self._dropped = 0  # samples beyond the capacity (kept or not)
        self._dropped_maximum = 0.0  # the largest value that left the sample, or never entered
        self._random = random.Random(seed)

    @property
    def count(self) -> int:
        """How many latencies were recorded."""
        return len(self.samples) + self._dropped

    @property
    def maximum(self) -> float:
        """The largest latency recorded (0 without any)."""
        return max(max(self.samples, default=0.0), self._dropped_maximum)

    def add(self, microseconds: float) -> None:
        """Record one latency."""
        samples = self.samples
        if len(samples) < self.capacity:
            samples.append(microseconds)  # (the common case: one call, one append)
            return
        self._dropped += 1
        slot = self._random.randrange(len(samples) + self._dropped)
        if slot < self.capacity:
            samples[slot], microseconds = microseconds, samples[slot]
        self._dropped_maximum = max(self._dropped_maximum, microseconds)

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
