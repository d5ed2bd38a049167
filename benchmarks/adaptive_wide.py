"""Wide benchmark: four controllers on ten networks over many seeds, with 95 % intervals and the worst seed.

    .venv/bin/python benchmarks/adaptive_wide.py [--seeds 10] [--jobs 2] [--out out/wide.jsonl] [--report-only]
        [--networks 'corridor-low|grid'] [--markdown]

Networks: the built-in corridor at low, medium, high and peak demand; RESCO cologne1,
cologne3 and ingolstadt7; three netgenerate shapes (``phasewise sim --scenario generated:...``):
a 3 x 3 grid, a spider (5 arms, 2 rings) and a random network (shape seed 1), each with an
hour of random trips, one vehicle every 1.5 s. Controllers: static (the network's program),
actuated, maxpressure, and adaptive with the default camera noise and its SUMO gate.

Every run is ``phasewise sim --scenario S --controller C --seeds 1 --first-seed N --json F``
in its own process, exactly as a user runs it. Runs go seed by seed over all networks
(``--jobs`` at a time) and are appended to ``--out`` as they finish, each with the machine's
load average at its end, so a cut run keeps what it did and a rerun goes on from there.

The table: per network and controller, mean delay (s/veh) with its 95 % interval (Student t
over the seeds), the worst seed, CO2 g/veh; for adaptive its ratio to static and to the better
of actuated and max-pressure (means), the seeds on which it was worse than max-pressure on the
same seed, and the gridlocks its watchdog counted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from rich.console import Console
from rich.table import Table
from scipy import stats

REPO = Path(__file__).resolve().parent.parent
GENERATED = "period_s=3600,vehicle_period_s=1.5"
NETWORKS = {
    "corridor-low": "corridor:demand=low",
    "corridor-medium": "corridor:demand=medium",
    "corridor-high": "corridor:demand=high",
    "corridor-peak": "corridor:demand=peak",
    "cologne1": "cologne1",
    "cologne3": "cologne3",
    "ingolstadt7": "ingolstadt7",
    "grid": f"generated:kind=grid,{GENERATED}",
    "spider": f"generated:kind=spider,{GENERATED}",
    "random": f"generated:kind=rand,net_seed=1,{GENERATED}",
}
CONTROLLERS = ("static", "actuated", "maxpressure", "adaptive")


def run_one(network: str, controller: str, seed: int) -> dict:
    """One ``phasewise sim`` run; its record for the results file."""
    with tempfile.TemporaryDirectory(prefix="phasewise-wide-") as tmp:
        out = Path(tmp) / "run.json"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "phasewise.cli", "sim", "--scenario", NETWORKS[network],
                               "--controller", controller, "--seeds", "1", "--first-seed", str(seed), "--json", str(out)],
                              capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            raise RuntimeError(f"{network} {controller} seed {seed}: {done.stderr.strip()[-500:]}")
        summary = json.loads(out.read_text())
    entry = summary["per_seed"][0]
    report = entry.get("controller_report") or {}
    return {
        "network": network, "controller": controller, "seed": seed,
        "delay_s_per_vehicle": entry["delay_s_per_vehicle"], "throughput_veh": entry["throughput_veh"],
        "stops_per_vehicle": entry["stops_per_vehicle"], "co2_g_per_vehicle": entry["co2_g_per_vehicle"],
        "fuel_ml_per_vehicle": entry["fuel_ml_per_vehicle"], "gridlocks": report.get("gridlocks"),
        "wall_s": round(time.perf_counter() - started, 1), "load_1min": round(os.getloadavg()[0], 2),
    }


def load(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def interval(values: list[float]) -> float:
    """Half width of the 95 % interval of the mean (Student t); 0 for one value."""
    if len(values) < 2:
        return 0.0
    return float(stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values)))


def report(records: list[dict], networks: list[str], markdown: bool) -> None:
    by = {(r["network"], r["controller"], r["seed"]): r for r in records}
    rows = []
    for network in networks:
        # only seeds every controller has finished: the ratios compare like with like
        seeds = sorted(s for s in {r["seed"] for r in records if r["network"] == network}
                       if all((network, c, s) in by for c in CONTROLLERS))
        if not seeds:
            continue
        delay = {c: [by[network, c, s]["delay_s_per_vehicle"] for s in seeds] for c in CONTROLLERS}
        mean = {c: statistics.fmean(v) for c, v in delay.items()}
        best = min(mean["actuated"], mean["maxpressure"])
        worse_than_mp = sum(a > m for a, m in zip(delay["adaptive"], delay["maxpressure"]))
        for c in CONTROLLERS:
            co2 = statistics.fmean(by[network, c, s]["co2_g_per_vehicle"] for s in seeds)
            adaptive = c == "adaptive"
            locks = sum(by[network, c, s]["gridlocks"] or 0 for s in seeds) if adaptive else None
            rows.append([network, c, str(len(seeds)), f"{mean[c]:.1f} ± {interval(delay[c]):.1f}", f"{max(delay[c]):.1f}",
                         f"{co2:.0f}", f"{mean[c] / mean['static']:.2f}x" if adaptive else "",
                         f"{mean[c] / best:.2f}x" if adaptive else "", f"{worse_than_mp}" if adaptive else "",
                         f"{locks}" if adaptive else ""])
    columns = ["network", "controller", "seeds", "delay s/veh (95 % CI)", "worst seed", "CO2 g/veh",
               "vs static", "vs best act/MP", "seeds worse than MP", "gridlocks"]
    loads = [r["load_1min"] for r in records]
    if markdown:
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        table = Table(title="adaptive vs baselines, delay s/veh (mean ± 95 % interval over seeds)")
        for col in columns:
            table.add_column(col, justify="left" if col in ("network", "controller") else "right")
        for row in rows:
            table.add_row(*row)
        Console(width=200).print(table)
    if loads:
        print(f"{len(records)} runs, {sum(r['wall_s'] for r in records) / 3600:.1f} run-hours; "
              f"1-min load average at the runs' ends: median {statistics.median(loads):.1f}, max {max(loads):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--networks", default="|".join(NETWORKS), help="'|'-separated, of: " + ", ".join(NETWORKS))
    parser.add_argument("--out", type=Path, default=REPO / "out" / "wide.jsonl")
    parser.add_argument("--report-only", action="store_true", help="print the table from --out, run nothing")
    parser.add_argument("--markdown", action="store_true", help="the table as Markdown")
    args = parser.parse_args()
    networks = args.networks.split("|")
    unknown = [n for n in networks if n not in NETWORKS]
    if unknown:
        parser.error(f"unknown network {', '.join(unknown)}: use {', '.join(NETWORKS)}")
    records = load(args.out)
    if not args.report_only:
        done = {(r["network"], r["controller"], r["seed"]) for r in records}
        todo = [(n, c, s) for s in range(args.first_seed, args.first_seed + args.seeds)
                for n in networks for c in CONTROLLERS if (n, c, s) not in done]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(args.jobs) as pool, args.out.open("a") as sink:
            pending: set[Future] = set()
            for job in todo:
                if len(pending) >= args.jobs:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        _keep(future, records, sink)
                pending.add(pool.submit(run_one, *job))
            for future in pending:
                _keep(future, records, sink)
    report(records, networks, args.markdown)


def _keep(future: Future, records: list[dict], sink) -> None:
    try:
        record = future.result()
    except RuntimeError as exc:
        print(f"failed: {exc}", flush=True)
        return
    records.append(record)
    sink.write(json.dumps(record) + "\n")
    sink.flush()
    print(f"{record['network']:<16} {record['controller']:<12} seed {record['seed']:>2}  "
          f"{record['delay_s_per_vehicle']:7.1f} s/veh  ({record['wall_s']:.0f} s, load {record['load_1min']:.1f})", flush=True)


if __name__ == "__main__":
    main()
