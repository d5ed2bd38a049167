"""``phasewise optimize``: writes every output; bad input gives one line and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest



PHASEWISE = [sys.executable, "-c", "from phasewise.cli import main; main()"]


def optimize(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PHASEWISE, "optimize", *args], capture_output=True, text=True, timeout=120)


def test_writes_plan_files(net_file: Path, tmp_path: Path) -> None:
    demand = tmp_path / "d.csv"
    demand.write_text("tls,movement,flow_veh_h\nJ0,W_J0:through,900\nJ1,J0_J1:through,800\nJ2,J1_J2:through,700\n")
    done = optimize("--net", str(net_file), "--demand", str(demand), "--out", str(tmp_path / "plan"), "--time-limit", "1")
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "plan").iterdir()} == {"plan.json", "plan.add.xml", "timing.txt",
                                                              "time_space.png", "plan.utdf.csv", "volumes.utdf.csv"}
    assert "J1" in done.stdout


@pytest.mark.parametrize(
    "csv_text, extra, message",
    [
        ("tls,movement,flow_veh_h\nJ0,W_J0:sideways,100\n", (), "J0: demand for movement 'W_J0:sideways', which does not exist"),
        ("tls,movement,flow_veh_h\nJ0,W_J0:through,-3\n", (), "J0 movement W_J0:through: flow_veh_h -3 must be a non-negative number"),
        ("tls,movement,flow_veh_h\nJ0,W_J0:through,\n", (), "J0 movement W_J0:through: flow_veh_h is missing"),
        ("tls,movement,flow_veh_h\nJ0,W_J0:through,100\n", ("--cycle-min", "20", "--cycle-max", "25"), "J0: minimum greens (phase 0 5 s, phase 1 5 s, phase 2 5 s)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(net_file: Path, tmp_path: Path, csv_text: str, extra: tuple[str, ...], message: str) -> None:
    demand = tmp_path / "bad.csv"
    demand.write_text(csv_text)
    done = optimize("--net", str(net_file), "--demand", str(demand), "--out", str(tmp_path / "x"), *extra)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("phasewise: error:") and message in lines[0], done.stderr
