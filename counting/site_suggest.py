"""A site proposed from vehicle tracks: approaches, lanes, stop lines and exit lines.

:func:`suggest_site` turns :class:`~counting.trajectories.Trajectories` (a few minutes of
tracked video) into a :class:`~calibration.site.SiteConfig` for an engineer to check and
correct (``phasewise site draw``). All geometry is in image pixels; no homography is needed
and none is proposed. The steps:

1. **Approaches.** Every track that moves at least ``min_move_px`` (while its box is whole in
   the frame) has a line: its principal axis, over its first ``entry_px`` of travel if it
   turns. The lanes of one road run toward one vanishing point, so approaches are found by
   RANSAC: the point where two tracks' lines meet, and every track heading along the ray to
   it (within ``vp_angle_deg``, more for short tracks), all toward it (traffic moving away
   from the camera) or all away from it (traffic coming toward it), and not passing it; the
   best point, refitted to its tracks, makes a group, then again on the rest. Parallel lanes
   (a vanishing point at infinity) are the same case in homogeneous coordinates. A group
   needs ``min_tracks`` tracks that together ran ``min_tracks * entry_px``.
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
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from calibration.site import TURNS, ExitConfig, LaneConfig, SiteConfig
from counting.trajectories import Trajectories
from counting.video_source import heading_turn
from phasewise_errors import VideoError
from vision.classes import BICYCLE, BUS, CAR, MOTORCYCLE, TRUCK

FloatArray = npt.NDArray[np.float64]
Segment = tuple[FloatArray, FloatArray]

VEHICLE_WIDTH_M: dict[int, float] = {CAR: 1.8, MOTORCYCLE: 0.6, BICYCLE: 0.6, BUS: 2.5, TRUCK: 2.5}
"""Typical box widths (m) per class, read against box widths for the image scale across the
road. A two-wheeler's box is its rider's back more than its handlebar: 0.55-0.6 m on the
Hanoi clip (25-28 px where its zebra stripes give 47 px/m), where cars' boxes are their 1.8 m."""

EDGE_PX = 2.0  # a box this close to the frame's bottom or sides is cut by it
STRAIGHT = 0.1  # a track off its line by at most this share of its length runs straight
JITTER_PX = 8.0  # anchors wander this much: a short track's heading is uncertain by atan(JITTER_PX / length)
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


@dataclass
class _Track:
    rows: npt.NDArray[np.int64]
    heading: FloatArray                # unit direction of the entry line
    line: FloatArray                   # the entry line, homogeneous, unit normal
    mid: FloatArray                    # middle of the entry line
    ends: FloatArray                   # first and last point of the line's stretch, (2, 2)
    length_px: float                   # how far it moved
    stood_at: int | None               # index into rows: the most downstream standing point


def suggest_site(trajectories: Trajectories, *, camera: str,
                 settings: SuggestSettings = SuggestSettings()) -> SiteProposal:
    """A site proposed from ``trajectories``; VideoError when they are too few to propose one."""
    cfg = settings
    tracks = _moving_tracks(trajectories, cfg)
    clusters = _approach_clusters(tracks, cfg, np.random.default_rng(cfg.seed))
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


def _moving_tracks(tr: Trajectories, cfg: SuggestSettings) -> list[_Track]:
    """Tracks that moved ``min_move_px`` while whole in the frame, with their line and where they stood.

    Points whose box touches the bottom or a side of the frame are dropped: the box is cut
    there, so its anchor slides along the edge instead of following the vehicle. A track's
    line is its principal axis: over the whole track if it runs straight (off it by at most
    ``STRAIGHT`` of its length), else over its first ``entry_px`` of travel (before a turn).
    """
    w, h = tr.frame_size
    half_w = tr.size_px[:, 0] / 2
    whole = ((tr.anchor_px[:, 1] < h - EDGE_PX) & (tr.anchor_px[:, 0] - half_w > EDGE_PX)
             & (tr.anchor_px[:, 0] + half_w < w - EDGE_PX))
    out = []
    for _, rows in tr.tracks(min_points=3):
        rows = rows[whole[rows]]
        if len(rows) < 3:
            continue
        a = tr.anchor_px[rows]
        dist = np.hypot(*(a - a[0]).T)
        if dist.max() < cfg.min_move_px:
            continue
        end = len(a) - 1
        line = _principal_line(a)
        if line[2] > STRAIGHT * dist.max():
            end = int(np.argmax(dist >= cfg.entry_px)) if dist.max() >= cfg.entry_px else int(np.argmax(dist))
            line = _principal_line(a[: end + 1])
        axis, centre, _ = line
        heading = axis if axis @ (a[end] - a[0]) > 0 else -axis
        normal = np.array([-heading[1], heading[0]])
        ends = centre + np.outer((a[[0, end]] - centre) @ heading, heading)
        out.append(_Track(rows, heading, np.array([normal[0], normal[1], -normal @ centre]), centre, ends,
                          float(dist.max()), _standing_point(tr, rows, cfg)))
    return out


def _principal_line(points: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """(unit axis, centre, largest distance of a point from the line) of ``points``."""
    centre = points.mean(axis=0)
    axis = np.linalg.svd(points - centre)[2][0]
    off = np.abs((points - centre) @ np.array([-axis[1], axis[0]]))
    return axis, centre, float(off.max())


def _standing_point(tr: Trajectories, rows: npt.NDArray[np.int64], cfg: SuggestSettings) -> int | None:
    """Index (into ``rows``) of the most downstream point where the track stood (its image speed
    over the next second below ``stop_speed`` box heights a second), if it stood ``stop_min_s``."""
    t, a, box_h = tr.t_s[rows], tr.anchor_px[rows], tr.size_px[rows, 1]
    ahead = np.searchsorted(t, t + 1.0)
    i = np.flatnonzero(ahead < len(rows))
    if not len(i):
        return None
    j = ahead[i]
    speed = np.hypot(*(a[j] - a[i]).T) / np.maximum(t[j] - t[i], 1e-6)
    standing = i[speed < cfg.stop_speed * box_h[i]]
    if not len(standing) or len(standing) * float(np.median(np.diff(t))) < cfg.stop_min_s:
        return None
    # most downstream along the track's own travel from its first point
    travel = (a[standing] - a[0]) @ (a[-1] - a[0])
    return int(standing[np.argmax(travel)])


def _approach_clusters(tracks: list[_Track], cfg: SuggestSettings,
                       rng: np.random.Generator) -> list[tuple[list[_Track], FloatArray, int]]:
    """Tracks grouped by the vanishing point their lines share (RANSAC over pairs of tracks):
    ``(tracks, vp, sign)`` with ``vp`` homogeneous and ``sign`` +1 toward it, -1 away."""
    lines = np.array([t.line for t in tracks]).reshape(-1, 3)
    ends = np.array([t.ends for t in tracks]).reshape(-1, 2, 2)
    heads = np.array([t.heading for t in tracks]).reshape(-1, 2)
    lengths = np.array([t.length_px for t in tracks])
    cos_tol = np.cos(np.radians(cfg.vp_angle_deg) + np.arctan(JITTER_PX / np.maximum(lengths, 1.0)))
    left = np.ones(len(tracks), dtype=bool)
    clusters = []
    while left.sum() >= cfg.min_tracks:
        idx = np.flatnonzero(left)
        best_n, best_vp, best_sign = 0, np.zeros(3), 1
        for i, j in rng.integers(0, len(idx), size=(cfg.vp_samples, 2)):
            if i == j:
                continue
            vp = np.cross(lines[idx[i]], lines[idx[j]])
            inliers, sign = _vp_inliers(vp, ends[idx], heads[idx], cos_tol[idx])
            if inliers.sum() > best_n:
                best_n, best_vp, best_sign = int(inliers.sum()), vp, sign
        if best_n < cfg.min_tracks:
            break
        inliers, _ = _vp_inliers(best_vp, ends[idx], heads[idx], cos_tol[idx], best_sign)
        vp = _fit_vp(lines[idx[inliers]], lengths[idx[inliers]])
        refit, _ = _vp_inliers(vp, ends[idx], heads[idx], cos_tol[idx], best_sign)
        if refit.sum() >= inliers.sum():
            inliers, best_vp = refit, vp
        left[idx[inliers]] = False
        if lengths[idx[inliers]].sum() >= cfg.min_tracks * cfg.entry_px:  # else slow jitter far away
            clusters.append((list(idx[inliers]), best_vp, best_sign))
    return [([tracks[k] for k in members], vp, sign) for members, vp, sign in clusters]


def _toward(vp: FloatArray, points: FloatArray) -> FloatArray:
    """Unit image directions from ``points`` toward the homogeneous point ``vp``."""
    if abs(vp[2]) <= 1e-9 * np.hypot(vp[0], vp[1]):
        d = np.broadcast_to(vp[:2], points.shape).astype(float)
    else:
        d = vp[:2] / vp[2] - points
    return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)


def _vp_inliers(vp: FloatArray, ends: FloatArray, heads: FloatArray, cos_tol: FloatArray,
                sign: int | None = None) -> tuple[npt.NDArray[np.bool_], int]:
    """Tracks heading along the ray to ``vp`` (within their angle, seen from their middle), all
    toward it or all away, and not passing it (crossing traffic in a junction passes any point
    inside it)."""
    if not np.isfinite(vp).all() or np.abs(vp).max() < 1e-12:
        return np.zeros(len(ends), dtype=bool), 1
    c = np.einsum("ij,ij->i", _toward(vp, ends.mean(axis=1)), heads)
    if abs(vp[2]) > 1e-9 * np.hypot(vp[0], vp[1]):
        ahead = np.einsum("ikj,ij->ik", vp[:2] / vp[2] - ends, heads)
        c = np.where((ahead[:, 0] > 0) == (ahead[:, 1] > 0), c, 0.0)
    if sign is None:
        sign = 1 if (c >= cos_tol).sum() >= (c <= -cos_tol).sum() else -1
    return sign * c >= cos_tol, sign


def _fit_vp(lines: FloatArray, weights: FloatArray) -> FloatArray:
    """The homogeneous point nearest to all ``lines`` (unit normals), each weighted (by how far
    its track ran: a long track's line is the surer); at infinity if they are parallel."""
    return np.linalg.svd(lines * weights[:, None])[2][-1]


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

    def __init__(self, tr: Trajectories, tracks: list[_Track], vp: FloatArray, sign: int,
                 cfg: SuggestSettings) -> None:
        self.tr, self.tracks, self.cfg, self.vp, self.sign = tr, tracks, cfg, vp, sign
        # the travel direction: the median of the tracks' rays from (or to) the vanishing point
        rays = sign * _toward(vp, np.array([t.mid for t in tracks]))
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

    def _track_su(self, t: _Track) -> FloatArray:
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
    def _front_points(self, tracks: list[_Track]) -> FloatArray:
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

    def _front_of(self, front_s: FloatArray, standing: list[_Track]) -> float:
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

    def _lane_width_px(self, reach: list[tuple[_Track, FloatArray]]) -> float:
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
            stop = _clip_segment(self._on_line(a), self._on_line(b), w, h)
            if stop is None:
                continue
            stop = (np.round(stop[0]), np.round(stop[1]))
            if s_down is None:
                down = [self._on_line(a), self._on_line(b)]
            else:
                down = [self._xy(s_down, self._u_at(a, s_down)), self._xy(s_down, self._u_at(b, s_down))]
            up = [self._xy(s_up, self._u_at(b, s_up)), self._xy(s_up, self._u_at(a, s_up))]
            poly = _clip_polygon(np.array(down + up), w, h)
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
            seg = _clip_segment(q * g + (min(lateral) - margin) * across, q * g + (max(lateral) + margin) * across, w, h)
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


def _clip_segment(p0: FloatArray, p1: FloatArray, w: int, h: int) -> Segment | None:
    """Segment p0-p1 cut to the frame [0, w] x [0, h] (Liang-Barsky); None if outside or shorter than 4 px."""
    d = p1 - p0
    t0, t1 = 0.0, 1.0
    for p, q in ((-d[0], p0[0]), (d[0], w - p0[0]), (-d[1], p0[1]), (d[1], h - p0[1])):
        if abs(p) < 1e-12:
            if q < 0:
                return None
            continue
        if p < 0:
            t0 = max(t0, q / p)
        else:
            t1 = min(t1, q / p)
    if t1 <= t0 or np.linalg.norm(d) * (t1 - t0) < 4.0:
        return None
    return p0 + t0 * d, p0 + t1 * d


def _clip_polygon(poly: FloatArray, w: int, h: int) -> FloatArray:
    """A convex polygon cut to the frame (Sutherland-Hodgman), in whole pixels."""
    pts = [np.asarray(p, dtype=float) for p in poly]
    for axis, bound, below in ((0, 0.0, False), (0, float(w), True), (1, 0.0, False), (1, float(h), True)):
        out: list[FloatArray] = []
        for i, cur in enumerate(pts):
            prev = pts[i - 1]
            cur_in = cur[axis] <= bound if below else cur[axis] >= bound
            prev_in = prev[axis] <= bound if below else prev[axis] >= bound
            if cur_in != prev_in:
                out.append(prev + (bound - prev[axis]) / (cur[axis] - prev[axis]) * (cur - prev))
            if cur_in:
                out.append(cur)
        pts = out
        if not pts:
            return np.zeros((0, 2))
    rounded: list[tuple[float, float]] = []
    for p in pts:
        q = (float(round(p[0])), float(round(p[1])))
        if q not in rounded:
            rounded.append(q)
    return np.array(rounded).reshape(-1, 2)


class _FlowDumper(yaml.SafeDumper):
    """Points and lists of points in flow style: ``[30, 293]``, ``[[30, 293], [193, 305]]``."""


def _flow_lists(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    scalars = all(not isinstance(v, (list, dict)) for v in data)
    points = all(isinstance(v, list) and all(not isinstance(x, (list, dict)) for x in v) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=bool(data) and (scalars or points))


_FlowDumper.add_representer(list, _flow_lists)


def _whole(v: Any) -> Any:
    """Floats that are whole numbers as ints, inside lists and dicts."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [_whole(x) for x in v]
    if isinstance(v, dict):
        return {k: _whole(x) for k, x in v.items()}
    return v


def site_yaml(proposal: SiteProposal, source: str) -> str:
    """The proposed site as a site file (the schema of ``calibration.site``) with a header
    saying how it was found and what to check."""
    site = proposal.site
    raw = _whole(site.model_dump(mode="json", exclude_none=True))
    raw = {k: v for k, v in raw.items() if k in ("camera", "frame_size", "lanes", "exits") and v != []}
    for lane in raw["lanes"]:
        lane.pop("bidirectional", None)
        lane.pop("sumo_lane", None)
    header = [(f"# Proposed by `phasewise site suggest` from {proposal.tracks_used} vehicle tracks in "
               f"{proposal.video_s:.0f} s of {source}."),
              "# Check it over a frame (`phasewise site draw THIS.yaml --frame VIDEO`) and correct it: lanes,",
              "# stop lines and exits are where the vehicles went and stood, not where the paint is.",
              "# Add a homography (queue lengths in metres), signal heads and a junction box by hand.",
              *(f"#   {line}" for line in proposal.summary())]
    return "\n".join(header) + "\n" + yaml.dump(raw, Dumper=_FlowDumper, sort_keys=False, width=120)


__all__ = ["VEHICLE_WIDTH_M", "ApproachProposal", "SiteProposal", "SuggestSettings", "site_yaml", "suggest_site"]
