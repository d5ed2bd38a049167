"""``phasewise optimize --check`` and ``phasewise sim --plan`` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SMALL = "corridor:demand=medium,intersections=2"


def phasewise(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phasewise.cli", *args], capture_output=True, text=True, timeout=300)


def test_check_writes_the_recommended_program_and_sim_replays_it(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    done = phasewise("optimize", "--scenario", SMALL, "--out", str(out), "--end", "300", "--seeds", "1",
                     "--workers", "1", "--time-limit", "1")
    assert done.returncode == 0, done.stderr
    assert "recommended:" in done.stdout and "Traceback" not in done.stderr
    check = json.loads((out / "check.json").read_text())
    assert check["seeds"] == [1] and len(check["program"]["delay_s_per_vehicle"]) == 1
    # beside delay, each run's event log read by the atspm package: arrivals on green, split failures
    for run in ("program", "plan"):
        (aog,), (failures,), (cycles,) = (check[run][k] for k in ("arrivals_on_green", "split_failures", "phase_cycles"))
        assert 0.0 < aog < 1.0 and 0 <= failures <= cycles and cycles >= 2 * 300 // 120  # 2+ phases, cycles <= 120 s
    assert "on green" in done.stdout and "split failures" in done.stdout
    assert "choosing among" in done.stderr  # candidates were compared in SUMO first
    chosen = out / ("candidate.add.xml" if check["recommend_plan"] else "program.add.xml")
    assert (out / "plan.add.xml").read_text() == chosen.read_text()
    assert (out / "check.png").stat().st_size > 0

    # the existing program through `sim --plan`: the same runner, the same numbers as the check
    metrics = tmp_path / "m.json"
    done = phasewise("sim", "--scenario", SMALL, "--end", "300", "--seeds", "1", "--workers", "1",
                     "--plan", str(out / "program.add.xml"), "--json", str(metrics))
    assert done.returncode == 0, done.stderr
    per_seed = [s["delay_s_per_vehicle"] for s in json.loads(metrics.read_text())["per_seed"]]
    assert per_seed[0] == check["program"]["delay_s_per_vehicle"][0]


def test_check_needs_a_scenario(tmp_path: Path) -> None:
    done = phasewise("optimize", "--net", str(tmp_path / "x.net.xml"), "--check", "--out", str(tmp_path / "o"))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "--check needs a scenario" in lines[0], done.stderr


def test_sim_plan_that_is_not_a_plan_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "plan.add.xml"
    bad.write_text("<additional/>")
    done = phasewise("sim", "--scenario", SMALL, "--plan", str(bad))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "no <tlLogic>" in lines[0], done.stderr


def test_optimize_from_turning_counts(tmp_path: Path) -> None:
    rows = ["tls,movement,bin_start,count"]
    for k in range(4):
        rows += [f"J0,W_J0:through,{k * 900},{200 + 10 * k}", f"J0,N0_J0:through,{k * 900},{60 + 5 * k}",
                 f"J1,J0_J1:through,{k * 900},{180 + 10 * k}", f"J1,N1_J1:through,{k * 900},{50}"]
    (tmp_path / "tmc.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "plan"
    done = phasewise("optimize", "--scenario", SMALL, "--tmc", str(tmp_path / "tmc.csv"), "--no-check",
                     "--out", str(out), "--time-limit", "1")
    assert done.returncode == 0, done.stderr
    assert "peak hour" in done.stderr and (out / "plan.add.xml").is_file()


def test_synchro_file_round_trip_as_demand_and_existing_plan(tmp_path: Path) -> None:
    first = tmp_path / "first"
    done = phasewise("optimize", "--scenario", SMALL, "--no-check", "--out", str(first), "--time-limit", "1")
    assert done.returncode == 0, done.stderr
    utdf = first / "plan.utdf.csv"
    assert "[Timeplans]" in utdf.read_text() and (first / "volumes.utdf.csv").is_file()
    second = tmp_path / "second"
    done = phasewise("optimize", "--scenario", SMALL, "--utdf", str(utdf), "--existing", str(utdf), "--seeds", "1",
                     "--no-search", "--workers", "1", "--end", "300", "--out", str(second), "--time-limit", "1")
    assert done.returncode == 0, done.stderr
    # the existing plan checked against is the first plan, imported from Synchro's format
    def programs(path: Path) -> list[str]:  # without the comment naming who created the plan
        return [line for line in path.read_text().splitlines() if "created by" not in line]

    assert programs(second / "program.add.xml") == programs(first / "plan.add.xml")
