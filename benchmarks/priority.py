"""Priority: emergency vehicles' and buses' delay against the cars' in the same runs.

    .venv/bin/python benchmarks/priority.py [--scenario "corridor:demand=high,emergency_per_h=12"]
        [--seeds 3] [--end 3600] [--no-gate] [--transit | --pedestrians N] [--json out/priority.json]

With ``--pedestrians N`` (N persons per hour; the scenario gets ``pedestrians=N`` added, e.g.
``corridor:demand=high`` becomes ``corridor:demand=high,pedestrians=N``) the two adaptive
runs are pedestrian handling on and off (``AdaptiveConfig.pedestrians``; off, the signal
shows the walk on every green), with ``maxpressure`` and ``actuated`` for reference, and the
table shows the cars' delay, the pedestrians' delay per person and the longest wait of any
person (target: at most ``AdaptiveConfig.max_ped_wait_s``, 120 s).

With ``--transit`` (for a scenario with buses, e.g. ``corridor:demand=high,bus_headway_s=300``)
the two adaptive runs are transit priority off and on (``AdaptiveConfig.transit_priority``)
instead of preemption off and on, and the table shows buses (target: -20 % bus delay, cars
at most +5 %).

Runs ``adaptive`` (default camera noise, gated as in ``benchmarks/adaptive.py``) with
preemption on and off (``AdaptiveConfig.preemption``) on the same seeds, plus ``static`` for
reference, and prints per controller the passengers' and the emergency vehicles' delay
(s/veh, SUMO's vClass; see ``sumo_scenarios.metrics``), their ratio (target: at most 0.4 with
preemption on), and the preemptions served. The emergency vehicles obey the signals (no
bluelight device), so their gain is the controller's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from controllers.adaptive import AdaptiveConfig, AdaptiveController  # noqa: E402
from phasewise.cmd_sim import simulate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="corridor:demand=high,emergency_per_h=12")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--end", type=float, default=None, help="simulation end (s; default the scenario's)")
    parser.add_argument("--no-gate", action="store_true")
    parser.add_argument("--transit", action="store_true", help="compare transit priority off/on (buses)")
    parser.add_argument("--pedestrians", type=float, default=None, metavar="N",
                        help="persons per hour on the corridor: compare pedestrian handling on/off")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.pedestrians is not None:
        pedestrians(args)
        return
    started = time.perf_counter()
    run = partial(simulate, None, args.scenario, seeds=args.seeds, end_s=args.end, first_seed=args.first_seed)
    knob, cls = ("transit_priority", "bus") if args.transit else ("preemption", "emergency")
    name = "transit priority" if args.transit else "preemption"
    results = {"static": run("static")}
    for on in (False, True):
        factory = partial(AdaptiveController, AdaptiveConfig(use_gate=not args.no_gate, gate_workers=1, **{knob: on}))
        results[f"adaptive, {name} {'on' if on else 'off'}"] = run("adaptive", factory=factory)
    last = args.first_seed + args.seeds - 1
    table = Table(title=f"{args.scenario}, seeds {args.first_seed}-{last}, delay s/veh (mean over seeds)")
    for col in ("controller", "all vehicles", "passenger", cls, f"{cls} / passenger", f"{cls} vehicles",
                "grants" if args.transit else "preemptions", f"worst {cls} seed"):
        table.add_column(col, justify="left" if col == "controller" else "right")
    rows = []
    for label, s in results.items():
        classes = s["by_vclass"]
        car = classes.get("passenger", {}).get("delay_s_per_vehicle", float("nan"))
        favoured = classes.get(cls, {})
        delay = favoured.get("delay_s_per_vehicle", float("nan"))
        key = "transit_grants" if args.transit else "preemption_events"
        served = sum(len((r.get("controller_report") or {}).get(key, [])) for r in s["per_seed"])
        worst = max((r["by_vclass"][cls]["delay_s_per_vehicle"] for r in s["per_seed"] if cls in r["by_vclass"]),
                    default=float("nan"))
        table.add_row(label, f"{s['delay_s_per_vehicle']:.1f}", f"{car:.1f}", f"{delay:.1f}", f"{delay / car:.2f}",
                      f"{favoured.get('vehicles', 0):.1f}", str(served), f"{worst:.1f}")
        rows.append({"controller": label, "delay_s_per_vehicle": s["delay_s_per_vehicle"], "passenger_s": car,
                     f"{cls}_s": delay, "ratio": delay / car, "served": served, "summary": s})
    Console(width=160).print(table)
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


def pedestrians(args: argparse.Namespace) -> None:
    """The ``--pedestrians`` comparison (module docstring)."""
    started = time.perf_counter()
    scenario = f"{args.scenario},pedestrians={args.pedestrians:g}" if ":" in args.scenario \
        else f"{args.scenario}:pedestrians={args.pedestrians:g}"
    run = partial(simulate, None, scenario, seeds=args.seeds, end_s=args.end, first_seed=args.first_seed)
    results = {}
    for on in (True, False):
        factory = partial(AdaptiveController, AdaptiveConfig(use_gate=not args.no_gate, gate_workers=1, pedestrians=on))
        results[f"adaptive, pedestrian handling {'on' if on else 'off'}"] = run("adaptive", factory=factory)
    results["maxpressure"] = run("maxpressure")
    results["actuated"] = run("actuated")
    last = args.first_seed + args.seeds - 1
    table = Table(title=f"{scenario}, seeds {args.first_seed}-{last} (means over seeds; longest wait: over all)")
    for col in ("controller", "all vehicles s/veh", "passenger s/veh", "pedestrian s/person", "persons",
                "longest wait s", "worst seed pedestrian s", "walks"):
        table.add_column(col, justify="left" if col == "controller" else "right")
    rows = []
    for label, s in results.items():
        classes = s["by_vclass"]
        car = classes.get("passenger", {}).get("delay_s_per_vehicle", float("nan"))
        ped = classes.get("pedestrian", {})
        worst = max((r["by_vclass"]["pedestrian"]["delay_s_per_vehicle"] for r in s["per_seed"]
                     if "pedestrian" in r["by_vclass"]), default=float("nan"))
        walks = sum((r.get("controller_report") or {}).get("pedestrian_walks", 0) for r in s["per_seed"])
        table.add_row(label, f"{s['delay_s_per_vehicle']:.1f}", f"{car:.1f}",
                      f"{ped.get('delay_s_per_vehicle', float('nan')):.1f}", f"{ped.get('vehicles', 0):.0f}",
                      f"{ped.get('longest_wait_s', float('nan')):.0f}", f"{worst:.1f}", str(walks or "—"))
        rows.append({"controller": label, "delay_s_per_vehicle": s["delay_s_per_vehicle"], "passenger_s": car,
                     "pedestrian_s": ped.get("delay_s_per_vehicle"), "longest_wait_s": ped.get("longest_wait_s"),
                     "summary": s})
    Console(width=160).print(table)
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
