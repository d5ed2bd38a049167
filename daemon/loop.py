"""The tactical loop of ``phasewise run`` and its fallbacks (see the package docstring).

:class:`Daemon` wires the ports; :meth:`Daemon.step` is one second of control and never
raises: every failure is logged, counted in the metrics, and handled by a fallback:

===============================  ========================================================
fault                            what the daemon does
===============================  ========================================================
one camera stale / implausible   an outage frame: its approach runs plan greens (policy) and
                                 its crosswalks call nowhere (the controller's pedestrian recall)
camera stream fails              reopened with backoff (``cameras.StreamCameraSource``)
every camera out ``release_after_s``  control handed back: ``backend.close()`` releases the
                                 controller to its own schedule (standby pattern); taken
                                 back once cameras are up again for ``recover_after_s``
controller unreachable           its status is ``unknown``, commands dropped; one 0.3 s try per
                                 request, none more inside the step, again after growing
                                 pauses (``controller_link``, ``NtcipBackend``); the plan it
                                 missed is re-sent
plan refused (validator, safety  the running plan stays: a plan must cover every intersection
layer or a controller)           of the site; every cabinet gets it or none keeps it (the ones
                                 already switched are switched back); the policy adopts a plan
                                 only once the controllers accepted it
steps fail (a bug, a bad state)  counted; after ``failsafe_after_steps`` in a row control is
                                 handed back to the controllers' own schedule (fail safe),
                                 ``/healthz`` and ``/readyz`` say 503 and why; taken back after
                                 ``recover_after_s`` of good steps
optimizer/gate fails or hangs    the running plan stays (``strategic.StrategicWorker``)
state write fails (disk full)    kept in memory, retried every step (``store``)
wall clock jumps                 reported; the timeline stays monotonic (``clock``)
the daemon dies                  the controller reverts after ``unitBackupTime`` on its own;
                                 a restart restores the plan, an operator's hand-back, learnt
                                 shares and counts, and its start record says which
===============================  ========================================================
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import pickle
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from controllers.adaptive_policy import AdaptivePolicy
from controllers.backend import PhaseCommand, SignalBackend, SignalStatus
from counting.camera_frame import CameraFrame, PedestrianCall, PriorityCall
from daemon.cameras import CameraHealth, CameraSource
from daemon.clock import Clock
from daemon.field_priority import FieldCalls, PolledSource
from daemon.notify import Notifier
from daemon.prometheus import Metrics
from daemon.snapshot import ActionResult, PriorityState, RequestPriority
from daemon.store import JsonlLog, StateStore
from daemon.strategic import StrategicOutcome, StrategicWorker
from optimizer.plan import TimingPlan, validate
from phasewise_errors import PhasewiseError, PlanError

log = logging.getLogger(__name__)

PRIORITY_GRACE_S = 15.0  # an API priority call holds this long past the vehicle's ETA
NOMINAL_APPROACH_M_S = 12.0  # turns an API call's ETA into a distance (orders calls only)


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
    months must not keep every bin). ``failsafe_after_steps``: this many failed steps in a row
    and control goes back to the controllers' own schedule (and the probes fail): a daemon
    that cannot step must not keep the cabinets under commands it no longer computes.
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
    failsafe_after_steps: int = 3


def layouts_fingerprint(layouts: Mapping[str, object]) -> str:
    return hashlib.sha256(repr(sorted((k, repr(v)) for k, v in layouts.items())).encode()).hexdigest()[:16]


APPLY_WAIT_AT_STOP_S = 2.0  # a plan being downloaded at SIGTERM: its controllers' answer is awaited this long


class PendingApply:
    """A plan on its way to the controllers (downloaded, verified, switched on the apply
    thread: seconds, while the loop keeps its 1 s step). ``result`` is None while under way,
    then '' when every controller runs it, else why not."""

    def __init__(self, plan: TimingPlan, reason: str, on_done: Callable[[str], None] | None = None) -> None:
        self.plan, self.reason, self.on_done = plan, reason, on_done
        self.result: str | None = None
        self.future: Future[None] | None = None

    def resolve(self, result: str) -> None:
        self.result = result
        if self.on_done is not None:
            self.on_done(result)


class Daemon:
    """One site: cameras -> policy -> safety layer -> backend, with state, metrics, fallbacks.

    Control is with the daemon unless something released it; each cause is a reason of its
    own (``cameras``: every camera out; ``operator``: handed back on the dashboard, kept across
    restarts; ``failsafe``: steps failing), and control is taken again only once none is left.
    """

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
        priority_sources: Sequence[PolledSource] = (),
    ) -> None:
        self.policy, self.cameras, self.backend_factory = policy, cameras, backend_factory
        self.strategic, self.store, self.clock, self.metrics = strategic, store, clock, metrics
        self.settings = settings
        self.decisions = decisions or JsonlLog(store.dir / "decisions.jsonl", metrics)
        self.notifier = notifier or Notifier({})
        self.world = world  # SilWorld in software in the loop: advanced after each step
        self.health = CameraHealth(cameras.layouts, metrics, settings.camera_stale_s)
        self.models = {tls: node.model for tls, node in policy.nodes.items()}
        self.backend: SignalBackend | None = None
        self._release_reasons: dict[str, str] = {}  # cause -> what the decisions log said
        self._all_down_since: float | None = None
        self._detection_since: float | None = None
        self._status: dict[str, SignalStatus] = {tls: SignalStatus(tls, 0, 0.0, None, "unknown") for tls in policy.nodes}
        self._controller_up: dict[str, bool] = {}
        self._running_plan_json = ""
        self._restart_plan: TimingPlan | None = None  # restored, in force once a controller accepts it
        self._next_restart_try_s = 0.0
        self._priority: dict[str, tuple[RequestPriority, float, float]] = {}  # call id -> (request, due, since)
        self._priority_seq = 0
        self._ped_waiting: dict[tuple[str, int], int] = {}  # (tls, crossing) -> persons waiting last step
        # the field's own priority calls: preempt inputs over NTCIP, buses of a GTFS-realtime feed
        self.field_calls = FieldCalls(priority_sources, self.decisions.write, metrics)
        self.restored: dict[str, Any] = {}
        self._failed_steps = 0
        self._last_error = ""
        self._good_since: float | None = None
        self._frames: Mapping = {}
        self._applying: PendingApply | None = None
        self._apply_queue: collections.deque[PendingApply] = collections.deque()
        self._close_after_apply = False
        self._apply_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apply")
        self._next_save_s = self._next_export_s = clock.now_s()
        self.last_step_wall = self.last_good_step_wall = time.monotonic()
        self.step_seconds: collections.deque[float] = collections.deque(maxlen=3600)  # the last hour, for tests
        self.stop_event = threading.Event()
        self.reload_requested = threading.Event()
        self.on_reload: Callable[[], None] | None = None
        self._fingerprint = layouts_fingerprint(cameras.layouts)
        # the dashboard's side (daemon.view): it runs queued operator actions and publishes a
        # snapshot after each step, also after a step that failed
        self.view: Any = None
        self.strategic_listeners: list[Callable[[float, StrategicOutcome], None]] = []

    @property
    def released(self) -> bool:
        """Control is with the controllers' own schedule (for any reason)."""
        return bool(self._release_reasons)

    @property
    def plan_in_force(self) -> TimingPlan:
        """The plan the daemon holds in force: the policy's, except while control is handed
        back after a restart, when it is the restored plan, sent once control is taken again
        (the policy meanwhile keeps the network's program, which no controller is asked to run)."""
        if self.released and self._restart_plan is not None:
            return self._restart_plan
        return self.policy.plan

    @property
    def held_by_operator(self) -> bool:
        return "operator" in self._release_reasons

    @property
    def release_reasons(self) -> dict[str, str]:
        return dict(self._release_reasons)

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        """Restore what was learnt, the plan in force and an operator's hand-back, then take
        control (unless handed back). The start record says what was restored and what not."""
        self.restored = self._restore()
        self.metrics.set("phasewise_state_restored", float(self.restored["plan"] != "none" or self.restored["learning"]))
        self.metrics.set("phasewise_up", 1.0)
        self.field_calls.start()  # polled on their own threads from now on
        for counter in ("phasewise_control_releases_total", "phasewise_step_errors_total", "phasewise_clock_jumps_total",
                        "phasewise_plans_applied_total", "phasewise_vehicles_counted_total",
                        "phasewise_step_deadline_missed_total", "phasewise_commands_refused_total",
                        "phasewise_failsafe_total"):
            self.metrics.inc(counter, 0.0)  # exported from the start: a scraper sees 0, not nothing
        self.metrics.set("phasewise_control_released", float(self.released))
        self.metrics.set("phasewise_steps_failing", 0.0)
        if self.released:
            log.warning("control stays with the controllers' own schedule: %s", "; ".join(self._release_reasons.values()))
        else:
            self._connect()
        self.notifier.ready(f"controlling {len(self.policy.nodes)} intersections" if not self.released
                            else "control handed back by an operator")
        unwatched = self.policy.unwatched
        for tls, approaches in unwatched.items():
            log.warning("intersection %s: no camera watches %s; its phases run their plan greens", tls,
                        ", ".join(approaches))
        self.decisions.write({"t": self.clock.now_s(), "event": "start", "restored": self.restored,
                              "plan": self.policy.plan.created_by,
                              "unwatched": {tls: list(a) for tls, a in unwatched.items()}})

    def _restore(self) -> dict[str, Any]:
        """What survives a restart; returns the record of what was restored and what was not."""
        record: dict[str, Any] = {"plan": "none", "hand_back": None, "learning": False,
                                  "counts": self.store.committed_total()}
        raw = self.store.get("running_plan")
        if raw:
            try:
                plan = TimingPlan.from_json(raw.decode("utf-8", errors="replace"))
                validate(plan, self.models, complete=True)
                self._restart_plan = plan
                record["plan"] = f"pending: {plan.created_by}"
            except PhasewiseError as exc:  # a stored plan from another site or version
                record["plan"] = f"refused: {exc}"
                log.error("stored running plan not restored (%s); starting from the network's program", exc)
        hold = self.store.get("operator_hand_back")
        if hold:
            try:
                who = json.loads(hold.decode())
                self._release_reasons["operator"] = f"handed back by {who['by']} (before the restart)"
                record["hand_back"] = who
            except (ValueError, KeyError, TypeError) as exc:
                # unreadable: the safe reading of a hand-back record is that it holds
                self._release_reasons["operator"] = "handed back (record unreadable)"
                record["hand_back"] = {"by": "unknown", "error": repr(exc)}
        blob, fingerprint = self.store.get("estimator"), self.store.get("estimator_layouts")
        if blob and fingerprint and fingerprint.decode() == self._fingerprint:
            try:
                estimator = pickle.loads(blob)
                counts = self.store.get("turn_counts")
                for tls, by_camera in (pickle.loads(counts) if counts else {}).items():
                    node = self.policy.nodes[tls]
                    node.turn_counts = by_camera
                    node.shares = node.phase_lane_shares()
                self.policy.estimator = estimator
                record["learning"] = True
                log.info("restored the learnt turning shares, saturation flows and rates")
            except Exception as exc:
                log.error("stored learnt state unusable (%r); learning again", exc)
        return record

    def _connect(self) -> None:
        try:
            self.backend = self.backend_factory()
        except PhasewiseError as exc:
            log.error("controller backend could not start (%s); retrying next step", exc)
            self.metrics.inc("phasewise_controller_errors_total", kind="start")
            self.backend = None
            return
        if self._restart_plan is None and self._running_plan_json:
            self._restart_plan = self.policy.plan  # taken again after a release: make sure it runs
        self._send_restart_plan(self.clock.now_s())

    def _send_restart_plan(self, now: float) -> None:
        """The plan in force before a restart or release goes to the controllers; until they
        accept it (all of them), the policy keeps the bounds of the plan they do run."""
        plan = self._restart_plan
        if plan is None or self.backend is None or self.released or self._applying is not None:
            return

        def done(why: str) -> None:
            if why:
                self._next_restart_try_s = self.clock.now_s() + 10.0
                self.restored["plan"] = f"pending: {plan.created_by} ({why})"
            elif self._restart_plan is plan:
                self._restart_plan = None
                self.restored["plan"] = f"applied: {plan.created_by}"

        self._next_restart_try_s = now + 10.0
        self._start_apply(PendingApply(plan, "restart", done))

    # -- one step ---------------------------------------------------------------------------
    def step(self) -> None:
        """One second of control; never raises. A step that raises is counted, and after
        ``failsafe_after_steps`` in a row control is handed back (fail safe). The dashboard's
        actions and the state commit run whatever the step did."""
        started = time.perf_counter()
        now = self.clock.now_s()
        try:
            self._step(now)
        except Exception as exc:  # a bug must not stop the signals' supervision; counted, and fail safe
            log.exception("step at %.0f failed", now)
            self.metrics.inc("phasewise_step_errors_total")
            self._step_failed(now, exc)
        else:
            self._step_succeeded(now)
        if self.view is not None:
            self.view.after_step(now, self._frames, dict(self._status))
        try:
            self._persist(now)
        except Exception:
            log.exception("state at %.0f not saved; retried next step", now)
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

    def _step_failed(self, now: float, exc: BaseException) -> None:
        self._failed_steps += 1
        self._good_since = None
        self._last_error = f"{type(exc).__name__}: {exc}"[:300]
        self.metrics.set("phasewise_steps_failing", float(self._failed_steps))
        if self._failed_steps >= self.settings.failsafe_after_steps and "failsafe" not in self._release_reasons:
            log.error("%d steps failed in a row (last: %s): control handed back to the controllers' own schedule",
                      self._failed_steps, self._last_error)
            self.metrics.inc("phasewise_failsafe_total")
            self._release(now, "failsafe", f"{self._failed_steps} steps failed in a row: {self._last_error}")

    def _step_succeeded(self, now: float) -> None:
        if self._failed_steps:
            log.warning("steps succeed again after %d failures", self._failed_steps)
        self._failed_steps = 0
        self.metrics.set("phasewise_steps_failing", 0.0)
        self.last_good_step_wall = time.monotonic()
        if "failsafe" in self._release_reasons:
            self._good_since = now if self._good_since is None else self._good_since
            if now - self._good_since >= self.settings.recover_after_s:
                self._unrelease(now, "failsafe", f"steps good for {self.settings.recover_after_s:.0f} s")

    def _step(self, now: float) -> None:
        self._poll_apply()
        jump = self.clock.wall_jump_s()
        if abs(jump) > self.settings.clock_jump_s:
            self.metrics.inc("phasewise_clock_jumps_total")
            log.warning("wall clock moved %+.0f s against the timeline; keeping the timeline until restart", jump)
            acknowledge = getattr(self.clock, "acknowledge_jump", None)
            if acknowledge is not None:
                acknowledge()
        frames = self.health.frames(now, self._read_cameras(now))
        self._frames = frames
        for cam, frame in frames.items():
            if frame.ok and frame.crossing_lane.size:
                layout = self.cameras.layouts[cam]
                self.store.add_crossings(now, cam, layout.lanes, frame.crossing_lane, frame.crossing_class)
                self.store.add_movements(now, cam, layout.movements, frame.crossing_movement)
        self._fallback(now)
        status = self._read_status()
        if self._restart_plan is not None and now >= self._next_restart_try_s:
            self._send_restart_plan(now)
        commands = self.policy.step(now, self.settings.step_s, frames, status, self._priority_calls(now),
                                    self._pedestrian_calls(frames))
        if self.backend is not None and not self.released and self._applying is None:
            self._send([c for c in commands if isinstance(c, PhaseCommand)])
        if self.policy.replan_due is not None:  # a request while the worker is busy is skipped
            self.strategic.submit(self.policy.replan_due)
            self.policy.replan_due = None
        outcome = self.strategic.poll()
        if outcome is not None:
            self._strategic(outcome, now)
        self._metrics(frames)

    def _pedestrian_calls(self, frames: Mapping[str, CameraFrame]) -> list[PedestrianCall]:
        """The persons waiting at crossings that the cameras up this step see (an outage frame
        calls nowhere: the controller's pedestrian recall serves the crossing meanwhile); the
        number waiting per crossing is exported (``phasewise_pedestrians_waiting``)."""
        calls = [call for frame in frames.values() if frame.ok for call in frame.pedestrians]
        waiting: dict[tuple[str, int], int] = {}
        for call in calls:
            waiting[call.tls_id, call.crossing] = waiting.get((call.tls_id, call.crossing), 0) + call.waiting
        for key in self._ped_waiting.keys() | waiting.keys():
            self.metrics.set("phasewise_pedestrians_waiting", float(waiting.get(key, 0)), tls=key[0], crossing=str(key[1]))
        self._ped_waiting = waiting
        return calls

    def _read_cameras(self, now: float) -> Mapping:
        try:
            return self.cameras.read(now)
        except Exception as exc:
            log.error("camera source failed (%r): every camera out this step", exc)
            return {}

    # -- fallbacks and control --------------------------------------------------------------
    def _fallback(self, now: float) -> None:
        s = self.settings
        if not any(self.health.up.values()):
            self._detection_since = None
            self._all_down_since = self._all_down_since if self._all_down_since is not None else now
            if "cameras" not in self._release_reasons and now - self._all_down_since >= s.release_after_s:
                log.warning("every camera out for %.0f s: control handed back to the controllers' own schedule",
                            now - self._all_down_since)
                self._release(now, "cameras", "all cameras out")
        else:
            # detection is back when some camera has stayed up (one camera broken for good
            # must not keep the whole site on the controller's schedule)
            self._all_down_since = None
            self._detection_since = self._detection_since if self._detection_since is not None else now
            if "cameras" in self._release_reasons and now - self._detection_since >= s.recover_after_s:
                self._unrelease(now, "cameras", f"cameras back and stable for {s.recover_after_s:.0f} s")
        if self.backend is None and not self.released:
            self._connect()

    def _release(self, now: float, cause: str, why: str) -> None:
        """Hand control back to the controllers' own schedule for ``cause`` (until it ends)."""
        first = not self.released
        self._release_reasons[cause] = why
        self.decisions.write({"t": now, "event": "release", "cause": cause, "reason": why})
        if first:
            self.metrics.inc("phasewise_control_releases_total")
            self.metrics.set("phasewise_control_released", 1.0)
            if self._applying is not None:
                self._close_after_apply = True  # the apply thread uses the backend: closed when it is done
            else:
                self._close_backend()

    def _unrelease(self, now: float, cause: str, why: str) -> None:
        """``cause`` has ended; control is taken again once no other cause holds it."""
        if self._release_reasons.pop(cause, None) is None:
            return
        self.decisions.write({"t": now, "event": "release-ended", "cause": cause, "reason": why})
        if not self.released:
            log.warning("%s: taking control again", why)
            self.metrics.set("phasewise_control_released", 0.0)
            self.decisions.write({"t": now, "event": "resume"})
            self._connect()

    def request_priority(self, now: float, request: RequestPriority) -> ActionResult:
        """An operator's (or a dispatch system's) priority call for a vehicle due at an
        approach in ``eta_s``; it holds until then plus ``PRIORITY_GRACE_S``."""
        model = self.models.get(request.tls)
        if model is None:
            return ActionResult(False, f"no intersection {request.tls!r} here (have {', '.join(sorted(self.models))})")
        if request.approach not in model.approaches:
            return ActionResult(False, f"{request.tls} has no approach {request.approach!r} "
                                       f"(its approaches: {', '.join(model.approaches)})")
        switch = {"emergency": ("preemption", "emergency preemption"), "bus": ("transit_priority", "transit priority")}
        knob, what = switch.get(request.vehicle_class, (None, ""))
        if knob is not None and not getattr(self.policy.config, knob, True):
            return ActionResult(False, f"{what} is off at this site (policy.{knob}: false in its config)")
        self._priority_seq += 1
        call_id = f"api-{self._priority_seq}"
        self._priority[call_id] = (request, now + request.eta_s, now)
        self.decisions.write({"t": now, "event": "priority", "id": call_id, "tls": request.tls,
                              "approach": request.approach, "eta_s": request.eta_s,
                              "class": request.vehicle_class, "by": request.who})
        return ActionResult(True, f"{call_id}: {request.vehicle_class} due at {request.tls} from {request.approach} "
                                  f"in {request.eta_s:g} s; its phase is served until {PRIORITY_GRACE_S:g} s after")

    def _priority_calls(self, now: float) -> list[PriorityCall]:
        """The API's priority calls still due (their distance is the time left at
        ``NOMINAL_APPROACH_M_S``: it only orders two calls at one intersection), and the field
        sources' calls in force (``daemon.field_priority``)."""
        for call_id, (_, due_s, _) in list(self._priority.items()):
            if now > due_s + PRIORITY_GRACE_S:
                del self._priority[call_id]
        api = [PriorityCall(r.tls, r.approach, None, max(due_s - now, 0.0) * NOMINAL_APPROACH_M_S, r.vehicle_class,
                            call_id) for call_id, (r, due_s, _) in self._priority.items()]
        return api + self.field_calls.update(now)

    def priority_in_force(self, now: float) -> list[PriorityState]:
        """The priority calls the policy serves now, the API's and the field sources', oldest
        first (what the dashboard lists)."""
        api = [PriorityState(call_id, r.tls, r.approach, r.vehicle_class, r.who, since_s, max(due_s - now, 0.0))
               for call_id, (r, due_s, since_s) in self._priority.items()]
        field = [PriorityState(call.call_id, call.tls, call.approach, call.vehicle_class, call.by, since_s, call.eta_s)
                 for call, since_s in self.field_calls.in_force()]
        return sorted(api + field, key=lambda p: p.since_s)

    def hand_back(self, now: float, who: str) -> None:
        """An operator hands control back to the controllers' own schedule until
        :meth:`take_back`; the hand-back is stored at once and holds across restarts."""
        self.store.put("operator_hand_back", json.dumps({"by": who, "t": now}))
        self.store.commit(now)
        self.decisions.write({"t": now, "event": "hand-back", "by": who})
        self._release(now, "operator", f"handed back by {who}")

    def take_back(self, now: float, who: str) -> None:
        """End an operator's hand-back; control resumes now unless another cause holds it."""
        self.store.put("operator_hand_back", "")
        self.store.commit(now)
        self.decisions.write({"t": now, "event": "take-back", "by": who})
        self._unrelease(now, "operator", f"taken back by {who}")

    @property
    def controller_up(self) -> dict[str, bool]:
        """Per intersection: its controller answers and runs under central control."""
        return dict(self._controller_up)

    def _close_backend(self) -> None:
        backend, self.backend = self.backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception as exc:
                log.error("releasing the controller failed (%r); it reverts after its backup time", exc)

    # -- controller -------------------------------------------------------------------------
    def _read_status(self) -> dict[str, SignalStatus]:
        """What each signal shows; ``unknown`` when released or unreachable. A controller is
        up (``phasewise_controller_up``) only while it answers and runs under our control."""
        if self._applying is not None:  # the apply thread has the controllers: the last status stands
            return {tls: replace(s, mode="unknown") for tls, s in self._status.items()}
        if self.backend is None or self.released:
            status = {tls: replace(s, mode="unknown") for tls, s in self._status.items()}
        else:
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
            up = s.mode == "engine" and not self.released
            if self._controller_up.get(tls) != up:
                self.decisions.write({"t": self.clock.now_s(), "event": "controller", "tls": tls, "mode": s.mode})
                if not up and s.mode == "unknown" and not self.released:
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

    def _start_apply(self, pending: PendingApply) -> PendingApply:
        """Send ``pending.plan`` (validated for the whole site) to every controller on the apply
        thread; the loop takes the outcome at a later step (:meth:`_poll_apply`). While it is
        under way the loop leaves the controllers to it (no status, no commands: they time on
        their own, as when the daemon is silent) and keeps stepping."""
        if self.backend is None or self.released:
            pending.resolve("control is with the controllers' own schedule: take control first")
        elif self._applying is not None:
            self._apply_queue.append(pending)  # sent when the one under way has its answer
        else:
            self._applying = pending
            pending.future = self._apply_thread.submit(self.backend.apply, pending.plan)
        return pending

    def _poll_apply(self, wait_s: float = 0.0) -> None:
        """Take the outcome of the plan sent to the controllers, if it has come: only a plan
        every controller accepted is adopted by the policy (one way: nothing to revert)."""
        job = self._applying
        if job is None or job.future is None:
            return
        if not job.future.done():
            if wait_s > 0:
                wait_for([job.future], timeout=wait_s)
            if not job.future.done():
                return
        self._applying = None
        exc = job.future.exception() if not job.future.cancelled() else PhasewiseError("cancelled at stop")
        if isinstance(exc, PlanError):
            log.error("plan refused by the safety layer (%s); the running plan stays", exc)
            self.metrics.inc("phasewise_plans_refused_total", by="safety")
            self._apply_ended(job, f"refused by the safety layer: {exc}")
            return
        if exc is not None:  # PhasewiseError from a controller, or a bug in a backend
            log.error("plan refused by the controllers (%s); the running plan stays", exc)
            self.metrics.inc("phasewise_plans_refused_total", by="controller")
            self._apply_ended(job, f"refused by the controllers: {exc}")
            return
        plan = job.plan
        self.policy.adopt(plan)  # one way: the tactical bounds follow a plan the controllers run
        self.metrics.inc("phasewise_plans_applied_total")
        self._running_plan_json = plan.to_json()
        self.store.put("running_plan", self._running_plan_json)
        self.decisions.write({"t": self.clock.now_s(), "event": "plan", "reason": job.reason,
                              "created_by": plan.created_by,
                              "cycle_s": {tls: ip.cycle_s for tls, ip in plan.intersections.items()}})
        self._apply_ended(job, "")

    def _apply_ended(self, job: PendingApply, result: str) -> None:
        if self._close_after_apply:
            self._close_after_apply = False
            self._close_backend()
        job.resolve(result)
        if self._apply_queue:
            self._start_apply(self._apply_queue.popleft())

    def apply_plan(self, plan: TimingPlan, reason: str, on_done: Callable[[str], None] | None = None) -> PendingApply:
        """Put ``plan`` in force (an operator's choice). The plan validator (the whole site)
        and the safety layer judge it like every plan; the result comes when the controllers
        answered (:class:`PendingApply`: '' when every one runs it, else why not, and then the
        running plan stays)."""
        def done(why: str) -> None:
            if not why and self._restart_plan is not None:
                self._restart_plan = None  # an operator's plan supersedes one waiting from before a restart
            if on_done is not None:
                on_done(f"{why}; the running plan stays" if why else "")

        pending = PendingApply(plan, reason, done)
        try:
            validate(plan, self.models, complete=True)
        except PlanError as exc:
            self.metrics.inc("phasewise_plans_refused_total", by="validator")
            pending.resolve(f"refused by the plan validator: {exc}")
            return pending
        return self._start_apply(pending)

    def _strategic(self, outcome: StrategicOutcome, now: float) -> None:
        decision = outcome.decision
        self.metrics.inc("phasewise_gate_decisions_total", result=outcome.status)
        for listener in self.strategic_listeners:
            listener(now, outcome)
        self.decisions.write({
            "t": now, "event": "strategic", "requested_t": outcome.request.time_s, "result": outcome.status,
            "detail": outcome.detail, "wall_s": round(outcome.wall_s, 3),
            "wall_budget_s": self.strategic.wall_budget_s,
            "improvement": None if decision is None else decision.improvement,
            "p_value": None if decision is None else decision.p_value,
        })
        if outcome.candidate is None:
            return  # no candidate, timeout or error: the running plan stays
        self.store.put("candidate_plan", outcome.candidate.to_json())
        command = self.policy.consider(outcome.request, outcome.candidate, decision)
        if command is None:
            return
        try:
            validate(command.plan, self.models, complete=True)
        except PlanError as exc:
            log.error("the strategic layer's plan is not valid for the site (%s); the running plan stays", exc)
            self.metrics.inc("phasewise_plans_refused_total", by="validator")
            return
        if self._restart_plan is None:
            self._start_apply(PendingApply(command.plan, "gate"))

    # -- bookkeeping ------------------------------------------------------------------------
    def _metrics(self, frames: Mapping) -> None:
        for tls, node in self.policy.nodes.items():
            queue = sum(float(np.sum(frames[lay.camera_id].stopped)) for lay in node.layouts if frames[lay.camera_id].ok)
            self.metrics.set("phasewise_queue_vehicles", queue, tls=tls)
            self.metrics.set("phasewise_plan_cycle_seconds", self.policy.plan.intersections[tls].cycle_s, tls=tls)
        report = self.policy.report()
        self.metrics.set("phasewise_gridlocks_total", float(report.gridlocks))
        self.metrics.set("phasewise_preemptions_total", float(report.preemptions))
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
        staged = self.store.staged_vehicles
        self.store.put("clock_s", repr(now))
        if self.store.commit(now):
            self.metrics.inc("phasewise_vehicles_counted_total", staged)
        if now >= self._next_export_s:
            self._next_export_s = now + self.settings.export_every_s
            self.store.export_closed_bins(now)

    # -- probes -----------------------------------------------------------------------------
    def alive(self) -> tuple[bool, str]:
        """``/healthz``: the loop steps, and its steps succeed (a loop that runs but fails
        every step is not alive: it controls nothing)."""
        quiet = time.monotonic() - self.last_step_wall
        if quiet >= self.settings.alive_s:
            return False, f"last step {quiet:.1f} s ago"
        if self._failed_steps >= self.settings.failsafe_after_steps:
            return False, f"{self._failed_steps} steps failed in a row (last: {self._last_error})"
        good = time.monotonic() - self.last_good_step_wall
        if good >= self.settings.alive_s:
            return False, f"no step succeeded for {good:.0f} s (last error: {self._last_error})"
        return True, f"last step {quiet:.1f} s ago"

    def ready(self) -> tuple[bool, str]:
        """``/readyz``: the site is under control as configured; else each failing part named."""
        ok, why = self.alive()
        problems = [] if ok else [why]
        if self._failed_steps and ok:
            problems.append(f"steps failing ({self._failed_steps} in a row, last: {self._last_error})")
        if self.released:
            problems.append("control released (" + "; ".join(self._release_reasons.values()) + ")")
        if self._restart_plan is not None:
            problems.append(f"the plan in force before the restart is not yet accepted by the controllers "
                            f"({self.restored.get('plan', '')})")
        down = [c for c, up in self.health.up.items() if not up]
        if down:
            problems.append(f"cameras out: {', '.join(sorted(down))}")
        not_engine = [tls for tls, up in self._controller_up.items() if not up]
        if (not_engine or not self._controller_up) and not self.released:
            problems.append(f"controllers not under control: {', '.join(sorted(not_engine)) or 'no status yet'}")
        failing = self.store.failing_s(time.monotonic())
        if failing is not None:
            problems.append(f"state not written for {failing:.0f} s (counts kept in memory)")
        return not problems, "; ".join(problems) or "ok"

    # -- run --------------------------------------------------------------------------------
    def run(self, until: Callable[[], bool] = lambda: False) -> None:
        """Step every ``step_s`` until :attr:`stop_event` is set or ``until()`` is true."""
        next_t = self.clock.now_s()
        while not self.stop_event.is_set() and not until():
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                if self.on_reload is not None:
                    try:
                        self.on_reload()
                    except Exception:  # a reload never stops the daemon: the running config stays
                        log.exception("config reload failed; keeping the running config")
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
            if not self.stop_event.is_set():
                self.clock.sleep_until(next_t)

    def shutdown(self) -> None:
        """Release the controllers, flush the state; bounded in time (SIGTERM: within 5 s)."""
        now = self.clock.now_s()
        self.notifier.stopping()
        self.metrics.set("phasewise_up", 0.0)
        self.strategic.abandon()  # a running gate call is not awaited
        self.field_calls.stop()
        if self._applying is not None:  # a plan being downloaded: its answer, briefly
            self._poll_apply(wait_s=APPLY_WAIT_AT_STOP_S)
        self._close_backend()
        self._apply_thread.shutdown(wait=False, cancel_futures=True)
        self.decisions.write({"t": now, "event": "stop"})
        try:
            self._persist(now)
            self.store.put("estimator", pickle.dumps(self.policy.estimator))
        except Exception:
            log.exception("state not staged at stop")
        lost = self.store.close(now)
        if lost:
            log.error("stopping with %d vehicles counted but not written (state write failing); their counts "
                      "by bin, camera, lane and class: %s", sum(lost.values()),
                      json.dumps([[*k, n] for k, n in sorted(lost.items())]))
        self.cameras.close()
