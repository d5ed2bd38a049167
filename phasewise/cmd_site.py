"""``phasewise site draw``: a site configuration drawn over a video frame, to check by eye."""

from __future__ import annotations

from pathlib import Path

import cv2
import typer

from calibration.draw import draw_site
from calibration.site import load_site
from phasewise.app import app
from phasewise_errors import VideoError
from vision.video import VideoFile

site_app = typer.Typer(help="Camera site configuration (lanes, stop lines, homography).", no_args_is_help=True)
app.add_typer(site_app, name="site")


@site_app.command("draw")
def draw(
    site_file: Path = typer.Argument(..., help="site YAML"),
    frame: Path = typer.Option(..., "--frame", help="video (or image) to draw on"),
    out: Path = typer.Option(Path("out/site.png"), "--out", help="PNG to write"),
    frame_index: int = typer.Option(0, "--frame-index", help="which video frame to use"),
) -> None:
    """Draw lanes, stop lines, directions and the homography's 5 m grid over one frame."""
    site = load_site(site_file)
    image = cv2.imread(str(frame)) if frame.suffix.lower() in {".png", ".jpg", ".jpeg"} else None
    if image is None:
        video = VideoFile(frame, max_frames=frame_index + 1)
        for f in video:
            image = f.image
        video.close()
    if image is None:
        raise VideoError(f"no frame {frame_index} in {frame}")
    site.check_frame_size(image.shape[1], image.shape[0], str(frame))
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), draw_site(image, site)):
        raise VideoError(f"cannot write {out}")
    typer.echo(f"wrote {out}")
