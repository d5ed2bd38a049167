"""The event-log folder: ``events.csv``, ``detectors.csv``, ``devices.csv``, ``phases.csv``.

``events.csv`` and ``detectors.csv`` are the two inputs of the ``atspm`` package (and of
UDOT/ODOT ATSPM), in its column names:

* ``events.csv``: ``TimeStamp, DeviceId, EventId, Parameter``; ``TimeStamp`` local time
  ``YYYY-MM-DD HH:MM:SS.fff`` (no zone, as controllers log it), sorted by time;
  a simulation's second ``t`` is ``SIM_EPOCH + t`` (SUMO's ``begin`` 25200 is 07:00);
* ``detectors.csv``: ``DeviceId, Phase, Parameter, Function``: the detector channel
  (``Parameter`` of events 81/82), the NEMA phase it serves and ``Presence`` (stop-bar zone),
  ``Advance`` (upstream loop) or ``Yellow_Red`` (stop-line loop);
* ``devices.csv``: ``DeviceId, TlsId``: the network's traffic-light id of each device;
* ``phases.csv``: ``DeviceId, Phase, Approach, Movements, Links, Crossings``: what each NEMA
  phase serves (movements ``approach:turn``, SUMO link indices of its vehicles and of the
  pedestrian crossings of its pedestrian phase, space-separated).

Files are written whole (temporary name, then rename). :func:`check_event_log` validates a
folder, ours or an agency's own log in the same columns, before the measures read it.
:class:`EventBinWriter` writes a long run's log in 15-minute files instead (the daemon).
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from controllers.hires.recorder import DETECTOR_FUNCTIONS, DeviceRecorder, Event
from phasewise_errors import ConfigError

if TYPE_CHECKING:
    from controllers.hires.sumo_truth import SignalLayout

SIM_EPOCH = datetime(2024, 1, 1)
"""Simulation second 0 in the log: a Monday at midnight (a fixed date keeps runs comparable)."""

EVENTS, DETECTORS, DEVICES, PHASES = "events.csv", "detectors.csv", "devices.csv", "phases.csv"
EVENT_COLUMNS = ("TimeStamp", "DeviceId", "EventId", "Parameter")
DETECTOR_COLUMNS = ("DeviceId", "Phase", "Parameter", "Function")
PHASE_COLUMNS = ("DeviceId", "Phase", "Approach", "Movements", "Links", "Crossings")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def timestamp(time_s: float, epoch: datetime = SIM_EPOCH) -> str:
    """``epoch + time_s`` as ``YYYY-MM-DD HH:MM:SS.fff``."""
    return (epoch + timedelta(seconds=round(time_s, 3))).strftime(TIMESTAMP_FORMAT)[:-3]


@dataclass(frozen=True)
class EventLogFiles:
    """The rows of the four files (header rows excluded)."""

    events: list[tuple[str, int, int, int]]
    detectors: list[tuple[int, int, int, str]]
    devices: list[tuple[int, str]]
    phases: list[tuple[int, int, str, str, str, str]]

    @classmethod
    def from_layout(cls, layout: SignalLayout, recorders: Mapping[str, DeviceRecorder],
                    epoch: datetime = SIM_EPOCH) -> EventLogFiles:
        events: list[Event] = sorted((e for r in recorders.values() for e in r.events), key=lambda e: e.time_s)
        return cls(
            events=[(timestamp(e.time_s, epoch), e.device_id, e.event_id, e.parameter) for e in events],
            detectors=[(d.device_id, d.detector.phase, d.detector.channel, d.detector.function) for d in layout.detectors],
            devices=[(device, tls) for tls, device in layout.device_ids.items()],
            phases=[(layout.device_ids[tls], n, p.approach, " ".join(p.movements), " ".join(map(str, sorted(p.signal_links))),
                     " ".join(map(str, layout.crossings.get(tls, {}).get(n, ()))))
                    for tls, by_number in layout.phases.items() for n, p in by_number.items()],
        )


def write_event_log(folder: Path, files: EventLogFiles) -> None:
    """Write the four files into ``folder`` (created), each through a temporary file."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / EVENTS, EVENT_COLUMNS, files.events)
    _write_csv(folder / DETECTORS, DETECTOR_COLUMNS, files.detectors)
    _write_csv(folder / DEVICES, ("DeviceId", "TlsId"), files.devices)
    _write_csv(folder / PHASES, PHASE_COLUMNS, files.phases)


def _write_csv(path: Path, header: tuple[str, ...], rows: list) -> None:
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        os.chmod(name, 0o644)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


BIN_GLOB = "????-??-??/????.csv"


def check_event_log(folder: Path) -> tuple[Path, Path]:
    """``(events.csv, detectors.csv)`` of ``folder`` after checking their columns and values.

    A folder of the daemon's 15-minute files (``YYYY-MM-DD/HHMM.csv``, :class:`EventBinWriter`)
    gives the glob of them in place of ``events.csv`` (DuckDB, hence ``atspm``, reads it as one).

    Raises ``ConfigError`` naming the file, line and column of the first problem.
    """
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder; give the folder holding {EVENTS} and {DETECTORS} "
                          "(phasewise sim --events DIR writes one)")
    events, detectors = folder / EVENTS, folder / DETECTORS
    binned = sorted(folder.glob(BIN_GLOB)) if not events.is_file() else []
    for path in (detectors,) if binned else (events, detectors):
        if not path.is_file():
            raise ConfigError(f"{path}: file not found; an event-log folder holds {EVENTS} (or the daemon's "
                              f"15-minute files {BIN_GLOB}) and {DETECTORS}")
    for path in binned or [events]:
        _check_rows(path, EVENT_COLUMNS, _check_event_row)
    _check_rows(detectors, DETECTOR_COLUMNS, _check_detector_row)
    return (folder / BIN_GLOB if binned else events), detectors


def _check_rows(path: Path, columns: tuple[str, ...], check_row) -> None:  # type: ignore[no-untyped-def]
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            if header != list(columns):
                raise ConfigError(f"{path}: header {', '.join(header) or '(empty file)'}; "
                                  f"expected exactly {', '.join(columns)}")
            rows = 0
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(columns):
                    raise ConfigError(f"{path}:{line}: {len(row)} values, expected {len(columns)} ({', '.join(columns)})")
                check_row(path, line, [v.strip() for v in row])
                rows += 1
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start})") from None
    except csv.Error as exc:
        raise ConfigError(f"{path}: not a CSV file ({exc})") from None
    if rows == 0:
        raise ConfigError(f"{path}: no rows after the header")


def _integer(path: Path, line: int, column: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{path}:{line}: {column} {value!r} is not an integer") from None
    if not low <= number <= high:
        raise ConfigError(f"{path}:{line}: {column} {number} outside {low}..{high}")
    return number


def _check_event_row(path: Path, line: int, row: list[str]) -> None:
    try:
        datetime.fromisoformat(row[0])
    except ValueError:
        raise ConfigError(f"{path}:{line}: TimeStamp {row[0]!r} is not a date and time "
                          "(YYYY-MM-DD HH:MM:SS.fff)") from None
    _integer(path, line, "DeviceId", row[1], 0, 2**31 - 1)
    _integer(path, line, "EventId", row[2], 0, 32767)
    _integer(path, line, "Parameter", row[3], 0, 32767)


def _check_detector_row(path: Path, line: int, row: list[str]) -> None:
    _integer(path, line, "DeviceId", row[0], 0, 2**31 - 1)
    _integer(path, line, "Phase", row[1], 0, 32767)
    _integer(path, line, "Parameter", row[2], 0, 32767)
    if row[3] not in DETECTOR_FUNCTIONS and not row[3]:
        raise ConfigError(f"{path}:{line}: Function is empty; use one of {', '.join(DETECTOR_FUNCTIONS)}")


BIN_S = 900.0
"""The 15-minute bin: the daemon's log files (as its counts) and the measures' bins."""


class EventBinWriter:
    """The log of a long run in 15-minute files: ``YYYY-MM-DD/HHMM.csv`` under ``folder`` (the
    bin's start, in the time zone of ``epoch``), beside one ``detectors.csv``, ``devices.csv`` and
    ``phases.csv``. :meth:`flush` writes the events before a time; a bin written again (a restart
    within it, the last flush at a stop) is merged with what the file held.
    """

    def __init__(self, folder: Path, layout: SignalLayout, epoch: datetime) -> None:
        self.folder, self.epoch = folder, epoch
        static = EventLogFiles.from_layout(layout, {})
        folder.mkdir(parents=True, exist_ok=True)
        _write_csv(folder / DETECTORS, DETECTOR_COLUMNS, static.detectors)
        _write_csv(folder / DEVICES, ("DeviceId", "TlsId"), static.devices)
        _write_csv(folder / PHASES, PHASE_COLUMNS,
                   static.phases)

    def flush(self, recorders: Mapping[str, DeviceRecorder], before_s: float) -> list[Path]:
        """Move the recorders' events before ``before_s`` into their bins' files; the files written."""
        taken: list[Event] = []
        for recorder in recorders.values():
            keep = [e for e in recorder.events if e.time_s >= before_s]
            taken += [e for e in recorder.events if e.time_s < before_s]
            recorder.events[:] = keep
        by_bin: dict[datetime, list[Event]] = {}
        for e in sorted(taken, key=lambda e: e.time_s):
            at = self.epoch + timedelta(seconds=e.time_s)
            start = at - timedelta(seconds=at.minute % 15 * 60 + at.second, microseconds=at.microsecond)
            by_bin.setdefault(start, []).append(e)
        written = []
        for start, events in by_bin.items():
            path = self.folder / start.strftime("%Y-%m-%d") / f"{start:%H%M}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = [(timestamp(e.time_s, self.epoch), e.device_id, e.event_id, e.parameter) for e in events]
            if path.is_file():
                with path.open(newline="", encoding="utf-8") as f:
                    earlier = [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in list(csv.reader(f))[1:] if len(r) == 4]
                rows = sorted(earlier + rows, key=lambda r: r[0])
            _write_csv(path, EVENT_COLUMNS, rows)
            written.append(path)
        return written
