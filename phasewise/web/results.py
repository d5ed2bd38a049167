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
or a re-run). Only the files above are looked at; one that cannot be read or parsed (no
permission, not UTF-8, a malformed row) is logged as a warning and shown as absent, so a
folder holding anything else (or nothing: :func:`results_files`) is served as an empty site.
"""

from __future__ import annotations

import csv
import json
import logging
import math
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
RESULT_FILES = ("plan.json", "time_space.png", "check.json", "counts.csv", "queue_bins.csv", "summary.json",
                "annotated.mp4", "decisions.jsonl", "state.sqlite")
READ_ERRORS = (OSError, ValueError, KeyError, TypeError, csv.Error, sqlite3.Error, PhasewiseError)


def results_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that the dashboard shows (module docstring), as they are now."""
    found = [folder / name for name in RESULT_FILES]
    try:
        found += sorted((folder / "counts").glob("*/*.csv"))
    except OSError:
        pass
    return [p for p in found if _is_file(p)]


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _float(text: str, default: float = 0.0) -> float:
    """``text`` as a finite number, else ``default`` (JSON has no NaN or infinity)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def _finite(value: object) -> float:
    """``value`` as a finite number; ValueError otherwise (the file's entry is malformed)."""
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _number(value: object) -> float | None:
    """An optional number of a file's entry: None when absent or not a finite number."""
    try:
        return None if value is None else _finite(value)
    except (TypeError, ValueError):
        return None


def _plan(text: str) -> TimingPlan:
    """A plan file's plan; ValueError when its JSON holds what JSON cannot send (NaN in ``objective``)."""
    plan = TimingPlan.from_json(text)
    json.dumps(plan_info(plan, "plan", "results").plan, allow_nan=False)
    return plan


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
        stamps = []
        for path in results_files(self.folder):
            try:
                stamps.append((str(path), path.stat().st_mtime_ns))
            except OSError:
                continue  # removed meanwhile
        return tuple(stamps)

    def _guarded(self, path: Path, read, default):  # type: ignore[no-untyped-def]
        """``read()``, or ``default`` with a warning naming ``path`` when it cannot be read."""
        try:
            return read()
        except READ_ERRORS as exc:
            log.warning("%s: cannot read (%s: %s); shown as absent", path, type(exc).__name__, exc)
            return default

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
        cameras = self._guarded(self.folder / "queue_bins.csv", self._read_cameras, ())
        return SiteSnapshot(self.folder.name, False, max(stamps) / 1e9, seq, intersections, cameras,
                            self._read_counts(), infos, self._read_gate())

    def _read_plans(self) -> dict[str, TimingPlan]:
        plans: dict[str, TimingPlan] = {}
        path = self.folder / "plan.json"
        if _is_file(path):
            plan = self._guarded(path, lambda: _plan(path.read_text(encoding="utf-8")), None)
            if plan is not None:
                plans["plan"] = plan
        state = self.folder / "state.sqlite"
        if _is_file(state):
            plans.update(self._guarded(state, lambda: self._stored_plans(state), {}))
        return plans

    @staticmethod
    def _stored_plans(state: Path) -> dict[str, TimingPlan]:
        plans = {}
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
            for key, pid in (("running_plan", "running"), ("candidate_plan", "candidate")):
                row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
                if row:
                    value = row[0].decode() if isinstance(row[0], bytes) else row[0]
                    plans[pid] = _plan(value)
        return plans

    def _read_counts(self) -> tuple[MovementCount, ...]:
        totals: dict[tuple[float, float, str, str], int] = defaultdict(int)
        files = [p for p in results_files(self.folder) if p.name == "counts.csv" or p.parent.parent.name == "counts"]
        for path in files:
            self._guarded(path, lambda path=path: self._add_counts(path, totals), None)
        return tuple(MovementCount(b, s, cam, lane, n) for (b, s, cam, lane), n in sorted(totals.items()))

    @staticmethod
    def _add_counts(path: Path, totals: dict[tuple[float, float, str, str], int]) -> None:
        """Add ``path``'s counts to ``totals``; a file that fails part way adds none."""
        import datetime as dt

        mine: dict[tuple[float, float, str, str], int] = defaultdict(int)
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                start = row.get("bin_start") or ""
                start_s = _float(start, float("nan"))
                if start_s != start_s:  # an ISO time (the daemon's CSVs)
                    start_s = dt.datetime.fromisoformat(start).timestamp()
                count = _float(row.get("count") or "0")
                key = (start_s, _float(row.get("bin_s") or "900", 900.0), row.get("camera") or REPLAY_CAMERA,
                       row.get("lane") or "")
                mine[key] += int(count)
        for key, n in mine.items():
            totals[key] += n

    def _read_cameras(self) -> tuple[CameraState, ...]:
        path = self.folder / "queue_bins.csv"
        if not _is_file(path):
            return ()
        last: dict[str, dict[str, str]] = {}
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                last[row["lane"]] = row  # rows are in time order: the last bin wins
        lanes = tuple(LaneState(lane, _float(r["mean_stopped"]), _float(r["mean_queue_m"]), _float(r["mean_present"]))
                      for lane, r in last.items())
        return (CameraState(REPLAY_CAMERA, "", True, "recorded", lanes, image=_is_file(self.folder / "annotated.mp4")),)

    def _read_gate(self) -> tuple[GateRecord, ...]:
        records = []
        check = self.folder / "check.json"
        if _is_file(check):
            try:
                raw = json.loads(check.read_text(encoding="utf-8"))
                before = tuple(_finite(d) for d in raw["program"]["delay_s_per_vehicle"])
                after = tuple(_finite(d) for d in raw["plan"]["delay_s_per_vehicle"])
                mean_before = sum(before) / len(before)
                records.append(GateRecord(check.stat().st_mtime, "switch" if raw["recommend_plan"] else "keep",
                                          str(raw.get("reason", "")), 1 - (sum(after) / len(after)) / mean_before if mean_before else None,
                                          None, 0.0, before, after))
            except (*READ_ERRORS, ZeroDivisionError) as exc:
                log.warning("%s: cannot read (%s: %s); shown as absent", check, type(exc).__name__, exc)
        decisions = self.folder / "decisions.jsonl"
        if _is_file(decisions):
            records += self._guarded(decisions, lambda: self._decisions(decisions), [])
        return tuple(records)

    @staticmethod
    def _decisions(path: Path) -> list[GateRecord]:
        """The gate decisions of a daemon's log; an entry that does not parse is skipped (and counted)."""
        records, skipped = [], 0
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                e = json.loads(line)
                if isinstance(e, dict) and e.get("event") == "strategic":
                    records.append(GateRecord(_finite(e["t"]), str(e["result"]), str(e.get("detail", "")),
                                              _number(e.get("improvement")), _number(e.get("p_value")),
                                              _float(e.get("wall_s", 0.0))))
            except (ValueError, KeyError, TypeError):
                skipped += 1  # a line cut by a crash mid-write, or not a decision
        if skipped:
            log.warning("%s: %d line(s) that are no gate decision skipped", path, skipped)
        return records

    # -- the rest of SiteSource ----------------------------------------------------------------
    def plan(self, plan_id: str) -> TimingPlan | None:
        self.snapshot()
        return self._plans.get(plan_id)

    def time_space_png(self, plan_id: str) -> bytes | None:
        path = self.folder / "time_space.png"
        if plan_id != "plan" or not _is_file(path):
            return None
        return self._guarded(path, path.read_bytes, None)  # type: ignore[no-any-return]

    def thumbnail(self, camera: str) -> bytes | None:
        """The last frame of ``annotated.mp4`` (boxes drawn by replay), as a small JPEG."""
        video = self.folder / "annotated.mp4"
        if camera != REPLAY_CAMERA or not _is_file(video):
            return None
        return self._guarded(video, lambda: self._last_frame(video), None)  # type: ignore[no-any-return]

    def _last_frame(self, video: Path) -> bytes | None:
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
        if _is_file(path):
            text = self._guarded(path, lambda: path.read_bytes().decode("utf-8"), None)
            if text is not None:
                return text  # as written (CSV's CRLF line ends kept)
        rows = ["bin_start_s,bin_s,camera,lane,count"]
        rows += [f"{c.bin_start_s:.0f},{c.bin_s:.0f},{c.tls},{c.movement},{c.count}" for c in self.snapshot().counts]
        return "\n".join(rows) + "\n"

    def submit(self, action: Action) -> ActionResult:
        return ActionResult(False, "offline results: there is no daemon to act on")

    def propose(self, plan: TimingPlan) -> PlanInfo:
        raise PhasewiseError("offline results: there is no daemon to propose to")

    def check(self, plan: TimingPlan) -> ActionResult:
        return ActionResult(False, "offline results: no site model to check against")
