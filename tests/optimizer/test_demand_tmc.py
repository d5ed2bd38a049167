"""Turning-movement counts: the peak hour of 15-min bins, bad rows named by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.demand_tmc import read_tmc_csv
from phasewise_errors import ConfigError


def test_peak_hour_is_the_busiest_four_bins(tmp_path: Path) -> None:
    rows = ["tls,movement,bin_start,count"]
    for k, n in enumerate([10, 20, 30, 40, 50, 5]):  # bins 1..4 (20+30+40+50) are the busiest hour
        rows.append(f"J0,W_J0:through,{k * 900},{n}")
    (tmp_path / "tmc.csv").write_text("\n".join(rows) + "\n")
    start, demand = read_tmc_csv(tmp_path / "tmc.csv").peak_hour()
    assert start == 900
    assert demand.flow("J0", "W_J0:through") == pytest.approx(140.0)  # (20+30+40+50) veh in one hour
    assert demand.std_veh_h["J0"]["W_J0:through"] > 0


def test_clock_times_and_bin_length(tmp_path: Path) -> None:
    (tmp_path / "tmc.csv").write_text("tls,movement,bin_start,count,bin_s\nJ0,a:left,07:00,5,300\nJ0,a:left,07:05,7,300\n")
    counts = read_tmc_csv(tmp_path / "tmc.csv")
    assert counts.bin_s == 300 and counts.bin_starts_s == [25200.0, 25500.0]


@pytest.mark.parametrize("row, message", [("J0,a:left,0,-1", "must be a non-negative"),
                                          ("J0,a:left,x,1", "not seconds or HH:MM"), (",a:left,0,1", "must not be empty")])
def test_bad_rows_name_the_line(tmp_path: Path, row: str, message: str) -> None:
    (tmp_path / "tmc.csv").write_text(f"tls,movement,bin_start,count\n{row}\n")
    with pytest.raises(ConfigError, match=f"tmc.csv:2: .*{message}"):
        read_tmc_csv(tmp_path / "tmc.csv")
