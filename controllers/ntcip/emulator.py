"""Emulated cabinets driving a running SUMO simulation: the software-in-the-loop test bench.

:class:`SumoEmulator` starts SUMO (``libsumo``) on a scenario, builds one
:class:`~controllers.ntcip.cabinet.Cabinet` per traffic light (programmed from the network's own
program: with no central commands it runs that program), and every simulated second

1. feeds each cabinet detector calls: a NEMA phase is called while a vehicle stands or moves in
   the last ``DETECTOR_ZONE_M`` of a lane its links leave from (a stop-bar presence detector);
2. advances the cabinets one second (under ``lock``, the agent's, so an SNMP request never sees
   half a step) and lets each one's conflict monitor check what it shows (a fault latches flash);
3. shows each cabinet's state in SUMO with ``trafficlight.setRedYellowGreenState``;
4. advances SUMO one second.

``phasewise controller emulate`` serves the cabinets over SNMP (``controllers.ntcip.agent``,
one UDP port per traffic light) and paces the loop in real time.

Example::

    emulator = SumoEmulator(scenario, tls_ids=["J1"])
    emulator.start()
    with NtcipAgent(emulator.cabinets, port=1161) as agent:
        emulator.lock = agent.lock
        while emulator.time_s < scenario.end_s:
            emulator.step()
    emulator.close()
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Protocol

from controllers.ntcip.cabinet import Cabinet
from controllers.ntcip.monitor import ConflictMonitor
from controllers.ntcip.nema import load_mapping, phase_map
from optimizer.intersection import IntersectionModel
from phasewise_errors import ConfigError, ScenarioError
from sumo_scenarios.network import load_intersections
from sumo_scenarios.runner import sumo_binary, sumo_errors, sumo_module
from sumo_scenarios.scenario import Scenario

log = logging.getLogger(__name__)

DETECTOR_ZONE_M = 20.0
"""Length of the emulated stop-bar presence detector (typical stop-bar zones are 12-20 m: long
enough that a stopped queue's first vehicle keeps calling, short enough for a 3 s passage gap)."""
STEP_S = 1.0


class StepObserver(Protocol):
    """Reads the simulation each step before the cabinets act (e.g. ``controllers.hires.sumo_truth.SumoEventLog``)."""

    def start(self, conn: ModuleType) -> None: ...

    def observe(self, conn: ModuleType) -> None: ...


class SumoEmulator:
    """Cabinets shown in a SUMO simulation, one per traffic light (module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        tls_ids: Sequence[str] | None = None,
        seed: int = 1,
        backup_time_s: int | None = None,
        lock: threading.Lock | None = None,
        mapping_files: Sequence[Path] = (),
        observers: Sequence[StepObserver] = (),
        additional_files: Sequence[Path] = (),
    ) -> None:
        """``observers`` see every step before the cabinets act; ``additional_files`` are loaded
        into SUMO beside the scenario's (an observer's detectors)."""
        self.scenario = scenario
        self.observers = list(observers)
        self.extra_files = tuple(additional_files)
        self.seed = seed
        self.lock: threading.Lock | contextlib.nullcontext[None] = lock or contextlib.nullcontext()
        models = load_intersections(scenario.net_file, program_files=scenario.additional_files)
        if tls_ids:
            unknown = [t for t in tls_ids if t not in models]
            if unknown:
                raise ConfigError(f"--tls {', '.join(unknown)}: no such traffic light in {scenario.name} "
                                  f"(it has {', '.join(list(models)[:8])}{' ...' if len(models) > 8 else ''})")
            models = {t: models[t] for t in tls_ids}
        self.models: dict[str, IntersectionModel] = models
        mappings = {m.tls_id: m for m in (load_mapping(f, models) for f in mapping_files)}
        options = {} if backup_time_s is None else {"backup_time_s": backup_time_s}
        self.cabinets = {
            tls: Cabinet.from_model(m, mappings.get(tls) or phase_map(m), **options)  # type: ignore[arg-type]
            for tls, m in models.items()
        }
        self.monitors = {tls: ConflictMonitor(c.mapping, on_fault=c.latch_flash) for tls, c in self.cabinets.items()}
        self._lanes = {
            tls: {p: sorted({m.links[i].from_lane for i in links if i < len(m.links)})
                  for p, links in c.mapping.phase_links.items()}
            for tls, (m, c) in ((t, (models[t], self.cabinets[t])) for t in models)
        }
        self.conn: ModuleType | None = None
        self._reported: dict[str, int] = {}

    @property
    def time_s(self) -> float:
        assert self.conn is not None
        return float(self.conn.simulation.getTime())

    def start(self) -> None:
        """Start SUMO on the scenario (raises ``ScenarioError`` if it cannot load it)."""
        conn = sumo_module()
        cmd = [
            sumo_binary("sumo"), "-n", str(self.scenario.net_file),
            "--begin", f"{self.scenario.begin_s:g}", "--end", f"{self.scenario.end_s:g}",
            "--step-length", f"{STEP_S:g}", "--seed", str(self.seed),
            "--no-step-log", "true", "--no-warnings", "true", "--duration-log.disable", "true",
            *self.scenario.sumo_options,
        ]
        if self.scenario.route_files:
            cmd += ["-r", ",".join(str(p) for p in self.scenario.route_files)]
        additional = [*self.scenario.additional_files, *self.extra_files]
        if additional:
            cmd += ["-a", ",".join(str(p) for p in additional)]
        try:
            conn.start(cmd)
        except sumo_errors(conn) as exc:
            raise ScenarioError(f"SUMO could not load {self.scenario.name}: {exc}") from exc
        self.conn = conn
        for cabinet in self.cabinets.values():
            cabinet.now_s = self.time_s
        for observer in self.observers:
            observer.start(conn)
        self._show()

    def step(self) -> None:
        """One simulated second: detector calls, cabinet timing, monitor, display, SUMO step."""
        assert self.conn is not None
        for observer in self.observers:
            observer.observe(self.conn)
        calls = {tls: self._detector_calls(tls) for tls in self.cabinets}
        with self.lock:
            for tls, cabinet in self.cabinets.items():
                cabinet.set_detector_calls(calls[tls])
                cabinet.tick(STEP_S)
                self.monitors[tls].observe(cabinet.now_s, cabinet.display())
        self._show()
        self.conn.simulationStep()
        self._report_violations()

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None

    @property
    def violations(self) -> int:
        return sum(len(m.violations) for m in self.monitors.values())

    def _show(self) -> None:
        assert self.conn is not None
        with self.lock:
            states = {tls: c.link_state() for tls, c in self.cabinets.items()}
        for tls, state in states.items():
            self.conn.trafficlight.setRedYellowGreenState(tls, state)

    def _detector_calls(self, tls: str) -> set[int]:
        assert self.conn is not None
        lane_api, vehicle_api = self.conn.lane, self.conn.vehicle
        called = set()
        for phase, lanes in self._lanes[tls].items():
            for lane in lanes:
                length = lane_api.getLength(lane)
                if any(vehicle_api.getLanePosition(v) >= length - DETECTOR_ZONE_M for v in lane_api.getLastStepVehicleIDs(lane)):
                    called.add(phase)
                    break
        return called

    def _report_violations(self) -> None:
        for tls, monitor in self.monitors.items():
            for v in monitor.violations[self._reported.get(tls, 0):]:
                log.warning("%s: conflict monitor at %.0f s: %s (%s); the cabinet is in flash", tls, v.time_s, v.kind, v.detail)
            self._reported[tls] = len(monitor.violations)
