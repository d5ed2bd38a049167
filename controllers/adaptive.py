"""The ``adaptive`` controller: cameras -> estimates -> optimized plan -> gate -> tactical control.

What it reads: ONLY the virtual approach cameras (:mod:`sumo_scenarios.sensing`, with their
detection noise and outages) and what it displays itself. Never SUMO's vehicle state.

Two layers:

* **Strategic, every ``replan_s`` (default 300 s)**: the camera estimator's per-movement
  flows (:mod:`counting.estimator`) go to the optimizer (Webster/HCM splits per
  intersection, :func:`optimizer.webster.optimize_intersection`; the corridor optimizer
  when coordinating). The candidate plan replaces
  the running one only if the SUMO gate (:mod:`controllers.gate`, a twin built from the
  estimated demand and queues) finds it lowers delay with confidence; the gate fails closed.
  The running plan bounds the tactical layer: each phase may run up to
  ``max(plan green x max_extension, plan green + 10 s)`` (never past the phase's max green).
* **Tactical, every second** (:mod:`controllers.tactical`): hold the green while its lanes
  still serve traffic (a vehicle due at the stop line within ``gap_s``, or a queue whose
  head has started to move), then give green to the phase with the largest
  waiting-weighted demand; skip phases nobody waits for; rest when nobody waits. Min
  green, max green and clearances always hold
  (:class:`controllers.signal_head.SignalHead` refuses anything else).

Lanes shared by several movements are split by turning shares learnt from the stop-line
crossings the cameras see (a camera sees which way each vehicle leaves); a shared lane
whose first vehicle stands on green (a left-turner waiting for a gap) counts for the phase
that can release it instead (:mod:`controllers.lane_blocking`). A camera in outage
contributes the estimator's last queue for its lanes and its phase holds to the plan green;
so does every phase of an intersection where nothing has left for ``stall_s`` although
vehicles wait (a jam inside the junction, which fast phase flipping only feeds).

**Box clearance**: when the cameras see vehicles that crossed a stop line standing inside the
junction box, a change to a green that stops their lane ends in all-red until they have left,
at most ``box_hold_s`` (4 s). Releasing crossing streams into a busy box is how SUMO's large
cluster junctions (cologne3) deadlock.

**Coordination** (``coordinate=True``, controller name ``adaptive-coordinated``): on a
network whose signals are linked (:func:`optimizer.corridor_network.find_links`), the
strategic layer optimizes the corridor (common cycle, splits, offsets with
:func:`optimizer.corridor.optimize_corridor`), and at each scheduled start of an
intersection's coordinated phase that phase goes next as soon as the running one ends
(a yield point, :mod:`controllers.coordination`). A new plan's offsets are sought over a few
cycles (at most 20 % of the cycle per cycle), never jumped to. It is off by default: on our
benchmark it is on par or slightly better at low and peak demand and on cologne3's seeds
1-3, but costs some at high demand and on cologne3's held-out seeds 4-6 (README, "Adaptive
control").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from controllers.coordination import CoordinationClock
from controllers.lane_blocking import LaneBlocking
from controllers.signal_head import SignalHead
from controllers.tactical import LaneObservation, decide
from counting.camera_frame import CameraFrame, CameraLayout
from counting.estimator import DemandEstimator, TrafficEstimate
from optimizer.corridor import CorridorOptions, optimize_corridor
from optimizer.corridor_network import find_links
from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.plan import IntersectionPlan, TimingPlan
from optimizer.webster import build_plan, optimize_intersection
from phasewise_errors import PhasewiseError
from sumo_scenarios.runner import Simulation
from sumo_scenarios.scenario import Scenario
from sumo_scenarios.sensing import CameraNetwork, CameraNoise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdaptiveConfig:
    """Knobs of the adaptive controller (seconds unless named otherwise)."""

    replan_s: float = 300.0
    gap_s: float = 3.0
    max_extension: float = 1.6
    wait_weight_s: float = 300.0
    block_after_s: float = 3.0
    stall_s: float = 30.0
    box_hold_s: float = 4.0
    coordinate: bool = False
    optimize_time_s: float = 2.0
    turn_memory_s: float = 600.0
    view_m: float = 100.0
    use_gate: bool = True
    gate_horizon_s: float = 900.0
    gate_seeds: int = 4
    gate_workers: int = 2


class _Node:
    """One intersection: its head, its cameras' lanes and the lane->phase demand weights."""

    def __init__(self, model: IntersectionModel, sim: Simulation, layouts: list[CameraLayout], block_after_s: float,
                 box_hold_s: float):
        self.model = model
        self.head = SignalHead(model, sim.conn, max_box_hold_s=box_hold_s)
        self.layouts = layouts
        self.lanes = [lane for lay in layouts for lane in lay.lanes]
        self.lane_slices: dict[str, slice] = {}
        start = 0
        for lay in layouts:
            self.lane_slices[lay.camera_id] = slice(start, start + len(lay.lanes))
            start += len(lay.lanes)
        n = len(self.lanes)
        self.waiting_s = np.zeros(len(model.phases))
        # no crossing seen yet: count from the start, not as stalled since forever
        self.last_crossing_s = np.full(n, sim.time_s)
        # turn counts per camera: lanes x movements, with a uniform prior over served movements
        self.turn_counts = {lay.camera_id: lay.serves.astype(float) for lay in layouts}
        self.shares = self.phase_lane_shares()
        self.max_green_s = np.array([p.max_green_s for p in model.phases])
        self.blocking = LaneBlocking(model, self.lanes, block_after_s)
        # phases x lanes: every link of the lane is green in the phase
        lane_links = [[link.index for link in model.links if link.from_lane == lane] for lane in self.lanes]
        self.lane_all_green = np.array([[all(i in phase.green_links for i in links) for links in lane_links]
                                        for phase in model.phases])

    def phase_lane_shares(self) -> np.ndarray:
        """phases x lanes: expected share of a lane's vehicles that the phase lets go."""
        model = self.model
        lane_index = {lane: j for j, lane in enumerate(self.lanes)}
        link_lane = {link.index: link.from_lane for link in model.links}  # signal indices may have gaps
        shares = np.zeros((len(model.phases), len(self.lanes)))
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
                        green = sum(1 for i in links if i in phase.green_links)
                        if links and green:
                            shares[p, lane_index[lane]] += share * green / len(links)
        return np.clip(shares, 0.0, 1.0)

    def learn_turns(self, frame: CameraFrame, decay: float) -> None:
        counts = self.turn_counts[frame.camera_id]
        counts *= decay
        if frame.crossing_lane.size:
            np.add.at(counts, (frame.crossing_lane, frame.crossing_movement), 1.0)


@dataclass
class _Log:
    plans_considered: int = 0
    plans_applied: int = 0
    gate_decisions: list = field(default_factory=list)
    outages_seen: set = field(default_factory=set)


class AdaptiveController:
    """Camera-driven adaptive control with optimized plans checked by a SUMO gate."""

    name = "adaptive"

    def __init__(self, config: AdaptiveConfig = AdaptiveConfig(), noise: CameraNoise = CameraNoise(), camera_seed: int = 0):
        self.config = config
        self.noise = noise
        self.camera_seed = camera_seed
        self._log = _Log()

    def additional_files(self, scenario: Scenario, workdir: Path) -> list[Path]:
        return []

    # -- set-up ---------------------------------------------------------------------------
    def start(self, sim: Simulation) -> None:
        cfg = self.config
        self.cameras = CameraNetwork(sim.conn, sim.intersections, cfg.view_m, self.noise, seed=self.camera_seed + sim.seed)
        layouts = self.cameras.layouts
        self.estimator = DemandEstimator(layouts.values(), rates=self.noise.detection_rates(), origin_s=sim.time_s)
        by_tls: dict[str, list[CameraLayout]] = {tls: [] for tls in sim.intersections}
        for model in sim.intersections.values():
            for approach in model.approaches:
                if approach in layouts:
                    by_tls[model.tls_id].append(layouts[approach])
        self.nodes = {tls: _Node(model, sim, by_tls[tls], cfg.block_after_s, cfg.box_hold_s) for tls, model in sim.intersections.items()}
        self.node_of_camera = {lay.camera_id: node for node in self.nodes.values() for lay in node.layouts}
        self.plan = self._program_plan(sim.intersections)
        self._apply_plan_bounds(self.plan)
        self._links = find_links(sim.scenario.net_file, dict(sim.intersections)) if cfg.coordinate else ()
        linked = {tls for link in self._links for tls in (link.upstream, link.downstream)}
        self.clocks = {tls: CoordinationClock(ip.cycle_s, ip.offset_s, sim.time_s)
                       for tls, ip in self.plan.intersections.items() if tls in linked}
        self._next_replan_s = sim.time_s + cfg.replan_s
        self._next_estimate_s = sim.time_s
        self._estimate: TrafficEstimate | None = None
        self._gate = None
        if cfg.use_gate:
            from controllers.gate import GateConfig, PlanGate

            self._gate = PlanGate(
                sim.scenario.net_file,
                dict(sim.intersections),
                GateConfig(horizon_s=cfg.gate_horizon_s, seeds=cfg.gate_seeds, workers=cfg.gate_workers),
                sumo_options=sim.scenario.sumo_options,
            )
        for node in self.nodes.values():
            node.head.start()

    @staticmethod
    def _program_plan(models: dict[str, IntersectionModel]) -> TimingPlan:
        """The network's own program as the initial running plan."""
        plans: dict[str, IntersectionPlan] = {}
        for tls, model in models.items():
            greens = np.array([p.duration_s for p in model.phases])
            plans[tls] = build_plan(model, greens, model.program_offset_s, 0)
        return TimingPlan(plans, created_by="network program")

    def _apply_plan_bounds(self, plan: TimingPlan) -> None:
        ext = self.config.max_extension
        for tls, node in self.nodes.items():
            ip = plan.intersections.get(tls)
            if ip is None:
                continue
            for timing in ip.phases:
                limit = max(timing.green_s * ext, timing.green_s + 10.0)
                node.max_green_s[timing.phase] = float(np.clip(limit, node.model.phases[timing.phase].min_green_s,
                                                               node.model.phases[timing.phase].max_green_s))

    # -- per step -------------------------------------------------------------------------
    def step(self, sim: Simulation) -> None:
        now = sim.time_s
        frames = self.cameras.observe(now)
        decay = float(np.exp(-1.0 / self.config.turn_memory_s))
        for frame in frames.values():
            self.estimator.update(frame)
            self.node_of_camera[frame.camera_id].learn_turns(frame, decay)
            if not frame.ok:
                self._log.outages_seen.add(frame.camera_id)
        if now >= self._next_replan_s:
            self._next_replan_s = now + self.config.replan_s
            self._replan(now)
        if now >= self._next_estimate_s or any(not f.ok for f in frames.values()):
            self._estimate = self.estimator.estimate(now)
            self._next_estimate_s = now + 5.0
        estimate = self._estimate
        for node in self.nodes.values():
            head = node.head
            if head.in_clearance:
                # vehicles standing in the box from lanes the next green stops: hold the all-red
                in_box = np.concatenate([frames[lay.camera_id].stopped_in_junction for lay in node.layouts])
                head.box_busy = bool(in_box[~node.lane_all_green[head.next_phase]].any())
            head.tick()
            node.waiting_s += 1.0
            node.waiting_s[head.phase] = 0.0
            if head.in_clearance:
                continue
            obs, outage_served = self._observation(node, frames, now, estimate)
            phase = node.model.phases[head.phase]
            plan_green = self.plan.intersections[node.model.tls_id].timing(head.phase).green_s
            # no vehicle has left the junction for a while although some wait: a jam inside
            # the junction; flipping phases every few seconds only feeds it, so each phase
            # runs its plan green (as during a camera outage) until traffic moves again
            stalled = (now - node.last_crossing_s.max()) > self.config.stall_s and obs.queue_veh.sum() >= 1
            if stalled:
                node.blocking.clear()
            min_green = max(phase.min_green_s, plan_green if outage_served or stalled else 0.0)
            decision = decide(node.blocking.shares(node.shares), head.phase, head.green_s, min_green,
                              node.max_green_s[head.phase], node.waiting_s, obs, self.config.wait_weight_s)
            due = self._coordinated_phase_due(node, now)
            if not decision.hold and decision.next_phase is not None:
                # at its scheduled start the coordinated phase goes next if anyone waits for it
                coordinated_next = due is not None and decision.demand_by_phase[due] > 0.0
                head.switch_to(due if coordinated_next else decision.next_phase)
        if int(now) % 60 == 0:
            for node in self.nodes.values():
                node.shares = node.phase_lane_shares()

    def _coordinated_phase_due(self, node: _Node, now: float) -> int | None:
        """The coordinated phase when its scheduled start is due (see
        :mod:`controllers.coordination`), else None."""
        clock = self.clocks.get(node.model.tls_id)
        if clock is None:
            return None
        clock.advance(now)
        if not clock.due(now):
            return None
        coordinated = self.plan.intersections[node.model.tls_id].coordinated_phase
        if node.head.phase == coordinated:
            clock.served()
            return None
        return coordinated

    def _observation(
        self, node: _Node, frames: dict[str, CameraFrame], now: float, estimate: TrafficEstimate | None
    ) -> tuple[LaneObservation, bool]:
        """Per-lane queue (in view, plus the estimated part beyond the view when the queue
        spills back), moving vehicles and discharge state; whether an out camera's lanes
        are served by the current phase."""
        n = len(node.lanes)
        queue, moving, near = np.zeros(n), np.zeros(n), np.zeros(n)
        outage_served = False
        for lay in node.layouts:
            sl = node.lane_slices[lay.camera_id]
            frame = frames[lay.camera_id]
            if not frame.ok:
                if estimate is not None:
                    queue[sl] = [estimate.queue_veh.get(lane, 0.0) for lane in lay.lanes]
                near[sl] = 0.0
                if node.shares[node.head.phase, sl].any():
                    outage_served = True
                continue
            queue[sl] = frame.stopped
            if estimate is not None:
                hidden = [estimate.queue_veh.get(lane, 0.0) if estimate.spillback.get(lane, False) else 0.0
                          for lane in lay.lanes]
                queue[sl] = np.maximum(frame.stopped, hidden)
            moving[sl] = np.maximum(frame.present - frame.stopped, 0)
            node.last_crossing_s[sl][frame.crossings > 0] = now
            quiet_s = now - node.last_crossing_s[sl]
            node.blocking.update(now, node.head.phase, node.head.green_s, frame.green, frame.head_stopped,
                                 quiet_s, sl)
            # a lane keeps its green while a vehicle is due at the stop line within the gap
            # (passage time) or its queue is discharging (the head moves, others still wait)
            serving = (frame.arrival_s <= self.config.gap_s) | ((frame.stopped > 0) & ~frame.head_stopped & frame.green)
            near[sl] = serving.astype(float)
        return LaneObservation(queue, near, moving), outage_served

    # -- strategic layer ------------------------------------------------------------------
    def _replan(self, now: float) -> None:
        estimate = self.estimator.estimate(now)
        flows: dict[str, dict[str, float]] = {}
        stds: dict[str, dict[str, float]] = {}
        for tls, node in self.nodes.items():
            flows[tls] = {m.id: float(estimate.flow_veh_h.get(m.id, 0.0)) for m in node.model.movements}
            stds[tls] = {m.id: float(estimate.std_veh_h.get(m.id, 0.0)) for m in node.model.movements}
        demand = DemandEstimate(flows, stds, source="cameras")
        try:
            if self._links:
                models = {tls: node.model for tls, node in self.nodes.items()}
                candidate = optimize_corridor(models, demand, self._links, self.config.optimize_time_s,
                                              options=CorridorOptions(workers=1))
            else:
                candidate = TimingPlan(
                    {tls: optimize_intersection(node.model, demand) for tls, node in self.nodes.items()},
                    created_by="adaptive/webster",
                )
        except PhasewiseError as exc:
            log.warning("re-optimization at %.0f s failed, keeping the running plan: %s", now, exc)
            return
        self._log.plans_considered += 1
        if self._gate is None:
            switch = True
        else:
            decision = self._gate.evaluate(self.plan, candidate, demand, dict(estimate.queue_veh), now_s=now)
            self._log.gate_decisions.append(
                {"time_s": now, "switch": decision.switch, "reason": decision.reason,
                 "improvement": decision.improvement, "p_value": decision.p_value, "wall_s": decision.wall_s}
            )
            switch = decision.switch
        if switch:
            self.plan = candidate
            self._apply_plan_bounds(candidate)
            for tls, clock in self.clocks.items():
                clock.retime(candidate.intersections[tls].cycle_s, candidate.intersections[tls].offset_s)
            self._log.plans_applied += 1

    def report(self) -> dict:
        """What the controller did (the runner stores it with the run's results)."""
        if self._gate is not None:
            self._gate.close()
        return {
            "plans_considered": self._log.plans_considered,
            "plans_applied": self._log.plans_applied,
            "gate_decisions": self._log.gate_decisions,
            "camera_outages": sorted(self._log.outages_seen),
            "coordinated_intersections": sorted(self.clocks),
            "offset_transition_cycles": sum(clock.transitions for clock in self.clocks.values()),
            "box_hold_s": sum(node.head.box_held_s for node in self.nodes.values()),
        }
