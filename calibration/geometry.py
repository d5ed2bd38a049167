"""Small plane-geometry helpers on image points: segment crossing, polygon checks.

Vectorised over many points or segments at once; used by site validation and counting.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def side_of_line(points: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike) -> Array:
    """Signed side of each point relative to the directed line a->b (z of the cross product).

    Positive on the left of a->b in image coordinates (y down), negative on the right, 0 on it.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = b - a
    return d[0] * (p[:, 1] - a[1]) - d[1] * (p[:, 0] - a[0])


def segments_cross(p0: npt.ArrayLike, p1: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """For each movement p0[i] -> p1[i], does it cross segment a-b (touching counts on one side)?"""
    p0 = np.asarray(p0, dtype=np.float64).reshape(-1, 2)
    p1 = np.asarray(p1, dtype=np.float64).reshape(-1, 2)
    s0, s1 = side_of_line(p0, a, b), side_of_line(p1, a, b)
    straddles_line = (s0 < 0) != (s1 < 0)
    a_ = np.asarray(a, dtype=np.float64)[None]
    b_ = np.asarray(b, dtype=np.float64)[None]
    # Endpoints a, b on opposite sides of the movement's line.
    d = p1 - p0
    ta = d[:, 0] * (a_[:, 1] - p0[:, 1]) - d[:, 1] * (a_[:, 0] - p0[:, 0])
    tb = d[:, 0] * (b_[:, 1] - p0[:, 1]) - d[:, 1] * (b_[:, 0] - p0[:, 0])
    within_segment = (ta < 0) != (tb < 0)
    return straddles_line & within_segment


def polygon_self_intersects(poly: npt.ArrayLike) -> bool:
    """True if any two non-adjacent edges of the closed polygon cross."""
    p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    n = len(p)
    for i in range(n):
        a0, a1 = p[i], p[(i + 1) % n]
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # edges sharing the first vertex
            b0, b1 = p[j], p[(j + 1) % n]
            if segments_cross(a0, a1, b0, b1)[0]:
                return True
    return False


def points_in_polygon(points: npt.ArrayLike, poly: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Even-odd rule point-in-polygon test for (N, 2) points, vectorised over points."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    v = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    x, y = p[:, 0:1], p[:, 1:2]
    x0, y0 = v[:, 0][None], v[:, 1][None]
    x1, y1 = np.roll(v[:, 0], -1)[None], np.roll(v[:, 1], -1)[None]
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (crosses & (x < x_at)).sum(axis=1) % 2 == 1


def point_segment_distance(points: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike) -> Array:
    """Distance from each point to segment a-b (same units as the inputs)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = b - a
    t = np.clip(((p - a) @ d) / max(float(d @ d), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * d), axis=1)


def clip_segment(p0: Array, p1: Array, w: int, h: int) -> tuple[Array, Array] | None:
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


def clip_polygon(poly: Array, w: int, h: int) -> Array:
    """A convex polygon cut to the frame (Sutherland-Hodgman), in whole pixels."""
    pts = [np.asarray(p, dtype=float) for p in poly]
    for axis, bound, below in ((0, 0.0, False), (0, float(w), True), (1, 0.0, False), (1, float(h), True)):
        out: list[Array] = []
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
