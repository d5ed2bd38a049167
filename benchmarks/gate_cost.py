"""What does the SUMO gate cost? A 15-min horizon, 4-intersection corridor, 4 seeds, 2 cores.

Builds the built-in corridor at high demand and plays the gate's situation at ``now_s``
(default 900 s): the *running* plan is the network's own fixed-time program (as a
:class:`~optimizer.plan.TimingPlan`), the *candidate* the corridor optimizer's plan
(:func:`optimizer.corridor.optimize_corridor`) for the demand of ``[now, now + horizon)``.
The gate's inputs stand in for the camera estimate: flows counted from the route file over
that period (:func:`optimizer.demand_routes.demand_from_routes`) and the queues SUMO shows
at ``now_s`` on every signalised approach lane under the running plan (this benchmark
times the gate; estimation error is measured by ``benchmarks/estimation_truth.py``).

Prints one row per :meth:`PlanGate.evaluate` call: the first right after the gate is
created (cold: worker processes still starting), then warm calls at later ``now_s`` (same
estimate, shifted phase position). Target: warm calls under 10 s. Then the agreement of the
calls: the share that gives the majority decision (target 95 %: the same estimate should
get the same answer whatever the phase position). ``--sequential`` runs the sequential gate
(``GateConfig(sequential=True)``: seeds added up to ``--max-seeds`` until confident);
``--executor ray`` runs the twins on a Ray cluster.

Then, for information, the twin's fidelity: RESCO delay of the running plan over the first
``horizon`` seconds in the twin (empty start, flows of that period, mean of the seeds) and
in the real scenario.

Usage::

    .venv/bin/python benchmarks/gate_cost.py [--seed 1] [--horizon 900] [--seeds 4] [--workers 2] [--calls 5]
        [--timeout 20] [--sequential --max-seeds 16 --seed-step 4] [--executor ray --ray-address auto]
        [--no-fidelity]
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controllers.fixed_plan import FixedPlanController  # noqa: E402
from controllers.gate import GateConfig, GateDecision, PlanGate  # noqa: E402
from sumo_scenarios.twin import build_twin  # noqa: E402
from optimizer.corridor import optimize_corridor  # noqa: E402
from optimizer.corridor_network import find_links  # noqa: E402
from optimizer.demand_routes import demand_from_routes  # noqa: E402
from optimizer.intersection import IntersectionModel  # noqa: E402
from optimizer.plan import TimingPlan  # noqa: E402
from optimizer.webster import build_plan  # noqa: E402
from sumo_scenarios.corridor import CorridorSpec, build_corridor  # noqa: E402
from sumo_scenarios.executor import EXECUTOR_NAMES, make_executor  # noqa: E402
from sumo_scenarios.network import load_intersections  # noqa: E402
from sumo_scenarios.runner import RunJob, Simulation, run  # noqa: E402
from sumo_scenarios.scenario import Scenario  # noqa: E402


def network_program(models: dict[str, IntersectionModel]) -> TimingPlan:
    """The network's own fixed-time programs as a plan (greens and offset as stored)."""
    return TimingPlan(
        {
            tls: build_plan(m, np.array([p.duration_s for p in m.phases]), m.program_offset_s % m.program_cycle_s, 0)
            for tls, m in models.items()
        },
        created_by="network program",
    )


class QueueSnapshot:
    """Keeps the network's program and records the halting vehicles per signalised lane at the
    run's last step (the queues at the end of the period)."""

    name = "queue-snapshot"

    def __init__(self) -> None:
        self.queues_veh: dict[str, float] = {}

    def additional_files(self, scenario: Scenario, workdir: Path) -> list[Path]:
        return []

    def start(self, sim: Simulation) -> None:
        pass

    def step(self, sim: Simulation) -> None:
        if sim.time_s >= sim.end_s - 1:
            lanes = {lane for m in sim.intersections.values() for lane in m.incoming_lanes}
            self.queues_veh = {lane: float(sim.conn.lane.getLastStepHaltingNumber(lane)) for lane in sorted(lanes)}

    def report(self) -> dict:
        return {"queues_veh": self.queues_veh}


def row(call: str, now_s: float, d: GateDecision) -> str:
    def mean_sd(values: tuple[float, ...]) -> str:
        if not values:
            return "-"
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):6.1f} ± {sd:4.1f}"

    return (f"{call:<6} {now_s:>6.0f} {d.wall_s:>7.2f} {len(d.delay_current_s):>5}  {mean_sd(d.delay_current_s):>13}  "
            f"{mean_sd(d.delay_candidate_s):>13}  {d.improvement:>+7.1%}  {d.p_value:>7.3g}  "
            f"{'SWITCH' if d.switch else 'KEEP':<6}  {d.reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="corridor demand seed")
    parser.add_argument("--now", type=float, default=900.0, help="time the gate is called at (s)")
    parser.add_argument("--horizon", type=float, default=900.0)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("out/scenarios"))
    parser.add_argument("--timeout", type=float, default=GateConfig.timeout_s, help="the gate's timeout_s")
    parser.add_argument("--sequential", action="store_true", help="GateConfig(sequential=True)")
    parser.add_argument("--max-seeds", type=int, default=GateConfig.max_seeds)
    parser.add_argument("--seed-step", type=int, default=GateConfig.seed_step)
    parser.add_argument("--executor", choices=EXECUTOR_NAMES, default="local",
                        help="local: the gate's own warm pool of --workers processes")
    parser.add_argument("--ray-address", default=None, help="auto or HOST:PORT (else $PHASEWISE_RAY_ADDRESS)")
    parser.add_argument("--no-fidelity", action="store_true", help="skip the twin-fidelity runs")
    args = parser.parse_args()

    scenario = build_corridor(CorridorSpec(intersections=4, demand="high"), args.seed, args.out)
    models = load_intersections(scenario.net_file)
    demand = demand_from_routes(models, scenario.route_files, args.now, args.now + args.horizon)
    running = network_program(models)
    candidate = optimize_corridor(models, demand, find_links(scenario.net_file, models), time_limit_s=2.0)
    snapshot = run(RunJob(scenario.with_period(0.0, args.now), args.seed, QueueSnapshot))
    queues_veh = snapshot.extra["queues_veh"]
    print(f"gate cost: corridor 4 intersections, high demand, seed {args.seed}; horizon {args.horizon:g} s, "
          f"{args.seeds} seeds{f' sequential up to {args.max_seeds}' if args.sequential else ''}, "
          f"{args.workers if args.executor == 'local' else 'Ray'} workers; running = network program (90 s), "
          f"candidate = {candidate.note}; {sum(queues_veh.values()):.0f} queued vehicles at now")

    header = (f"{'call':<6} {'now_s':>6} {'wall_s':>7} {'seeds':>5}  {'delay cur s':>13}  {'delay cand s':>13}  "
              f"{'improve':>7}  {'p':>7}  {'decision':<6}  reason")
    config = GateConfig(horizon_s=args.horizon, seeds=args.seeds, workers=args.workers, timeout_s=args.timeout,
                        sequential=args.sequential, max_seeds=args.max_seeds, seed_step=args.seed_step)
    executor = None if args.executor == "local" else make_executor(args.executor, args.ray_address)
    started = time.perf_counter()
    with PlanGate(scenario.net_file, models, config, executor=executor) as gate:
        print(f"(PlanGate created in {time.perf_counter() - started:.2f} s)")
        print(header)
        print("-" * len(header))
        for k in range(args.calls):
            now_s = args.now + 60.0 * k
            decision = gate.evaluate(running, candidate, demand, queues_veh, now_s=now_s)
            print(row("cold" if k == 0 else f"warm{k}", now_s, decision), flush=True)
    if executor is not None:
        executor.close()
    warm = [d.wall_s for d in gate.decisions[1:]]
    if warm:
        print(f"warm calls: mean {statistics.mean(warm):.2f} s, max {max(warm):.2f} s (target < 10 s); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(agreement(gate.decisions))
    if not args.no_fidelity:
        fidelity(scenario, models, running, args)


def agreement(decisions: list[GateDecision]) -> str:
    """The share of calls that give the majority decision, and the seeds the calls used."""
    votes = collections.Counter("SWITCH" if d.switch else "KEEP" for d in decisions)
    majority, count = votes.most_common(1)[0]
    seeds = [len(d.delay_current_s) for d in decisions]
    return (f"agreement: {count} of {len(decisions)} calls ({count / len(decisions):.0%}) say {majority} "
            f"(target 95 %); seeds per call {min(seeds)}-{max(seeds)}, mean {statistics.mean(seeds):.1f}")


def fidelity(scenario: Scenario, models: dict[str, IntersectionModel], running: TimingPlan, args: argparse.Namespace) -> None:
    """Running plan over [0, horizon): twin (mean of seeds) vs the real scenario."""
    demand = demand_from_routes(models, scenario.route_files, 0.0, args.horizon)
    controller = partial(FixedPlanController, running)
    real = run(RunJob(scenario.with_period(0.0, args.horizon), args.seed, controller)).metrics
    twin_runs = []
    with tempfile.TemporaryDirectory(prefix="phasewise-twin-") as tmp:
        for seed in range(1, args.seeds + 1):
            twin = build_twin(scenario.net_file, models, demand, {}, args.horizon, seed, Path(tmp))
            twin_runs.append(run(RunJob(twin, seed, controller)).metrics)
    delays = [m.delay_s_per_vehicle for m in twin_runs]
    print(f"\ntwin fidelity, running plan over [0, {args.horizon:g}) s from an empty network:")
    print(f"  real scenario: delay {real.delay_s_per_vehicle:6.1f} s/veh, throughput {real.throughput_veh} veh, "
          f"{real.vehicles} vehicles")
    print(f"  twin ({args.seeds} seeds): delay {statistics.mean(delays):6.1f} s/veh "
          f"(seeds {', '.join(f'{d:.1f}' for d in delays)}), throughput "
          f"{statistics.mean(m.throughput_veh for m in twin_runs):.0f} veh, "
          f"{statistics.mean(m.vehicles for m in twin_runs):.0f} vehicles")


if __name__ == "__main__":
    main()
