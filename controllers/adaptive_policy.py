"""The adaptive policy: camera frames and signal status in, phase-level commands out.

Pure decision logic, fed by small ports (convention 3): the clock is the ``now_s``/``dt_s``
it is called with, the cameras are the :class:`~counting.camera_frame.CameraFrame` mapping,
the signal is the :class:`~controllers.backend.SignalStatus` mapping, and plans are checked
by an injected :class:`PlanEvaluator` (the SUMO gate, ``controllers.gate.PlanGate``). It never
touches SUMO, SNMP or a wall clock, so the SUMO runner (``controllers.adaptive``), the daemon
and the tests are thin loops around the same object::

    policy = AdaptivePolicy(models, layouts, start_s=now, evaluator=gate)
    each step:
        commands = policy.step(now_s, dt_s, frames, backend.status())
        dispatch(backend, commands)          # controllers.backend
    policy.close()

Two layers:

* **Strategic, every ``replan_s`` (300 s)**: the camera estimator's per-movement flows
  (:mod:`counting.estimator`) go to the optimizer (Webster/HCM splits per intersection,
  :func:`optimizer.webster.optimize_intersection`; the corridor optimizer when coordinating).
  The candidate plan replaces the running one only if the evaluator finds it lowers delay
  with confidence (the gate fails closed); the new plan goes out as a
  :class:`~controllers.backend.PlanCommand`. The running plan bounds the tactical layer: each
  phase may run up to ``max(plan green x max_extension, plan green + min_extension_s)``
  (never past the phase's max green).
* **Tactical, every step** (:mod:`controllers.tactical`): ``hold`` the green while its lanes
  still serve traffic (a vehicle due at the stop line within ``gap_s``, or a queue whose head
  has started to move), then ``serve_next`` the phase with the largest waiting-weighted
  demand; skip phases nobody waits for; rest when nobody waits. Min green, max green and
  clearances are the backend's to enforce as well (a cabinet refuses anything else).

Lanes shared by several movements are split by turning shares learnt from the stop-line
crossings the cameras see (a camera sees which way each vehicle leaves); a shared lane whose
first vehicle stands on green (a left-turner waiting for a gap) counts for the phase that can
release it instead (:mod:`controllers.lane_blocking`). A camera in outage contributes the
estimator's last queue for its lanes and its phase holds to the plan green.

**Approaches without a camera** (an approach of a model that no layout names): the phases
that give it green are on recall, as a fixed-time controller runs them: always called (as if
``RECALL_VEH`` waited), each served at least once per plan cycle (it goes next once it has
waited as long as the plan's cycle less its green) and held for its plan green; re-optimization keeps the running timing of
such an intersection (nothing measures that approach's demand).

**No green into a full exit** (:mod:`controllers.exit_room`): a link whose exit leads to
another signal's approach is not released while the road between has room for fewer than
``min_exit_room_veh`` vehicles per lane (storage from the network, the queue from the
downstream camera, the vehicles standing in this junction's box); its share of the lane's
demand counts for no phase until the queue there moves.

**Gridlock watchdog** (:mod:`controllers.gridlock`): an intersection where a movement has
had ``gridlock_after_s`` of protected green with its first vehicle standing at the line and
none crossing, or where vehicles wait and nothing has crossed a stop line for that long, or
a cluster of linked signals where nothing has crossed anywhere for that long, is locked:
each of its phases runs its plan green (fast phase flipping only feeds a locked box), and
the phases that release what stands in the junction box go first. Each lock is logged and
counted (``AdaptiveReport.gridlocks``).

**Coordination** (``coordinate=True``, controller ``adaptive-coordinated``): with the network's
signal links (:func:`optimizer.corridor_network.find_links`) the strategic layer optimizes the
corridor (common cycle, splits, offsets) and, at each scheduled start of an intersection's
coordinated phase, that phase goes next as soon as the running one ends (a yield point,
:mod:`controllers.coordination`); a new plan's offsets are sought over a few cycles.

**Emergency preemption** (``preemption``, on by default; :mod:`controllers.priority`): an
emergency vehicle reported by a priority receiver on an approach has its phase served: held
if green (past max green), else next as soon as the running green has had its minimum; the
clearance of the green it ends is never cut. It overrides everything above and ends when the
vehicle has crossed. Each preemption is logged and counted (``AdaptiveReport.preemptions``).

**Transit priority** (``transit_priority``, off by default; :class:`controllers.priority.TransitPriority`):
a bus reported on an approach gets its green held up to ``transit_max_s`` past the moment
the policy would end it, or, while another phase is green, the bus's phase goes next when
that green ends (phases between wait their turn), and a green the policy would hold on ends
early for it once it has had its plan green and could run at most ``transit_max_s`` more;
an approach is not favoured again within a plan cycle. Grants are recorded (``AdaptiveReport.transit_grants``).

**Pedestrians** (``pedestrians``, on by default; only where the model has crossings): persons
seen waiting at a crossing (:class:`~counting.camera_frame.PedestrianCall`) place a
pedestrian call (``ped_call``) on the phase that shows the crossing walk, so its next green
shows the walk, and count as a standing demand of ``ped_demand_veh`` for that phase; persons
waiting for the green phase itself get a new walk when the policy holds it and either rests
there or the walk and its clearance end within the plan's green. No one waits
longer than ``max_ped_wait_s``: when the longest wait plus the time to bring the walk (the
running green's remaining minimum, the clearance) comes within ``PED_WAIT_MARGIN_S`` of it,
the crossing's phase goes next (after an emergency preemption, before everything else).
Once the signal shows a walk, the green runs at least walk + pedestrian clearance
(``SignalStatus.walk_started_s``). With ``pedestrians`` off the policy ignores persons and the
driver's signal shows the walk on every green (pedestrian recall).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from controllers.backend import Command, PhaseCommand, PlanCommand, SignalStatus
from controllers.coordination import CoordinationClock
from controllers.exit_room import ExitLinks, edge_of_lane
from controllers.gate import GateDecision
from controllers.gridlock import GridlockEvent, GridlockWatchdog, JunctionView, clusters
from controllers.lane_blocking import LaneBlocking
from controllers.priority import (
    APPROACH_SPEED_M_S,
    Preemption,
    PreemptionEvent,
    TransitGrant,
    TransitPriority,
)
from controllers.tactical import LaneObservation, TacticalDecision, decide
from counting.camera_frame import (
    CameraFrame,
    CameraLayout,
    PedestrianCall,
    PriorityCall,
)
from counting.estimator import DemandEstimator, DetectionRates, TrafficEstimate
from optimizer.corridor import CorridorLink, CorridorOptions, optimize_corridor
from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.plan import IntersectionPlan, TimingPlan
from optimizer.webster import build_plan, optimize_intersection
from phasewise_errors import PhasewiseError

log = logging.getLogger(__name__)

RECALL_VEH = 1.0
"""The standing call of a phase that serves an approach without a camera: as if one vehicle
waited there, so the phase is served whenever nothing seen waits longer (module docstring)."""

PED_WAIT_MARGIN_S = 10.0
"""Seconds of slack kept below ``max_ped_wait_s`` when the walk is brought for the longest
waiting person (a clearance under way when the rule fires can delay it by that much)."""


@dataclass(frozen=True)
class AdaptiveConfig:
    """Knobs of the adaptive policy (seconds unless named otherwise).

    ``min_extension_s``: a phase may always run this much past its plan green (within its max
    green), so a short plan green can still serve a late platoon; with ``max_extension`` (a
    factor on the plan green) it bounds the tactical layer.
    ``estimate_every_s``: how often the estimator's queues beyond the view are refreshed
    between camera outages (the costliest per-step work; those queues change slowly).
    ``shares_every_s``: how often the learnt turning shares are turned into phase-lane
    shares (on multiples of it, so decisions do not depend on the start time).
    ``gridlock_after_s``: seconds of green with a vehicle standing at the line and no
    crossing before a movement, or without any crossing while vehicles wait before an
    intersection (or cluster), counts as locked (:mod:`controllers.gridlock`);
    ``min_exit_room_veh``: vehicles per lane an exit must still hold for a link into it to
    be released (:mod:`controllers.exit_room`).
    ``preemption``: serve emergency vehicles reported by priority receivers
    (:mod:`controllers.priority`); ``priority_range_m``: how far before the stop line the
    SUMO driver's receivers hear them. ``transit_priority``: favour buses reported by the
    receivers, by at most ``transit_max_s`` per grant (:class:`controllers.priority.TransitPriority`).
    ``optimize_time_s``: the coordinated optimizer's budget in CP-SAT's deterministic time
    (its count of work, about seconds of one core), so load never changes a plan;
    ``optimize_wall_s``: a wall-clock cap on top (the daemon; None in simulation).
    ``pedestrians``: pedestrian calls and demand from the persons seen waiting at crossings
    (a standing demand of ``ped_demand_veh`` vehicles on their phase), and no wait beyond
    ``max_ped_wait_s`` (module docstring); off, the signal shows every walk (pedestrian recall).
    The remaining knobs are described in the module docstring; ``use_gate``, ``gate_*``,
    ``view_m`` configure the driver's ports (gate, cameras).
    """

    replan_s: float = 300.0
    gap_s: float = 3.0
    max_extension: float = 1.6
    min_extension_s: float = 10.0
    wait_weight_s: float = 300.0
    block_after_s: float = 3.0
    gridlock_after_s: float = 30.0
    min_exit_room_veh: float = 2.0
    box_hold_s: float = 4.0
    coordinate: bool = False
    preemption: bool = True
    priority_range_m: float = 300.0
    transit_priority: bool = False
    transit_max_s: float = 10.0
    pedestrians: bool = True
    max_ped_wait_s: float = 120.0
    ped_demand_veh: float = RECALL_VEH
    optimize_time_s: float = 2.0
    optimize_wall_s: float | None = None
    turn_memory_s: float = 600.0
    estimate_every_s: float = 5.0
    shares_every_s: float = 60.0
    view_m: float = 100.0
    use_gate: bool = True
    gate_horizon_s: float = 900.0
    gate_seeds: int = 4
    gate_workers: int = 2
    gate_timeout_s: float | None = None  # simulation: the gate's budget is its simulated work, not wall time


class PlanEvaluator(Protocol):
    """Decides whether a candidate plan should replace the running one (the SUMO gate)."""

    def evaluate(self, current: TimingPlan, candidate: TimingPlan, demand: DemandEstimate,
                 queues_veh: Mapping[str, float], now_s: float = 0.0) -> GateDecision: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ReplanRequest:
    """The strategic layer's input at ``time_s``: the running plan, the estimated demand and
    queues per lane (vehicles). With ``strategic_inline=False`` the policy leaves one in
    :attr:`AdaptivePolicy.replan_due` every ``replan_s`` for the driver's worker."""

    time_s: float
    current: TimingPlan
    demand: DemandEstimate
    queues_veh: Mapping[str, float]


@dataclass(frozen=True)
class TimedGateDecision:
    """A gate decision and the time it was taken at."""

    time_s: float
    decision: GateDecision


@dataclass
class AdaptiveReport:
    """What the policy did over a run."""

    plans_considered: int = 0
    plans_applied: int = 0
    gate_decisions: list[TimedGateDecision] = field(default_factory=list)
    camera_outages: set[str] = field(default_factory=set)
    coordinated_intersections: tuple[str, ...] = ()
    offset_transition_cycles: int = 0
    gridlock_events: list[GridlockEvent] = field(default_factory=list)
    preemption_events: list[PreemptionEvent] = field(default_factory=list)
    transit_grants: list[TransitGrant] = field(default_factory=list)

    @property
    def preemptions(self) -> int:
        """Emergency preemptions served (one per vehicle and intersection)."""
        return len(self.preemption_events)

    @property
    def gridlocks(self) -> int:
        """Locks the watchdog recognised (intersections and clusters; the daemon's
        ``phasewise_gridlocks_total``)."""
        return len(self.gridlock_events)

    def as_dict(self) -> dict:
        """JSON-ready form (the runner stores it with the run's results)."""
        return {
            "plans_considered": self.plans_considered,
            "plans_applied": self.plans_applied,
            "gate_decisions": [
                {"time_s": g.time_s, "switch": g.decision.switch, "reason": g.decision.reason,
                 "improvement": g.decision.improvement, "p_value": g.decision.p_value, "wall_s": g.decision.wall_s}
                for g in self.gate_decisions
            ],
            "camera_outages": sorted(self.camera_outages),
            "coordinated_intersections": sorted(self.coordinated_intersections),
            "offset_transition_cycles": self.offset_transition_cycles,
            "gridlocks": self.gridlocks,
            "gridlock_events": [e.as_dict() for e in self.gridlock_events],
            "preemptions": self.preemptions,
            "preemption_events": [e.as_dict() for e in self.preemption_events],
            "transit_grants": [g.as_dict() for g in self.transit_grants],
        }


class _Node:
    """One intersection: its cameras' lanes, the lane->phase demand weights and its memory.

    ``shares`` (phases x lanes) is also kept split by the exit edge its links lead to
    (``exit_shares``), so the share that goes into a full exit can be taken out of it.
    """

    def __init__(self, model: IntersectionModel, layouts: list[CameraLayout], start_s: float, block_after_s: float):
        self.model = model
        self.layouts = layouts
        # approaches no camera watches, and the phases on recall for them (module docstring)
        watched = {lay.camera_id for lay in layouts}
        self.unwatched = tuple(a for a in model.approaches if a not in watched)
        unseen_links = {i for m in model.movements if m.approach in self.unwatched for i in m.link_indices}
        self.recall = np.array([bool(unseen_links & phase.green_links) for phase in model.phases], dtype=bool)
        self.lanes = [lane for lay in layouts for lane in lay.lanes]
        self.lane_slices: dict[str, slice] = {}
        start = 0
        for lay in layouts:
            self.lane_slices[lay.camera_id] = slice(start, start + len(lay.lanes))
            start += len(lay.lanes)
        n = len(self.lanes)
        self.waiting_s = np.zeros(len(model.phases))
        # no crossing seen yet: count from the start, not as quiet since forever
        self.last_crossing_s = np.full(n, start_s)
        # turn counts per camera: lanes x movements, with a uniform prior over served movements
        self.turn_counts = {lay.camera_id: lay.serves.astype(float) for lay in layouts}
        self.exit_shares: dict[str, np.ndarray] = {}
        self.shares = self.phase_lane_shares()
        self.max_green_s = np.array([p.max_green_s for p in model.phases])
        self.blocking = LaneBlocking(model, self.lanes, block_after_s)
        # crossing signal index -> the phase that shows it walk (the longest green of those that do)
        self.crossing_phase = {c.index: max((p for p in range(len(model.phases)) if c.index in model.phases[p].green_links),
                                            key=lambda p: model.phases[p].duration_s)
                               for c in model.crossings if any(c.index in ph.green_links for ph in model.phases)}
        # phases x lanes: the phase shows green on every link of the lane (nothing it stops)
        lane_links = [[link.index for link in model.links if link.from_lane == lane] for lane in self.lanes]
        self.lane_all_green = np.array([[all(i in phase.green_links for i in links) for links in lane_links]
                                        for phase in model.phases], dtype=bool).reshape(len(model.phases), n)
        # phases x lanes: the phase gives every link of the lane priority ('G', not a permitted 'g')
        self.lane_protected = np.array([[all(phase.state[i] == "G" for i in links) for links in lane_links]
                                        for phase in model.phases], dtype=bool).reshape(len(model.phases), n)

    def phase_lane_shares(self) -> np.ndarray:
        """phases x lanes: expected share of a lane's vehicles that the phase lets go (and,
        in ``exit_shares``, the same split by the exit edge they leave by)."""
        model = self.model
        lane_index = {lane: j for j, lane in enumerate(self.lanes)}
        link_lane = {link.index: link.from_lane for link in model.links}  # signal indices may have gaps
        link_exit = {link.index: edge_of_lane(link.to_lane) for link in model.links}
        shares = np.zeros((len(model.phases), len(self.lanes)))
        by_exit: dict[str, np.ndarray] = {}
        for lay in self.layouts:
            counts = self.turn_counts[lay.camera_id]
            lane_turn = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-9)
            for m_index, movement_id in enumerate(lay.movements):
                movement = model.movement(movement_id)
                for lane_pos, lane in enumerate(lay.lanes):
                    share = lane_turn[lane_pos, m_index]
                    if share <= 0:
                        continue
                    links = [i for i in movement.link_indices if link_lane[i] == lane]
                    for p, phase in enumerate(model.phases):
                        green = [i for i in links if i in phase.green_links]
                        if links and green:
                            shares[p, lane_index[lane]] += share * len(green) / len(links)
                        for i in green:
                            exit_share = by_exit.setdefault(link_exit[i], np.zeros_like(shares))
                            exit_share[p, lane_index[lane]] += share / len(links)
        self.exit_shares = by_exit
        return np.clip(shares, 0.0, 1.0)

    def shares_with_room(self, full_exits: frozenset[str]) -> np.ndarray:
        """``shares`` without what goes into ``full_exits``."""
        if not full_exits:
            return self.shares
        full = sum((self.exit_shares[e] for e in full_exits if e in self.exit_shares),
                   np.zeros_like(self.shares))
        return np.clip(self.shares - full, 0.0, 1.0)

    def learn_turns(self, frame: CameraFrame, decay: float) -> None:
        counts = self.turn_counts[frame.camera_id]
        counts *= decay
        if frame.crossing_lane.size:
            np.add.at(counts, (frame.crossing_lane, frame.crossing_movement), 1.0)


@dataclass(frozen=True)
class _Sensed:
    """One step's camera view of one intersection, per lane (``_Node.lanes`` order)."""

    obs: LaneObservation
    crossings: np.ndarray
    in_box: np.ndarray
    green: np.ndarray
    head_stopped: np.ndarray
    ok: np.ndarray


def _box_first(node: _Node, shares: np.ndarray, sensed: _Sensed) -> np.ndarray:
    """``shares`` keeping only the phases that stop no lane whose vehicles stand in the
    junction box (they let the box empty), when one of them has demand; else unchanged."""
    box = sensed.in_box > 0
    if not box.any():
        return shares
    releasing = node.lane_all_green[:, box].all(axis=1)
    demand = shares @ (sensed.obs.queue_veh + 0.5 * sensed.obs.moving_veh)
    if not (demand[releasing] > 0.0).any():
        return shares
    kept = shares.copy()
    kept[~releasing] = 0.0
    return kept


class AdaptivePolicy:
    """Camera-driven adaptive control within optimized plans checked by an evaluator.

    ``models``: the intersections to control, by tls id; ``layouts``: every camera's layout by
    camera id (a camera watches one approach; approaches are matched to intersections);
    ``start_s``: the time of the first step; ``rates``: the cameras' known detection rates
    (for the estimator's corrections); ``evaluator``: the plan gate, or None to apply every
    re-optimized plan; ``links``: the signal links between the intersections
    (:func:`optimizer.corridor_network.find_links`): exits into other signals' approaches
    (:mod:`controllers.exit_room`), clusters for the gridlock watchdog and, when
    ``config.coordinate``, the corridor to coordinate (without them: neither exit room nor
    clusters); ``strategic_inline``: re-optimize and evaluate inside :meth:`step`
    (the SUMO runner); False leaves a :class:`ReplanRequest` in :attr:`replan_due` instead,
    for a driver that runs :meth:`candidate_plan` and the evaluator in a worker and hands the
    result to :meth:`consider` (the daemon, ``daemon``).
    """

    def __init__(
        self,
        models: Mapping[str, IntersectionModel],
        layouts: Mapping[str, CameraLayout],
        start_s: float,
        config: AdaptiveConfig = AdaptiveConfig(),
        rates: DetectionRates = DetectionRates(),
        evaluator: PlanEvaluator | None = None,
        links: Sequence[CorridorLink] = (),
        strategic_inline: bool = True,
    ) -> None:
        self.config = config
        self.evaluator = evaluator
        self.strategic_inline = strategic_inline
        self.replan_due: ReplanRequest | None = None
        self.estimator = DemandEstimator(layouts.values(), rates=rates, origin_s=start_s)
        by_tls: dict[str, list[CameraLayout]] = {tls: [] for tls in models}
        for model in models.values():
            for approach in model.approaches:
                if approach in layouts:
                    by_tls[model.tls_id].append(layouts[approach])
        self.nodes = {tls: _Node(model, by_tls[tls], start_s, config.block_after_s) for tls, model in models.items()}
        self.node_of_camera = {lay.camera_id: node for node in self.nodes.values() for lay in node.layouts}
        self.plan = program_plan(models)
        self._apply_plan_bounds(self.plan)
        self.exits = ExitLinks(models, links)
        self.watchdog = GridlockWatchdog({tls: len(node.lanes) for tls, node in self.nodes.items()},
                                         clusters(models, links), config.gridlock_after_s, start_s)
        self._links = tuple(links) if config.coordinate else ()
        linked = {tls for link in self._links for tls in (link.upstream, link.downstream)}
        self.clocks = {tls: CoordinationClock(ip.cycle_s, ip.offset_s, start_s)
                       for tls, ip in self.plan.intersections.items() if tls in linked}
        self._next_replan_s = start_s + config.replan_s
        self._next_estimate_s = start_s
        self._next_shares_s = math.ceil(start_s / config.shares_every_s) * config.shares_every_s
        self._estimate: TrafficEstimate | None = None
        self.preemption = Preemption(models)
        self.transit = TransitPriority(models, config.transit_max_s)
        self._report = AdaptiveReport(coordinated_intersections=tuple(self.clocks),
                                      gridlock_events=self.watchdog.events,
                                      preemption_events=self.preemption.events,
                                      transit_grants=self.transit.grants)

    @property
    def unwatched(self) -> dict[str, tuple[str, ...]]:
        """Per intersection that has any, its approaches no camera watches (on recall)."""
        return {tls: node.unwatched for tls, node in self.nodes.items() if node.unwatched}

    def _apply_plan_bounds(self, plan: TimingPlan) -> None:
        cfg = self.config
        for tls, node in self.nodes.items():
            ip = plan.intersections.get(tls)
            if ip is None:
                continue
            for timing in ip.phases:
                limit = max(timing.green_s * cfg.max_extension, timing.green_s + cfg.min_extension_s)
                node.max_green_s[timing.phase] = float(np.clip(limit, node.model.phases[timing.phase].min_green_s,
                                                               node.model.phases[timing.phase].max_green_s))

    # -- per step -------------------------------------------------------------------------
    def step(self, now_s: float, dt_s: float, frames: Mapping[str, CameraFrame],
             status: Mapping[str, SignalStatus], priority: Sequence[PriorityCall] = (),
             pedestrians: Sequence[PedestrianCall] = ()) -> list[Command]:
        """One decision step: every intersection's commands, and a new plan when one passes.

        ``frames``: this step's frame of every camera (by camera id); ``status``: what each
        signal shows now (after the step ``dt_s`` that ended at ``now_s``); ``priority``: the
        priority receivers' calls this step (none: no receivers, or nobody calling);
        ``pedestrians``: the persons waiting at crossings this step.
        """
        commands: list[Command] = []
        decay = float(np.exp(-dt_s / self.config.turn_memory_s))
        for frame in frames.values():
            self.estimator.update(frame)
            self.node_of_camera[frame.camera_id].learn_turns(frame, decay)
            if not frame.ok:
                self._report.camera_outages.add(frame.camera_id)
        if now_s >= self._next_replan_s:
            self._next_replan_s = now_s + self.config.replan_s
            if self.strategic_inline:
                plan = self._replan(now_s)
                if plan is not None:
                    commands.append(PlanCommand(plan))
            else:  # the driver's worker optimizes and evaluates it (see ReplanRequest)
                self.replan_due = self.replan_request(now_s)
        if now_s >= self._next_estimate_s or any(not f.ok for f in frames.values()):
            self._estimate = self.estimator.estimate(now_s)
            self._next_estimate_s = now_s + self.config.estimate_every_s
        sensed = {tls: self._sense(node, frames) for tls, node in self.nodes.items()}
        locked = self.watchdog.update(now_s, dt_s, {
            tls: JunctionView(v.obs.queue_veh, v.head_stopped, v.crossings,
                              self.nodes[tls].lane_protected[status[tls].phase] & (not status[tls].in_clearance), v.ok)
            for tls, v in sensed.items()})
        full = self._full_exits(sensed)
        preempt = self.preemption.update(now_s, priority) if self.config.preemption else {}
        buses = self.transit.update(now_s, priority) if self.config.transit_priority else {}
        waits = self._pedestrian_waits(pedestrians) if self.config.pedestrians and pedestrians else {}
        for tls, node in self.nodes.items():
            commands.extend(self._decide(node, sensed[tls], status[tls], now_s, dt_s, full.get(tls, frozenset()),
                                         tls in locked, preempt.get(tls), buses.get(tls), waits.get(tls)))
            if tls in waits:
                commands.extend(self._ped_calls(node, status[tls], waits[tls]))
        if now_s >= self._next_shares_s:
            self._next_shares_s = (math.floor(now_s / self.config.shares_every_s) + 1) * self.config.shares_every_s
            for node in self.nodes.values():
                node.shares = node.phase_lane_shares()
        return commands

    def _decide(self, node: _Node, sensed: _Sensed, signal: SignalStatus, now_s: float, dt_s: float,
                full_exits: frozenset[str], locked: bool, preempt: int | None = None,
                bus: tuple[int, PriorityCall] | None = None,
                waits: tuple[np.ndarray, np.ndarray] | None = None) -> Iterable[PhaseCommand]:
        node.waiting_s += dt_s
        node.waiting_s[signal.phase] = 0.0
        if signal.in_clearance:
            return ()
        tls = node.model.tls_id
        outage_served = self._remember(node, sensed, signal, now_s)
        obs = sensed.obs
        phase = node.model.phases[signal.phase]
        timing = self.plan.intersections[tls].timing(signal.phase)
        plan_green = timing.green_s
        required = max(phase.min_green_s, timing.required_green_s)
        walk_until = None  # the end of the pedestrian clearance of a walk the signal shows
        if signal.walk_started_s is not None:
            walk_until = signal.walk_started_s + node.model.pedestrian_time_s(signal.phase)
            required = max(required, walk_until)
        if preempt is not None:  # see controllers.priority
            if preempt == signal.phase:
                self.preemption.served(tls, now_s)
                return (PhaseCommand(tls, "hold", signal.phase),)
            if signal.green_s + 1e-6 >= required:
                return (PhaseCommand(tls, "serve_next", preempt),)
            return (PhaseCommand(tls, "hold", signal.phase),)
        urgent = self._pedestrian_due(node, signal, waits, required, dt_s) if waits is not None else None
        if urgent is not None:  # a waiting person nears max_ped_wait_s
            if urgent == signal.phase:
                return (PhaseCommand(tls, "hold", signal.phase), PhaseCommand(tls, "ped_call", urgent))
            if signal.green_s + 1e-6 >= required:
                return (PhaseCommand(tls, "serve_next", urgent),)
            return (PhaseCommand(tls, "hold", signal.phase),)
        if locked:  # see controllers.gridlock: recovery
            node.blocking.clear()
        shares = node.blocking.shares(node.shares_with_room(full_exits))
        if locked:
            shares = _box_first(node, shares, sensed)
        # a camera out, no camera at all (recall) or a lock: each phase runs its plan green;
        # flipping phases every few seconds only feeds a jam inside the junction
        recalled = bool(node.recall[signal.phase])
        min_green = max(phase.min_green_s, plan_green if outage_served or recalled or locked else 0.0)
        if walk_until is not None:
            min_green = max(min_green, walk_until)
        recall = node.recall * RECALL_VEH if node.unwatched else None
        if waits is not None:  # persons waiting: a standing call on their crossings' phases
            ped_demand = np.where(waits[0] > 0, self.config.ped_demand_veh, 0.0)
            recall = ped_demand if recall is None else np.maximum(recall, ped_demand)
        decision = decide(shares, signal.phase, signal.green_s, min_green,
                          node.max_green_s[signal.phase], node.waiting_s, obs, self.config.wait_weight_s,
                          recall=recall)
        due = self._coordinated_phase_due(node, signal, now_s)
        if bus is not None:
            command = self._favour_bus(node, signal, decision, bus, now_s, dt_s,
                                       max(min_green, timing.required_green_s), plan_green)
            if command is not None:
                return (command,)
        if decision.hold or decision.next_phase is None:
            if waits is not None and waits[0][signal.phase] > 0 and self._may_walk_again(node, signal, decision, plan_green):
                return (PhaseCommand(tls, "hold", signal.phase), PhaseCommand(tls, "ped_call", signal.phase))
            return (PhaseCommand(tls, "hold", signal.phase),)
        # at its scheduled start the coordinated phase goes next if anyone waits for it
        coordinated_next = due is not None and decision.demand_by_phase[due] > 0.0
        next_phase = due if coordinated_next else decision.next_phase
        if node.unwatched and not coordinated_next:
            next_phase = self._recall_due(node, signal.phase, next_phase)
        return (PhaseCommand(tls, "serve_next", next_phase),)

    def _pedestrian_waits(self, calls: Sequence[PedestrianCall]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per intersection with persons waiting: per phase, the persons waiting for a crossing
        it shows walk on, and the longest of their waits (s)."""
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for call in calls:
            node = self.nodes.get(call.tls_id)
            phase = node.crossing_phase.get(call.crossing) if node is not None else None
            if node is None or phase is None:
                continue
            count, longest = out.setdefault(call.tls_id, (np.zeros(len(node.model.phases)), np.zeros(len(node.model.phases))))
            count[phase] += call.waiting
            longest[phase] = max(longest[phase], call.longest_wait_s)
        return out

    def _ped_calls(self, node: _Node, signal: SignalStatus, waits: tuple[np.ndarray, np.ndarray]) -> list[PhaseCommand]:
        """A pedestrian call on every phase other than the green one that persons wait for
        (the green phase's own is placed by :meth:`_decide`, when it may walk again)."""
        return [PhaseCommand(node.model.tls_id, "ped_call", int(p)) for p in np.flatnonzero(waits[0] > 0)
                if signal.in_clearance or p != signal.phase]

    @staticmethod
    def _may_walk_again(node: _Node, signal: SignalStatus, decision: TacticalDecision, plan_green_s: float) -> bool:
        """Whether the green phase, held, may show its walk again for persons who came after
        its walk: when it rests (nobody else waits) or its walk and clearance end within
        the plan's green (the green runs that long anyway, unless it gaps out)."""
        others = np.delete(decision.demand_by_phase, signal.phase)
        resting = not (others > 1e-9).any()
        return resting or signal.green_s + node.model.pedestrian_time_s(signal.phase) <= plan_green_s

    def _pedestrian_due(self, node: _Node, signal: SignalStatus, waits: tuple[np.ndarray, np.ndarray],
                        required_s: float, dt_s: float) -> int | None:
        """The phase whose waiting person would wait past ``max_ped_wait_s`` unless its walk
        comes now (the longest waiting first), else None."""
        count, longest = waits
        time_to_walk = np.array([
            0.0 if p == signal.phase else
            max(required_s - signal.green_s, 0.0) + node.model.clearance_s(signal.phase, p) + dt_s
            for p in range(len(node.model.phases))])
        due = (count > 0) & (longest + time_to_walk + PED_WAIT_MARGIN_S >= self.config.max_ped_wait_s)
        if not due.any():
            return None
        return int(np.argmax(np.where(due, longest, -np.inf)))

    def _recall_due(self, node: _Node, current: int, chosen: int) -> int:
        """A phase on recall that has waited as long as the plan makes it wait (its cycle less
        its green) goes next (the longest waiting first); else ``chosen``."""
        ip = self.plan.intersections[node.model.tls_id]
        red_s = np.array([ip.cycle_s - ip.timing(p).green_s if node.recall[p] else np.inf
                          for p in range(len(node.model.phases))])
        overdue = node.recall & (node.waiting_s >= red_s)
        overdue[current] = False
        if not overdue.any():
            return chosen
        return int(np.argmax(np.where(overdue, node.waiting_s, -np.inf)))

    def _favour_bus(self, node: _Node, signal: SignalStatus, decision: TacticalDecision,
                    bus: tuple[int, PriorityCall], now_s: float, dt_s: float, min_green_s: float,
                    plan_green_s: float) -> PhaseCommand | None:
        """Transit priority (module docstring): the command that favours the bus, or None to
        decide as without it."""
        tls = node.model.tls_id
        phase, call = bus
        grant = self.transit.open_grant(tls)
        if grant is None and not self.transit.may_grant(call, now_s, self.plan.intersections[tls].cycle_s):
            return None
        left_s = self.config.transit_max_s - (grant.seconds if grant is not None else 0.0)
        if phase == signal.phase:  # green extension: hold what the policy would end
            # only a bus that can cross within what is left of the extension gains from it
            if decision.hold or left_s < dt_s or call.distance_m > left_s * APPROACH_SPEED_M_S:
                return None
            self.transit.grant(call, "extension", now_s, dt_s)
            return PhaseCommand(tls, "hold", phase)
        if grant is not None or signal.green_s < min_green_s:
            return None
        if not decision.hold:  # early green: the bus's phase comes next when the running green ends
            self.transit.grant(call, "early", now_s, 0.0)
            return PhaseCommand(tls, "serve_next", phase)
        # early green by truncation: the green the policy holds ends now, if it has had its plan
        # green and what it could still run (to its max green) is within the grant's seconds
        could_run_s = float(node.max_green_s[signal.phase]) - signal.green_s
        if signal.green_s + 1e-6 < plan_green_s or could_run_s > left_s:
            return None
        self.transit.grant(call, "truncation", now_s, max(could_run_s, 0.0))
        return PhaseCommand(tls, "serve_next", phase)

    def _coordinated_phase_due(self, node: _Node, signal: SignalStatus, now_s: float) -> int | None:
        """The coordinated phase when its scheduled start is due (see
        :mod:`controllers.coordination`), else None."""
        clock = self.clocks.get(node.model.tls_id)
        if clock is None:
            return None
        clock.advance(now_s)
        if not clock.due(now_s):
            return None
        coordinated = self.plan.intersections[node.model.tls_id].coordinated_phase
        if signal.phase == coordinated:
            clock.served()
            return None
        return coordinated

    def _sense(self, node: _Node, frames: Mapping[str, CameraFrame]) -> _Sensed:
        """What the cameras show of ``node`` this step: per-lane queue (in view, plus the
        estimated part beyond the view when the queue spills back; the estimator's queue for
        a camera in outage), moving vehicles, discharge state, crossings, the junction box."""
        estimate = self._estimate
        n = len(node.lanes)
        queue, moving, near = np.zeros(n), np.zeros(n), np.zeros(n)
        crossings, in_box = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        green, head_stopped, ok = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for lay in node.layouts:
            sl = node.lane_slices[lay.camera_id]
            frame = frames[lay.camera_id]
            if not frame.ok:
                if estimate is not None:
                    queue[sl] = [estimate.queue_veh.get(lane, 0.0) for lane in lay.lanes]
                continue
            ok[sl] = True
            queue[sl] = frame.stopped
            if estimate is not None:
                hidden = [estimate.queue_veh.get(lane, 0.0) if estimate.spillback.get(lane, False) else 0.0
                          for lane in lay.lanes]
                queue[sl] = np.maximum(frame.stopped, hidden)
            moving[sl] = np.maximum(frame.present - frame.stopped, 0)
            # a lane keeps its green while a vehicle is due at the stop line within the gap
            # (passage time) or its queue is discharging (the head moves, others still wait)
            serving = (frame.arrival_s <= self.config.gap_s) | ((frame.stopped > 0) & ~frame.head_stopped & frame.green)
            near[sl] = serving.astype(float)
            crossings[sl] = frame.crossings
            in_box[sl] = frame.stopped_in_junction
            green[sl] = frame.green
            head_stopped[sl] = frame.head_stopped
        return _Sensed(LaneObservation(queue, near, moving), crossings, in_box, green, head_stopped, ok)

    def _remember(self, node: _Node, sensed: _Sensed, signal: SignalStatus, now_s: float) -> bool:
        """Update the node's memory from this step's view (last crossing per lane, blocked
        lanes); whether a camera in outage watches lanes the current phase serves."""
        outage_served = False
        for lay in node.layouts:
            sl = node.lane_slices[lay.camera_id]
            if not sensed.ok[sl].all():
                outage_served |= bool(node.shares[signal.phase, sl].any())
                continue
            node.last_crossing_s[sl][sensed.crossings[sl] > 0] = now_s
            quiet_s = now_s - node.last_crossing_s[sl]
            node.blocking.update(now_s, signal.phase, signal.green_s, sensed.green[sl], sensed.head_stopped[sl],
                                 quiet_s, sl)
        return outage_served

    def _full_exits(self, sensed: Mapping[str, _Sensed]) -> dict[str, frozenset[str]]:
        """Per intersection, its exit edges without room (:mod:`controllers.exit_room`)."""
        if not len(self.exits):
            return {}
        queue_by_lane: dict[str, float] = {}
        in_box_by_lane: dict[str, float] = {}
        for tls, node in self.nodes.items():
            queue_by_lane.update(zip(node.lanes, sensed[tls].obs.queue_veh.tolist()))
            in_box_by_lane.update(zip(node.lanes, sensed[tls].in_box.tolist()))
        room = self.exits.room_veh(queue_by_lane, in_box_by_lane)
        return {tls: self.exits.full_exits(tls, room, self.config.min_exit_room_veh) for tls in self.nodes}

    # -- strategic layer ------------------------------------------------------------------
    # Three parts, so that a driver can run the slow middle one in a worker: the request
    # (the estimate, on the stepping thread), the candidate and its evaluation (optimizer and
    # gate: seconds; they read only the immutable models and the request), the adoption
    # (on the stepping thread). ``_replan`` chains them inline, as the SUMO runner does.
    def replan_request(self, now_s: float) -> ReplanRequest:
        """What the strategic layer works from at ``now_s``: the running plan and the estimate."""
        estimate = self.estimator.estimate(now_s)
        flows: dict[str, dict[str, float]] = {}
        stds: dict[str, dict[str, float]] = {}
        for tls, node in self.nodes.items():
            flows[tls] = {m.id: float(estimate.flow_veh_h.get(m.id, 0.0)) for m in node.model.movements}
            stds[tls] = {m.id: float(estimate.std_veh_h.get(m.id, 0.0)) for m in node.model.movements}
        return ReplanRequest(now_s, self.plan, DemandEstimate(flows, stds, source="cameras"), dict(estimate.queue_veh))

    def candidate_plan(self, request: ReplanRequest) -> TimingPlan | None:
        """The re-optimized plan for ``request``'s demand, or None when the optimizer fails.

        Reads only the models, the links and ``request``: safe to call from a worker thread."""
        try:
            if self._links:
                models = {tls: node.model for tls, node in self.nodes.items()}
                plan = optimize_corridor(models, request.demand, self._links, self.config.optimize_time_s,
                                         options=CorridorOptions(deterministic=True, wall_cap_s=self.config.optimize_wall_s))
            else:
                plan = TimingPlan(
                    {tls: optimize_intersection(node.model, request.demand) for tls, node in self.nodes.items()},
                    created_by="adaptive/webster",
                )
        except PhasewiseError as exc:
            log.warning("re-optimization at %.0f s failed, keeping the running plan: %s", request.time_s, exc)
            return None
        return self._keep_unwatched(plan, request.current)

    def _keep_unwatched(self, plan: TimingPlan, running: TimingPlan) -> TimingPlan:
        """``plan`` with the running timing of every intersection that has an approach without
        a camera (no demand is measured there to optimize it for)."""
        kept = {tls for tls, node in self.nodes.items() if node.unwatched and tls in running.intersections}
        if not kept:
            return plan
        return replace(plan, intersections={**plan.intersections, **{tls: running.intersections[tls] for tls in kept}})

    def consider(self, request: ReplanRequest, candidate: TimingPlan,
                 decision: GateDecision | None) -> PlanCommand | None:
        """Count ``candidate``, record the evaluator's ``decision`` (None: no evaluator);
        returns the command that runs it when it passes. The plan is not adopted here: the
        driver adopts it (:meth:`adopt`) once the controllers accepted it."""
        self._report.plans_considered += 1
        if decision is not None:
            self._report.gate_decisions.append(TimedGateDecision(request.time_s, decision))
            if not decision.switch:
                return None
        return PlanCommand(candidate)

    def adopt(self, plan: TimingPlan) -> None:
        """Make ``plan`` the running plan (bounds of the tactical layer, coordination clocks)."""
        self.plan = plan
        self._apply_plan_bounds(plan)
        for tls, clock in self.clocks.items():
            clock.retime(plan.intersections[tls].cycle_s, plan.intersections[tls].offset_s)
        self._report.plans_applied += 1

    def _replan(self, now_s: float) -> TimingPlan | None:
        """A re-optimized plan when the evaluator accepts it (it is then the running plan)."""
        request = self.replan_request(now_s)
        candidate = self.candidate_plan(request)
        if candidate is None:
            return None
        decision = None
        if self.evaluator is not None:
            decision = self.evaluator.evaluate(request.current, candidate, request.demand, request.queues_veh,
                                               now_s=now_s)
        command = self.consider(request, candidate, decision)
        if command is None:
            return None
        # in simulation the policy and the safety layer share the process and the step: the
        # plan is adopted as it is sent (a refusal there is logged by dispatch)
        self.adopt(command.plan)
        return command.plan

    def report(self) -> AdaptiveReport:
        self._report.offset_transition_cycles = sum(clock.transitions for clock in self.clocks.values())
        return self._report

    def close(self) -> None:
        """Release the evaluator (the gate's worker pool and files)."""
        if self.evaluator is not None:
            self.evaluator.close()


def program_plan(models: Mapping[str, IntersectionModel]) -> TimingPlan:
    """The network's own program as a timing plan (the initial running plan)."""
    plans: dict[str, IntersectionPlan] = {}
    for tls, model in models.items():
        greens = np.array([p.duration_s for p in model.phases])
        plans[tls] = build_plan(model, greens, model.program_offset_s, 0)
    return TimingPlan(plans, created_by="network program")


__all__ = ["AdaptiveConfig", "AdaptivePolicy", "AdaptiveReport", "PlanEvaluator", "ReplanRequest", "TimedGateDecision",
           "program_plan"]
