"""``phasewise optimize --measured``: what replay or the daemon measured, through the real entry point."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from daemon.store import StateStore
from counting.camera_frame import CameraFrame, CameraLayout
from counting.estimator import DemandEstimator
from optimizer.demand_measured import read_measured
from phasewise_errors import ConfigError

SMALL = "corridor:demand=medium,intersections=2"
FLOWS = {("J0", "W_J0:through"): 900, ("J0", "J1_J0:through"): 600, ("J0", "N0_J0:through"): 250,
         ("J0", "S0_J0:through"): 250, ("J1", "J0_J1:through"): 850, ("J1", "E_J1:through"): 650,
         ("J1", "N1_J1:through"): 250, ("J1", "S1_J1:through"): 250}
SIDE_LANES = ("N0_J0_0", "S0_J0_0")


def phasewise(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phasewise.cli", *args], capture_output=True, text=True, timeout=300)


def side_share(out: Path, tls_id: str = "J0") -> float:
    """Share of the cycle that J0's side-street phase (phase 2 of the corridor's program) is green."""
    plan = next(ip for ip in json.loads((out / "plan.json").read_text())["intersections"] if ip["tls_id"] == tls_id)
    return next(p["green_s"] for p in plan["phases"] if p["phase"] == 2) / plan["cycle_s"]


def test_replay_folder_saturation_flow_and_demand(tmp_path: Path) -> None:
    replay = tmp_path / "replay"
    replay.mkdir()
    (replay / "demand.csv").write_text("movement,flow_veh_h,std_veh_h\n" + "".join(
        f"{movement},{flow},20\n" for (_, movement), flow in FLOWS.items()))
    rows = ["head,green_start_s,green_end_s,onset_seen,lanes,queue_at_onset_veh,served_veh,served_pcu,"
            "saturation_flow_veh_h_lane,saturation_flow_pcu_h_lane,startup_lost_time_s,residual_queue_veh,headways_s"]
    for k, value in enumerate(("1000.0", "1100.0", "", "5000.0")):  # unmeasured and implausible greens are ignored
        rows.append(f"side,{100 * k},{100 * k + 30},True,{' '.join(SIDE_LANES)},8,8,8,{value},{value},2.0,0,")
    (replay / "discharge.csv").write_text("\n".join(rows) + "\n")
    flows = tmp_path / "flows.csv"
    flows.write_text("tls,movement,flow_veh_h\n" + "".join(f"{t},{m},{f}\n" for (t, m), f in FLOWS.items()))

    common = ("--scenario", SMALL, "--no-check", "--time-limit", "1")
    fixed = phasewise("optimize", *common, "--demand", str(flows), "--out", str(tmp_path / "fixed"))
    assert fixed.returncode == 0, fixed.stderr
    done = phasewise("optimize", *common, "--measured", str(replay), "--out", str(tmp_path / "measured"))
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())  # the console wraps long lines
    assert "saturation flow measured on 2 lane(s)" in said and "median 1050 veh/h/lane" in said
    assert "demand: the estimator's arrival rates" in said
    # the same flows; the side streets discharge at 1050 instead of 1800 veh/h/lane: they need more of the cycle
    assert side_share(tmp_path / "measured") > side_share(tmp_path / "fixed") + 0.03


def _discharging_estimator() -> DemandEstimator:
    """An estimator that watched J0's north approach: queues of 12 at red, one crossing every 3 s at green."""
    layout = CameraLayout("N0_J0", ("N0_J0_0",), ("N0_J0:right", "N0_J0:through", "N0_J0:left"), ((True, True, True),))
    estimator = DemandEstimator([layout])
    t = 0
    for _ in range(4):  # four cycles of 30 s red then 40 s green
        for _ in range(30):
            t += 1
            estimator.update(_frame(layout, t, stopped=12, green=False))
        for k in range(40):
            t += 1
            crossed = k % 3 == 2 and k < 36
            estimator.update(_frame(layout, t, stopped=max(12 - (k + 1) // 3, 0), green=True, crossed=crossed))
    return estimator


def _frame(layout: CameraLayout, t: int, stopped: int, green: bool, crossed: bool = False) -> CameraFrame:
    lanes = np.array([0] if crossed else [], dtype=np.int64)
    moves = np.array([1] if crossed else [], dtype=np.int64)
    return CameraFrame(float(t), layout.camera_id, True, np.array([stopped]), np.array([stopped]),
                       np.array([7.5 * stopped]), np.array([green]), lanes, moves, np.full(lanes.size, 2))


def test_daemon_state_saturation_flow_and_demand(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.put("estimator", pickle.dumps(_discharging_estimator()))
    store.put("clock_s", "280.0")
    assert store.commit(280.0)
    measured = read_measured(tmp_path / "state", _models())
    # 3 s headways (1200 veh/h/lane) after the first four of each queue, shrunk towards the 1800 prior
    assert 1200.0 < measured.lane_saturation_veh_h["N0_J0_0"] < 1500.0
    assert measured.demand is not None and measured.demand.flow("J0", "N0_J0:through") > 0
    assert read_measured(tmp_path / "state" / "state.sqlite", _models()) == measured


def test_what_is_not_the_networks_is_refused(tmp_path: Path) -> None:
    (tmp_path / "demand.csv").write_text("movement,flow_veh_h,std_veh_h\nnorthbound:left,120,10\n")
    with pytest.raises(ConfigError, match="'northbound:left' is not one of the network's"):
        read_measured(tmp_path, _models())
    (tmp_path / "demand.csv").unlink()
    (tmp_path / "discharge.csv").write_text("lanes,saturation_flow_veh_h_lane\nnb_1,1500\n")
    with pytest.raises(ConfigError, match="lane 'nb_1' is not a signalised approach lane"):
        read_measured(tmp_path, _models())
    (tmp_path / "discharge.csv").unlink()
    with pytest.raises(ConfigError, match="neither the daemon's state.sqlite"):
        read_measured(tmp_path, _models())
    (tmp_path / "state.sqlite").write_bytes(b"not a database at all")
    with pytest.raises(ConfigError, match="not a readable daemon state"):
        read_measured(tmp_path, _models())


def _models() -> dict:
    from phasewise import scenarios
    from sumo_scenarios.network import load_intersections

    return load_intersections(scenarios.resolve(None, SMALL, [1])[0].net_file)
