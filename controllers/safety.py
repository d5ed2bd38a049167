"""The safety layer in front of every signal backend: what we send must be safe on its own.

A real cabinet's conflict monitor is the last line of defence; :class:`SafeBackend` is the one
before it, on our side of the wire, so a policy bug never even reaches the controller. It wraps
any :class:`~controllers.backend.SignalBackend` (SUMO, NTCIP, an in-process cabinet) and is one
itself.

Phase commands (``command``), per intersection and batch:

* a ``hold`` is only for the phase that is green now (holding anything else would ask for a
  second green); holds on other phases are refused;
* at most one ``serve_next`` target; two different targets are both refused, and so is a
  ``serve_next`` to the current phase, to a phase omitted in the same batch, or together with a
  ``hold`` of the current phase;
* ``serve_next`` before the current green has run its required green (the larger of the
  model's min green and the running plan's min green and pedestrian minimum) is refused: the
  pedestrian clearance and min green are not ours to cut; once the signal shows the phase's
  walk (``SignalStatus.walk_started_s``), neither is the walk and the flashing don't-walk
  after it (the model's :meth:`~optimizer.intersection.IntersectionModel.pedestrian_time_s`);
* unknown intersections and phases are refused; ``call`` and ``omit`` are always safe.

Commands are judged against the signal status of the same step (what :meth:`status` read, or
read again when older than ``STATUS_MAX_AGE_S``).

**Policy**: a refused phase command is dropped, the rest of the batch is sent, and the refusal
is recorded in :attr:`SafeBackend.refusals` as a ``ControllerError`` (logged as a warning);
with ``strict=True`` the whole batch is refused and the error raised instead. Phase commands
are level commands resent every step, so dropping one leaves the cabinet timing on its own.

Plans (``apply``): validated by ``optimizer.plan.validate`` (conflicts, min/max green,
yellow/all-red, cycle sum, offset) and, when NEMA mappings are given, by the ring order
(``NemaMapping.check_sequence``); a refused plan raises ``PlanError`` (and is recorded) and
nothing is applied. A new plan for an intersection that already runs one is reached gradually:
each cycle the cycle and every split move at most ``max_change_per_cycle`` of their running
value (:func:`limit_change`); changing the phase sequence of a running plan is refused.

Example::

    backend = SafeBackend(NtcipBackend.from_models(models, addresses), models)
    dispatch(backend, policy.step(now_s, dt_s, frames, backend.status()))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from controllers.backend import PhaseCommand, SignalBackend, SignalStatus
from optimizer.intersection import IntersectionModel
from optimizer.plan import IntersectionPlan, PhaseTiming, TimingPlan, validate
from phasewise_errors import ControllerError, PhasewiseError, PlanError

log = logging.getLogger(__name__)

MAX_CHANGE_PER_CYCLE = 0.2
"""Largest relative change of the cycle and of each split from one cycle to the next (20 %).
Larger jumps break progression on a coordinated arterial and catch platoons and drivers used to
the running timing by surprise; transition practice (e.g. 'smooth' offset transition in NEMA
controllers, our own offset seeking in ``controllers.coordination``) stays within about a fifth
of the cycle per cycle."""


TRANSITION_RETRY_S = 10.0
"""A bounded transition step the controllers did not take is sent again after this."""

STATUS_MAX_AGE_S = 1.0
"""A status older than this (one control step) is read again before commands are judged on it."""


class SequenceCheck(Protocol):
    """A NEMA mapping (``controllers.ntcip.nema.NemaMapping``): ``check_sequence`` raises PlanError."""

    def check_sequence(self, sequence: Sequence[int]) -> None: ...


@dataclass
class _Transition:
    running: IntersectionPlan
    target: IntersectionPlan
    applied_s: float


def limit_change(running: IntersectionPlan, target: IntersectionPlan, max_fraction: float) -> IntersectionPlan:
    """The plan one cycle closer to ``target``: the largest step along the straight line from
    ``running`` to ``target`` that moves the cycle and every split by at most ``max_fraction`` of
    their running values (``target`` itself when it is within reach).

    Both plans must have the same phase sequence. Every quantity of the step lies between its
    running and target values, so a step between two valid plans is valid (greens within
    bounds, clearances at least the required ones, splits adding up to the cycle)."""
    if running.sequence != target.sequence:
        raise PlanError(f"{target.tls_id}: phase sequence {list(target.sequence)} differs from the running {list(running.sequence)}")
    step = 1.0
    pairs = [(running.cycle_s, target.cycle_s)] + [(a.split_s, b.split_s) for a, b in zip(running.phases, target.phases)]
    for old, new in pairs:
        allowed = max_fraction * old
        if abs(new - old) > allowed:
            step = min(step, allowed / abs(new - old))
    if step >= 1.0:
        return target

    def mix(a: float, b: float) -> float:
        return a + step * (b - a)

    phases = tuple(
        replace(b, green_s=mix(a.green_s, b.green_s), yellow_s=mix(a.yellow_s, b.yellow_s), all_red_s=mix(a.all_red_s, b.all_red_s))
        for a, b in zip(running.phases, target.phases)
    )
    cycle = sum(p.split_s for p in phases)
    return replace(target, cycle_s=cycle, offset_s=target.offset_s % cycle, phases=phases)


class SafeBackend:
    """A :class:`SignalBackend` that refuses unsafe commands and plans (module docstring)."""

    def __init__(
        self,
        backend: SignalBackend,
        models: Mapping[str, IntersectionModel],
        *,
        mappings: Mapping[str, SequenceCheck] | None = None,
        max_change_per_cycle: float = MAX_CHANGE_PER_CYCLE,
        strict: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.models = dict(models)
        self.mappings = dict(mappings or {})
        self.max_change_per_cycle = max_change_per_cycle
        self.strict = strict
        self.clock = clock
        self.refusals: list[PhasewiseError] = []
        self.running: dict[str, IntersectionPlan] = {}
        self._transitions: dict[str, _Transition] = {}
        self._status: Mapping[str, SignalStatus] = {}
        self._status_at_s = float("-inf")

    # --- SignalBackend ---------------------------------------------------------------------
    def status(self) -> Mapping[str, SignalStatus]:
        self._status = self.backend.status()
        self._status_at_s = self.clock()
        self._advance_transitions()
        return self._status

    def command(self, commands: Sequence[PhaseCommand]) -> None:
        if not self._status or self.clock() - self._status_at_s > STATUS_MAX_AGE_S:
            self.status()  # judge commands against what the signal shows now, not long ago
        else:
            self._advance_transitions()
        safe: list[PhaseCommand] = []
        errors: list[ControllerError] = []
        by_tls: dict[str, list[PhaseCommand]] = {}
        for c in commands:
            by_tls.setdefault(c.tls_id, []).append(c)
        for tls, batch in by_tls.items():
            kept, refused = self._screen(tls, batch)
            safe += kept
            errors += refused
        if errors:
            self.refusals += errors
            for e in errors:
                log.warning("refused: %s", e)
            if self.strict:
                raise errors[0]
        self.backend.command(safe)

    def apply(self, plan: TimingPlan) -> None:
        try:
            validate(plan, self.models)
            for tls, ip in plan.intersections.items():
                if tls in self.mappings:
                    self.mappings[tls].check_sequence(ip.sequence)
                running = self.running.get(tls)
                if running is not None and running.sequence != ip.sequence:
                    raise PlanError(
                        f"{tls}: a new plan may not change the running phase sequence "
                        f"{list(running.sequence)} to {list(ip.sequence)}; release the signal first"
                    )
            first: dict[str, IntersectionPlan] = {}
            for tls, ip in plan.intersections.items():
                running = self.running.get(tls)
                first[tls] = ip if running is None else limit_change(running, ip, self.max_change_per_cycle)
            step_plan = replace(plan, intersections=first)
            validate(step_plan, self.models)  # a step between two valid plans with the same bounds is valid
        except PlanError as exc:
            self.refusals.append(exc)
            raise
        self._send(step_plan)  # raises when the controllers refuse: nothing changes here then
        now = self.clock()
        for tls, ip in plan.intersections.items():
            if first[tls] is not ip:
                self._transitions[tls] = _Transition(first[tls], ip, now)
            else:
                self._transitions.pop(tls, None)

    def close(self) -> None:
        self._transitions.clear()
        self.running.clear()
        self.backend.close()

    # --- internals --------------------------------------------------------------------------
    def _send(self, plan: TimingPlan) -> None:
        self.backend.apply(plan)
        self.running.update(plan.intersections)

    def _advance_transitions(self) -> None:
        """Once a cycle of the running step has passed, send the next step toward the target."""
        now = self.clock()
        due = {tls: t for tls, t in self._transitions.items() if now - t.applied_s >= t.running.cycle_s}
        if not due:
            return
        steps, later = {}, {}
        for tls, t in due.items():
            step = limit_change(t.running, t.target, self.max_change_per_cycle)
            try:
                validate(TimingPlan({tls: step}, created_by="safety"), self.models)
            except PlanError as exc:  # the target's bounds exclude the way there: stay put
                self.refusals.append(exc)
                del self._transitions[tls]
                continue
            steps[tls] = step
            later[tls] = None if step is t.target else _Transition(step, t.target, now)
        if not steps:
            return
        try:
            self._send(TimingPlan(steps, created_by="safety: bounded transition"))
        except PhasewiseError as exc:  # the controllers keep the running step; tried again shortly
            log.warning("bounded transition step not taken (%s); retried in %.0f s", exc, TRANSITION_RETRY_S)
            for tls in steps:
                t = self._transitions[tls]
                self._transitions[tls] = _Transition(t.running, t.target, now - t.running.cycle_s + TRANSITION_RETRY_S)
            return
        for tls, nxt in later.items():
            if nxt is None:
                del self._transitions[tls]
            else:
                self._transitions[tls] = nxt

    def _screen(self, tls: str, batch: list[PhaseCommand]) -> tuple[list[PhaseCommand], list[ControllerError]]:
        model = self.models.get(tls)
        if model is None:
            return [], [ControllerError(f"{tls}: no such intersection; {len(batch)} commands refused")]
        refused: list[ControllerError] = []

        def refuse(c: PhaseCommand, why: str) -> None:
            refused.append(ControllerError(f"{tls} {c.kind} phase {c.phase}: {why}"))

        ok = []
        for c in batch:
            if not 0 <= c.phase < len(model.phases):
                refuse(c, f"no such phase (0..{len(model.phases) - 1})")
            else:
                ok.append(c)
        status = self._status.get(tls)
        current = status.phase if status is not None else None
        green = status is not None and not status.in_clearance
        omitted = {c.phase for c in ok if c.kind == "omit"}
        targets = {c.phase for c in ok if c.kind == "serve_next"}
        holds_current = any(c.kind == "hold" and c.phase == current and green for c in ok)
        kept = []
        for c in ok:
            if c.kind == "hold" and not (green and c.phase == current):
                refuse(c, f"only the green phase may be held (green: {current if green else 'none, in clearance'})")
            elif c.kind == "serve_next":
                why = self._serve_next_problem(tls, c.phase, status, targets, omitted, holds_current)
                if why:
                    refuse(c, why)
                else:
                    kept.append(c)
            else:
                kept.append(c)
        if refused and self.strict:
            return [], refused
        return kept, refused

    def _serve_next_problem(
        self, tls: str, phase: int, status: SignalStatus | None, targets: set[int], omitted: set[int], holds_current: bool,
    ) -> str:
        if len(targets) > 1:
            return f"several serve_next targets {sorted(targets)} in one batch"
        if phase in omitted:
            return "the phase is omitted in the same batch"
        if holds_current:
            return "the current phase is held in the same batch"
        if status is None:
            return "no signal status yet"
        if status.in_clearance:
            return ""  # the green has ended; the next green is the cabinet's to time
        if phase == status.phase:
            return "the phase is green already"
        required = self.required_green_s(tls, status.phase, status.walk_started_s)
        if status.green_s < required - 1e-6:
            return f"phase {status.phase} green for {status.green_s:g} s, needs {required:g} s (min green / pedestrian clearance)"
        return ""

    def required_green_s(self, tls: str, phase: int, walk_started_s: float | None = None) -> float:
        """The shortest green ``phase`` may show: model min green, the running plan's min
        green and pedestrian minimum, and, when its walk started at ``walk_started_s`` green
        seconds, the end of that walk and its pedestrian clearance."""
        model = self.models[tls]
        need = model.phases[phase].min_green_s
        if walk_started_s is not None:
            need = max(need, walk_started_s + model.pedestrian_time_s(phase))
        running = self.running.get(tls)
        if running is not None and phase in running.sequence:
            timing: PhaseTiming = running.timing(phase)
            need = max(need, timing.required_green_s)
        return need
