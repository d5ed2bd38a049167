"""An emulated NEMA actuated controller: times phases like a cabinet and keeps its NTCIP database.

The :class:`Cabinet` is pure: no SNMP, no SUMO, no wall clock. Time advances only by
:meth:`Cabinet.tick` (``dt_s`` seconds); the agent (``controllers.ntcip.agent``) reads and
writes its NTCIP objects with :meth:`Cabinet.read`/:meth:`Cabinet.write`; the emulator shows
:meth:`Cabinet.link_state` in SUMO and feeds detector calls with
:meth:`Cabinet.set_detector_calls`.

Timing (per model phase = one *stage* of concurrent NEMA phases, ``controllers.ntcip.nema``;
the stage's timing is the longest of its NEMA phases' ``phaseTable`` values). Rings are not
timed independently: the model's conflicts come from the network's program, so only its
stages are known to be safe combinations, and a cabinet that mixed ring phases freely would
show states the conflict monitor must reject.

* **green**: at least ``phaseMinimumGreen``; then, in free operation, it ends on gap-out (no
  call on its own phases for ``phasePassage``), max-out (``phaseMaximum1`` counted while a
  conflicting call waits) or a central **force-off**, and only if another stage is called;
  a central **hold** keeps it green. Stages are served in ring order (``nema.ring_sequence``);
  a stage with an **omitted** phase is skipped; calls come from detectors (latched while red),
  central vehicle/pedestrian calls (level bits) and minimum recall;
* **pedestrians**: a stage whose phase has a pedestrian call at the start of its green
  (central ``PedCall`` not ped-omitted, a pedestrian-recall split mode, or the unit's
  pedestrian recall ``ped_recall``: by default the phases that have crossings, as a signal
  without push buttons) shows walk on its crossings for ``phaseWalk``, then flashing
  don't-walk (the crossings red) for ``phasePedestrianClear``, and is green at least that
  long; :meth:`Cabinet.from_model` programs walk 7 s and the clearance of the longest
  crossing at 1.07 m/s (``optimizer.intersection.Crossing``); ``phaseStatusGroupWalks``,
  ``PedClears``, ``DontWalks`` and ``PedCalls`` report them;
* **yellow change** (``phaseYellowChange``) then **red clearance** (``phaseRedClear``) for the
  NEMA phases that end; phases common to both stages stay green, and so do links both stages
  serve (an overlap carried from one parent phase to the next);
* **coordination** (a pattern: ``patternCycleTime/OffsetTime/SplitNumber`` and the split
  table ``splitTime/Mode/CoordPhase``): the cycle timer is ``(t - offset) mod cycle`` with the
  coordinated stage's green starting at 0; each stage's green must end by its force-off point
  (window start + split - clearance), non-coordinated stages may gap out early (the spare time
  goes to the next stage / the coordinated stage), the coordinated stage rests until its
  force-off point, and a stage is only started if its minimum green fits its window; a new
  offset is sought smoothly (``OFFSET_SEEK_RATE``), a pattern taken up from free starts on it.

**Preempts** (``PREEMPTS`` of them, numbered from 1): a preempt is called while its input is
on (:meth:`Cabinet.set_preempt_input`, the cabinet's wiring) or a central
``preemptControlState`` SET of 1 holds it on. The emulated unit has no preempt sequence
programmed (no track or dwell phases): it reports a called preempt as ``notActiveWithCall``
in ``preemptState`` (and ``notActive`` otherwise) and keeps timing its phases; whoever reads
the state serves the vehicle (``daemon.field_priority``).

Pattern selection (``systemPatternControl``): 0 standby (own schedule), 1..253 a pattern, 254
free, 255 flash. A pattern is checked when selected (``database.check_pattern``): the served
stages' splits must add up to the cycle (else ``localFreeStatus`` = badPlan and the unit runs
free, ``coordPatternStatus`` 254), each split must hold min green + clearance (badCycleTime),
the offset must be below the cycle (invalidOffset). Central control lasts ``unitBackupTime`` after the last
``systemPatternControl`` SET; then the unit reverts to its own schedule (``unitControlStatus`` =
backupMode) and ignores the central phase-control bits until the next SET.

The own schedule (``local_pattern``) is, for :meth:`Cabinet.from_model`, pattern 1 built from
the network's own program (greens at least min green, maximum recall: it runs fixed time).

Example::

    cabinet = Cabinet.from_model(model)
    cabinet.write("systemPatternControl", (), 254)       # free, under central control
    cabinet.write("phaseControlGroupHold", (1,), 0b0001)
    for _ in range(60):
        cabinet.tick(1.0)
    cabinet.read("phaseStatusGroupGreens", (1,))           # 1: NEMA phase 1 still green
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from controllers.ntcip import oids
from controllers.ntcip.database import (
    EPS_S,
    MAX_PATTERNS,
    MAX_SPLITS,
    PATTERN_FIELDS,
    PHASE_FIELDS,
    SPLIT_FIELDS,
    CoordPlan,
    Database,
    PatternRow,
    PhaseRow,
    SetRefused,
    SplitRow,
    check_pattern,
    phase_row,
    read_field,
    stage_clearance_s,
    stage_min_green_s,
    write_field,
)
from controllers.ntcip.nema import NemaMapping, phase_map
from controllers.ntcip.oids import LocalFreeStatus, SplitMode, UnitControlStatus, UnitFlashStatus
from optimizer.intersection import IntersectionModel

DEFAULT_BACKUP_TIME_S = 30
"""``unitBackupTime`` out of the box: half a minute without central commands is a lost central
(the manager rewrites ``systemPatternControl`` every step or every third of this)."""
OFFSET_SEEK_RATE = 0.2
"""A new offset is reached by running the cycle timer at most 20 % fast or slow (a 'smooth'
transition, as NEMA controllers do; the same bound ``controllers.safety`` puts on plan changes),
instead of jumping and cutting or stretching the running phase."""
PREEMPTS = 4
"""Preempts of the emulated unit (``maxPreempts``): four, as a cabinet's usual preempt inputs."""
FLASH = -1  # the "next stage" of a clearance into flash

Interval = str  # "green" | "yellow" | "red" | "flash"

@dataclass(frozen=True)
class Display:
    """What the signal heads show: green and yellow NEMA phases, or flash; during a change
    also the phases ending (``clearing``, yellow or red clearance) and the next ones (``nexts``),
    whose shared links stay green (overlaps, :meth:`NemaMapping.link_state`)."""

    greens: frozenset[int]
    yellows: frozenset[int]
    flash: bool = False
    clearing: frozenset[int] = frozenset()
    nexts: frozenset[int] = frozenset()
    walk: bool = False  # the green stage's crossings show walk


_CONTROL_GROUPS = {o.name for o in oids.PHASE_CONTROLS}


class Cabinet:
    """One intersection's controller: NTCIP database, phase timer, coordinator (module docstring)."""

    def __init__(
        self,
        mapping: NemaMapping,
        database: Database,
        *,
        local_pattern: int = oids.PATTERN_FREE,
        backup_time_s: int = DEFAULT_BACKUP_TIME_S,
        min_recall: Iterable[int] | None = None,
        start_s: float = 0.0,
        ped_recall: Iterable[int] | None = None,
    ) -> None:
        self.mapping = mapping
        self.db = database
        self.local_pattern = local_pattern
        self.backup_time_s = backup_time_s
        self.min_recall = frozenset(mapping.nema_phases_used if min_recall is None else min_recall)
        model = mapping.model
        with_crossings = {p for p in mapping.nema_phases_used
                          if any(model.phase_crossings(k) for k in mapping.model_phases_of(p))}
        self.ped_recall = frozenset(with_crossings if ped_recall is None else ped_recall)
        self.now_s = start_s
        self.max_phase = max(mapping.nema_phases_used)
        self.groups = mapping.phase_groups
        self.control: dict[str, set[int]] = {name: set() for name in _CONTROL_GROUPS}
        self.system_pattern_control = 0
        self.preempt_inputs: set[int] = set()  # preempts whose input is on (the cabinet's wiring)
        self._preempt_control: set[int] = set()  # preempts a central preemptControlState SET holds on
        self.system_sync_control = 0
        self._central_since: float | None = None  # time of the last systemPatternControl SET
        self._detector: frozenset[int] = frozenset()
        self._latched: set[int] = set()
        self._mmu_flash = False
        self._db_state = oids.DbCreateTransaction.NORMAL
        self._db_buffer: Database | None = None
        self._db_verify = (oids.DbVerifyStatus.NOT_DONE, "")
        self._selected: tuple[int, int] | None = None  # (pattern number, db version) last checked
        self._db_version = 0
        self._plan: CoordPlan | None = None
        self._free_status = LocalFreeStatus.NOT_FREE
        self._flash_wanted = False
        self._pattern_status = 0
        # the stage timer
        first = mapping.ring_sequence()[0]
        self.stage = first
        self.interval: Interval = "red"
        self.next_stage: int = first
        self.interval_s = 0.0
        self.green_s = 0.0
        self._gap_s = 0.0
        self._max_s = 0.0
        self._ped_min_s = 0.0
        self._walk_s = 0.0  # the walk of this green (0: none shown)
        self._walk_phases: set[int] = set()  # the NEMA phases whose walk this green shows
        self.walks = 0  # walks shown, for reports and tests
        self._timer_ref_s = 0.0  # absolute time of a cycle-timer zero (the offset being run)
        self._update_mode()

    @classmethod
    def from_model(
        cls, model: IntersectionModel, mapping: NemaMapping | None = None, **options: object
    ) -> Cabinet:
        """A cabinet programmed from the model: phase table from its bounds and clearances,
        pattern 1 / split 1 = the network's own program (the unit's own schedule)."""
        mapping = mapping or phase_map(model)
        rows: dict[int, PhaseRow] = {}
        for p in mapping.nema_phases_used:
            stages = [model.phases[k] for k in mapping.model_phases_of(p)]
            crossings = [c for k in mapping.model_phases_of(p) for c in model.phase_crossings(k)]
            rows[p] = PhaseRow(
                min_green_s=math.ceil(max(s.min_green_s for s in stages) - EPS_S),
                max1_s=max(1, math.floor(min(s.max_green_s for s in stages) + EPS_S)),
                yellow_ds=math.ceil(model.yellow_s * 10 - EPS_S),
                red_clear_ds=math.ceil(model.all_red_s * 10 - EPS_S),
                walk_s=math.ceil(max((c.walk_s for c in crossings), default=0.0) - EPS_S),
                ped_clear_s=math.ceil(max((c.clearance_s for c in crossings), default=0.0) - EPS_S),
            )
        db = Database(rows)
        cabinet = cls(mapping, db, local_pattern=1, **options)  # type: ignore[arg-type]
        order = mapping.ring_sequence()
        splits = {}
        for k in order:
            green = max(model.phases[k].duration_s, cabinet.stage_min_green_s(k))
            splits[k] = math.ceil(green + cabinet.stage_clearance_s(k) - EPS_S)
        cycle = sum(splits.values())
        db.patterns[1] = PatternRow(cycle, int(model.program_offset_s) % cycle, 1)
        for k in order:
            for p in mapping.nema_phases(k):
                row = db.splits.setdefault((1, p), SplitRow(0, int(SplitMode.MAXIMUM_VEHICLE_RECALL)))
                row.time_s = max(row.time_s, splits[k])
        for p in mapping.nema_phases(order[0]):
            db.splits[(1, p)].coord = 1
        cabinet._db_version += 1
        cabinet._update_mode()
        return cabinet

    # --- stage timing from the phase table ---------------------------------------------------
    def stage_min_green_s(self, stage: int) -> float:
        """Minimum green of a stage (longest of its NEMA phases')."""
        return stage_min_green_s(self.db, self.mapping, stage)

    def stage_clearance_s(self, stage: int) -> float:
        """Yellow + red clearance after a stage (longest of its NEMA phases')."""
        return stage_clearance_s(self.db, self.mapping, stage)

    def _rows(self, stage: int) -> list[PhaseRow]:
        return [self.db.phases[p] for p in self.mapping.nema_phases(stage)]

    def _ending(self, stage: int, nxt: int) -> tuple[int, ...]:
        keep = () if nxt == FLASH else self.mapping.nema_phases(nxt)
        return tuple(p for p in self.mapping.nema_phases(stage) if p not in keep)

    # --- inputs ------------------------------------------------------------------------------
    def set_detector_calls(self, nema_phases: Iterable[int]) -> None:
        """Phases whose detectors see a vehicle now (presence; latched while the phase is red)."""
        self._detector = frozenset(nema_phases)

    def set_preempt_input(self, preempt: int, on: bool) -> None:
        """Preempt ``preempt``'s input (1..``PREEMPTS``) on or off, as an emitter's receiver drives it."""
        self._preempt(preempt)
        (self.preempt_inputs.add if on else self.preempt_inputs.discard)(preempt)

    def preempt_state(self, preempt: int) -> oids.PreemptState:
        """``preemptState`` (module docstring: no sequence of its own, a call is reported)."""
        self._preempt(preempt)
        called = preempt in self.preempt_inputs or preempt in self._preempt_control
        return oids.PreemptState.NOT_ACTIVE_WITH_CALL if called else oids.PreemptState.NOT_ACTIVE

    @staticmethod
    def _preempt(preempt: int) -> int:
        if not 1 <= preempt <= PREEMPTS:
            raise SetRefused("noSuchName", f"preempt {preempt}: this unit has preempts 1..{PREEMPTS}")
        return preempt

    def latch_flash(self) -> None:
        """The conflict monitor's flash: immediate, until :meth:`reset_flash`."""
        self._mmu_flash = True
        self.interval, self.interval_s = "flash", 0.0

    def reset_flash(self) -> None:
        self._mmu_flash = False

    @property
    def central(self) -> bool:
        """True while central commands are obeyed (``unitControlStatus`` = systemControl)."""
        return self.unit_control_status == UnitControlStatus.SYSTEM_CONTROL

    @property
    def unit_control_status(self) -> UnitControlStatus:
        if self._central_since is None:
            return UnitControlStatus.TIMEBASE
        if self.backup_time_s and self.now_s - self._central_since > self.backup_time_s + EPS_S:
            return UnitControlStatus.BACKUP_MODE
        if self.system_pattern_control == oids.PATTERN_STANDBY:
            return UnitControlStatus.SYSTEM_STANDBY
        return UnitControlStatus.SYSTEM_CONTROL

    # --- the clock ---------------------------------------------------------------------------
    def tick(self, dt_s: float) -> None:
        """Advance ``dt_s`` seconds: update calls and mode, then time the current interval."""
        self.now_s += dt_s
        self._update_mode()
        self._seek_offset(dt_s)
        self.interval_s += dt_s
        on = self._active_phases()
        calls = self._detector | (self.control["phaseControlGroupVehCall"] | self.control["phaseControlGroupPedCall"] if self.central else set())
        self._latched |= {p for p in self._detector if p not in on}
        if self.interval == "green":
            self.green_s += dt_s
            own = set(self.mapping.nema_phases(self.stage))
            self._gap_s = 0.0 if calls & own else self._gap_s + dt_s
            if self._next_candidate() is not None:
                self._max_s += dt_s
            self._time_green()
        elif self.interval == "yellow":
            if self.interval_s >= self._clearance_part("yellow_ds") - EPS_S:
                self._enter("red")
                if self._clearance_part("red_clear_ds") <= EPS_S:
                    self._after_red()
        elif self.interval == "red":
            if self.interval_s >= self._clearance_part("red_clear_ds") - EPS_S:
                self._after_red()
        elif self.interval == "flash" and not (self._flash_wanted or self._mmu_flash):
            self.stage = FLASH
            self.next_stage = self._plan.coord_stage if self._plan else self.mapping.ring_sequence()[0]
            self._enter("red")

    def _clearance_part(self, field_ds: str) -> float:
        """Yellow or red clearance (s) of the current change: longest over the ending phases
        (from flash, the longest red clearance of the unit: the start-up all-red)."""
        if self.stage == FLASH:
            return max(getattr(r, field_ds) for r in self.db.phases.values()) / 10
        ending = self._ending(self.stage, self.next_stage)
        return max((getattr(self.db.phases[p], field_ds) for p in ending), default=0) / 10

    def _after_red(self) -> None:
        if self.next_stage == FLASH or self._flash_wanted:  # all red already: flash at once
            self._enter("flash")
        else:
            self._start_green(self.next_stage)

    def _enter(self, interval: Interval) -> None:
        self.interval, self.interval_s = interval, 0.0

    def _start_green(self, stage: int) -> None:
        self.stage, self.next_stage = stage, stage
        self._enter("green")
        self.green_s = self._gap_s = self._max_s = 0.0
        self._latched -= set(self.mapping.nema_phases(stage))
        called = self._ped_called(stage)
        self._ped_min_s = float(max((self.db.phases[p].walk_s + self.db.phases[p].ped_clear_s for p in called), default=0))
        self._walk_s = float(max((self.db.phases[p].walk_s for p in called), default=0))
        self._walk_phases = {p for p in called if self.db.phases[p].walk_s > 0}
        if self._walk_s > 0 and self.mapping.model.crossings:
            self.walks += 1

    def _ped_called(self, stage: int) -> set[int]:
        """The stage's phases with a pedestrian call (central ``phaseControlGroupPedCall``, a
        pedestrian-recall split mode or the unit's pedestrian recall), not ped-omitted."""
        phases = set(self.mapping.nema_phases(stage))
        called: set[int] = set(self.ped_recall & phases)
        if self.central:
            called |= self.control["phaseControlGroupPedCall"] & phases
            called -= self.control["phaseControlGroupPedOmit"]
        if self._plan is not None and stage in self._plan.ped_recall:
            called |= phases
        return called

    @property
    def walk_started_s(self) -> float | None:
        """Green seconds at which this green's walk started (0: with the green), None without one."""
        return 0.0 if self.interval == "green" and self._walk_s > 0 else None

    def _time_green(self) -> None:
        if self.green_s < max(self.stage_min_green_s(self.stage), self._ped_min_s) - EPS_S:
            return
        if self._flash_wanted:
            self._end_green(FLASH)
            return
        own = set(self.mapping.nema_phases(self.stage))
        if self.central and own & self.control["phaseControlGroupHold"]:
            return
        nxt = self._next_candidate()
        if nxt is None:
            return  # rest in green: nobody else wants the intersection
        forced = self.central and bool(own & self.control["phaseControlGroupForceOff"])
        plan = self._plan
        if plan is not None:
            c = self.cycle_timer_s()
            coord_end = plan.window[plan.coord_stage][1]
            if self.stage == plan.coord_stage:
                last_force_off = plan.window[plan.order[-1]][1]
                done = forced or coord_end - EPS_S <= c < last_force_off
            else:
                _, end = plan.window.get(self.stage, (0.0, 0.0))
                past_force_off = not coord_end - EPS_S <= c < end - EPS_S
                gapped = self.stage not in plan.max_recall and self._gap_s >= self._passage_s() - EPS_S
                done = past_force_off or forced or gapped
        else:
            gapped = self._gap_s >= self._passage_s() - EPS_S
            maxed = self._max_s >= max(r.max1_s for r in self._rows(self.stage)) - EPS_S
            done = forced or gapped or maxed
        if done:
            self._end_green(nxt)

    def _end_green(self, nxt: int) -> None:
        self.next_stage = nxt
        self._enter("yellow")

    def _passage_s(self) -> float:
        return max(r.passage_ds for r in self._rows(self.stage)) / 10

    def _called(self, stage: int) -> bool:
        phases = set(self.mapping.nema_phases(stage))
        calls = self._latched | self._detector
        if self.central:
            calls = calls | self.control["phaseControlGroupVehCall"] | self.control["phaseControlGroupPedCall"]
        if self._plan is not None:
            return stage in self._plan.recall or stage == self._plan.coord_stage or bool(phases & calls)
        return bool(phases & (calls | self.min_recall))

    def _omitted(self, stage: int) -> bool:
        if self._plan is not None and stage not in self._plan.window:
            return True
        return self.central and bool(set(self.mapping.nema_phases(stage)) & self.control["phaseControlGroupPhaseOmit"])

    def _next_candidate(self) -> int | None:
        """The next stage to serve after the current one, or None to rest."""
        order = self.mapping.ring_sequence(self.stage)[1:]
        plan = self._plan
        for k in order:
            if self._omitted(k) or not self._called(k):
                continue
            if plan is None or k == plan.coord_stage:
                return k
            start_s = (self.cycle_timer_s() + self.stage_clearance_s(self.stage)) % plan.cycle_s
            coord_end = plan.window[plan.coord_stage][1]
            _, end = plan.window[k]
            if coord_end - EPS_S <= start_s <= end - self.stage_min_green_s(k) + EPS_S:
                return k
        if plan is not None and plan.coord_stage != self.stage and not self._omitted(plan.coord_stage):
            return plan.coord_stage
        return None

    def cycle_timer_s(self) -> float:
        """Seconds into the running pattern's cycle (0 = coordinated green start); 0 when free."""
        if self._plan is None:
            return 0.0
        return (self.now_s - self._timer_ref_s) % self._plan.cycle_s

    def _seek_offset(self, dt_s: float) -> None:
        """Move the cycle timer's reference toward the pattern's offset the short way round,
        at most ``OFFSET_SEEK_RATE`` seconds per second (the timer runs up to 20 % fast or slow)."""
        plan = self._plan
        if plan is None:
            return
        half = plan.cycle_s / 2
        error = (plan.offset_s - self._timer_ref_s + half) % plan.cycle_s - half
        step = min(abs(error), OFFSET_SEEK_RATE * dt_s)
        self._timer_ref_s += step if error > 0 else -step

    def _active_phases(self) -> set[int]:
        if self.interval == "green" or (self.interval in ("yellow", "red") and self.stage != FLASH):
            return set(self.mapping.nema_phases(self.stage))
        return set()

    # --- pattern selection ---------------------------------------------------------------------
    def _update_mode(self) -> None:
        status = self.unit_control_status
        if status == UnitControlStatus.BACKUP_MODE and any(self.control.values()):
            for bits in self.control.values():
                bits.clear()  # central phase control ends with central control
        pattern = self.system_pattern_control if status == UnitControlStatus.SYSTEM_CONTROL else self.local_pattern
        key = (pattern, self._db_version)
        if key == self._selected:
            return
        self._selected = key
        self._flash_wanted = pattern == oids.PATTERN_FLASH
        if pattern == oids.PATTERN_FLASH:
            self._plan, self._free_status, self._pattern_status = None, LocalFreeStatus.OTHER, oids.PATTERN_FLASH
        elif pattern in (oids.PATTERN_FREE, oids.PATTERN_STANDBY):
            self._plan, self._free_status, self._pattern_status = None, LocalFreeStatus.COMMAND_FREE, oids.PATTERN_FREE
        else:
            plan, why = check_pattern(pattern, self.db, self.mapping)
            if plan is not None and self._plan is None:
                self._timer_ref_s = plan.offset_s  # from free: start on the offset at once
            self._plan, self._free_status = plan, why
            self._pattern_status = pattern if plan is not None else oids.PATTERN_FREE

    # --- what the heads show ---------------------------------------------------------------------
    def display(self) -> Display:
        if self.interval == "flash":
            return Display(frozenset(), frozenset(), True)
        if self.interval == "green":
            return Display(frozenset(self.mapping.nema_phases(self.stage)), frozenset(),
                           walk=self.green_s < self._walk_s - EPS_S)
        if self.stage == FLASH:
            return Display(frozenset(), frozenset())
        ending = frozenset(self._ending(self.stage, self.next_stage))
        kept = frozenset(p for p in self.mapping.nema_phases(self.stage) if p not in ending)
        nexts = frozenset() if self.next_stage == FLASH else frozenset(self.mapping.nema_phases(self.next_stage))
        return Display(kept, ending if self.interval == "yellow" else frozenset(), False, ending, nexts)

    def link_state(self, flash_char: str = "s") -> str:
        """The SUMO state string shown now (flash: ``flash_char`` on every link, stop then go)."""
        d = self.display()
        if d.flash:
            return flash_char * self.mapping.model.state_length
        return self.mapping.link_state(d.greens, d.yellows, d.clearing, d.nexts, d.walk)

    # --- NTCIP objects ---------------------------------------------------------------------------
    def read(self, name: str, index: tuple[int, ...] = ()) -> int | str:
        """The value of one NTCIP object instance; ``SetRefused('noSuchName')`` if none."""
        db = self._db_buffer if self._db_buffer is not None else self.db
        if name in PHASE_FIELDS or name in PATTERN_FIELDS or name in SPLIT_FIELDS:
            return read_field(db, name, index)
        if name == "phaseRing":
            phase_row(db, index)
            return self.mapping.ring_of(index[0]) if index[0] in self.mapping.nema_phases_used else 0
        if name in _CONTROL_GROUPS:
            return self._mask(self.control[name], self._group(index))
        if name.startswith("phaseStatusGroup"):
            return self._mask(self._status_phases(name), self._group(index))
        if name == "preemptState" and len(index) == 1:
            return int(self.preempt_state(index[0]))
        if name == "preemptControlState" and len(index) == 1:
            return int(self._preempt(index[0]) in self._preempt_control)
        scalar = {
            "maxPhases": lambda: self.max_phase,
            "maxPhaseGroups": lambda: self.groups,
            "maxPatterns": lambda: MAX_PATTERNS,
            "maxPreempts": lambda: PREEMPTS,
            "maxSplits": lambda: MAX_SPLITS,
            "unitBackupTime": lambda: self.backup_time_s,
            "unitControlStatus": lambda: int(self.unit_control_status),
            "unitFlashStatus": lambda: int(self.flash_status),
            "coordPatternStatus": lambda: self._pattern_status,
            "localFreeStatus": lambda: int(self._free_status),
            "coordCycleStatus": lambda: int(self.cycle_timer_s()),
            "systemPatternControl": lambda: self.system_pattern_control,
            "systemSyncControl": lambda: self.system_sync_control,
            "dbCreateTransaction": lambda: int(self._db_state),
            "dbVerifyStatus": lambda: int(self._db_verify[0]),
            "dbVerifyError": lambda: self._db_verify[1],
        }
        if name in scalar and index == ():
            return scalar[name]()
        raise SetRefused("noSuchName", f"{name}{index}: no such object instance")

    @property
    def flash_status(self) -> UnitFlashStatus:
        if self._mmu_flash:
            return UnitFlashStatus.MMU
        if self.interval == "flash":
            return UnitFlashStatus.AUTOMATIC
        return UnitFlashStatus.NOT_FLASH

    def write(self, name: str, index: tuple[int, ...], value: int) -> None:
        """SET one object instance, validated like a controller (raises :class:`SetRefused`)."""
        self.check_write(name, index, value)
        self._apply(name, index, value)

    def check_write(self, name: str, index: tuple[int, ...], value: int) -> None:
        """Raise :class:`SetRefused` if the controller would refuse this SET (nothing changes)."""
        obj = oids.BY_NAME.get(name)
        if obj is None:
            raise SetRefused("noSuchName", f"{name}: no such object")
        self.read(name, index)  # noSuchName for a missing instance
        if obj.access != "read-write" or name == "phaseRing":
            raise SetRefused("notWritable", f"{name} is read-only")
        try:
            obj.check(value)
        except ValueError as exc:
            raise SetRefused("wrongValue", str(exc)) from None
        if name in _CONTROL_GROUPS:
            group = self._group(index)
            bits = set(oids.phases_in_mask(group, value))
            if bits - set(self.mapping.nema_phases_used):
                raise SetRefused("wrongValue", f"{name}.{group} = {value}: phases {sorted(bits - set(self.mapping.nema_phases_used))} not used")
        elif name == "systemPatternControl" and value in oids.PATTERN_NUMBERS and value > MAX_PATTERNS:
            raise SetRefused("wrongValue", f"systemPatternControl = {value}: this unit has patterns 1..{MAX_PATTERNS}")
        elif name == "phaseMinimumGreen" and value < 1:
            raise SetRefused("wrongValue", f"phaseMinimumGreen.{index[0]} = {value}: at least 1 s")
        elif name == "dbCreateTransaction":
            T = oids.DbCreateTransaction
            allowed = {
                T.NORMAL: {T.NORMAL, T.TRANSACTION}, T.TRANSACTION: {T.TRANSACTION, T.VERIFY, T.NORMAL},
                T.VERIFY: {T.VERIFY}, T.DONE: {T.DONE, T.NORMAL, T.TRANSACTION},
            }
            if T(value) not in allowed[self._db_state]:
                raise SetRefused("inconsistentValue", f"dbCreateTransaction: cannot go from {self._db_state.name.lower()} to {T(value).name.lower()}")

    def _apply(self, name: str, index: tuple[int, ...], value: int) -> None:
        if name in _CONTROL_GROUPS:
            group = index[0]
            bits = set(oids.phases_in_mask(group, value))
            base = range(8 * (group - 1) + 1, 8 * group + 1)
            self.control[name] = (self.control[name] - set(base)) | bits
        elif name == "systemPatternControl":
            self.system_pattern_control = value
            self._central_since = self.now_s
            self._update_mode()
        elif name == "systemSyncControl":
            self.system_sync_control = value
        elif name == "preemptControlState":
            (self._preempt_control.add if value else self._preempt_control.discard)(index[0])
        elif name == "unitBackupTime":
            self.backup_time_s = value
        elif name == "dbCreateTransaction":
            self._db_transition(oids.DbCreateTransaction(value))
        else:
            db = self._db_buffer if self._db_buffer is not None else self.db
            write_field(db, name, index, value)
            if db is self.db:
                self._db_version += 1
                self._update_mode()

    def _db_transition(self, target: oids.DbCreateTransaction) -> None:
        """NTCIP 1201 database transaction: buffer SETs, verify, then commit on ``normal``."""
        T = oids.DbCreateTransaction
        state = self._db_state
        if target == T.TRANSACTION and state in (T.NORMAL, T.DONE):
            if self._db_buffer is None:
                self._db_buffer = self.db.copy()
            self._db_verify = (oids.DbVerifyStatus.NOT_DONE, "")
        elif target == T.VERIFY and state == T.TRANSACTION:
            assert self._db_buffer is not None
            errors = [
                f"pattern {n}: {why.name.lower()}"
                for n, row in sorted(self._db_buffer.patterns.items())
                if row.cycle_s and (why := check_pattern(n, self._db_buffer, self.mapping)[1]) != LocalFreeStatus.NOT_FREE
            ]
            self._db_verify = (
                (oids.DbVerifyStatus.DONE_WITH_ERROR, "; ".join(errors)) if errors
                else (oids.DbVerifyStatus.DONE_WITH_NO_ERROR, "")
            )
            target = T.DONE
        elif target == T.NORMAL:
            if state == T.DONE and self._db_verify[0] == oids.DbVerifyStatus.DONE_WITH_NO_ERROR:
                assert self._db_buffer is not None
                self.db = self._db_buffer
                self._db_version += 1
            self._db_buffer = None
        self._db_state = target
        self._update_mode()

    # --- index checks ------------------------------------------------------------------------
    def _group(self, index: tuple[int, ...]) -> int:
        if len(index) != 1 or not 1 <= index[0] <= self.groups:
            raise SetRefused("noSuchName", f"phase group {index}: this unit has groups 1..{self.groups}")
        return index[0]

    @staticmethod
    def _mask(phases: Iterable[int], group: int) -> int:
        return oids.phase_masks([p for p in phases if oids.phase_group(p)[0] == group], group).get(group, 0)

    def _pedestrian_intervals(self) -> tuple[set[int], set[int]]:
        """NEMA phases showing walk, and those in pedestrian clearance (flashing don't walk)."""
        if self.interval != "green":
            return set(), set()
        rows = self.db.phases
        walks = {p for p in self._walk_phases if self.green_s < rows[p].walk_s - EPS_S}
        clears = {p for p in self._walk_phases - walks if self.green_s < rows[p].walk_s + rows[p].ped_clear_s - EPS_S}
        return walks, clears

    def _status_phases(self, name: str) -> set[int]:
        d = self.display()
        used = set(self.mapping.nema_phases_used)
        if name == "phaseStatusGroupGreens":
            return set(d.greens)
        if name == "phaseStatusGroupYellows":
            return set(d.yellows)
        if name == "phaseStatusGroupReds":
            return used - d.greens - d.yellows
        if name in ("phaseStatusGroupWalks", "phaseStatusGroupPedClears", "phaseStatusGroupDontWalks"):
            walks, clears = self._pedestrian_intervals()
            if name == "phaseStatusGroupWalks":
                return walks
            if name == "phaseStatusGroupPedClears":
                return clears
            return {p for p in used if self.db.phases[p].walk_s > 0} - walks - clears
        if name == "phaseStatusGroupPedCalls":
            return (self.control["phaseControlGroupPedCall"] if self.central else set()) & used
        if name == "phaseStatusGroupVehCalls":
            return (self._latched | self._detector | (self.control["phaseControlGroupVehCall"] if self.central else set())) & used
        if name == "phaseStatusGroupPhaseOns":
            return self._active_phases()
        if name == "phaseStatusGroupPhaseNexts":
            nxt = self.next_stage if self.interval != "green" else self._next_candidate()
            return set(self.mapping.nema_phases(nxt)) if nxt not in (None, FLASH, self.stage) else set()
        raise SetRefused("noSuchName", f"{name}: no such status group object")
