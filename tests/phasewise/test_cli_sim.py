"""`phasewise sim` end to end and its bad-input behaviour (one line, non-zero exit)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _phasewise(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phasewise.cli", *args], capture_output=True, text=True, timeout=300)


def test_sim_writes_metrics_json(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    result = _phasewise("sim", "--scenario", "corridor:demand=low,intersections=2", "--controller", "maxpressure",
                        "--seeds", "2", "--end", "400", "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["controller"] == "maxpressure" and data["seeds"] == [1, 2]
    assert data["vehicles"] > 0 and data["throughput_veh"] > 0
    assert set(data["intersections"]) == {"J0", "J1"}
    assert len(data["per_seed"]) == 2


def test_first_seed_runs_the_seeds_from_it(tmp_path: Path) -> None:
    both, one = tmp_path / "both.json", tmp_path / "one.json"
    common = ("sim", "--scenario", "corridor:demand=low,intersections=2", "--controller", "maxpressure", "--end", "300")
    assert _phasewise(*common, "--seeds", "2", "--first-seed", "5", "--json", str(both)).returncode == 0
    assert _phasewise(*common, "--first-seed", "6", "--json", str(one)).returncode == 0
    pair, single = json.loads(both.read_text()), json.loads(one.read_text())
    assert pair["seeds"] == [5, 6] and single["seeds"] == [6]
    assert pair["per_seed"][1] == single["per_seed"][0]  # seed 6 is seed 6, whichever run it is in
    assert pair["per_seed"][0] != pair["per_seed"][1]


@pytest.mark.parametrize(
    "args,message",
    [
        (["sim", "--sumocfg", "missing.sumocfg"], "sumocfg file not found"),
        (["sim", "--scenario", "corridor", "--controller", "nope"], "unknown controller 'nope'"),
        (["sim", "--scenario", "atlantis"], "unknown scenario 'atlantis'"),
        (["sim", "--scenario", "corridor:lanes=x"], "corridor"),
        (["sim", "--scenario", "generated:kind=hexagon"], "kind must be one of grid, spider, rand"),
        (["sim", "--scenario", "generated:grid=3by3"], "grid='3by3' is not valid"),
        (["sim", "--scenario", "generated:size=3"], "unknown option 'size=3'"),
        (["sim"], "exactly one of --sumocfg"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = _phasewise(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_generated_network_keeps_its_shape_across_seeds(tmp_path: Path) -> None:
    out = tmp_path / "rand.json"
    result = _phasewise("sim", "--scenario", "generated:kind=rand,net_seed=3,period_s=300", "--controller", "static",
                        "--seeds", "2", "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["vehicles"] > 0
    first, second = data["per_seed"]
    assert set(first["intersections"]) == set(second["intersections"])  # one network ...
    assert first["delay_s_per_vehicle"] != second["delay_s_per_vehicle"]  # ... other traffic


def test_network_without_traffic_lights(tmp_path: Path) -> None:
    net = tmp_path / "plain.net.xml"
    net.write_text('<net version="1.20"><location netOffset="0,0" convBoundary="0,0,1,1" origBoundary="0,0,1,1" projParameter="!"/></net>')
    cfg = tmp_path / "plain.sumocfg"
    cfg.write_text('<configuration><input><net-file value="plain.net.xml"/></input></configuration>')
    result = _phasewise("sim", "--sumocfg", str(cfg))
    assert result.returncode == 2
    assert "no traffic lights" in result.stderr


def test_help_names_every_controller_of_the_registry() -> None:
    from controllers.registry import ALL_CONTROLLERS
    from phasewise.cmd_sim import CONTROLLER_NAMES

    assert CONTROLLER_NAMES == tuple(ALL_CONTROLLERS)
