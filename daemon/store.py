"""State that survives restarts: SQLite (WAL) in the state dir, 15-min count CSVs, decisions JSONL.

``state.sqlite`` holds

* ``kv``: the running and candidate plans (``TimingPlan`` JSON), the estimator's learnt state
  (turning shares, saturation flows, rates: a pickle, restored only when the cameras' layouts
  are the same), camera health, the simulated clock of software in the loop;
* ``counts``: stop-line crossings per 15-min bin, camera, lane and COCO class, with an
  ``exported`` flag;
* ``movements``: the same crossings per 15-min bin, camera and movement (``"<approach>:<turn>"``,
  ``unassigned`` when the camera could not tell): what the dashboard and its counts export
  show, read from here after a restart (:func:`read_movement_counts`).

Counts are committed every step (WAL, ``synchronous=NORMAL``: a committed step survives
``kill -9``; only a power cut may lose the last second). A closed bin is exported as one CSV
per bin (``counts/YYYY-MM-DD/HHMM.csv``, UTC, written to a temporary name and renamed, so
re-exporting after a crash rewrites the same file) and then flagged.

A write that fails (disk full, read-only, I/O error) never stops the daemon: the counts stay
in memory and are written with the next successful commit; each failure is logged and counted
(``phasewise_state_write_errors_total``); a write that waits on another process's lock gives
up after ``BUSY_TIMEOUT_S`` (the step must not wait). A state file that is not a database or
fails ``PRAGMA quick_check`` is moved aside (``state.sqlite.corrupt-<time>``) and a fresh one
started; one that cannot be opened or written (permissions, a read-only disk) is a
``ConfigError`` naming it, never mistaken for corruption.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from daemon.prometheus import Metrics
from phasewise_errors import ConfigError

log = logging.getLogger(__name__)

BIN_S = 900.0
STATE_FILE = "state.sqlite"
BUSY_TIMEOUT_S = 0.05  # another process's lock: give up (kept in memory, retried next step)
UNASSIGNED = "unassigned"
SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, updated_s REAL NOT NULL);
CREATE TABLE IF NOT EXISTS counts (
    bin_start_s REAL NOT NULL, camera TEXT NOT NULL, lane TEXT NOT NULL, class INTEGER NOT NULL,
    count INTEGER NOT NULL, exported INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bin_start_s, camera, lane, class));
CREATE TABLE IF NOT EXISTS movements (
    bin_start_s REAL NOT NULL, camera TEXT NOT NULL, movement TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (bin_start_s, camera, movement));
"""

CountKey = tuple[float, str, str, int]


def bin_start(t_s: float, bin_s: float = BIN_S) -> float:
    return float(np.floor(t_s / bin_s) * bin_s)


class StateStore:
    """The daemon's durable state (module docstring)."""

    def __init__(self, state_dir: Path, metrics: Metrics | None = None) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metrics = metrics or Metrics()
        self.path = self.dir / STATE_FILE
        self.recovered_from_corruption = False
        self._pending: dict[CountKey, int] = defaultdict(int)
        self._pending_movements: dict[tuple[float, str, str], int] = defaultdict(int)
        self._failing_since: float | None = None
        self._pending_kv: dict[str, bytes] = {}
        self._db = self._open()

    # -- opening -----------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.OperationalError as exc:  # cannot open, read-only, locked: not corruption
            raise ConfigError(f"{self.path}: cannot open the state database for writing ({exc}) (fix: give the "
                              f"daemon's user write access to {self.dir}, or choose another state_dir)") from None
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{STATE_FILE}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
            try:
                for suffix in ("", "-wal", "-shm"):
                    part = self.path.with_name(STATE_FILE + suffix)
                    if part.exists():
                        part.replace(aside.with_name(aside.name + suffix))
            except OSError as move:
                raise ConfigError(f"{self.path}: unreadable ({exc}) and cannot be moved aside ({move.strerror})") from None
            log.error("state file %s is unreadable (%s); moved to %s, starting with fresh state", self.path, exc, aside.name)
            self.metrics.inc("phasewise_state_write_errors_total", kind="corrupt")
            self.recovered_from_corruption = True
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise sqlite3.OperationalError("the file is read-only")
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {verdict}")
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    # -- writes ------------------------------------------------------------------------------
    def add_crossings(self, t_s: float, camera: str, lanes: Sequence[str], crossing_lane: np.ndarray,
                      crossing_class: np.ndarray) -> int:
        """Count one frame's stop-line crossings into ``t_s``'s bin (committed by :meth:`commit`)."""
        if crossing_lane.size == 0:
            return 0
        start = bin_start(t_s)
        pairs, n = np.unique(np.stack([crossing_lane, crossing_class]), axis=1, return_counts=True)
        for (lane, cls), count in zip(pairs.T, n):
            self._pending[(start, camera, lanes[int(lane)], int(cls))] += int(count)
        return int(crossing_lane.size)

    def add_movements(self, t_s: float, camera: str, movements: Sequence[str], crossing_movement: np.ndarray) -> None:
        """Count one frame's crossings per movement (index into ``movements``; any other value
        is ``unassigned``) into ``t_s``'s bin (committed by :meth:`commit`)."""
        if crossing_movement.size == 0:
            return
        start = bin_start(t_s)
        ids, n = np.unique(crossing_movement, return_counts=True)
        for m, count in zip(ids.tolist(), n.tolist()):
            name = movements[m] if 0 <= m < len(movements) else UNASSIGNED
            self._pending_movements[(start, camera, name)] += int(count)

    @property
    def staged_vehicles(self) -> int:
        """Vehicles counted and not yet committed."""
        return sum(self._pending.values())

    def failing_s(self, now_monotonic: float) -> float | None:
        """Seconds since commits started failing (None while they succeed)."""
        return None if self._failing_since is None else now_monotonic - self._failing_since

    def put(self, key: str, value: bytes | str) -> None:
        """Stage a key's new value (committed by :meth:`commit`)."""
        self._pending_kv[key] = value.encode() if isinstance(value, str) else value

    def commit(self, now_s: float) -> bool:
        """Write everything staged in one transaction; False (and kept staged) when it fails."""
        if not self._pending and not self._pending_kv and not self._pending_movements:
            return True
        try:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO counts (bin_start_s, camera, lane, class, count) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET count = count + excluded.count, exported = 0",
                [(*k, v) for k, v in self._pending.items()])
            self._db.executemany(
                "INSERT INTO movements (bin_start_s, camera, movement, count) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET count = count + excluded.count",
                [(*k, v) for k, v in self._pending_movements.items()])
            self._db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)",
                                 [(k, v, now_s) for k, v in self._pending_kv.items()])
            self._db.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._write_failed("state", exc)
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            return False
        self._pending.clear()
        self._pending_movements.clear()
        self._pending_kv.clear()
        self._failing_since = None
        return True

    def _write_failed(self, what: str, exc: BaseException) -> None:
        self.metrics.inc("phasewise_state_write_errors_total", kind=what)
        log.error("writing %s failed (%s); kept in memory, retried next step", what, exc)

    # -- reads -------------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        if key in self._pending_kv:
            return self._pending_kv[key]
        row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0]) if not isinstance(row[0], str) else row[0].encode()

    def committed_total(self) -> int:
        """Vehicles counted in the database (committed)."""
        return int(self._db.execute("SELECT COALESCE(SUM(count), 0) FROM counts").fetchone()[0])

    def counts(self) -> dict[CountKey, int]:
        """Every count, committed and staged (what was counted so far)."""
        total: dict[CountKey, int] = defaultdict(int)
        for b, cam, lane, cls, n in self._db.execute("SELECT bin_start_s, camera, lane, class, count FROM counts"):
            total[(b, cam, lane, cls)] += n
        for k, n in self._pending.items():
            total[k] += n
        return dict(total)

    # -- exports -----------------------------------------------------------------------------
    def export_closed_bins(self, now_s: float) -> list[Path]:
        """Write every closed, not yet exported bin as its CSV; returns the files written."""
        written = []
        try:
            bins = [b for (b,) in self._db.execute(
                "SELECT DISTINCT bin_start_s FROM counts WHERE exported = 0 AND bin_start_s + ? <= ?", (BIN_S, now_s))]
            for b in bins:
                rows = self._db.execute("SELECT camera, lane, class, count FROM counts WHERE bin_start_s = ? "
                                        "ORDER BY camera, lane, class", (b,)).fetchall()
                when = dt.datetime.fromtimestamp(b, dt.timezone.utc)
                path = self.dir / "counts" / when.strftime("%Y-%m-%d") / f"{when.strftime('%H%M')}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".csv.tmp")
                with tmp.open("w", newline="") as f:
                    out = csv.writer(f)
                    out.writerow(["bin_start", "bin_s", "camera", "lane", "class", "count", "flow_veh_h"])
                    for cam, lane, cls, n in rows:
                        out.writerow([when.isoformat(), int(BIN_S), cam, lane, cls, n, round(n * 3600 / BIN_S, 1)])
                    f.flush()
                    os.fsync(f.fileno())
                tmp.replace(path)
                self._db.execute("UPDATE counts SET exported = 1 WHERE bin_start_s = ?", (b,))
                written.append(path)
        except (sqlite3.Error, OSError) as exc:
            self._write_failed("counts export", exc)
        return written

    def close(self, now_s: float) -> dict[CountKey, int]:
        """Commit and close; returns the counts that could not be written (empty when all were)."""
        saved = self.commit(now_s)
        lost = {} if saved else dict(self._pending)
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self._db.close()
        return lost


def read_movement_counts(path: Path, since_s: float | None = None) -> list[tuple[float, str, str, int]]:
    """``(bin_start_s, camera, movement, count)`` rows of a state database, oldest first, on a
    connection of the caller's own (any thread; WAL lets it read while the daemon writes)."""
    if not Path(path).exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
    try:
        query = "SELECT bin_start_s, camera, movement, count FROM movements"
        args: tuple = ()
        if since_s is not None:
            query, args = query + " WHERE bin_start_s >= ?", (since_s,)
        return [(float(b), str(c), str(m), int(n)) for b, c, m, n in db.execute(query + " ORDER BY 1, 2, 3", args)]
    except sqlite3.Error as exc:
        log.error("reading counts from %s failed (%s)", path, exc)
        return []
    finally:
        db.close()


class JsonlLog:
    """Append-only JSON lines, rotated at ``max_bytes`` keeping ``backups`` old files."""

    def __init__(self, path: Path, metrics: Metrics, max_bytes: int = 10_000_000, backups: int = 5) -> None:
        self.path, self.metrics, self.max_bytes, self.backups = Path(path), metrics, max_bytes, backups

    def write(self, record: dict) -> None:
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        try:
            if self.path.exists() and self.path.stat().st_size + len(line) > self.max_bytes:
                for k in range(self.backups - 1, 0, -1):
                    older = self.path.with_name(f"{self.path.name}.{k}")
                    if older.exists():
                        older.replace(self.path.with_name(f"{self.path.name}.{k + 1}"))
                self.path.replace(self.path.with_name(f"{self.path.name}.1"))
            with self.path.open("a") as f:
                f.write(line)
        except OSError as exc:
            self.metrics.inc("phasewise_state_write_errors_total", kind="decisions")
            log.error("writing %s failed (%s); decision dropped from the file: %s", self.path.name, exc, line.strip())
