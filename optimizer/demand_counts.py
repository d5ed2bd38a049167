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
``std_veh_h``. Vehicle classes are counted alike (one vehicle = one vehicle).

Example::

    demand = demand_from_counts(Path("counts.csv"), Path("lane_map.csv"))
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np

from optimizer.demand import DemandEstimate, csv_rows
from phasewise_errors import ConfigError

DEFAULT_BIN_S = 900.0


def read_lane_map(path: Path) -> dict[str, list[tuple[str, str, float]]]:
    """``lane -> [(tls id, movement id, share), ...]`` from the lane map CSV."""
    out: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for line, row in csv_rows(path, "lane map", ("lane", "tls", "movement"), "lane,tls,movement[,share]"):
        try:
            share = float((row.get("share") or "1").strip())
        except ValueError:
            raise ConfigError(f"{path}:{line}: share {row.get('share')!r} is not a number") from None
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"{path}:{line}: share {share:g} must be between 0 and 1")
        out[row["lane"].strip()].append((row["tls"].strip(), row["movement"].strip(), share))
    return dict(out)


def demand_from_counts(counts_csv: Path, lane_map_csv: Path) -> DemandEstimate:
    """Mean hourly flow (and std across bins) per movement from binned lane counts."""
    lane_map = read_lane_map(lane_map_csv)
    per_bin: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for line, row in csv_rows(counts_csv, "counts file", ("bin_start", "lane", "count"), "bin_start,lane,class,count"):
        lane = (row.get("lane") or "").strip()
        if lane not in lane_map:
            raise ConfigError(f"{counts_csv}:{line}: lane '{lane}' is not in the lane map {lane_map_csv}")
        try:
            count = float(row["count"])
        except (TypeError, ValueError):
            raise ConfigError(f"{counts_csv}:{line}: count {row.get('count')!r} is not a number") from None
        if count < 0:
            raise ConfigError(f"{counts_csv}:{line}: lane {lane}: count {count:g} is negative")
        per_bin[row["bin_start"].strip()][lane] += count
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
