"""Queue storage as a constraint: the analytical plan with and without it, in SUMO.

    .venv/bin/python benchmarks/storage_constraint.py [--seeds 10] [--workers 1] [--networks short-bays,cologne3,...]

For each network the corridor optimisation runs twice on the demand of its routes: without
storage limits and with them (:mod:`optimizer.storage`: every movement's red-time queue
within its shortest lane), and both plans run as fixed programs on seeds 1..N through the
one runner and metric (RESCO delay, s/veh). Printed per network: the common cycle, the
movements whose red-time queue exceeds their storage (:mod:`optimizer.spillback`), the mean
delay and the paired difference with its 90 % interval (:mod:`optimizer.check`).

Networks: ``short-bays`` (the built-in corridor, 2 lights 100 m apart, 20 m left-turn bays,
medium demand for 900 s: the network of ``tests/optimizer/test_storage.py``) and the shared
scenarios with short lanes (cologne3, ingolstadt7). Measured: see README, section "Optimize".
"""

from __future__ import annotations

import argparse
import dataclasses
from functools import partial
from pathlib import Path

import numpy as np

from optimizer.check import PairedDifference
from optimizer.corridor import optimize_corridor
from optimizer.corridor_network import find_links
from optimizer.demand_routes import demand_from_routes
from optimizer.program_file import ProgramFileController
from optimizer.spillback import spill_backs
from optimizer.storage import lane_storage_veh
from optimizer.sumo_export import write_additional
from optimizer.webster import IntersectionBounds
from phasewise import scenarios
from sumo_scenarios.network import load_intersections
from sumo_scenarios.routing import route_trips
from sumo_scenarios.runner import RunJob, run_many

NETWORKS = {"short-bays": "corridor:demand=medium,intersections=2,spacing_m=100,left_turn_bay_m=20,duration_s=900",
            "cologne3": "cologne3", "ingolstadt7": "ingolstadt7"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--out", type=Path, default=Path("out/storage_constraint"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(1, args.seeds + 1))
    print("| network | plan | cycle s | spill-backs | delay s/veh | with storage − without (90 % CI) |")
    print("|---|---|---|---|---|---|")
    for name in args.networks.split(","):
        scenario = scenarios.resolve(None, NETWORKS[name], seeds)[0]
        models = load_intersections(scenario.net_file)
        routed = route_trips(scenario.net_file, [Path(r) for r in scenario.route_files], scenarios.cache_dir() / "routes")
        demand = demand_from_routes(models, routed, scenario.begin_s, scenario.end_s)
        links = find_links(scenario.net_file, models)
        held = IntersectionBounds(storage_veh=lane_storage_veh(scenario.net_file, models))
        delays, rows = {}, []
        for label, bounds in (("without storage", dataclasses.replace(held, storage_veh={})), ("with storage", held)):
            plan = optimize_corridor(models, demand, links, 2.0, bounds)
            path = write_additional(plan, models, args.out / f"{name}-{label.replace(' ', '_')}.add.xml")
            jobs = [RunJob(scenario, seed, partial(ProgramFileController, path), label=label) for seed in seeds]
            delays[label] = np.array([r.metrics.delay_s_per_vehicle for r in run_many(jobs, args.workers)])
            rows.append((label, plan.objective["cycle_s"], len(spill_backs(plan, models, demand, held))))
        diff = PairedDifference.of(delays["without storage"], delays["with storage"])
        for label, cycle, spills in rows:
            change = f"{diff.mean:+.1f} ({diff.low:+.1f} … {diff.high:+.1f})"
            print(f"| {name} | {label} | {cycle:.0f} | {spills} | {delays[label].mean():.1f} | "
                  f"{change if label == 'with storage' else ''} |", flush=True)
    print(f"\nseeds 1..{args.seeds}; spill-backs: movements whose red-time queue exceeds their lane's storage")


if __name__ == "__main__":
    main()
