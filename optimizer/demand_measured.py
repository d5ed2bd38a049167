"""What the cameras measured, as the optimizer's input: demand per movement and saturation flow per lane.

Two sources, both named after the network (movement ids ``"<approach edge>:<turn>"``, SUMO
lane ids), read by :func:`read_measured`:

* **the daemon's state** (``state.sqlite`` or the folder holding it,
  :mod:`daemon.store` writes it): the estimator it learnt
  (:class:`counting.estimator.DemandEstimator`, key ``estimator``), asked for its estimate
  at the daemon's last clock (key ``clock_s``). Its demand per movement is each lane's
  arrivals split by the turning shares it counted at the stop line; its saturation flow per
  lane comes from discharge headways (HCM 2016 ch. 19), shrunk towards 1800 veh/h/lane: a
  lane at exactly that prior has no measured green and is left to ``--saturation-flow``.
  The file is opened read-only (the daemon may be running);
* **a replay output folder** (``phasewise replay --intersection``): ``demand.csv``
  (``movement,flow_veh_h,std_veh_h``: the estimator's arrival rates) and ``discharge.csv``
  (one row per green: ``lanes`` and ``saturation_flow_veh_h_lane``); a lane's saturation flow
  is the median over its measured greens. The site's approaches and lanes must carry the
  network's ids for the rows to land on the network.

Per-green values outside ``PLAUSIBLE_VEH_H_LANE`` (a green with two vehicles, a tracking
slip) are ignored. Example::

    measured = read_measured(Path("out/replay"), models)
    bounds = IntersectionBounds(lane_saturation_veh_h=measured.lane_saturation_veh_h)
"""

from __future__ import annotations

import pickle
import sqlite3
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from optimizer.demand import DemandEstimate, csv_rows, non_negative_number
from optimizer.intersection import IntersectionModel
from phasewise_errors import ConfigError

PLAUSIBLE_VEH_H_LANE = (600.0, 2600.0)  # the range --saturation-flow accepts
PRIOR_VEH_H_LANE = 1800.0  # counting.estimator's prior: a lane there has no measured discharge
STATE_FILE = "state.sqlite"


@dataclass(frozen=True)
class MeasuredTraffic:
    """Measured demand (``None`` when the source has none) and saturation flow per lane (veh/h)."""

    demand: DemandEstimate | None
    lane_saturation_veh_h: dict[str, float] = field(default_factory=dict)
    source: str = ""


def read_measured(path: Path, models: Mapping[str, IntersectionModel]) -> MeasuredTraffic:
    """The daemon's state or a replay folder (module docstring); ``ConfigError`` naming the file otherwise."""
    state = path if path.is_file() else path / STATE_FILE
    if state.is_file():
        return _from_state(state, models)
    if path.is_dir() and ((path / "demand.csv").is_file() or (path / "discharge.csv").is_file()):
        return _from_replay(path, models)
    raise ConfigError(f"--measured {path}: neither the daemon's {STATE_FILE} (or its folder) nor a replay "
                      "--intersection folder with demand.csv or discharge.csv")


def _from_state(state: Path, models: Mapping[str, IntersectionModel]) -> MeasuredTraffic:
    try:
        db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
        try:
            rows = dict(db.execute("SELECT key, value FROM kv WHERE key IN ('estimator', 'clock_s')").fetchall())
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"--measured {state}: not a readable daemon state ({exc})") from None
    if "estimator" not in rows:
        raise ConfigError(f"--measured {state}: the daemon has saved no estimator yet (it saves what it learnt "
                          "every few minutes); run it longer")
    try:
        estimator = pickle.loads(rows["estimator"])  # the daemon's own file: the estimator it pickled
        clock = rows.get("clock_s")
        estimate = estimator.estimate(float(clock.decode() if isinstance(clock, bytes) else clock) if clock else 0.0)
    except Exception as exc:  # another phasewise version's estimator, a truncated blob
        raise ConfigError(f"--measured {state}: the saved estimator cannot be read ({exc!r}); "
                          "was it written by another phasewise version?") from None
    where = str(state)
    flows: dict[str, dict[str, float]] = {}
    stds: dict[str, dict[str, float]] = {}
    owner = _movement_owner(models)
    for movement, flow in estimate.flow_veh_h.items():
        tls_id = _tls_of(owner, movement, where)
        flows.setdefault(tls_id, {})[movement] = float(flow)
        stds.setdefault(tls_id, {})[movement] = float(estimate.std_veh_h.get(movement, 0.0))
    lanes = _known_lanes(models)
    saturation = {lane: float(v) for lane, v in estimate.saturation_flow_veh_h_lane.items()
                  if abs(v - PRIOR_VEH_H_LANE) > 1e-6 and _plausible(v) and _check_lane(lanes, lane, where)}
    return MeasuredTraffic(DemandEstimate(flows, stds, source=where), saturation, where)


def _from_replay(folder: Path, models: Mapping[str, IntersectionModel]) -> MeasuredTraffic:
    demand = None
    demand_file = folder / "demand.csv"
    if demand_file.is_file():
        owner = _movement_owner(models)
        flows: dict[str, dict[str, float]] = {}
        stds: dict[str, dict[str, float]] = {}
        for line, row in csv_rows(demand_file, "replay demand file", ("movement", "flow_veh_h"),
                                  "movement,flow_veh_h[,std_veh_h]"):
            movement = (row.get("movement") or "").strip()
            tls_id = _tls_of(owner, movement, f"{demand_file}:{line}")
            flows.setdefault(tls_id, {})[movement] = non_negative_number(row.get("flow_veh_h"), f"{demand_file}:{line}", "flow_veh_h")
            if (row.get("std_veh_h") or "").strip():
                stds.setdefault(tls_id, {})[movement] = non_negative_number(row.get("std_veh_h"), f"{demand_file}:{line}", "std_veh_h")
        demand = DemandEstimate(flows, stds, source=str(demand_file))
    saturation: dict[str, float] = {}
    discharge_file = folder / "discharge.csv"
    if discharge_file.is_file():
        lanes = _known_lanes(models)
        per_lane: dict[str, list[float]] = {}
        for line, row in csv_rows(discharge_file, "replay discharge table", ("lanes", "saturation_flow_veh_h_lane"),
                                  "head,...,lanes,...,saturation_flow_veh_h_lane,..."):
            text = (row.get("saturation_flow_veh_h_lane") or "").strip()
            if not text:  # a green without enough queued vehicles to measure
                continue
            value = non_negative_number(text, f"{discharge_file}:{line}", "saturation_flow_veh_h_lane")
            for lane in (row.get("lanes") or "").split():
                if _check_lane(lanes, lane, f"{discharge_file}:{line}") and _plausible(value):
                    per_lane.setdefault(lane, []).append(value)
        saturation = {lane: float(statistics.median(values)) for lane, values in per_lane.items()}
    return MeasuredTraffic(demand, saturation, str(folder))


def _movement_owner(models: Mapping[str, IntersectionModel]) -> dict[str, str]:
    return {m.id: tls_id for tls_id, model in models.items() for m in model.movements}


def _known_lanes(models: Mapping[str, IntersectionModel]) -> set[str]:
    return {lane for model in models.values() for lane in model.incoming_lanes}


def _tls_of(owner: Mapping[str, str], movement: str, where: str) -> str:
    if movement not in owner:
        known = ", ".join(sorted(owner)[:8])
        raise ConfigError(f"{where}: movement '{movement}' is not one of the network's (the site's approaches must "
                          f"be named after the network's approach edges); known: {known}, ...")
    return owner[movement]


def _check_lane(known: set[str], lane: str, where: str) -> bool:
    if lane not in known:
        some = ", ".join(sorted(known)[:8])
        raise ConfigError(f"{where}: lane '{lane}' is not a signalised approach lane of the network (the site's "
                          f"lanes must carry the network's lane ids); known: {some}, ...")
    return True


def _plausible(value: float) -> bool:
    return PLAUSIBLE_VEH_H_LANE[0] <= value <= PLAUSIBLE_VEH_H_LANE[1]
