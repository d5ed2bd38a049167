"""``phasewise run`` as a process: software in the loop with faults injected while it runs.

The daemon drives emulated NTCIP cabinets on loopback (``daemon/sil_world.py``); faults
go through the SIL fault file (a camera stream that stops, the SNMP agent that stops), the
process itself is killed with SIGKILL and restarted, its state file corrupted. The conflict
monitor on the emulated cabinets must never see an unsafe state.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from optimizer.plan import TimingPlan

REPO = Path(__file__).resolve().parents[2]
PHASEWISE = [sys.executable, "-m", "phasewise.cli"]


def write_config(tmp: Path, **extra: str) -> Path:
    lines = {
        "site": "test", "mode": "sil", "speed": "20", "duration_s": "3600",
        "network": '{scenario: "corridor:demand=high,intersections=2"}',
        "gate": "{enabled: false}", "policy": "{replan_s: 60}",
        "fallback": "{camera_stale_s: 3, release_after_s: 5, recover_after_s: 10}",
        "controller": f"{{emulated: {{fault_file: {tmp / 'faults.json'}}}}}",
        "http": "{port: 0}", "state_dir": str(tmp / "state"), "log": "{level: info, format: json}",
    }
    lines.update(extra)
    path = tmp / "site.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
    return path


class Daemon:
    def __init__(self, tmp: Path, config: Path) -> None:
        self.tmp = tmp
        (tmp / "state" / "http.port").unlink(missing_ok=True)
        self.stderr = open(tmp / f"stderr-{time.monotonic_ns()}.log", "w")
        self.proc = subprocess.Popen([*PHASEWISE, "run", "--config", str(config)], cwd=REPO,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        port_file = tmp / "state" / "http.port"
        self.wait(lambda: port_file.exists() and port_file.read_text().strip(), 60, "http port")
        self.url = f"http://127.0.0.1:{port_file.read_text().strip()}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        for line in self.get("/metrics")[1].splitlines():
            key, _, value = line.rpartition(" ")
            if key == want:
                return float(value)
        return float("nan")  # not exported (yet): never equal to an expected value

    def wait(self, condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}) waiting for {what}: {self.log()[-2000:]}")
            try:
                if condition():
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"timeout waiting for {what}: {self.log()[-2000:]}")

    def ready(self) -> bool:
        return self.get("/readyz")[0] == 200

    def fault(self, **faults: object) -> None:
        tmp = self.tmp / "faults.json.tmp"
        tmp.write_text(json.dumps(faults))
        tmp.replace(self.tmp / "faults.json")

    def log(self) -> str:
        self.stderr.flush()
        return Path(self.stderr.name).read_text()

    def terminate(self) -> tuple[float, str]:
        """SIGTERM; returns the seconds until control was released and the state flushed
        (the decisions log's ``stop`` event), and stdout."""
        decisions = self.tmp / "state" / "decisions.jsonl"
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        while '"event":"stop"' not in decisions.read_text() and time.monotonic() - started < 30:
            time.sleep(0.05)
        stopped = time.monotonic() - started
        out, _ = self.proc.communicate(timeout=30)
        return stopped, out

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def committed_counts(state: Path) -> int:
    with sqlite3.connect(state / "state.sqlite") as db:
        return int(db.execute("SELECT COALESCE(SUM(count), 0) FROM counts").fetchone()[0])


def controller_pattern(port: int) -> tuple[int, int]:
    """(coordPatternStatus, that pattern's patternCycleTime) read over SNMP."""
    from controllers.ntcip import oids
    from controllers.ntcip.client import SnmpClient
    from controllers.ntcip.credentials import V2cCredentials

    client = SnmpClient("127.0.0.1", port, V2cCredentials(community="public"))  # type: ignore[arg-type]
    try:
        running = int(client.get([oids.COORD_PATTERN_STATUS.instance()])[oids.COORD_PATTERN_STATUS.instance()])
        cycle = oids.PATTERN_CYCLE_TIME.instance(running)
        return running, int(client.get([cycle])[cycle])
    finally:
        client.close()


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "faults.json").write_text("{}")
    return tmp_path


def test_camera_and_controller_faults_then_graceful_stop(tmp: Path) -> None:
    d = Daemon(tmp, write_config(tmp))
    try:
        d.wait(d.ready, 60, "ready")
        assert d.get("/healthz")[0] == 200
        # one camera stream stops: out, its approach on plan greens, not ready; back: ready
        d.fault(cameras_down=["W_J0"])
        d.wait(lambda: d.metric("phasewise_camera_up", camera="W_J0") == 0.0, 20, "camera out")
        assert d.get("/readyz")[0] == 503 and d.metric("phasewise_control_released") == 0.0
        d.fault()
        d.wait(d.ready, 20, "ready after the camera is back")
        # the SNMP agent stops answering: controller down, daemon alive; back: control again
        d.fault(agent_down=True)
        d.wait(lambda: d.metric("phasewise_controller_up", tls="J0") == 0.0, 20, "controller down")
        assert d.get("/healthz")[0] == 200
        d.fault()
        d.wait(d.ready, 40, "ready after the agent is back")
        # every camera out: control handed back, then taken again once detection is stable
        d.fault(cameras_down=["*"])
        d.wait(lambda: d.metric("phasewise_control_released") == 1.0, 20, "control released")
        d.fault()
        d.wait(lambda: d.metric("phasewise_control_released") == 0.0 and d.ready(), 30, "control resumed")
        assert d.metric("phasewise_control_releases_total") == 1.0
        # SIGHUP reloads the config; a broken config is refused and the daemon keeps running
        config = tmp / "site.yaml"
        good = config.read_text()
        config.write_text(good + "speed: -1\n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait(lambda: "reload refused" in d.log(), 10, "a broken config refused")
        config.write_text(good)
        d.proc.send_signal(signal.SIGHUP)
        d.wait(lambda: "config reloaded" in d.log(), 10, "reload")
        assert d.metric("phasewise_step_errors_total") == 0.0
        assert d.metric("phasewise_monitor_violations_total") == 0.0
        took, out = d.terminate()
    finally:
        if d.proc.poll() is None:
            d.kill()
    assert d.proc.returncode == 0 and took < 5.0  # loop stopped, controllers released, state flushed
    assert "delay s/veh" in out and "conflict-monitor violations: 0" in out
    summary = json.loads((tmp / "state" / "sil-summary.json").read_text())
    assert summary["monitor_violations"] == 0
    stop = [json.loads(line) for line in (tmp / "state" / "decisions.jsonl").read_text().splitlines()]
    events = [e["event"] for e in stop]
    assert events[0] == "start" and "release" in events and "resume" in events and events[-1] == "stop"
    # the hi-res event log of what the cabinets showed, in 15-minute files (the last one at the stop)
    # that the atspm package reads as one log
    from atspm import SignalDataProcessor

    logs = tmp / "state" / "events"
    files = sorted(logs.glob("????-??-??/????.csv"))
    assert files and all(int(f.stem[2:]) % 15 == 0 for f in files)  # HHMM: the bin start
    with SignalDataProcessor(raw_data=str(logs / "????-??-??/????.csv"), detector_config=str(logs / "detectors.csv"),
                             bin_size=15, verbose=0, aggregations=[{"name": "terminations", "params": {}}]) as p:
        p.load()
        p.aggregate()
        (greens,) = p.conn.sql("SELECT COUNT(*) FROM raw_data WHERE EventId = 1").fetchone()
        (ends,) = p.conn.sql("SELECT SUM(Total) FROM terminations").fetchone()
    # each green ends once (a few still green at the stop); how many cycles fit depends on the machine
    assert greens >= 4 and abs(greens - ends) <= 12


def test_kill_9_then_restart_keeps_counts_plan_and_learning(tmp: Path) -> None:
    config = write_config(tmp, speed="0", policy="{replan_s: 30}")
    state = tmp / "state"
    d = Daemon(tmp, config)
    try:
        d.wait(lambda: d.metric("phasewise_plans_applied_total") >= 1 and d.metric("phasewise_vehicles_counted_total") > 20,
               90, "a plan applied and vehicles counted")
        d.wait(lambda: d.metric("phasewise_steps_total") > 100, 30, "a learnt-state save")
        counted = d.metric("phasewise_vehicles_counted_total")
        assert d.metric("phasewise_monitor_violations_total") == 0.0
    finally:
        d.kill()  # SIGKILL: no shutdown code runs
    assert committed_counts(state) >= counted  # nothing counted is lost
    with sqlite3.connect(state / "state.sqlite") as db:
        plan = TimingPlan.from_json(db.execute("SELECT value FROM kv WHERE key = 'running_plan'").fetchone()[0])
    before = committed_counts(state)
    # restarted without re-optimizing, so that the plan checked below can only be the restored one
    again = Daemon(tmp, write_config(tmp, speed="0", policy="{replan_s: 100000}"))
    try:
        again.wait(again.ready, 60, "ready after restart")
        assert again.metric("phasewise_state_restored") == 1.0
        ports = json.loads((state / "sil-ports.json").read_text())
        for tls, ip in plan.intersections.items():  # the plan in force is the stored one, and the controller runs it
            assert again.metric("phasewise_plan_cycle_seconds", tls=tls) == pytest.approx(ip.cycle_s)
            running, cycle_s = controller_pattern(ports[tls])
            assert running in (15, 16) and cycle_s == pytest.approx(ip.cycle_s, abs=1.0)
        again.wait(lambda: committed_counts(state) > before, 30, "counting resumes")
        took, _ = again.terminate()
    finally:
        if again.proc.poll() is None:
            again.kill()
    events = [json.loads(line) for line in (state / "decisions.jsonl").read_text().splitlines()]
    restart = [e for e in events if e["event"] == "plan" and e.get("reason") == "restart"]
    assert restart, "the stored plan was not re-sent to the controller at restart"
    assert not re.search(r'"level": "error"', again.log().split("static baseline")[0].replace("unreachable", ""))


def test_corrupt_state_file_starts_fresh_and_a_gate_timeout_keeps_the_plan(tmp: Path) -> None:
    (tmp / "state").mkdir()
    (tmp / "state" / "state.sqlite").write_bytes(os.urandom(8192))
    # the gate must answer within 50 ms: every evaluation times out and fails closed
    gate = "{enabled: true, seeds: 1, workers: 1, horizon_s: 300, timeout_s: 0.05, deadline_s: 30}"
    d = Daemon(tmp, write_config(tmp, speed="0", gate=gate, policy="{replan_s: 30}"))
    try:
        d.wait(d.ready, 60, "ready")
        assert d.metric("phasewise_state_write_errors_total", kind="corrupt") == 1.0
        assert list((tmp / "state").glob("state.sqlite.corrupt-*"))
        d.wait(lambda: d.metric("phasewise_gate_decisions_total", result="keep") >= 2, 60, "gate decisions")
        assert d.metric("phasewise_plans_applied_total") == 0.0  # the running plan stays
        assert d.ready() and d.metric("phasewise_step_errors_total") == 0.0
        d.terminate()
    finally:
        if d.proc.poll() is None:
            d.kill()


def test_bad_config_names_file_field_and_fix(tmp: Path) -> None:
    config = write_config(tmp, speed="-3")
    done = subprocess.run([*PHASEWISE, "run", "--config", str(config)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{config}: speed:" in done.stderr and "fix:" in done.stderr
    # field controllers whose retries would not fit the 1 s step (daemon/controller_link.py)
    ntcip = ("{ntcip: {controllers: {J0: {host: 127.0.0.1}}, snmp: {community_env: C}, "
             "timeout_s: 0.4, attempts: 3}}")
    streams = "{streams: [{name: w, url: w.mp4, site: w.yaml}]}"
    config = write_config(tmp, mode="field", controller=ntcip, cameras=streams)
    done = subprocess.run([*PHASEWISE, "run", "--config", str(config)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{config}: controller:" in done.stderr and "1.50 s per request" in done.stderr, done.stderr
