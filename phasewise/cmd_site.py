"""``phasewise site draw``: a site configuration drawn over a video frame, to check by eye."""

from __future__ import annotations

from pathlib import Path

import cv2
import typer

from calibration.draw import draw_site
from calibration.site import load_site
from phasewise.app import app
from phasewise.outputs import atomic_path, output_file
from phasewise_errors import ConfigError, VideoError
from vision.video import VideoFile

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
