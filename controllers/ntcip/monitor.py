"""The conflict monitor (MMU): watches what the signal heads show, independent of the timer.

Like a cabinet's malfunction management unit, it knows nothing of the controller's logic: it
sees, every step, the green and yellow NEMA phases (:class:`~controllers.ntcip.cabinet.Display`),
turns them into the SUMO link state through the site's mapping
(:meth:`~controllers.ntcip.nema.NemaMapping.link_state`) and checks, per signal link, against the
:class:`~optimizer.intersection.IntersectionModel`:

* **conflict**: two links green together that the network's program never shows together
  (``model.unsafe_pairs``);
* **min green**: a link's green ended before the shortest minimum green of the phases that
  serve it;
* **no yellow** / **yellow**: a green went straight to red, or its yellow was shorter than
  ``model.yellow_s``;
* **red clearance**: a link turned green while a conflicting link was not red, or had been red
  for less than ``model.all_red_s``.

Pedestrian crossings (``model.crossings``; their walk is the crossing's signal green):

* **walk**: a walk ended before the crossing's ``walk_s`` (7 s);
* **ped_clearance**: a vehicle link conflicting with a crossing turned green less than the
  crossing's ``clearance_s`` (flashing don't-walk) after its walk ended;
* **ped_protected**: a crossing showed walk while a vehicle link showed a protected green
  (``G``) that no phase of the network's program shows with that walk (a turn that must
  yield to the crossing); conflicting greens are a **conflict** as above.

Crossings have no yellow (walk goes to flashing don't-walk, shown red) and no min green of
their own: the min-green and yellow checks are for vehicle links.

Flash (all red, flashing) is always safe; entering it is not checked (the MMU itself flashes
at once), leaving it is (the start-up red clearance).

Durations are measured between observations, so observe after every timer step.
:meth:`ConflictMonitor.observe_state` checks a SUMO state string directly (a signal head in
SUMO, ``controllers.signal_head``). Violations are
recorded; with ``on_fault`` (e.g. ``cabinet.latch_flash``) the first one also puts the unit in
flash, as a real MMU does.

Example::

    monitor = ConflictMonitor(cabinet.mapping, on_fault=cabinet.latch_flash)
    for _ in range(3600):
        cabinet.tick(1.0)
        monitor.observe(cabinet.now_s, cabinet.display())
    assert not monitor.violations
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from controllers.ntcip.cabinet import Display
from controllers.ntcip.nema import NemaMapping
from optimizer.intersection import GREEN_CHARS, IntersectionModel

ViolationKind = Literal["conflict", "min_green", "no_yellow", "yellow", "red_clearance", "walk", "ped_clearance",
                        "ped_protected"]
TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class Violation:
    """One fault seen at ``time_s``: its kind, the links involved and a readable detail."""

    time_s: float
    kind: ViolationKind
    links: tuple[int, ...]
    detail: str


class ConflictMonitor:
    """Checks every displayed state of one intersection (module docstring)."""

    def __init__(self, mapping: NemaMapping | None, on_fault: Callable[[], None] | None = None,
                 model: IntersectionModel | None = None) -> None:
        """``mapping``: the cabinet's NEMA mapping (its model is checked); or None and the
        ``model`` whose SUMO states :meth:`observe_state` gets."""
        self.mapping = mapping
        if mapping is not None:
            model = mapping.model
        if model is None:
            raise ValueError("ConflictMonitor needs a NEMA mapping or a model")
        self.model = model
        self.on_fault = on_fault
        self.violations: list[Violation] = []
        n = self.model.state_length
        self._min_green_s = np.full(n, np.inf)
        for phase in self.model.phases:
            for i in phase.green_links:
                self._min_green_s[i] = min(self._min_green_s[i], phase.min_green_s)
        self._min_green_s[np.isinf(self._min_green_s)] = 0.0
        conflict = np.zeros((n, n), dtype=bool)
        for a, b in self.model.conflicts:
            conflict[a, b] = conflict[b, a] = True
        self._conflict = conflict
        # pedestrian crossings (module docstring)
        self._crossing = np.zeros(n, dtype=bool)
        self._walk_s = np.zeros(n)
        self._ped_clear_s = np.zeros(n)
        for c in self.model.crossings:
            self._crossing[c.index] = True
            self._walk_s[c.index] = c.walk_s
            self._ped_clear_s[c.index] = c.clearance_s
        self._min_green_s[self._crossing] = 0.0
        walk_with_g = np.zeros((n, n), dtype=bool)  # crossing x vehicle link: walk beside a 'G' in the program
        for phase in self.model.phases:
            walks = [c.index for c in self.model.crossings if phase.state[c.index] in GREEN_CHARS]
            protected = [i for i, ch in enumerate(phase.state) if ch == "G" and not self._crossing[i]]
            walk_with_g[np.ix_(walks, protected)] = True
        self._walk_with_g = walk_with_g
        self._walk_end_s = np.full(n, -np.inf)  # when each crossing's last walk ended
        self._protected: np.ndarray | None = None  # 'G' (not 'g') per link, this observation
        self._state: np.ndarray | None = None  # 'G' green, 'y' yellow, 'r' red per link
        self._since_s = np.full(n, np.nan)  # when the link's current colour began (nan: unknown)
        self.observed = 0

    def observe(self, now_s: float, display: Display) -> list[Violation]:
        """Check the state shown at ``now_s``; returns (and records) the new violations."""
        assert self.mapping is not None, "observe() reads a cabinet's display; use observe_state()"
        if display.flash:
            return self.observe_state(now_s, None)
        return self.observe_state(now_s, self.mapping.link_state(display.greens, display.yellows, display.clearing,
                                                                 display.nexts, display.walk))

    def observe_state(self, now_s: float, state: str | None) -> list[Violation]:
        """Check a SUMO state string shown at ``now_s`` (None: flash)."""
        self.observed += 1
        if state is None:
            colours = np.full(self.model.state_length, "r")
            self._protected = np.zeros(self.model.state_length, dtype=bool)
        else:
            colours = np.array(["G" if c in GREEN_CHARS else ("y" if c in "yY" else "r") for c in state])
            self._protected = np.array([c == "G" for c in state], dtype=bool)
        found: list[Violation] = []
        if state is not None:
            found += self._check(now_s, colours)
        if self._state is None:
            self._since_s[:] = np.nan
        else:
            changed = colours != self._state
            self._since_s[changed] = now_s
            self._walk_end_s[(self._state == "G") & (colours != "G") & self._crossing] = now_s
        self._state = colours
        if found:
            self.violations += found
            if self.on_fault is not None:
                self.on_fault()
        return found

    def _check(self, now_s: float, colours: np.ndarray) -> list[Violation]:
        out: list[Violation] = []
        green = colours == "G"
        pairs = np.argwhere(np.triu(self._conflict & green[:, None] & green[None, :]))
        if len(pairs):
            out.append(Violation(now_s, "conflict", tuple(int(x) for x in pairs[0]), f"links {pairs.tolist()[:3]} green together"))
        if self._crossing.any():
            out += self._check_walk_beside_protected(now_s, green)
        prev = self._state
        if prev is None:
            return out
        held_s = now_s - self._since_s  # nan where unknown: comparisons are False
        tol = TOLERANCE_S
        ended = np.flatnonzero((prev == "G") & (colours != "G"))
        short = ended[held_s[ended] < self._min_green_s[ended] - tol]
        if len(short):
            out.append(Violation(now_s, "min_green", tuple(map(int, short)), f"green ended after {held_s[short[0]]:g} s < {self._min_green_s[short[0]]:g} s"))
        if self._crossing.any():
            out += self._check_walk(now_s, colours, prev, held_s)
        no_yellow = np.flatnonzero((prev == "G") & (colours == "r") & ~self._crossing)
        if len(no_yellow):
            out.append(Violation(now_s, "no_yellow", tuple(map(int, no_yellow)), "green went straight to red"))
        yellow_end = np.flatnonzero((prev == "y") & (colours == "r"))
        short = yellow_end[held_s[yellow_end] < self.model.yellow_s - tol]
        if len(short):
            out.append(Violation(now_s, "yellow", tuple(map(int, short)), f"yellow lasted {held_s[short[0]]:g} s < {self.model.yellow_s:g} s"))
        starts = np.flatnonzero((prev != "G") & green)
        for i in starts:
            rivals = np.flatnonzero(self._conflict[i])
            not_red = rivals[colours[rivals] != "r"]
            if self.model.all_red_s > tol:  # without an all-red, SUMO's own programs go yellow -> green
                not_red = rivals[(colours[rivals] != "r") | (prev[rivals] != "r")]
            red_for = now_s - self._since_s[rivals]
            too_soon = rivals[(colours[rivals] == "r") & (red_for < self.model.all_red_s - tol)]
            bad = sorted(set(map(int, not_red)) | set(map(int, too_soon)))
            if bad:
                out.append(Violation(now_s, "red_clearance", (int(i), *bad), f"link {i} turned green, conflicting links {bad[:3]} not cleared for {self.model.all_red_s:g} s"))
        return out

    def _check_walk_beside_protected(self, now_s: float, green: np.ndarray) -> list[Violation]:
        assert self._protected is not None
        walking = green & self._crossing
        pairs = np.argwhere(walking[:, None] & self._protected[None, :] & ~self._crossing[None, :] & ~self._walk_with_g)
        if not len(pairs):
            return []
        c, v = (int(x) for x in pairs[0])
        return [Violation(now_s, "ped_protected", (c, v), f"crossing {c} shows walk beside a protected green on link {v}")]

    def _check_walk(self, now_s: float, colours: np.ndarray, prev: np.ndarray, held_s: np.ndarray) -> list[Violation]:
        out: list[Violation] = []
        tol = TOLERANCE_S
        ended = np.flatnonzero((prev == "G") & (colours != "G") & self._crossing)
        short = ended[held_s[ended] < self._walk_s[ended] - tol]
        if len(short):
            out.append(Violation(now_s, "walk", tuple(map(int, short)), f"walk ended after {held_s[short[0]]:g} s < {self._walk_s[short[0]]:g} s"))
        starts = np.flatnonzero((prev != "G") & (colours == "G") & ~self._crossing)
        for i in starts:
            crossings = np.flatnonzero(self._conflict[i] & self._crossing)
            since = now_s - self._walk_end_s[crossings]
            early = crossings[since < self._ped_clear_s[crossings] - tol]
            if len(early):
                c = int(early[0])
                out.append(Violation(now_s, "ped_clearance", (int(i), c), f"link {i} turned green {since[crossings == c][0]:g} s after crossing {c}'s walk, its clearance is {self._ped_clear_s[c]:g} s"))
        return out
