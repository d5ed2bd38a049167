"""The SUMO gate: a new timing plan replaces the running one only if a simulation says so.

Before a candidate plan reaches the controllers, :class:`PlanGate` simulates the next
``horizon_s`` (15 min by default) twice per seed, once with the running plan and once with
the candidate, on a twin rebuilt from the camera-derived estimate
(:func:`sumo_scenarios.twin.build_twin`: estimated flows and lane queues, never SUMO's own
vehicle state). Both plans of a seed see the same vehicles (common random numbers), so the
per-seed differences are paired.

Decision (:func:`decide`), with ``alpha = 1 - confidence``:

* **switch on delay** when the mean per-seed relative delay improvement
  ``(d_current - d_candidate) / d_current`` is at least ``min_improvement`` and a one-sided
  paired t-test (candidate delay lower) gives ``p <= alpha``. With zero variance of the
  differences (or one seed) the test is replaced by "every seed improves";
* **switch on throughput** when delay is tied (relative change within
  ``± min_improvement``) but the mean relative throughput gain is at least
  ``min_throughput_gain`` with the same kind of test (candidate throughput higher);
* otherwise keep the running plan.

Delay is the RESCO delay of :mod:`sumo_scenarios.metrics` (s/veh, queued and never
inserted vehicles included), throughput the vehicles that left the twin.

Time alignment: the twin's time 0 is the real time ``now_s``. A plan's offset is "coordinated
green starts at offset mod cycle, from time 0", so each plan runs in the twin with its offset
shifted by ``-now_s`` (mod cycle): both plans are at the phase position they would really be
at. The running plan is assumed to be exactly on its schedule (no transition under way).

The gate **fails closed**: an invalid plan, a demand that does not fit the network, a SUMO
error, a crashed worker or an evaluation longer than ``timeout_s`` all give
``switch=False`` with the reason; :meth:`PlanGate.evaluate` never raises. A timed-out or
broken worker pool is killed and restarted for the next call. Every decision is appended
to ``PlanGate.decisions`` and logged (INFO; WARNING when failing closed) with its numbers.

**Sequential mode** (``GateConfig(sequential=True)``): the ``seeds`` first, then
``seed_step`` more at a time until the decision is confident or the budget (``max_seeds``
seeds, or a round that would overrun ``timeout_s``) runs out (:func:`decide_sequential`).
Each look tests at ``alpha / looks`` (Bonferroni over the planned looks, so repeated looks
keep the overall error rate). It stops on SWITCH (the rule above at that level) or on KEEP
when the upper confidence bound of the mean relative delay improvement is below
``min_improvement`` (the candidate cannot reach the required cut); out of budget it keeps
the running plan. A candidate that jams the twin on some seeds (large spread) thus keeps
the plan every time instead of switching on lucky seeds.

The twins run on an executor (:mod:`sumo_scenarios.executor`): by default a persistent pool
of ``workers`` local ``spawn`` processes, created and warmed up once (process start-up and
imports are most of a cold call's cost); pass ``executor=RayExecutor(...)`` to run them on a
Ray cluster (a fresh worker process per twin there). Scripts using the gate must create it
under ``if __name__ == "__main__":``.

Example::

    with PlanGate(net_file, models) as gate:
        decision = gate.evaluate(running, candidate, demand, queues_veh, now_s=clock.now_s())
        if decision.switch:
            backend.apply(candidate)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from scipy import stats

from controllers.fixed_plan import FixedPlanController
from sumo_scenarios.twin import TwinNetwork, build_twin
from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.plan import TimingPlan, validate
from sumo_scenarios.executor import Executor, LocalExecutor
from sumo_scenarios.runner import RunJob, run

log = logging.getLogger(__name__)

SAME_PLAN = "candidate equals the running plan"


@dataclass(frozen=True)
class GateConfig:
    """How the gate simulates and decides (seconds; improvements as fractions, 0.03 = 3 %).

    ``seeds`` twins (seeds ``first_seed``, ``first_seed + 1``...) are simulated with both
    plans on ``workers`` local processes (unless the gate is given an executor); the whole
    evaluation must finish within ``timeout_s`` of wall time (the daemon: a decision must come
    while it still matters). ``timeout_s=None``: no wall-clock limit, the budget is the
    simulated work alone (``seeds`` or ``max_seeds`` twins of ``horizon_s``), so the decision
    never depends on the machine's load (simulation and benchmarks). ``sequential`` adds ``seed_step`` seeds at a
    time up to ``max_seeds`` until the decision is confident (module docstring).

    Sequential defaults (looks at 4, 12, 20, 24 seeds): on the corridor of
    ``benchmarks/gate_cost.py``, ten calls 60 s apart on one estimate, up to 16 seeds 4 at a
    time answered SWITCH 9 times and KEEP once (the Bonferroni level per look fell as looks
    were added); fewer, larger steps up to 24 seeds answered SWITCH 10 times out of 10 on
    the same twin results, with 12.4 seeds per call on average; on another estimate (corridor
    demand seed 2) 9 of 10, the dissenting phase position being 2.1 % better over 24 seeds,
    below the margin (README, "Beyond one machine").
    """

    horizon_s: float = 900.0
    seeds: int = 4
    workers: int = 2
    min_improvement: float = 0.03
    confidence: float = 0.9
    timeout_s: float | None = 20.0
    min_throughput_gain: float = 0.03
    first_seed: int = 1
    sequential: bool = False
    max_seeds: int = 24
    seed_step: int = 8
    worker_nice: int = 0  # the twins' CPU priority below the caller's (the daemon's loop comes first)

    @property
    def looks(self) -> int:
        """How many times a sequential evaluation may test (1 when not sequential)."""
        if not self.sequential or self.max_seeds <= self.seeds:
            return 1
        return 1 + math.ceil((self.max_seeds - self.seeds) / max(self.seed_step, 1))


@dataclass(frozen=True)
class GateDecision:
    """Outcome of one evaluation and the numbers behind it (one value per seed).

    ``improvement`` is the mean relative delay improvement (0.1 = candidate 10 % lower);
    ``p_value`` belongs to the test that decided (delay, or throughput when delay was tied).
    Both are NaN when the gate failed closed before simulating.
    """

    switch: bool
    reason: str
    delay_current_s: tuple[float, ...] = ()
    delay_candidate_s: tuple[float, ...] = ()
    throughput_current: tuple[int, ...] = ()
    throughput_candidate: tuple[int, ...] = ()
    improvement: float = math.nan
    p_value: float = math.nan
    wall_s: float = 0.0


def decide(
    delay_current_s: Sequence[float],
    delay_candidate_s: Sequence[float],
    throughput_current: Sequence[int],
    throughput_candidate: Sequence[int],
    config: GateConfig = GateConfig(),
) -> GateDecision:
    """The switching rule of the module docstring on paired per-seed results (pure)."""
    current, candidate = np.asarray(delay_current_s, float), np.asarray(delay_candidate_s, float)
    thr_current, thr_candidate = np.asarray(throughput_current, float), np.asarray(throughput_candidate, float)
    numbers = dict(
        delay_current_s=tuple(float(d) for d in current),
        delay_candidate_s=tuple(float(d) for d in candidate),
        throughput_current=tuple(int(t) for t in thr_current),
        throughput_candidate=tuple(int(t) for t in thr_candidate),
    )
    if current.size == 0 or current.size != candidate.size or not np.all(np.isfinite(np.r_[current, candidate])):
        return GateDecision(False, "no usable simulation results", **numbers)
    alpha = 1.0 - config.confidence
    improvement = float(np.mean((current - candidate) / np.where(current > 0, current, 1.0)))
    p_delay = _paired_p(candidate, current, "less")
    if improvement >= config.min_improvement and p_delay <= alpha:
        reason = f"candidate lowers delay by {improvement:.1%} (p={p_delay:.3g})"
        return GateDecision(True, reason, improvement=improvement, p_value=p_delay, **numbers)
    if abs(improvement) < config.min_improvement:
        gain = float(np.mean((thr_candidate - thr_current) / np.maximum(thr_current, 1.0)))
        p_thr = _paired_p(thr_candidate, thr_current, "greater")
        if gain >= config.min_throughput_gain and p_thr <= alpha:
            reason = f"delay tied ({improvement:+.1%}), candidate raises throughput by {gain:.1%} (p={p_thr:.3g})"
            return GateDecision(True, reason, improvement=improvement, p_value=p_thr, **numbers)
        reason = (f"delay tied ({improvement:+.1%}, needs {config.min_improvement:.0%}) and throughput "
                  f"{gain:+.1%} (needs {config.min_throughput_gain:.0%} at p<={alpha:.2g}, p={p_thr:.3g})")
        return GateDecision(False, reason, improvement=improvement, p_value=p_thr, **numbers)
    if improvement < config.min_improvement:
        reason = f"candidate changes delay by {-improvement:+.1%} (a {config.min_improvement:.0%} cut is needed)"
    else:
        reason = f"delay {improvement:.1%} lower but not significant (p={p_delay:.3g} > {alpha:.2g})"
    return GateDecision(False, reason, improvement=improvement, p_value=p_delay, **numbers)


def decide_sequential(
    delay_current_s: Sequence[float],
    delay_candidate_s: Sequence[float],
    throughput_current: Sequence[int],
    throughput_candidate: Sequence[int],
    config: GateConfig,
    final: bool,
) -> GateDecision | None:
    """One look of the sequential test (module docstring); ``None``: not confident yet, add
    seeds. ``final``: the budget is spent, so an undecided look keeps the running plan. Pure."""
    alpha_look = (1.0 - config.confidence) / config.looks
    strict = dataclasses.replace(config, confidence=1.0 - alpha_look)
    decision = decide(delay_current_s, delay_candidate_s, throughput_current, throughput_candidate, strict)
    seeds = len(decision.delay_current_s)
    if decision.switch:
        return dataclasses.replace(decision, reason=f"{decision.reason}, {seeds} seeds")
    if decision.reason == "no usable simulation results":
        return decision
    current, candidate = np.asarray(delay_current_s, float), np.asarray(delay_candidate_s, float)
    gains = (current - candidate) / np.where(current > 0, current, 1.0)
    delay_bound = _upper_bound(gains, alpha_look)
    tied = abs(decision.improvement) < config.min_improvement
    thr_current = np.asarray(throughput_current, float)
    thr_gains = (np.asarray(throughput_candidate, float) - thr_current) / np.maximum(thr_current, 1.0)
    if delay_bound < config.min_improvement and (not tied or _upper_bound(thr_gains, alpha_look) < config.min_throughput_gain):
        reason = (f"candidate cannot cut delay by {config.min_improvement:.0%}: at most {delay_bound:+.1%} "
                  f"(mean {decision.improvement:+.1%}, {1 - alpha_look:.3g} upper bound, {seeds} seeds)")
        return dataclasses.replace(decision, reason=reason)
    if final:
        return dataclasses.replace(decision, reason=f"undecided after {seeds} seeds, running plan kept ({decision.reason})")
    return None


def _upper_bound(values: np.ndarray, alpha: float) -> float:
    """One-sided ``1 - alpha`` upper confidence bound of the mean (Student t); +inf below 2 values."""
    if values.size < 2:
        return math.inf
    sd = float(np.std(values, ddof=1))
    return float(np.mean(values) + stats.t.ppf(1.0 - alpha, values.size - 1) * sd / math.sqrt(values.size))


def _paired_p(a: np.ndarray, b: np.ndarray, alternative: str) -> float:
    """One-sided paired t-test p of ``a`` vs ``b``; without variance, 0 if every pair agrees
    with the alternative and 1 otherwise."""
    diff = a - b
    if diff.size < 2 or np.ptp(diff) == 0.0:
        agrees = np.all(diff < 0) if alternative == "less" else np.all(diff > 0)
        return 0.0 if agrees else 1.0
    return float(stats.ttest_rel(a, b, alternative=alternative).pvalue)


def shifted_plan(plan: TimingPlan, now_s: float) -> TimingPlan:
    """``plan`` with every offset moved by ``-now_s`` (mod cycle): the twin's time 0 is ``now_s``."""
    intersections = {
        tls_id: dataclasses.replace(ip, offset_s=(ip.offset_s - now_s) % ip.cycle_s)
        for tls_id, ip in plan.intersections.items()
    }
    return dataclasses.replace(plan, intersections=intersections)


class PlanGate:
    """Simulates running vs candidate plan on estimate-built twins and decides whether to switch.

    ``net_file`` and ``models`` describe the controlled network; ``workdir`` holds the twins'
    route files (a temporary folder, removed by :meth:`close`, when ``None``);
    ``sumo_options`` are the real scenario's own SUMO options, passed to every twin run;
    ``executor`` runs the twins (default: the gate's own warm local pool of
    ``config.workers`` processes; a given executor is left open by :meth:`close`).
    """

    def __init__(
        self,
        net_file: Path,
        models: dict[str, IntersectionModel],
        config: GateConfig = GateConfig(),
        workdir: Path | None = None,
        sumo_options: tuple[str, ...] = (),
        executor: Executor | None = None,
    ):
        self.net_file = Path(net_file)
        self.sumo_options = tuple(sumo_options)
        self.models = models
        self.config = config
        self.decisions: list[GateDecision] = []
        self._network = TwinNetwork(self.net_file, models)
        self._own_workdir = workdir is None
        self._workdir = Path(tempfile.mkdtemp(prefix="phasewise-gate-")) if workdir is None else Path(workdir)
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._calls = 0
        self._closed = False
        self._own_executor = executor is None
        self._executor: Executor = executor if executor is not None else LocalExecutor(
            config.workers, fresh_process=False, warm_up=_warm_up, nice=config.worker_nice)

    # --- public ---------------------------------------------------------------------

    def evaluate(
        self,
        current: TimingPlan,
        candidate: TimingPlan,
        demand: DemandEstimate,
        queues_veh: Mapping[str, float],
        now_s: float = 0.0,
    ) -> GateDecision:
        """Decide whether ``candidate`` should replace ``current`` (see the module docstring).

        ``demand``: estimated flows (veh/h per movement); ``queues_veh``: estimated queue per
        lane id (vehicles); ``now_s``: the real time the twin starts at. Never raises.
        """
        started = time.perf_counter()
        try:
            decision = self._evaluate(current, candidate, demand, queues_veh, now_s, started)
        except Exception as exc:  # fail closed on anything, but say what happened
            log.warning("gate failed closed", exc_info=True)
            decision = GateDecision(False, f"failed closed: {type(exc).__name__}: {exc}")
        decision = dataclasses.replace(decision, wall_s=round(time.perf_counter() - started, 3))
        self._record(decision)
        return decision

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop the gate's own workers and remove its own temporary folder."""
        if self._closed:
            return
        self._closed = True
        if self._own_executor:
            self._executor.close()
        if self._own_workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> PlanGate:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------

    def _evaluate(
        self, current: TimingPlan, candidate: TimingPlan, demand: DemandEstimate,
        queues_veh: Mapping[str, float], now_s: float, started: float,
    ) -> GateDecision:
        cfg = self.config
        if self._closed:
            return GateDecision(False, "gate is closed")
        for name, plan in (("running", current), ("candidate", candidate)):
            try:
                validate(plan, self.models)
            except Exception as exc:
                return GateDecision(False, f"{name} plan invalid: {exc}")
        if current.intersections == candidate.intersections:
            return GateDecision(False, SAME_PLAN)
        demand.check(self.models)
        self._calls += 1
        folder = self._workdir / f"evaluation-{self._calls}"
        plans = (shifted_plan(current, now_s), shifted_plan(candidate, now_s))
        results: list[tuple[float, int]] = []  # per seed: running plan, then candidate
        seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
        try:
            while True:
                round_started = time.perf_counter()
                outcome = self._simulate(seeds, plans, demand, queues_veh, folder, started)
                if isinstance(outcome, GateDecision):
                    return outcome
                results += outcome
                delays, throughputs = zip(*results)
                numbers = (delays[0::2], delays[1::2], throughputs[0::2], throughputs[1::2])
                if not cfg.sequential:
                    return decide(*numbers, cfg)
                done = len(results) // 2
                elapsed_s = time.perf_counter() - started
                round_s = time.perf_counter() - round_started
                final = done >= cfg.max_seeds or (cfg.timeout_s is not None and elapsed_s + round_s > cfg.timeout_s)
                decision = decide_sequential(*numbers, cfg, final)
                if decision is not None:
                    return decision
                first = cfg.first_seed + done
                seeds = list(range(first, first + min(cfg.seed_step, cfg.max_seeds - done)))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _simulate(
        self, seeds: list[int], plans: tuple[TimingPlan, TimingPlan], demand: DemandEstimate,
        queues_veh: Mapping[str, float], folder: Path, started: float,
    ) -> list[tuple[float, int]] | GateDecision:
        """(delay, throughput) per seed and plan, in that order; a KEEP decision on timeout."""
        futures: list[Future[tuple[float, int]]] = []
        try:
            for seed in seeds:
                twin = build_twin(self.net_file, self.models, demand, queues_veh, self.config.horizon_s, seed, folder,
                                  network=self._network, sumo_options=self.sumo_options)
                for plan in plans:
                    job = RunJob(twin, seed, partial(FixedPlanController, plan), label=f"{plan.created_by} s{seed}",
                                 emissions=False)
                    futures.append(self._executor.submit(_simulate, job))
            limit_s = self.config.timeout_s
            remaining_s = None if limit_s is None else max(limit_s - (time.perf_counter() - started), 0.0)
            done, pending = wait(futures, timeout=remaining_s, return_when=FIRST_EXCEPTION)
            if pending:
                failed = [f for f in done if f.exception() is not None]
                if failed:
                    for future in pending:
                        future.cancel()
                    raise failed[0].exception()  # type: ignore[misc]
                # a running SUMO cannot be interrupted: kill the workers, new ones start on demand
                self._executor.stop()
                return GateDecision(False, f"timed out after {self.config.timeout_s:g} s "
                                           f"({len(done)} of {len(futures)} simulations done)")
            return [f.result() for f in futures]
        except BrokenProcessPool:
            self._executor.stop()
            raise

    def _record(self, decision: GateDecision) -> None:
        self.decisions.append(decision)
        simulated = bool(decision.delay_current_s) or decision.reason == SAME_PLAN
        level = logging.INFO if simulated else logging.WARNING
        log.log(
            level,
            "gate %s: %s | delay s/veh current %s candidate %s | throughput current %s candidate %s | "
            "improvement %.4f p %.4g | %.2f s",
            "SWITCH" if decision.switch else "KEEP", decision.reason,
            _fmt(decision.delay_current_s), _fmt(decision.delay_candidate_s),
            list(decision.throughput_current), list(decision.throughput_candidate),
            decision.improvement, decision.p_value, decision.wall_s,
        )


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.1f}" for v in values) + "]"


def _simulate(job: RunJob) -> tuple[float, int]:
    """Worker: run one twin simulation, return (RESCO delay s/veh, throughput veh)."""
    metrics = run(job).metrics
    return metrics.delay_s_per_vehicle, metrics.throughput_veh


def _warm_up() -> None:
    """Worker: import SUMO and the controller stack before the first evaluation needs them."""
    import libsumo  # noqa: F401

    import controllers.fixed_plan  # noqa: F401
    import sumo_scenarios.runner  # noqa: F401
