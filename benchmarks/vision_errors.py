"""Measured camera errors: the vision pipeline against hand labels, per clip (2-core CPU).

Hanoi intersection (benchmarks/labels/hanoi_intersection.yaml): crossings matched to hand
labels (same lane, within 1 s), per class; misses, false positives, fragmentation (one
vehicle counted twice), class confusion, lane and turn errors, stop-line position error
(where the pipeline saw the vehicle cross vs the label, px and m) and crossing-time error;
queue counts at red against hand counts, also for several "stopped" thresholds, from the
enlarged pass over the lanes with and without the queue memory (hidden standing vehicles
kept, ``counting.queue_memory``); throughput
of the whole pipeline (decode, detect, fuse riders, track, signal head, CameraFrame).
Free-flow clips (benchmarks/vision_ground_truth.yaml, per-lane totals): misses and false
positives per lane.

    .venv/bin/python benchmarks/vision_errors.py [--imgsz 640] [--conf 0.15]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calibration.site import load_site  # noqa: E402
from counting.camera_frame import STOPPED_SPEED_M_S  # noqa: E402
from counting.video_source import VideoCameraSource  # noqa: E402
from vision.classes import CLASS_IDS, CLASS_NAMES  # noqa: E402
from vision.detector import load_detector  # noqa: E402
from vision.tracker import DENSE_TRAFFIC, ByteTracker, TrackerConfig  # noqa: E402
from vision.video import VideoFile  # noqa: E402

SHARED = Path(os.environ.get("PHASEWISE_SHARED", ROOT.parent / "shared"))
LABELS = ROOT / "benchmarks" / "labels" / "hanoi_intersection.yaml"
FREE_FLOW = ROOT / "benchmarks" / "vision_ground_truth.yaml"
THRESHOLDS_M_S = (0.1, 0.3, 0.5, 1.0)


class TimedDetector:
    """The detector, with the seconds it spends (to split the end-to-end time by stage)."""

    def __init__(self, detector) -> None:  # noqa: ANN001
        self.detector, self.name, self.seconds = detector, detector.name, 0.0

    def detect(self, frame: np.ndarray):  # noqa: ANN201
        t0 = time.perf_counter()
        out = self.detector.detect(frame)
        self.seconds += time.perf_counter() - t0
        return out


def match_crossings(labels: list[dict], got: list[dict], fps: float, max_dt_s: float = 1.0) -> tuple[list, list, list]:
    """Greedy one-to-one matching by time within the same lane; (pairs, missed labels, unmatched)."""
    pairs, used = [], set()
    for lab in sorted(labels, key=lambda r: r["frame"]):
        cands = [(abs(g["frame"] - lab["frame"]), k) for k, g in enumerate(got)
                 if k not in used and g["lane"] == lab["lane"] and abs(g["frame"] - lab["frame"]) <= max_dt_s * fps]
        if cands:
            k = min(cands)[1]
            used.add(k)
            pairs.append((lab, got[k]))
    missed = [lab for lab in labels if all(lab is not p[0] for p in pairs)]
    extra = [g for k, g in enumerate(got) if k not in used]
    return pairs, missed, extra


def run_hanoi(imgsz: int, conf: float, tracker_config: TrackerConfig, label: str, zoom_imgsz: int | None = None,
              remember_queue: bool = True) -> dict:
    lab = yaml.safe_load(LABELS.read_text())
    site = load_site(ROOT / lab["site"])
    video = VideoFile(SHARED / "videos" / lab["video"])
    fps = video.fps
    detector = TimedDetector(load_detector(None, imgsz=imgsz, conf=conf))
    zoom = None if zoom_imgsz is None else TimedDetector(load_detector(None, imgsz=zoom_imgsz, conf=conf))
    source = VideoCameraSource(video, detector, site, tracker=ByteTracker(tracker_config), zoom_detector=zoom,
                               remember_queue=remember_queue)
    queue_frames = {q["frame"]: q for q in lab["queues"]}
    snapshots = {}
    zone_ids: set[int] = set()
    builder_update = source.builder.update

    def update_and_look(tracks, t_s, lights=None, census=None):  # noqa: ANN001, ANN202
        out = builder_update(tracks, t_s, lights, census)
        index = round(t_s * fps)
        z = source.builder.counter.zones
        if index >= lab["red_from_frame"]:
            zone_ids.update(z.track_ids[z.track_lane >= 0].tolist())
        if index in queue_frames:  # the tracks' lanes and speeds at a hand-counted frame
            z = source.builder.counter.zones
            snapshots[index] = (z.track_lane.copy(), z.track_speed.copy(), None)
        return out

    source.builder.update = update_and_look  # type: ignore[method-assign]
    t0 = time.perf_counter()
    for _ in source:
        pass
    n_frames = source.processed
    wall = time.perf_counter() - t0
    lo, hi = lab["crossing_window_frames"]
    got = [{"frame": round(m.t_s * fps), "lane": m.lane, "class": CLASS_NAMES[m.class_id], "turn": m.turn,
            "tid": m.tracker_id, "x": m.at_px[0], "y": m.at_px[1]} for m in source.builder.movements]
    in_window = [g for g in got if lo <= g["frame"] <= hi]
    pairs, missed, extra = match_crossings(lab["crossings"], in_window, fps)
    # fragmentation: an unmatched crossing next to a matched one of the same lane within 2 s
    frag = [e for e in extra if any(p[1]["lane"] == e["lane"] and abs(p[1]["frame"] - e["frame"]) <= 2 * fps
                                    for p in pairs)]
    ground = site.ground()
    pos_px, pos_m = [], []
    lanes = {lane.id: lane for lane in site.lanes}
    for labl, g in pairs:
        # label: x where it crossed, on the lane's stop line; pipeline: the anchor just past it
        a, b = (np.asarray(p, dtype=float) for p in lanes[labl["lane"]].stop_line)
        if abs(b[0] - a[0]) > abs(b[1] - a[1]):
            want = a + (b - a) * (labl["x"] - a[0]) / (b[0] - a[0])
        else:  # a vertical line (the slip): the label's x is the line's
            want = np.array([labl["x"], g["y"]])
        have = np.array([g["x"], g["y"]])
        pos_px.append(float(np.hypot(*(have - want))))
        if ground is not None:
            pos_m.append(float(ground.distance_m([have], [want])[0]))
    lane_names = [lane.id for lane in site.lanes]
    queues = {}
    for fr, q in queue_frames.items():
        want = sum(q["lanes"].values())
        lane_of, speed, _ = snapshots.get(fr, (np.zeros(0, int), np.zeros(0), None))
        present = int(np.isin(lane_of, [lane_names.index(k) for k in q["lanes"]]).sum())
        stopped = {thr: int(((lane_of >= 0) & (speed < thr)).sum()) for thr in THRESHOLDS_M_S}
        queues[fr] = (want, present, stopped, q["lanes"])
    if zoom is not None:  # the census samples (one per second) nearest the hand-counted frames
        times = np.array(sorted({smp.t_s for smp in source.builder.queue_samples}))
        for fr, q in queue_frames.items():
            t = float(times[np.argmin(np.abs(times - fr / fps))])
            near = [smp for smp in source.builder.queue_samples if smp.t_s == t and smp.lane in q["lanes"]]
            census = (sum(smp.present for smp in near), sum(smp.stopped for smp in near), round(t * fps))
            queues[fr] = (*queues[fr], census)
    return {"label": label, "pairs": pairs, "missed": missed, "extra": extra, "frag": frag, "labels": lab,
            "zone_ids": len(zone_ids), "detect_s": detector.seconds + (zoom.seconds if zoom is not None else 0.0), "wall_s": wall, "frames": n_frames,
            "queues": queues, "pos_px": pos_px, "pos_m": pos_m, "fps": n_frames / wall, "video_fps": fps, "all": got, "source": source,
            "ground": ground, "lanes": lanes}


def print_hanoi(r: dict) -> None:
    lab = r["labels"]
    n = len(lab["crossings"])
    print(f"\n## hanoi_intersection — {r['label']}")
    print(f"throughput: {r['fps']:.1f} fps end to end = x{r['fps'] / r['video_fps']:.2f} real time "
          f"(clip {r['video_fps']:.0f} fps; decode, detect, fuse riders, track, signal head, CameraFrame); "
          f"detector {1000 * r['detect_s'] / r['frames']:.0f} ms/frame, the rest "
          f"{1000 * (r['wall_s'] - r['detect_s']) / r['frames']:.0f} ms/frame; load average {os.getloadavg()[0]:.1f}")
    print(f"crossings, frames {lab['crossing_window_frames'][0]}-{lab['crossing_window_frames'][1]}:")
    print("| class | hand | pipeline | matched | missed | false pos. |")
    print("|---|---|---|---|---|---|")
    classes = sorted({c["class"] for c in lab["crossings"]} | {g["class"] for g in [p[1] for p in r["pairs"]] + r["extra"]})
    for cls in classes:
        hand = sum(c["class"] == cls for c in lab["crossings"])
        got = sum(p[1]["class"] == cls for p in r["pairs"]) + sum(e["class"] == cls for e in r["extra"])
        matched = sum(p[0]["class"] == cls for p in r["pairs"])
        missed = sum(m["class"] == cls for m in r["missed"])
        fp = sum(e["class"] == cls for e in r["extra"])
        print(f"| {cls} | {hand} | {got} | {matched} | {missed} | {fp} |")
    confusion = Counter((p[0]["class"], p[1]["class"]) for p in r["pairs"] if p[0]["class"] != p[1]["class"])
    turns = sum(p[0]["turn"] == p[1]["turn"] for p in r["pairs"])
    dt = [p[1]["frame"] - p[0]["frame"] for p in r["pairs"]]
    red = [c for c in lab["crossings"] if c.get("red_light")]
    red_found = sum(any(p[0] is c for p in r["pairs"]) for c in red)
    print(f"miss rate {len(r['missed']) / n:.0%} ({len(r['missed'])}/{n}), false positives "
          f"{len(r['extra']) / n:.0%} ({len(r['extra'])}/{n}; of them fragments of a counted vehicle "
          f"{len(r['frag'])}), class confusion {dict(confusion) or 'none'}, turn right {turns}/{len(r['pairs'])}, "
          f"crossing time error mean {np.mean(dt) if dt else float('nan'):+.1f} frames "
          f"(max |{max(map(abs, dt)) if dt else 0}|), red-light runners found {red_found}/{len(red)}, "
          f"stop-line position error median {np.median(r['pos_px']) if r['pos_px'] else float('nan'):.0f} px / "
          f"{np.median(r['pos_m']) if r['pos_m'] else float('nan'):.2f} m (max {max(r['pos_m'], default=float('nan')):.2f} m)")
    lo_v, hi_v = lab["vehicles_in_zones_during_red"]
    print(f"track fragmentation in the queue zones during red: {r['zone_ids']} track ids for {lo_v}-{hi_v} vehicles "
          f"(hand count: those standing at the end plus those that left), {r['zone_ids'] / hi_v:.1f}-"
          f"{r['zone_ids'] / lo_v:.1f} ids per vehicle")
    print("queue at red (vehicles in the lane zones; stopped at several thresholds, m/s over a 2 s window):")
    print("| frame | hand | present | " + " | ".join(f"stopped<{t}" for t in THRESHOLDS_M_S) + " |")
    print("|---|---|---|" + "---|" * len(THRESHOLDS_M_S))
    for fr, (want, present, stopped, *_) in sorted(r["queues"].items()):
        print(f"| {fr} | {want} | {present} ({present - want:+d}) | "
              + " | ".join(f"{stopped[t]} ({stopped[t] - want:+d})" for t in THRESHOLDS_M_S) + " |")
    censuses = {fr: q[4] for fr, q in r["queues"].items() if len(q) > 4}
    if censuses:
        print("queue at red from the enlarged pass over the lanes (CameraFrame present / stopped at "
              f"{STOPPED_SPEED_M_S} m/s, the census nearest the frame):")
        print("| frame | hand | census frame | present | stopped |")
        print("|---|---|---|---|---|")
        for fr, (present, stopped, at) in sorted(censuses.items()):
            want = r["queues"][fr][0]
            print(f"| {fr} | {want} | {at} | {present} ({present - want:+d}) | {stopped} ({stopped - want:+d}) |")


def run_free_flow(imgsz: int) -> None:
    gt_all = yaml.safe_load(FREE_FLOW.read_text())
    print(f"\n## free-flow clips, input {imgsz} (per-lane totals against benchmarks/vision_ground_truth.yaml)")
    print("| clip | hand | pipeline | missed | false pos. | miss rate | false-pos. rate |")
    print("|---|---|---|---|---|---|---|")
    for clip in ("nl_highway_overpass", "ca_arterial"):
        gt = gt_all[clip]
        site = load_site(ROOT / gt["site"])
        source = VideoCameraSource(VideoFile(SHARED / "videos" / gt["video"]), load_detector(None, imgsz=imgsz, conf=0.15),
                                   site)
        for _ in source:
            pass
        got = Counter(m.lane for m in source.builder.movements)
        missed = sum(max(0, n - got.get(lane, 0)) for lane, n in gt["lanes"].items())
        extra = sum(max(0, got.get(lane, 0) - n) for lane, n in gt["lanes"].items())
        print(f"| {clip} | {gt['total']} | {sum(got.values())} | {missed} | {extra} | {missed / gt['total']:.0%} | "
              f"{extra / gt['total']:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, nargs="+", default=[640, 960])
    parser.add_argument("--conf", type=float, default=0.15)
    parser.add_argument("--no-free-flow", action="store_true")
    args = parser.parse_args()
    print(f"cpu cores: {os.cpu_count()}, YOLO11n int8 lean OpenVINO")
    print_hanoi(run_hanoi(640, args.conf, DENSE_TRAFFIC, f"input 640 + lanes enlarged 2x at 1280 once a second, "
                          f"hidden standing vehicles remembered (counting.queue_memory), conf {args.conf}, "
                          f"DENSE_TRAFFIC tracker", zoom_imgsz=1280))
    print_hanoi(run_hanoi(640, args.conf, DENSE_TRAFFIC, "the same without the queue memory", zoom_imgsz=1280,
                          remember_queue=False))
    for imgsz in args.imgsz:
        print_hanoi(run_hanoi(imgsz, args.conf, DENSE_TRAFFIC, f"input {imgsz}, conf {args.conf}, DENSE_TRAFFIC tracker"))
    print_hanoi(run_hanoi(640, 0.25, TrackerConfig(), "input 640, conf 0.25, default tracker (replay's defaults)"))
    if not args.no_free_flow:
        for imgsz in args.imgsz:
            run_free_flow(imgsz)


if __name__ == "__main__":
    main()
