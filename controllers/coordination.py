"""Coordination of the tactical layer with the plan's cycle and offset, and offset seeking.

A coordinated plan says, per intersection, when (mod the common cycle) its coordinated
phase turns green: the offset, chosen by :func:`optimizer.corridor.optimize_corridor` so
that platoons released upstream arrive on green. The tactical layer adapts every cycle
(phases gap out, are skipped or extended), so the coordinated phase would drift away from
that schedule; :class:`CoordinationClock` keeps the schedule and tells the controller when
the coordinated phase is due (a *yield point*, as in coordinated-actuated NEMA control).

A new plan's cycle and offset are not jumped to: each cycle the schedule moves towards the
new offset by at most ``max_correction`` of the cycle, the shorter way round (the "smooth"
or add/subtract transition of field controllers), so a change completes over a few cycles.

Example::

    clock = CoordinationClock(cycle_s=90, offset_s=20, now_s=0)
    clock.retime(cycle_s=80, offset_s=50)          # new plan: seek it over a few cycles
    if clock.due(now_s): ...                       # force the coordinated phase
"""

from __future__ import annotations


def _wrap(value: float, cycle_s: float) -> float:
    """``value`` mod ``cycle_s`` mapped into (-cycle/2, cycle/2]."""
    r = value % cycle_s
    return r - cycle_s if r > cycle_s / 2 else r


class CoordinationClock:
    """Scheduled green starts of one intersection's coordinated phase (seconds).

    ``next_start_s`` is the next scheduled start; it counts as *due* from ``early_s`` before
    to ``late_s`` after it. Call :meth:`served` when the coordinated phase turns green in
    the window, and :meth:`advance` every step: a start that passes (served or not) moves the
    schedule one cycle on, corrected towards the target offset.
    """

    def __init__(self, cycle_s: float, offset_s: float, now_s: float, early_s: float = 0.0,
                 late_s: float = 10.0, max_correction: float = 0.2) -> None:
        if cycle_s <= 0:
            raise ValueError("cycle_s must be positive")
        self.cycle_s = cycle_s
        self.offset_s = offset_s
        self.early_s = early_s
        self.late_s = late_s
        self.max_correction = max_correction
        self.last_start_s: float | None = None
        self.next_start_s = now_s + (offset_s - now_s) % cycle_s
        self._corrected = False
        self.transitions = 0  # cycles whose start was moved to seek a new offset

    def retime(self, cycle_s: float, offset_s: float) -> None:
        """Adopt a new plan's cycle and offset: the next start is rescheduled from the last
        one, at the new cycle, moved towards the new offset by at most the correction."""
        if cycle_s <= 0:
            raise ValueError("cycle_s must be positive")
        self.cycle_s, self.offset_s = cycle_s, offset_s
        if self.last_start_s is not None:
            self.next_start_s = self._after(self.last_start_s)

    @property
    def error_s(self) -> float:
        """How far the next start is from the target offset (signed, the shorter way round)."""
        return _wrap(self.offset_s - self.next_start_s, self.cycle_s)

    def due(self, now_s: float) -> bool:
        return self.next_start_s - self.early_s <= now_s <= self.next_start_s + self.late_s

    def served(self) -> None:
        """The coordinated phase turned green in the window: schedule the next cycle now."""
        self._next_cycle()

    def advance(self, now_s: float) -> None:
        while now_s > self.next_start_s + self.late_s:
            self._next_cycle()

    def _next_cycle(self) -> None:
        self.transitions += int(self._corrected)
        self.last_start_s = self.next_start_s
        self.next_start_s = self._after(self.last_start_s)

    def _after(self, start_s: float) -> float:
        candidate = start_s + self.cycle_s
        error = _wrap(self.offset_s - candidate, self.cycle_s)
        limit = self.max_correction * self.cycle_s
        correction = max(-limit, min(limit, error))
        self._corrected = abs(correction) > 1e-9
        return candidate + correction
