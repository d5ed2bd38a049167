"""The tactical loop of ``phasewise run`` and its fallbacks (see the package docstring).

:class:`Daemon` wires the ports; :meth:`Daemon.step` is one second of control and never
raises: every failure is logged, counted in the metrics, and handled by a fallback:

===============================  ========================================================
fault                            what the daemon does
===============================  ========================================================
one camera stale / implausible   an outage frame: its approach runs plan greens (policy)
camera stream fails              reopened with backoff (``cameras.StreamCameraSource``)
every camera out ``release_after_s``  control handed back: ``backend.close()`` releases the
                                 controller to its own schedule (standby pattern); taken
                                 back once cameras are up again for ``recover_after_s``
controller unreachable           its status is ``unknown``, commands dropped; one 0.3 s try per
                                 request, none more inside the step, again after growing
                                 pauses (``controller_link``, ``NtcipBackend``); the plan it
                                 missed is re-sent
plan refused (safety/controller) the running plan stays
optimizer/gate fails or hangs    the running plan stays (``strategic.StrategicWorker``)
state write fails (disk full)    kept in memory, retried every step (``store``)
wall clock jumps                 reported; the timeline stays monotonic (``clock``)
the daemon dies                  the controller reverts after ``unitBackupTime`` on its own;
                                 a restart restores plans, learnt shares and counts
===============================  ========================================================
"""

from __future__ import annotations

import collections
import hashlib
import logging
import pickle
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from controllers.adaptive_policy import AdaptivePolicy
from controllers.backend import PhaseCommand, SignalBackend, SignalStatus
from daemon.cameras import CameraHealth, CameraSource
from daemon.clock import Clock
from daemon.prometheus import Metrics
from daemon.notify import Notifier
from daemon.store import JsonlLog, StateStore
from daemon.strategic import StrategicOutcome, StrategicWorker
from optimizer.plan import TimingPlan
from phasewise_errors import PhasewiseError, PlanError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DaemonSettings:
    """Timings of the loop and its fallbacks (seconds on the daemon's timeline).

    ``camera_stale_s``: a camera without a new frame this long is out (three missed 1 s
    frames: one late frame is jitter, three is a lost stream). ``release_after_s``: every
    camera out this long hands control back to the controller (its own schedule beats
    control blind). ``recover_after_s``: cameras up again (any, without a gap) this long
    before control is taken back (a flapping link must not toggle the controller's mode). ``strategic_deadline_s``:
    an optimizer + gate job is given up after this (the gate itself fails closed at its
    ``timeout_s``). ``save_learning_s``: how often the estimator's learnt state is saved.
    ``export_every_s``: how often closed count bins are looked for. ``alive_s``: ``/healthz``
    fails when the loop has not completed a step for this long (wall time).
    ``keep_history_s``: the estimator's 15-min bins and ended camera outages older than this
    are dropped from memory (the counts are in the state store and its CSVs; a daemon of
    months must not keep every bin).
    """

    step_s: float = 1.0
    camera_stale_s: float = 3.0
    release_after_s: float = 10.0
    recover_after_s: float = 30.0
    strategic_deadline_s: float = 60.0
    save_learning_s: float = 60.0
    export_every_s: float = 10.0
    alive_s: float = 10.0
    clock_jump_s: float = 2.0
    keep_history_s: float = 86400.0


def layouts_fingerprint(layouts: Mapping[str, object]) -> str:
    return hashlib.sha256(repr(sorted((k, repr(v)) for k, v in layouts.items())).encode()).hexdigest()[:16]


class Daemon:
    """One site: cameras -> policy -> safety layer -> backend, with state, metrics, fallbacks."""

    def __init__(
        self,
        policy: AdaptivePolicy,
        cameras: CameraSource,
        backend_factory: Callable[[], SignalBackend],
        strategic: StrategicWorker,
        store: StateStore,
        clock: Clock,
        metrics: Metrics,
        settings: DaemonSettings = DaemonSettings(),
        decisions: JsonlLog | None = None,
        notifier: Notifier | None = None,
        world: object | None = None,
    ) -> None:
        self.policy, self.cameras, self.backend_factory = policy, cameras, backend_factory
        self.strategic, self.store, self.clock, self.metrics = strategic, store, clock, metrics
        self.settings = settings
        self.decisions = decisions or JsonlLog(store.dir / "decisions.jsonl", metrics)
        self.notifier = notifier or Notifier({})
        self.world = world  # SilWorld in software in the loop: advanced after each step
        self.health = CameraHealth(cameras.layouts, metrics, settings.camera_stale_s)
        self.backend: SignalBackend | None = None
        self.released = False
        self._all_down_since: float | None = None
        self._detection_since: float | None = None
        self._status: dict[str, SignalStatus] = {tls: SignalStatus(tls, 0, 0.0, None, "unknown") for tls in policy.nodes}
        self._controller_up: dict[str, bool] = {}
        self._running_plan_json = ""
        self._next_save_s = self._next_export_s = clock.now_s()
        self.last_step_wall = time.monotonic()
        self.step_seconds: collections.deque[float] = collections.deque(maxlen=3600)  # the last hour, for tests
        self.stop_event = threading.Event()
        self.reload_requested = threading.Event()
        self.on_reload: Callable[[], None] | None = None
        self._fingerprint = layouts_fingerprint(cameras.layouts)
        # the dashboard's side (daemon.view): an operator's hand-back holds until
        # taken back; the view runs queued operator actions and publishes a snapshot each step
        self.held_by_operator = False
        self.view: Any = None
        self.strategic_listeners: list[Callable[[float, StrategicOutcome], None]] = []

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        """Restore what was learnt and the plan in force, then take control."""
        restored = self._restore()
        self.metrics.set("phasewise_state_restored", float(restored))
        self.metrics.set("phasewise_up", 1.0)
        for counter in ("phasewise_control_releases_total", "phasewise_step_errors_total", "phasewise_clock_jumps_total",
                        "phasewise_plans_applied_total", "phasewise_vehicles_counted_total",
                        "phasewise_step_deadline_missed_total", "phasewise_commands_refused_total"):
            self.metrics.inc(counter, 0.0)  # exported from the start: a scraper sees 0, not nothing
        self.metrics.set("phasewise_control_released", 0.0)
        self._connect()
        self.notifier.ready(f"controlling {len(self.policy.nodes)} intersections")
        self.decisions.write({"t": self.clock.now_s(), "event": "start", "restored": restored,
                              "plan": self.policy.plan.created_by})

    def _restore(self) -> bool:
        restored = False
        raw = self.store.get("running_plan")
        if raw:
            try:
                plan = TimingPlan.from_json(raw.decode())
                if set(plan.intersections) == set(self.policy.nodes):
                    self.policy.adopt(plan)
                    self._running_plan_json = raw.decode()
                    restored = True
                    log.info("restored the running plan (%s)", plan.created_by)
            except Exception as exc:  # a stored plan from another site or version
                log.error("stored running plan unusable (%r); starting from the network's program", exc)
        blob, fingerprint = self.store.get("estimator"), self.store.get("estimator_layouts")
        if blob and fingerprint and fingerprint.decode() == self._fingerprint:
            try:
                self.policy.estimator = pickle.loads(blob)
                counts = self.store.get("turn_counts")
                for tls, by_camera in (pickle.loads(counts) if counts else {}).items():
                    node = self.policy.nodes[tls]
                    node.turn_counts = by_camera
                    node.shares = node.phase_lane_shares()
                restored = True
                log.info("restored the learnt turning shares, saturation flows and rates")
            except Exception as exc:
                log.error("stored learnt state unusable (%r); learning again", exc)
        return restored

    def _connect(self) -> None:
        try:
            self.backend = self.backend_factory()
        except PhasewiseError as exc:
            log.error("controller backend could not start (%s); retrying next step", exc)
            self.metrics.inc("phasewise_controller_errors_total", kind="start")
            self.backend = None
            return
        if self._running_plan_json:  # the plan in force: make sure the controller runs it
            self._apply(self.policy.plan, reason="restart")

    # -- one step ---------------------------------------------------------------------------
    def step(self) -> None:
        started = time.perf_counter()
        now = self.clock.now_s()
        try:
            self._step(now)
        except Exception:  # a bug must not stop the signals' supervision; it is logged and counted
            log.exception("step at %.0f failed", now)
            self.metrics.inc("phasewise_step_errors_total")
        work_s = time.perf_counter() - started
        self.metrics.observe("phasewise_step_seconds", work_s)
        if work_s > self.metrics.get("phasewise_step_seconds_max"):
            self.metrics.set("phasewise_step_seconds_max", work_s)
        self.metrics.inc("phasewise_steps_total")
        if work_s > self.settings.step_s:
            self.metrics.inc("phasewise_step_deadline_missed_total")
        self.step_seconds.append(work_s)
        self.last_step_wall = time.monotonic()
        self.notifier.watchdog()

    def _step(self, now: float) -> None:
        jump = self.clock.wall_jump_s()
        if abs(jump) > self.settings.clock_jump_s:
            self.metrics.inc("phasewise_clock_jumps_total")
            log.warning("wall clock moved %+.0f s against the timeline; keeping the timeline until restart", jump)
            acknowledge = getattr(self.clock, "acknowledge_jump", None)
            if acknowledge is not None:
                acknowledge()
        frames = self.health.frames(now, self._read_cameras(now))
        for cam, frame in frames.items():
            if frame.ok and frame.crossing_lane.size:
                self.store.add_crossings(now, cam, self.cameras.layouts[cam].lanes, frame.crossing_lane,
                                         frame.crossing_class)
        self._fallback(now)
        status = self._read_status()
        commands = self.policy.step(now, self.settings.step_s, frames, status)
        if self.backend is not None and not self.released:
            self._send([c for c in commands if isinstance(c, PhaseCommand)])
        if self.policy.replan_due is not None:  # a request while the worker is busy is skipped
            self.strategic.submit(self.policy.replan_due)
            self.policy.replan_due = None
        outcome = self.strategic.poll()
        if outcome is not None:
            self._strategic(outcome, now)
        self._metrics(frames)
        if self.view is not None:
            self.view.after_step(now, frames, status)
        self._persist(now)

    def _read_cameras(self, now: float) -> Mapping:
        try:
            return self.cameras.read(now)
        except Exception as exc:
            log.error("camera source failed (%r): every camera out this step", exc)
            return {}

    # -- fallbacks --------------------------------------------------------------------------
    def _fallback(self, now: float) -> None:
        s = self.settings
        if not any(self.health.up.values()):
            self._detection_since = None
            self._all_down_since = self._all_down_since if self._all_down_since is not None else now
            if not self.released and now - self._all_down_since >= s.release_after_s:
                self._release(now)
        else:
            # detection is back when some camera has stayed up (one camera broken for good
            # must not keep the whole site on the controller's schedule)
            self._all_down_since = None
            self._detection_since = self._detection_since if self._detection_since is not None else now
            if (self.released and not self.held_by_operator and self._detection_since is not None
                    and now - self._detection_since >= s.recover_after_s):
                self._resume(now)
        if self.backend is None and not self.released:
            self._connect()

    def _release(self, now: float) -> None:
        log.warning("every camera out for %.0f s: control handed back to the controllers' own schedule",
                    now - (self._all_down_since or now))
        self.released = True
        self.metrics.inc("phasewise_control_releases_total")
        self.metrics.set("phasewise_control_released", 1.0)
        self.decisions.write({"t": now, "event": "release", "reason": "all cameras out"})
        self._close_backend()

    def hand_back(self, now: float, who: str) -> None:
        """An operator hands control back to the controllers' own schedule until :meth:`take_back`."""
        self.held_by_operator = True
        self.decisions.write({"t": now, "event": "hand-back", "by": who})
        if not self.released:
            self.released = True
            self.metrics.inc("phasewise_control_releases_total")
            self.metrics.set("phasewise_control_released", 1.0)
            self.decisions.write({"t": now, "event": "release", "reason": who})
            self._close_backend()

    def take_back(self, now: float, who: str) -> None:
        """End an operator's hand-back; control resumes now unless every camera is out."""
        self.held_by_operator = False
        self.decisions.write({"t": now, "event": "take-back", "by": who})
        if self.released and any(self.health.up.values()):
            self._resume(now)

    @property
    def controller_up(self) -> dict[str, bool]:
        """Per intersection: its controller answers and runs under central control."""
        return dict(self._controller_up)

    def _resume(self, now: float) -> None:
        log.warning("cameras back and stable for %.0f s: taking control again", self.settings.recover_after_s)
        self.released = False
        self.metrics.set("phasewise_control_released", 0.0)
        self.decisions.write({"t": now, "event": "resume"})
        self._connect()

    def _close_backend(self) -> None:
        backend, self.backend = self.backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception as exc:
                log.error("releasing the controller failed (%r); it reverts after its backup time", exc)

    # -- controller -------------------------------------------------------------------------
    def _read_status(self) -> dict[str, SignalStatus]:
        if self.backend is None or self.released:
            return {tls: replace(s, mode="unknown") for tls, s in self._status.items()}
        try:
            status = dict(self.backend.status())
        except Exception as exc:
            log.error("controller status failed: %s", exc)
            self.metrics.inc("phasewise_controller_errors_total", kind="status")
            status = {tls: replace(s, mode="unknown") for tls, s in self._status.items()}
        for tls in self._status:
            if tls in status:
                self._status[tls] = status[tls]
        for tls, s in self._status.items():
            up = s.mode == "engine"
            if self._controller_up.get(tls) != up:
                self.decisions.write({"t": self.clock.now_s(), "event": "controller", "tls": tls, "mode": s.mode})
                if not up and s.mode == "unknown":
                    self.metrics.inc("phasewise_controller_errors_total", kind="unreachable")
            self._controller_up[tls] = up
            self.metrics.set("phasewise_controller_up", float(up), tls=tls)
        return dict(self._status)

    def _send(self, commands: list[PhaseCommand]) -> None:
        assert self.backend is not None
        refusals = getattr(self.backend, "refusals", None)
        before = len(refusals) if refusals is not None else 0
        try:
            self.backend.command(commands)
        except Exception as exc:
            log.error("commands not delivered: %s", exc)
            self.metrics.inc("phasewise_controller_errors_total", kind="command")
        if refusals is not None and len(refusals) > before:
            self.metrics.inc("phasewise_commands_refused_total", len(refusals) - before)
        if refusals is not None and len(refusals) > 1000:  # logged and counted: a daemon of months keeps no list
            del refusals[:]

    def _apply(self, plan: TimingPlan, reason: str) -> bool:
        if self.backend is None or self.released:
            return False
        try:
            self.backend.apply(plan)
        except PlanError as exc:
            log.error("plan refused by the safety layer (%s); the running plan stays", exc)
            self.metrics.inc("phasewise_plans_refused_total", by="safety")
            return False
        except PhasewiseError as exc:
            log.error("plan refused by the controller (%s); the running plan stays", exc)
            self.metrics.inc("phasewise_plans_refused_total", by="controller")
            return False
        self.metrics.inc("phasewise_plans_applied_total")
        self._running_plan_json = plan.to_json()
        self.store.put("running_plan", self._running_plan_json)
        self.decisions.write({"t": self.clock.now_s(), "event": "plan", "reason": reason, "created_by": plan.created_by,
                              "cycle_s": {tls: ip.cycle_s for tls, ip in plan.intersections.items()}})
        return True

    def apply_plan(self, plan: TimingPlan, reason: str) -> str:
        """Put ``plan`` in force now (an operator's choice): '' when the controller got it,
        else why not; then the running plan stays. Goes through the safety layer like every plan."""
        if self.released or self.backend is None:
            return "control is with the controllers' own schedule: take control first"
        refused_by_safety = self.metrics.get("phasewise_plans_refused_total", by="safety")
        previous = self.policy.plan
        self.policy.adopt(plan)  # the tactical bounds follow the plan sent
        if self._apply(plan, reason=reason):
            return ""
        self.policy.adopt(previous)
        by_safety = self.metrics.get("phasewise_plans_refused_total", by="safety") > refused_by_safety
        return f"refused by the {'safety layer' if by_safety else 'controller'} (see the log); the running plan stays"

    def _strategic(self, outcome: StrategicOutcome, now: float) -> None:
        decision = outcome.decision
        self.metrics.inc("phasewise_gate_decisions_total", result=outcome.status)
        for listener in self.strategic_listeners:
            listener(now, outcome)
        self.decisions.write({
            "t": now, "event": "strategic", "requested_t": outcome.request.time_s, "result": outcome.status,
            "detail": outcome.detail, "wall_s": round(outcome.wall_s, 3),
            "improvement": None if decision is None else decision.improvement,
            "p_value": None if decision is None else decision.p_value,
        })
        if outcome.candidate is None:
            return  # no candidate, timeout or error: the running plan stays
        self.store.put("candidate_plan", outcome.candidate.to_json())
        previous = self.policy.plan
        command = self.policy.consider(outcome.request, outcome.candidate, decision)
        if command is not None and not self._apply(command.plan, reason="gate"):
            self.policy.adopt(previous)  # refused: the tactical bounds follow the plan still running

    # -- bookkeeping ------------------------------------------------------------------------
    def _metrics(self, frames: Mapping) -> None:
        for tls, node in self.policy.nodes.items():
            queue = sum(float(np.sum(frames[lay.camera_id].stopped)) for lay in node.layouts if frames[lay.camera_id].ok)
            self.metrics.set("phasewise_queue_vehicles", queue, tls=tls)
            self.metrics.set("phasewise_plan_cycle_seconds", self.policy.plan.intersections[tls].cycle_s, tls=tls)
        if self.world is not None:
            self.metrics.set("phasewise_monitor_violations_total", float(getattr(self.world, "violations", 0)))

    def _persist(self, now: float) -> None:
        if now >= self._next_save_s:
            self._next_save_s = now + self.settings.save_learning_s
            self.policy.estimator.forget_before(now - self.settings.keep_history_s)
            self.store.put("estimator", pickle.dumps(self.policy.estimator))
            # the tactical layer's own turning counts (per intersection and camera) as well
            self.store.put("turn_counts", pickle.dumps({tls: n.turn_counts for tls, n in self.policy.nodes.items()}))
            self.store.put("estimator_layouts", self._fingerprint)
            self.store.put("camera_health", repr({c: self.health.reason[c] or "up" for c in self.health.up}))
        staged = sum(self.store._pending.values())
        self.store.put("clock_s", repr(now))
        if self.store.commit(now):
            self.metrics.inc("phasewise_vehicles_counted_total", staged)
        if now >= self._next_export_s:
            self._next_export_s = now + self.settings.export_every_s
            self.store.export_closed_bins(now)

    # -- probes -----------------------------------------------------------------------------
    def alive(self) -> tuple[bool, str]:
        quiet = time.monotonic() - self.last_step_wall
        return quiet < self.settings.alive_s, f"last step {quiet:.1f} s ago"

    def ready(self) -> tuple[bool, str]:
        ok, why = self.alive()
        problems = [] if ok else [why]
        if self.released:
            problems.append("control released (" + ("handed back by an operator" if self.held_by_operator else "cameras lost") + ")")
        down = [c for c, up in self.health.up.items() if not up]
        if down:
            problems.append(f"cameras out: {', '.join(sorted(down))}")
        not_engine = [tls for tls, up in self._controller_up.items() if not up]
        if not_engine or not self._controller_up:
            problems.append(f"controllers not under control: {', '.join(sorted(not_engine)) or 'no status yet'}")
        return not problems, "; ".join(problems) or "ok"

    # -- run --------------------------------------------------------------------------------
    def run(self, until: Callable[[], bool] = lambda: False) -> None:
        """Step every ``step_s`` until :attr:`stop_event` is set or ``until()`` is true."""
        next_t = self.clock.now_s()
        while not self.stop_event.is_set() and not until():
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                if self.on_reload is not None:
                    self.on_reload()
            self.step()
            next_t += self.settings.step_s
            advance = getattr(self.world, "advance", None)
            if advance is not None:
                try:
                    advance(self.settings.step_s)
                except Exception:
                    log.exception("simulated world failed; stopping")
                    break
            now = self.clock.now_s()
            if now > next_t + self.settings.step_s:  # far behind: do not race to catch up
                next_t = now
            self.clock.sleep_until(next_t)

    def shutdown(self) -> None:
        """Release the controllers, flush the state; bounded in time (SIGTERM: within 5 s)."""
        now = self.clock.now_s()
        self.notifier.stopping()
        self.metrics.set("phasewise_up", 0.0)
        self._close_backend()
        self.decisions.write({"t": now, "event": "stop"})
        self._persist(now)
        self.store.put("estimator", pickle.dumps(self.policy.estimator))
        self.store.close(now)
        self.cameras.close()
        closer = threading.Thread(target=self.strategic.close, daemon=True)
        closer.start()
        closer.join(1.0)
