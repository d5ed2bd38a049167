"""The SUMO check of an offline plan: is it better than the program the network runs today?

``phasewise optimize`` simulates the existing program and the new plan on the same seeds
(common random numbers: both see the same vehicles), so per-seed differences are paired.
:func:`judge` turns the per-seed results into a :class:`PlanCheck`:

* the paired difference of delay (plan − program, s/veh) with a two-sided ``confidence``
  interval from Student's t over the seeds (with one seed, no interval: the difference only);
* the plan is **recommended only when it is better**: the interval's upper bound is below
  zero (with one seed: the difference is negative), the mean delay falls by at least
  ``min_improvement`` and throughput does not fall by more than ``max_throughput_loss``
  (a plan that lowers delay by letting fewer vehicles in is not better).
  Otherwise the existing program stays the recommendation and ``reason`` says why.

Pure: the simulations run elsewhere (``phasewise/cmd_optimize.py`` through the one runner);
this module only sees their numbers. Example::

    check = judge("cologne3", seeds, program=CheckMetrics.from_runs(before), plan=CheckMetrics.from_runs(after))
    print(check.report())
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy import stats

CONFIDENCE = 0.9
MIN_IMPROVEMENT = 0.02  # a 2 % delay cut: below this the change is not worth a retiming visit
MAX_THROUGHPUT_LOSS = 0.01  # 1 % fewer vehicles served already outweighs a small delay gain


class _RunLike(Protocol):
    delay_s_per_vehicle: float
    throughput_veh: int
    stops_per_vehicle: float


@dataclass(frozen=True)
class CheckMetrics:
    """Per-seed results of one program in SUMO (RESCO delay s/veh, vehicles arrived, stops/veh)."""

    delay_s_per_vehicle: tuple[float, ...]
    throughput_veh: tuple[int, ...]
    stops_per_vehicle: tuple[float, ...]
    # from each run's hi-res event log, by the atspm package (empty when not measured): share
    # of advance-detector arrivals during green, phase cycles that split-failed, of phase_cycles
    arrivals_on_green: tuple[float, ...] = ()
    split_failures: tuple[int, ...] = ()
    phase_cycles: tuple[int, ...] = ()

    @classmethod
    def from_runs(cls, runs: Sequence[_RunLike], signal: Sequence[tuple[float, int, int]] = ()) -> CheckMetrics:
        """``signal``: per run, (arrivals on green, split failures, phase cycles) from its event log."""
        return cls(tuple(float(r.delay_s_per_vehicle) for r in runs), tuple(int(r.throughput_veh) for r in runs),
                   tuple(float(r.stops_per_vehicle) for r in runs),
                   tuple(float(s[0]) for s in signal), tuple(int(s[1]) for s in signal), tuple(int(s[2]) for s in signal))

    def mean(self, key: str) -> float:
        values = getattr(self, key)
        return float(np.mean(values)) if len(values) else math.nan


@dataclass(frozen=True)
class PairedDifference:
    """Mean of ``after - before`` over seeds and its two-sided confidence interval (NaN with one seed)."""

    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, before: Sequence[float], after: Sequence[float], confidence: float = CONFIDENCE) -> PairedDifference:
        diff = np.asarray(after, float) - np.asarray(before, float)
        mean = float(diff.mean())
        if diff.size < 2:
            return cls(mean, math.nan, math.nan)
        half = float(stats.t.ppf(0.5 + confidence / 2, diff.size - 1) * diff.std(ddof=1) / math.sqrt(diff.size))
        return cls(mean, mean - half, mean + half)


@dataclass(frozen=True)
class PlanCheck:
    """Outcome of the check: both programs' numbers, the paired delay difference, the verdict."""

    scenario: str
    seeds: tuple[int, ...]
    program: CheckMetrics
    plan: CheckMetrics
    delay_change_s: PairedDifference
    recommend_plan: bool
    reason: str
    confidence: float = CONFIDENCE

    @property
    def recommended(self) -> str:
        return "phasewise plan" if self.recommend_plan else "existing program"

    def to_json(self) -> str:
        raw = asdict(self)
        raw["recommended"] = self.recommended
        raw["means"] = {name: {key: round(getattr(self, name).mean(key), 3)
                               for key in ("delay_s_per_vehicle", "throughput_veh", "stops_per_vehicle",
                                           "arrivals_on_green", "split_failures", "phase_cycles")}
                        for name in ("program", "plan")}
        return json.dumps(_finite_or_none(raw), indent=2, allow_nan=False)

    def report(self) -> str:
        """A few lines for the terminal: before/after and the verdict."""
        measured = bool(self.program.arrivals_on_green and self.plan.arrivals_on_green)
        lines = [f"SUMO check on {self.scenario}, seeds {', '.join(map(str, self.seeds))}:",
                 f"  {'':<18}{'delay s/veh':>12}{'throughput veh':>16}{'stops/veh':>11}"
                 + (f"{'on green':>10}{'split failures (of phase cycles)':>34}" if measured else "")]
        for label, m in (("existing program", self.program), ("phasewise plan", self.plan)):
            failures = f"{m.mean('split_failures'):.1f} of {m.mean('phase_cycles'):.0f}" if measured else ""
            lines.append(f"  {label:<18}{m.mean('delay_s_per_vehicle'):>12.1f}{m.mean('throughput_veh'):>16.0f}"
                         f"{m.mean('stops_per_vehicle'):>11.2f}"
                         + (f"{m.mean('arrivals_on_green'):>10.0%}{failures:>34}" if measured else ""))
        d = self.delay_change_s
        interval = (f" ({self.confidence:.0%} CI {d.low:+.1f} to {d.high:+.1f})" if math.isfinite(d.low) else "")
        lines.append(f"  delay change {d.mean:+.1f} s/veh{interval}")
        lines.append(f"  recommended: {self.recommended} ({self.reason})")
        return "\n".join(lines) + "\n"


def _finite_or_none(value: object) -> object:
    """JSON has no NaN: an interval that does not exist (one seed) is written as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


def judge(scenario: str, seeds: Sequence[int], program: CheckMetrics, plan: CheckMetrics,
          confidence: float = CONFIDENCE, min_improvement: float = MIN_IMPROVEMENT,
          max_throughput_loss: float = MAX_THROUGHPUT_LOSS) -> PlanCheck:
    """Apply the rule of the module docstring to paired per-seed results."""
    delay = PairedDifference.of(program.delay_s_per_vehicle, plan.delay_s_per_vehicle, confidence)
    before = program.mean("delay_s_per_vehicle")
    improvement = -delay.mean / before if before > 0 else 0.0
    thr_before, thr_after = program.mean("throughput_veh"), plan.mean("throughput_veh")
    throughput_change = (thr_after - thr_before) / max(thr_before, 1.0)
    sure = delay.high < 0 if math.isfinite(delay.high) else delay.mean < 0
    if not all(math.isfinite(x) for x in (*program.delay_s_per_vehicle, *plan.delay_s_per_vehicle)):
        ok, reason = False, "a simulation gave no usable delay"
    elif improvement < min_improvement:
        ok, reason = False, (f"the plan changes delay by {-improvement:+.1%}; it must cut it by at least "
                             f"{min_improvement:.0%} to replace the program")
    elif not sure:
        ok, reason = False, (f"delay {improvement:.1%} lower on average, but not on every seed with "
                             f"{confidence:.0%} confidence: run more --seeds")
    elif throughput_change < -max_throughput_loss:
        ok, reason = False, f"delay lower, but {-throughput_change:.1%} fewer vehicles served"
    else:
        ok, reason = True, f"delay {improvement:.1%} lower, throughput {throughput_change:+.1%}"
    return PlanCheck(scenario, tuple(seeds), program, plan, delay, ok, reason, confidence)


def plot_check(check: PlanCheck, path: Path) -> Path:
    """Before/after bars (mean) with each seed's value as a dot, for delay, throughput and stops."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    labels = ["existing\nprogram", "phasewise\nplan"]
    colours = ["#888888", "#3bb273" if check.recommend_plan else "#d9534f"]
    for ax, key, title in zip(axes, ("delay_s_per_vehicle", "throughput_veh", "stops_per_vehicle"),
                              ("average delay (s/veh)", "throughput (veh)", "stops per vehicle")):
        per_seed = [getattr(check.program, key), getattr(check.plan, key)]
        ax.bar(labels, [float(np.mean(v)) for v in per_seed], color=colours)
        for x, values in enumerate(per_seed):
            ax.plot([x] * len(values), values, "o", color="black", ms=4)
        for x in range(len(check.seeds)):  # each seed's pair joined: the comparison is paired
            ax.plot([0, 1], [per_seed[0][x], per_seed[1][x]], color="black", lw=0.6, alpha=0.5)
        if key == "delay_s_per_vehicle":
            d = check.delay_change_s
            title += (f"\nchange {d.mean:+.1f}" + (f" ({check.confidence:.0%} CI {d.low:+.1f} to {d.high:+.1f})"
                                                   if math.isfinite(d.low) else ""))
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{check.scenario}: {len(check.seeds)} seed{'s' if len(check.seeds) > 1 else ''} — "
                 f"recommended: {check.recommended}", fontsize=11)
    fig.text(0.5, 0.01, check.reason, ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
