"""Software in the loop: the daemon drives emulated NTCIP controllers on a SUMO road.

One process hosts the world and the daemon (the simplest thing that runs out of the box and
stays in lock step, hence reproducible): SUMO (libsumo) runs the road; one emulated NEMA
cabinet per intersection (:class:`~controllers.ntcip.cabinet.Cabinet`) times the signals and is
shown in SUMO; an :class:`~controllers.ntcip.agent.NtcipAgent` serves the cabinets over SNMP on
loopback, where the daemon's ``NtcipBackend`` talks to them exactly as to a field controller;
a :class:`~controllers.ntcip.monitor.ConflictMonitor` per intersection checks every displayed
state (as the cabinet's MMU would); the SUMO virtual cameras (``sumo_scenarios.sensing``) are
the camera streams.

Each daemon step the world advances one second: cabinets tick (under the agent's lock), SUMO
shows their state and steps, the monitors observe. With ``events`` it also writes the hi-res
event log of what the cabinets showed (``controllers.hires.sumo_truth.SumoEventLog``, virtual detectors)
in 15-minute files (``controllers.hires.files.EventBinWriter``).

With ``preempts`` (``controller.preempts`` of the config: per intersection, preempt number ->
approach) the world wires each of those approaches' priority receiver to its cabinet's preempt
input (:class:`~sumo_scenarios.sensing.PriorityReceivers`, emergency vehicles within 300 m of
the stop line): the input is on while one is heard there and ``RECEIVER_HOLD_S`` after, as a
phase selector holds its output a few seconds after losing an emitter (here: an ambulance
crossing the junction upstream, whose internal lanes no receiver covers); the daemon reads it
over NTCIP like any other object.

Faults can be injected while it runs through a JSON file (``fault_file``), re-read every step:
``{"cameras_down": ["J1_n", ...], "agent_down": true}`` -- a camera that delivers nothing, an
SNMP agent that stops answering (the cabinets keep timing: after ``unitBackupTime`` without
central commands they run their own schedule). Tests and demos use it; a field site has none.

At the end :meth:`SilWorld.finish` measures the run's delay (the one metric definition,
``sumo_scenarios.metrics``) and, in a separate process with a time limit, the same scenario,
seed and period under the network's static program.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import tempfile
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

from controllers.ntcip.agent import NtcipAgent
from controllers.ntcip.cabinet import Cabinet
from controllers.ntcip.monitor import ConflictMonitor
from counting.camera_frame import CameraFrame, PedestrianCall
from optimizer.intersection import IntersectionModel
from phasewise_errors import ControllerError
from sumo_scenarios.metrics import IntersectionProbe, read_run_metrics
from sumo_scenarios.runner import sumo_binary, sumo_module
from sumo_scenarios.scenario import Scenario
from sumo_scenarios.sensing import CameraNetwork, CameraNoise, PedestrianCameras

if TYPE_CHECKING:
    from controllers.hires.sumo_truth import SumoEventLog

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
RECEIVER_HOLD_S = 3.0  # a preempt input stays on this long after its receiver last heard an emitter


@dataclass(frozen=True)
class EventLogSettings:
    """Where the SIL world writes its hi-res event log (15-minute files) and the wall-clock time
    of simulation second 0 (so that its time stamps and files follow the daemon's clock)."""

    folder: Path
    epoch: datetime


@dataclass(frozen=True)
class SilResult:
    """Delay so far (RESCO definition, s/veh) under the daemon and under the static program."""

    sim_s: float
    delay_s_per_vehicle: float
    vehicles: int
    static_delay_s_per_vehicle: float | None
    monitor_violations: int
    delay_by_vclass: dict[str, float] = field(default_factory=dict)  # the run's delay per SUMO vClass (s/veh)

    def table(self) -> str:
        static = "n/a (not computed in time)" if self.static_delay_s_per_vehicle is None else f"{self.static_delay_s_per_vehicle:.1f}"
        change = ""
        if self.static_delay_s_per_vehicle:
            change = f" ({(self.delay_s_per_vehicle / self.static_delay_s_per_vehicle - 1) * 100:+.0f} %)"
        return (f"simulated {self.sim_s:.0f} s, {self.vehicles} vehicles\n"
                f"delay s/veh  phasewise run (adaptive via NTCIP): {self.delay_s_per_vehicle:.1f}{change}\n"
                f"delay s/veh  static program (same seed, period):  {static}\n"
                f"conflict-monitor violations: {self.monitor_violations}")


class SilWorld:
    """SUMO + emulated cabinets + SNMP agent + virtual cameras (module docstring)."""

    def __init__(self, scenario: Scenario, models: dict[str, IntersectionModel], seed: int = 1,
                 port: int = 0, community: str = "public", view_m: float = 100.0,
                 noise: CameraNoise = CameraNoise(), fault_file: Path | None = None,
                 events: EventLogSettings | None = None, preempts: Mapping[str, Mapping[int, str]] | None = None) -> None:
        self.scenario, self.models, self.seed, self.community = scenario, models, seed, community
        self.fault_file = fault_file
        self._tmp = tempfile.TemporaryDirectory(prefix="phasewise-sil-")
        self.tripinfo = Path(self._tmp.name) / "tripinfo.xml"
        additional = list(scenario.additional_files)
        self.event_log: SumoEventLog | None = None
        if events is not None:  # the hi-res event log of what the cabinets showed (SUMO truth)
            from controllers.hires.files import BIN_S, EventBinWriter
            from controllers.hires.sumo_truth import SumoEventLog

            self.event_log = SumoEventLog(scenario.net_file, models)
            self.event_files = EventBinWriter(events.folder, self.event_log.layout, events.epoch)
            self._bin_s = BIN_S
            self._epoch_phase_s = (events.epoch - datetime(1970, 1, 1)).total_seconds() % BIN_S
            additional.append(self.event_log.detector_file(Path(self._tmp.name)))
        self.conn = sumo_module()
        self.conn.start([
            sumo_binary("sumo"), "-n", str(scenario.net_file), "-r", ",".join(map(str, scenario.route_files)),
            "--begin", f"{scenario.begin_s:g}", "--end", f"{scenario.end_s:g}", "--step-length", "1",
            "--seed", str(seed), "--tripinfo-output", str(self.tripinfo), "--tripinfo-output.write-unfinished", "true",
            "--no-step-log", "true", "--no-warnings", "true", "--duration-log.disable", "true",
            *scenario.sumo_options, *(["-a", ",".join(map(str, additional))] if additional else []),
        ])
        self.closed = False
        if self.event_log is not None:
            self.event_log.start(self.conn)
        self.probe = IntersectionProbe(self.conn, models)
        self.cameras = CameraNetwork(self.conn, models, view_m, noise, seed=seed)
        # persons waiting at signalised crossings, where the network has them
        self.pedestrians = (PedestrianCameras(self.conn, models)
                            if any(m.crossings for m in models.values()) else None)
        self.noise = noise
        self.cabinets = {tls: Cabinet.from_model(m, start_s=self.time_s) for tls, m in models.items()}
        self.monitors = {tls: ConflictMonitor(c.mapping) for tls, c in self.cabinets.items()}
        self.agent: NtcipAgent | None = self._start_agent(port)
        # the preempt inputs wired to priority receivers: (tls, approach) -> preempt number
        self._preempt_of = {(tls, approach): n for tls, inputs in (preempts or {}).items() for n, approach in inputs.items()}
        self.receivers = None
        self._heard_until: dict[tuple[str, str], float] = {}
        if self._preempt_of:
            from sumo_scenarios.sensing import PriorityReceivers

            self.receivers = PriorityReceivers(self.conn, {tls: models[tls] for tls in preempts or {}})
        self.ports = dict(self.agent.ports)
        self.faults: dict = {}
        self._show()

    @property
    def time_s(self) -> float:
        return float(self.conn.simulation.getTime())

    @property
    def done(self) -> bool:
        return self.time_s >= self.scenario.end_s

    @property
    def violations(self) -> int:
        return sum(len(m.violations) for m in self.monitors.values())

    def advance(self, dt_s: float = 1.0) -> None:
        """One second of the world: cabinets, SUMO, monitors; then the injected faults."""
        with self._cabinets_locked():
            for cabinet in self.cabinets.values():
                cabinet.tick(dt_s)
        self.conn.simulationStep()
        self.probe.sample()
        if self.receivers is not None:
            self._drive_preempts()
        if self.event_log is not None:
            self._log_events()
        self._show()
        self._read_faults()

    def _drive_preempts(self) -> None:
        """Each wired preempt input on while its approach's receiver hears an emergency vehicle."""
        assert self.receivers is not None
        now = self.time_s
        for call in self.receivers.observe():
            self._heard_until[(call.tls_id, call.approach)] = now + RECEIVER_HOLD_S
        with self._cabinets_locked():
            for (tls, approach), number in self._preempt_of.items():
                self.cabinets[tls].set_preempt_input(number, self._heard_until.get((tls, approach), -1.0) > now)

    def _cabinets_locked(self) -> contextlib.AbstractContextManager:
        """The agent's lock (its SNMP threads read and write the cabinets), or none without an agent."""
        return self.agent.lock if self.agent is not None else contextlib.nullcontext()

    def _log_events(self) -> None:
        """Log the step just simulated (its state is still shown), and write each closed 15-min file."""
        assert self.event_log is not None
        self.event_log.observe(self.conn)
        into_bin_s = (self.time_s + self._epoch_phase_s) % self._bin_s  # bins of the daemon's clock
        if into_bin_s < 1.0:
            self.event_files.flush(self.event_log.recorders, self.time_s - into_bin_s)

    def _start_agent(self, port: int) -> NtcipAgent:
        """The agent on ``port``, ``port + 1``, ...; with 0, on a free consecutive range (so that
        a restarted agent answers where the daemon's backend looks for it)."""
        if port:
            return NtcipAgent(self.cabinets, host=LOOPBACK, port=port, community=self.community).start()
        for _ in range(20):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind((LOOPBACK, 0))
                base = probe.getsockname()[1]
            if base + len(self.cabinets) > 65535:
                continue
            try:
                return NtcipAgent(self.cabinets, host=LOOPBACK, port=base, community=self.community).start()
            except ControllerError:
                continue  # one of the next ports is taken: another range
        raise ControllerError("no free range of UDP ports on loopback for the emulated controllers")

    def _show(self) -> None:
        for tls, cabinet in self.cabinets.items():
            self.conn.trafficlight.setRedYellowGreenState(tls, cabinet.link_state())
            for v in self.monitors[tls].observe(self.time_s, cabinet.display()):
                log.error("conflict monitor %s: %s", tls, v)

    def _read_faults(self) -> None:
        if self.fault_file is None:
            return
        try:
            faults = json.loads(self.fault_file.read_text()) if self.fault_file.exists() else {}
        except (OSError, ValueError):
            return  # being written: next step
        if not isinstance(faults, dict):
            faults = {}  # not a fault description: none
        if faults == self.faults:
            return
        self.faults = faults
        if faults.get("agent_down") and self.agent is not None:
            log.warning("SIL fault: SNMP agent stopped")
            self.agent.stop()
            self.agent = None
        elif not faults.get("agent_down") and self.agent is None:
            self.agent = self._start_agent(min(self.ports.values()))
            log.warning("SIL fault cleared: SNMP agent serving again")

    def camera_source(self) -> SilCameraSource:
        return SilCameraSource(self)

    def finish(self, static_timeout_s: float = 4.0) -> SilResult:
        """Close SUMO, measure the delay so far, and the static program's over the same period."""
        sim_s = self.time_s - self.scenario.begin_s
        self.close()
        if sim_s <= 0:  # stopped before its first step: no period to measure
            return SilResult(0.0, float("nan"), 0, None, self.violations)
        metrics = read_run_metrics(self.tripinfo, self.scenario.with_period(end_s=self.scenario.begin_s + sim_s),
                                   self.probe.summary())
        static = static_delay(self.scenario.with_period(end_s=self.scenario.begin_s + max(sim_s, 1.0)), self.seed,
                              static_timeout_s)
        return SilResult(sim_s, metrics.delay_s_per_vehicle, metrics.vehicles, static, self.violations,
                         {name: c.delay_s_per_vehicle for name, c in metrics.by_vclass.items()})

    def close(self) -> None:
        if self.event_log is not None:  # the last, partial 15 minutes too
            self.event_files.flush(self.event_log.recorders, float("inf"))
        if self.agent is not None:
            self.agent.stop()
            self.agent = None
        if not self.closed:
            self.closed = True
            try:
                self.conn.close()
            except Exception:  # already closed after a SUMO failure
                pass


class SilCameraSource:
    """The world's virtual cameras, minus the ones the fault file takes down. The persons
    waiting at an intersection's crossings ride on the frame of one of its cameras that is
    up, as a field camera reports the kerbs it sees; with all its cameras down, none are
    reported (the cabinet's pedestrian recall serves them)."""

    def __init__(self, world: SilWorld) -> None:
        self.world = world
        self.layouts = world.cameras.layouts
        self._tls_of = world.cameras.intersection_of

    def read(self, now_s: float) -> dict[str, CameraFrame]:
        frames = self.world.cameras.observe(self.world.time_s)  # every step: the cameras track vehicles
        down = set(self.world.faults.get("cameras_down", ()))
        if "*" in down:
            down = set(frames)
        up = {cam: f for cam, f in frames.items() if cam not in down}
        if self.world.pedestrians is not None:
            carrier: dict[str, str] = {}
            for cam in up:
                carrier.setdefault(self._tls_of[cam], cam)
            calls: dict[str, list[PedestrianCall]] = {}
            for call in self.world.pedestrians.observe():
                calls.setdefault(call.tls_id, []).append(call)
            for tls, waiting in calls.items():
                if tls in carrier:
                    up[carrier[tls]] = replace(up[carrier[tls]], pedestrians=tuple(waiting))
        return up

    def close(self) -> None:
        pass


def _static_run(scenario: Scenario, seed: int) -> float:
    from controllers.static import StaticController
    from sumo_scenarios.runner import RunJob, run

    return run(RunJob(scenario, seed, StaticController)).metrics.delay_s_per_vehicle


def static_delay(scenario: Scenario, seed: int, timeout_s: float) -> float | None:
    """The static program's delay over ``scenario``'s period, or None when not done in time
    (``timeout_s`` 0: not tried)."""
    if timeout_s <= 0:
        return None
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
    try:
        return pool.submit(_static_run, scenario, seed).result(timeout=timeout_s)
    except FutureTimeout:
        log.warning("static baseline not done within %.0f s; skipped", timeout_s)
        return None
    except Exception as exc:
        log.warning("static baseline failed: %r", exc)
        return None
    finally:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
