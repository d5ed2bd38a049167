"""The daemon's loop and fallbacks, in process: fake cameras and controller, stepped clock."""

from __future__ import annotations

import dataclasses
import pickle
import sqlite3
import time

import numpy as np
import pytest

from controllers.adaptive_policy import AdaptiveConfig, AdaptivePolicy
from controllers.backend import PhaseCommand, SignalStatus
from daemon.clock import SteppedClock, SystemClock
from daemon.loop import Daemon, DaemonSettings
from daemon.prometheus import Metrics
from daemon.store import StateStore
from daemon.strategic import StrategicWorker
from controllers.gate import GateDecision
from counting.camera_frame import CameraFrame, CameraLayout, PedestrianCall
from optimizer.intersection import Crossing, IntersectionModel, Movement, Phase, SignalLink
from optimizer.plan import TimingPlan
from phasewise_errors import ControllerError

START_S = 1_800_000_000.0  # a 15-min boundary


def cross_model() -> IntersectionModel:
    links = (SignalLink(0, "n_0", "s_0", "n", "through"), SignalLink(1, "e_0", "w_0", "e", "through"))
    movements = (Movement("n:through", "n", "through", (0,), ("n_0",), ("s",)),
                 Movement("e:through", "e", "through", (1,), ("e_0",), ("w",)))
    phases = (Phase(0, "Gr", 30.0, 5.0, 60.0), Phase(1, "rG", 30.0, 5.0, 60.0))
    return IntersectionModel("X", links, movements, phases, yellow_s=3.0, all_red_s=2.0, program_cycle_s=70.0)


LAYOUTS = {
    "n": CameraLayout("n", ("n_0",), ("n:through",), ((True,),)),
    "e": CameraLayout("e", ("e_0",), ("e:through",), ((True,),)),
}


class FakeCameras:
    """Each camera sees one vehicle cross every step unless it is down."""

    layouts = LAYOUTS

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.delivered = 0

    def read(self, now_s: float) -> dict[str, CameraFrame]:
        out = {}
        for cam in LAYOUTS:
            if cam in self.down:
                continue
            out[cam] = CameraFrame(now_s, cam, True, np.array([2]), np.array([1]), np.array([7.0]), np.array([True]),
                                   crossing_lane=np.array([0]), crossing_movement=np.array([0]),
                                   crossing_class=np.array([2]), arrival_s=np.array([np.inf]),
                                   head_stopped=np.array([False]))
            self.delivered += 1
        return out

    def close(self) -> None:
        pass


class FakeBackend:
    """Records what reaches the controller; ``unreachable`` makes status raise."""

    instances: list[FakeBackend] = []

    def __init__(self) -> None:
        self.commands: list[PhaseCommand] = []
        self.plans: list[TimingPlan] = []
        self.closed = False
        self.unreachable = False
        self.green_s = 0.0
        FakeBackend.instances.append(self)

    def status(self) -> dict[str, SignalStatus]:
        if self.unreachable:
            raise ControllerError("X: no answer")
        self.green_s += 1.0
        return {"X": SignalStatus("X", 0, self.green_s, None, "engine")}

    def command(self, commands: list[PhaseCommand]) -> None:
        assert not self.closed, "a command after release"
        self.commands += commands

    def apply(self, plan: TimingPlan) -> None:
        self.plans.append(plan)

    def close(self) -> None:
        self.closed = True


class SlowGate:
    def __init__(self, wait_s: float, switch: bool = True) -> None:
        self.wait_s, self.switch = wait_s, switch

    def evaluate(self, current, candidate, demand, queues_veh, now_s=0.0) -> GateDecision:  # type: ignore[no-untyped-def]
        time.sleep(self.wait_s)
        return GateDecision(self.switch, "test")

    def close(self) -> None:
        pass


def make_daemon(tmp_path, gate=None, settings=DaemonSettings(release_after_s=5, recover_after_s=10),  # type: ignore[no-untyped-def]
                replan_s: float = 1e9, clock=None, cameras=None, model=None):
    FakeBackend.instances.clear()
    clock = clock or SteppedClock(START_S, speed=0)
    metrics = Metrics()
    store = StateStore(tmp_path / "state", metrics)
    policy = AdaptivePolicy({"X": model or cross_model()}, LAYOUTS, clock.now_s(), AdaptiveConfig(replan_s=replan_s, use_gate=False),
                            strategic_inline=False)
    daemon = Daemon(policy, cameras or FakeCameras(), FakeBackend, StrategicWorker(policy.candidate_plan, gate, settings.strategic_deadline_s),
                    store, clock, metrics, settings)
    daemon.start()
    return daemon


def run_steps(daemon: Daemon, n: int) -> None:
    for _ in range(n):
        daemon.step()
        advance = getattr(daemon.clock, "advance", None)
        if advance is not None:
            advance(1.0)


def test_one_camera_lost_runs_plan_greens_on_its_approach_and_comes_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = make_daemon(tmp_path)
    run_steps(d, 3)
    assert d.ready()[0]
    d.cameras.down = {"e"}  # type: ignore[attr-defined]
    run_steps(d, 6)
    assert not d.health.up["e"] and d.health.up["n"]
    assert "e" in d.policy.report().camera_outages  # the policy saw its outage frames (ok=False)
    assert d.metrics.get("phasewise_camera_up", camera="e") == 0.0
    assert d.metrics.get("phasewise_camera_faults_total", camera="e", reason="stale") >= 1
    assert not d.released and not d.ready()[0]
    d.cameras.down = set()  # type: ignore[attr-defined]
    run_steps(d, 1)
    assert d.health.up["e"] and d.ready()[0]


def test_pedestrian_calls_of_a_camera_up_reach_the_controller_and_its_outage_calls_nowhere(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Camera n sees a person waiting at crossing 2 (walk with phase 1, not green): a
    ``ped_call`` on phase 1 each step while n is up; n out (stale), no call from it (the
    controller's pedestrian recall serves the crossing), and the waiting metric drops to 0."""
    model = dataclasses.replace(cross_model(), phases=(Phase(0, "Grr", 30.0, 5.0, 60.0), Phase(1, "rGG", 30.0, 5.0, 60.0)),
                                crossings=(Crossing(2, ":X_c0", 10.0),))

    class WaitingAtN(FakeCameras):
        def read(self, now_s: float) -> dict[str, CameraFrame]:
            out = super().read(now_s)
            if "n" in out:
                out["n"] = dataclasses.replace(out["n"], pedestrians=(PedestrianCall("X", 2, 1, 4.0),))
            return out

    d = make_daemon(tmp_path, cameras=WaitingAtN(), model=model)
    run_steps(d, 3)
    backend = FakeBackend.instances[-1]
    assert PhaseCommand("X", "ped_call", 1) in backend.commands[-2:]
    assert d.metrics.get("phasewise_pedestrians_waiting", tls="X", crossing="2") == 1.0
    d.cameras.down = {"n"}  # type: ignore[attr-defined]
    run_steps(d, 4)  # stale after 3 s: outage frames from then on
    assert not d.health.up["n"]
    sent = len(backend.commands)
    run_steps(d, 3)
    assert backend.commands[sent:] and not [c for c in backend.commands[sent:] if c.kind == "ped_call"]
    assert d.metrics.get("phasewise_pedestrians_waiting", tls="X", crossing="2") == 0.0


def test_all_cameras_lost_hands_control_back_until_detection_is_stable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = make_daemon(tmp_path)
    run_steps(d, 3)
    first = FakeBackend.instances[-1]
    d.cameras.down = {"n", "e"}  # type: ignore[attr-defined]
    run_steps(d, 3 + 5 + 1)  # stale after 3 s, released after 5 s more
    assert d.released and first.closed and d.backend is None
    assert d.metrics.get("phasewise_control_releases_total") == 1
    sent = len(first.commands)
    run_steps(d, 5)
    assert len(first.commands) == sent  # nothing sent while released
    d.cameras.down = set()  # type: ignore[attr-defined]
    run_steps(d, 5)
    assert d.released  # not yet stable for recover_after_s
    d.cameras.down = {"n", "e"}  # type: ignore[attr-defined]  # a flap restarts the wait
    run_steps(d, 4)
    run_steps(d, 1)
    d.cameras.down = {"e"}  # type: ignore[attr-defined]  # one camera broken for good does not keep control away
    run_steps(d, 12)
    assert not d.released and d.backend is FakeBackend.instances[-1] and len(FakeBackend.instances) == 2
    assert d.metrics.get("phasewise_control_released") == 0.0 and not d.ready()[0]  # e still out


def test_controller_unreachable_never_crashes_and_resumes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = make_daemon(tmp_path)
    run_steps(d, 2)
    backend = FakeBackend.instances[-1]
    backend.unreachable = True
    run_steps(d, 5)
    assert d.metrics.get("phasewise_controller_up", tls="X") == 0.0
    assert d.metrics.get("phasewise_controller_errors_total", kind="status") == 5
    assert d.metrics.get("phasewise_step_errors_total") == 0 and not d.ready()[0]
    backend.unreachable = False
    run_steps(d, 1)
    assert d.metrics.get("phasewise_controller_up", tls="X") == 1.0 and d.ready()[0]


def test_gate_timeout_keeps_the_running_plan_and_never_blocks_the_loop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = DaemonSettings(strategic_deadline_s=0.3)
    # the deadline is wall time here: the stepped clock runs as fast as possible
    d = make_daemon(tmp_path, gate=SlowGate(wait_s=1.5), settings=settings, replan_s=5.0)
    d.strategic._monotonic = time.monotonic
    running = d.policy.plan
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        run_steps(d, 1)
        time.sleep(0.02)
    assert d.metrics.get("phasewise_gate_decisions_total", result="timeout") >= 1
    assert d.policy.plan is running and not FakeBackend.instances[-1].plans
    assert max(d.step_seconds) < 0.2  # the gate's 1.5 s never ran on the loop


def test_a_plan_the_gate_accepts_reaches_the_controller_and_is_stored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = make_daemon(tmp_path, gate=SlowGate(wait_s=0.0), replan_s=5.0)
    for _ in range(50):
        run_steps(d, 1)
        time.sleep(0.005)
        if FakeBackend.instances[-1].plans:
            break
    plan = FakeBackend.instances[-1].plans[-1]
    run_steps(d, 1)  # the controller's answer is taken at the next step: then the plan is adopted
    assert d.policy.plan is plan and d.metrics.get("phasewise_gate_decisions_total", result="switch") == 1
    assert d.store.get("running_plan").decode() == plan.to_json()  # type: ignore[union-attr]


def test_restart_restores_plan_learning_and_counts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = make_daemon(tmp_path, gate=SlowGate(wait_s=0.0), replan_s=5.0)
    for _ in range(60):
        run_steps(d, 1)
        time.sleep(0.005)
        if FakeBackend.instances[-1].plans:
            break
    run_steps(d, 70)  # past a save of the learnt state
    plan_json = d.policy.plan.to_json()
    shares = d.policy.estimator.lane_turn_shares("n").copy()
    tactical = pickle.loads(d.store.get("turn_counts"))  # the policy's own counts as last saved
    delivered = d.cameras.delivered  # type: ignore[attr-defined]
    d.store._db.close()  # as after kill -9: no shutdown, only what was committed
    clock = SteppedClock(d.clock.now_s() + 30.0, speed=0)
    again = make_daemon(tmp_path, clock=clock)
    assert again.metrics.get("phasewise_state_restored") == 1.0
    assert again.restored["plan"].startswith("pending")  # in force once the controllers accept it
    np.testing.assert_allclose(again.policy.estimator.lane_turn_shares("n"), shares)
    for tls, by_camera in tactical.items():  # the policy's own turning counts too
        for cam, counts in by_camera.items():
            np.testing.assert_allclose(again.policy.nodes[tls].turn_counts[cam], counts)
    assert sum(again.store.counts().values()) == delivered  # every counted crossing kept
    for _ in range(20):
        run_steps(again, 1)
        if again.restored["plan"].startswith("applied"):
            break
        time.sleep(0.01)
    assert again.policy.plan.to_json() == plan_json
    assert FakeBackend.instances[-1].plans and FakeBackend.instances[-1].plans[0].to_json() == plan_json  # re-sent


def test_disk_full_keeps_counts_in_memory_and_writes_them_later(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = make_daemon(tmp_path)
    run_steps(d, 3)
    real = d.store._db

    class Full:
        def execute(self, sql: str, *args: object) -> object:
            if sql in ("BEGIN",) or sql.startswith("UPDATE") or sql.startswith("INSERT"):
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

        def executemany(self, *args: object) -> object:
            raise sqlite3.OperationalError("database or disk is full")

    d.store._db = Full()  # type: ignore[assignment]
    run_steps(d, 10)
    assert d.metrics.get("phasewise_state_write_errors_total", kind="state") == 10
    assert d.metrics.get("phasewise_step_errors_total") == 0
    d.store._db = real
    run_steps(d, 1)
    committed = sum(n for (n,) in real.execute("SELECT count FROM counts"))
    assert committed == d.cameras.delivered  # type: ignore[attr-defined]


def test_a_wall_clock_jump_is_reported_once_and_the_timeline_stays_monotonic(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = {"wall": START_S, "mono": 100.0}
    clock = SystemClock(wall=lambda: t["wall"], monotonic=lambda: t["mono"], sleep=lambda s: None)

    def tick() -> None:
        t["wall"] += 1.0
        t["mono"] += 1.0

    d = make_daemon(tmp_path, clock=clock)
    times = []
    for k in range(10):
        if k == 4:
            t["wall"] -= 3600.0  # NTP steps the clock back an hour
        times.append(clock.now_s())
        d.step()
        tick()
    assert d.metrics.get("phasewise_clock_jumps_total") == 1
    assert np.all(np.diff(times) == 1.0)
    assert d.metrics.get("phasewise_step_errors_total") == 0
    assert sum(d.store.counts().values()) == d.cameras.delivered  # type: ignore[attr-defined]


def test_corrupt_state_file_is_moved_aside_and_a_fresh_one_started(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.sqlite").write_bytes(b"this is not a database" * 100)
    store = StateStore(state, Metrics())
    assert store.recovered_from_corruption
    assert list(state.glob("state.sqlite.corrupt-*"))
    store.put("k", "v")
    assert store.commit(0.0) and store.get("k") == b"v"


def test_closed_bins_are_exported_once_as_csv(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = StateStore(tmp_path, Metrics())
    store.add_crossings(START_S + 10, "n", ("n_0",), np.array([0, 0]), np.array([2, 7]))
    store.add_crossings(START_S + 950, "n", ("n_0",), np.array([0]), np.array([2]))
    store.commit(START_S + 950)
    files = store.export_closed_bins(START_S + 950)
    assert len(files) == 1 and files[0].read_text().count("\n") == 3  # header + car + truck
    assert store.export_closed_bins(START_S + 960) == []


def test_metrics_render_in_prometheus_text_format() -> None:
    m = Metrics()
    m.inc("phasewise_gate_decisions_total", result="keep")
    m.set("phasewise_camera_up", 1, camera='J1"n')
    m.observe("phasewise_step_seconds", 0.03)
    text = m.render()
    assert '# TYPE phasewise_gate_decisions_total counter' in text
    assert 'phasewise_camera_up{camera="J1\\"n"} 1' in text
    assert 'phasewise_step_seconds_bucket{le="0.05"} 1' in text and "phasewise_step_seconds_count 1" in text


@pytest.mark.parametrize("env,expected", [({}, ""), ({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "2000000"}, "\0x")])
def test_notifier_reads_systemd_environment(env, expected) -> None:  # type: ignore[no-untyped-def]
    from daemon.notify import Notifier

    n = Notifier(env)
    assert n.address == expected
    assert n.watchdog_interval_s == (1.0 if env else 0.0)


def test_notifier_sends_ready_and_watchdog_datagrams(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket

    from daemon.notify import Notifier

    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"})
        n.ready("ok")
        n.watchdog()
        n.watchdog()  # within half the interval: not sent again
        n.stopping()
        sock.settimeout(1.0)
        got = [sock.recv(100).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=ok", "WATCHDOG=1", "STOPPING=1"]


def test_a_failing_stream_is_reopened_with_backoff_and_unread_crossings_are_kept() -> None:
    from daemon.cameras import StreamCameraSource

    opened = []

    def open_stream():  # type: ignore[no-untyped-def]
        opened.append(time.monotonic())
        cams = FakeCameras()
        for k in range(3):
            yield {"n": cams.read(float(k))["n"]}
        if len(opened) < 3:
            raise ConnectionError("RTSP session lost")
        while True:  # the third connection stays up
            time.sleep(0.01)
            yield {}

    metrics = Metrics()
    source = StreamCameraSource("s1", {"n": LAYOUTS["n"]}, open_stream, metrics, backoff_s=0.05)
    try:
        deadline = time.monotonic() + 5
        while len(opened) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        frame = source.read(0.0)["n"]
    finally:
        source.close()
    assert metrics.get("phasewise_camera_reconnects_total", stream="s1") == 2
    assert opened[2] - opened[1] >= 2 * (opened[1] - opened[0]) * 0.5  # the pause grows
    assert frame.crossing_lane.size == 9  # three connections x three frames, none read in between


def test_decisions_log_rotates_and_survives_write_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from daemon.store import JsonlLog

    metrics = Metrics()
    log = JsonlLog(tmp_path / "decisions.jsonl", metrics, max_bytes=200, backups=2)
    for k in range(20):
        log.write({"event": "plan", "k": k})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["decisions.jsonl", "decisions.jsonl.1", "decisions.jsonl.2"]
    assert all(p.stat().st_size <= 200 for p in tmp_path.iterdir())
    bad = JsonlLog(tmp_path / "missing-dir" / "d.jsonl", metrics)
    bad.write({"event": "x"})  # the folder is gone: counted, not raised
    assert metrics.get("phasewise_state_write_errors_total", kind="decisions") == 1


def test_failing_steps_fail_safe_then_control_comes_back(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    d = make_daemon(tmp_path)
    run_steps(d, 3)
    first = FakeBackend.instances[-1]
    assert d.alive()[0] and d.ready()[0]
    real_step = d.policy.step

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyError("J1")  # what a plan for part of the site did to every step

    monkeypatch.setattr(d.policy, "step", broken)
    run_steps(d, 2)
    assert d.alive()[0] and not d.ready()[0] and "steps failing" in d.ready()[1]  # two: not yet fail safe
    run_steps(d, 1)
    assert not d.alive()[0] and "3 steps failed in a row" in d.alive()[1] and "KeyError" in d.alive()[1]
    assert d.released and first.closed and d.metrics.get("phasewise_failsafe_total") == 1.0
    assert "failsafe" in d.release_reasons and d.metrics.get("phasewise_step_errors_total") == 3.0
    committed = d.store.committed_total()
    run_steps(d, 3)
    assert d.store.committed_total() > committed  # counts are still committed while steps fail
    monkeypatch.setattr(d.policy, "step", real_step)
    run_steps(d, 1)
    assert d.alive()[0] and d.released  # good again, not yet for recover_after_s
    run_steps(d, 10)
    assert not d.released and d.backend is FakeBackend.instances[-1] and not FakeBackend.instances[-1].closed
    run_steps(d, 1)
    assert d.ready() == (True, "ok")


def test_a_plan_the_controller_refuses_is_not_adopted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from controllers.adaptive_policy import program_plan
    from phasewise_errors import PlanError

    d = make_daemon(tmp_path)
    run_steps(d, 2)
    running = d.policy.plan
    program = program_plan({"X": cross_model()})
    longer = TimingPlan({"X": dataclasses.replace(program.intersections["X"], phases=tuple(
        dataclasses.replace(p, green_s=p.green_s + 5) for p in program.intersections["X"].phases),
        cycle_s=program.intersections["X"].cycle_s + 10)}, "test")

    def refuse(plan):  # type: ignore[no-untyped-def]
        raise ControllerError("X: will not switch")

    def outcome(plan: TimingPlan) -> str:
        pending = d.apply_plan(plan, "test")
        for _ in range(10):
            if pending.result is not None:
                return pending.result
            run_steps(d, 1)  # the loop steps on while the controllers answer
        raise AssertionError("no outcome")

    d.backend.apply = refuse  # type: ignore[union-attr,method-assign]
    assert "refused by the controllers" in outcome(longer) and d.policy.plan is running
    assert d.metrics.get("phasewise_plans_applied_total") == 0.0
    assert "refused by the plan validator" in outcome(TimingPlan({}, "empty"))
    del d.backend.apply  # type: ignore[union-attr]
    assert outcome(longer) == "" and d.policy.plan is longer
    assert d.metrics.get("phasewise_plans_applied_total") == 1.0
    assert isinstance(PlanError("x"), Exception)


def test_a_hand_back_holds_across_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = make_daemon(tmp_path)
    run_steps(d, 2)
    d.hand_back(d.clock.now_s(), "operator alice")
    assert d.released and FakeBackend.instances[-1].closed
    d.store.close(d.clock.now_s())  # a crash after the hand-back: what was committed is all there is
    again = make_daemon(tmp_path)
    assert again.held_by_operator and again.released and again.backend is None and not FakeBackend.instances
    assert again.restored["hand_back"]["by"] == "operator alice"
    run_steps(again, 40)
    assert again.released  # cameras up all along: an operator's hand-back is not the cameras'
    again.take_back(again.clock.now_s(), "operator bob")
    assert not again.released and again.backend is not None
    again.store.close(again.clock.now_s())
    third = make_daemon(tmp_path)
    assert not third.released and third.restored["hand_back"] is None


def test_counts_that_cannot_be_written_at_stop_are_logged_with_their_values(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    d = make_daemon(tmp_path)
    run_steps(d, 3)

    class FullDisk:
        def __init__(self, db):  # type: ignore[no-untyped-def]
            self.db = db

        def execute(self, sql, *args):  # type: ignore[no-untyped-def]
            if sql.startswith(("BEGIN", "INSERT")):
                raise sqlite3.OperationalError("database or disk is full")
            return self.db.execute(sql, *args)

        def executemany(self, sql, *args):  # type: ignore[no-untyped-def]
            raise sqlite3.OperationalError("database or disk is full")

        def close(self) -> None:
            self.db.close()

    d.store._db = FullDisk(d.store._db)  # type: ignore[assignment]
    run_steps(d, 2)
    assert d.store.staged_vehicles == 4 and "state not written" in d.ready()[1]
    d.shutdown()
    lost = [r for r in caplog.records if "counted but not written" in r.getMessage()]
    assert lost and lost[0].levelname == "ERROR" and '"n", "n_0", 2, 2' in lost[0].getMessage()


def test_a_plan_sent_while_another_is_on_its_way_follows_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from controllers.adaptive_policy import program_plan

    d = make_daemon(tmp_path)
    run_steps(d, 2)
    program = program_plan({"X": cross_model()})
    longer = TimingPlan({"X": dataclasses.replace(program.intersections["X"], phases=tuple(
        dataclasses.replace(p, green_s=p.green_s + 5) for p in program.intersections["X"].phases),
        cycle_s=program.intersections["X"].cycle_s + 10)}, "longer")
    backend = FakeBackend.instances[-1]
    real_apply = backend.apply

    def slow(plan):  # type: ignore[no-untyped-def]
        time.sleep(0.3)  # a cabinet's download and verify take seconds
        real_apply(plan)

    backend.apply = slow  # type: ignore[method-assign]
    first, second = d.apply_plan(program, "operator a"), d.apply_plan(longer, "operator b")
    for _ in range(100):
        run_steps(d, 1)
        if second.result is not None:
            break
        time.sleep(0.01)
    assert (first.result, second.result) == ("", "")
    assert [p.created_by for p in backend.plans] == ["network program", "longer"] and d.policy.plan is longer
    assert max(d.step_seconds) < 0.2  # the downloads never ran on the loop


class LockedCameras(FakeCameras):
    """Both approaches hold a queue whose first vehicle stands at the line, and nothing
    crosses: whatever is green does not discharge (a full exit or a blocked box)."""

    def read(self, now_s: float) -> dict[str, CameraFrame]:
        return {cam: CameraFrame(now_s, cam, True, np.array([6]), np.array([6]), np.array([40.0]), np.array([True]),
                                 arrival_s=np.array([np.inf]), head_stopped=np.array([True]))
                for cam in LAYOUTS}


def test_a_lock_is_counted_once_in_the_gridlocks_metric(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = make_daemon(tmp_path, cameras=LockedCameras())
    run_steps(d, 20)
    assert d.metrics.get("phasewise_gridlocks_total") == 0.0  # not yet: a lock takes 30 s to recognise
    run_steps(d, 60)
    assert d.metrics.get("phasewise_gridlocks_total") == 1.0  # one lock, however long it lasts
    assert "phasewise_gridlocks_total 1" in d.metrics.render()
    d.shutdown()


def test_a_lasting_lock_is_an_alarm_on_the_dashboard(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from daemon.view import DaemonView

    d = make_daemon(tmp_path, cameras=LockedCameras())
    view = DaemonView("test", d)
    for _ in range(80):
        d.step()
        view.after_step(d.clock.now_s(), {}, {})
        d.clock.advance(1.0)  # type: ignore[attr-defined]
    alarms = [a for a in view.snapshot().alarms if a.kind == "gridlock"]
    assert len(alarms) == 1 and alarms[0].subject == "X" and alarms[0].active and "gridlock at intersection X" in alarms[0].text
    d.shutdown()
