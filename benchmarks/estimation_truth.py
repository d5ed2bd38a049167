"""How well does the camera-based estimator know demand and queues? Compared to SUMO truth.

Runs each scenario under its own fixed-time program with an observer that, every step,
feeds the virtual cameras (:mod:`sumo_scenarios.sensing`) into the estimator
(:mod:`counting.estimator`) and records SUMO's ground truth
(:mod:`sumo_scenarios.sensing_truth`). Prints one row per scenario and noise level:

* ``dem15``/``dem5``: MAPE of arrivals per movement in 15-/5-min bins (movement-bins with
  at least 10/5 true arrivals) and ``bias15`` (sum of errors / sum of truth, 15 min);
* ``flow15``: MAPE of the Kalman-smoothed rate read at the end of each 15-min bin against
  that bin's true rate (what a controller reading ``flow_veh_h`` gets; it lags by design);
* ``qMAE``: mean absolute queue error (veh) per lane while the true queue is inside the
  view, over lane-samples (every 5 s) where the true or the estimated queue is non-zero;
* ``spill%``: share of those lane-samples whose true queue reached beyond the view;
  ``spTrue``: their mean true queue (veh); ``spMAE``/``spBias``: queue error (veh) on them;
* ``clean``: no NaN and no negative value in any estimate; ``outage``: the dead camera was
  flagged during its outage (``-`` when no camera was out).

Usage::

    .venv/bin/python benchmarks/estimation_truth.py [--seed 1] [--duration 3600] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from counting.estimator import DemandEstimator, DetectionRates, TrafficEstimate  # noqa: E402
from sumo_scenarios.corridor import CorridorSpec, build_corridor  # noqa: E402
from sumo_scenarios.runner import RunJob, RunResult, Simulation, run_many  # noqa: E402
from sumo_scenarios.scenario import Scenario  # noqa: E402
from sumo_scenarios.sensing import CameraNetwork, CameraNoise, Outage  # noqa: E402
from sumo_scenarios.sensing_truth import TruthRecorder  # noqa: E402

SHARED = Path(os.environ.get("PHASEWISE_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "scenarios"
BIN_S = 300.0
QUEUE_SAMPLE_S = 5
OUTAGE_START_S, OUTAGE_END_S = 900.0, 1800.0  # after the period's begin


@dataclass(frozen=True)
class NoiseLevel:
    name: str
    noise: CameraNoise
    assumed: DetectionRates | None = None  # what the estimator is told (None: the truth)
    camera_out: bool = False


NOISE_LEVELS = (
    NoiseLevel("none", CameraNoise.perfect()),
    NoiseLevel("default", CameraNoise()),  # measured on the intersection clip (sensing.CameraNoise)
    NoiseLevel("20%miss", CameraNoise(miss_rate=0.20)),
    NoiseLevel("20%miss,uncal", CameraNoise(miss_rate=0.20), assumed=CameraNoise().detection_rates()),
    NoiseLevel("1 camera out", CameraNoise(), camera_out=True),
)


@dataclass
class Observer:
    """Static program + cameras + estimator + truth; ``report()`` returns the comparison."""

    noise: CameraNoise
    assumed: DetectionRates | None
    outage_camera: str | None
    seed: int
    name: str = "observer"
    errors_in_view: list[float] = field(default_factory=list)
    errors_spill: list[float] = field(default_factory=list)
    truth_spill: list[float] = field(default_factory=list)
    flows_15: dict[float, dict[str, float]] = field(default_factory=dict)
    clean: bool = True
    outage_flagged: bool | None = None

    def additional_files(self, scenario: Scenario, workdir: Path) -> list[Path]:
        return []

    def start(self, sim: Simulation) -> None:
        begin = sim.scenario.begin_s
        noise = self.noise
        if self.outage_camera is not None:
            noise = replace(noise, outages=(Outage(self.outage_camera, begin + OUTAGE_START_S, begin + OUTAGE_END_S),))
        self.cameras = CameraNetwork(sim.conn, sim.intersections, noise=noise, seed=self.seed)
        self.estimator = DemandEstimator(self.cameras.layouts.values(), rates=self.assumed or noise.detection_rates(),
                                         bin_s=BIN_S, origin_s=begin)
        self.truth = TruthRecorder(sim.conn, sim.intersections, bin_s=BIN_S, origin_s=begin)
        self.begin = begin

    def step(self, sim: Simulation) -> None:
        t = sim.time_s
        if t <= self.begin:
            return  # nothing simulated yet
        for frame in self.cameras.observe(t).values():
            self.estimator.update(frame)
        self.truth.sample(t)
        elapsed = t - self.begin
        if elapsed % QUEUE_SAMPLE_S == 0 or elapsed % 900 == 0:
            self._compare(self.estimator.estimate(t), elapsed)

    def _compare(self, est: TrafficEstimate, elapsed: float) -> None:
        values = [*est.flow_veh_h.values(), *est.std_veh_h.values(), *est.queue_veh.values(),
                  *est.queue_m.values(), *est.saturation_flow_veh_h.values()]
        self.clean &= all(math.isfinite(v) and v >= 0.0 for v in values)
        if elapsed % 900 == 0:
            self.flows_15[self.begin + elapsed - 900] = dict(est.flow_veh_h)
        if self.outage_camera is not None and OUTAGE_START_S + 60 <= elapsed < OUTAGE_END_S:
            flagged = est.flags[self.outage_camera].outage and not est.flags[self.outage_camera].ok
            self.outage_flagged = flagged if self.outage_flagged is None else self.outage_flagged and flagged
        beyond = self.truth.beyond_view_veh
        for lane, true_q in self.truth.queue_veh.items():
            q = est.queue_veh[lane]
            if true_q == 0 and q < 0.5:
                continue
            (self.errors_spill if beyond[lane] > 0 else self.errors_in_view).append(q - true_q)
            if beyond[lane] > 0:
                self.truth_spill.append(true_q)

    def report(self) -> dict:
        return {
            "est_bins": self.estimator.bins(), "true_bins": self.truth.bins(), "flows_15": self.flows_15,
            "in_view": self.errors_in_view, "spill": self.errors_spill, "spill_truth": self.truth_spill, "clean": self.clean,
            "outage_flagged": self.outage_flagged,
        }


def demand_errors(est: dict[float, dict[str, float]], truth: dict[float, dict[str, float]],
                  group: int, min_veh: float) -> tuple[float, float]:
    """(MAPE %, volume-weighted bias %) over movement-bins of ``group`` consecutive bins."""
    starts = sorted(est)
    ape, err_sum, true_sum = [], 0.0, 0.0
    for k in range(0, len(starts) - group + 1, group):
        chunk = starts[k:k + group]
        for move in est[chunk[0]]:
            e = sum(est[s].get(move, 0.0) for s in chunk)
            t = sum(truth.get(s, {}).get(move, 0.0) for s in chunk)
            err_sum += e - t
            true_sum += t
            if t >= min_veh:
                ape.append(abs(e - t) / t)
    return 100.0 * float(np.mean(ape)) if ape else float("nan"), 100.0 * err_sum / max(true_sum, 1.0)


def flow_mape(flows_15: dict[float, dict[str, float]], truth: dict[float, dict[str, float]]) -> float:
    ape = []
    for start, flows in flows_15.items():
        for move, f in flows.items():
            t = sum(truth.get(start + k * BIN_S, {}).get(move, 0.0) for k in range(3))
            if t >= 10:
                ape.append(abs(f * 0.25 - t) / t)
    return 100.0 * float(np.mean(ape)) if ape else float("nan")


def scenarios(seed: int, duration_s: float, out_dir: Path) -> list[tuple[Scenario, str]]:
    """(scenario, camera to take out) for the corridor at three demands and cologne3."""
    out = []
    for demand in ("low", "medium", "high"):
        spec = CorridorSpec(demand=demand, duration_s=duration_s)
        out.append((build_corridor(spec, seed, out_dir), "W_J0"))
    cologne = Scenario.from_sumocfg(SHARED / "cologne3" / "cologne3.sumocfg")
    out.append((cologne.with_period(end_s=cologne.begin_s + duration_s), ""))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("out/scenarios"))
    args = parser.parse_args()

    jobs, rows = [], []
    for scenario, out_camera in scenarios(args.seed, args.duration, args.out):
        if not out_camera:  # the busiest camera of a real network: its first approach
            from sumo_scenarios.network import load_intersections
            out_camera = next(iter(load_intersections(scenario.net_file).values())).approaches[0]
        for level in NOISE_LEVELS:
            jobs.append(RunJob(scenario, args.seed, _ObserverFactory(level, out_camera, args.seed),
                               label=f"{scenario.name}|{level.name}"))
    started = time.perf_counter()
    results: list[RunResult] = run_many(jobs, workers=args.workers)
    header = (f"{'scenario':<16} {'noise':<15} {'dem15':>6} {'bias15':>7} {'dem5':>6} {'flow15':>7} "
              f"{'qMAE':>5} {'spill%':>6} {'spTrue':>6} {'spMAE':>6} {'spBias':>7} {'clean':>5} {'outage':>6}")
    print(f"estimation vs SUMO truth: seed {args.seed}, {args.duration:g} s per run, view 100 m, "
          f"MAPE/bias in %, queues in veh")
    print(header)
    print("-" * len(header))
    for result in results:
        scenario_name, level_name = result.job_label.split("|")
        x = result.extra
        mape15, bias15 = demand_errors(x["est_bins"], x["true_bins"], 3, 10.0)
        mape5, _ = demand_errors(x["est_bins"], x["true_bins"], 1, 5.0)
        in_view, spill = np.abs(x["in_view"]), np.asarray(x["spill"])
        n = in_view.size + spill.size
        outage = "-" if x["outage_flagged"] is None else ("yes" if x["outage_flagged"] else "NO")
        rows.append(
            f"{scenario_name:<16} {level_name:<15} {mape15:6.1f} {bias15:+7.1f} {mape5:6.1f} "
            f"{flow_mape(x['flows_15'], x['true_bins']):7.1f} {in_view.mean() if in_view.size else 0:5.2f} "
            f"{100 * spill.size / max(n, 1):6.1f} {np.mean(x['spill_truth']) if spill.size else 0:6.1f} {np.abs(spill).mean() if spill.size else 0:6.2f} "
            f"{spill.mean() if spill.size else 0:+7.2f} {'yes' if x['clean'] else 'NO':>5} {outage:>6}"
        )
        print(rows[-1])
    print(f"({len(jobs)} runs in {time.perf_counter() - started:.0f} s on {args.workers} workers)")


@dataclass(frozen=True)
class _ObserverFactory:
    """Picklable zero-argument factory for the runner's worker processes."""

    level: NoiseLevel
    out_camera: str
    seed: int

    def __call__(self) -> Observer:
        return Observer(self.level.noise, self.level.assumed,
                        self.out_camera if self.level.camera_out else None, self.seed)


if __name__ == "__main__":
    main()
