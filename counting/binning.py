"""Aggregation of crossings and queue samples into fixed time bins (default 15 min, also 1 min).

Bins start at multiples of ``bin_s`` from the clock origin (video start for a replay, Unix
epoch for a live camera), so 15-minute bins line up with the quarter hours engineers use.
Every bin x lane x class gets a row, zeros included, so a missing row never means "unknown".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from counting.events import Crossing, QueueSample
from counting.pcu import DEFAULT_PCU
from vision.classes import CLASS_NAMES, VEHICLE_CLASSES

BIN_15_MIN_S = 900
BIN_1_MIN_S = 60


@dataclass(frozen=True)
class CountRow:
    """Vehicles of one class crossing one lane's stop line during one bin."""

    bin_start_s: int
    bin_s: int
    lane: str
    class_name: str
    count: int
    pcu: float

    @property
    def flow_veh_h(self) -> float:
        return self.count * 3600.0 / self.bin_s


@dataclass(frozen=True)
class QueueRow:
    """Queue statistics of one lane during one bin (means over the samples in the bin)."""

    bin_start_s: int
    bin_s: int
    lane: str
    mean_present: float
    mean_stopped: float
    max_stopped: int
    mean_queue_m: float
    max_queue_m: float


def bin_index(t_s: float, bin_s: int) -> int:
    return int(math.floor(t_s / bin_s))


def bin_counts(crossings: Sequence[Crossing], lanes: Sequence[str], *, bin_s: int = BIN_15_MIN_S,
               start_s: float = 0.0, end_s: float | None = None, classes: Sequence[int] = VEHICLE_CLASSES,
               pcu_weights: Mapping[int, float] = DEFAULT_PCU) -> list[CountRow]:
    """One row per bin x lane x class between ``start_s`` and ``end_s`` (inclusive of the bins
    they fall in); crossings of classes not in ``classes`` are ignored."""
    if bin_s <= 0:
        raise ValueError(f"bin_s must be positive, got {bin_s}")
    times = [c.t_s for c in crossings]
    end = end_s if end_s is not None else (max(times) if times else start_s)
    first, last = bin_index(start_s, bin_s), bin_index(max(end, start_s), bin_s)
    tally: dict[tuple[int, str, int], int] = defaultdict(int)
    for c in crossings:
        tally[(bin_index(c.t_s, bin_s), c.lane, c.class_id)] += 1
    rows = []
    for b in range(first, last + 1):
        for lane in lanes:
            for cls in classes:
                n = tally.get((b, lane, cls), 0)
                rows.append(CountRow(b * bin_s, bin_s, lane, CLASS_NAMES.get(cls, str(cls)), n,
                                     round(n * pcu_weights.get(cls, 1.0), 3)))
    return rows


def bin_queues(samples: Sequence[QueueSample], *, bin_s: int = BIN_15_MIN_S) -> list[QueueRow]:
    """Per bin and lane: mean vehicles present and stopped, max stopped, mean and max queue."""
    groups: dict[tuple[int, str], list[QueueSample]] = defaultdict(list)
    for s in samples:
        groups[(bin_index(s.t_s, bin_s), s.lane)].append(s)
    rows = []
    for (b, lane), group in sorted(groups.items()):
        q = np.array([s.queue_m for s in group], dtype=np.float64)
        finite = q[np.isfinite(q)]
        rows.append(QueueRow(
            b * bin_s, bin_s, lane,
            round(float(np.mean([s.present for s in group])), 3),
            round(float(np.mean([s.stopped for s in group])), 3),
            max(s.stopped for s in group),
            round(float(finite.mean()), 2) if finite.size else float("nan"),
            round(float(finite.max()), 2) if finite.size else float("nan"),
        ))
    return rows
