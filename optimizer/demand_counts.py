"""Demand from the vision pipeline's counts: ``bin_start, lane, class, count`` CSV rows.

Camera lanes are labels chosen at calibration (``"north_left"``, ``"lane3"``...). A small
lane map CSV ties them to movements of the network::

    lane,tls,movement,share
    north_left,J0,N0_J0:left,1
    north_shared,J0,N0_J0:through,0.7
    north_shared,J0,N0_J0:right,0.3

``share`` (optional, default 1) splits a shared lane's count between its movements. The flow
of a movement is its mean count per bin scaled to an hour (bins are 15 min unless the
``bin_start`` spacing says otherwise); its standard deviation across bins is kept as
``std_veh_h``. Vehicle classes (car, motorcycle, bus, truck) are counted alike (one vehicle =
one vehicle); rows of person and bicycle are skipped, any other class is an error.

Example::

    demand = demand_from_counts(Path("counts.csv"), Path("lane_map.csv"))
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np

from optimizer.demand import DemandEstimate, csv_rows, non_negative_number
from phasewise_errors import ConfigError
from vision.classes import CLASS_IDS, VEHICLE_CLASSES

DEFAULT_BIN_S = 900.0
MAX_COUNT_PER_ROW = 50_000.0  # a lane carries at most about 2600 veh/h: a larger count is a typo


def read_lane_map(path: Path) -> dict[str, list[tuple[str, str, float]]]:
    """``lane -> [(tls id, movement id, share), ...]`` from the lane map CSV."""
    out: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for line, row in csv_rows(path, "lane map", ("lane", "tls", "movement"), "lane,tls,movement[,share]"):
        try:
            share = float((row.get("share") or "1").strip())
        except ValueError:
            raise ConfigError(f"{path}:{line}: share {row.get('share')!r} is not a number") from None
        if not 0.0 <= share <= 1.0:  # NaN fails this too
            raise ConfigError(f"{path}:{line}: share {share:g} must be between 0 and 1")
        lane, tls, movement = ((row.get(k) or "").strip() for k in ("lane", "tls", "movement"))
        if not lane or not tls or not movement:
            raise ConfigError(f"{path}:{line}: lane, tls and movement must not be empty")
        if any(t == tls and m == movement for t, m, _ in out[lane]):
            raise ConfigError(f"{path}:{line}: lane {lane} to {tls} movement {movement} is listed twice")
        out[lane].append((tls, movement, share))
    if not out:
        raise ConfigError(f"{path}: no rows after the header; give lane,tls,movement[,share]")
    for lane, targets in out.items():
        if sum(share for _, _, share in targets) > 1.0 + 1e-6:
            raise ConfigError(f"{path}: lane {lane}: shares add up to {sum(s for _, _, s in targets):g}, above 1")
    return dict(out)


def demand_from_counts(counts_csv: Path, lane_map_csv: Path) -> DemandEstimate:
    """Mean hourly flow (and std across bins) per movement from binned lane counts."""
    lane_map = read_lane_map(lane_map_csv)
    per_bin: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    first_line: dict[tuple[str, str, str], int] = {}
    for line, row in csv_rows(counts_csv, "counts file", ("bin_start", "lane", "count"), "bin_start,lane,class,count"):
        where = f"{counts_csv}:{line}"
        lane = (row.get("lane") or "").strip()
        if lane not in lane_map:
            raise ConfigError(f"{where}: lane '{lane}' is not in the lane map {lane_map_csv}")
        road_user = (row.get("class") or "").strip()
        if road_user and road_user not in CLASS_IDS:
            raise ConfigError(f"{where}: class '{road_user[:40]}' is not a road-user class; classes are "
                              f"{', '.join(CLASS_IDS)}")
        count = non_negative_number(row.get("count"), f"{where}: lane {lane}", "count", MAX_COUNT_PER_ROW,
                                    " (more vehicles than a lane carries in a day)")
        bin_start = (row.get("bin_start") or "").strip()
        if not bin_start:
            raise ConfigError(f"{where}: bin_start is empty")
        key = (bin_start, lane, road_user)
        if key in first_line:
            raise ConfigError(f"{where}: bin {bin_start}, lane {lane}{', class ' + road_user if road_user else ''} "
                              f"is listed twice (lines {first_line[key]} and {line}); give one row each")
        first_line[key] = line
        if road_user and CLASS_IDS[road_user] not in VEHICLE_CLASSES:
            continue  # pedestrians and bicycles are counted, but they are not the signal's vehicle demand
        per_bin[bin_start][lane] += count
    if not per_bin:
        raise ConfigError(f"{counts_csv}: no counts")
    bins = sorted(per_bin)
    bin_s = _bin_length_s(bins)
    keys = sorted({(t, m) for targets in lane_map.values() for t, m, _ in targets})
    matrix = np.zeros((len(bins), len(keys)))
    column = {k: j for j, k in enumerate(keys)}
    for i, b in enumerate(bins):
        for lane, count in per_bin[b].items():
            for tls_id, movement_id, share in lane_map[lane]:
                matrix[i, column[(tls_id, movement_id)]] += count * share
    hourly = matrix * 3600.0 / bin_s
    flows: dict[str, dict[str, float]] = defaultdict(dict)
    stds: dict[str, dict[str, float]] = defaultdict(dict)
    for (tls_id, movement_id), j in column.items():
        flows[tls_id][movement_id] = float(hourly[:, j].mean())
        stds[tls_id][movement_id] = float(hourly[:, j].std())
    return DemandEstimate(dict(flows), dict(stds), period_s=bin_s * len(bins), source=str(counts_csv))


def _bin_length_s(bins: list[str]) -> float:
    """Spacing of consecutive ``bin_start`` values (numbers in s or ISO times); 15 min if one bin."""
    if len(bins) < 2:
        return DEFAULT_BIN_S
    try:
        values = sorted(float(b) for b in bins)
    except ValueError:
        try:
            values = sorted(datetime.fromisoformat(b).timestamp() for b in bins)
        except ValueError:
            return DEFAULT_BIN_S
    gaps = np.diff(values)
    return float(np.min(gaps[gaps > 0])) if np.any(gaps > 0) else DEFAULT_BIN_S
