"""``phasewise calibrate``: routes fitted to 15-min turning counts reach GEH < 5 on >= 85 % of them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from calibration.counts_fit import CountFit
from optimizer.demand_routes import demand_from_routes
from phasewise import scenarios
from sumo_scenarios.network import load_intersections


def test_geh_known_answer() -> None:
    assert CountFit("J", "m", 0, 100.0, 150.0).geh == (2 * 50**2 / 250) ** 0.5  # 4.47
    assert CountFit("J", "m", 0, 0.0, 0.0).geh == 0.0


def test_calibrate_fits_counts_that_differ_from_the_routes(tmp_path: Path) -> None:
    scenario = scenarios.resolve(None, "corridor:demand=medium,intersections=2", [1])[0]
    models = load_intersections(scenario.net_file)
    cfg = tmp_path / "c.sumocfg"
    cfg.write_text(f'<configuration><input><net-file value="{scenario.net_file}"/><route-files '
                   f'value="{scenario.route_files[0]}"/></input><time><begin value="0"/><end value="1800"/></time></configuration>')
    rows = ["tls,movement,bin_start,count"]
    for k, factor in enumerate((1.15, 0.85)):  # counts 15 % above, then below the route file's
        flows = demand_from_routes(models, scenario.route_files, k * 900, (k + 1) * 900, require=False)
        rows += [f"{t},{m},{k * 900},{round(f / 4 * factor)}" for t, fl in flows.flows_veh_h.items() for m, f in fl.items()]
    (tmp_path / "tmc.csv").write_text("\n".join(rows) + "\n")
    done = subprocess.run([sys.executable, "-m", "phasewise.cli", "calibrate", "--sumocfg", str(cfg), "--counts",
                           str(tmp_path / "tmc.csv"), "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert report["accepted"] and report["share_geh_below_5"] >= 0.85
    with (tmp_path / "out" / "geh.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(rows) - 1


def test_counts_for_an_unknown_movement_is_one_line(tmp_path: Path) -> None:
    scenario = scenarios.resolve(None, "corridor:demand=medium,intersections=2", [1])[0]
    cfg = tmp_path / "c.sumocfg"
    cfg.write_text(f'<configuration><input><net-file value="{scenario.net_file}"/><route-files '
                   f'value="{scenario.route_files[0]}"/></input></configuration>')
    (tmp_path / "tmc.csv").write_text("tls,movement,bin_start,count\nJ0,nowhere:left,0,5\n")
    done = subprocess.run([sys.executable, "-m", "phasewise.cli", "calibrate", "--sumocfg", str(cfg), "--counts",
                           str(tmp_path / "tmc.csv"), "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "movement 'nowhere:left', which does not exist" in lines[0]
