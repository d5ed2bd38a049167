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

from optimizer.demand import MAX_FLOW_VEH_H, DemandEstimate, csv_rows, non_negative_number
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
    """Read the TMC CSV of the module docstring; bad rows raise ``ConfigError`` naming the line:
    a ``bin_start`` that is not seconds in [0, ``LATEST_BIN_START_S``] or a clock time
    ``HH:MM[:SS]``, a count that is not a finite number, negative or more than a movement can
    carry in the bin, a ``bin_s`` outside (0, 3600], a movement and bin listed twice."""
    file = Path(path)
    counts: dict[tuple[str, str], dict[float, float]] = {}
    first_line: dict[tuple[str, str, float], int] = {}
    bin_lengths: set[float] = set()
    for line, row in csv_rows(file, "turning-movement counts", ("tls", "movement", "bin_start", "count"),
                              "tls,movement,bin_start,count[,bin_s]"):
        where = f"{file}:{line}"
        tls, movement = (row.get("tls") or "").strip(), (row.get("movement") or "").strip()
        if not tls or not movement:
            raise ConfigError(f"{where}: tls and movement must not be empty")
        start = _seconds(where, row.get("bin_start"))
        bin_s = DEFAULT_BIN_S
        if (row.get("bin_s") or "").strip():
            bin_s = non_negative_number(row.get("bin_s"), where, "bin_s", HOUR_S, " s (bins are at most an hour)")
            if bin_s <= 0:
                raise ConfigError(f"{where}: bin_s {bin_s:g} must be above 0")
        bin_lengths.add(bin_s)
        most = MAX_FLOW_VEH_H * bin_s / HOUR_S
        count = non_negative_number(row.get("count"), where, "count", most,
                                    f" vehicles in {bin_s:g} s ({MAX_FLOW_VEH_H:g} veh/h, more than any movement carries)")
        if (tls, movement, start) in first_line:
            raise ConfigError(f"{where}: {tls} movement {movement} bin {start:g} s is listed twice (lines "
                              f"{first_line[tls, movement, start]} and {line}); give one row per movement and bin")
        first_line[tls, movement, start] = line
        counts.setdefault((tls, movement), {})[start] = count
    if not counts:
        raise ConfigError(f"{file}: no counts after the header; give rows tls,movement,bin_start,count")
    if len(bin_lengths) > 1:
        raise ConfigError(f"{file}: bins must all have the same length (found {sorted(bin_lengths)} s)")
    return TurningCounts(counts, bin_lengths.pop(), str(file))


LATEST_BIN_START_S = 10 * 86400.0  # ten days of counts: a later start is a typo or a unit error


def _seconds(where: str, raw: str | None) -> float:
    """``bin_start``: seconds (a finite number in [0, LATEST_BIN_START_S]) or ``HH:MM[:SS]``
    (minutes and seconds below 60)."""
    text = (raw or "").strip()
    problem = f"{where}: bin_start {text!r} is not seconds or HH:MM (seconds 0 to {LATEST_BIN_START_S:g}, or a time HH:MM[:SS])"
    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            raise ConfigError(problem)
        hours, minutes, *rest = (int(p) for p in parts)
        seconds = rest[0] if rest else 0
        if minutes >= 60 or seconds >= 60:
            raise ConfigError(f"{problem}: minutes and seconds must be below 60")
        value = hours * 3600.0 + minutes * 60.0 + seconds
    else:
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(problem) from None
    if not 0.0 <= value <= LATEST_BIN_START_S:  # NaN fails this too
        raise ConfigError(problem)
    return value
