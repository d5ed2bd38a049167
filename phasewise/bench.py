"""Benchmark suites for CI (``phasewise bench``): what a suite is, its result, and the
comparison with a baseline result that says which rows regressed.

A :class:`Suite` is scenarios × controllers × seeds over a period. Running it (in
``phasewise/cmd_bench.py``, through the one SUMO runner) gives a :class:`BenchResult`: one
:class:`BenchRow` per scenario and controller with the per-seed delay, throughput and stops,
their means, the delay's 95 % interval over seeds, the wall time and how many gate decisions
touched a wall-clock timeout (0 in simulation, where the gate's budget is simulated work).

:func:`compare` pairs each row with the baseline's over the seeds both ran. Per seed it takes
the log ratio of the delays, ``ln(now / baseline)``; a row **regresses** when the mean ratio
is worse than the tolerance (``exp(mean) - 1 > tolerance``) *and* the seeds agree it is worse
(the one-sided 95 % lower bound of the mean log ratio, Student's t over the seeds, is above
0; one seed: the tolerance alone). Same code and versions give the same numbers, so a run
compared with itself never regresses. Improvements are reported the same way (``better``).

    suite = builtin_suite("quick")      # or load_suite(Path("my-suite.yaml"))
    comparisons = compare(baseline, result, tolerance=0.03)
    print(markdown(comparisons, baseline, result))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from phasewise_errors import ConfigError, read_config_file, validation_error

RESULT_FORMAT = "phasewise-bench/1"
METRICS = ("delay_s_per_vehicle", "throughput_veh", "stops_per_vehicle")


# -- suites -------------------------------------------------------------------------------
class SuiteScenario(BaseModel):
    """One scenario of a suite: ``scenario`` (as ``--scenario``) or ``sumocfg`` (a path,
    relative to the suite file), the controllers to run on it, and the period (``period_s``
    from the scenario's begin; default its whole period)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: Optional[str] = Field(None, description='e.g. "corridor:demand=high" or cologne1')
    sumocfg: Optional[Path] = Field(None, description="a .sumocfg path (relative to the suite file)")
    controllers: tuple[str, ...] = Field(min_length=1, description="e.g. [static, maxpressure, adaptive]")
    period_s: Optional[float] = Field(None, gt=0, description="seconds simulated from the scenario's begin")

    @model_validator(mode="after")
    def _one(self) -> SuiteScenario:
        if (self.scenario is None) == (self.sumocfg is None):
            raise ValueError("give exactly one of scenario or sumocfg")
        from phasewise.cmd_sim import CONTROLLER_NAMES

        unknown = [c for c in self.controllers if c not in CONTROLLER_NAMES]
        if unknown:
            raise ValueError(f"unknown controller {', '.join(unknown)} (one of {', '.join(CONTROLLER_NAMES)})")
        return self

    @property
    def label(self) -> str:
        return self.scenario if self.scenario is not None else str(self.sumocfg)


class Suite(BaseModel):
    """A named set of runs: every scenario × its controllers × seeds ``first_seed`` ..
    ``first_seed + seeds - 1``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="the suite's name, kept in its results")
    seeds: int = Field(3, ge=1, le=100, description="seeds per run")
    first_seed: int = Field(1, ge=0, description="the first seed")
    scenarios: tuple[SuiteScenario, ...] = Field(min_length=1, description="[{scenario|sumocfg, controllers, period_s}]")

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))


QUICK = Suite(
    name="quick", seeds=2,
    scenarios=(
        SuiteScenario(scenario="corridor:demand=high", controllers=("static", "maxpressure", "adaptive"), period_s=1800),
        SuiteScenario(scenario="cologne1", controllers=("static", "maxpressure", "adaptive"), period_s=1800),
    ),
)
"""About 5 minutes on 2 cores: the built-in corridor and a real RESCO network, half an hour each."""

FULL = Suite(
    name="full", seeds=3,
    scenarios=tuple(
        SuiteScenario(scenario=s, controllers=("static", "actuated", "maxpressure", "adaptive", "adaptive-coordinated"))
        for s in ("corridor:demand=low", "corridor:demand=high", "corridor:demand=peak", "cologne1", "cologne3",
                  "ingolstadt7")),
)
"""The README's adaptive grid at the default camera noise (about 45 minutes on 2 cores)."""

BUILTIN = {"quick": QUICK, "full": FULL}


def builtin_suite(name: str) -> Suite:
    return BUILTIN[name]


def load_suite(path: Path) -> Suite:
    """A suite file (YAML, see :class:`Suite`); ConfigError naming the file, field and fix."""
    raw = read_config_file(path, "a benchmark suite", "; give quick, full or a suite YAML file")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping (name:, seeds:, scenarios: [...])")
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(path, exc) from None
    base = path.resolve().parent
    fixed = tuple(s if s.sumocfg is None or s.sumocfg.is_absolute() else s.model_copy(update={"sumocfg": base / s.sumocfg})
                  for s in suite.scenarios)
    return suite.model_copy(update={"scenarios": fixed})


# -- results ------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchRow:
    """One scenario × controller: per-seed values (the order of ``seeds``), means, the delay's
    95 % interval over seeds (Student's t; None for one seed), wall seconds of its runs, and
    the gate decisions that hit a wall-clock timeout (a result that could change with load)."""

    scenario: str
    controller: str
    seeds: list[int]
    delay_s_per_vehicle: list[float]
    throughput_veh: list[float]
    stops_per_vehicle: list[float]
    mean: dict[str, float]
    delay_ci95: Optional[list[float]]
    wall_s: float
    wall_clock_timeouts: int
    co2_g_per_vehicle: Optional[list[float]] = None  # per seed; None in results written before emissions
    fuel_ml_per_vehicle: Optional[list[float]] = None

    @property
    def key(self) -> tuple[str, str]:
        return self.scenario, self.controller


@dataclass(frozen=True)
class BenchResult:
    """A suite's result: the header (versions, machine, load) and its rows."""

    suite: str
    header: dict[str, Any]
    rows: list[BenchRow] = field(default_factory=list)
    format: str = RESULT_FORMAT

    def to_json_dict(self) -> dict[str, Any]:
        return {"format": self.format, "suite": self.suite, "header": self.header, "rows": [asdict(r) for r in self.rows]}

    @classmethod
    def from_json_dict(cls, raw: object, source: str) -> BenchResult:
        """Read a result written by :meth:`to_json_dict`; ConfigError naming ``source``."""
        if not isinstance(raw, dict) or raw.get("format") != RESULT_FORMAT:
            raise ConfigError(f"{source}: not a phasewise bench result (expected \"format\": \"{RESULT_FORMAT}\"; "
                              "write one with phasewise bench --json)")
        try:
            rows = [BenchRow(**r) for r in raw["rows"]]
            for r in rows:
                if not (len(r.seeds) == len(r.delay_s_per_vehicle) and all(_finite(x) for x in r.delay_s_per_vehicle)):
                    raise ValueError(f"row {r.scenario} / {r.controller}: seeds and delays do not match")
            return cls(str(raw["suite"]), dict(raw.get("header", {})), rows)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: malformed bench result ({exc})") from None


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def t_quantile_95(df: int) -> float:
    """Student's t, one-sided 95 % (two-sided 90 %), ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.95, df))


def mean_ci95(values: list[float]) -> Optional[list[float]]:
    """Two-sided 95 % interval of the mean (None for fewer than two values)."""
    n = len(values)
    if n < 2:
        return None
    from scipy.stats import t

    m = sum(values) / n
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.975, n - 1)) * s / math.sqrt(n)
    return [round(m - half, 3), round(m + half, 3)]


def row_from_summary(scenario: str, controller: str, summary: dict, wall_s: float) -> BenchRow:
    """A row from ``phasewise.cmd_sim.simulate``'s summary."""
    per_seed = summary["per_seed"]
    values = {k: [float(s[k]) for s in per_seed] for k in METRICS}
    timeouts = sum(1 for s in per_seed for g in (s.get("controller_report") or {}).get("gate_decisions", [])
                   if "timed out" in str(g.get("reason", "")))
    emissions = {k: None if any(s.get(k) is None for s in per_seed) else [float(s[k]) for s in per_seed]
                 for k in ("co2_g_per_vehicle", "fuel_ml_per_vehicle")}
    return BenchRow(scenario, controller, [int(s["seed"]) for s in per_seed], values["delay_s_per_vehicle"],
                    values["throughput_veh"], values["stops_per_vehicle"],
                    {k: round(sum(v) / len(v), 3) for k, v in values.items()}, mean_ci95(values["delay_s_per_vehicle"]),
                    round(wall_s, 1), timeouts, emissions["co2_g_per_vehicle"], emissions["fuel_ml_per_vehicle"])


# -- comparison ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """One row against its baseline over the seeds both ran: ``change`` is the geometric mean
    of now / baseline - 1 (0.05: 5 % more delay); ``verdict`` ok, regression or better."""

    scenario: str
    controller: str
    seeds: list[int]
    baseline_s: float
    now_s: float
    change: float
    verdict: str


def parse_tolerance(text: str) -> float:
    """``3%`` or ``0.03`` as a fraction; ConfigError otherwise."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(f"--tolerance {text!r}: give a percentage such as 3% (or a fraction, 0.03)") from None
    if not (math.isfinite(value) and 0.0 <= value < 10.0):
        raise ConfigError(f"--tolerance {text!r}: must be between 0% and 1000%")
    return value


def compare(baseline: BenchResult, now: BenchResult, tolerance: float = 0.03) -> list[Comparison]:
    """Each row of ``now`` against the same row of ``baseline`` (module docstring).

    ConfigError (bad input, exit 2) when the baseline is of another suite, a row is missing
    on either side, or a row shares no seed with its baseline."""
    if baseline.suite != now.suite:
        raise ConfigError(f"the baseline is a result of suite {baseline.suite!r}, this run is {now.suite!r}")
    base = {r.key: r for r in baseline.rows}
    mine = {r.key: r for r in now.rows}
    missing = sorted(set(mine) - set(base))
    gone = sorted(set(base) - set(mine))
    if missing or gone:
        parts = []
        if missing:
            parts.append("not in the baseline: " + ", ".join(f"{s} / {c}" for s, c in missing))
        if gone:
            parts.append("in the baseline but not run: " + ", ".join(f"{s} / {c}" for s, c in gone))
        raise ConfigError("the baseline does not match this run (" + "; ".join(parts) + ")")
    out = []
    threshold = math.log1p(tolerance)
    for key, row in mine.items():
        ref = base[key]
        ref_by_seed = dict(zip(ref.seeds, ref.delay_s_per_vehicle))
        pairs = [(s, d, ref_by_seed[s]) for s, d in zip(row.seeds, row.delay_s_per_vehicle) if s in ref_by_seed]
        if not pairs:
            raise ConfigError(f"row {key[0]} / {key[1]}: no seed in common with the baseline "
                              f"({row.seeds} against {ref.seeds})")
        ratios = [math.log(max(d, 1e-6) / max(b, 1e-6)) for _, d, b in pairs]
        n = len(ratios)
        mean = sum(ratios) / n
        if n > 1:
            sd = math.sqrt(sum((r - mean) ** 2 for r in ratios) / (n - 1))
            margin = t_quantile_95(n - 1) * sd / math.sqrt(n)
        else:
            margin = 0.0
        verdict = "ok"
        if mean > threshold and mean - margin > 0:
            verdict = "regression"
        elif mean < -threshold and mean + margin < 0:
            verdict = "better"
        out.append(Comparison(key[0], key[1], [s for s, _, _ in pairs], round(sum(b for *_, b in pairs) / n, 3),
                              round(sum(d for _, d, _ in pairs) / n, 3), round(math.expm1(mean), 4), verdict))
    return out


def markdown(comparisons: list[Comparison], baseline: BenchResult, now: BenchResult, tolerance: float) -> str:
    """The comparison as a Markdown table for a pull-request comment."""
    regressions = [c for c in comparisons if c.verdict == "regression"]
    head = (f"### phasewise bench `{now.suite}`: "
            + (f"{len(regressions)} regression(s)" if regressions else "no regression")
            + f" (tolerance {tolerance:.0%}, paired over seeds)\n\n")
    lines = ["| scenario | controller | seeds | baseline delay s/veh | now | change | verdict |",
             "|---|---|---|---|---|---|---|"]
    for c in comparisons:
        mark = {"regression": "**regression**", "better": "better", "ok": "ok"}[c.verdict]
        lines.append(f"| {c.scenario} | {c.controller} | {','.join(map(str, c.seeds))} | {c.baseline_s:.1f} | "
                     f"{c.now_s:.1f} | {c.change:+.1%} | {mark} |")
    versions = ", ".join(f"{k} {now.header.get(k)}" for k in ("phasewise", "sumo", "python") if now.header.get(k))
    base_versions = ", ".join(f"{k} {baseline.header.get(k)}" for k in ("phasewise", "sumo", "python")
                              if baseline.header.get(k))
    return head + "\n".join(lines) + f"\n\nnow: {versions}; baseline: {base_versions}\n"
