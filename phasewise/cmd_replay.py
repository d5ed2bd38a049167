"""``phasewise replay``: recorded or live video in, per-lane counts and queues out.

The pipeline itself (decode -> detect -> track -> count, and the files it writes) is
:mod:`counting.pipeline`; this module is the command around it. Output files in ``--out``: ``counts.csv`` (bin_start, bin_s, lane, class, count, pcu,
flow_veh_h; one row per bin x lane x class), ``queue.csv`` (one row per processed frame and
lane), ``queue_bins.csv``, ``turns.csv`` (if the site has exits), ``summary.json`` and,
with ``--video-out``, ``annotated.mp4``. They are written to a staging folder and moved into
``--out`` together, so the folder always holds one run's files. A run that ends early (the
input breaks off, a truncated file, Ctrl-C) still writes what it counted, with
``"partial": true`` and the reason in ``summary.json``; where ``--out`` holds a complete run,
the partial one goes beside it, to ``OUT.partial`` (:func:`commit_run`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import cv2
import typer

from calibration.draw import draw_site
from calibration.site import SiteConfig, line_site, load_site
from counting.binning import BIN_15_MIN_S
from counting.counter import SiteCounter
from counting.intersection_report import (
    INTERRUPTED,
    REPORT_FILES,
    play,
    write_intersection_report,
)
from counting.pipeline import (
    PipelineInterrupted,
    PipelineResult,
    run_pipeline,
    write_outputs,
)
from counting.settings_probe import choose_settings
from counting.video_source import VideoCameraSource
from phasewise.app import app
from phasewise.options import positive
from phasewise.outputs import OutputFolder
from phasewise.scenarios import shared_dir
from phasewise_errors import ConfigError, VideoError
from vision.annotate import draw_tracks
from vision.detector import BACKENDS, Detector, load_detector
from vision.riders import RiderFusingDetector
from vision.tracker import DENSE_TRAFFIC, ByteTracker
from vision.video import Frame, VideoFile
from vision.video_metadata import creation_time

log = logging.getLogger(__name__)


def parse_line(spec: str) -> tuple[float, float, float, float]:
    """``"X1,Y1,X2,Y2"`` to four finite floats; ConfigError otherwise."""
    try:
        x1, y1, x2, y2 = (float(v) for v in spec.split(","))
    except ValueError as exc:
        raise ConfigError(f"--line must be X1,Y1,X2,Y2 in pixels, got {spec!r}") from exc
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ConfigError(f"--line must be four finite numbers, got {spec!r}")
    if (x1, y1) == (x2, y2):
        raise ConfigError("--line needs two different points")
    return x1, y1, x2, y2


def check_line_in_frame(line: tuple[float, float, float, float], width: int, height: int, source: str) -> None:
    """ConfigError if an end of the counting line lies outside the ``width`` x ``height`` frame."""
    for x, y in (line[:2], line[2:]):
        if not (0 <= x <= width and 0 <= y <= height):
            raise ConfigError(f"--line point ({x:g}, {y:g}) is outside the {width}x{height} frames of {source}; "
                              f"pixels run from (0, 0) top left to ({width}, {height})")


def truncation_error(frames: object) -> str | None:
    """Why a video file yielded fewer frames than it announced (truncated or corrupt), else None."""
    if not isinstance(frames, VideoFile) or not frames.expected_frames:
        return None
    seen = frames.frames_read + frames.frames_skipped + frames.bad_frames
    if seen >= frames.expected_frames:
        return None
    return f"{frames.path.name} ended after {seen} of {frames.expected_frames} frames (truncated or corrupt?)"


def open_source(spec: str, *, every: int, max_frames: int | None, duration_s: float | None) -> tuple[Iterable[Frame], int, int, int | None]:
    """A frame source for a file path, URL or device number, with its frame size and length."""
    from vision.stream import LiveStream, is_stream_spec, open_capture, opencv_quiet

    if is_stream_spec(spec) and not Path(spec).exists():
        stream = LiveStream(spec, max_duration_s=duration_s)
        cap = open_capture(int(spec) if spec.isdigit() else spec)
        with opencv_quiet():
            ok, first = cap.read()
        cap.release()
        if not ok or first is None:
            if spec.isdigit():
                raise VideoError(f"cannot read from camera device {spec} (/dev/video{spec}: no such camera, or "
                                 "another program holds it)")
            raise VideoError(f"cannot read from stream {spec}")
        h, w = first.shape[:2]
        return stream, w, h, None
    video = VideoFile(spec, max_frames=max_frames, every=every)
    return video, video.width, video.height, video.expected_frames


class _Annotator:
    """Writes annotated frames: site overlay, tracked boxes with ids, live counts per lane."""

    def __init__(self, path: Path, site: SiteConfig, fps: float, size: tuple[int, int]) -> None:
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise VideoError(f"cannot write annotated video {path}")
        self.site = site

    def __call__(self, frame: Frame, tracks: object, counter: SiteCounter) -> None:
        img = draw_site(frame.image, self.site, counts=dict(counter.totals()), grid_step_m=1e9)
        draw_tracks(img, tracks, counted=counter.stop_lines.counted_ids)  # type: ignore[arg-type]
        cv2.putText(img, f"t={frame.t_s:6.1f}s  total={len(counter.crossings)}", (10, img.shape[0] - 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        self.writer.write(img)

    def close(self) -> None:
        self.writer.release()


DETECTOR_STRIDE = 32  # YOLO and YOLOX downsample by 32: their input is a multiple of it
# Measured on ca_arterial (640 px, 27 vehicles; README, Vision): all found at input 256
# (2.5x smaller), 23 at 192, 6 at 128: shrinking a frame more than this loses vehicles.
MAX_SHRINK = 2.5
PARTIAL_SUFFIX = ".partial"  # a partial run beside a complete one: OUT.partial
START_YEARS = (1970, 2200)  # --start: a recording's wall-clock time, [first, last + 1)

REPLAY_FILES = ("counts.csv", "queue.csv", "queue_bins.csv", "turns.csv", "summary.json", "annotated.mp4",
                *REPORT_FILES)


def default_weights() -> Path:
    """The YOLO11n INT8 OpenVINO export in the shared data folder (``$PHASEWISE_SHARED``)."""
    return shared_dir() / "models" / "yolo11n_int8_openvino_model"


def stride_multiple(value: int | None) -> int | None:
    """``--imgsz``: a multiple of the detectors' stride (32), as Ultralytics needs; None passes."""
    if value is not None and value % DETECTOR_STRIDE:
        lower = max(DETECTOR_STRIDE, value // DETECTOR_STRIDE * DETECTOR_STRIDE)
        raise typer.BadParameter(f"{value} is not a multiple of {DETECTOR_STRIDE} (the network's stride); "
                                 f"give e.g. {lower} or {lower + DETECTOR_STRIDE}")
    return value


def warn_small_input(imgsz: int | None, width: int, height: int) -> None:
    """A warning when ``--imgsz`` shrinks the frame so much that vehicles get lost (README, Vision)."""
    if imgsz is not None and max(width, height) / imgsz > MAX_SHRINK:
        log.warning("--imgsz %d shrinks the %dx%d frames %.1f times: small vehicles are then missed (on the "
                    "640-px arterial clip 6 of 27 are found at 128, all at 256); give %d or more, or leave "
                    "--imgsz out", imgsz, width, height, max(width, height) / imgsz,
                    math.ceil(max(width, height) / MAX_SHRINK / DETECTOR_STRIDE) * DETECTOR_STRIDE)


@app.command()
def replay(
    video: str = typer.Argument(..., help="video file, or a live stream: rtsp://..., http://..., or a device number"),
    site_file: Path = typer.Option(None, "--site", help="site YAML (lanes, stop lines, homography)"),
    out: Path = typer.Option(Path("out/replay"), "--out", help="output folder (a run cut short where a complete "
                             "one is goes beside it, to OUT.partial)"),
    line: str = typer.Option(None, "--line", help="quick count without a site: X1,Y1,X2,Y2 image line (lane 'line')"),
    weights: str = typer.Option(None, "--weights", help="detector weights (.pt, .onnx, OpenVINO folder); default "
                                "$PHASEWISE_WEIGHTS or $PHASEWISE_SHARED/models/yolo11n_int8_openvino_model"),
    backend: str = typer.Option("lean", "--backend", help=f"detector runtime: {' or '.join(BACKENDS)}"),
    imgsz: int = typer.Option(None, "--imgsz", min=32, max=4096, callback=stride_multiple,
                              help="network input size, a multiple of 32 (default: 640, or 320 for video up to 640 "
                              "px wide where a sample of the video shows it finds what 640 finds; YOLOX-Nano is "
                              "fixed 416)"),
    conf: float = typer.Option(0.25, "--conf", min=0.0, max=1.0, callback=positive,
                               help="minimum detection confidence, above 0 up to 1"),
    detect_every: int = typer.Option(None, "--detect-every", min=1, max=1000,
                                     help="detect on every n-th frame (files only; default 1, or 2 at 20 fps or "
                                     "more where a sample of the video shows the tracker keeps every vehicle)"),
    bin_s: int = typer.Option(BIN_15_MIN_S, "--bin-s", min=1, max=86400,
                              help="count bin length in seconds (900 = 15 min, 60 = 1 min)"),
    video_out: bool = typer.Option(False, "--video-out", help="also write annotated.mp4"),
    max_frames: int = typer.Option(None, "--max-frames", min=1, help="stop after this many frames (files)"),
    duration_s: float = typer.Option(None, "--duration-s", callback=positive,
                                     help="stop a live stream after this many seconds"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    intersection: bool = typer.Option(False, "--intersection", help="signalised intersection camera: also write "
                                      "turning_movements.csv, discharge.csv, red_light_runners.csv, demand.csv and "
                                      "queue_profile.png (counting.intersection_report); use --conf 0.15"),
    start: str = typer.Option(None, "--start", help="wall-clock time of the first frame for turning_movements.csv, "
                              "e.g. 2022-09-25T16:15:44 (default: the creation time the MP4/MOV file records, "
                              "else times relative to the first frame)"),
) -> None:
    """Count vehicles per lane and class in a video; write counts.csv, queue.csv and more to --out."""
    if (site_file is None) == (line is None):
        raise ConfigError("give exactly one of --site SITE.yaml or --line X1,Y1,X2,Y2")
    if intersection and (site_file is None or video_out):
        raise ConfigError("--intersection needs --site SITE.yaml and does not write --video-out yet")
    counting_line = parse_line(line) if line is not None else None
    site = load_site(site_file) if site_file is not None else None
    first_frame, first_frame_from = _start_time(start, video)
    with OutputFolder(out, "--out", managed=REPLAY_FILES) as folder:
        frames, width, height, expected = open_source(video, every=detect_every or 1, max_frames=max_frames,
                                                      duration_s=duration_s)
        if imgsz is not None:
            warn_small_input(imgsz, width, height)
        if counting_line is not None:
            check_line_in_frame(counting_line, width, height, video)
            site = line_site(*counting_line, width, height)
        assert site is not None
        site.check_frame_size(width, height, video)
        load = _detectors(weights, backend, conf)
        # measured on the input itself (counting.settings_probe): cheap only where it loses nothing
        probe = choose_settings(frames, site, load, imgsz=imgsz, detect_every=detect_every, intersection=intersection)
        imgsz, detect_every = probe.imgsz, probe.detect_every
        detector = load(imgsz)
        tracker = None
        if probe.dense_traffic and not intersection:  # as --intersection tracks packed two-wheelers
            detector, tracker = RiderFusingDetector(detector), ByteTracker(DENSE_TRAFFIC)
        annotator = None
        if video_out:
            fps = getattr(frames, "fps", 25.0) / max(detect_every, 1)
            annotator = _Annotator(folder.path("annotated.mp4"), site, fps, (width, height))
        interrupted: PipelineInterrupted | None = None
        with _held_warnings("vision.video", __name__) as held:
            try:
                if intersection:
                    # the lanes once a second at twice the size: a packed two-wheeler queue is found
                    zoom = load_detector(weights, backend=backend, imgsz=2 * (imgsz or 640), conf=conf,
                                         default_weights=default_weights())
                    result = _run_intersection(frames, detector, zoom, site, folder.staging, first_frame)
                    if result.error == INTERRUPTED:
                        raise PipelineInterrupted(result)
                else:
                    result = _run_with_progress(frames, detector, site, expected, quiet, annotator, tracker)
            except PipelineInterrupted as exc:
                interrupted, result = exc, exc.result
            finally:
                if annotator is not None:
                    annotator.close()
        result.error = result.error or truncation_error(frames)
        if result.error is None:  # otherwise the one error line below says it
            for record in held:
                logging.getLogger(record.name).handle(record)
        summary = write_outputs(result, site, folder.staging, bin_s=bin_s, source=video,
                                settings={"imgsz": getattr(detector, "imgsz", imgsz), "detect_every": detect_every,
                                          "settings_probe": probe.as_dict(),
                                          "start": first_frame.isoformat() if first_frame else None,
                                          "start_from": first_frame_from})
        written = commit_run(folder, out, partial=bool(summary["partial"]))
    by_lane = ", ".join(f"{k}={v}" for k, v in sorted(summary["vehicles_by_lane"].items())) or "none"  # type: ignore[union-attr]
    kept = f"; the complete run in {out} is kept" if written != out else ""
    partial = f" (partial{kept})" if summary["partial"] else ""
    typer.echo(f"{summary['vehicles_total']} vehicles ({by_lane}) in {summary['video_s']} s of video, "
               f"{summary['fps']} fps; wrote {written}/counts.csv{partial}")
    if interrupted is not None:
        raise KeyboardInterrupt from interrupted
    if result.error:
        raise VideoError(f"{result.error} (partial counts written to {written}{kept})")


def holds_complete_run(out: Path) -> bool:
    """Whether ``out`` holds a replay that ran to its end (``summary.json`` with ``"partial": false``)."""
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("partial") is False


def commit_run(folder: OutputFolder, out: Path, *, partial: bool) -> Path:
    """Move the staged run into ``out``, where it goes; the folder it went to.

    A partial run never replaces a complete one: it goes beside it, to ``OUT.partial``
    (replacing an earlier partial run there)."""
    if not partial or not holds_complete_run(out):
        folder.commit()
        return out
    beside = out.with_name(out.name + PARTIAL_SUFFIX)
    with OutputFolder(beside, "--out", managed=REPLAY_FILES) as partial_folder:
        for staged in sorted(folder.staging.iterdir()):
            os.replace(staged, partial_folder.path(staged.name))
        partial_folder.commit()
    return beside


def _detectors(weights: str | None, backend: str, conf: float) -> Callable[[int | None], Detector]:
    """``load(imgsz)``: the detector at that input size (None: the model's own), each loaded once."""
    loaded: dict[int | None, Detector] = {}

    def load(imgsz: int | None) -> Detector:
        if imgsz not in loaded:
            loaded[imgsz] = load_detector(weights, backend=backend, imgsz=imgsz, conf=conf,
                                          default_weights=default_weights())
        return loaded[imgsz]

    return load


def _start_time(start: str | None, video: str) -> tuple[datetime | None, str]:
    """The wall-clock time of the first frame and where it comes from: ``--start``; for a file
    the creation time it records (``vision.video_metadata``), else None: ``relative`` (times
    are seconds from the first frame, never this machine's clock); for a live stream, now."""
    if start is not None:
        try:
            when = datetime.fromisoformat(start)
        except ValueError as exc:
            raise ConfigError(f"--start must be an ISO date and time like 2022-09-25T16:15:44, got {start!r}") from exc
        if not START_YEARS[0] <= when.year < START_YEARS[1]:
            # the 15-min bins after it must stay dates (year 9999 ends within the clip)
            raise ConfigError(f"--start {start}: give a time in the years {START_YEARS[0]}-{START_YEARS[1] - 1}, "
                              "when the video was recorded")
        return when, "--start"
    if not Path(video).is_file():
        return datetime.now(), "clock (live stream)"
    recorded = creation_time(video)
    if recorded is not None:
        return recorded.replace(tzinfo=None), "container creation_time (UTC)"
    return None, "relative"


def _run_intersection(frames: Iterable[Frame], detector: Detector, zoom: Detector, site: SiteConfig, out_dir: Path,
                      start: datetime | None) -> PipelineResult:
    """The intersection camera pipeline (``counting.video_source``) and its report files, also
    when Ctrl-C ends it (``error`` is then :data:`INTERRUPTED`)."""
    source = VideoCameraSource(frames, detector, site, zoom_detector=zoom)
    estimate, error = play(source)
    write_intersection_report(source, out_dir, start=start, estimate=estimate)
    b = source.builder
    return PipelineResult(counter=b.counter, queue_samples=b.queue_samples, frames=source.frames_seen,
                          processed=source.processed, seconds=source.seconds, video_s=source.video_s, error=error)


@contextmanager
def _held_warnings(*logger_names: str) -> Iterator[list[logging.LogRecord]]:
    """Collect what these loggers emit meanwhile instead of showing it; the caller decides."""
    records: list[logging.LogRecord] = []

    class _Hold(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    loggers = [logging.getLogger(name) for name in logger_names]
    hold = _Hold()
    saved = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(hold)
        logger.propagate = False
    try:
        yield records
    finally:
        for logger, propagate in zip(loggers, saved):
            logger.removeHandler(hold)
            logger.propagate = propagate


def _run_with_progress(frames: Iterable[Frame], detector: Detector, site: SiteConfig, expected: int | None,
                       quiet: bool, annotator: _Annotator | None, tracker: ByteTracker | None = None) -> PipelineResult:
    if quiet:
        return run_pipeline(frames, detector, site, tracker=tracker, annotate=annotator)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("replay"), BarColumn(), TextColumn("{task.completed}/{task.total} frames"),
               TextColumn("{task.fields[fps]:.1f} fps"), TextColumn("{task.fields[veh]} veh"),
               TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("replay", total=expected, fps=0.0, veh=0)

        def tick(frame: Frame, res: PipelineResult) -> None:
            progress.update(task, completed=res.frames, fps=res.fps, veh=len(res.counter.crossings))

        return run_pipeline(frames, detector, site, tracker=tracker, on_frame=tick, annotate=annotator)


__all__ = ["PipelineInterrupted", "PipelineResult", "parse_line", "replay", "run_pipeline", "write_outputs"]
