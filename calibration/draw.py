"""Drawing a site configuration over a camera frame, for a person to check at a glance.

Lane polygons (tinted, labelled with lane, approach and movement), stop lines with the
direction of travel, exit lines, crosswalk waiting areas (yellow, labelled with their
crossing), and a 5 m ground grid projected through the homography
(if the grid looks like a regular road grid, the homography is plausible).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from calibration.site import SiteConfig

LANE_COLOURS = [(255, 128, 0), (0, 200, 255), (180, 0, 255), (0, 255, 128), (255, 0, 180), (128, 255, 0)]


def draw_site(frame: npt.NDArray[np.uint8], site: SiteConfig, *, counts: dict[str, int] | None = None,
              grid_step_m: float = 5.0) -> npt.NDArray[np.uint8]:
    """A copy of ``frame`` with the site drawn on it; ``counts`` adds a live count per lane."""
    out = frame.copy()
    tint = frame.copy()
    for j, lane in enumerate(site.lanes):
        poly = np.asarray(lane.polygon, dtype=np.int32)
        cv2.fillPoly(tint, [poly], LANE_COLOURS[j % len(LANE_COLOURS)])
    cv2.addWeighted(tint, 0.25, out, 0.75, 0, dst=out)
    _draw_grid(out, site, grid_step_m)
    for j, lane in enumerate(site.lanes):
        colour = LANE_COLOURS[j % len(LANE_COLOURS)]
        poly = np.asarray(lane.polygon, dtype=np.int32)
        cv2.polylines(out, [poly], True, colour, 2, cv2.LINE_AA)
        a, b = (np.asarray(p, dtype=float) for p in lane.stop_line)
        cv2.line(out, tuple(a.astype(int)), tuple(b.astype(int)), (0, 0, 255), 3, cv2.LINE_AA)
        mid = (a + b) / 2
        d = np.asarray(lane.direction, dtype=float)
        tip = mid + 40 * d / np.linalg.norm(d)
        cv2.arrowedLine(out, tuple(mid.astype(int)), tuple(tip.astype(int)), (0, 0, 255), 2, cv2.LINE_AA, tipLength=0.3)
        label = f"{lane.id} {lane.approach}/{'+'.join(lane.movements)}"
        if counts is not None:
            label += f" n={counts.get(lane.id, 0)}"
        org = (int(mid[0]) - 40, int(mid[1]) - 10)
        cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    for ex in site.exits:
        a, b = (tuple(int(v) for v in p) for p in ex.line)
        cv2.line(out, a, b, (255, 0, 255), 2, cv2.LINE_AA)
        cv2.putText(out, f"exit {ex.id} ({ex.movement})", a, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 0, 255), 1)
    if site.junction is not None:
        cv2.polylines(out, [np.asarray(site.junction, dtype=np.int32)], True, (0, 255, 255), 1, cv2.LINE_AA)
    for head in site.signal_heads:
        x1, y1, x2, y2 = head.box
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 255), 1)
        cv2.putText(out, f"signal {head.id}", (x1, y2 + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)
    for crosswalk in site.crosswalks:
        for area in crosswalk.waiting_areas:
            poly = np.asarray(area, dtype=np.int32)
            cv2.polylines(out, [poly], True, (0, 255, 255), 2, cv2.LINE_AA)
            org = (int(poly[:, 0].min()), int(poly[:, 1].min()) - 6)
            cv2.putText(out, f"wait {crosswalk.crossing}", org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(out, site.camera, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def _draw_grid(out: npt.NDArray[np.uint8], site: SiteConfig, step_m: float) -> None:
    h = site.ground()
    if h is None or site.homography is None:
        return
    g = np.asarray(site.homography.ground_m, dtype=float)
    (x0, y0), (x1, y1) = g.min(axis=0), g.max(axis=0)
    xs = np.arange(np.floor(x0 / step_m) * step_m, x1 + 1e-9, step_m)
    ys = np.arange(np.floor(y0 / step_m) * step_m, y1 + 1e-9, step_m)
    segments = [((x, y0), (x, y1)) for x in xs] + [((x0, y), (x1, y)) for y in ys]
    for p, q in segments:
        pts = h.to_image(np.linspace(p, q, 20))
        if not np.isfinite(pts).all():
            continue
        cv2.polylines(out, [pts.astype(np.int32)], False, (255, 255, 255), 1, cv2.LINE_AA)
    for (u, v), (gx, gy) in zip(site.homography.image_px, site.homography.ground_m):
        cv2.circle(out, (int(u), int(v)), 5, (0, 255, 255), -1)
        cv2.putText(out, f"({gx:g},{gy:g}) m", (int(u) + 6, int(v) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)
