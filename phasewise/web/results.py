"""A results folder as a site for the dashboard (``phasewise serve --results DIR``), read-only.

What each command writes and what the page shows of it (any combination may be present):

=======================================  ===================================================
``phasewise optimize --out``             ``plan.json`` (the plan shown, id ``plan``, with its
                                         intersections), ``time_space.png``, ``check.json``
                                         (the SUMO check: one gate record with its per-seed
                                         delays)
``phasewise replay --out``               ``counts.csv`` (counts per lane and bin),
                                         ``queue_bins.csv`` (each lane's last bin: queues),
                                         ``summary.json``, ``annotated.mp4`` (its last frame
                                         is the camera thumbnail)
``phasewise run`` state dir              ``decisions.jsonl`` (gate decisions), ``counts/``
                                         (15-min CSVs), ``state.sqlite``'s running plan
=======================================  ===================================================

Counts of a replay folder are per lane: a count's ``tls`` is the camera (``video``) and its
``movement`` the lane. Files are read again when they change (the folder of a running daemon,
or a re-run).
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
from collections import defaultdict
from pathlib import Path

from daemon.snapshot import (
    Action, ActionResult, CameraState, GateRecord, IntersectionState, LaneState, MovementCount, PhaseState, PlanInfo,
    SiteSnapshot, plan_info,
)
from optimizer.plan import TimingPlan
from phasewise_errors import PhasewiseError

log = logging.getLogger(__name__)

THUMBNAIL_WIDTH_PX = 480
REPLAY_CAMERA = "video"  # a replay folder is one camera


def _float(text: str, default: float = 0.0) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


class ResultsSource:
    """Serves ``folder`` (module docstring); no actions (``live`` is False)."""

    live = False

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._stamp: tuple = ()
        self._snapshot = SiteSnapshot(self.folder.name, False, 0.0, 0)
        self._plans: dict[str, TimingPlan] = {}
        self._thumbnail: tuple[float, bytes | None] = (-1.0, None)

    def _mtimes(self) -> tuple:
        return tuple(sorted((str(p), p.stat().st_mtime_ns) for p in self.folder.rglob("*")
                            if p.is_file() and p.suffix in (".json", ".csv", ".jsonl", ".sqlite", ".png")))

    def snapshot(self) -> SiteSnapshot:
        stamp = self._mtimes()
        if stamp != self._stamp:
            self._stamp = stamp
            self._snapshot = self._read(self._snapshot.seq + 1)
        return self._snapshot

    def _read(self, seq: int) -> SiteSnapshot:
        plans = self._read_plans()
        self._plans = plans
        infos = tuple(plan_info(p, pid, "results") for pid, p in plans.items())
        shown = plans.get("plan") or plans.get("running")
        intersections = ()
        if shown is not None:
            intersections = tuple(
                IntersectionState(tls, ip.coordinated_phase, 0.0, False, None, "offline", 0.0, 0.0, ip.cycle_s,
                                  tuple(PhaseState(p.phase, (), p.green_s) for p in ip.phases), ())
                for tls, ip in shown.intersections.items())
        stamps = [m for _, m in self._stamp] or [0]
        return SiteSnapshot(self.folder.name, False, max(stamps) / 1e9, seq, intersections, self._read_cameras(),
                            self._read_counts(), infos, self._read_gate())

    def _read_plans(self) -> dict[str, TimingPlan]:
        plans: dict[str, TimingPlan] = {}
        path = self.folder / "plan.json"
        if path.is_file():
            try:
                plans["plan"] = TimingPlan.from_json(path.read_text())
            except PhasewiseError as exc:
                log.warning("%s: %s", path, exc)
        state = self.folder / "state.sqlite"
        if state.is_file():
            try:
                with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
                    for key, pid in (("running_plan", "running"), ("candidate_plan", "candidate")):
                        row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
                        if row:
                            value = row[0].decode() if isinstance(row[0], bytes) else row[0]
                            plans[pid] = TimingPlan.from_json(value)
            except (sqlite3.Error, PhasewiseError) as exc:
                log.warning("%s: %s", state, exc)
        return plans

    def _read_counts(self) -> tuple[MovementCount, ...]:
        totals: dict[tuple[float, float, str, str], int] = defaultdict(int)
        files = [self.folder / "counts.csv"] if (self.folder / "counts.csv").is_file() else []
        files += sorted((self.folder / "counts").glob("*/*.csv")) if (self.folder / "counts").is_dir() else []
        for path in files:
            with path.open(newline="") as f:
                for row in csv.DictReader(f):
                    start = row.get("bin_start", "")
                    start_s = _float(start, float("nan"))
                    if start_s != start_s:  # an ISO time (the daemon's CSVs)
                        import datetime as dt

                        start_s = dt.datetime.fromisoformat(start).timestamp()
                    key = (start_s, _float(row.get("bin_s", "900"), 900.0), row.get("camera", REPLAY_CAMERA),
                           row.get("lane", ""))
                    totals[key] += int(_float(row.get("count", "0")))
        return tuple(MovementCount(b, s, cam, lane, n) for (b, s, cam, lane), n in sorted(totals.items()))

    def _read_cameras(self) -> tuple[CameraState, ...]:
        path = self.folder / "queue_bins.csv"
        if not path.is_file():
            return ()
        last: dict[str, dict[str, str]] = {}
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                last[row["lane"]] = row  # rows are in time order: the last bin wins
        lanes = tuple(LaneState(lane, _float(r["mean_stopped"]), _float(r["mean_queue_m"]), _float(r["mean_present"]))
                      for lane, r in last.items())
        return (CameraState(REPLAY_CAMERA, "", True, "recorded", lanes, image=(self.folder / "annotated.mp4").is_file()),)

    def _read_gate(self) -> tuple[GateRecord, ...]:
        records = []
        check = self.folder / "check.json"
        if check.is_file():
            try:
                raw = json.loads(check.read_text())
                before = tuple(raw["program"]["delay_s_per_vehicle"])
                after = tuple(raw["plan"]["delay_s_per_vehicle"])
                mean_before = sum(before) / len(before)
                records.append(GateRecord(check.stat().st_mtime, "switch" if raw["recommend_plan"] else "keep",
                                          raw.get("reason", ""), 1 - (sum(after) / len(after)) / mean_before if mean_before else None,
                                          None, 0.0, before, after))
            except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
                log.warning("%s: %s", check, exc)
        decisions = self.folder / "decisions.jsonl"
        if decisions.is_file():
            for line in decisions.read_text().splitlines():
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if e.get("event") == "strategic":
                    records.append(GateRecord(float(e["t"]), e["result"], e.get("detail", ""), e.get("improvement"),
                                              e.get("p_value"), float(e.get("wall_s", 0.0))))
        return tuple(records)

    # -- the rest of SiteSource ----------------------------------------------------------------
    def plan(self, plan_id: str) -> TimingPlan | None:
        self.snapshot()
        return self._plans.get(plan_id)

    def time_space_png(self, plan_id: str) -> bytes | None:
        path = self.folder / "time_space.png"
        return path.read_bytes() if plan_id == "plan" and path.is_file() else None

    def thumbnail(self, camera: str) -> bytes | None:
        """The last frame of ``annotated.mp4`` (boxes drawn by replay), as a small JPEG."""
        video = self.folder / "annotated.mp4"
        if camera != REPLAY_CAMERA or not video.is_file():
            return None
        if self._thumbnail[0] == video.stat().st_mtime:
            return self._thumbnail[1]
        import cv2

        cap = cv2.VideoCapture(str(video))
        try:
            frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.set(cv2.CAP_PROP_POS_FRAMES, max(frames - 1, 0))
            ok, image = cap.read()
        finally:
            cap.release()
        jpeg = None
        if ok:
            h, w = image.shape[:2]
            small = cv2.resize(image, (THUMBNAIL_WIDTH_PX, int(h * THUMBNAIL_WIDTH_PX / w)))
            jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
        self._thumbnail = (video.stat().st_mtime, jpeg)
        return jpeg

    def counts_csv(self) -> str:
        path = self.folder / "counts.csv"
        if path.is_file():
            return path.read_bytes().decode()  # as written (CSV's CRLF line ends kept)
        rows = ["bin_start_s,bin_s,camera,lane,count"]
        rows += [f"{c.bin_start_s:.0f},{c.bin_s:.0f},{c.tls},{c.movement},{c.count}" for c in self.snapshot().counts]
        return "\n".join(rows) + "\n"

    def submit(self, action: Action) -> ActionResult:
        return ActionResult(False, "offline results: there is no daemon to act on")

    def propose(self, plan: TimingPlan) -> PlanInfo:
        raise PhasewiseError("offline results: there is no daemon to propose to")

    def check(self, plan: TimingPlan) -> ActionResult:
        return ActionResult(False, "offline results: no site model to check against")
