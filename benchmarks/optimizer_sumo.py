"""Optimized fixed-time plans in SUMO against the network's program and SUMO's Webster tool.

    .venv/bin/python benchmarks/optimizer_sumo.py [--demands high,peak] [--seeds 3] [--cologne3]

For each demand level and seed of the built-in 4-intersection corridor:

* ``static``: the network's own program (netconvert, 90 s);
* ``tlsCycleAdaptation``: SUMO's ``tools/tlsCycleAdaptation.py`` (Webster per light) run on
  that seed's route file, its output loaded as an additional file;
* ``optimized``: ``optimize_corridor`` with demand counted from the same route file (the same
  information the SUMO tool gets), applied by ``FixedPlanController``.

Delay is the RESCO definition of :mod:`sumo_scenarios.metrics` (mean over seeds ± std).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controllers.fixed_plan import FixedPlanController  # noqa: E402
from controllers.static import StaticController  # noqa: E402
from optimizer.corridor import optimize_corridor  # noqa: E402
from optimizer.corridor_network import find_links  # noqa: E402
from optimizer.demand_routes import demand_from_routes  # noqa: E402
from optimizer.plan import TimingPlan  # noqa: E402
from phasewise.scenarios import cache_dir, scenarios_dir  # noqa: E402
from phasewise_errors import SimulationError  # noqa: E402
from sumo_scenarios.corridor import CorridorSpec, build_corridor  # noqa: E402
from sumo_scenarios.network import load_intersections  # noqa: E402
from sumo_scenarios.runner import RunJob, RunResult, Simulation, run_many  # noqa: E402
from sumo_scenarios.scenario import Scenario  # noqa: E402

TCA_PROGRAM = "tlsCycleAdaptation"


class TlsCycleAdaptation:
    """SUMO's Webster tool as a baseline: writes its programs from the scenario's routes."""

    name = "tlsCycleAdaptation"

    def additional_files(self, scenario: Scenario, workdir: Path) -> list[Path]:
        from sumo import SUMO_HOME

        out = workdir / "tca.add.xml"
        command = [sys.executable, str(Path(SUMO_HOME) / "tools" / "tlsCycleAdaptation.py"),
                   "-n", str(scenario.net_file), "-r", ",".join(str(r) for r in scenario.route_files),
                   "-b", f"{scenario.begin_s:g}", "-o", str(out), "-p", TCA_PROGRAM]
        done = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
        if done.returncode != 0 or not out.is_file():
            raise SimulationError(f"tlsCycleAdaptation failed: {done.stderr.strip()[-500:]}")
        return [out]

    def start(self, sim: Simulation) -> None:
        for tls_id in sim.intersections:
            sim.conn.trafficlight.setProgram(tls_id, TCA_PROGRAM)

    def step(self, sim: Simulation) -> None:
        pass


def optimized_plan(scenario: Scenario, time_limit_s: float) -> TimingPlan:
    models = load_intersections(scenario.net_file)
    demand = demand_from_routes(models, scenario.route_files, scenario.begin_s, scenario.end_s)
    return optimize_corridor(models, demand, find_links(scenario.net_file, models), time_limit_s=time_limit_s)


def jobs_for(name: str, scenarios: list[tuple[Scenario, int]], time_limit_s: float) -> list[RunJob]:
    jobs = []
    for scenario, seed in scenarios:
        plan = optimized_plan(scenario, time_limit_s)
        print(f"  {name} seed {seed}: {plan.note}; solve {plan.objective['solve_s']:.2f} s", flush=True)
        jobs += [
            RunJob(scenario, seed, StaticController, label=f"{name}|static"),
            RunJob(scenario, seed, TlsCycleAdaptation, label=f"{name}|tlsCycleAdaptation"),
            RunJob(scenario, seed, partial(FixedPlanController, plan), label=f"{name}|optimized"),
        ]
    return jobs


def table(results: list[RunResult]) -> None:
    groups: dict[str, list[RunResult]] = {}
    for r in results:
        groups.setdefault(r.job_label, []).append(r)
    print(f"{'scenario':<22} {'controller':<20} {'delay s/veh':>14} {'throughput':>10} {'stops/veh':>9} {'never ins.':>10} {'seeds':>5}")
    for label, runs in groups.items():
        scenario, controller = label.split("|")
        delay = np.array([r.metrics.delay_s_per_vehicle for r in runs])
        print(f"{scenario:<22} {controller:<20} {delay.mean():>8.1f} ± {delay.std():>4.1f} "
              f"{np.mean([r.metrics.throughput_veh for r in runs]):>10.0f} "
              f"{np.mean([r.metrics.stops_per_vehicle for r in runs]):>9.2f} "
              f"{np.mean([r.metrics.never_inserted for r in runs]):>10.0f} {len(runs):>5}")
    print()
    print("per seed delay s/veh: " + "; ".join(f"{lab} {[round(r.metrics.delay_s_per_vehicle, 1) for r in rs]}" for lab, rs in groups.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demands", default="high,peak")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=5.0)
    parser.add_argument("--cologne3", action="store_true", help="also run the cologne3 scenario (one seed per --seeds)")
    args = parser.parse_args()
    jobs: list[RunJob] = []
    for demand in args.demands.split(","):
        spec = CorridorSpec(demand=demand)
        built = [(build_corridor(spec, seed, cache_dir() / "corridor"), seed) for seed in range(1, args.seeds + 1)]
        jobs += jobs_for(f"corridor-{demand}", built, args.time_limit)
    if args.cologne3:
        cfg = Scenario.from_sumocfg(scenarios_dir() / "cologne3" / "cologne3.sumocfg")
        jobs += jobs_for("cologne3", [(cfg, seed) for seed in range(1, args.seeds + 1)], args.time_limit)
    table(run_many(jobs))


if __name__ == "__main__":
    main()
