"""Per-camera site configuration: lanes, stop lines, exits and the ground homography.

A site file is YAML, validated by pydantic at load; every error names the file, the field
and the fix. Coordinates are image pixels of the camera's full-resolution frame.

Example (``calibration/sites/nl_highway_overpass.yaml``)::

    camera: nl_highway_overpass
    frame_size: [1280, 720]
    homography:
      image_px: [[570, 60], [690, 60], [1000, 700], [130, 700]]
      ground_m: [[0, 160], [11, 160], [11, 0], [0, 0]]
    lanes:
      - id: sb_3
        approach: southbound
        movements: [through]          # what the lane serves: left, through, right, uturn
        sumo_lane: "-E1_2"            # optional
        polygon: [[650, 100], [700, 100], [900, 700], [640, 700]]
        stop_line: [[600, 450], [800, 450]]
        direction: [0, 1]             # image direction of travel (here: down the frame)

Optional: ``exits`` (lines where vehicles leave toward one turn), ``junction`` (the
junction box polygon, where vehicles that crossed the stop line may stand) and
``signal_heads`` (an image box around the approach's signal head, read for its lamp colour)
and ``crosswalks`` (where persons wait to cross: for pedestrian calls)::

    crosswalks:
      - crossing: ":J0_c3"            # the network's crossing (its SUMO crossing edge id)
        waiting_areas:                # the kerb corners where people stand to cross
          - [[20, 330], [90, 330], [90, 420], [20, 420]]

Turns are the optimizer's vocabulary (:data:`optimizer.intersection.Turn`: left, through,
right, uturn). Older files spelled a lane's turns as one ``movement`` (``through_left``,
``u_turn``, ``all``); they still load, with a ``DeprecationWarning`` naming the new spelling.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from calibration.geometry import polygon_self_intersects, side_of_line
from calibration.homography import Homography
from optimizer.intersection import Turn
from phasewise_errors import ConfigError

Point = tuple[float, float]
TURNS: tuple[Turn, ...] = get_args(Turn)

# Old single-``movement`` spellings -> the turns they meant.
LEGACY_MOVEMENTS: dict[str, tuple[Turn, ...]] = {
    "u_turn": ("uturn",),
    "through_left": ("through", "left"),
    "through_right": ("through", "right"),
    "all": TURNS,
}


def _legacy_turns(value: Any, where: str) -> Any:
    """Map an old turn spelling to the new one (with a DeprecationWarning); others unchanged."""
    if isinstance(value, str) and value in LEGACY_MOVEMENTS:
        new = list(LEGACY_MOVEMENTS[value])
        warnings.warn(f"{where}: turn {value!r} is deprecated; write {new}", DeprecationWarning, stacklevel=4)
        return new
    return [value] if isinstance(value, str) else value


def _polygon_problem(v: Sequence[Point], what: str) -> str:
    """Why ``v`` is not a usable zone polygon ('' when it is); ``what`` it outlines."""
    if len(v) < 3:
        return f"needs at least 3 points, got {len(v)}"
    if polygon_self_intersects(v):
        return f"is self-intersecting; list its corners in order around the {what}"
    return ""


class _Strict(BaseModel):
    # allow_inf_nan=False: YAML reads .nan/.inf as numbers, and a NaN direction counts nothing.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class LaneConfig(_Strict):
    """One lane as the camera sees it."""

    id: str = Field(min_length=1)
    approach: str = Field(min_length=1, description="e.g. northbound, or the approach name used by the optimizer")
    movements: tuple[Turn, ...] = Field(("through",), min_length=1,
                                        description="turns the lane serves: left, through, right, uturn")
    sumo_lane: str | None = None
    polygon: list[Point] = Field(description="lane zone, >= 3 image points, not self-intersecting")
    stop_line: tuple[Point, Point] = Field(description="segment across the lane; a crossing counts one vehicle")
    direction: Point = Field(description="image direction of travel, e.g. [0, 1] for down the frame")
    bidirectional: bool = Field(False, description="count crossings in both directions (a plain counting line)")

    @model_validator(mode="before")
    @classmethod
    def _legacy_movement(cls, data: Any) -> Any:
        if isinstance(data, dict) and "movement" in data:
            if "movements" in data:
                raise ValueError("give movements (a list of turns), not both movement and movements")
            data = dict(data)
            data["movements"] = _legacy_turns(data.pop("movement"), f"lane {data.get('id', '?')}")
        return data

    @field_validator("polygon")
    @classmethod
    def _polygon_ok(cls, v: list[Point]) -> list[Point]:
        why = _polygon_problem(v, "lane")
        if why:
            raise ValueError(why)
        return v

    @field_validator("direction")
    @classmethod
    def _direction_ok(cls, v: Point) -> Point:
        if np.hypot(*v) < 1e-9:
            raise ValueError("must be a non-zero vector, e.g. [0, 1] for traffic moving down the image")
        return v

    @model_validator(mode="after")
    def _direction_crosses_stop_line(self) -> LaneConfig:
        a, b = np.asarray(self.stop_line[0]), np.asarray(self.stop_line[1])
        if np.hypot(*(b - a)) < 1e-9:
            raise ValueError(f"lane {self.id}: stop_line has two equal points")
        if abs(float(side_of_line([a + np.asarray(self.direction)], a, b)[0])) < 1e-9:
            raise ValueError(f"lane {self.id}: direction runs along the stop line; it must cross it")
        return self

    def after_side_sign(self) -> float:
        """Sign of ``side_of_line`` on the side a vehicle reaches after crossing the stop line."""
        a, b = np.asarray(self.stop_line[0]), np.asarray(self.stop_line[1])
        return float(np.sign(side_of_line([a + np.asarray(self.direction)], a, b)[0]))


class ExitConfig(_Strict):
    """A line where vehicles leave toward one turn (for turning-movement counts)."""

    id: str = Field(min_length=1)
    movement: Turn
    line: tuple[Point, Point]

    @field_validator("movement", mode="before")
    @classmethod
    def _legacy_turn(cls, v: Any) -> Any:
        if v == "u_turn":
            warnings.warn("exit movement 'u_turn' is deprecated; write 'uturn'", DeprecationWarning, stacklevel=4)
            return "uturn"
        return v


class SignalHeadConfig(_Strict):
    """An image box around one signal head (and its countdown, if any) that shows the lanes' light.

    ``box`` is ``[x1, y1, x2, y2]`` in pixels, drawn tight around the lamps: every lit pixel
    inside it is read as the head's colour (:mod:`vision.signal_head`).
    """

    id: str = Field(min_length=1)
    box: tuple[int, int, int, int]
    lanes: tuple[str, ...] = Field(default=(), description="lanes it controls; empty = every lane")

    @field_validator("box")
    @classmethod
    def _box_ok(cls, v: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        if v[2] <= v[0] or v[3] <= v[1]:
            raise ValueError(f"must be [x1, y1, x2, y2] with x2 > x1 and y2 > y1, got {list(v)}")
        return v


class CrosswalkConfig(_Strict):
    """A signalised pedestrian crossing the camera sees the ends of: persons standing in one of
    its ``waiting_areas`` (image polygons at the kerb) wait to cross it.

    ``crossing`` names the crossing as the network does: its SUMO crossing edge id (e.g.
    ``:J0_c3``; ``phasewise run`` checks it and lists the network's crossings otherwise)."""

    crossing: str = Field(min_length=1)
    waiting_areas: list[list[Point]] = Field(min_length=1, description="kerb areas where persons wait, "
                                             "each >= 3 image points, not self-intersecting")

    @field_validator("waiting_areas")
    @classmethod
    def _areas_ok(cls, v: list[list[Point]]) -> list[list[Point]]:
        for k, area in enumerate(v):
            why = _polygon_problem(area, "area")
            if why:
                raise ValueError(f"waiting area {k} {why}")
        return v


class HomographyConfig(_Strict):
    image_px: list[Point] = Field(min_length=4)
    ground_m: list[Point] = Field(min_length=4)


class SiteConfig(_Strict):
    """Everything phasewise knows about one camera."""

    camera: str = Field(min_length=1)
    frame_size: tuple[int, int] = Field(description="width, height in pixels of the frames the points refer to")
    homography: HomographyConfig | None = None
    lanes: list[LaneConfig] = Field(min_length=1)
    exits: list[ExitConfig] = Field(default_factory=list)
    junction: list[Point] | None = Field(None, description="junction box polygon (vehicles past the stop lines)")
    signal_heads: list[SignalHeadConfig] = Field(default_factory=list)
    crosswalks: list[CrosswalkConfig] = Field(default_factory=list, description="where persons wait to cross "
                                              "(pedestrian calls); none: the controller's pedestrian recall")
    intersection_id: str | None = Field(None, description="INTID of the turning-movement count files")
    min_spacing_m: float = Field(4.0, gt=0, description="lane length one vehicle takes in a standing queue "
                                 "(4 m cars; ~0.5 m where two-wheelers stand four abreast)")

    @model_validator(mode="after")
    def _inside_frame_and_unique(self) -> SiteConfig:
        w, h = self.frame_size
        ids = [lane.id for lane in self.lanes]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"lane ids must be unique; repeated: {', '.join(dupes)}")
        for lane in self.lanes:
            for field, pts in (("polygon", lane.polygon), ("stop_line", list(lane.stop_line))):
                outside = [p for p in pts if not (0 <= p[0] <= w and 0 <= p[1] <= h)]
                if outside:
                    raise ValueError(
                        f"lane {lane.id}: {field} point {list(outside[0])} is outside the {w}x{h} frame"
                    )
        for ex in self.exits:
            for p in ex.line:
                if not (0 <= p[0] <= w and 0 <= p[1] <= h):
                    raise ValueError(f"exit {ex.id}: line point {list(p)} is outside the {w}x{h} frame")
        for head in self.signal_heads:
            if head.box[2] > w or head.box[3] > h or min(head.box) < 0:
                raise ValueError(f"signal head {head.id}: box {list(head.box)} is outside the {w}x{h} frame")
            unknown = sorted(set(head.lanes) - set(ids))
            if unknown:
                raise ValueError(f"signal head {head.id}: unknown lanes {', '.join(unknown)}; use lane ids")
        crossings = [c.crossing for c in self.crosswalks]
        repeated = sorted({c for c in crossings if crossings.count(c) > 1})
        if repeated:
            raise ValueError(f"crosswalks: crossing {', '.join(repeated)} is listed twice; give one entry "
                             "with all its waiting_areas")
        for k, crosswalk in enumerate(self.crosswalks):
            for j, area in enumerate(crosswalk.waiting_areas):
                outside = [p for p in area if not (0 <= p[0] <= w and 0 <= p[1] <= h)]
                if outside:
                    raise ValueError(f"crosswalks.{k} ({crosswalk.crossing}): waiting area {j} point "
                                     f"{list(outside[0])} is outside the {w}x{h} frame")
        if self.junction is not None and (len(self.junction) < 3 or polygon_self_intersects(self.junction)):
            raise ValueError("junction must be a polygon of >= 3 points, not self-intersecting")
        if self.homography is not None:
            Homography.from_points(self.homography.image_px, self.homography.ground_m)
        return self

    def head_of(self, lane_id: str) -> SignalHeadConfig | None:
        """The signal head that controls ``lane_id`` (None when the site reads none)."""
        for head in self.signal_heads:
            if not head.lanes or lane_id in head.lanes:
                return head
        return None

    def ground(self) -> Homography | None:
        if self.homography is None:
            return None
        return Homography.from_points(self.homography.image_px, self.homography.ground_m)

    def lane(self, lane_id: str) -> LaneConfig:
        for lane in self.lanes:
            if lane.id == lane_id:
                return lane
        raise ConfigError(f"site {self.camera} has no lane {lane_id!r}")

    def check_frame_size(self, width: int, height: int, source: str) -> None:
        """ConfigError if the video's frames are not the size the site was drawn on."""
        if (width, height) != tuple(self.frame_size):
            raise ConfigError(
                f"site {self.camera} was drawn on {self.frame_size[0]}x{self.frame_size[1]} frames but "
                f"{source} is {width}x{height}; redraw the site or fix frame_size"
            )


def load_site(path: str | Path) -> SiteConfig:
    """Read and validate a site YAML file; ConfigError naming file, field and fix otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"site file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the site file as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with camera, frame_size and lanes")
    try:
        return SiteConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{path}: {where}: {msg}{more}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def line_site(x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> SiteConfig:
    """A site with one counting line and no lanes drawn: ``--line X1,Y1,X2,Y2``.

    The lane zone is the whole frame and crossings in both directions count.
    """
    dx, dy = x2 - x1, y2 - y1
    return SiteConfig(
        camera="line",
        frame_size=(width, height),
        lanes=[LaneConfig(
            id="line", approach="line", movements=TURNS, bidirectional=True,
            polygon=[(0, 0), (width, 0), (width, height), (0, height)],
            stop_line=((x1, y1), (x2, y2)),
            direction=(-dy, dx),
        )],
    )


class _FlowDumper(yaml.SafeDumper):
    """Points and lists of points in flow style: ``[30, 293]``, ``[[30, 293], [193, 305]]``."""


def _flow_lists(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    scalars = all(not isinstance(v, (list, dict)) for v in data)
    points = all(isinstance(v, list) and all(not isinstance(x, (list, dict)) for x in v) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=bool(data) and (scalars or points))


_FlowDumper.add_representer(list, _flow_lists)


def _whole(v: Any) -> Any:
    """Floats that are whole numbers as ints, inside lists and dicts."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [_whole(x) for x in v]
    if isinstance(v, dict):
        return {k: _whole(x) for k, x in v.items()}
    return v


def dump_site(site: SiteConfig, comments: Sequence[str] = ()) -> str:
    """``site`` as site-file YAML (what :func:`load_site` reads back), points in flow style and
    whole pixels as integers, after ``comments`` as ``#`` lines; fields left at their
    defaults are left out."""
    raw = _whole(site.model_dump(mode="json", exclude_defaults=True))
    raw["frame_size"] = list(site.frame_size)
    for lane in raw.get("lanes", []):
        lane.setdefault("movements", list(LaneConfig.model_fields["movements"].default))
    head = "".join(f"# {line}\n" for line in comments)
    return head + yaml.dump(raw, Dumper=_FlowDumper, sort_keys=False, width=120)
