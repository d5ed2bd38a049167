"""What one intersection costs per hour: CPU-seconds of the tactical loop and of the gate's
twins, the numbers that size a city deployment (docs/scale.md).

    .venv/bin/python benchmarks/city_cost.py [--seed 1] [--period 3600] [--twin-seeds 4]

1. **Tactical loop**: ``adaptive`` (gate off, 5 % camera misses) on the built-in corridor
   (4 signals, high demand) for ``--period`` s, in this process. CPU time of the policy's
   step (estimator, decisions, the 5-minute re-optimization) and of the rest of the SUMO
   driver (virtual cameras and the SUMO backend: simulation stand-ins for video and a
   cabinet), per intersection per hour of operation.
2. **Gate twins**: one gate evaluation's simulations (running and candidate plan, ``--twin-seeds``
   seeds, 900 s horizon, as :mod:`benchmarks.gate_cost` builds them) on the same corridor,
   and on a 20-signal grid (300 s horizon), each twin in a fresh process. CPU time of each
   twin process including its start and imports (``getrusage`` at the end of the task),
   summed per evaluation, then per intersection per hour at one evaluation every 5 minutes
   (the policy's re-optimization period, its most frequent).

Prints one table; ``per intersection-hour`` is what a city of N signals multiplies by N.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.gate_cost import network_program  # noqa: E402
from controllers.adaptive import AdaptiveConfig, AdaptiveController  # noqa: E402
from controllers.fixed_plan import FixedPlanController  # noqa: E402
from optimizer.demand import DemandEstimate  # noqa: E402
from optimizer.demand_routes import demand_from_routes  # noqa: E402
from optimizer.intersection import IntersectionModel  # noqa: E402
from optimizer.plan import TimingPlan  # noqa: E402
from optimizer.webster import optimize_intersection  # noqa: E402
from sumo_scenarios.corridor import CorridorSpec, build_corridor  # noqa: E402
from sumo_scenarios.executor import LocalExecutor  # noqa: E402
from sumo_scenarios.generated import GeneratedSpec, build_generated  # noqa: E402
from sumo_scenarios.network import load_intersections  # noqa: E402
from sumo_scenarios.runner import RunJob, Simulation, run  # noqa: E402
from sumo_scenarios.scenario import Scenario  # noqa: E402
from sumo_scenarios.twin import build_twin  # noqa: E402

GATE_EVALUATIONS_PER_HOUR = 12  # one per 5-minute re-optimization (AdaptiveConfig.replan_s = 300 s)


class TimedAdaptive(AdaptiveController):
    """``adaptive`` that adds up the CPU time of its steps and of its policy's steps."""

    def start(self, sim: Simulation) -> None:
        super().start(sim)
        self.step_cpu_s = self.policy_cpu_s = 0.0
        assert self.policy is not None
        policy_step = self.policy.step

        def timed_policy_step(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.process_time()
            try:
                return policy_step(*args, **kwargs)
            finally:
                self.policy_cpu_s += time.process_time() - started

        self.policy.step = timed_policy_step  # type: ignore[method-assign]

    def step(self, sim: Simulation) -> None:
        started = time.process_time()
        super().step(sim)
        self.step_cpu_s += time.process_time() - started

    def report(self) -> dict:
        return {**super().report(), "step_cpu_s": self.step_cpu_s, "policy_cpu_s": self.policy_cpu_s}


def cpu_of_run(job: RunJob) -> float:
    """Task: run ``job``; this process's CPU seconds so far (start, imports and the run)."""
    run(job)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def twin_cpu_s(net_file: Path, models: dict[str, IntersectionModel], demand: DemandEstimate,
               plans: tuple[TimingPlan, TimingPlan], horizon_s: float, seeds: int) -> tuple[float, float]:
    """(CPU s, wall s) of one gate evaluation's twins, each in a fresh local process."""
    executor = LocalExecutor(2)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="phasewise-cost-") as tmp:
        futures = []
        for seed in range(1, seeds + 1):
            twin = build_twin(net_file, models, demand, {}, horizon_s, seed, Path(tmp))
            futures += [executor.submit(cpu_of_run, RunJob(twin, seed, partial(FixedPlanController, p))) for p in plans]
        cpu_s = sum(f.result() for f in futures)
    executor.close()
    return cpu_s, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--period", type=float, default=3600.0, help="simulated seconds of the tactical run")
    parser.add_argument("--twin-seeds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("out/scenarios"))
    args = parser.parse_args()
    rows = []

    corridor = build_corridor(CorridorSpec(intersections=4, demand="high"), args.seed, args.out)
    hours = args.period / 3600.0
    config = AdaptiveConfig(use_gate=False)
    result = run(RunJob(corridor.with_period(0.0, args.period), args.seed, partial(TimedAdaptive, config)))
    n = 4
    policy_s, step_s = result.extra["policy_cpu_s"], result.extra["step_cpu_s"]
    rows.append(("tactical: adaptive policy step (estimator, decisions, re-optimization)", n, policy_s,
                 policy_s / n / hours))
    rows.append(("tactical: SUMO stand-ins (virtual cameras, SUMO backend)", n, step_s - policy_s,
                 (step_s - policy_s) / n / hours))
    rows.append((f"whole simulation incl. SUMO ({args.period:g} s, wall)", n, result.wall_s, result.wall_s / n / hours))

    models = load_intersections(corridor.net_file)
    demand = demand_from_routes(models, corridor.route_files, 900.0, 1800.0)
    running = network_program(models)
    candidate = TimingPlan({t: optimize_intersection(m, demand) for t, m in models.items()}, created_by="webster")
    cpu_s, wall_s = twin_cpu_s(corridor.net_file, models, demand, (running, candidate), 900.0, args.twin_seeds)
    rows.append((f"gate evaluation: corridor, {args.twin_seeds} seeds x 2 plans, 900 s horizon "
                 f"(wall {wall_s:.1f} s on 2 processes)", n, cpu_s, cpu_s * GATE_EVALUATIONS_PER_HOUR / n))

    grid: Scenario = build_generated(GeneratedSpec("grid", grid=(5, 4), period_s=1800.0, vehicle_period_s=1.0),
                                     1, args.out / "generated")
    models = load_intersections(grid.net_file)
    demand = demand_from_routes(models, grid.route_files, 0.0, 900.0)
    running = network_program(models)
    candidate = TimingPlan({t: optimize_intersection(m, demand) for t, m in models.items()}, created_by="webster")
    cpu_s, wall_s = twin_cpu_s(grid.net_file, models, demand, (running, candidate), 300.0, args.twin_seeds)
    n = len(models)
    rows.append((f"gate evaluation: 20-signal grid, {args.twin_seeds} seeds x 2 plans, 300 s horizon "
                 f"(wall {wall_s:.1f} s on 2 processes)", n, cpu_s, cpu_s * GATE_EVALUATIONS_PER_HOUR / n))

    print(f"\n{'what':<95} {'signals':>7} {'CPU s':>8} {'CPU s per intersection-hour':>28}")
    for what, signals, total_s, per_hour in rows:
        print(f"{what:<95} {signals:>7} {total_s:>8.1f} {per_hour:>28.1f}")
    print(f"gate rows: CPU s per evaluation, x {GATE_EVALUATIONS_PER_HOUR} evaluations per hour / signals")


if __name__ == "__main__":
    main()
