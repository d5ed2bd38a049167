"""Replay outputs for an intersection camera: the files a traffic engineer reads.

``write_intersection_report(source, out_dir, start=...)`` after a
:class:`~counting.video_source.VideoCameraSource` has played a video (and the estimator has
seen its frames) writes into ``out_dir``:

* ``turning_movements.csv``: 15-min turning-movement counts (``DATE,TIME,INTID,NBL,...``,
  :mod:`counting.turning_movements`), vehicles; ``turning_movements_pcu.csv`` in PCU;
* ``discharge.csv``: one row per green (:mod:`counting.discharge`), and
  ``red_light_runners.csv``; only when the site reads a signal head;
* ``demand.csv``: the estimator's arrival rate per movement (veh/h, with its std);
* ``queue_profile.png``: vehicles stopped per lane over time, shaded by the signal state
  when the site reads a signal head.

``start`` is the wall-clock time of the first frame, or None when it is not known (the
turning-movement times are then relative, :mod:`counting.turning_movements`).

:func:`play` runs the source to its end, feeding every frame to a ``DemandEstimator``.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path

from counting.discharge import discharge_table, red_light_runners
from counting.estimator import DemandEstimator, TrafficEstimate
from counting.turning_movements import COLUMNS, tmc_rows
from counting.video_source import VideoCameraSource
from phasewise_errors import VideoError

REPORT_FILES = ("turning_movements.csv", "turning_movements_pcu.csv", "discharge.csv", "red_light_runners.csv",
                "demand.csv", "queue_profile.png")

SHADE = {"green": "#2ca02c", "yellow": "#ffbf00", "red": "#d62728"}


INTERRUPTED = "interrupted (Ctrl-C)"


def play(source: VideoCameraSource) -> tuple[TrafficEstimate | None, str | None]:
    """Run ``source`` to its end through a ``DemandEstimator``; (estimate, error).

    A video that breaks off, or Ctrl-C (error :data:`INTERRUPTED`), ends the run with the
    counts made so far and the error's text; the estimate is None when not a single step was
    played.
    """
    estimator = DemandEstimator(source.layouts.values())
    last_s, error = None, None
    try:
        for frames in source:
            for frame in frames.values():
                estimator.update(frame)
                last_s = frame.time_s
    except VideoError as exc:
        error = str(exc)
    except KeyboardInterrupt:
        error = INTERRUPTED
    return (None if last_s is None else estimator.estimate(last_s)), error


def write_intersection_report(source: VideoCameraSource, out_dir: Path, *, start: datetime | None,
                              estimate: TrafficEstimate | None = None, bin_s: int = 900) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    site, b = source.site, source.builder
    written = []
    for unit in ("veh", "pcu"):
        path = out_dir / ("turning_movements.csv" if unit == "veh" else "turning_movements_pcu.csv")
        rows = tmc_rows(b.movements, start=start, intersection_id=site.intersection_id or site.camera,
                        duration_s=source.video_s, bin_s=bin_s, unit=unit)
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)
        written.append(path)
    intervals = source.signal_intervals()
    if intervals:
        head_lanes = {h.id: list(h.lanes) or [lane.id for lane in site.lanes] for h in site.signal_heads}
        path = out_dir / "discharge.csv"
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["head", "green_start_s", "green_end_s", "onset_seen", "lanes", "queue_at_onset_veh",
                        "served_veh", "served_pcu", "saturation_flow_veh_h_lane", "saturation_flow_pcu_h_lane",
                        "startup_lost_time_s", "residual_queue_veh", "headways_s"])
            for r in discharge_table(intervals, head_lanes, b.movements, b.queue_samples):
                w.writerow([r.head, round(r.start_s, 2), round(r.end_s, 2), r.onset_seen, " ".join(r.lanes),
                            r.queue_at_onset_veh, r.served_veh, r.served_pcu, _num(r.saturation_flow_veh_h_lane),
                            _num(r.saturation_flow_pcu_h_lane), _num(r.startup_lost_time_s),
                            r.residual_queue_veh, " ".join(f"{h:.2f}" for h in r.headways_s)])
        written.append(path)
        path = out_dir / "red_light_runners.csv"
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["t_s", "lane", "turn", "class_id", "tracker_id"])
            for m in red_light_runners(intervals, head_lanes, b.movements):
                w.writerow([round(m.t_s, 2), m.lane, m.turn, m.class_id, m.tracker_id])
        written.append(path)
    if estimate is not None:
        path = out_dir / "demand.csv"
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["movement", "flow_veh_h", "std_veh_h"])
            for move, flow in estimate.flow_veh_h.items():
                w.writerow([move, round(flow, 1), round(estimate.std_veh_h[move], 1)])
        written.append(path)
    written.append(plot_queue_profile(source, out_dir / "queue_profile.png"))
    return written


def _num(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.1f}"


def plot_queue_profile(source: VideoCameraSource, path: Path) -> Path:
    """Vehicles stopped per lane over time, with the first signal head's state shaded when
    the site reads one; the title says which."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    shaded = ""
    for head, seq in list(source.signal_intervals().items())[:1]:
        for iv in seq:
            ax.axvspan(iv.start_s, iv.end_s, color=SHADE.get(iv.colour, "#cccccc"), alpha=0.15, lw=0)
        shaded = f" (shading: signal head {head} as read from the video)" if seq else ""
    lanes = [lane.id for lane in source.site.lanes]
    total: dict[float, int] = {}
    for lane in lanes:
        pts = [(s.t_s, s.stopped) for s in source.builder.queue_samples if s.lane == lane]
        for t_s, n_stopped in pts:
            total[t_s] = total.get(t_s, 0) + n_stopped
        if pts and any(n for _, n in pts):
            t, n = zip(*pts)
            ax.plot(t, n, lw=1.0, label=f"{lane} stopped")
    if total:
        ax.plot(list(total), list(total.values()), lw=2.0, color="black", label="all lanes")
    ax.set_xlabel("video time (s)")
    ax.set_ylabel("vehicles stopped in view")
    title = f"{source.site.camera}: vehicles stopped per lane{shaded}"
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:  # a run with nothing seen stopped has no line to name
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Title": title})  # the title as text too (PNG tEXt)
    plt.close(fig)
    return path
