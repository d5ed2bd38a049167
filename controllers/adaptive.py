"""The ``adaptive`` controller in SUMO: virtual cameras -> :class:`AdaptivePolicy` -> :class:`SumoBackend`.

The decisions are the policy's (:mod:`controllers.adaptive_policy`, where the rules are
described); this module is the thin SUMO driver around it, wiring the policy's ports:

* cameras: the virtual approach cameras (:mod:`sumo_scenarios.sensing`, with their detection
  noise and outages). The policy reads ONLY these and what the signal shows, never SUMO's
  vehicle state;
* signal: :class:`~controllers.sumo_backend.SumoBackend` behind the safety layer
  (:class:`~controllers.safety.SafeBackend`), a signal head per intersection
  (yellow, all-red, min green, conflict check) with the box-clearance red extension fed from
  the cameras' view of the junction box (at most ``box_hold_s``: releasing crossing streams
  into a busy box is how SUMO's large cluster junctions, cologne3, deadlock);
* pedestrians: the cameras on the crossings' ends (``PedestrianCameras``) when the network
  has signalised crossings and ``pedestrians`` is on; off, the signal heads show the walk on
  every green (pedestrian recall);
* plan evaluator: the SUMO gate (:class:`~controllers.gate.PlanGate`), a twin built from the
  estimated demand and queues, failing closed;
* clock: the simulation's time, one step of ``dt_s`` per call.

Each step::

    frames = cameras.observe(now_s)
    backend.box_occupancy(...); backend.tick(dt_s)
    dispatch(safe, policy.step(now_s, dt_s, frames, safe.status()))   # safe = SafeBackend(backend)

``adaptive-coordinated`` (``AdaptiveConfig(coordinate=True)``) also keeps the corridor plan's
offsets. It is opt-in: on our benchmark it is on par or slightly better at low and peak demand
and on cologne3's seeds 1-3, but costs some at high demand and on cologne3's held-out seeds
4-6 (README, "Adaptive control").
"""

from __future__ import annotations

from pathlib import Path

from controllers.adaptive_policy import AdaptiveConfig, AdaptivePolicy
from controllers.backend import dispatch
from controllers.safety import SafeBackend
from controllers.sumo_backend import SumoBackend
from optimizer.corridor_network import find_links
from sumo_scenarios.runner import Simulation
from sumo_scenarios.scenario import Scenario
from sumo_scenarios.sensing import (
    CameraNetwork,
    CameraNoise,
    PedestrianCameras,
    PriorityReceivers,
)

__all__ = ["AdaptiveConfig", "AdaptiveController"]


class AdaptiveController:
    """Camera-driven adaptive control with optimized plans checked by a SUMO gate."""

    name = "adaptive"

    def __init__(self, config: AdaptiveConfig = AdaptiveConfig(), noise: CameraNoise = CameraNoise(), camera_seed: int = 0):
        self.config = config
        self.noise = noise
        self.camera_seed = camera_seed
        self.policy: AdaptivePolicy | None = None

    def additional_files(self, scenario: Scenario, workdir: Path) -> list[Path]:
        return []

    def start(self, sim: Simulation) -> None:
        cfg = self.config
        self.cameras = CameraNetwork(sim.conn, sim.intersections, cfg.view_m, self.noise, seed=self.camera_seed + sim.seed)
        heard = (("emergency",) if cfg.preemption else ()) + (("bus",) if cfg.transit_priority else ())
        self.receivers = PriorityReceivers(sim.conn, sim.intersections, cfg.priority_range_m, heard) if heard else None
        crossings = any(model.crossings for model in sim.intersections.values())
        self.pedestrian_cameras = PedestrianCameras(sim.conn, sim.intersections) if crossings and cfg.pedestrians else None
        self.backend = SumoBackend(sim.intersections, sim.conn, max_box_hold_s=cfg.box_hold_s,
                                   pedestrian_recall=not cfg.pedestrians)
        # every command and plan passes the safety layer, as in front of a real controller
        self.safe = SafeBackend(self.backend, sim.intersections, clock=lambda: self._time_s)
        self._time_s = sim.time_s
        gate = None
        if cfg.use_gate:
            from controllers.gate import GateConfig, PlanGate

            gate = PlanGate(
                sim.scenario.net_file,
                dict(sim.intersections),
                GateConfig(horizon_s=cfg.gate_horizon_s, seeds=cfg.gate_seeds, workers=cfg.gate_workers,
                           timeout_s=cfg.gate_timeout_s),
                sumo_options=sim.scenario.sumo_options,
            )
        # the signal links: exits into other signals (exit room), clusters (gridlock watchdog),
        # the corridor to coordinate (adaptive-coordinated)
        links = find_links(sim.scenario.net_file, dict(sim.intersections))
        self.policy = AdaptivePolicy(sim.intersections, self.cameras.layouts, sim.time_s, cfg,
                                     rates=self.noise.detection_rates(), evaluator=gate, links=links)
        # the box-clearance input: per intersection, the cameras whose lanes enter it
        self._box_cameras = {tls: list(node.layouts) for tls, node in self.policy.nodes.items()}
        self._dt_s = float(sim.conn.simulation.getDeltaT())  # the simulation step
        self.backend.start()

    def step(self, sim: Simulation) -> None:
        assert self.policy is not None, "start() first"
        now = self._time_s = sim.time_s
        frames = self.cameras.observe(now)
        for tls, layouts in self._box_cameras.items():
            if not self.backend.heads[tls].in_clearance:
                continue  # the box only matters while a change is under way
            in_box = {lane: int(n) for lay in layouts
                      for lane, n in zip(lay.lanes, frames[lay.camera_id].stopped_in_junction)}
            self.backend.box_occupancy(tls, in_box)
        self.backend.tick(self._dt_s)
        calls = self.receivers.observe() if self.receivers is not None else []
        persons = self.pedestrian_cameras.observe() if self.pedestrian_cameras is not None else []
        dispatch(self.safe, self.policy.step(now, self._dt_s, frames, self.safe.status(), calls, persons))

    def report(self) -> dict:
        """What the controller did (the runner stores it with the run's results)."""
        assert self.policy is not None, "start() first"
        walks = {"pedestrian_walks": self.backend.walks} if any(m.crossings for m in self.backend.models.values()) else {}
        return {**self.policy.report().as_dict(), "box_hold_s": self.backend.box_held_s,
                "safety_refusals": [str(e) for e in self.safe.refusals], **walks}

    def close(self) -> None:
        """Release the gate's workers and files (the runner calls it after ``report``)."""
        if self.policy is not None:
            self.policy.close()
        if hasattr(self, "safe"):
            self.safe.close()
