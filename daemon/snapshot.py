"""What a site shows and what people may ask of it: the value types between a site and the
dashboard/API (``phasewise/web``).

A :class:`SiteSource` is implemented twice: by the running daemon (``daemon.view.DaemonView``,
``phasewise run``) and by a results folder read from files (``phasewise.web.results``,
``phasewise serve``). The HTTP layer knows only this module: frozen snapshots to read
(:class:`SiteSnapshot` and its parts) and operator actions to submit (:data:`Action`, answered
by an :class:`ActionResult`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol, Union

from optimizer.plan import TimingPlan


# -- the snapshot --------------------------------------------------------------------------
@dataclass(frozen=True)
class LaneState:
    """One lane seen by a camera: stopped vehicles (queue), queue length, vehicles in view."""

    lane: str
    queue_veh: float
    queue_m: float
    present_veh: float


@dataclass(frozen=True)
class CameraState:
    """One approach camera: up or out (and why), its lanes; ``image`` when it gives frames."""

    camera: str
    tls: str
    up: bool
    reason: str
    lanes: tuple[LaneState, ...]
    image: bool = False

    @property
    def queue_veh(self) -> float:
        return sum(lane.queue_veh for lane in self.lanes)


@dataclass(frozen=True)
class PhaseState:
    phase: int
    movements: tuple[str, ...]
    plan_green_s: float


@dataclass(frozen=True)
class IntersectionState:
    """Live signal state of one intersection: the phase shown (``in_clearance``: yellow/all
    red after it, toward ``next_phase``), control ``mode``, queue and the longest wait of a
    phase not served (s), plan cycle; ``unwatched``: its approaches no camera watches (their
    phases run their plan greens)."""

    tls: str
    phase: int
    green_s: float
    in_clearance: bool
    next_phase: int | None
    mode: str
    queue_veh: float
    max_wait_s: float
    cycle_s: float
    phases: tuple[PhaseState, ...]
    cameras: tuple[str, ...]
    unwatched: tuple[str, ...] = ()


@dataclass(frozen=True)
class MovementCount:
    """Vehicles that crossed the stop line per movement (``"<approach>:<turn>"``) and bin."""

    bin_start_s: float
    bin_s: float
    tls: str
    movement: str
    count: int


@dataclass(frozen=True)
class PlanInfo:
    """A timing plan by id: ``running`` (in force), ``program`` (the network's own),
    ``candidate`` (the strategic layer's last), ``proposed-N`` (an engineer's)."""

    id: str
    created_by: str
    note: str
    source: str
    cycle_s: dict[str, float]
    plan: dict[str, Any]


@dataclass(frozen=True)
class GateRecord:
    """A gate decision with its evidence: delays per seed of the running plan and of the
    candidate (s/veh), mean improvement (0.1 = 10 % less delay), p-value, wall time."""

    t_s: float
    result: str
    detail: str
    improvement: float | None
    p_value: float | None
    wall_s: float
    delay_current_s: tuple[float, ...] = ()
    delay_candidate_s: tuple[float, ...] = ()


@dataclass(frozen=True)
class Alarm:
    """A condition someone should know of; it stays listed until it has cleared and been
    acknowledged."""

    id: int
    kind: str
    subject: str
    text: str
    since_s: float
    active: bool
    acknowledged_by: str | None = None


@dataclass(frozen=True)
class PriorityState:
    """A priority call the policy serves now: ``id``, intersection, approach (incoming edge),
    ``vehicle_class`` (``emergency`` or ``bus``), ``by`` (an operator's name, ``ntcip preempt
    N``, ``gtfs-realtime``), since when (the daemon's timeline, Unix seconds) and the seconds
    until the vehicle is due where the caller said (None: a preempt input only says it comes)."""

    id: str
    tls: str
    approach: str
    vehicle_class: str
    by: str
    since_s: float
    eta_s: float | None = None


@dataclass(frozen=True)
class Health:
    alive: bool
    alive_reason: str
    ready: bool
    ready_reason: str
    control_released: bool
    held_by_operator: bool
    steps: int
    step_max_s: float


@dataclass(frozen=True)
class SiteSnapshot:
    """Everything the dashboard shows, at ``t_s`` (the daemon's timeline, Unix seconds).
    ``live`` is False for results read from files (``phasewise serve``)."""

    site: str
    live: bool
    t_s: float
    seq: int
    intersections: tuple[IntersectionState, ...] = ()
    cameras: tuple[CameraState, ...] = ()
    counts: tuple[MovementCount, ...] = ()
    plans: tuple[PlanInfo, ...] = ()
    gate: tuple[GateRecord, ...] = ()
    alarms: tuple[Alarm, ...] = ()
    health: Health | None = None
    priority: tuple[PriorityState, ...] = ()


# -- operator actions ----------------------------------------------------------------------
@dataclass(frozen=True)
class ApplyPlan:
    plan_id: str
    who: str


@dataclass(frozen=True)
class HandBack:
    """Hand control back to the controllers' own schedule until :class:`TakeControl`."""

    who: str


@dataclass(frozen=True)
class TakeControl:
    who: str


@dataclass(frozen=True)
class AcknowledgeAlarm:
    alarm_id: int
    who: str


@dataclass(frozen=True)
class RequestPriority:
    """An emergency vehicle (or a bus) due at ``tls`` from ``approach`` in ``eta_s``: its
    phase is served as for a priority receiver's call (:mod:`controllers.priority`) until
    it is due plus a grace period."""

    tls: str
    approach: str
    eta_s: float
    vehicle_class: str
    who: str


Action = Union[ApplyPlan, HandBack, TakeControl, AcknowledgeAlarm, RequestPriority]


@dataclass(frozen=True)
class ActionResult:
    """``ok`` and a sentence saying what happened (or why not)."""

    ok: bool
    detail: str


class SiteSource(Protocol):
    """What the dashboard serves; ``live`` is False for results read from files (no actions)."""

    live: bool

    def snapshot(self) -> SiteSnapshot: ...
    def submit(self, action: Action) -> ActionResult: ...
    def propose(self, plan: TimingPlan) -> PlanInfo: ...
    def check(self, plan: TimingPlan) -> ActionResult: ...
    def plan(self, plan_id: str) -> TimingPlan | None: ...
    def time_space_png(self, plan_id: str) -> bytes | None: ...
    def thumbnail(self, camera: str) -> bytes | None: ...


def plan_info(plan: TimingPlan, plan_id: str, source: str) -> PlanInfo:
    return PlanInfo(plan_id, plan.created_by, plan.note, source,
                    {tls: ip.cycle_s for tls, ip in plan.intersections.items()}, json.loads(plan.to_json()))
