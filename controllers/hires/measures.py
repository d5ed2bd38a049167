"""ATSPM performance measures of an event log, computed by the ``atspm`` package (ODOT, DuckDB).

:func:`compute_measures` loads ``events.csv`` and ``detectors.csv`` (:mod:`controllers.hires.files`) into
``atspm.SignalDataProcessor`` and runs, per ``BIN_MINUTES`` bin, device and NEMA phase:

* ``arrival_on_green``: share of advance-detector actuations during green (``Percent_AOG``);
* ``platoon_ratio``: ``Percent_AOG`` over the green ratio g/C (HCM's Rp, arrival type 1-6);
* ``split_failures``: cycles whose stop-bar occupancy was at least ``OCCUPANCY_THRESHOLD`` both
  during the green and in the first ``RED_TIME_S`` of the following red (by approach: a phase's
  presence zones together), with mean green and red occupancies; per cycle too;
* ``terminations``: gap-outs, max-outs and force-offs;
* ``phase_wait``: mean time from a phase call to its green;
* ``yellow_red``, ``actuations``, ``has_data``, ``timeline``: the package's troubleshooting tables.

The thresholds are the package's documented example values (0.80 occupancy, 5 s of red), the
Purdue split-failure definition. The tables are written as CSV named after the measure; the
connection stays open in :class:`Measures` for the charts (:mod:`controllers.hires.charts`) to query.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controllers.hires.files import BIN_S
from phasewise_errors import ConfigError

BIN_MINUTES = int(BIN_S // 60)
RED_TIME_S = 5
OCCUPANCY_THRESHOLD = 0.80
TABLES = ("arrival_on_green", "platoon_ratio", "split_failures", "terminations", "phase_wait",
          "yellow_red", "actuations", "has_data", "timeline")
CYCLE_TABLE = "split_failures_by_cycle"


def _aggregations(by_cycle: bool) -> list[dict[str, Any]]:
    split = {"name": "split_failures", "params": {"red_time": RED_TIME_S, "by_approach": True, "by_cycle": by_cycle,
                                                  "red_occupancy_threshold": OCCUPANCY_THRESHOLD,
                                                  "green_occupancy_threshold": OCCUPANCY_THRESHOLD}}
    if by_cycle:
        return [split]
    return [
        {"name": "has_data", "params": {"no_data_min": 5, "min_data_points": 3}},
        {"name": "actuations", "params": {}},
        {"name": "arrival_on_green", "params": {"latency_offset_seconds": 0}},
        {"name": "platoon_ratio", "params": {}},
        split,
        {"name": "yellow_red", "params": {"latency_offset_seconds": 0}},
        {"name": "terminations", "params": {}},
        {"name": "timeline", "params": {"min_duration": 0, "cushion_time": 1, "max_event_gap_seconds": None}},
        {"name": "phase_wait", "params": {}},
    ]


@dataclass
class Measures:
    """The measures as DuckDB tables (``conn``), and the totals over the whole log per phase."""

    conn: Any  # duckdb.DuckDBPyConnection, holding raw_data, detector_config and TABLES
    processors: list[Any]

    def table(self, name: str) -> Any:
        """A measure as a pandas DataFrame."""
        return self.conn.sql(f"SELECT * FROM {name} ORDER BY ALL").df()

    def write_csv(self, name: str, path: Path) -> None:
        self.conn.sql(f"SELECT * FROM {name} ORDER BY ALL").write_csv(str(path))

    def summary(self) -> Any:
        """Per device and phase over the whole log: arrivals on green, split failures, terminations, wait."""
        return self.conn.sql("""
            WITH aog AS (
                SELECT DeviceId, Phase, SUM(Total_Actuations) AS Arrivals,
                       SUM(Percent_AOG * Total_Actuations) / SUM(Total_Actuations) AS Arrivals_On_Green
                FROM arrival_on_green GROUP BY ALL),
            sf AS (
                SELECT DeviceId, Phase, COUNT(*) AS Cycles, SUM(Split_Failure) AS Split_Failures
                FROM split_failures_by_cycle GROUP BY ALL),
            term AS (
                SELECT DeviceId, Phase,
                       SUM(Total) FILTER (WHERE PerformanceMeasure = 'GapOut') AS Gap_Outs,
                       SUM(Total) FILTER (WHERE PerformanceMeasure = 'MaxOut') AS Max_Outs,
                       SUM(Total) FILTER (WHERE PerformanceMeasure = 'ForceOff') AS Force_Offs
                FROM terminations GROUP BY ALL),
            wait AS (
                SELECT DeviceId, EventValue AS Phase, AVG(Duration) AS Phase_Wait_s
                FROM timeline WHERE EventClass = 'Phase Wait' AND IsValid GROUP BY ALL),
            keys AS (SELECT DeviceId, Phase FROM aog UNION SELECT DeviceId, Phase FROM sf
                     UNION SELECT DeviceId, Phase FROM term)
            SELECT k.DeviceId, k.Phase, aog.Arrivals, aog.Arrivals_On_Green, sf.Cycles, sf.Split_Failures,
                   term.Gap_Outs, term.Max_Outs, term.Force_Offs, wait.Phase_Wait_s
            FROM keys k
            LEFT JOIN aog USING (DeviceId, Phase) LEFT JOIN sf USING (DeviceId, Phase)
            LEFT JOIN term USING (DeviceId, Phase) LEFT JOIN wait USING (DeviceId, Phase)
            ORDER BY k.DeviceId, k.Phase""").df()

    def close(self) -> None:
        for processor in self.processors:
            processor.close()


def compute_measures(events: Path | Any, detectors_csv: Path) -> Measures:
    """Run the ``atspm`` aggregations over a checked event log (see :func:`controllers.hires.files.check_event_log`):
    ``events`` is its file (or glob), or the events as a pandas DataFrame in its columns.

    Raises ``ConfigError`` when the package cannot read the files (its message, one line).
    """
    import duckdb
    from atspm import SignalDataProcessor

    raw = str(events) if isinstance(events, Path) else events
    processors = []
    try:
        for by_cycle in (False, True):
            processor = SignalDataProcessor(raw_data=raw, detector_config=str(detectors_csv),
                                            bin_size=BIN_MINUTES, verbose=0, aggregations=_aggregations(by_cycle))
            processors.append(processor)
            processor.conn.execute("SET enable_progress_bar = false")  # DuckDB's bar would garble our output
            processor.load()
            processor.aggregate()
    except (duckdb.Error, ValueError) as exc:
        for processor in processors:
            processor.close()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{detectors_csv.parent}: the atspm package cannot read this event log: {first}") from None
    main, cycles = processors
    # the per-cycle split failures live in the second processor's database: copy them over
    frame = cycles.conn.sql("SELECT * FROM split_failures").arrow()
    main.conn.register("cycle_frame", frame)
    main.conn.execute(f"CREATE TABLE {CYCLE_TABLE} AS SELECT * FROM cycle_frame")
    main.conn.unregister("cycle_frame")
    cycles.close()
    return Measures(main.conn, [main])


@dataclass(frozen=True)
class LogTotals:
    """Measures of a whole log, all signals pooled (see :func:`log_totals`)."""

    arrivals_on_green: float
    split_failures: int
    phase_cycles: int


def log_totals(events_csv: Path, detectors_csv: Path) -> LogTotals:
    """Arrivals on green, split failures and phase cycles over a whole log, by ``atspm``.

    Arrivals on green: the share of all advance-detector actuations that came during green
    (every device and phase pooled, so busy approaches weigh by their volume); split failures:
    the number of phase cycles that failed, of ``phase_cycles`` complete ones (by approach, as
    in :func:`compute_measures`).
    """
    from atspm import SignalDataProcessor

    aggregations = [{"name": "arrival_on_green", "params": {"latency_offset_seconds": 0}}, *_aggregations(by_cycle=True)]
    with SignalDataProcessor(raw_data=str(events_csv), detector_config=str(detectors_csv), bin_size=BIN_MINUTES,
                             verbose=0, aggregations=aggregations) as processor:
        processor.conn.execute("SET enable_progress_bar = false")
        processor.load()
        processor.aggregate()
        (aog,) = processor.conn.sql("SELECT SUM(Percent_AOG * Total_Actuations) / SUM(Total_Actuations) "
                                    "FROM arrival_on_green").fetchone()
        failures, cycles = processor.conn.sql("SELECT COALESCE(SUM(Split_Failure), 0), COUNT(*) "
                                              "FROM split_failures").fetchone()
    return LogTotals(float(aog) if aog is not None else float("nan"), int(failures), int(cycles))
