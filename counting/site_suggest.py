"""A site proposed from vehicle tracks: approaches, lanes, stop lines and exit lines.

:func:`suggest_site` turns :class:`~counting.trajectories.Trajectories` (a few minutes of
tracked video) into a :class:`~calibration.site.SiteConfig` for an engineer to check and
correct (``phasewise site draw``). All geometry is in image pixels; no homography is needed
and none is proposed. The steps:

1. **Approaches** (:mod:`counting.track_lines`). Every track that moves at least
   ``min_move_px`` (while its box's bottom is in the frame) has a line: its principal axis, over
   its first ``entry_px`` of travel if it turns. The lanes of one road run toward one
   vanishing point, so approaches are found by RANSAC: the point where two tracks' lines
   meet, and every track heading along the ray to it (within ``vp_angle_deg``, more for short
   tracks), all toward it (traffic moving away from the camera) or all away from it (traffic
   coming toward it), and not passing it; the best point, refitted to its tracks, makes a
   group, then again on the rest. Parallel lanes (a vanishing point at infinity) are the same
   case in homogeneous coordinates. A group needs ``min_tracks`` tracks that together ran
   ``min_tracks * entry_px``.
2. **Coordinates.** ``s`` runs along the image axis nearer to the group's travel direction
   (a level camera sees lines across a road along its view level, and across a road that
   crosses its view upright) and ``u`` across it; an approach is named by that direction:
   down the frame southbound, up northbound, right eastbound, left westbound (as in
   ``calibration/sites/``). A lane boundary is a ray through the vanishing point, given by
   where it crosses ``s_ref``; every track point maps to its place there along its ray.
3. **Stop line.** Where at least ``min_queued`` of the group's vehicles stood still (image
   speed below ``stop_speed`` box heights a second, for ``stop_min_s``), the stop line is at
   the front of the standing queue: a standing vehicle's front is its box's reach ahead of
   its anchor (seen from behind, its box top; seen from the front, the anchor itself); per
   lane, of the runs of vehicles standing at most ``QUEUE_GAP`` box heights apart the
   longest (not the ones waiting inside the junction), at its second vehicle from the front
   (one vehicle past the line does not move it); the line runs through the lanes' median
   front, level, or parallel to the cross traffic seen inside the junction where there is
   some (the cross street runs along the stop line). Vehicles standing in the queue never
   reach it: creeping is not counted. Without a queue (free flow) it is a counting line
   ``counting_at`` (two thirds) of the way along the stretch where vehicles are tracked:
   nearer the camera they are larger and further apart, and they are still tracked for a
   while after it, before they leave the frame.
4. **Lanes.** From the tracks that reach the line (the queue, for a stop line): where
   vehicles keep to marked lanes, their places at ``s_ref`` form tight groups and the lanes
   are a regular grid through them; without such groups (two-wheelers spread over an
   unmarked road), the occupied width is divided into lanes of about ``lane_width_m``
   (3.5 m), the pixel scale read from the vehicles' box widths against typical widths per
   class (:data:`VEHICLE_WIDTH_M`). Lane polygons run between boundary rays from the
   upstream end of the tracks to the stop line (queue) or to the downstream end of the
   tracks (free flow), cut to the frame, numbered left to right (top to bottom for traffic
   across the frame), as in the hand-made sites.
5. **Exits** (approaches with a queue: a junction lies past the stop line). Tracks that cross
   the stop line and go on at least ``min_move_px`` are classified left/through/right
   (:func:`counting.video_source.heading_turn`); every turn taken by ``min_exit_tracks``
   tracks gets an exit line across their final heading, placed so three quarters of them
   reach it. A lane serves the turns its tracks took (through where none crossed).
6. **Groups.** Approaches with a queue are built first. A later group going the same way
   whose tracks mostly start before an approach's stop line and across its lanes is the
   same road (split off by weaving two-wheelers or a wide fan of lanes) and joins it; one
   whose track points lie mostly past a stop line is traffic in the junction and is left
   out (what it shows is the cross street's direction, step 3).

Example::

    proposal = suggest_site(Trajectories.load("out/tracks.npz"), camera="hanoi")
    print("\n".join(proposal.summary()))
    Path("site.yaml").write_text(site_yaml(proposal, "clip.mp4"))
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from calibration.geometry import clip_polygon, clip_segment
from calibration.site import TURNS, ExitConfig, LaneConfig, SiteConfig, dump_site
from counting.track_lines import TrackLine, group_by_vanishing_point, toward, track_lines
from counting.trajectories import Trajectories
from counting.video_source import heading_turn
from phasewise_errors import VideoError
from vision.classes import BICYCLE, BUS, CAR, MOTORCYCLE, TRUCK

FloatArray = npt.NDArray[np.float64]

VEHICLE_WIDTH_M: dict[int, float] = {CAR: 1.8, MOTORCYCLE: 0.6, BICYCLE: 0.6, BUS: 2.5, TRUCK: 2.5}
"""Typical box widths (m) per class, read against box widths for the image scale across the
road. A two-wheeler's box is its rider's back more than its handlebar: 0.55-0.6 m on the
Hanoi clip (25-28 px where its zebra stripes give 47 px/m), where cars' boxes are their 1.8 m."""

LANE_LIKE = 0.6  # a group of tracks at most this many lanes wide keeps to one lane
SAME_WAY = 0.5  # two groups of tracks whose directions (image axes) agree go the same way
QUEUE_GAP = 1.5  # box heights: vehicles standing further apart are not one queue
MAX_TILT_DEG = 20.0  # a stop line leaning more than this off its image axis is not taken from cross traffic
NEAR_VP = 0.2  # lanes are drawn only where they are at least this share of their width at the line


@dataclass(frozen=True)
class SuggestSettings:
    """Thresholds of :func:`suggest_site` (pixels are of the camera's frame)."""

    min_move_px: float = 40.0          # a track that moves less has no heading
    entry_px: float = 150.0            # the entry line: this much of the first travel
    vp_angle_deg: float = 8.0          # a track's heading within this of the ray to the vanishing point
    vp_samples: int = 2000             # RANSAC pairs per approach
    min_tracks: int = 4                # tracks an approach needs, that ran min_tracks * entry_px together
    stop_speed: float = 0.1            # box heights per second: slower is standing
    stop_min_s: float = 1.0            # standing this long is queueing
    min_queued: int = 3                # standing vehicles that make a stop line
    lane_width_m: float = 3.5
    lane_gap: float = 0.4              # in lane widths: a wider gap between tracks splits lanes
    min_exit_tracks: int = 2           # tracks a turn needs for its exit line
    counting_at: float = 2 / 3         # free flow: the counting line's place along the tracked stretch
    seed: int = 0                      # RANSAC's random pairs: the same tracks give the same site


@dataclass(frozen=True)
class ApproachProposal:
    """What was found for one approach, for the summary and the benchmark."""

    name: str
    direction: tuple[float, float]
    tracks: int
    stop_line_from: str
    lanes: tuple[str, ...]
    exits: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteProposal:
    """A proposed site and how each part was found."""

    site: SiteConfig
    approaches: tuple[ApproachProposal, ...]
    left_out: tuple[str, ...] = ()     # track groups not proposed, and why
    tracks_used: int = 0
    video_s: float = 0.0

    def summary(self) -> list[str]:
        """One line per approach, then one per group left out."""
        lines = [f"{a.name}: {len(a.lanes)} lane{'s' * (len(a.lanes) != 1)} ({', '.join(a.lanes)}), "
                 f"stop line from {a.stop_line_from}, "
                 f"{a.tracks} tracks" + (f", exits {', '.join(a.exits)}" if a.exits else "")
                 for a in self.approaches]
        return lines + [f"left out: {why}" for why in self.left_out]


def suggest_site(trajectories: Trajectories, *, camera: str,
                 settings: SuggestSettings = SuggestSettings()) -> SiteProposal:
    """A site proposed from ``trajectories``; VideoError when they are too few to propose one."""
    cfg = settings
    tracks = track_lines(trajectories, min_move_px=cfg.min_move_px, entry_px=cfg.entry_px, stop_speed=cfg.stop_speed,
                         stop_min_s=cfg.stop_min_s)
    clusters = group_by_vanishing_point(tracks, angle_deg=cfg.vp_angle_deg, samples=cfg.vp_samples,
                                        min_tracks=cfg.min_tracks, entry_px=cfg.entry_px,
                                        rng=np.random.default_rng(cfg.seed))
    if not clusters:
        raise VideoError(f"too few moving vehicles to propose a site: {len(tracks)} tracks moved "
                         f"{cfg.min_move_px:g} px or more in {trajectories.video_s:.0f} s of video, and an "
                         f"approach needs {cfg.min_tracks} heading one way; give more video (--seconds) or a "
                         f"lower --conf")
    builders = sorted((_Approach(trajectories, members, vp, sign, cfg) for members, vp, sign in clusters),
                      key=lambda b: (-b.queued, -len(b.tracks)))
    accepted: list[_Approach] = []
    left_out: list[str] = []
    crossing: dict[int, list[_Approach]] = {}
    for b in builders:
        home = next((a for a in accepted if a.d @ b.d > SAME_WAY and a.share_coming_in(b) >= 0.5), None)
        junction = next((a for a in accepted if a.queued and a.share_past_stop_line(b) >= 0.5), None)
        if home is not None:  # the same road, its tracks split off by noise (weaving two-wheelers)
            both = _Approach(trajectories, home.tracks + b.tracks, home.vp, home.sign, cfg)
            if both.build():
                accepted[accepted.index(home)] = both
                crossing[id(both)] = crossing.pop(id(home), [])
            else:
                left_out.append(f"{len(b.tracks)} tracks heading {b.compass} along the {home.name} lanes: "
                                f"{both.why_not} with them")
        elif junction is not None:
            crossing.setdefault(id(junction), []).append(b)
            left_out.append(f"{len(b.tracks)} tracks heading {b.compass} past the {junction.name} stop line "
                            f"(traffic in the junction)")
        elif b.build():
            accepted.append(b)
        else:
            left_out.append(f"{len(b.tracks)} tracks heading {b.compass}: {b.why_not}")
    for a in accepted:
        a.align_with(crossing.get(id(a), []))
    if not accepted:
        raise VideoError(f"no lanes could be proposed from {len(tracks)} moving vehicle tracks: "
                         f"{'; '.join(left_out)}; give more video (--seconds)")
    seen: dict[str, int] = {}
    for b in accepted:
        seen[b.compass] = seen.get(b.compass, 0) + 1
        k = seen[b.compass]
        b.rename(f"{b.compass}bound" + (f"_{k}" if k > 1 else ""), f"{b.compass[0]}b" + (str(k) if k > 1 else ""))
    for b in accepted:
        b.exits = _unique_exit_ids(b.exits)
    exits = _unique_exit_ids([e for b in accepted for e in b.exits])
    site = SiteConfig(camera=camera, frame_size=trajectories.frame_size,
                      lanes=[lane for b in accepted for lane in b.lanes], exits=exits)
    approaches = tuple(ApproachProposal(b.name, (round(float(b.d[0]), 2), round(float(b.d[1]), 2)), len(b.tracks),
                                        b.stop_line_from, tuple(lane.id for lane in b.lanes),
                                        tuple(e.id for e in b.exits)) for b in accepted)
    return SiteProposal(site, approaches, tuple(left_out), sum(len(b.tracks) for b in accepted),
                        trajectories.video_s)


def _compass(d: npt.ArrayLike) -> str:
    """Image direction as a compass word: up the frame is north, right is east."""
    x, y = np.asarray(d, dtype=float)
    if abs(y) >= abs(x):
        return "south" if y > 0 else "north"
    return "east" if x > 0 else "west"


class _Approach:
    """One approach's lanes, stop line and exits from its tracks (see the module docstring).

    ``s`` runs along ``d`` (the travel direction at the tracks' centre), ``u`` along ``n``;
    the stop line is ``s = s0 + m * u``.
    """

    def __init__(self, tr: Trajectories, tracks: list[TrackLine], vp: FloatArray, sign: int,
                 cfg: SuggestSettings) -> None:
        self.tr, self.tracks, self.cfg, self.vp, self.sign = tr, tracks, cfg, vp, sign
        # the travel direction: the median of the tracks' rays from (or to) the vanishing point
        rays = sign * toward(vp, np.array([t.mid for t in tracks]))
        mean = rays.sum(axis=0) / np.linalg.norm(rays.sum(axis=0))
        across = np.array([-mean[1], mean[0]])
        turn = float(np.median(np.arctan2(rays @ across, rays @ mean)))
        self.d = math.cos(turn) * mean + math.sin(turn) * across
        # ``s`` runs along the nearer image axis: a level camera sees lines across a road that
        # runs along its view level, and across a road that crosses its view upright
        axis = 1 if abs(self.d[1]) >= abs(self.d[0]) else 0
        self.d = np.eye(2)[axis] * math.copysign(1.0, self.d[axis])
        finite = abs(vp[2]) > 1e-9 * np.hypot(vp[0], vp[1])
        self.n = np.array([-self.d[1], self.d[0]])
        self.vp_su = self._su(vp[:2] / vp[2]) if finite else None
        self.compass = _compass(self.d)
        self.name = f"{self.compass}bound"
        self.standing = [t for t in tracks if t.stood_at is not None]
        self.queued = len(self.standing) if len(self.standing) >= cfg.min_queued else 0
        self.front_s = self._queue_front_s() if self.queued else None
        self.cross_slope = 0.0             # the stop line's ds/du: level unless cross traffic shows otherwise
        self.line: tuple[float, float] | None = None
        self.s_ref = 0.0
        self.lanes: list[LaneConfig] = []
        self.exits: list[ExitConfig] = []
        self.stop_line_from = ""
        self.why_not = ""

    # -- coordinates -------------------------------------------------------------------------
    def _su(self, p: npt.ArrayLike) -> FloatArray:
        p = np.asarray(p, dtype=float)
        return np.stack([p @ self.d, p @ self.n], axis=-1)

    def _xy(self, s: float, u: float) -> FloatArray:
        return s * self.d + u * self.n

    def _track_su(self, t: TrackLine) -> FloatArray:
        return self._su(self.tr.anchor_px[t.rows])

    def _width_at(self, s: FloatArray | float) -> FloatArray:
        """How wide the road is at ``s`` against at ``s_ref`` (1 for parallel lanes)."""
        if self.vp_su is None:
            return np.ones_like(np.asarray(s, dtype=float))
        s_vp = self.vp_su[0]
        return (np.asarray(s, dtype=float) - s_vp) / (self.s_ref - s_vp)

    def _u_at(self, u_ref: float, s: float) -> float:
        """Where the boundary ray through ``u_ref`` (at ``s_ref``) is at ``s``."""
        if self.vp_su is None:
            return u_ref
        u_vp = self.vp_su[1]
        return float(u_vp + (u_ref - u_vp) * self._width_at(s))

    def _to_ref(self, p: FloatArray) -> FloatArray:
        """``u_ref`` of points ``p`` (s, u): where the ray through each crosses ``s_ref``."""
        if self.vp_su is None:
            return p[:, 1].copy()
        u_vp = self.vp_su[1]
        return u_vp + (p[:, 1] - u_vp) / np.maximum(self._width_at(p[:, 0]), NEAR_VP)

    def _u_ref_of(self, p: FloatArray) -> float:
        """Where a track (points ``p``, s and u) is at ``s_ref``: read off where it crosses it,
        else carried along the ray from its nearest point (the surer, the nearer)."""
        before, after = p[:, 0] <= self.s_ref, p[:, 0] > self.s_ref
        if before.any() and after.any():
            i = int(np.argmax(after))
            if i > 0:
                (s0, u0), (s1, u1) = p[i - 1], p[i]
                return float(u0 + (u1 - u0) * (self.s_ref - s0) / max(s1 - s0, 1e-9))
        near = np.argsort(np.abs(p[:, 0] - self.s_ref))[:3]
        return float(np.median(self._to_ref(p[near])))

    def _line_s(self, u: FloatArray | float) -> FloatArray:
        assert self.line is not None
        return self.line[0] + self.line[1] * np.asarray(u, dtype=float)

    # -- stop line ---------------------------------------------------------------------------
    def _front_points(self, tracks: list[TrackLine]) -> FloatArray:
        """(s, u) of each standing vehicle's front: its anchor plus its box's reach along ``d``."""
        rows = np.array([t.rows[t.stood_at] for t in tracks if t.stood_at is not None])
        su = self._su(self.tr.anchor_px[rows])
        w, h = self.tr.size_px[rows].T
        # the box corners relative to the bottom-centre anchor, projected on the direction
        reach = np.maximum.reduce([sx * w / 2 * self.d[0] + sy * h * self.d[1]
                                   for sx in (-1, 1) for sy in (0, -1)] + [np.zeros_like(w)])
        return np.stack([su[:, 0] + reach, su[:, 1]], axis=1)

    def _queue_front_s(self) -> float:
        return self._front_of(self._front_points(self.standing)[:, 0], self.standing)

    def _front_of(self, front_s: FloatArray, standing: list[TrackLine]) -> float:
        """The front of the queue among standing vehicles' fronts ``front_s``: of the runs of
        vehicles standing at most ``QUEUE_GAP`` box heights apart, the longest (vehicles that
        waited further on, inside the junction, are not the queue), at its second vehicle from
        the front where it has three or more (one vehicle past the line does not move it)."""
        order = np.argsort(front_s)
        s = front_s[order]
        box_h = float(np.median([self.tr.size_px[t.rows[t.stood_at], 1] for t in standing if t.stood_at is not None]))
        runs = np.split(s, np.flatnonzero(np.diff(s) > QUEUE_GAP * box_h) + 1)
        queue = max(runs, key=len)
        return float(queue[-2] if len(queue) >= 3 else queue[-1])

    def align_with(self, crossing: list[_Approach]) -> None:
        """Turn the stop line parallel to the cross street, whose traffic passes inside the
        junction (``crossing``): the direction of its tracks nearest the stop line (the nearer
        half), averaged as orientations. Rebuilds the lanes and exits on it."""
        heads, dist = [], []
        for other in crossing:
            if abs(float(other.d @ self.d)) >= SAME_WAY:
                continue
            for t in other.tracks:
                if t.length_px >= self.cfg.entry_px:
                    s_mid, u_mid = self._su(t.mid)
                    heads.append(t.heading)
                    dist.append(abs(s_mid - float(self._line_s(u_mid))))
        if len(heads) < self.cfg.min_tracks:
            return
        near = np.array(heads)[np.argsort(dist)[: max(self.cfg.min_tracks, len(heads) // 2)]]
        angle = np.angle(np.exp(2j * np.arctan2(near[:, 1], near[:, 0])).mean()) / 2
        c = np.array([math.cos(angle), math.sin(angle)])
        if abs(c @ self.n) < math.cos(math.radians(MAX_TILT_DEG)):
            return
        self.cross_slope = float((c @ self.d) / (c @ self.n))
        if not self.build():  # no lane fits the frame on the tilted line: keep the level one
            self.cross_slope = 0.0
            self.build()

    def share_past_stop_line(self, other: _Approach) -> float:
        """Share of ``other``'s track points past this approach's stop line (in the junction)."""
        p = self._su(np.concatenate([other.tr.anchor_px[t.rows] for t in other.tracks]))
        return float(np.mean(p[:, 0] > self._line_s(p[:, 1])))

    def share_coming_in(self, other: _Approach) -> float:
        """Share of ``other``'s tracks first seen before this approach's stop line, across its
        lanes (give or take a lane): the same road, split off by noisy tracks."""
        first = self._su(np.array([other.tr.anchor_px[t.rows[0]] for t in other.tracks]))
        u_ref = self._to_ref(first)
        lo, hi = self.lane_bounds[0][0], self.lane_bounds[-1][1]
        margin = (hi - lo) / len(self.lane_bounds)
        before = first[:, 0] <= self._line_s(first[:, 1])
        return float(np.mean(before & (u_ref >= lo - margin) & (u_ref <= hi + margin)))

    def _fit_stop_line(self, bounds: FloatArray) -> None:
        """The stop line through each lane's queue front (see the module docstring)."""
        standing = self.standing
        front = self._front_points(standing)
        u_ref = self._to_ref(self._su(self.tr.anchor_px[[t.rows[t.stood_at] for t in standing]]))
        lane_of = np.clip(np.searchsorted(bounds, u_ref) - 1, 0, len(bounds) - 2)
        fronts = []
        for lane in range(len(bounds) - 1):
            here = lane_of == lane
            if here.any():
                s_front = self._front_of(front[here, 0], [t for t, h in zip(standing, here) if h])
                fronts.append((s_front, self._u_at(float(bounds[lane] + bounds[lane + 1]) / 2, s_front)))
        m = self.cross_slope
        self.line = (float(np.median([s_front - m * u for s_front, u in fronts])), m)

    def _counting_s(self, su: list[FloatArray]) -> float:
        """Free flow: ``counting_at`` of the way along the stretch a vehicle is tracked through
        (from the median of where the long tracks start to the median of where they end)."""
        long = [p for p, t in zip(su, self.tracks) if t.length_px >= self.cfg.entry_px] or su
        start = float(np.median([p[:, 0].min() for p in long]))
        end = float(np.median([p[:, 0].max() for p in long]))
        return start + self.cfg.counting_at * (end - start)

    # -- the proposal ------------------------------------------------------------------------
    def build(self) -> bool:
        """Lanes (and exits) of this approach; False with ``why_not`` set if none fits the frame."""
        su = [self._track_su(t) for t in self.tracks]
        self.lanes, self.exits = [], []
        pairs = list(zip(self.tracks, su))
        if self.front_s is None:
            self.s_ref = self._counting_s(su)
            reach = [(t, p) for t, p in pairs if p[:, 0].min() <= self.s_ref <= p[:, 0].max()]
        else:  # the tracks that reached the queue
            self.s_ref = self.front_s
            self.line = (self.front_s, 0.0)
            standing_s = self._su(self.tr.anchor_px[[t.rows[t.stood_at] for t in self.standing
                                                     if t.stood_at is not None]])[:, 0]
            reach = [(t, p) for t, p in pairs if p[:, 0].max() >= np.percentile(standing_s, 10)]
        reach = reach if len(reach) >= self.cfg.min_tracks else pairs
        u_ref = np.array([self._u_ref_of(p) for _, p in reach])
        bounds = self._lane_bounds(u_ref, self._lane_width_px(reach))
        if self.front_s is not None:
            self._fit_stop_line(bounds)
            self.stop_line_from = (f"the front of a queue ({self.queued} vehicles stood)"
                                   + (", along the cross traffic" if self.cross_slope else ""))
        else:
            self.line = (self.s_ref, 0.0)
            self.stop_line_from = "free flow (a counting line two thirds along the tracks)"
        all_s = np.concatenate([p[:, 0] for p in su])
        s_up, s_down = float(np.percentile(all_s, 2)), float(np.percentile(all_s, 98))
        if self.vp_su is not None:  # keep the lanes short of the vanishing point, where they meet
            s_vp = self.vp_su[0]
            near = s_vp + NEAR_VP * (self.s_ref - s_vp)
            s_up, s_down = (max(s_up, near), s_down) if s_vp < self.s_ref else (s_up, min(s_down, near))
        self._make_lanes(bounds, s_up, None if self.queued else s_down)
        if not self.lanes:
            self.why_not = "no lane inside the frame"
            return False
        if self.queued:  # a signalised approach: where its vehicles go from the stop line
            self._make_exits(su)
        return True

    def _lane_width_px(self, reach: list[tuple[TrackLine, FloatArray]]) -> float:
        """A lane's width at ``s_ref`` in pixels: the boxes' widths where the tracks (with their
        points in ``s, u``) come nearest to it, against :data:`VEHICLE_WIDTH_M`."""
        scale = []
        for t, p in reach:
            i = int(np.argmin(np.abs(p[:, 0] - self.s_ref)))
            cls = int(self.tr.class_id[t.rows[i]])
            if cls in VEHICLE_WIDTH_M:
                scale.append(self.tr.size_px[t.rows[i], 0] / max(float(self._width_at(p[i, 0])), NEAR_VP)
                             / VEHICLE_WIDTH_M[cls])
        return self.cfg.lane_width_m * float(np.median(scale))

    def _lane_bounds(self, u_ref: FloatArray, lane_w: float) -> FloatArray:
        """Lane boundaries across the approach at ``s_ref``, sorted: n + 1 values for n lanes.

        Where vehicles keep to marked lanes, their ``u_ref`` form tight groups (at most
        ``LANE_LIKE`` of a lane wide, split where ``lane_gap`` lanes are empty): the lanes are a
        regular grid through the busiest group, its spacing the median gap between neighbouring
        groups (over the lanes between them). Every lane from the leftmost to the rightmost
        vehicle is proposed. Without such groups (two-wheelers spread over an unmarked road),
        the occupied width is divided into lanes of ``lane_w``.
        """
        u = np.sort(u_ref)
        groups = np.split(u, np.flatnonzero(np.diff(u) > self.cfg.lane_gap * lane_w) + 1)
        tight = [g for g in groups if len(g) >= 2 and np.ptp(g) <= LANE_LIKE * lane_w]
        if tight:
            centres = np.array([float(np.median(g)) for g in tight])
            gaps = np.diff(centres)
            spacing = [gap / max(1, round(gap / lane_w)) for gap in gaps]
            w = float(np.median(spacing)) if spacing else lane_w
            origin = centres[int(np.argmax([len(g) for g in tight]))]
            cells = np.round((u - origin) / w)
            k = np.arange(cells.min(), cells.max() + 2) - 0.5
            return origin + k * w
        lo, hi = (np.percentile(u, 2), np.percentile(u, 98)) if len(u) >= 5 else (u.min(), u.max())
        n = max(1, round((hi - lo) / lane_w))
        if n == 1:
            mid = float(np.median(u))
            return np.array([mid - lane_w / 2, mid + lane_w / 2])
        return np.linspace(lo, hi, n + 1)

    def _on_line(self, u_ref: float) -> FloatArray:
        """Image point where the boundary ray ``u_ref`` meets the stop line."""
        assert self.line is not None
        s0, m = self.line
        s = s0 + m * u_ref
        for _ in range(20):  # the ray leans with the perspective: a few fixed-point steps
            s = s0 + m * self._u_at(u_ref, s)
        return self._xy(s, self._u_at(u_ref, s))

    def _make_lanes(self, bounds: FloatArray, s_up: float, s_down: float | None) -> None:
        w, h = self.tr.frame_size
        found = []
        for a, b in itertools.pairwise(bounds):
            stop = clip_segment(self._on_line(a), self._on_line(b), w, h)
            if stop is None:
                continue
            stop = (np.round(stop[0]), np.round(stop[1]))
            if s_down is None:
                down = [self._on_line(a), self._on_line(b)]
            else:
                down = [self._xy(s_down, self._u_at(a, s_down)), self._xy(s_down, self._u_at(b, s_down))]
            up = [self._xy(s_up, self._u_at(b, s_up)), self._xy(s_up, self._u_at(a, s_up))]
            poly = clip_polygon(np.array(down + up), w, h)
            if len(poly) < 3:
                continue
            centre = (a + b) / 2
            s_mid = float(self._line_s(centre))
            ahead = self._xy(s_mid + 1.0, self._u_at(centre, s_mid + 1.0)) - self._xy(s_mid, self._u_at(centre, s_mid))
            ahead = ahead / np.linalg.norm(ahead)
            try:
                lane = LaneConfig(id="lane", approach=self.name, movements=("through",),
                                  polygon=[(float(x), float(y)) for x, y in poly],
                                  stop_line=(tuple(stop[0]), tuple(stop[1])),  # type: ignore[arg-type]
                                  direction=(round(float(ahead[0]), 2), round(float(ahead[1]), 2)))
            except ValueError:  # cut by the frame into a sliver (a corner, a ray along the line)
                continue
            found.append((lane, (a, b)))
        axis = 0 if abs(self.d[1]) >= abs(self.d[0]) else 1  # left to right, or top to bottom
        found.sort(key=lambda f: sum(p[axis] for p in f[0].stop_line))
        prefix = self.compass[0] + "b"
        self.lane_bounds = [f[1] for f in found]
        self.lanes = [lane.model_copy(update={"id": f"{prefix}_{j + 1}"}) for j, (lane, _) in enumerate(found)]

    def _lane_of(self, u_ref: float) -> int | None:
        for j, (a, b) in enumerate(self.lane_bounds):
            if a <= u_ref <= b:
                return j
        return None

    def _make_exits(self, su: list[FloatArray]) -> None:
        """Exit lines where the tracks that crossed the stop line leave, one per turn."""
        by_turn: dict[str, list[tuple[FloatArray, int | None]]] = {}
        for t, p in zip(self.tracks, su):
            past = p[:, 0] > self._line_s(p[:, 1])
            if past.all() or not past[-1]:
                continue
            first = int(np.argmax(past))
            after = self.tr.anchor_px[t.rows][first:]
            if np.hypot(*(after[-1] - after[0])) < self.cfg.min_move_px:
                continue
            u_cross = float(self._to_ref(p[first - 1: first])[0]) if first else float(p[0, 1])
            lane = self._lane_of(u_cross)
            ahead = self.lanes[lane].direction if lane is not None else tuple(self.d)
            by_turn.setdefault(heading_turn(ahead, after[-1] - after[0]), []).append((after, lane))
        turns = {turn: paths for turn, paths in by_turn.items() if len(paths) >= self.cfg.min_exit_tracks}
        w, h = self.tr.frame_size
        served: dict[int, set[str]] = {}
        for turn, paths in turns.items():
            heads = []
            for after, lane in paths:
                if lane is not None:
                    served.setdefault(lane, set()).add(turn)
                tail = after[np.hypot(*(after - after[-1]).T) <= self.cfg.min_move_px]
                g = after[-1] - tail[0] if len(tail) > 1 else after[-1] - after[0]
                heads.append(g / max(float(np.linalg.norm(g)), 1e-9))
            g = np.sum(heads, axis=0)
            g = g / np.linalg.norm(g)
            across = np.array([-g[1], g[0]])
            q = float(np.percentile([after[-1] @ g for after, _ in paths], 25))
            lateral = [float(after[int(np.argmin(np.abs(after @ g - q)))] @ across) for after, _ in paths]
            margin = self.cfg.min_move_px / 2
            seg = clip_segment(q * g + (min(lateral) - margin) * across, q * g + (max(lateral) + margin) * across, w, h)
            if seg is not None:
                self.exits.append(ExitConfig(id=_compass(g), movement=turn,  # type: ignore[arg-type]
                                             line=(tuple(np.round(seg[0])), tuple(np.round(seg[1])))))
        self.lanes = [lane.model_copy(update={"movements": tuple(t for t in TURNS if t in served.get(j, ()))
                                              or ("through",)}) for j, lane in enumerate(self.lanes)]

    def rename(self, name: str, prefix: str) -> None:
        """Name the approach and number its lanes ``PREFIX_1`` ... (left to right)."""
        self.name = name
        self.lanes = [lane.model_copy(update={"approach": name, "id": f"{prefix}_{j + 1}"})
                      for j, lane in enumerate(self.lanes)]


def _unique_exit_ids(exits: list[ExitConfig]) -> list[ExitConfig]:
    """Exits named by where they lead (``north``); where two lead the same way, by their turn
    too (``north_left``), and numbered if that repeats."""
    ids = [e.id for e in exits]
    named = [e if ids.count(e.id) == 1 else e.model_copy(update={"id": f"{e.id}_{e.movement}"}) for e in exits]
    seen: dict[str, int] = {}
    out = []
    for e in named:
        seen[e.id] = seen.get(e.id, 0) + 1
        out.append(e if seen[e.id] == 1 else e.model_copy(update={"id": f"{e.id}_{seen[e.id]}"}))
    return out


def site_yaml(proposal: SiteProposal, source: str) -> str:
    """The proposed site as a site file, with a header saying how it was found and what to check."""
    header = [(f"Proposed by `phasewise site suggest` from {proposal.tracks_used} vehicle tracks in "
               f"{proposal.video_s:.0f} s of {source}."),
              "Check it over a frame (`phasewise site draw THIS.yaml --frame VIDEO`) and correct it: lanes,",
              "stop lines and exits are where the vehicles went and stood, not where the paint is.",
              "Add a homography (queue lengths in metres), signal heads and a junction box by hand.",
              *(f"  {line}" for line in proposal.summary())]
    return dump_site(proposal.site, header)


__all__ = ["VEHICLE_WIDTH_M", "ApproachProposal", "SiteProposal", "SuggestSettings", "site_yaml", "suggest_site"]
