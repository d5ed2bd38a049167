"""Proposed sites against the hand-made ones: ``phasewise site suggest`` on the shared clips.

For each clip, the vehicles are tracked once (cached in ``out/site_suggest/``: detection is
the slow part) and a site is proposed from the tracks (``counting.site_suggest``). Against
the hand-made site in ``calibration/sites/``, per hand-made lane:

* ``stop line px``: distance from the middle of its stop line to the proposed stop line of
  the approach going the same way (the nearest proposed segment);
* ``boundary px``: the lane's boundaries where its stop line crosses them, against the
  nearest boundary between proposed lanes along the same line (the outer edges of the road
  are left out: the hand-made lanes run to the frame or the kerb, proposed ones to where
  vehicles drove);

then lanes and approaches found against hand-made.

    .venv/bin/python benchmarks/site_suggest.py [--conf 0.25] [--imgsz 640] [--seconds 180]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from calibration.geometry import point_segment_distance, points_in_polygon, side_of_line
from calibration.site import LaneConfig, SiteConfig, load_site
from counting.site_suggest import suggest_site
from counting.trajectories import Trajectories, record_trajectories
from vision.detector import load_detector
from vision.video import VideoFile

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PHASEWISE_SHARED", ROOT.parent / "shared"))
CLIPS = ("hanoi_intersection", "ca_arterial", "nl_highway_overpass")
CACHE = ROOT / "out" / "site_suggest"


def tracks_of(clip: str, *, conf: float, imgsz: int, seconds: float) -> tuple[Trajectories, float]:
    """The clip's tracks (from the cache when there) and the seconds detection took (0 if cached)."""
    path = CACHE / f"{clip}_conf{conf:g}_imgsz{imgsz}_{seconds:g}s.npz"
    if path.is_file():
        return Trajectories.load(path), 0.0
    video = VideoFile(SHARED / "videos" / f"{clip}.mp4")
    video.max_frames = max(1, round(seconds * video.fps))
    t0 = time.perf_counter()
    tracks = record_trajectories(video, load_detector(None, imgsz=imgsz, conf=conf))
    wall = time.perf_counter() - t0
    CACHE.mkdir(parents=True, exist_ok=True)
    tracks.save(path)
    return tracks, wall


def same_way(a: LaneConfig, b: LaneConfig) -> bool:
    da, db = np.asarray(a.direction, float), np.asarray(b.direction, float)
    return float(da @ db) / (np.linalg.norm(da) * np.linalg.norm(db)) > 0.5


def stop_line_px(hand: LaneConfig, proposed: SiteConfig) -> float:
    """Distance from the middle of ``hand``'s stop line to the nearest proposed one of the same
    way; negative where the proposed line lies before it (upstream), positive past it."""
    mid = np.mean(np.asarray(hand.stop_line, float), axis=0)
    best = float("nan")
    for lane in proposed.lanes:
        if same_way(hand, lane):
            d = float(point_segment_distance(mid, *lane.stop_line)[0])
            if not abs(d) >= abs(best):
                a, b = (np.asarray(p, float) for p in lane.stop_line)
                past = float(side_of_line([mid], a, b)[0]) * lane.after_side_sign() < 0  # hand line lies before it
                best = d if past else -d
    return best


def boundaries_along(line: tuple, lanes: list[LaneConfig], samples: int = 2000) -> list[float]:
    """Positions (px from the line's first end) where the lane under the line changes."""
    a, b = np.asarray(line[0], float), np.asarray(line[1], float)
    t = np.linspace(-0.5, 1.5, samples)  # past both ends: a neighbour's boundary may lie beyond
    pts = a + t[:, None] * (b - a)
    owner = np.full(samples, -1)
    for j, lane in enumerate(lanes):
        owner[(owner < 0) & points_in_polygon(pts, lane.polygon)] = j
    change = np.flatnonzero((owner[1:] != owner[:-1]) & (owner[1:] >= 0) & (owner[:-1] >= 0))
    return [float((t[i] + t[i + 1]) / 2 * np.linalg.norm(b - a)) for i in change]


def boundary_px(hand_site: SiteConfig, hand: LaneConfig, proposed: SiteConfig) -> list[float]:
    """For each inner boundary of ``hand`` (shared with a hand-made neighbour) on its stop line,
    the distance along the line to the nearest boundary between proposed lanes. Where the
    proposed lanes end before the hand-made stop line, the line is moved upstream (in 10 px
    steps, up to 100 px) to where they lie under it."""
    length = float(np.linalg.norm(np.subtract(hand.stop_line[1], hand.stop_line[0])))
    inner = [0.0, length]
    ends = [np.asarray(p, float) for p in hand.stop_line]
    others = [lane for lane in hand_site.lanes if lane.id != hand.id]
    shared = [pos for pos, end in zip(inner, ends)
              if any(min(np.linalg.norm(end - np.asarray(p, float)) for p in o.stop_line) < 1.0 for o in others)]
    same = [lane for lane in proposed.lanes if same_way(hand, lane)]
    back = -np.asarray(hand.direction, float) / np.linalg.norm(hand.direction)
    found: list[float] = []
    for step in range(0, 101, 10):
        line = tuple(np.asarray(p, float) + step * back for p in hand.stop_line)
        found = boundaries_along(line, same)
        if found:
            break
    return [min(abs(pos - f) for f in found) if found else float("nan") for pos in shared]


def lanes_by_approach(site: SiteConfig) -> str:
    """``northbound 3, westbound 1``: lanes per approach."""
    names = [lane.approach for lane in site.lanes]
    return ", ".join(f"{name} {names.count(name)}" for name in dict.fromkeys(names))


def exits_of(site: SiteConfig) -> str:
    """``north (through), east (right)``, or ``-``."""
    return ", ".join(f"{e.id} ({e.movement})" for e in site.exits) or "-"


def _median_max(values: np.ndarray) -> str:
    """``median (max)`` of the finite values, with how many are missing."""
    ok = values[np.isfinite(values)]
    missing = f", {len(values) - len(ok)} not found" if len(ok) < len(values) else ""
    return f"{np.median(ok):.0f} ({ok.max():.0f}{missing})" if len(ok) else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--seconds", type=float, default=180.0)
    args = ap.parse_args()
    print(f"conf {args.conf:g}, imgsz {args.imgsz}, up to {args.seconds:g} s of each clip\n")
    summary = []
    for clip in CLIPS:
        tracks, wall = tracks_of(clip, conf=args.conf, imgsz=args.imgsz, seconds=args.seconds)
        t0 = time.perf_counter()
        proposal = suggest_site(tracks, camera=clip)
        propose_s = time.perf_counter() - t0
        hand_site = load_site(ROOT / "calibration" / "sites" / f"{clip}.yaml")
        site = proposal.site
        print(f"## {clip}: {tracks.video_s:.0f} s, {len(list(tracks.tracks()))} tracks "
              f"(detection {wall:.0f} s{' (cached)' if not wall else ''}, proposal {propose_s:.2f} s)")
        for line in proposal.summary():
            print(f"   {line}")
        print(f"   {'hand lane':<10} {'stop line px':>12} {'boundary px':>14}")
        stops, bounds = [], []
        # stop lines proper: of the lanes a signal head controls, where the site reads one (the
        # Hanoi right-turn slip's line is a counting line where right-turners leave)
        signalised = {lane for head in hand_site.signal_heads for lane in (head.lanes or [x.id for x in hand_site.lanes])}
        for lane in hand_site.lanes:
            d = stop_line_px(lane, site)
            b = boundary_px(hand_site, lane, site)
            counted = not signalised or lane.id in signalised
            if counted:
                stops.append(d)
                bounds.extend(b)
            print(f"   {lane.id:<10} {d:>12.1f} {', '.join(f'{x:.0f}' for x in b) or '-':>14}"
                  f"{'' if counted else '   (no signal head: not a stop line, left out below)'}")
        summary.append((clip, stops, bounds, lanes_by_approach(site), lanes_by_approach(hand_site),
                        exits_of(site), exits_of(hand_site)))
        print()
    print("| clip | stop line px, median (max) | lane boundary px, median (max) | lanes proposed | lanes hand-made "
          "| exits proposed | exits hand-made |")
    print("|---|---|---|---|---|---|---|")
    for clip, stops, bounds, lanes, hand_lanes, exits, hand_exits in summary:
        print(f"| {clip} | {_median_max(np.abs(stops))} | {_median_max(np.abs(bounds))} | {lanes} | {hand_lanes} | "
              f"{exits} | {hand_exits} |")


if __name__ == "__main__":
    main()
