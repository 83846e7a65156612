"""``Reconnect``: how a client comes back after a failed attempt or a lost connection.

The policy is a value; its ``delays`` are a pure generator with the randomness injected, so the
supervisor's timing is tested offline (``_supervisor.py`` does the waiting).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ("Reconnect",)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnect:
    """How a ``Client`` reconnects: ``Client(..., reconnect=Reconnect(...))`` (or ``True``).

    After a failed attempt or a lost connection the client waits, then tries again. The wait
    is drawn uniformly between 0 and a ceiling (``jitter=True``: "full jitter", so that many
    clients of one broker do not all come back at once) or is the ceiling itself. Without
    jitter the ceiling starts at ``initial_delay`` seconds and is multiplied by ``multiplier``
    after each failure, up to ``max_delay``. With jitter it follows the time waited, not the
    number of attempts: ``initial_delay + (multiplier - 1) * waited`` (up to ``max_delay``),
    which is the same schedule when every wait is the whole ceiling, but stays short after
    short draws, so a client that tried often during a brief outage does not then wait long
    after it. A connection that stays up for ``stable_after`` seconds starts the delays
    afresh. ``max_attempts``: failed attempts in a row before giving up (None: never).
    """

    initial_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: bool = True
    max_attempts: int | None = None
    stable_after: float = 10.0

    def __post_init__(self) -> None:
        for name in ("initial_delay", "max_delay", "stable_after"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TypeError(f"{name} must be a number of seconds, got {value!r}")
            if math.isnan(value) or value < 0 or math.isinf(value):
                raise ValueError(f"{name}={value!r} must be a finite number of seconds >= 0")
        if self.max_delay < self.initial_delay:
            raise ValueError(
                f"max_delay={self.max_delay!r} is below initial_delay={self.initial_delay!r}"
            )
        multiplier = self.multiplier
        if not isinstance(multiplier, int | float) or isinstance(multiplier, bool):
            raise TypeError(f"multiplier must be a number, got {multiplier!r}")
        if not 1 <= multiplier < math.inf:
            raise ValueError(f"multiplier={multiplier!r} must be at least 1")
        if not isinstance(self.jitter, bool):
            raise TypeError(f"jitter must be a bool, got {self.jitter!r}")
        attempts = self.max_attempts
        if attempts is not None and (
            not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1
        ):
            raise ValueError(f"max_attempts={attempts!r} must be None or an int of at least 1")

    def delays(self, uniform: Callable[[], float] = random.random) -> Iterator[float]:
        """The wait before each attempt after a failure, in order (endless).

        ``uniform`` gives numbers in [0, 1): the source of the jitter.
        """
        initial, growth, maximum, jitter = (
            self.initial_delay,
            self.multiplier - 1,
            self.max_delay,
            self.jitter,
        )
        waited = 0.0
        while True:
            ceiling = min(maximum, initial + growth * waited)
            delay = uniform() * ceiling if jitter else ceiling
            waited += delay
            yield delay
