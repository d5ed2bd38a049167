"""Drive one intersection's signal through its green phases with safe transitions.

A :class:`SignalHead` owns the displayed state of one traffic light in SUMO. Controllers
decide *which* phase should be green; the head makes every change go through yellow and
all-red (from :meth:`IntersectionModel.transition`), never cuts a green below its minimum,
and refuses to show a state that puts conflicting links green together. A controller that
sees the junction box (cameras) can also hold the all-red while vehicles of the ending
phase are still inside it (``box_busy``, at most ``max_box_hold_s`` per change), so a big
junction clears before crossing traffic is released.

Pedestrian crossings (``model.crossings``): a crossing shows walk only at the start of a
green of a phase that serves it and has a pedestrian call (:meth:`ped_call`; with
``pedestrian_recall``, every green: a signal without pedestrian detection), for its walk
(7 s), then flashing don't-walk (SUMO shows the crossing red: nobody starts, those on it
finish) for its pedestrian clearance, then don't-walk for the rest of the green. Once a walk
is shown the green is not ended before walk + clearance are over, and crossings are red in
every clearance. A pedestrian call for the green phase itself starts its walk at once when
none is running (a recycle).

    head = SignalHead(model, conn)
    head.start()                        # take over from SUMO's own program
    each step, before SUMO advances one second:
        head.tick()                     # account the second just simulated
        if head.can_switch and better != head.phase:
            head.switch_to(better)
"""

from __future__ import annotations

from types import ModuleType

from optimizer.intersection import IntersectionModel
from phasewise_errors import PlanError


class SignalHead:
    """The green phase shown, the time in it, and any clearance under way (``tick(dt_s)``)."""

    def __init__(self, model: IntersectionModel, conn: ModuleType, initial_phase: int = 0,
                 max_box_hold_s: float = 0.0, pedestrian_recall: bool = True):
        self.model = model
        self._conn = conn
        self.phase = initial_phase
        self.green_s = 0.0  # seconds the current phase has been green
        self._clearance: list[tuple[str, float]] = []
        self._clearance_left_s = 0.0
        self._next_phase: int | None = None
        # box clearance: while the caller reports vehicles still inside the junction that
        # the next green would cross (``box_busy``), the clearance ends in all-red, up to
        # ``max_box_hold_s`` per change
        self.max_box_hold_s = max_box_hold_s
        self.box_busy = False
        self.box_held_s = 0.0  # total, for reports
        self._box_hold_left_s = 0.0
        # pedestrians (module docstring)
        self.pedestrian_recall = pedestrian_recall
        self._crossings = {c.index: c for c in model.crossings}
        self._ped_phases = frozenset(p for p in range(len(model.phases)) if model.phase_crossings(p))
        self.ped_calls: set[int] = set()  # phases whose next green shows walk
        self.walk_started_s: float | None = None  # green seconds at the start of this green's walk
        self.walks = 0  # walks shown, for reports

    # -- state ----------------------------------------------------------------------------
    @property
    def in_clearance(self) -> bool:
        return self._next_phase is not None

    @property
    def next_phase(self) -> int | None:
        return self._next_phase

    @property
    def required_green_s(self) -> float:
        """The shortest green the current phase may have: its minimum, and the end of the
        pedestrian clearance when its walk is shown."""
        need = self.model.phases[self.phase].min_green_s
        if self.walk_started_s is not None:
            need = max(need, self.walk_started_s + self.model.pedestrian_time_s(self.phase))
        return need

    @property
    def can_switch(self) -> bool:
        """True when green and the current phase has had its minimum green (and pedestrian time)."""
        return not self.in_clearance and self.green_s >= self.required_green_s

    @property
    def must_switch(self) -> bool:
        """True when the current phase has reached its maximum green (and pedestrian time)."""
        if self.walk_started_s is not None:
            return not self.in_clearance and self.green_s >= max(self.model.phases[self.phase].max_green_s,
                                                                 self.required_green_s)
        return not self.in_clearance and self.green_s >= self.model.phases[self.phase].max_green_s

    # -- commands -------------------------------------------------------------------------
    def start(self) -> None:
        """Take control of the light and show the initial phase's green."""
        self.green_s = -1.0  # the first tick() comes before any second has been simulated
        self._begin_walk()
        self._show(self._green_state())

    def ped_call(self, phase: int) -> None:
        """Persons wait for a crossing of ``phase``: its next green shows walk; while it is
        green, the walk starts now unless one runs or its clearance is not over."""
        if phase not in self._ped_phases:
            return
        if phase != self.phase or self.in_clearance:
            self.ped_calls.add(phase)
            return
        if self.walk_started_s is None or self.green_s >= self.required_green_s:
            self.walk_started_s = self.green_s
            self.walks += 1
            self._show(self._green_state())

    def switch_to(self, phase: int) -> None:
        """Begin the clearance towards ``phase``; the green starts when it is over."""
        if self.in_clearance or phase == self.phase:
            return
        if not 0 <= phase < len(self.model.phases):
            raise PlanError(f"{self.model.tls_id}: no phase {phase}")
        if self.green_s < self.required_green_s:
            raise PlanError(
                f"{self.model.tls_id}: phase {self.phase} would end after {self.green_s:g} s, "
                f"below its minimum green {self.required_green_s:g} s (pedestrian clearance included)"
            )
        self._clearance = self.model.transition(self.phase, phase)
        self._next_phase = phase
        self._box_hold_left_s = self.max_box_hold_s
        self._advance_clearance()

    def tick(self, dt_s: float = 1.0) -> None:
        """Account the step just simulated (call once per step, before any switch_to)."""
        if self.in_clearance:
            self._clearance_left_s -= dt_s
            if self._clearance_left_s <= 0:
                self._advance_clearance()
        else:
            self.green_s += dt_s
            if self.walk_started_s is not None and self._crossings:
                end_s = self.walk_started_s + min(c.walk_s for c in self.model.phase_crossings(self.phase))
                if self.green_s - dt_s < end_s <= self.green_s:
                    self._show(self._green_state())  # the walk ends: flashing don't-walk

    # -- internals ------------------------------------------------------------------------
    def _advance_clearance(self) -> None:
        while self._clearance:
            state, duration_s = self._clearance.pop(0)
            if duration_s > 0:
                self._show(self._red_crossings(state))
                self._clearance_left_s = duration_s
                return
        assert self._next_phase is not None
        if self.box_busy and self._box_hold_left_s >= 1.0:
            self._box_hold_left_s -= 1.0
            self.box_held_s += 1.0
            self._show(self._red_crossings(self.model.all_red_state(self.phase, self._next_phase)))
            self._clearance_left_s = 1.0
            return
        self.phase, self._next_phase = self._next_phase, None
        self.green_s = 0.0
        self._begin_walk()
        self._show(self._green_state())

    def _begin_walk(self) -> None:
        """At a green's start: walk on its crossings when called (or on recall)."""
        self.walk_started_s = None
        if self.phase in self._ped_phases and (self.pedestrian_recall or self.phase in self.ped_calls):
            self.ped_calls.discard(self.phase)
            self.walk_started_s = self.green_s
            self.walks += 1

    def _green_state(self) -> str:
        """The current phase's green, its crossings showing walk only during the walk."""
        state = self.model.phases[self.phase].state
        if not self._crossings:
            return state
        started = self.walk_started_s
        return "".join(
            c if i not in self._crossings or (started is not None and self.green_s < started + self._crossings[i].walk_s)
            else "r"
            for i, c in enumerate(state))

    def _red_crossings(self, state: str) -> str:
        """``state`` with every crossing red (don't walk)."""
        if not self._crossings:
            return state
        return "".join("r" if i in self._crossings else c for i, c in enumerate(state))

    def _show(self, state: str) -> None:
        unsafe = self.model.unsafe_pairs(state)
        if unsafe:
            raise PlanError(f"{self.model.tls_id}: state {state} would show conflicting links {unsafe[:3]} green")
        self._conn.trafficlight.setRedYellowGreenState(self.model.tls_id, state)
