"""Corridor optimizer: solve time against the number of intersections, and CP-SAT against
exhaustive search on instances small enough to enumerate.

    .venv/bin/python benchmarks/optimizer_scaling.py [--sizes 2,5,10,20,50] [--seed 1]

Synthetic corridors clone the middle intersection of the built-in corridor (its phases and
movements) N times, with link lengths drawn uniformly in 200..500 m at 50 km/h and
movement flows drawn around the built-in "high" demand (seeded). Solve time is the whole
``optimize_corridor`` call (single-intersection splits at each candidate cycle included).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from optimizer.corridor import (  # noqa: E402
    CorridorLink,
    CorridorOptions,
    build_problem,
    coordinated_phases,
    optimize_corridor,
    solve_cpsat,
    solve_exhaustive,
)
from optimizer.demand import DemandEstimate  # noqa: E402
from optimizer.intersection import IntersectionModel  # noqa: E402
from optimizer.plan import validate  # noqa: E402
from optimizer.webster import IntersectionBounds  # noqa: E402
from sumo_scenarios.corridor import CorridorSpec, build_corridor  # noqa: E402
from sumo_scenarios.network import load_intersections  # noqa: E402

SPEED_M_S = 50 / 3.6


def template() -> IntersectionModel:
    with tempfile.TemporaryDirectory() as tmp:
        scenario = build_corridor(CorridorSpec(intersections=3), 1, Path(tmp))
        return load_intersections(scenario.net_file)["J1"]


def synthetic(n: int, seed: int, model: IntersectionModel) -> tuple[dict, DemandEstimate, tuple[CorridorLink, ...]]:
    """N clones of ``model`` in a chain, random spacing and demand."""
    rng = np.random.default_rng(seed)
    models = {f"T{i}": replace(model, tls_id=f"T{i}") for i in range(n)}
    flows = {}
    for tls_id in models:
        flows[tls_id] = {
            m.id: float(rng.uniform(500, 1000) if m.turn == "through" and m.approach.startswith("J") else rng.uniform(30, 250))
            for m in model.movements
        }
    links = []
    for i in range(n - 1):
        length = float(rng.uniform(200, 500))
        links.append(CorridorLink(f"T{i}", f"T{i + 1}", length / SPEED_M_S, length, "J1_J2.up", "J0_J1"))
        links.append(CorridorLink(f"T{i + 1}", f"T{i}", length / SPEED_M_S, length, "J1_J0.up", "J2_J1"))
    return models, DemandEstimate(flows), tuple(links)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,5,10,20,50")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=5.0)
    args = parser.parse_args()
    model = template()

    print("Solve time vs corridor size (optimize_corridor, 2 candidate cycles, 3 split options each)")
    print(f"{'N':>4} {'links':>6} {'cycle s':>8} {'solve s':>8} {'status':>10} {'model delay veh.h/h':>20} {'progression veh.h/h':>20}")
    for n in (int(x) for x in args.sizes.split(",")):
        models, demand, links = synthetic(n, args.seed, model)
        started = time.perf_counter()
        plan = optimize_corridor(models, demand, links, time_limit_s=args.time_limit)
        elapsed = time.perf_counter() - started
        validate(plan, models)
        status = plan.note.rsplit(" ", 1)[-1]
        print(f"{n:>4} {len(links):>6} {plan.objective['cycle_s']:>8.0f} {elapsed:>8.2f} {status:>10} "
              f"{plan.objective['delay_veh_h_per_h']:>20.1f} {plan.objective['progression_veh_h_per_h']:>20.1f}")

    print()
    print("CP-SAT vs exhaustive search (joint split options and offsets, fixed cycle)")
    print(f"{'N':>4} {'cycle s':>8} {'seed':>5} {'exhaustive':>14} {'CP-SAT':>14} {'match':>6} {'enum s':>8} {'CP-SAT s':>9}")
    bounds, options = IntersectionBounds(), CorridorOptions()
    for n, cycle in ((2, 90), (3, 90), (3, 60), (4, 40)):
        for seed in (1, 2, 3):
            models, demand, links = synthetic(n, seed, model)
            problem = build_problem(models, demand, links, cycle, coordinated_phases(models, demand, links), bounds, options)
            exact = solve_exhaustive(problem)
            found = solve_cpsat(problem, args.time_limit)
            match = abs(found.cost - exact.cost) <= 0.5 * (len(problem.links) + n)
            print(f"{n:>4} {cycle:>8} {seed:>5} {exact.cost:>14.1f} {found.cost:>14.1f} {'yes' if match else 'NO':>6} "
                  f"{exact.solve_s:>8.2f} {found.solve_s:>9.3f}")


if __name__ == "__main__":
    main()
