"""A random-walk Kalman filter on arrival rates, one independent scalar filter per movement.

State: the arrival rate ``rate_veh_s`` of each movement, assumed to drift as a random walk
(process variance ``q`` per second). Measurement: a count over a window of ``window_s``
seconds, read as the rate ``count / window_s`` with Poisson variance ``rate / window_s``.
The gain therefore adapts: little traffic or a short window trusts the history more.
Rates are clipped at zero; a filter with no measurement yet reports its prior.

Example::

    f = RateFilter(n=2)
    f.predict(60.0)
    f.correct(np.array([10.0, 3.0]), window_s=60.0)
    f.rate_veh_s, np.sqrt(f.var)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

MIN_RATE_VEH_S = 60.0 / 3600.0  # variance floor: as if 60 veh/h, so a zero count is not certain


class RateFilter:
    """Vectorised scalar Kalman filters; ``drift_veh_h_per_15min`` is the std of the true
    rate's change over 15 minutes (the process noise)."""

    def __init__(self, n: int, drift_veh_h_per_15min: float = 150.0,
                 prior_std_veh_h: float = 1000.0) -> None:
        self.q = (drift_veh_h_per_15min / 3600.0) ** 2 / 900.0
        self.rate_veh_s = np.zeros(n)
        self.var = np.full(n, (prior_std_veh_h / 3600.0) ** 2)
        self.measured = np.zeros(n, dtype=bool)

    def predict(self, dt_s: float) -> None:
        """Let ``dt_s`` seconds pass without a measurement: the uncertainty grows."""
        self.var += self.q * max(dt_s, 0.0)

    def correct(self, counts: FloatArray, window_s: float, mask: BoolArray | None = None) -> None:
        """Fold in ``counts`` observed over ``window_s`` for the filters where ``mask`` is True."""
        use = np.ones(self.rate_veh_s.size, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        z = np.asarray(counts, dtype=np.float64) / window_s
        r = np.maximum(np.maximum(self.rate_veh_s, z), MIN_RATE_VEH_S) / window_s
        first = use & ~self.measured
        gain = np.where(first, 1.0, self.var / (self.var + r))
        updated = self.rate_veh_s + gain * (z - self.rate_veh_s)
        new_var = np.where(first, r, (1.0 - gain) * self.var)
        self.rate_veh_s = np.where(use, np.maximum(updated, 0.0), self.rate_veh_s)
        self.var = np.where(use, new_var, self.var)
        self.measured |= use
