"""Gridlock watchdog: recognise a locked intersection or cluster from the cameras, and count it.

A **lock** is vehicles waiting that do not get away:

* a **movement** of an intersection is locked when its lane has had a protected green (``G``
  on each of its links: a permitted turn waiting for a gap is not locked) for
  ``lock_after_s`` in all, red time not counted, with its first vehicle standing at the stop
  line and not one vehicle crossing it meanwhile: its exit is full or the junction box is
  blocked (on cologne3's cluster junction, when vehicles of two crossing phases blocked each
  other in its box, queues stood through green after green for five minutes);
* an **intersection** is locked when one of its movements is, or when its cameras have seen a
  queue all along the last ``lock_after_s`` and no stop-line crossing on any lane meanwhile
  (a queue that has just formed on an empty junction is not a lock, however long nothing
  crossed before it);
* a **cluster** (signals whose exits feed each other's approaches: the connected groups of
  :func:`optimizer.corridor_network.find_links`' links, :func:`clusters`) is locked when
  nothing crosses a stop line anywhere in it for ``lock_after_s`` while vehicles wait at one
  of them all along (a ring of spillbacks that no single intersection can break).

An intersection with a camera in outage is not judged (the camera that would see the
discharge may be the one that is out), nor does it keep its cluster from being judged.
A lock ends when its cause does (the movement discharges, a vehicle crosses, a camera goes
out); one recognised again within ``2 * lock_after_s`` of its end is the same lock (a
vehicle trickling through a locked box does not make two). Each lock is one
:class:`GridlockEvent`, logged when it starts and when it ends and counted
(``AdaptiveReport.gridlocks``).

Recovery is the policy's (:mod:`controllers.adaptive_policy`): a locked intersection serves
only movements whose exits have room (:mod:`controllers.exit_room`, as always), prefers the
phases that release what stands in its junction box, and gives each phase its plan green
instead of flipping every few seconds (flipping only feeds a locked box); the signal holds
the all-red at each change while vehicles stand in the box (``box_hold_s``).

Example::

    watchdog = GridlockWatchdog({"J0": 4, "J1": 4}, clusters(["J0", "J1"], links), lock_after_s=30.0)
    each step:
        view = JunctionView(queue_veh, head_stopped, crossings, green, ok)   # arrays per lane
        locked = watchdog.update(now_s, dt_s, {"J0": view, ...})            # -> {"J0", ...}
    watchdog.events    # GridlockEvent(scope, members, start_s, end_s)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from optimizer.corridor import CorridorLink

log = logging.getLogger(__name__)

Scope = Literal["intersection", "cluster"]


@dataclass(frozen=True)
class JunctionView:
    """One step's camera view of one intersection's approach lanes (arrays, one entry per lane):
    ``queue_veh`` the queue, ``head_stopped`` its first vehicle stands at the stop line,
    ``crossings`` this step, ``green`` a protected green shown on every link of the lane, and
    ``ok`` (the lane's camera delivered)."""

    queue_veh: npt.NDArray[np.float64]
    head_stopped: npt.NDArray[np.bool_]
    crossings: npt.NDArray[np.int64]
    green: npt.NDArray[np.bool_]
    ok: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class GridlockEvent:
    """One lock: ``scope``, its intersections (``members``), when it started (the time it was
    recognised, ``lock_after_s`` into it) and ended (None while it lasts)."""

    scope: Scope
    members: tuple[str, ...]
    start_s: float
    end_s: float | None = None

    def as_dict(self) -> dict:
        return {"scope": self.scope, "members": list(self.members), "start_s": self.start_s, "end_s": self.end_s}


def clusters(tls_ids: Iterable[str], links: Sequence[CorridorLink]) -> tuple[tuple[str, ...], ...]:
    """Groups of two or more signals connected by links (either direction), sorted."""
    ids = list(tls_ids)
    parent = {tls: tls for tls in ids}

    def root(tls: str) -> str:
        while parent[tls] != tls:
            parent[tls] = parent[parent[tls]]
            tls = parent[tls]
        return tls

    for link in links:
        if link.upstream in parent and link.downstream in parent:
            parent[root(link.upstream)] = root(link.downstream)
    groups: dict[str, list[str]] = {}
    for tls in ids:
        groups.setdefault(root(tls), []).append(tls)
    return tuple(sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1))


class GridlockWatchdog:
    """Recognises locks per intersection and per cluster (see the module docstring).

    ``lanes``: the number of approach lanes of each intersection (the length of its
    :class:`JunctionView` arrays); ``start_s``: the time of the first step.
    """

    def __init__(self, lanes: Mapping[str, int], cluster_groups: Sequence[tuple[str, ...]] = (),
                 lock_after_s: float = 30.0, start_s: float = 0.0) -> None:
        self.lock_after_s = lock_after_s
        self.last_crossing_s = {tls: start_s for tls in lanes}  # nothing seen yet: count from the start
        self.waiting_since_s: dict[str, float | None] = {tls: None for tls in lanes}
        # per lane: green seconds with its first vehicle standing at the line, since its last crossing
        self.green_stall_s = {tls: np.zeros(n) for tls, n in lanes.items()}
        self.clusters = tuple(tuple(g) for g in cluster_groups)
        self.events: list[GridlockEvent] = []
        self._open: dict[tuple[str, ...], int] = {}  # members -> index of the open event
        self._last_ended: dict[tuple[str, ...], int] = {}  # members -> index of their last closed event

    @property
    def count(self) -> int:
        """Locks recognised so far (intersection and cluster)."""
        return len(self.events)

    def update(self, now_s: float, dt_s: float, views: Mapping[str, JunctionView]) -> frozenset[str]:
        """One step: every intersection's view. Returns the intersections locked now, on their
        own or in a locked cluster."""
        judged = {tls: bool(view.ok.all()) for tls, view in views.items()}
        for tls, view in views.items():
            waiting = bool(view.queue_veh.sum() >= 1)
            if view.crossings.any():
                self.last_crossing_s[tls] = now_s
            if not waiting:
                self.waiting_since_s[tls] = None
            elif self.waiting_since_s[tls] is None:
                self.waiting_since_s[tls] = now_s
            stall = self.green_stall_s[tls]
            stall[:] = np.where((view.crossings > 0) | ~view.head_stopped | ~view.ok, 0.0,
                                stall + np.where(view.green, dt_s, 0.0))
        locked: set[str] = set()
        for tls in views:
            blocked = judged[tls] and bool((self.green_stall_s[tls] > self.lock_after_s).any())
            quiet = judged[tls] and self._quiet(tls, now_s)
            if self._track("intersection", (tls,), blocked or quiet, blocked or (quiet and self._stuck(tls, now_s)),
                           now_s):
                locked.add(tls)
        for group in self.clusters:
            seen = [tls for tls in group if judged.get(tls, False)]
            quiet = len(seen) > 1 and all(self._quiet(tls, now_s) for tls in seen)
            if self._track("cluster", group, quiet, quiet and any(self._stuck(tls, now_s) for tls in seen), now_s):
                locked.update(group)
        return frozenset(locked)

    def _quiet(self, tls: str, now_s: float) -> bool:
        """Nothing crossed a stop line at ``tls`` for ``lock_after_s``."""
        return now_s - self.last_crossing_s[tls] > self.lock_after_s

    def _stuck(self, tls: str, now_s: float) -> bool:
        """Vehicles have waited at ``tls`` for ``lock_after_s`` without a crossing meanwhile."""
        since = self.waiting_since_s[tls]
        return since is not None and now_s - max(since, self.last_crossing_s[tls]) > self.lock_after_s

    def _track(self, scope: Scope, members: tuple[str, ...], holds: bool, starts: bool, now_s: float) -> bool:
        """Open an event when a lock ``starts``, close it when it no longer ``holds``;
        whether the lock holds now."""
        open_index = self._open.get(members)
        if open_index is None and starts:
            recent = self._last_ended.get(members)
            ended_s = self.events[recent].end_s if recent is not None else None
            # recognising it again takes lock_after_s: within twice that, it is the same lock
            if recent is not None and ended_s is not None and now_s - ended_s <= 2 * self.lock_after_s:
                self._open[members] = recent
                self.events[recent] = replace(self.events[recent], end_s=None)
                return True
            self._open[members] = len(self.events)
            self.events.append(GridlockEvent(scope, members, now_s))
            log.warning("gridlock at %s %s: vehicles wait and do not get away (%.0f s)",
                        scope, ",".join(members), self.lock_after_s)
            return True
        if open_index is not None and not holds:
            event = self.events[open_index] = replace(self.events[open_index], end_s=now_s)
            del self._open[members]
            self._last_ended[members] = open_index
            log.info("gridlock at %s %s over after %.0f s", scope, ",".join(members), now_s - event.start_s)
            return False
        return open_index is not None


__all__ = ["GridlockEvent", "GridlockWatchdog", "JunctionView", "clusters"]
