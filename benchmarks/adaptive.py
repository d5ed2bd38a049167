"""Headline benchmark: ``adaptive`` (noisy cameras only) against the baselines (exact SUMO state).

    .venv/bin/python benchmarks/adaptive.py [--seeds 3] [--first-seed 1] [--json out/adaptive.json] [--no-gate] [--signal-measures]
        [--executor ray --ray-address auto]

Scenarios: built-in corridor at low, high and peak demand; RESCO cologne1, cologne3,
ingolstadt7. Controllers: static, actuated, maxpressure, then adaptive with perfect cameras
(0 %) and with the default camera noise (``sumo_scenarios.sensing.CameraNoise``: measured on
the intersection clip) at 5 % (its default) and 20 % miss rate, and ``adaptive-coordinated``
(the plan's offsets kept, default noise).
Prints one table with delay (mean ± std over seeds, and the worst seed), for adaptive its
delay change against static and against the better of actuated/maxpressure, throughput,
stops, CO2 and fuel per vehicle (SUMO's HBEFA 4.2 model), and the published RESCO
reference where known; with ``--signal-measures`` also each controller's arrivals on green
and split failures (ATSPM, from every run's hi-res event log by the ``atspm`` package; the
runs themselves are unchanged).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from controllers.adaptive import AdaptiveConfig, AdaptiveController  # noqa: E402
from phasewise.cmd_sim import simulate  # noqa: E402
from sumo_scenarios.executor import EXECUTOR_NAMES, make_executor  # noqa: E402
from sumo_scenarios.sensing import CameraNoise  # noqa: E402

SCENARIOS = ["corridor:demand=low", "corridor:demand=high", "corridor:demand=peak", "cologne1", "cologne3", "ingolstadt7"]
RESCO_BEST_S = {"cologne3": 20.0, "ingolstadt7": 31.0}  # best learned controllers, RESCO paper (SUMO 1.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--scenarios", default="|".join(SCENARIOS), help="'|'-separated")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-gate", action="store_true", help="adaptive without the SUMO gate")
    parser.add_argument("--miss-rates", default="0,0.05,0.2")
    parser.add_argument("--no-coordinated", action="store_true", help="skip adaptive-coordinated (5 % miss)")
    parser.add_argument("--executor", choices=EXECUTOR_NAMES, default="local",
                        help="where the simulations run (each adaptive run's gate stays on its own local worker)")
    parser.add_argument("--ray-address", default=None, help="auto or HOST:PORT (else $PHASEWISE_RAY_ADDRESS)")
    parser.add_argument("--signal-measures", action="store_true",
                        help="also arrivals on green and split failures per run, from its hi-res event log "
                             "(the atspm package; local executor only)")
    args = parser.parse_args()
    if args.signal_measures and args.executor != "local":
        parser.error("--signal-measures reads each run's event log from files here: use --executor local")
    executor = None if args.executor == "local" else make_executor(args.executor, args.ray_address)
    config = AdaptiveConfig(use_gate=not args.no_gate, gate_workers=1)
    started = time.perf_counter()
    rows = []
    for scenario in args.scenarios.split("|"):
        run = partial(simulate, None, scenario, seeds=args.seeds, end_s=None, first_seed=args.first_seed,
                      executor=executor, signal_measures=args.signal_measures)
        results = {name: run(name) for name in ("static", "actuated", "maxpressure")}
        for miss in [float(m) for m in args.miss_rates.split(",")]:
            noise = replace(CameraNoise(), miss_rate=miss) if miss > 0 else CameraNoise.perfect()
            label = f"adaptive miss={miss:.0%}"
            results[label] = run(label, factory=partial(AdaptiveController, config, noise))
            if miss == 0.05 and not args.no_coordinated:
                label = "adaptive-coordinated 5%"
                results[label] = run(label, factory=partial(AdaptiveController, replace(config, coordinate=True), noise))
        best_baseline = min(results["actuated"]["delay_s_per_vehicle"], results["maxpressure"]["delay_s_per_vehicle"])
        static = results["static"]["delay_s_per_vehicle"]
        for label, summary in results.items():
            rows.append((summary["scenario"], label, summary, static, best_baseline))
            print(f"{summary['scenario']:<16} {label:<20} delay {summary['delay_s_per_vehicle']:7.1f}", flush=True)
    last_seed = args.first_seed + args.seeds - 1
    table = Table(title=f"adaptive vs baselines, mean of seeds {args.first_seed}-{last_seed}, RESCO delay (s/veh)")
    columns = ["scenario", "controller", "delay s/veh", "worst seed", "vs static", "vs best of act/MP", "throughput",
               "stops/veh", "CO2 g/veh", "fuel ml/veh", "RESCO best"]
    if args.signal_measures:
        columns += ["on green", "split failures"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("scenario", "controller") else "right")
    for scenario, label, s, static, best in rows:
        d = s["delay_s_per_vehicle"]
        adaptive = label.startswith("adaptive")
        table.add_row(
            scenario, label, f"{d:.1f} ± {s['delay_s_per_vehicle_std']:.1f}",
            f"{max(r['delay_s_per_vehicle'] for r in s['per_seed']):.1f}",
            f"{(d - static) / static:+.0%}" if adaptive else "",
            f"{(d - best) / best:+.0%}" if adaptive else "",
            f"{s['throughput_veh']:.0f}", f"{s['stops_per_vehicle']:.2f}",
            f"{s['co2_g_per_vehicle']:.0f}", f"{s['fuel_ml_per_vehicle']:.0f}",
            f"{RESCO_BEST_S[scenario]:.0f}" if scenario in RESCO_BEST_S and adaptive else "",
            *([f"{s['arrivals_on_green']:.0%}", f"{s['split_failures']:.0f} of {s['phase_cycles']:.0f}"]
              if args.signal_measures else []),
        )
    Console(width=200).print(table)
    if executor is not None:
        executor.close()
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r[2] | {"label": r[1]} for r in rows], indent=2))


if __name__ == "__main__":
    main()
