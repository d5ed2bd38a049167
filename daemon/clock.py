"""The daemon's clock: one timeline for decisions, immune to wall-clock jumps.

``now_s`` is the wall time at start plus the monotonic time elapsed since: it is continuous
across restarts (roughly the wall clock, so 15-min count bins carry real times) and does not
move when NTP or an operator steps the wall clock during a run; such a jump is only reported
(:meth:`SystemClock.wall_jump_s`) and taken at the next restart. :class:`SteppedClock` is the
clock of software in the loop and of tests: time moves only by :meth:`advance`, paced
against the wall at ``speed`` (0 = as fast as possible).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now_s(self) -> float:
        """Seconds since the epoch on the daemon's timeline."""
        ...

    def sleep_until(self, t_s: float) -> None:
        """Wait until the timeline reaches ``t_s`` (returns at once if it has)."""
        ...

    def wall_jump_s(self) -> float:
        """How far the wall clock has moved away from the timeline (0 for a stepped clock)."""
        ...


class SystemClock:
    """Wall time at start + monotonic elapsed time (module docstring)."""

    def __init__(self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._wall, self._monotonic, self._sleep = wall, monotonic, sleep
        self._origin_s = wall() - monotonic()
        self._acknowledged_s = 0.0

    def now_s(self) -> float:
        return self._origin_s + self._monotonic()

    def sleep_until(self, t_s: float) -> None:
        delay = t_s - self.now_s()
        if delay > 0:
            self._sleep(delay)

    def wall_jump_s(self) -> float:
        return self._wall() - self.now_s() - self._acknowledged_s

    def acknowledge_jump(self) -> None:
        """The jump is reported: measure the next one from here."""
        self._acknowledged_s = self._wall() - self.now_s()


class SteppedClock:
    """Simulated time from ``start_s``, advanced by the loop; paced at ``speed`` x real time."""

    def __init__(self, start_s: float, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._t_s = start_s
        self.speed = speed
        self._monotonic, self._sleep = monotonic, sleep
        self._anchor = (monotonic(), start_s)

    def now_s(self) -> float:
        return self._t_s

    def advance(self, dt_s: float) -> None:
        self._t_s += dt_s

    def sleep_until(self, t_s: float) -> None:
        if self.speed > 0:
            wall0, sim0 = self._anchor
            delay = wall0 + (t_s - sim0) / self.speed - self._monotonic()
            if delay > 0:
                self._sleep(delay)
            elif delay < -5.0:  # far behind (a long pause): pace from here instead of racing
                self._anchor = (self._monotonic(), t_s)
        self._t_s = max(self._t_s, t_s)

    def wall_jump_s(self) -> float:
        return 0.0
