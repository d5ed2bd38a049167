"""``phasewise run`` tried as an operator and an attacker would (issue findings, SIL, loopback).

Each test drives the real process: the dashboard API over TCP with bearer tokens, the
emulated cabinets read over SNMP, signals, a second process on the same state dir, a state
database locked by another process, ``kill -9``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.phasewise.test_run_daemon import PHASEWISE, REPO, Daemon, controller_pattern, write_config
from tests.phasewise.web.conftest import TOKENS, Client, tokens_yaml


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "faults.json").write_text("{}")
    return tmp_path


def config(tmp: Path, **extra: str) -> Path:
    http = "\n  port: 0\n  tokens:\n" + tokens_yaml("    ")
    return write_config(tmp, http=http, **extra)


def api(d: Daemon, method: str, path: str, role: str, body: object = None):  # type: ignore[no-untyped-def]
    return Client(int(d.url.rsplit(":", 1)[1])).call(method, path, TOKENS[role], body=body, timeout=30)


def cabinets(tmp: Path) -> dict[str, tuple[int, float | None]]:
    """Per cabinet: the pattern it runs and, for one of the plans phasewise sends (15, 16),
    its cycle (None for free operation)."""
    ports = json.loads((tmp / "state" / "sil-ports.json").read_text())
    out: dict[str, tuple[int, float | None]] = {}
    for tls, port in ports.items():
        pattern = cabinet_control(tmp, tls)[1]
        out[tls] = controller_pattern(port) if pattern in (15, 16) else (pattern, None)
    return out


def running_plan(d: Daemon) -> dict:
    return next(p["plan"] for p in api(d, "GET", "/api/plans", "viewer").json() if p["id"] == "running")


def test_a_plan_for_part_of_the_site_or_with_nan_is_refused_at_the_door(tmp: Path) -> None:
    d = Daemon(tmp, config(tmp, policy="{replan_s: 100000}"))  # plans change only through the API
    try:
        d.wait(d.ready, 60, "ready")
        plan = running_plan(d)
        before = cabinets(tmp)
        part = {**plan, "intersections": plan["intersections"][:1]}  # J0 only
        reply = api(d, "POST", "/api/plans", "engineer", part)
        assert reply.status == 422 and "has no timing for J1" in reply.json()["detail"]
        check = api(d, "POST", "/api/plans/check", "engineer", part).json()
        assert check["ok"] is False and "J1" in check["detail"]
        nan = json.loads(json.dumps(plan))
        nan["intersections"][-1]["phases"][0]["green_s"] = float("nan")  # json.dumps writes NaN
        reply = api(d, "POST", "/api/plans", "engineer", nan)
        assert reply.status == 422 and "not a finite number" in reply.json()["detail"]
        strings = json.loads(json.dumps(plan))
        strings["intersections"][0]["phases"][0]["green_s"] = "30"
        assert api(d, "POST", "/api/plans", "engineer", strings).status == 422
        assert not [p for p in api(d, "GET", "/api/plans", "viewer").json() if p["id"].startswith("proposed")]
        time.sleep(2)
        assert cabinets(tmp) == before and d.get("/healthz")[0] == 200
        assert d.metric("phasewise_step_errors_total") == 0.0
        # the whole running plan, a little longer: proposed, applied, and every cabinet runs it
        longer = json.loads(json.dumps(plan))
        for ip in longer["intersections"]:
            ip["phases"][0]["green_s"] += 4.0
            ip["cycle_s"] += 4.0
        proposed = api(d, "POST", "/api/plans", "engineer", longer).json()["id"]
        reply = api(d, "POST", f"/api/plans/{proposed}/apply", "operator")
        assert reply.status == 200, reply.body
        cycles = {ip["tls_id"]: ip["cycle_s"] for ip in longer["intersections"]}
        d.wait(lambda: all(c is not None and abs(c - cycles[t]) <= 1.0 for t, (_, c) in cabinets(tmp).items()), 30,
               "every cabinet on it")
        assert {ip["tls_id"]: ip["cycle_s"] for ip in running_plan(d)["intersections"]} == cycles
    finally:
        d.kill()


def test_hand_back_survives_kill_9_and_counts_agree_with_the_store_after_restart(tmp: Path) -> None:
    state = tmp / "state"
    d = Daemon(tmp, config(tmp, speed="0", policy="{replan_s: 100000}"))  # plans change only through the API
    try:
        d.wait(lambda: d.ready() and d.metric("phasewise_vehicles_counted_total") > 20, 90, "counting")
        longer = json.loads(json.dumps(running_plan(d)))  # an operator's plan in force before the hand-back
        for ip in longer["intersections"]:
            ip["phases"][0]["green_s"] += 4.0
            ip["cycle_s"] += 4.0
        cycles = {ip["tls_id"]: ip["cycle_s"] for ip in longer["intersections"]}
        proposed = api(d, "POST", "/api/plans", "engineer", longer).json()["id"]
        assert api(d, "POST", f"/api/plans/{proposed}/apply", "operator").status == 200
        d.wait(lambda: {ip["tls_id"]: ip["cycle_s"] for ip in running_plan(d)["intersections"]} == cycles, 30, "applied")
        assert api(d, "POST", "/api/control/hand-back", "operator").status == 200
        # released: no controller is under our control (the next step's status says so)
        d.wait(lambda: d.metric("phasewise_control_released") == 1.0
               and d.metric("phasewise_controller_up", tls="J0") == 0.0, 10, "released")
    finally:
        d.kill()
    again = Daemon(tmp, config(tmp, speed="0", policy="{replan_s: 100000}"))
    try:
        again.wait(lambda: again.metric("phasewise_steps_total") > 40, 60, "steps after restart")
        assert again.metric("phasewise_control_released") == 1.0  # the operator's hand-back still holds
        # the plan in force is still the operator's (sent when control is taken again), not the program
        assert {ip["tls_id"]: ip["cycle_s"] for ip in running_plan(again)["intersections"]} == cycles
        assert all(mode != 2 for mode, _ in [cabinet_control(tmp, tls) for tls in ("J0", "J1")])
        start = [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines() if '"start"' in x][-1]
        assert start["restored"]["hand_back"]["by"] == "operator operator-2"
        assert again.get("/readyz")[0] == 503 and "handed back by operator operator-2" in again.get("/readyz")[1]
        # the dashboard's counts and its export are the store's, also those from before the restart
        with sqlite3.connect(state / "state.sqlite") as db:
            stored = int(db.execute("SELECT SUM(count) FROM movements").fetchone()[0])
            lanes = int(db.execute("SELECT SUM(count) FROM counts").fetchone()[0])
        shown = sum(c["count"] for c in api(again, "GET", "/api/counts", "viewer").json())
        assert stored == lanes and shown >= stored > 20  # shown also has the step not yet committed
        export = api(again, "GET", "/api/export/counts.csv", "engineer").body.decode().splitlines()
        assert export[0] == "bin_start_s,bin_s,tls,movement,count"
        assert sum(int(row.rsplit(",", 1)[1]) for row in export[1:]) >= stored
        assert api(again, "POST", "/api/control/take-back", "operator").status == 200
        again.wait(lambda: again.metric("phasewise_control_released") == 0.0 and again.ready(), 30, "control again")
        again.wait(lambda: all(c is not None and abs(c - cycles[t]) <= 1.0 for t, (_, c) in cabinets(tmp).items()), 30,
                   "every cabinet on the operator's plan again")
        assert {ip["tls_id"]: ip["cycle_s"] for ip in running_plan(again)["intersections"]} == cycles
    finally:
        again.kill()


def cabinet_control(tmp: Path, tls: str) -> tuple[int, int]:
    """(unitControlStatus, coordPatternStatus) of one emulated cabinet."""
    from controllers.ntcip import oids
    from controllers.ntcip.client import SnmpClient
    from controllers.ntcip.credentials import V2cCredentials

    port = json.loads((tmp / "state" / "sil-ports.json").read_text())[tls]
    client = SnmpClient("127.0.0.1", port, V2cCredentials(community="public"))  # type: ignore[arg-type]
    try:
        values = client.get([oids.UNIT_CONTROL_STATUS.instance(), oids.COORD_PATTERN_STATUS.instance()])
        return int(values[oids.UNIT_CONTROL_STATUS.instance()]), int(values[oids.COORD_PATTERN_STATUS.instance()])
    finally:
        client.close()


def test_one_daemon_per_state_dir_and_a_binary_config(tmp: Path) -> None:
    path = config(tmp)
    d = Daemon(tmp, path)
    try:
        d.wait(d.ready, 60, "ready")
        second = subprocess.run([*PHASEWISE, "run", "--config", str(path)], cwd=REPO, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"is in use by another phasewise run (PID {d.proc.pid})" in second.stderr
        # a config that is not UTF-8: refused on SIGHUP (the daemon keeps running) and at start (exit 2)
        good = path.read_bytes()
        path.write_bytes(good + b"# caf\xe9\n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait(lambda: "reload refused" in d.log(), 20, "the reload refused")
        assert "not a UTF-8 text file" in d.log() and d.proc.poll() is None and d.get("/healthz")[0] == 200
        other = tmp / "other.yaml"
        other.write_bytes(good.replace(str(tmp / "state").encode(), str(tmp / "state2").encode()) + b"\xff\xfe")
        done = subprocess.run([*PHASEWISE, "run", "--config", str(other)], cwd=REPO, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2 and "not a UTF-8 text file" in done.stderr and "Traceback" not in done.stderr
    finally:
        d.kill()


def test_a_state_dir_that_cannot_be_written_is_named_not_called_corrupt(tmp: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes read-only files")  # CI runs as root: the lock below covers the path
    (tmp / "state").mkdir()
    sqlite3.connect(tmp / "state" / "state.sqlite").close()
    (tmp / "state" / "state.sqlite").chmod(0o444)
    done = subprocess.run([*PHASEWISE, "run", "--config", str(config(tmp))], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "cannot open the state database for writing" in done.stderr
    assert not list((tmp / "state").glob("*.corrupt-*"))


def test_a_state_database_locked_by_another_process_does_not_slow_the_steps(tmp: Path) -> None:
    d = Daemon(tmp, config(tmp, speed="1"))
    try:
        d.wait(d.ready, 60, "ready")
        before_missed = d.metric("phasewise_step_deadline_missed_total")
        before_steps = d.metric("phasewise_steps_total")
        db = sqlite3.connect(tmp / "state" / "state.sqlite", timeout=5)
        db.execute("BEGIN EXCLUSIVE")  # an engineer's tool holding the file
        d.wait(lambda: d.metric("phasewise_steps_total") >= before_steps + 8, 30, "steps while locked")
        failing = d.metric("phasewise_state_write_errors_total", kind="state")
        db.rollback()
        db.close()
        assert failing >= 1  # the writes did fail (kept in memory) ...
        assert d.metric("phasewise_step_deadline_missed_total") - before_missed <= 2  # ... without waiting 2 s each
        d.wait(lambda: d.ready(), 20, "ready once the lock is gone")
    finally:
        d.kill()


def children_of(pid: int) -> set[int]:
    """Every process whose parent chain reaches ``pid`` (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


def test_kill_9_leaves_no_gate_worker_and_sigterm_does_not_wait_for_the_gate(tmp: Path) -> None:
    # a gate call takes far longer than the stop budget: a long twin on a high-demand corridor
    gate = "{enabled: true, seeds: 2, workers: 1, horizon_s: 3600, timeout_s: 120, deadline_s: 600}"
    d = Daemon(tmp, config(tmp, speed="0", gate=gate, policy="{replan_s: 20}"))
    try:
        d.wait(lambda: d.metric("phasewise_steps_total") > 30, 90, "steps")
        d.wait(lambda: len(children_of(d.proc.pid)) >= 2, 60, "the gate worker")
        time.sleep(3)  # inside the gate call
        children = children_of(d.proc.pid)
        started = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        d.proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if d.proc.poll() is None:
            d.kill()
    assert d.proc.returncode == 0
    assert took < 10.0, f"SIGTERM took {took:.1f} s with a gate call running"  # 5 s budget; a loaded CI core
    end = time.monotonic() + 10
    while alive(children) and time.monotonic() < end:
        time.sleep(0.2)
    assert not alive(children)
    # kill -9 in a gate call: its worker and the multiprocessing tracker end with it
    again = Daemon(tmp, config(tmp, speed="0", gate=gate, policy="{replan_s: 20}"))
    try:
        again.wait(lambda: len(children_of(again.proc.pid)) >= 2, 90, "the gate worker")
        time.sleep(3)
        children = children_of(again.proc.pid)
    finally:
        again.kill()
    end = time.monotonic() + 15
    while alive(children) and time.monotonic() < end:
        time.sleep(0.2)
    assert not alive(children), f"left running after kill -9: {sorted(alive(children))}"
