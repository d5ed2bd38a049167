"""Turning-movement counts (TMC) in 15-min bins, as engineers collect them, to demand.

The CSV has one row per movement and bin (counts are vehicles in the bin)::

    tls,movement,bin_start,count
    J0,W_J0:through,0,270
    J0,W_J0:through,900,301
    J0,W_J0:left,0,35

``bin_start`` is seconds from the start of the count (or ``HH:MM``); an optional ``bin_s``
column gives the bin length (default 900 s, the usual 15 min). Movement ids are the model's
(``"<approach edge>:<turn>"``), as in :mod:`optimizer.demand`.

:meth:`TurningCounts.peak_hour` gives the design demand the way the HCM asks for it: the hour
(four consecutive 15-min bins) with the most vehicles over all movements, flows in veh/h, and
each movement's standard deviation from its bins (``std`` of the hourly rates). The same
counts feed the calibration of routes (:mod:`calibration.counts_fit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.demand import DemandEstimate, csv_rows, non_negative_number
from phasewise_errors import ConfigError

DEFAULT_BIN_S = 900.0
HOUR_S = 3600.0


@dataclass(frozen=True)
class TurningCounts:
    """Vehicles per ``(tls, movement)`` and bin start (s); every bin ``bin_s`` long."""

    counts: dict[tuple[str, str], dict[float, float]]
    bin_s: float = DEFAULT_BIN_S
    source: str = ""

    @property
    def bin_starts_s(self) -> list[float]:
        return sorted({b for bins in self.counts.values() for b in bins})

    def peak_hour(self) -> tuple[float, DemandEstimate]:
        """Start (s) of the busiest hour and its demand (veh/h, std from the bins)."""
        starts = self.bin_starts_s
        per_hour = max(1, round(HOUR_S / self.bin_s))
        totals = {b: sum(bins.get(b, 0.0) for bins in self.counts.values()) for b in starts}
        windows = [starts[k:k + per_hour] for k in range(max(1, len(starts) - per_hour + 1))]
        best = max(windows, key=lambda w: sum(totals[b] for b in w))
        flows: dict[str, dict[str, float]] = {}
        stds: dict[str, dict[str, float]] = {}
        for (tls, movement), bins in self.counts.items():
            rates = np.array([bins.get(b, 0.0) for b in best]) * HOUR_S / self.bin_s
            flows.setdefault(tls, {})[movement] = float(rates.mean())
            if len(rates) > 1:
                stds.setdefault(tls, {})[movement] = float(rates.std(ddof=1))
        return best[0], DemandEstimate(flows, stds, HOUR_S, f"{self.source} (peak hour from {best[0]:g} s)")


def read_tmc_csv(path: str | Path) -> TurningCounts:
    """Read the TMC CSV of the module docstring; bad rows raise ``ConfigError`` naming the line."""
    file = Path(path)
    counts: dict[tuple[str, str], dict[float, float]] = {}
    bin_lengths: set[float] = set()
    for line, row in csv_rows(file, "turning-movement counts", ("tls", "movement", "bin_start", "count"),
                              "tls,movement,bin_start,count[,bin_s]"):
        tls, movement = (row.get("tls") or "").strip(), (row.get("movement") or "").strip()
        if not tls or not movement:
            raise ConfigError(f"{file}:{line}: tls and movement must not be empty")
        start = _seconds(file, line, row.get("bin_start"))
        count = non_negative_number(row.get("count"), f"{file}:{line}", "count")
        bin_lengths.add(non_negative_number(row.get("bin_s"), f"{file}:{line}", "bin_s") if (row.get("bin_s") or "").strip() else DEFAULT_BIN_S)
        bins = counts.setdefault((tls, movement), {})
        bins[start] = bins.get(start, 0.0) + count
    if not counts:
        raise ConfigError(f"{file}: no counts")
    if len(bin_lengths) > 1 or min(bin_lengths) <= 0:
        raise ConfigError(f"{file}: bins must all have the same positive length (found {sorted(bin_lengths)} s)")
    return TurningCounts(counts, bin_lengths.pop(), str(file))


def _seconds(file: Path, line: int, raw: str | None) -> float:
    text = (raw or "").strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            return sum(p * 60.0 ** (len(parts) - 1 - k) for k, p in enumerate(parts)) * (60.0 if len(parts) == 2 else 1.0)
        return float(text)
    except ValueError:
        raise ConfigError(f"{file}:{line}: bin_start {text!r} is not seconds or HH:MM") from None


