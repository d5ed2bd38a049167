"""Software in the loop: the adaptive policy driving emulated NEMA controllers over SNMP.

``adaptive-ntcip`` runs the same :class:`~controllers.adaptive_policy.AdaptivePolicy` as
``adaptive``, with the same SUMO virtual cameras, but its commands take the road a real
deployment takes: the safety layer (:class:`~controllers.safety.SafeBackend`) and
:class:`~controllers.ntcip.backend.NtcipBackend`, which sends NTCIP 1202 SETs and
GETs over UDP on loopback to an :class:`~controllers.ntcip.agent.NtcipAgent`, whose emulated
cabinets (:class:`~controllers.ntcip.cabinet.Cabinet`, one per intersection) time min green,
yellow and red clearance themselves and decide what the signal shows. SUMO shows what the
cabinets display, and a :class:`~controllers.ntcip.monitor.ConflictMonitor` per intersection
checks every displayed state, as a cabinet's MMU would.

Each simulation step (the clock is SUMO's; the cabinets count the same seconds)::

    frames = cameras.observe(now_s)
    status = backend.status()                                  # SNMP GET per intersection
    dispatch(backend, policy.step(now_s, dt_s, frames, status))  # SNMP SET per intersection
    cabinet.tick(dt_s); show cabinet.link_state(); monitor.observe(...)

The cabinets have no box-clearance red extension (NTCIP has no such command): that is the one
behavioural difference from ``adaptive`` by design. Plans are downloaded into the cabinets
(verified by reading back) but not selected (``select_plans=False``): the policy's phase
commands time the signal within the plan's bounds, as ``SumoBackend`` does. Selecting them
hands timing to the cabinets' coordinators, whose force-off points fight the policy's holds:
measured on corridor high, seed 2, one hour, no gate: 84.7 s/veh against 59.3 in-process. The report adds the SNMP cost per
intersection and step and the monitor's violations.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from controllers.adaptive_policy import AdaptiveConfig, AdaptivePolicy
from controllers.backend import dispatch
from controllers.ntcip.agent import NtcipAgent
from controllers.ntcip.backend import AgentAddress, NtcipBackend, NtcipSettings
from controllers.ntcip.cabinet import Cabinet
from controllers.ntcip.credentials import V2cCredentials
from controllers.ntcip.monitor import ConflictMonitor
from controllers.safety import SafeBackend
from optimizer.corridor_network import find_links
from sumo_scenarios.runner import Simulation
from sumo_scenarios.scenario import Scenario
from sumo_scenarios.sensing import CameraNetwork, CameraNoise

LOOPBACK = "127.0.0.1"
SIL_COMMUNITY = "public"  # loopback only: the emulator's default SNMPv2c community


class NtcipLoopController:
    """``adaptive`` whose commands go through NTCIP to emulated controllers (module docstring)."""

    name = "adaptive-ntcip"

    def __init__(self, config: AdaptiveConfig = AdaptiveConfig(), noise: CameraNoise = CameraNoise(),
                 camera_seed: int = 0, select_plans: bool = False):
        self.config = config
        self.select_plans = select_plans
        self.noise = noise
        self.camera_seed = camera_seed
        self.policy: AdaptivePolicy | None = None
        self.agent: NtcipAgent | None = None
        self.backend: SafeBackend | None = None
        self._snmp_s: list[float] = []

    def additional_files(self, scenario: Scenario, workdir: Path) -> list[Path]:
        return []

    def start(self, sim: Simulation) -> None:
        cfg = self.config
        self._conn = sim.conn
        self._dt_s = float(sim.conn.simulation.getDeltaT())  # the simulation step
        self.cameras = CameraNetwork(sim.conn, sim.intersections, cfg.view_m, self.noise, seed=self.camera_seed + sim.seed)
        self.cabinets = {tls: Cabinet.from_model(model, start_s=sim.time_s) for tls, model in sim.intersections.items()}
        self.monitors = {tls: ConflictMonitor(cab.mapping) for tls, cab in self.cabinets.items()}
        self.agent = NtcipAgent(self.cabinets, host=LOOPBACK, port=0, community=SIL_COMMUNITY).start()
        self._time_s = sim.time_s
        ntcip = NtcipBackend.from_models(
            sim.intersections,
            {tls: AgentAddress(LOOPBACK, port) for tls, port in self.agent.ports.items()},
            V2cCredentials(community=SIL_COMMUNITY),  # type: ignore[arg-type]
            settings=NtcipSettings(select_plans=self.select_plans),
            clock=lambda: self._time_s,
        )
        # the safety layer in front of the controller, as in a deployment
        self.backend = SafeBackend(ntcip, sim.intersections, clock=lambda: self._time_s,
                                   mappings={tls: cab.mapping for tls, cab in self.cabinets.items()})
        gate = None
        if cfg.use_gate:
            from controllers.gate import GateConfig, PlanGate

            gate = PlanGate(sim.scenario.net_file, dict(sim.intersections),
                            GateConfig(horizon_s=cfg.gate_horizon_s, seeds=cfg.gate_seeds, workers=cfg.gate_workers),
                            sumo_options=sim.scenario.sumo_options)
        links = find_links(sim.scenario.net_file, dict(sim.intersections)) if cfg.coordinate else ()
        self.policy = AdaptivePolicy(sim.intersections, self.cameras.layouts, sim.time_s, cfg,
                                     rates=self.noise.detection_rates(), evaluator=gate, links=links)
        self._show()

    def step(self, sim: Simulation) -> None:
        assert self.policy is not None and self.backend is not None and self.agent is not None, "start() first"
        now = self._time_s = sim.time_s
        frames = self.cameras.observe(now)
        started = time.perf_counter()
        status = self.backend.status()
        snmp_s = time.perf_counter() - started
        commands = self.policy.step(now, self._dt_s, frames, status)
        started = time.perf_counter()
        dispatch(self.backend, commands)  # a new plan's download counts too
        self._snmp_s.append(snmp_s + time.perf_counter() - started)
        with self.agent.lock:
            for cabinet in self.cabinets.values():
                cabinet.tick(self._dt_s)
        self._show()

    def _show(self) -> None:
        """SUMO shows what the cabinets display; the monitors check it."""
        assert self.agent is not None
        with self.agent.lock:
            for tls, cabinet in self.cabinets.items():
                self._conn.trafficlight.setRedYellowGreenState(tls, cabinet.link_state())
                self.monitors[tls].observe(self._time_s, cabinet.display())

    def report(self) -> dict:
        assert self.policy is not None
        per_step = np.array(self._snmp_s) if self._snmp_s else np.zeros(1)
        n = max(len(self.cabinets), 1)
        violations = [v for m in self.monitors.values() for v in m.violations]
        return {
            **self.policy.report().as_dict(),
            # wall time of the SNMP exchange (status GETs + command SETs, plan downloads
            # included), per intersection and step
            "snmp_ms_per_intersection_step": {
                "mean": round(float(per_step.mean()) * 1000 / n, 3),
                "median": round(float(np.median(per_step)) * 1000 / n, 3),
                "p99": round(float(np.percentile(per_step, 99)) * 1000 / n, 3),
            },
            "monitor_violations": len(violations),
            "safety_refusals": [str(e) for e in self.backend.refusals] if self.backend else [],
            "monitor_first_violations": [str(v) for v in violations[:5]],
        }

    def close(self) -> None:
        if self.policy is not None:
            self.policy.close()
        if self.backend is not None:
            self.backend.close()
        if self.agent is not None:
            self.agent.stop()
