"""Vehicle tracks as lines, grouped by the vanishing point they run toward.

A road's lanes run toward one vanishing point in the image, so the vehicles of one approach
move along rays from it: all toward it (moving away from the camera) or all away from it.
:func:`track_lines` gives each track that moved its line (its principal axis; over its first
``entry_px`` of travel if it turns) and where it stood; :func:`group_by_vanishing_point`
finds the points by RANSAC over pairs of tracks and groups the tracks by them
(:mod:`counting.site_suggest` makes approaches of the groups). Points are homogeneous, so
parallel lanes (a point at infinity) are the same case.

Example::

    lines = track_lines(Trajectories.load("out/tracks.npz"), min_move_px=40, entry_px=150,
                        stop_speed=0.1, stop_min_s=1.0)
    for tracks, vp, sign in group_by_vanishing_point(lines, angle_deg=8, samples=2000, min_tracks=4,
                                                     entry_px=150, rng=np.random.default_rng(0)):
        ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from counting.trajectories import Trajectories

FloatArray = npt.NDArray[np.float64]

EDGE_PX = 2.0  # a box this close to the frame's bottom is cut by it
STRAIGHT = 0.1  # a track off its line by at most this share of its length runs straight
JITTER_PX = 8.0  # anchors wander this much: a short track's heading is uncertain by atan(JITTER_PX / length)


@dataclass
class TrackLine:
    """One track that moved: its rows in the trajectories, its line and where it stood."""

    rows: npt.NDArray[np.int64]
    heading: FloatArray                # unit direction of the line, the way the vehicle went
    line: FloatArray                   # the line, homogeneous, unit normal
    mid: FloatArray                    # middle of the line's stretch
    ends: FloatArray                   # first and last point of the line's stretch, (2, 2)
    length_px: float                   # how far it moved
    stood_at: int | None               # index into rows: the most downstream standing point


def track_lines(tr: Trajectories, *, min_move_px: float, entry_px: float, stop_speed: float,
                stop_min_s: float) -> list[TrackLine]:
    """Tracks that moved ``min_move_px`` (their bottom in the frame), with their line and where they stood.

    Points whose box touches the bottom of the frame are dropped: the box is cut there, so its
    anchor (bottom centre) slides along the edge instead of following the vehicle. A box cut
    by a side keeps its anchor, off by at most half the hidden width: a vehicle at the side
    of the view is still in its lane, the one the lanes' extent needs. A track's
    line is its principal axis: over the whole track if it runs straight (off it by at most
    ``STRAIGHT`` of its length), else over its first ``entry_px`` of travel (before a turn).
    """
    h = tr.frame_size[1]
    whole = tr.anchor_px[:, 1] < h - EDGE_PX
    out = []
    for _, rows in tr.tracks(min_points=3):
        rows = rows[whole[rows]]
        if len(rows) < 3:
            continue
        a = tr.anchor_px[rows]
        dist = np.hypot(*(a - a[0]).T)
        if dist.max() < min_move_px:
            continue
        end = len(a) - 1
        line = _principal_line(a)
        if line[2] > STRAIGHT * dist.max():
            end = int(np.argmax(dist >= entry_px)) if dist.max() >= entry_px else int(np.argmax(dist))
            line = _principal_line(a[: end + 1])
        axis, centre, _ = line
        heading = axis if axis @ (a[end] - a[0]) > 0 else -axis
        normal = np.array([-heading[1], heading[0]])
        ends = centre + np.outer((a[[0, end]] - centre) @ heading, heading)
        out.append(TrackLine(rows, heading, np.array([normal[0], normal[1], -normal @ centre]), centre, ends,
                          float(dist.max()), _standing_point(tr, rows, stop_speed, stop_min_s)))
    return out


def _principal_line(points: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """(unit axis, centre, largest distance of a point from the line) of ``points``."""
    centre = points.mean(axis=0)
    axis = np.linalg.svd(points - centre)[2][0]
    off = np.abs((points - centre) @ np.array([-axis[1], axis[0]]))
    return axis, centre, float(off.max())


def _standing_point(tr: Trajectories, rows: npt.NDArray[np.int64], stop_speed: float, stop_min_s: float) -> int | None:
    """Index (into ``rows``) of the most downstream point where the track stood (its image speed
    over the next second below ``stop_speed`` box heights a second), if it stood ``stop_min_s``."""
    t, a, box_h = tr.t_s[rows], tr.anchor_px[rows], tr.size_px[rows, 1]
    ahead = np.searchsorted(t, t + 1.0)
    i = np.flatnonzero(ahead < len(rows))
    if not len(i):
        return None
    j = ahead[i]
    speed = np.hypot(*(a[j] - a[i]).T) / np.maximum(t[j] - t[i], 1e-6)
    standing = i[speed < stop_speed * box_h[i]]
    if not len(standing) or len(standing) * float(np.median(np.diff(t))) < stop_min_s:
        return None
    # most downstream along the track's own travel from its first point
    travel = (a[standing] - a[0]) @ (a[-1] - a[0])
    return int(standing[np.argmax(travel)])


def group_by_vanishing_point(tracks: list[TrackLine], *, angle_deg: float, samples: int, min_tracks: int, entry_px: float,
                             rng: np.random.Generator) -> list[tuple[list[TrackLine], FloatArray, int]]:
    """Tracks grouped by the vanishing point their lines share (RANSAC over pairs of tracks):
    ``(tracks, vp, sign)`` with ``vp`` homogeneous and ``sign`` +1 toward it, -1 away."""
    lines = np.array([t.line for t in tracks]).reshape(-1, 3)
    ends = np.array([t.ends for t in tracks]).reshape(-1, 2, 2)
    heads = np.array([t.heading for t in tracks]).reshape(-1, 2)
    lengths = np.array([t.length_px for t in tracks])
    cos_tol = np.cos(np.radians(angle_deg) + np.arctan(JITTER_PX / np.maximum(lengths, 1.0)))
    left = np.ones(len(tracks), dtype=bool)
    clusters = []
    while left.sum() >= min_tracks:
        idx = np.flatnonzero(left)
        best_n, best_vp, best_sign = 0, np.zeros(3), 1
        for i, j in rng.integers(0, len(idx), size=(samples, 2)):
            if i == j:
                continue
            vp = np.cross(lines[idx[i]], lines[idx[j]])
            inliers, sign = _vp_inliers(vp, ends[idx], heads[idx], cos_tol[idx])
            if inliers.sum() > best_n:
                best_n, best_vp, best_sign = int(inliers.sum()), vp, sign
        if best_n < min_tracks:
            break
        inliers, _ = _vp_inliers(best_vp, ends[idx], heads[idx], cos_tol[idx], best_sign)
        vp = _fit_vp(lines[idx[inliers]], lengths[idx[inliers]])
        refit, _ = _vp_inliers(vp, ends[idx], heads[idx], cos_tol[idx], best_sign)
        if refit.sum() >= inliers.sum():
            inliers, best_vp = refit, vp
        left[idx[inliers]] = False
        if lengths[idx[inliers]].sum() >= min_tracks * entry_px:  # else slow jitter far away
            clusters.append((list(idx[inliers]), best_vp, best_sign))
    return [([tracks[k] for k in members], vp, sign) for members, vp, sign in clusters]


def toward(vp: FloatArray, points: FloatArray) -> FloatArray:
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
    c = np.einsum("ij,ij->i", toward(vp, ends.mean(axis=1)), heads)
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


__all__ = ["TrackLine", "group_by_vanishing_point", "toward", "track_lines"]
