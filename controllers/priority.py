"""Emergency preemption: the phase an emergency vehicle needs, and a record of each preemption.

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


class Preemption:
    """Which intersections an emergency vehicle preempts now, with one event per vehicle."""

    def __init__(self, models: Mapping[str, IntersectionModel]) -> None:
        self.models = models
        self.events: list[PreemptionEvent] = []
        self._open: dict[str, int] = {}  # tls -> index of its running event
        self._phase_cache: dict[tuple[str, str, str | None], int] = {}

    def phase_for(self, call: PriorityCall) -> int:
        model = self.models[call.tls_id]
        lanes = [link.from_lane for link in model.links if link.approach == call.approach]
        lane_id = list(dict.fromkeys(lanes))[call.lane] if call.lane is not None else None
        key = (call.tls_id, call.approach, lane_id)
        if key not in self._phase_cache:
            self._phase_cache[key] = vehicle_phase(model, call.approach, lane_id)
        return self._phase_cache[key]

    def update(self, now_s: float, calls: Iterable[PriorityCall]) -> dict[str, int]:
        """tls -> the phase to serve for the nearest emergency vehicle reported this step;
        opens and closes the events."""
        nearest: dict[str, PriorityCall] = {}
        for call in calls:
            if call.vehicle_class != EMERGENCY or call.tls_id not in self.models:
                continue
            if call.tls_id not in nearest or call.distance_m < nearest[call.tls_id].distance_m:
                nearest[call.tls_id] = call
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


__all__ = ["EMERGENCY", "Preemption", "PreemptionEvent", "vehicle_phase"]
