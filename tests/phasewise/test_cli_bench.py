"""``phasewise bench`` as CI runs it: a suite twice (the second against the first exits 0), a
baseline edited to be 30 % better (exit 1 naming the rows), baselines that do not fit (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = """name: tiny
seeds: 2
scenarios:
  - {scenario: "corridor:demand=low,intersections=2", controllers: [static, maxpressure], period_s: 180}
"""


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phasewise.cli", "bench", *args], capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("bench")
    (tmp / "tiny.yaml").write_text(SUITE)
    done = bench("--suite", str(tmp / "tiny.yaml"), "--json", str(tmp / "first.json"))
    assert done.returncode == 0, done.stderr
    return tmp / "tiny.yaml", tmp / "first.json"


def test_the_result_holds_every_row_with_per_seed_numbers_and_the_versions(first: tuple[Path, Path]) -> None:
    result = json.loads(first[1].read_text())
    assert result["suite"] == "tiny" and result["header"]["sumo"] and result["header"]["python"]
    assert len(result["header"]["load_avg_start"]) == 3
    rows = {r["controller"]: r for r in result["rows"]}
    assert set(rows) == {"static", "maxpressure"}
    for row in rows.values():
        assert row["seeds"] == [1, 2] and len(row["delay_s_per_vehicle"]) == 2 and row["wall_s"] > 0
        lo, hi = row["delay_ci95"]
        assert lo <= row["mean"]["delay_s_per_vehicle"] <= hi and row["wall_clock_timeouts"] == 0
        # SUMO's HBEFA model: a few hundred metres of city driving is tens to hundreds of grams
        assert len(row["co2_g_per_vehicle"]) == 2 and all(10 < g < 1000 for g in row["co2_g_per_vehicle"])
        assert all(1 < ml < 500 for ml in row["fuel_ml_per_vehicle"])


def test_a_second_run_against_the_first_passes_and_a_30_percent_better_baseline_fails(first: tuple[Path, Path]) -> None:
    suite, baseline = first
    tmp = suite.parent
    again = bench("--suite", str(suite), "--json", str(tmp / "second.json"), "--baseline", str(baseline),
                  "--markdown", str(tmp / "pr.md"))
    assert again.returncode == 0, again.stderr
    first_rows = {r["controller"]: r["delay_s_per_vehicle"] for r in json.loads(baseline.read_text())["rows"]}
    second_rows = {r["controller"]: r["delay_s_per_vehicle"] for r in json.loads((tmp / "second.json").read_text())["rows"]}
    assert first_rows == second_rows  # same suite, same versions: the same numbers
    assert "no regression" in (tmp / "pr.md").read_text()
    edited = json.loads(baseline.read_text())
    for row in edited["rows"]:
        row["delay_s_per_vehicle"] = [d * 0.7 for d in row["delay_s_per_vehicle"]]
    (tmp / "better.json").write_text(json.dumps(edited))
    worse = bench("--suite", str(suite), "--baseline", str(tmp / "better.json"), "--markdown", str(tmp / "pr2.md"))
    assert worse.returncode == 1, worse.stderr
    assert "regression against" in worse.stderr and "/ static +42.9%" in worse.stderr and "/ maxpressure" in worse.stderr
    assert "**regression**" in (tmp / "pr2.md").read_text() and "Traceback" not in worse.stderr


def test_baselines_that_do_not_fit_are_refused_before_simulating(first: tuple[Path, Path], tmp_path: Path) -> None:
    suite, baseline = first
    other = json.loads(baseline.read_text())
    other["suite"] = "quick"
    (tmp_path / "other.json").write_text(json.dumps(other))
    short = json.loads(baseline.read_text())
    short["rows"] = short["rows"][:1]
    (tmp_path / "short.json").write_text(json.dumps(short))
    (tmp_path / "junk.json").write_text("{not json")
    cases = {"other.json": "a result of suite 'quick', not 'tiny'", "short.json": "no row for",
             "junk.json": "not a JSON bench result", "missing.json": "file not found"}
    for name, message in cases.items():
        done = bench("--suite", str(suite), "--baseline", str(tmp_path / name))
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, (name, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
    done = bench("--suite", "nope")
    assert done.returncode == 2 and "neither a built-in suite" in done.stderr
