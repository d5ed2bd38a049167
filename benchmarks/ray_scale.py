"""Ray against the local pool: wall time and speed-up for a reduced adaptive grid and for gate
calls on a 20-signal network, and the cost of a fresh worker per task.

    .venv/bin/python benchmarks/ray_scale.py --ray-address auto [--workers 2] [--seeds 2] [--period 900]
        [--gate-calls 3] [--skip grid]

Start a cluster first; on one machine, a head that only schedules and two one-CPU nodes::

    ray start --head --port 6379 --num-cpus 0 --include-dashboard false
    ray start --address 127.0.0.1:6379 --num-cpus 1     # twice
    ...
    ray stop --force

Three workloads, each run on the local pool (``--workers`` processes; the gate: its own warm
pool, today's default) and then on Ray (a fresh worker process per task):

1. **overhead**: 8 tasks that only import the SUMO stack (what every fresh worker pays);
2. **grid**: the adaptive benchmark's grid REDUCED to corridor high demand and cologne1, the
   first ``--period`` s of each, controllers static, actuated, maxpressure and adaptive (5 %
   camera misses, gate on: its twins on one local process inside the task, as in
   ``benchmarks/adaptive.py``), seeds 1..``--seeds``, all submitted at once; the results are
   checked identical;
3. **gate**: ``--gate-calls`` calls on a 20-signal grid (netgenerate 5 x 4, randomTrips at
   one vehicle a second): running plan = the network's fixed-time program, candidate = each
   intersection's Webster optimum for the demand of the first 15 min; twin horizon 300 s,
   4 seeds; calls 60 s apart on the same estimate. On Ray twice: a fresh worker per twin,
   then reused workers (``RayExecutor(fresh_process=False)``, as the local warm pool).

Prints one row per workload: tasks, wall time local and on Ray, speed-up (local / Ray).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.gate_cost import network_program  # noqa: E402
from controllers.adaptive import AdaptiveConfig, AdaptiveController  # noqa: E402
from controllers.gate import GateConfig, GateDecision, PlanGate  # noqa: E402
from controllers.registry import controller_factory  # noqa: E402
from optimizer.demand_routes import demand_from_routes  # noqa: E402
from optimizer.plan import TimingPlan  # noqa: E402
from optimizer.webster import optimize_intersection  # noqa: E402
from phasewise import scenarios  # noqa: E402
from sumo_scenarios.executor import Executor, LocalExecutor, RayExecutor  # noqa: E402
from sumo_scenarios.generated import GeneratedSpec, build_generated  # noqa: E402
from sumo_scenarios.network import load_intersections  # noqa: E402
from sumo_scenarios.runner import RunJob, run_many  # noqa: E402
from sumo_scenarios.sensing import CameraNoise  # noqa: E402

GRID_SCENARIOS = ("corridor:demand=high", "cologne1")
OVERHEAD_TASKS = 8


def import_stack() -> int:
    """Task: import what a SUMO run imports; the worker's pid."""
    import libsumo  # noqa: F401  (imported for its cost)

    import controllers.fixed_plan  # noqa: F401
    import sumo_scenarios.runner  # noqa: F401

    return os.getpid()


def overhead(executor: Executor) -> float:
    started = time.perf_counter()
    pids = [f.result() for f in [executor.submit(import_stack) for _ in range(OVERHEAD_TASKS)]]
    assert len(set(pids)) == OVERHEAD_TASKS, "a worker ran two tasks"  # fresh process per task
    return time.perf_counter() - started


def grid_jobs(seeds: int, period_s: float) -> list[RunJob]:
    noise = CameraNoise()
    adaptive = partial(AdaptiveController, AdaptiveConfig(gate_workers=1), noise)
    jobs = []
    for name in GRID_SCENARIOS:
        for seed in range(1, seeds + 1):
            (scenario,) = scenarios.resolve(None, name, [seed])
            scenario = scenario.with_period(scenario.begin_s, scenario.begin_s + period_s)
            for label in ("static", "actuated", "maxpressure", "adaptive"):
                factory = adaptive if label == "adaptive" else controller_factory(label)
                jobs.append(RunJob(scenario, seed, factory, label=f"{name}/{label}/{seed}"))
    return jobs


def gate_calls(executor: Executor | None, workers: int, calls: int, out: Path) -> tuple[float, list[GateDecision]]:
    scenario = build_generated(GeneratedSpec("grid", grid=(5, 4), period_s=1800.0, vehicle_period_s=1.0), 1, out)
    models = load_intersections(scenario.net_file)
    assert len(models) == 20, len(models)
    demand = demand_from_routes(models, scenario.route_files, 0.0, 900.0)
    running = network_program(models)
    candidate = TimingPlan({tls: optimize_intersection(m, demand) for tls, m in models.items()}, created_by="webster")
    config = GateConfig(horizon_s=300.0, seeds=4, workers=workers, timeout_s=600.0)
    started = time.perf_counter()
    with PlanGate(scenario.net_file, models, config, executor=executor) as gate:
        decisions = [gate.evaluate(running, candidate, demand, {}, now_s=900.0 + 60.0 * k) for k in range(calls)]
    return time.perf_counter() - started, decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ray-address", default=None, help="auto or HOST:PORT (else $PHASEWISE_RAY_ADDRESS)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local pool size")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--period", type=float, default=900.0, help="simulated seconds of each grid run")
    parser.add_argument("--gate-calls", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated: overhead, grid, gate")
    parser.add_argument("--out", type=Path, default=Path("out/scenarios"))
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    ray_executor = RayExecutor(args.ray_address or os.environ.get("PHASEWISE_RAY_ADDRESS") or "auto")
    cluster_cpus = int(ray_executor._ray.cluster_resources().get("CPU", 0))
    print(f"local pool: {args.workers} processes on {os.cpu_count()} cores; Ray: {cluster_cpus} CPUs "
          f"on {len(ray_executor._ray.nodes())} nodes at {ray_executor.address}", flush=True)
    rows = []

    if "overhead" not in skip:
        local = LocalExecutor(args.workers)
        local_s, ray_s = overhead(local), overhead(ray_executor)
        local.close()
        rows.append((f"overhead: {OVERHEAD_TASKS} import-only tasks", OVERHEAD_TASKS, local_s, ray_s,
                     f"per task and slot: local {local_s * args.workers / OVERHEAD_TASKS:.2f} s, "
                     f"Ray {ray_s * cluster_cpus / OVERHEAD_TASKS:.2f} s"))
        print(rows[-1], flush=True)

    if "grid" not in skip:
        jobs = grid_jobs(args.seeds, args.period)
        started = time.perf_counter()
        local_results = run_many(jobs, args.workers)
        local_s = time.perf_counter() - started
        started = time.perf_counter()
        ray_results = run_many(jobs, executor=ray_executor)
        ray_s = time.perf_counter() - started
        same = sum(a.metrics == b.metrics for a, b in zip(local_results, ray_results))
        cpu_s = sum(r.wall_s for r in local_results)
        rows.append((f"grid (reduced): {len(GRID_SCENARIOS)} scenarios x 4 controllers x {args.seeds} seeds, "
                     f"{args.period:g} s", len(jobs), local_s, ray_s,
                     f"{same}/{len(jobs)} results identical; runs' own wall {cpu_s:.0f} s"))
        print(rows[-1], flush=True)

    if "gate" not in skip:
        local_s, local_decisions = gate_calls(None, args.workers, args.gate_calls, args.out / "generated")
        verdicts = lambda ds: ",".join("SWITCH" if d.switch else "KEEP" for d in ds)  # noqa: E731
        reused = RayExecutor(ray_executor.address, fresh_process=False)
        for name, executor in (("fresh worker per twin", ray_executor), ("reused workers", reused)):
            ray_s, ray_decisions = gate_calls(executor, args.workers, args.gate_calls, args.out / "generated")
            rows.append((f"gate: 20-signal grid, {args.gate_calls} calls x 4 seeds x 2 plans, 300 s; Ray {name}",
                         args.gate_calls * 8, local_s, ray_s,
                         f"local {verdicts(local_decisions)}, Ray {verdicts(ray_decisions)}; per call local "
                         f"{local_s / args.gate_calls:.1f} s, Ray {ray_s / args.gate_calls:.1f} s"))
            print(rows[-1], flush=True)
    ray_executor.close()

    print(f"\n{'workload':<90} {'tasks':>5} {'local s':>8} {'Ray s':>8} {'speed-up':>8}  notes")
    for name, tasks, local_s, ray_s, note in rows:
        print(f"{name:<90} {tasks:>5} {local_s:>8.1f} {ray_s:>8.1f} {local_s / ray_s:>7.2f}x  {note}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
