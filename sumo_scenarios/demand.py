"""Traffic demand of the built-in corridor: volumes per entry, turning ratios, arrivals.

Everything an engineer may want to tune is in the tables at the top of this module:

* ``DEMAND_LEVELS_VEH_H``: hourly volume per entry for each named level;
* ``PEAK_TOP_VEH_H`` and ``PEAK_PROFILE``: the "peak" level, which ramps from ``medium``
  up to 1.3 × ``high`` in the middle of the period and back down;
* ``ARTERIAL_TURNS`` and ``SIDE_TURNS``: the share of vehicles turning left/right at each
  signalised intersection they reach.

Arrivals at each entry are a (non-homogeneous) Poisson process, sampled by thinning
(Lewis & Shedler, 1979): draw a homogeneous process at the highest rate, keep each arrival
at time t with probability rate(t) / max rate. Same generator state ⇒ same arrivals.

Example::

    rng = np.random.default_rng(1)
    rate = entry_rate_veh_h("peak", "arterial", duration_s=3600.0)
    departs_s = sample_arrivals_s(rng, rate, duration_s=3600.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from phasewise_errors import ScenarioError

EntryKind = Literal["arterial", "side"]
FloatArray = npt.NDArray[np.float64]
RateFn = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class EntryVolumes:
    """Hourly volumes of one demand level.

    ``arterial_veh_h`` is the mean of the two arterial directions (eastbound and westbound
    entries are split by the corridor's directional imbalance); ``side_veh_h`` is per
    side-street entry (every north and every south side road).
    """

    arterial_veh_h: float
    side_veh_h: float

    def of(self, kind: EntryKind) -> float:
        return self.arterial_veh_h if kind == "arterial" else self.side_veh_h


@dataclass(frozen=True)
class TurnRatios:
    """Share of the vehicles reaching an intersection that turn left / right there."""

    left: float
    right: float

    @property
    def through(self) -> float:
        return 1.0 - self.left - self.right


# Volumes per entry. "high" is near the capacity of netconvert's default 90 s fixed-time
# plan on a 2-lane arterial (about 2 × 1800 veh/h × 34/90 ≈ 1360 veh/h per direction).
DEMAND_LEVELS_VEH_H: dict[str, EntryVolumes] = {
    "low": EntryVolumes(arterial_veh_h=400.0, side_veh_h=100.0),
    "medium": EntryVolumes(arterial_veh_h=800.0, side_veh_h=200.0),
    "high": EntryVolumes(arterial_veh_h=1200.0, side_veh_h=300.0),
}

# Top of the "peak" level: 1.3 × high.
PEAK_TOP_VEH_H = EntryVolumes(arterial_veh_h=1560.0, side_veh_h=390.0)

# Shape of the "peak" level over the simulated period: (fraction of the period, weight),
# linearly interpolated; weight 0 is "medium", weight 1 is PEAK_TOP_VEH_H.
PEAK_PROFILE: tuple[tuple[float, float], ...] = (
    (0.00, 0.0),
    (0.15, 0.0),
    (0.40, 1.0),
    (0.60, 1.0),
    (0.85, 0.0),
    (1.00, 0.0),
)

ARTERIAL_TURNS = TurnRatios(left=0.12, right=0.10)
SIDE_TURNS = TurnRatios(left=0.25, right=0.25)

DEMAND_NAMES: tuple[str, ...] = (*DEMAND_LEVELS_VEH_H, "peak")


def entry_rate_veh_h(demand: str, kind: EntryKind, duration_s: float) -> RateFn:
    """Arrival rate (veh/h) at one entry of ``kind`` as a function of time (s, array in/out).

    Arterial rates are the mean of both directions; scale them by the directional share.
    """
    if demand in DEMAND_LEVELS_VEH_H:
        flat_veh_h = DEMAND_LEVELS_VEH_H[demand].of(kind)
        return lambda t_s: np.full(np.shape(t_s), flat_veh_h)
    if demand != "peak":
        raise ScenarioError(f"unknown demand level {demand!r}; use one of {', '.join(DEMAND_NAMES)}")
    base_veh_h = DEMAND_LEVELS_VEH_H["medium"].of(kind)
    top_veh_h = PEAK_TOP_VEH_H.of(kind)
    fractions = np.array([f for f, _ in PEAK_PROFILE])
    weights = np.array([w for _, w in PEAK_PROFILE])

    def rate(t_s: FloatArray) -> FloatArray:
        weight = np.interp(np.asarray(t_s, dtype=float) / duration_s, fractions, weights)
        return base_veh_h + weight * (top_veh_h - base_veh_h)

    return rate


def sample_arrivals_s(
    rng: np.random.Generator, rate_veh_h: RateFn, duration_s: float, scale: float = 1.0
) -> FloatArray:
    """Sorted arrival times (s) in ``[0, duration_s)`` of a Poisson process of rate
    ``scale × rate_veh_h(t)``, sampled by thinning."""
    grid_s = np.linspace(0.0, duration_s, 721)
    max_veh_s = scale * float(np.max(rate_veh_h(grid_s))) / 3600.0
    if max_veh_s <= 0.0:
        return np.empty(0)
    candidates_s = np.sort(rng.uniform(0.0, duration_s, rng.poisson(max_veh_s * duration_s)))
    keep = rng.uniform(0.0, 1.0, candidates_s.size) * max_veh_s < scale * rate_veh_h(candidates_s) / 3600.0
    return candidates_s[keep]
