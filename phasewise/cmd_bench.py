"""``phasewise bench``: a benchmark suite for CI, one JSON result, and a comparison with a
baseline that fails (exit 1) on a regression (``phasewise/bench.py`` says what a suite, a
result and a regression are).

    phasewise bench --suite quick --json out/bench.json
    phasewise bench --suite quick --json out/bench.json --baseline ci/baseline.json --markdown out/bench.md

Exit codes: 0 no regression (or no baseline), 1 a row regressed (named), 2 bad input (an
unknown suite, a baseline of another suite or with missing rows, an unwritable file).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from phasewise.app import app
from phasewise.outputs import output_file, write_text_atomic
from phasewise_errors import ConfigError

console = Console(stderr=True)


def _suite(spec: str):  # type: ignore[no-untyped-def]
    from phasewise.bench import BUILTIN, builtin_suite, load_suite

    if spec in BUILTIN:
        return builtin_suite(spec)
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"--suite {spec}: neither a built-in suite ({', '.join(BUILTIN)}) nor a suite file")
    return load_suite(path)


def _header(suite_name: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    def ver(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    return {"suite": suite_name, "phasewise": ver("phasewise"), "sumo": ver("eclipse-sumo"),
            "python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_avg_start": [round(x, 2) for x in os.getloadavg()],
            "started_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _read_baseline(path: Path):  # type: ignore[no-untyped-def]
    from phasewise.bench import BenchResult

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--baseline {path}: file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"--baseline {path}: not a JSON bench result ({exc})") from None
    return BenchResult.from_json_dict(raw, f"--baseline {path}")


def check_baseline_rows(reference, spec, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Before an hour of simulation: the baseline is of this suite and has its rows."""
    if reference.suite != spec.name:
        raise ConfigError(f"--baseline {path}: a result of suite {reference.suite!r}, not {spec.name!r}")
    have = {r.key for r in reference.rows}
    want = [(s.label, c) for s in spec.scenarios for c in s.controllers]
    missing = [f"{s} / {c}" for s, c in want if (s, c) not in have]
    if missing:
        raise ConfigError(f"--baseline {path}: no row for {', '.join(missing)} (make a new baseline with "
                          "phasewise bench --json)")


@app.command("bench")
def bench(
    suite: Annotated[str, typer.Option("--suite", help="quick (about 5 min on 2 cores), full (the README's grid) "
                                                      "or a suite YAML file")] = "quick",
    json_out: Annotated[Optional[Path], typer.Option("--json", help="write the result JSON here")] = None,
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="an earlier --json result to compare with")] = None,
    tolerance: Annotated[str, typer.Option("--tolerance", help="a row regresses when its delay is worse by more "
                                                              "than this and beyond the seeds' noise")] = "3%",
    markdown_out: Annotated[Optional[Path], typer.Option("--markdown", help="write the comparison as Markdown here")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, max=256, help="parallel SUMO processes (default: CPU count)")] = None,
    executor: Annotated[str, typer.Option(help="local (processes here) or ray (a Ray cluster)")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(envvar="PHASEWISE_RAY_ADDRESS", show_envvar=True,
                                                       help="with --executor ray: auto or HOST:PORT")] = None,
) -> None:
    """Run a benchmark suite; compare it with a baseline result (exit 1 on a regression)."""
    from phasewise.bench import BenchResult, compare, markdown, parse_tolerance, row_from_summary
    from phasewise.cmd_sim import simulate
    from phasewise.scenarios import resolve
    from sumo_scenarios.executor import EXECUTOR_NAMES, make_executor

    spec = _suite(suite)
    tol = parse_tolerance(tolerance)
    if executor not in EXECUTOR_NAMES:
        raise ConfigError(f"--executor {executor}: give one of {', '.join(EXECUTOR_NAMES)}")
    for path, option in ((json_out, "--json"), (markdown_out, "--markdown")):
        if path is not None:
            output_file(path, option)
    if markdown_out is not None and baseline is None:
        raise ConfigError("--markdown needs --baseline (it writes the comparison)")
    reference = _read_baseline(baseline) if baseline is not None else None
    if reference is not None:
        check_baseline_rows(reference, spec, baseline)
    runner = None if executor == "local" else make_executor(executor, ray_address)
    result = BenchResult(spec.name, _header(spec.name))
    started = time.perf_counter()
    try:
        for scenario in spec.scenarios:
            end_s = None
            if scenario.period_s is not None:
                first = resolve(scenario.sumocfg, scenario.scenario, [spec.first_seed])[0]
                end_s = first.begin_s + scenario.period_s
            for controller in scenario.controllers:
                t0 = time.perf_counter()
                summary = simulate(scenario.sumocfg, scenario.scenario, controller, spec.seeds, end_s, workers,
                                   first_seed=spec.first_seed, executor=runner)
                row = row_from_summary(scenario.label, controller, summary, time.perf_counter() - t0)
                result.rows.append(row)
                console.print(f"{row.scenario:36s} {row.controller:22s} delay {row.mean['delay_s_per_vehicle']:7.1f} "
                              f"s/veh  seeds {row.seeds}  {row.wall_s:.0f} s"
                              + (f"  ({row.wall_clock_timeouts} wall-clock timeouts)" if row.wall_clock_timeouts else ""),
                              soft_wrap=True)
    finally:
        if runner is not None:
            runner.close()
    result.header["wall_s"] = round(time.perf_counter() - started, 1)
    result.header["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(result.to_json_dict(), indent=1) + "\n")
        console.print(f"result written to {json_out}")
    if reference is None:
        return
    comparisons = compare(reference, result, tol)
    table = markdown(comparisons, reference, result, tol)
    if markdown_out is not None:
        write_text_atomic(markdown_out, table)
    print(table)
    regressed = [c for c in comparisons if c.verdict == "regression"]
    if regressed:
        names = "; ".join(f"{c.scenario} / {c.controller} {c.change:+.1%}" for c in regressed)
        print(f"phasewise: regression against {baseline}: {names}", file=sys.stderr)
        raise typer.Exit(1)
