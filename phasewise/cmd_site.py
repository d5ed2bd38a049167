"""``phasewise site``: ``draw`` a site configuration over a video frame, to check it by eye;
``suggest`` one from the vehicles tracked in a stretch of video (:mod:`counting.site_suggest`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import typer

from calibration.draw import draw_site
from calibration.site import load_site
from phasewise.app import app
from phasewise.cmd_replay import default_weights, stride_multiple
from phasewise.options import positive
from phasewise.outputs import atomic_path, output_file, write_text_atomic
from phasewise_errors import ConfigError, VideoError
from vision.video import Frame, VideoFile

SUGGEST_SECONDS = 180.0  # a few minutes: enough vehicles in every lane, and a red or two at a signal

site_app = typer.Typer(help="Camera site configuration (lanes, stop lines, homography).", no_args_is_help=True)
app.add_typer(site_app, name="site")


@site_app.command("draw")
def draw(
    site_file: Path = typer.Argument(..., help="site YAML"),
    frame: Path = typer.Option(..., "--frame", help="video (or image) to draw on"),
    out: Path = typer.Option(Path("out/site.png"), "--out", help="PNG to write"),
    frame_index: int = typer.Option(0, "--frame-index", min=0, help="which video frame to use (0 = first)"),
) -> None:
    """Draw lanes, stop lines, directions and the homography's 5 m grid over one frame."""
    site = load_site(site_file)
    if out.suffix.lower() not in {".png", ".jpg", ".jpeg"}:
        raise ConfigError(f"--out {out}: give a .png or .jpg file name")
    output_file(out, "--out")
    image = cv2.imread(str(frame)) if frame.suffix.lower() in {".png", ".jpg", ".jpeg"} else None
    if image is None:
        video = VideoFile(frame, max_frames=frame_index + 1)
        last = -1
        for f in video:
            image, last = f.image, f.index
        video.close()
        if last != frame_index:
            raise VideoError(f"{frame} has no frame {frame_index}: it ends after frame {last} "
                             f"(--frame-index counts from 0)")
    elif frame_index:
        raise ConfigError(f"--frame-index {frame_index}: {frame} is a single image (use 0)")
    site.check_frame_size(image.shape[1], image.shape[0], str(frame))
    with atomic_path(out) as tmp:
        if not cv2.imwrite(str(tmp), draw_site(image, site)):
            raise VideoError(f"cannot write {out}")
    typer.echo(f"wrote {out}")


@site_app.command("suggest")
def suggest(
    video: Path = typer.Argument(..., help="video file of the camera (a few minutes of ordinary traffic)"),
    out: Path = typer.Option(Path("out/site.yaml"), "--out", help="site YAML to write"),
    seconds: float = typer.Option(SUGGEST_SECONDS, "--seconds", callback=positive,
                                  help="how much video to track, from its start (the whole clip if shorter)"),
    weights: str = typer.Option(None, "--weights", help="detector weights (.pt, .onnx, OpenVINO folder); default "
                                "$PHASEWISE_WEIGHTS or $PHASEWISE_SHARED/models/yolo11n_int8_openvino_model"),
    backend: str = typer.Option("lean", "--backend", help="detector runtime: lean or ultralytics"),
    imgsz: int = typer.Option(640, "--imgsz", min=32, max=4096, callback=stride_multiple,
                              help="network input size, a multiple of 32"),
    conf: float = typer.Option(0.25, "--conf", min=0.0, max=1.0, callback=positive,
                               help="minimum detection confidence, above 0 up to 1 (0.15 for dense two-wheelers)"),
    camera: str = typer.Option(None, "--camera", help="the site's camera name (default: the video's file name)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Propose lanes, stop lines, approach directions and exit lines from the tracked vehicles;
    check and correct the proposal with `phasewise site draw`."""
    from counting.site_suggest import site_yaml, suggest_site
    from counting.trajectories import record_trajectories
    from vision.detector import load_detector

    if out.suffix.lower() not in {".yaml", ".yml"}:
        raise ConfigError(f"--out {out}: give a .yaml file name")
    output_file(out, "--out")
    frames = VideoFile(video)
    frames.max_frames = max(1, round(seconds * frames.fps))
    detector = load_detector(weights, backend=backend, imgsz=imgsz, conf=conf, default_weights=default_weights())
    total = frames.expected_frames or frames.max_frames
    source = frames if quiet else _with_progress(frames, total, f"tracking {video.name}")
    trajectories = record_trajectories(source, detector)
    frames.close()
    proposal = suggest_site(trajectories, camera=camera or video.stem)
    write_text_atomic(out, site_yaml(proposal, video.name), "--out")
    for line in proposal.summary():
        typer.echo(line)
    lanes, exits = len(proposal.site.lanes), len(proposal.site.exits)
    typer.echo(f"wrote {out}: {lanes} lane{'s' * (lanes != 1)}, {exits} exit{'s' * (exits != 1)} from "
               f"{proposal.tracks_used} vehicle tracks in {trajectories.video_s:.0f} s of video; check it with "
               f"phasewise site draw {out} --frame {video}")


def _with_progress(frames: VideoFile, total: int, label: str) -> Iterator[Frame]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total} frames"),
                  TimeRemainingColumn(), transient=True) as progress:
        task = progress.add_task(label, total=total)
        for frame in frames:
            yield frame
            progress.update(task, completed=frame.index + 1)
