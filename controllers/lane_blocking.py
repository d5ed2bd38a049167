"""Head-of-line blocking on shared lanes, as the cameras see it.

On a lane shared by a through movement and a permitted left turn (``g`` in the through
phase), a left-turner waiting for a gap at the stop line holds up every vehicle behind it.
Turning shares learnt from past crossings cannot tell that the *first* vehicle is the one
that matters; the camera can: the lane shows green, its first vehicle stands at the stop
line and nothing has crossed from the lane for ``block_after_s``.

A blocked lane's queue then counts, in the phase demands of :mod:`controllers.tactical`,
for the phases that give priority (``G``) to a link of the lane which the blocking phase
did not (the protected left), and no longer for the blocking phase, until a vehicle
crosses from the lane again (or ``expire_s`` passes). Lanes for which no other phase could
release the head are never marked: moving their demand would only starve them.

Example::

    blocking = LaneBlocking(model, lanes)
    blocking.update(now_s, phase, green_s, lane_green, head_stopped, quiet_s)
    shares = blocking.shares(base_shares)      # phases x lanes, for tactical.decide
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from optimizer.intersection import IntersectionModel

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class LaneBlocking:
    """Which lanes are blocked at their head, and by which phase (``-1``: not blocked).

    ``lanes`` orders every per-lane array (the caller's camera lane order).
    """

    def __init__(self, model: IntersectionModel, lanes: list[str], block_after_s: float = 3.0,
                 expire_s: float = 120.0) -> None:
        self.block_after_s = block_after_s
        self.expire_s = expire_s
        n_phases = len(model.phases)
        priority = [{i for i, c in enumerate(p.state) if c == "G"} for p in model.phases]
        lane_links = [{link.index for link in model.links if link.from_lane == lane} for lane in lanes]
        # releases[c][j]: phases giving 'G' to a link of lane j that phase c does not give 'G'
        self.releases: list[list[list[int]]] = [
            [[p for p in range(n_phases) if p != c and (links & priority[p]) - priority[c]] for links in lane_links]
            for c in range(n_phases)
        ]
        self.blocked_by = np.full(len(lanes), -1, dtype=np.int64)
        self.blocked_since_s = np.full(len(lanes), -np.inf)

    def update(self, now_s: float, phase: int, green_s: float, lane_green: BoolArray,
               head_stopped: BoolArray, quiet_s: FloatArray, lanes: slice = slice(None)) -> None:
        """Mark or clear lanes from one camera frame.

        ``phase``/``green_s``: the green phase and how long it has been green;
        ``lane_green``/``head_stopped``/``quiet_s`` per lane of ``lanes`` (seconds since a
        vehicle last crossed from the lane; 0 when one crossed this step).
        """
        idx = np.arange(len(self.blocked_by))[lanes]
        self.blocked_by[idx[quiet_s <= 0.0]] = -1
        if green_s > self.block_after_s:
            candidates = idx[lane_green & head_stopped & (quiet_s > self.block_after_s)]
            for j in candidates:
                if self.blocked_by[j] < 0 and self.releases[phase][j]:
                    self.blocked_by[j] = phase
                    self.blocked_since_s[j] = now_s
        self.blocked_by[(now_s - self.blocked_since_s) > self.expire_s] = -1

    def clear(self) -> None:
        self.blocked_by[:] = -1

    @property
    def any_blocked(self) -> bool:
        return bool((self.blocked_by >= 0).any())

    def shares(self, base: FloatArray) -> FloatArray:
        """``base`` (phases x lanes) with blocked lanes moved to the phases that release them."""
        if not self.any_blocked:
            return base
        shares = base.copy()
        for j in np.flatnonzero(self.blocked_by >= 0):
            phase = int(self.blocked_by[j])
            shares[phase, j] = 0.0
            shares[self.releases[phase][j], j] = 1.0
        return shares
