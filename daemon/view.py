"""What the daemon shows and what it accepts from people: the read side and the command queue
behind the dashboard and HTTP API (``phasewise/web``).

The tactical loop calls :meth:`DaemonView.after_step` once per step. It

* runs the operator actions queued since the last step (apply a plan, hand control back to
  the controller, take it again, acknowledge an alarm) -- on the loop's own thread, so no
  lock is held around the daemon and nothing an HTTP request does can block a step; a plan
  goes through the daemon's ``_apply``, i.e. through the safety layer (``SafeBackend``)
  like every plan;
* publishes a frozen :class:`SiteSnapshot` (intersections with live phase and queues per
  lane, camera health, counts per movement and 15-min bin, the plan in force and the
  candidates, the gate's decisions with their evidence, alarms, health) by swapping one
  reference, which the HTTP threads read without waiting.

HTTP threads call :meth:`DaemonView.submit`, which queues the action and waits (in the HTTP
thread) for the loop to run it, up to ``timeout_s``.

Example (what ``phasewise/cmd_run.py`` wires)::

    view = DaemonView("sil-corridor", daemon, net_file)
    daemon.view = view                    # the loop calls view.after_step(...)
    view.snapshot().intersections[0].queue_veh
    view.submit(ApplyPlan("program", who="alice"))   # -> ActionResult(ok=True, ...)
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import math
import queue
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from controllers.backend import SignalStatus
from counting.camera_frame import CameraFrame
from daemon.snapshot import (
    AcknowledgeAlarm, Action, ActionResult, Alarm, ApplyPlan, CameraState, GateRecord, HandBack, Health,
    IntersectionState, LaneState, MovementCount, PhaseState, PlanInfo, RequestPriority, SiteSnapshot, TakeControl,
    plan_info,
)
from daemon.store import UNASSIGNED
from optimizer.plan import TimingPlan, validate
from phasewise_errors import PhasewiseError

if TYPE_CHECKING:
    from daemon.loop import Daemon

log = logging.getLogger(__name__)

COUNT_BIN_S = 900.0  # the 15-min bins traffic engineers count in (same as the store's CSVs)
COUNT_BINS_KEPT = 96  # one day of bins in memory for the page; the store keeps everything
GATE_RECORDS_KEPT = 200
PROPOSED_KEPT = 20
ALARM_AFTER_S = 10.0  # a condition is an alarm once it has lasted this long (start-up, one-step glitches are not)
MAX_TRANSITION_CYCLES = 50  # a check reports 'more than this' rather than looping on


Deferred = Callable[[], "ActionResult | None"]
"""An action's outcome still to come: called on each drain, None until it has come."""


@dataclass
class _Ticket:
    """A queued action: ``state`` goes queued -> running (the loop took it) or queued ->
    cancelled (its caller stopped waiting: it must then never run)."""

    action: Action
    done: threading.Event = field(default_factory=threading.Event)
    result: ActionResult | None = None
    state: str = "queued"
    lock: threading.Lock = field(default_factory=threading.Lock)


class ActionQueue:
    """Actions from HTTP threads, run by the loop's thread (:meth:`drain`, never waiting).

    :meth:`submit` waits for the result up to ``timeout_s``; an action the loop has not taken
    by then is withdrawn (its caller was told it did not happen, so it never runs later).

        actions = ActionQueue(timeout_s=10)
        actions.submit(HandBack("alice"))                  # HTTP thread: waits
        actions.drain(lambda action: ActionResult(True, "done"))   # loop thread, each step
    """

    def __init__(self, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._queue: queue.SimpleQueue[_Ticket] = queue.SimpleQueue()
        self._deferred: list[tuple[_Ticket, Deferred]] = []

    def submit(self, action: Action) -> ActionResult:
        ticket = _Ticket(action)
        self._queue.put(ticket)
        if not ticket.done.wait(self.timeout_s):
            with ticket.lock:
                if ticket.state == "queued":  # not taken: withdrawn, so that it cannot happen unannounced later
                    ticket.state = "cancelled"
                    return ActionResult(False, f"not done: the daemon's loop did not take the action within "
                                               f"{self.timeout_s:g} s")
            if not ticket.done.wait(self.timeout_s):
                return ActionResult(False, "still running after the wait; see decisions.jsonl for its outcome")
        assert ticket.result is not None
        return ticket.result

    def drain(self, run: Callable[[Action], ActionResult | Deferred]) -> int:
        """Run every action queued and not withdrawn; returns how many ran. An action whose
        outcome comes later (a :class:`Deferred`: a plan on its way to the controllers) is
        answered on the drain after its outcome came."""
        for ticket, deferred in list(self._deferred):
            result = deferred()
            if result is not None:
                self._deferred.remove((ticket, deferred))
                ticket.result = result
                ticket.done.set()
        ran = 0
        while True:
            try:
                ticket = self._queue.get_nowait()
            except queue.Empty:
                return ran
            with ticket.lock:
                if ticket.state == "cancelled":
                    continue
                ticket.state = "running"
            try:
                outcome = run(ticket.action)
            except Exception as exc:  # a bug in one action must not lose the others
                log.exception("operator action %r failed", ticket.action)
                outcome = ActionResult(False, f"failed: {exc!r}")
            ran += 1
            if isinstance(outcome, ActionResult):
                ticket.result = outcome
                ticket.done.set()
            else:
                self._deferred.append((ticket, outcome))


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class DaemonView:
    """The daemon's read interface and command queue (module docstring)."""

    def __init__(self, site: str, daemon: Daemon, net_file: Path | None = None, max_change_per_cycle: float = 0.2,
                 timeout_s: float = 10.0) -> None:
        self.site, self.daemon, self.net_file = site, daemon, net_file
        self.max_change_per_cycle = max_change_per_cycle
        self.live = True
        self.actions = ActionQueue(timeout_s)
        self._snapshot = SiteSnapshot(site, True, daemon.clock.now_s(), 0)
        self._seq = 0
        self._counts: dict[tuple[float, str, str], int] = {}
        self._gate: collections.deque[GateRecord] = collections.deque(maxlen=GATE_RECORDS_KEPT)
        self._proposed: dict[str, TimingPlan] = {}
        self._proposed_n = 0
        self._alarms: dict[tuple[str, str], Alarm] = {}
        self._alarm_n = 0
        self._condition_since: dict[tuple[str, str], float] = {}
        self._program: TimingPlan | None = None
        # the strategic layer's last candidate: kept here (from the listener, on the loop's
        # thread) so that HTTP threads never touch the store's SQLite connection
        raw = daemon.store.get("candidate_plan")
        self._candidate: TimingPlan | None = None
        if raw:
            try:
                self._candidate = TimingPlan.from_json(raw.decode())
            except PhasewiseError as exc:
                log.warning("stored candidate plan unusable (%s)", exc)
        self._lock = threading.Lock()  # guards proposals (HTTP threads)
        self._render_lock = threading.Lock()  # one render at a time (seconds: never under _lock)
        self._renders: dict[str, bytes] = {}
        self._links: Any = None
        models = daemon.policy.nodes
        self._tls_of_camera = {lay.camera_id: tls for tls, node in models.items() for lay in node.layouts}
        self._movements = {lay.camera_id: lay.movements for node in models.values() for lay in node.layouts}
        daemon.strategic_listeners.append(self._on_strategic)
        self._load_counts()

    def _load_counts(self) -> None:
        """The last day's movement counts from the state database (they survive restarts)."""
        from daemon.store import read_movement_counts

        now = self.daemon.clock.now_s()
        since = math.floor(now / COUNT_BIN_S) * COUNT_BIN_S - COUNT_BIN_S * (COUNT_BINS_KEPT - 1)
        for b, cam, movement, n in read_movement_counts(self.daemon.store.path, since):
            self._counts[(b, cam, movement)] = self._counts.get((b, cam, movement), 0) + n

    def counts_csv(self) -> str:
        """Every movement count in the state database, as the dashboard's export (CSV):
        ``bin_start_s,bin_s,tls,movement,count`` (what was committed; at most a step behind)."""
        from daemon.store import read_movement_counts

        rows = ["bin_start_s,bin_s,tls,movement,count"]
        rows += [f"{b:.0f},{COUNT_BIN_S:.0f},{self._tls_of_camera.get(cam, '')},{movement},{n}"
                 for b, cam, movement, n in read_movement_counts(self.daemon.store.path)]
        return "\n".join(rows) + "\n"

    # -- HTTP side ---------------------------------------------------------------------------
    def snapshot(self) -> SiteSnapshot:
        return self._snapshot

    def submit(self, action: Action) -> ActionResult:
        """Queue ``action`` for the loop and wait for its result (in the caller's thread)."""
        return self.actions.submit(action)

    def propose(self, plan: TimingPlan) -> PlanInfo:
        """An engineer's plan, validated against the site's intersections, listed as
        ``proposed-N`` for an operator to apply."""
        validate(plan, self.daemon.models, complete=True)
        with self._lock:
            self._proposed_n += 1
            plan_id = f"proposed-{self._proposed_n}"
            self._proposed[plan_id] = plan
            while len(self._proposed) > PROPOSED_KEPT:
                self._proposed.pop(next(iter(self._proposed)))
        return plan_info(plan, plan_id, "engineer")

    def check(self, plan: TimingPlan) -> ActionResult:
        """The checks a plan must pass before the controller gets it: the plan validator
        (conflicts, min/max greens, clearances, cycle sum) and the safety layer's rules
        against the plan in force (same phase sequence; reached by steps of at most
        ``max_change_per_cycle`` per cycle: how many cycles that takes is reported)."""
        from controllers.safety import limit_change

        running = self.daemon.policy.plan.intersections
        cycles = 0
        try:
            validate(plan, self.daemon.models, complete=True)
            for tls, target in plan.intersections.items():
                step, n = running[tls], 0
                while step != target and n < MAX_TRANSITION_CYCLES:
                    step, n = limit_change(step, target, self.max_change_per_cycle), n + 1
                cycles = max(cycles, n)
        except PhasewiseError as exc:
            return ActionResult(False, str(exc))
        return ActionResult(True, f"valid for this site; the safety layer reaches it in {cycles} cycle(s) "
                                  f"(cycle and splits move at most {self.max_change_per_cycle:.0%} per cycle)")

    def plan(self, plan_id: str) -> TimingPlan | None:
        daemon = self.daemon
        if plan_id == "running":
            return daemon.plan_in_force
        if plan_id == "program":
            if self._program is None:
                from controllers.adaptive_policy import program_plan

                self._program = program_plan({tls: n.model for tls, n in daemon.policy.nodes.items()})
            return self._program
        if plan_id == "candidate":
            return self._candidate
        with self._lock:
            return self._proposed.get(plan_id)

    def time_space_png(self, plan_id: str) -> bytes | None:
        """The optimizer's time-space diagram of a plan (``optimizer.time_space``), cached."""
        plan = self.plan(plan_id)
        if plan is None or self.net_file is None:
            return None
        key = hashlib.sha256(plan.to_json().encode()).hexdigest()
        with self._render_lock:
            if key not in self._renders:
                from optimizer.corridor_network import find_links
                from optimizer.time_space import plot_time_space

                if self._links is None:
                    models = {tls: n.model for tls, n in self.daemon.policy.nodes.items()}
                    self._links = tuple(find_links(self.net_file, models))
                with tempfile.TemporaryDirectory(prefix="phasewise-ts-") as tmp:
                    path = plot_time_space(plan, self._links, Path(tmp) / "time_space.png")
                    self._renders = {key: path.read_bytes()}  # one kept: plans change rarely
            return self._renders[key]

    def thumbnail(self, camera: str) -> bytes | None:
        """The camera's last annotated frame as JPEG, when its source gives frames."""
        last_image = getattr(self.daemon.cameras, "last_image", None)
        return last_image(camera) if last_image is not None else None

    # -- loop side ---------------------------------------------------------------------------
    def after_step(self, now_s: float, frames: Mapping[str, CameraFrame], status: Mapping[str, SignalStatus]) -> None:
        """Run the queued actions, then publish the step's snapshot. Never raises."""
        try:
            self.actions.drain(lambda action: self._run(action, now_s))
            self._count(now_s, frames)
            self._update_alarms(now_s)
            self._snapshot = self._build(now_s, frames, status)
        except Exception:
            log.exception("dashboard view failed at %.0f; the loop goes on", now_s)

    def _run(self, action: Action, now_s: float) -> ActionResult | Deferred:
        daemon = self.daemon
        if isinstance(action, ApplyPlan):
            plan = self.plan(action.plan_id)
            if plan is None:
                return ActionResult(False, f"no plan {action.plan_id!r}")
            outcome: list[str] = []
            daemon.apply_plan(plan, reason=f"operator {action.who} applied {action.plan_id}", on_done=outcome.append)

            def result() -> ActionResult | None:
                if not outcome:
                    return None
                if outcome[0]:
                    return ActionResult(False, f"plan {action.plan_id}: {outcome[0]}")
                return ActionResult(True, f"plan {action.plan_id} ({plan.created_by}) sent to the controllers; every one runs it")
            return result() or result
        if isinstance(action, HandBack):
            if daemon.held_by_operator:
                return ActionResult(True, "control already handed back")
            daemon.hand_back(now_s, f"operator {action.who}")
            return ActionResult(True, "control handed back to the controllers' own schedule")
        if isinstance(action, TakeControl):
            if not daemon.held_by_operator:
                return ActionResult(False, "control was not handed back by an operator")
            daemon.take_back(now_s, f"operator {action.who}")
            still = "; ".join(daemon.release_reasons.values())
            return ActionResult(True, "control taken again" + (f" (still released: {still})" if still else ""))
        if isinstance(action, RequestPriority):
            return daemon.request_priority(now_s, action)
        if isinstance(action, AcknowledgeAlarm):
            for key, alarm in self._alarms.items():
                if alarm.id == action.alarm_id:
                    self._alarms[key] = dataclasses.replace(alarm, acknowledged_by=action.who)
                    if not alarm.active:
                        del self._alarms[key]
                    return ActionResult(True, f"alarm {alarm.id} acknowledged")
            return ActionResult(False, f"no alarm {action.alarm_id}")
        return ActionResult(False, f"unknown action {action!r}")

    def _count(self, now_s: float, frames: Mapping[str, CameraFrame]) -> None:
        start = math.floor(now_s / COUNT_BIN_S) * COUNT_BIN_S
        for cam, frame in frames.items():
            if not frame.ok or not frame.crossing_movement.size:
                continue
            movements = self._movements.get(cam, ())
            ids, n = np.unique(frame.crossing_movement, return_counts=True)
            for m, count in zip(ids.tolist(), n.tolist()):
                key = (start, cam, movements[m] if 0 <= m < len(movements) else UNASSIGNED)
                self._counts[key] = self._counts.get(key, 0) + int(count)
        oldest = start - COUNT_BIN_S * (COUNT_BINS_KEPT - 1)
        if any(k[0] < oldest for k in self._counts):
            self._counts = {k: v for k, v in self._counts.items() if k[0] >= oldest}

    def _on_strategic(self, t_s: float, outcome: Any) -> None:
        if outcome.candidate is not None:
            self._candidate = outcome.candidate
        d = outcome.decision
        self._gate.append(GateRecord(
            t_s, outcome.status, outcome.detail, None if d is None else _finite(d.improvement),
            None if d is None else _finite(d.p_value), round(outcome.wall_s, 3),
            () if d is None else tuple(map(float, d.delay_current_s)),
            () if d is None else tuple(map(float, d.delay_candidate_s))))

    def _update_alarms(self, now_s: float) -> None:
        daemon = self.daemon
        conditions: dict[tuple[str, str], str] = {}
        for cam, up in daemon.health.up.items():
            if not up:
                conditions[("camera", cam)] = f"camera {cam} out: {daemon.health.reason[cam]}"
        for tls, up in daemon.controller_up.items():
            if not up:
                conditions[("controller", tls)] = f"controller {tls} not under central control"
        if daemon.released:
            why = "; ".join(daemon.release_reasons.values())
            conditions[("control", "site")] = f"control handed back to the controllers' own schedule ({why})"
        alive, alive_why = daemon.alive()
        if not alive:
            conditions[("daemon", "site")] = f"the daemon is not healthy: {alive_why}"
        for lock in daemon.policy.report().gridlock_events:
            if lock.end_s is None:  # a lock that lasts: vehicles wait there and none get away
                where = ",".join(lock.members)
                conditions[("gridlock", where)] = (f"gridlock at {lock.scope} {where} since {lock.start_s:.0f} s: "
                                                  "vehicles wait and none get away")
        if daemon.metrics.get("phasewise_monitor_violations_total"):
            conditions[("monitor", "site")] = "conflict monitor reported a violation"
        self._condition_since = {key: self._condition_since.get(key, now_s) for key in conditions}
        for key, text in conditions.items():
            alarm = self._alarms.get(key)
            if (alarm is None or not alarm.active) and now_s - self._condition_since[key] >= ALARM_AFTER_S:
                self._alarm_n += 1
                self._alarms[key] = Alarm(self._alarm_n, key[0], key[1], text, now_s, True)
        for key, alarm in list(self._alarms.items()):
            if key not in conditions and alarm.active:
                if alarm.acknowledged_by is not None:
                    del self._alarms[key]
                else:
                    self._alarms[key] = dataclasses.replace(alarm, active=False)

    def _build(self, now_s: float, frames: Mapping[str, CameraFrame], status: Mapping[str, SignalStatus]) -> SiteSnapshot:
        daemon = self.daemon
        policy = daemon.policy
        cameras = []
        for cam, layout in daemon.cameras.layouts.items():
            frame = frames.get(cam)
            lanes = tuple(
                LaneState(lane, float(frame.stopped[i]), float(frame.queue_m[i]), float(frame.present[i]))
                if frame is not None and frame.ok else LaneState(lane, 0.0, 0.0, 0.0)
                for i, lane in enumerate(layout.lanes))
            cameras.append(CameraState(cam, self._tls_of_camera.get(cam, ""), bool(daemon.health.up.get(cam)),
                                       daemon.health.reason.get(cam) or "up", lanes,
                                       image=hasattr(daemon.cameras, "last_image")))
        queue_of = collections.defaultdict(float)
        for c in cameras:
            queue_of[c.tls] += c.queue_veh
        intersections = []
        for tls, node in policy.nodes.items():
            s = status.get(tls) or SignalStatus(tls, 0, 0.0, None, "unknown")
            ip = policy.plan.intersections[tls]
            greens = {p.phase: p.green_s for p in ip.phases}
            served = s.next_phase if s.in_clearance else s.phase
            waits = [float(w) for i, w in enumerate(node.waiting_s) if i != served]
            intersections.append(IntersectionState(
                tls, s.phase, round(s.green_s, 1), s.in_clearance, s.next_phase, s.mode, queue_of[tls],
                round(max(waits, default=0.0), 1), ip.cycle_s,
                tuple(PhaseState(p.index, p.movements, greens.get(p.index, 0.0)) for p in node.model.phases),
                tuple(lay.camera_id for lay in node.layouts), node.unwatched))
        counts = tuple(MovementCount(b, COUNT_BIN_S, self._tls_of_camera.get(cam, ""), movement, n)
                       for (b, cam, movement), n in sorted(self._counts.items()))
        plans = [plan_info(self.daemon.plan_in_force, "running", "in force"), plan_info(self.plan("program"), "program", "network")]
        candidate = self.plan("candidate")
        if candidate is not None:
            plans.append(plan_info(candidate, "candidate", "strategic layer"))
        with self._lock:
            plans += [plan_info(p, pid, "engineer") for pid, p in self._proposed.items()]
        alive, alive_why = daemon.alive()
        ready, ready_why = daemon.ready()
        health = Health(alive, alive_why, ready, ready_why, daemon.released, daemon.held_by_operator,
                        int(daemon.metrics.get("phasewise_steps_total")),
                        round(daemon.metrics.get("phasewise_step_seconds_max"), 4))
        self._seq += 1
        return SiteSnapshot(self.site, True, now_s, self._seq, tuple(intersections), tuple(cameras), counts,
                            tuple(plans), tuple(self._gate), tuple(sorted(self._alarms.values(), key=lambda a: a.id)),
                            health, tuple(daemon.priority_in_force(now_s)))
