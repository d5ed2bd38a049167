"""Resolve what the user asked to simulate into one ``Scenario`` per seed.

* ``--sumocfg PATH``: any SUMO configuration (the real-world RESCO networks among them);
* ``--scenario corridor[:key=value,...]``: the built-in corridor, built per seed;
* ``--scenario generated:kind=grid|spider|rand[,key=value,...]``: a network made by SUMO's
  netgenerate with random trips (:mod:`sumo_scenarios.generated`), built per seed;
* ``--scenario NAME``: a scenario folder ``NAME/NAME.sumocfg`` under the shared scenarios
  directory (``$PHASEWISE_SCENARIOS``, default ``../shared/scenarios`` beside the repo).
"""

from __future__ import annotations

import os
from pathlib import Path

from phasewise_errors import ConfigError
from sumo_scenarios.scenario import Scenario

REPO_ROOT = Path(__file__).resolve().parent.parent

RESCO_REPOSITORY = "https://github.com/Pi-Star-Lab/RESCO"
RESCO_SCENARIOS = ("cologne1", "cologne3", "ingolstadt7")


def shared_dir() -> Path:
    """The shared data folder (models, videos, scenarios): ``$PHASEWISE_SHARED`` or ``../shared``."""
    return Path(os.environ.get("PHASEWISE_SHARED", REPO_ROOT.parent / "shared"))


def scenarios_dir() -> Path:
    return Path(os.environ.get("PHASEWISE_SCENARIOS", shared_dir() / "scenarios"))


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Path(os.environ.get("PHASEWISE_CACHE", base / "phasewise"))


def resolve(
    sumocfg: Path | None, scenario: str | None, seeds: list[int], end_s: float | None = None
) -> list[Scenario]:
    """One scenario per seed (a real network is the same file for every seed)."""
    if (sumocfg is None) == (scenario is None):
        raise ConfigError("give exactly one of --sumocfg PATH or --scenario NAME")
    if scenario is not None and scenario.split(":", 1)[0] == "corridor":
        from sumo_scenarios.corridor import CorridorSpec, build_corridor

        spec = CorridorSpec.parse(scenario)
        built = [build_corridor(spec, seed, cache_dir() / "corridor") for seed in seeds]
        return [s.with_period(end_s=end_s) if end_s is not None else s for s in built]
    if scenario is not None and scenario.split(":", 1)[0] == "generated":
        from sumo_scenarios.generated import GeneratedSpec, build_generated

        spec = GeneratedSpec.parse(scenario)
        built = [build_generated(spec, seed, cache_dir() / "generated") for seed in seeds]
        return [s.with_period(end_s=end_s) if end_s is not None else s for s in built]
    if scenario is not None:
        candidate = scenarios_dir() / scenario / f"{scenario}.sumocfg"
        if not candidate.is_file():
            known = sorted(p.name for p in scenarios_dir().glob("*") if (p / f"{p.name}.sumocfg").is_file())
            if scenario in RESCO_SCENARIOS:
                raise ConfigError(
                    f"scenario '{scenario}' not found: no {candidate}; it is a RESCO scenario: copy the folder "
                    f"resco_benchmark/environments/{scenario}/ of {RESCO_REPOSITORY} to {scenarios_dir()} "
                    f"(or set PHASEWISE_SHARED / PHASEWISE_SCENARIOS)"
                )
            raise ConfigError(
                f"unknown scenario '{scenario}': use corridor[:key=value,...], generated:kind=grid|spider|rand[,...], "
                f"one of {', '.join(known) or f'(no scenarios in {scenarios_dir()})'}, or --sumocfg PATH"
            )
        sumocfg = candidate
    assert sumocfg is not None
    from sumo_scenarios.scenario_check import check_scenario  # loads sumolib: not at CLI start

    base = Scenario.from_sumocfg(sumocfg)
    check_scenario(base)  # every file SUMO will load, each error naming its file, before any work
    if end_s is not None:
        base = base.with_period(end_s=end_s)
    return [base for _ in seeds]
