"""The measures of the last hours of a growing event log, for the dashboard.

:class:`RecentMeasures` serves one event-log folder (``sim --events``'s ``events.csv`` or the
daemon's 15-minute files, :mod:`controllers.hires.files`): per device the Purdue coordination diagram and
the split-failure chart of the last ``hours`` (counted back from the newest event), and a
day × hour heat map of split failures over the whole log, one row of panels per intersection,
so an engineer sees which intersections fail every morning. Each is computed by the ``atspm``
package on demand and kept until the log grows.
"""

from __future__ import annotations

import csv
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controllers.hires.files import BIN_GLOB, DETECTORS, DEVICES, EVENTS, check_event_log


@dataclass(frozen=True)
class RecentCharts:
    """PNG bytes per device and the whole-window summary rows (``controllers.hires.measures.Measures.summary``)."""

    hours: float
    coordination: dict[int, bytes]
    split_failures: dict[int, bytes]
    summary: list[dict[str, Any]]


class RecentMeasures:
    """Charts of one event-log folder (module docstring); thread-safe, cached per log size."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, float], tuple[tuple[int, float], Any]] = {}

    def available(self) -> bool:
        return (self.folder / DETECTORS).is_file() and bool(self._files())

    def names(self) -> dict[int, str]:
        path = self.folder / DEVICES
        if not path.is_file():
            return {}
        with path.open(newline="", encoding="utf-8") as f:
            return {int(r["DeviceId"]): r["TlsId"] for r in csv.DictReader(f)}

    def recent(self, hours: float) -> RecentCharts:
        return self._cached("recent", hours, lambda: self._recent(hours))

    def heat_map(self) -> bytes:
        return self._cached("heat", 0.0, self._heat_map)

    def _files(self) -> list[Path]:
        single = self.folder / EVENTS
        return [single] if single.is_file() else sorted(self.folder.glob(BIN_GLOB))

    def _cached(self, kind: str, hours: float, make: Any) -> Any:
        files = self._files()
        version = (len(files), max((f.stat().st_mtime for f in files), default=0.0))
        with self._lock:
            hit = self._cache.get((kind, hours))
            if hit is not None and hit[0] == version:
                return hit[1]
            value = make()
            self._cache[(kind, hours)] = (version, value)
            return value

    def _events(self, hours: float | None) -> Any:
        """The log's events (of the last ``hours`` before its newest, when given) as a DataFrame."""
        import pandas as pd

        check_event_log(self.folder)
        files = self._files()
        if hours is not None and len(files) > 1:
            files = files[-max(1, int(hours * 4) + 1):]  # 15-minute files, the newest last
        frame = pd.concat([pd.read_csv(f, parse_dates=["TimeStamp"]) for f in files], ignore_index=True)
        if hours is not None and not frame.empty:
            frame = frame[frame["TimeStamp"] >= frame["TimeStamp"].max() - pd.Timedelta(hours=hours)]
        return frame.reset_index(drop=True)

    def _recent(self, hours: float) -> RecentCharts:
        from controllers.hires.charts import coordination_diagram, split_failure_chart
        from controllers.hires.measures import compute_measures

        names = self.names()
        result = compute_measures(self._events(hours), self.folder / DETECTORS)
        coordination, failures = {}, {}
        try:
            devices = [int(d) for (d,) in result.conn.execute("SELECT DISTINCT DeviceId FROM raw_data ORDER BY 1").fetchall()]
            with tempfile.TemporaryDirectory(prefix="phasewise-charts-") as tmp:
                for device in devices:
                    title = f"device {device}" + (f" ({names[device]})" if device in names else "") + f", last {hours:g} h"
                    pcd = coordination_diagram(result, device, title, Path(tmp) / f"pcd_{device}.png")
                    sf = split_failure_chart(result, device, title, Path(tmp) / f"sf_{device}.png")
                    if pcd is not None:
                        coordination[device] = pcd.read_bytes()
                    if sf is not None:
                        failures[device] = sf.read_bytes()
            summary = result.summary().astype(object).where(lambda f: f.notna(), None).to_dict("records")
        finally:
            result.close()
        return RecentCharts(hours, coordination, failures, summary)

    def _heat_map(self) -> bytes:
        from controllers.hires.charts import split_failure_heat_map
        from controllers.hires.measures import compute_measures

        result = compute_measures(self._events(None), self.folder / DETECTORS)
        try:
            with tempfile.TemporaryDirectory(prefix="phasewise-charts-") as tmp:
                return split_failure_heat_map(result, self.names(), Path(tmp) / "heat.png").read_bytes()
        finally:
            result.close()
