"""Priority for emergency vehicles (preemption) and buses (bounded transit priority).

A preemption starts when a priority receiver reports an ``emergency`` vehicle on one of an
intersection's approaches (:class:`counting.camera_frame.PriorityCall`) and lasts while it is
reported there (until it has crossed the stop line). The policy
(:mod:`controllers.adaptive_policy`) then serves the vehicle's phase: it holds that phase if
it is green (past its max green), else ends the running green as soon as its minimum green
(and pedestrian minimum) is served and goes to that phase next. The yellow and all-red of
the green it ends are the cabinet's and are never cut. With several emergency vehicles the
nearest to its stop line is served first.

The vehicle's phase is, for its stop-line lane, the phase that gives every link of the lane
a protected green ('G'), else the most of its links; for an approach without a lane (a
receiver that knows only the direction), the phase that gives the approach's links the most
protected greens. Each preemption is one :class:`PreemptionEvent`, logged at its start and
end.

**Transit priority** (:class:`TransitPriority`, opt-in): a bus reported on an approach gets
its phase a little earlier or a little longer, within ``max_s`` (10 s) per grant:

* **green extension**: the green it runs on may be held up to ``max_s`` past the moment the
  policy would have ended it, when the bus can reach the stop line within what is left of
  it at ``APPROACH_SPEED_M_S``;
* **early green**, while another phase is green: the bus's phase goes next when that green
  ends (the phases between wait their turn); and a green the policy would hold on ends at
  once if it has had its plan green and could run at most ``max_s`` more (to its max
  green), so it loses at most that and never runs short of its plan green (its minimum
  green and a walk it shows are kept too). The grant's seconds are what the cut green
  could still have run, and count against ``max_s``.

An approach that had priority is not served again within one plan cycle (not in two cycles
in a row). An emergency vehicle's preemption comes first. Each grant is one
:class:`TransitGrant`.

Example::

    preempt = Preemption(models)
    each step:
        targets = preempt.update(now_s, calls)      # {"J1": 2}: tls -> phase to serve
    preempt.events                                  # PreemptionEvent(tls, approach, vehicle, start_s, end_s)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace

from counting.camera_frame import PriorityCall
from optimizer.intersection import IntersectionModel

log = logging.getLogger(__name__)

EMERGENCY = "emergency"
BUS = "bus"
APPROACH_SPEED_M_S = 12.0  # a bus's speed on an approach (43 km/h), to tell whether an extension reaches it


@dataclass(frozen=True)
class PreemptionEvent:
    """One preemption: the intersection, the approach and vehicle it served, its start and
    end (None while it lasts), and when the vehicle's phase showed green (None if never)."""

    tls_id: str
    approach: str
    vehicle_id: str
    start_s: float
    end_s: float | None = None
    green_s: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def vehicle_phase(model: IntersectionModel, approach: str, lane_id: str | None) -> int:
    """The phase that serves a vehicle on ``lane_id`` (a stop-line lane of ``approach``), or
    on ``approach`` when the lane is unknown: most protected greens, then most greens."""
    links = [link.index for link in model.links
             if link.approach == approach and (lane_id is None or link.from_lane == lane_id)]
    if not links:
        raise ValueError(f"{model.tls_id}: no signal link from {lane_id or approach}")

    def score(p: int) -> tuple[int, int]:
        state = model.phases[p].state
        return (sum(state[i] == "G" for i in links), sum(state[i] in "Gg" for i in links))

    return max(range(len(model.phases)), key=score)


def nearest_calls(calls: Iterable[PriorityCall], vehicle_class: str, tls_ids: Iterable[str]) -> dict[str, PriorityCall]:
    """Per intersection of ``tls_ids``, the call of ``vehicle_class`` nearest its stop line."""
    known = set(tls_ids)
    nearest: dict[str, PriorityCall] = {}
    for call in calls:
        if call.vehicle_class != vehicle_class or call.tls_id not in known:
            continue
        if call.tls_id not in nearest or call.distance_m < nearest[call.tls_id].distance_m:
            nearest[call.tls_id] = call
    return nearest


class CallPhases:
    """The phase that serves a call (:func:`vehicle_phase`), remembered per lane."""

    def __init__(self, models: Mapping[str, IntersectionModel]) -> None:
        self.models = models
        self._cache: dict[tuple[str, str, int | None], int] = {}

    def __call__(self, call: PriorityCall) -> int:
        key = (call.tls_id, call.approach, call.lane)
        if key not in self._cache:
            model = self.models[call.tls_id]
            lanes = list(dict.fromkeys(link.from_lane for link in model.links if link.approach == call.approach))
            self._cache[key] = vehicle_phase(model, call.approach, lanes[call.lane] if call.lane is not None else None)
        return self._cache[key]


class Preemption:
    """Which intersections an emergency vehicle preempts now, with one event per vehicle."""

    def __init__(self, models: Mapping[str, IntersectionModel]) -> None:
        self.models = models
        self.events: list[PreemptionEvent] = []
        self._open: dict[str, int] = {}  # tls -> index of its running event
        self.phase_for = CallPhases(models)

    def update(self, now_s: float, calls: Iterable[PriorityCall]) -> dict[str, int]:
        """tls -> the phase to serve for the nearest emergency vehicle reported this step;
        opens and closes the events."""
        nearest = nearest_calls(calls, EMERGENCY, self.models)
        for tls in list(self._open):
            running = self.events[self._open[tls]]
            if tls not in nearest or nearest[tls].vehicle_id != running.vehicle_id:
                self.events[self._open.pop(tls)] = replace(running, end_s=now_s)
                log.info("preemption at %s for %s over after %.0f s", tls, running.vehicle_id, now_s - running.start_s)
        for tls, call in nearest.items():
            if tls not in self._open:
                self._open[tls] = len(self.events)
                self.events.append(PreemptionEvent(tls, call.approach, call.vehicle_id, now_s))
                log.info("preemption at %s: %s on %s, %.0f m from the stop line", tls, call.vehicle_id,
                         call.approach, call.distance_m)
        return {tls: self.phase_for(call) for tls, call in nearest.items()}

    def served(self, tls: str, now_s: float) -> None:
        """The vehicle's phase shows green at ``tls`` (the first time is recorded)."""
        index = self._open.get(tls)
        if index is not None and self.events[index].green_s is None:
            self.events[index] = replace(self.events[index], green_s=now_s)


@dataclass(frozen=True)
class TransitGrant:
    """One bus served: intersection, approach, vehicle, ``kind`` (``extension``, ``early``:
    its phase next when the running green ends, or ``truncation``: the running green cut
    short for it), start, end (None while it lasts) and its seconds: the green held past
    the policy's end (extension), or what the cut green could still have run (truncation);
    0 for an early green, which reorders the phases rather than moving a green's end."""

    tls_id: str
    approach: str
    vehicle_id: str
    kind: str
    start_s: float
    end_s: float | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


class TransitPriority:
    """Which bus each intersection may favour now, and the record of what was granted."""

    def __init__(self, models: Mapping[str, IntersectionModel], max_s: float = 10.0) -> None:
        self.models = models
        self.max_s = max_s
        self.grants: list[TransitGrant] = []
        self._open: dict[str, int] = {}  # tls -> index of its running grant
        self._last_end: dict[tuple[str, str], float] = {}  # (tls, approach) -> end of its last grant
        self.phase_for = CallPhases(models)  # the same phase choice as for an emergency vehicle

    def update(self, now_s: float, calls: Iterable[PriorityCall]) -> dict[str, tuple[int, PriorityCall]]:
        """tls -> (the bus's phase, its call) for the nearest bus reported this step; closes
        the grants whose bus is no longer reported."""
        nearest = nearest_calls(calls, BUS, self.models)
        for tls in list(self._open):
            grant = self.grants[self._open[tls]]
            if tls not in nearest or nearest[tls].vehicle_id != grant.vehicle_id:
                self.grants[self._open.pop(tls)] = replace(grant, end_s=now_s)
                self._last_end[(tls, grant.approach)] = now_s
        return {tls: (self.phase_for(call), call) for tls, call in nearest.items()}

    def open_grant(self, tls: str) -> TransitGrant | None:
        index = self._open.get(tls)
        return None if index is None else self.grants[index]

    def may_grant(self, call: PriorityCall, now_s: float, cycle_s: float) -> bool:
        """A new grant for ``call``'s approach: not within a cycle of its last one."""
        last = self._last_end.get((call.tls_id, call.approach))
        return last is None or now_s - last >= cycle_s

    def grant(self, call: PriorityCall, kind: str, now_s: float, seconds: float) -> None:
        """Record (or extend) the grant for ``call`` at its intersection."""
        index = self._open.get(call.tls_id)
        if index is None:
            self._open[call.tls_id] = len(self.grants)
            self.grants.append(TransitGrant(call.tls_id, call.approach, call.vehicle_id, kind, now_s, seconds=seconds))
            log.info("transit priority at %s: %s for %s on %s (%.0f s)", call.tls_id, kind, call.vehicle_id,
                     call.approach, seconds)
        else:
            self.grants[index] = replace(self.grants[index], seconds=self.grants[index].seconds + seconds)


__all__ = ["APPROACH_SPEED_M_S", "BUS", "EMERGENCY", "CallPhases", "Preemption", "PreemptionEvent", "TransitGrant", "TransitPriority", "nearest_calls", "vehicle_phase"]
