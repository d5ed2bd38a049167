"""Synthetic SUMO networks of several kinds, for robustness tests of models and controllers.

``build_generated(spec, seed, workdir)`` runs SUMO's ``netgenerate`` (grid, spider or random
network, traffic lights guessed with ``--tls.guess``, optionally sidewalks, pedestrian
crossings, left-turn lanes, a non-static program type) and ``randomTrips.py`` (routed
vehicles, seeded), both from the eclipse-sumo wheel, and returns a :class:`Scenario`.
The same spec and seed give the same files; they are built once per ``workdir``.

Example::

    scenario = build_generated(GeneratedSpec("grid", crossings=True), seed=1, workdir=tmp)
    run(RunJob(scenario, 1, controller_factory("maxpressure")))
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from phasewise_errors import ScenarioError
from sumo_scenarios.scenario import Scenario

NetworkKind = Literal["grid", "spider", "rand"]

_KIND_OPTIONS: dict[str, tuple[str, ...]] = {
    "grid": ("--grid", "--grid.length", "200", "--grid.attach-length", "150"),  # size from GeneratedSpec.grid
    "spider": ("--spider", "--spider.arm-number", "5", "--spider.circle-number", "2",
               "--spider.space-radius", "150"),
    "rand": ("--rand", "--rand.iterations", "40", "--rand.min-distance", "120",
             "--rand.max-distance", "250"),
}


@dataclass(frozen=True)
class GeneratedSpec:
    """What to generate. ``period_s`` of demand at one vehicle every ``vehicle_period_s``;
    ``grid``: junctions across and down of a grid network (5 x 4 gives 20 signals);
    ``net_seed``: the seed of the network's shape (a random network), None: the run's seed,
    so with it set every seed runs other traffic on the same network."""

    kind: NetworkKind = "grid"
    lanes: int = 2
    left_turn_lanes: int = 0
    crossings: bool = False
    tls_type: str = "static"
    tls_layout: str = "opposites"
    period_s: float = 300.0
    vehicle_period_s: float = 2.0
    grid: tuple[int, int] = (3, 3)
    net_seed: int | None = None

    @classmethod
    def parse(cls, text: str) -> GeneratedSpec:
        """``"generated:kind=spider,period_s=3600,vehicle_period_s=1.5"`` (``grid=4x3``,
        ``crossings=1``; keys are the fields)."""
        name, _, options = text.strip().partition(":")
        if name.strip() != "generated":
            raise ScenarioError(f"{text!r}: a generated-network spec starts with 'generated'")
        kinds = ("grid", "spider", "rand")
        converters = {"kind": str, "lanes": int, "left_turn_lanes": int, "crossings": _flag, "tls_type": str,
                      "tls_layout": str, "period_s": float, "vehicle_period_s": float, "grid": _size, "net_seed": int}
        values: dict[str, object] = {}
        for item in filter(None, (part.strip() for part in options.split(","))):
            key, eq, raw = (part.strip() for part in item.partition("="))
            if key not in converters or not eq:
                raise ScenarioError(f"{text!r}: unknown option {item!r}; use key=value with keys {', '.join(converters)}")
            try:
                values[key] = converters[key](raw)
            except ValueError:
                raise ScenarioError(f"{text!r}: {key}={raw!r} is not valid") from None
        spec = cls(**values)  # type: ignore[arg-type]
        problems = [
            (spec.kind not in kinds, f"kind must be one of {', '.join(kinds)}"),
            (not 1 <= spec.lanes <= 4, "lanes must be 1 to 4"),
            (not 0 <= spec.left_turn_lanes <= 2, "left_turn_lanes must be 0 to 2"),
            (not 60 <= spec.period_s <= 86400, "period_s must be 60 to 86400"),
            (not 0.1 <= spec.vehicle_period_s <= 600, "vehicle_period_s must be 0.1 to 600"),
            (not (2 <= spec.grid[0] <= 10 and 2 <= spec.grid[1] <= 10), "grid must be 2x2 to 10x10"),
        ]
        for bad, message in problems:
            if bad:
                raise ScenarioError(f"{text!r}: {message}")
        return spec

    @property
    def name(self) -> str:
        extras = [f"L{self.lanes}", self.tls_type, self.tls_layout]
        if self.left_turn_lanes:
            extras.append(f"turn{self.left_turn_lanes}")
        if self.crossings:
            extras.append("ped")
        if self.kind == "grid" and self.grid != (3, 3):
            extras.append(f"{self.grid[0]}x{self.grid[1]}")
        if self.net_seed is not None:
            extras.append(f"n{self.net_seed}")
        return f"{self.kind}-{'-'.join(extras)}"


def _flag(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise ValueError(raw)


def _size(raw: str) -> tuple[int, int]:
    across, _, down = raw.lower().partition("x")
    return int(across), int(down)


def build_generated(spec: GeneratedSpec, seed: int, workdir: Path) -> Scenario:
    """Generate (or reuse) the network and routes of ``spec`` in ``workdir``."""
    from sumo_scenarios.runner import sumo_binary  # lazy: the runner may use this module

    workdir.mkdir(parents=True, exist_ok=True)
    stem = workdir / f"{spec.name}-{seed}"
    net_file, route_file = stem.with_suffix(".net.xml"), stem.with_suffix(".rou.xml")
    if not net_file.is_file():
        _call([
            sumo_binary("netgenerate"), *_KIND_OPTIONS[spec.kind],
            *(("--grid.x-number", str(spec.grid[0]), "--grid.y-number", str(spec.grid[1])) if spec.kind == "grid" else ()),
            "--seed", str(seed if spec.net_seed is None else spec.net_seed),
            "--default.lanenumber", str(spec.lanes),
            "--turn-lanes", str(spec.left_turn_lanes),
            "--default.speed", "13.8",  # below the speed above which no crossings are guessed
            "--tls.guess", "--tls.guess.threshold", "0",
            "--tls.default-type", spec.tls_type,
            "--tls.layout", spec.tls_layout,
            "--no-turnarounds.except-deadend",
            *(("--sidewalks.guess", "--crossings.guess") if spec.crossings else ()),
            "--no-warnings", "-o", str(_partial(net_file)),
        ], net_file)
    if not route_file.is_file():
        _call([
            sys.executable, str(_sumo_home() / "tools" / "randomTrips.py"),
            "-n", str(net_file), "-r", str(_partial(route_file)), "-o", str(_partial(stem.with_suffix(".trips.xml"))),
            "--seed", str(seed), "-b", "0", "-e", f"{spec.period_s:g}",
            "-p", f"{spec.vehicle_period_s:g}", "--fringe-factor", "10", "--min-distance", "300",
            "--validate",
        ], route_file)
        _partial(stem.with_suffix(".trips.xml")).unlink(missing_ok=True)
    return Scenario(spec.name, net_file, (route_file,), 0.0, spec.period_s)


def _sumo_home() -> Path:
    """SUMO's installation: the eclipse-sumo wheel, else ``$SUMO_HOME``."""
    try:
        from sumo import SUMO_HOME

        return Path(SUMO_HOME)
    except ImportError:
        if "SUMO_HOME" in os.environ:
            return Path(os.environ["SUMO_HOME"])
        raise ScenarioError("SUMO's tools (randomTrips.py) not found: install eclipse-sumo or set SUMO_HOME") from None


def _partial(path: Path) -> Path:
    """Where a tool writes ``path`` before it is renamed into place: runs in parallel that
    build the same scenario never read a half-written file."""
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def _call(cmd: list[str], output: Path) -> None:
    partial = _partial(output)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ScenarioError(f"could not generate {output.name}: {' / '.join(tail)}")
    os.replace(partial, output)
