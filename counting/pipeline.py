"""The video-to-counts pipeline: decode -> detect -> track -> count, and its output files.

The loop is the whole vision pipeline, one verb per stage::

    for frame in source:                                   # decode
        dets = detector.detect(frame.image)                # detect
        tracks = tracker.update(dets, frame.t_s)           # track
        counts = counter.update(tracks, frame.t_s)         # count

:func:`run_pipeline` is that loop; ``phasewise replay``, the benchmarks and the tests all call
it. :func:`write_outputs` writes ``counts.csv`` (bin_start, bin_s, lane, class, count, pcu,
flow_veh_h; one row per bin x lane x class), ``queue.csv`` (one row per processed frame and
lane), ``queue_bins.csv``, ``turns.csv`` (if the site has exits) and ``summary.json``. A run
that ends early (the input breaks off, a truncated file, Ctrl-C) keeps what it counted, with
``error`` set (``"partial": true`` in the summary).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from calibration.site import SiteConfig
from counting.binning import bin_counts, bin_queues
from counting.counter import SiteCounter
from counting.events import QueueSample
from phasewise_errors import VideoError
from vision.detector import Detector
from vision.tracker import ByteTracker
from vision.video import Frame

log = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    """What one run produced: the counter (crossings, turns), queue samples and timing."""

    counter: SiteCounter
    queue_samples: list[QueueSample] = field(default_factory=list)
    frames: int = 0
    processed: int = 0
    seconds: float = 0.0
    video_s: float = 0.0
    error: str | None = None  # why the run ended before its input did (then the counts are partial)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class PipelineInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``run_pipeline``; ``result`` holds what was counted until then."""

    def __init__(self, result: PipelineResult) -> None:
        super().__init__()
        self.result = result


def run_pipeline(frames: Iterable[Frame], detector: Detector, site: SiteConfig, *,
                 tracker: ByteTracker | None = None,
                 on_frame: Callable[[Frame, PipelineResult], None] | None = None,
                 annotate: Callable[[Frame, object, SiteCounter], None] | None = None) -> PipelineResult:
    """Decode -> detect -> track -> count over ``frames``; stops cleanly on a broken source.

    ``frames`` may already skip frames (``VideoFile(every=n)``): the tracker and counters use
    each frame's own time, so frame-stride detection needs nothing else.
    """
    tracker = tracker or ByteTracker()
    result = PipelineResult(counter=SiteCounter(site))
    start = time.perf_counter()
    last_index = -1
    try:
        for frame in frames:
            tracks = tracker.update(detector.detect(frame.image), frame.t_s)
            counts = result.counter.update(tracks, frame.t_s)
            result.queue_samples.extend(counts.queues)
            result.processed += 1
            result.frames += frame.index - last_index
            last_index, result.video_s = frame.index, frame.t_s
            result.seconds = time.perf_counter() - start
            if annotate is not None:
                annotate(frame, tracks, result.counter)
            if on_frame is not None:
                on_frame(frame, result)
    except VideoError as exc:
        result.error = str(exc)
        log.error("%s; counts made so far are kept", exc)
    except KeyboardInterrupt as exc:
        result.error = "interrupted (Ctrl-C)"
        result.seconds = time.perf_counter() - start
        raise PipelineInterrupted(result) from exc
    result.seconds = time.perf_counter() - start
    return result


def write_outputs(result: PipelineResult, site: SiteConfig, out_dir: Path, *, bin_s: int,
                  start_s: float = 0.0, source: str = "", settings: dict[str, object] | None = None) -> dict[str, object]:
    """Write counts.csv, queue.csv, queue_bins.csv, turns.csv and summary.json into ``out_dir``;
    ``settings`` (the detector's input size and stride) go into the summary as they are."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lanes = [lane.id for lane in site.lanes]
    rows = bin_counts(result.counter.crossings, lanes, bin_s=bin_s, start_s=start_s,
                      end_s=max(result.video_s, start_s))
    with open(out_dir / "counts.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["bin_start", "bin_s", "lane", "class", "count", "pcu", "flow_veh_h"])
        for r in rows:
            w.writerow([r.bin_start_s, r.bin_s, r.lane, r.class_name, r.count, r.pcu, round(r.flow_veh_h, 1)])
    with open(out_dir / "queue.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "lane", "present", "stopped", "queue_m"])
        for q in result.queue_samples:
            w.writerow([round(q.t_s, 3), q.lane, q.present, q.stopped, "" if math.isnan(q.queue_m) else round(q.queue_m, 2)])
    with open(out_dir / "queue_bins.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["bin_start", "bin_s", "lane", "mean_present", "mean_stopped", "max_stopped",
                    "mean_queue_m", "max_queue_m"])
        for qb in bin_queues(result.queue_samples, bin_s=bin_s):
            w.writerow([qb.bin_start_s, qb.bin_s, qb.lane, qb.mean_present, qb.mean_stopped, qb.max_stopped,
                        qb.mean_queue_m, qb.max_queue_m])
    if site.exits:
        with open(out_dir / "turns.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["t_s", "lane", "exit", "movement", "class_id", "tracker_id"])
            for t in result.counter.turns:
                w.writerow([round(t.t_s, 3), t.lane, t.exit, t.movement, t.class_id, t.tracker_id])
    summary: dict[str, object] = {
        "source": source,
        "frames": result.frames,
        "frames_detected": result.processed,
        "video_s": round(result.video_s, 3),
        "wall_s": round(result.seconds, 3),
        "fps": round(result.fps, 2),
        "vehicles_by_lane": dict(result.counter.totals()),
        "vehicles_total": len(result.counter.crossings),
        "partial": result.error is not None,
        "error": result.error,
        **(settings or {}),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


__all__ = ["PipelineInterrupted", "PipelineResult", "run_pipeline", "write_outputs"]
