"""``phasewise measures``: ATSPM performance measures and diagrams from a hi-res event log.

    phasewise measures DIR --out OUT

``DIR`` holds ``events.csv`` and ``detectors.csv`` (written by ``phasewise sim --events DIR``,
or an agency's own controller log in the same columns; ``devices.csv`` names the devices
when present). The ``atspm`` package computes the measures (:mod:`controllers.hires.measures`); ``OUT``
receives one CSV per measure, ``summary.csv`` (per device and phase over the whole log) and
per device ``pcd_<DeviceId>.png`` (Purdue coordination diagram) and
``split_failures_<DeviceId>.png``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from phasewise.app import app
from phasewise.outputs import OutputFolder

console = Console(stderr=True)

SUMMARY = "summary.csv"


@app.command()
def measures(
    log_dir: Annotated[Path, typer.Argument(metavar="DIR", help="folder with events.csv and detectors.csv")],
    out: Annotated[Path, typer.Option(help="folder for the measure CSVs and the diagrams")] = Path("out/measures"),
) -> None:
    """ATSPM measures (arrivals on green, split failures, terminations...) and Purdue diagrams of an event log."""
    from controllers.hires.charts import coordination_diagram, split_failure_chart
    from controllers.hires.files import check_event_log
    from controllers.hires.measures import CYCLE_TABLE, TABLES, compute_measures

    events, detectors = check_event_log(log_dir)
    names = _device_names(log_dir / "devices.csv")
    charts = [p.name for p in out.glob("*.png")] if out.is_dir() else []
    managed = [f"{t}.csv" for t in (*TABLES, CYCLE_TABLE)] + [SUMMARY] + charts
    with OutputFolder(out, "--out", managed=managed) as folder:
        result = compute_measures(events, detectors)
        try:
            for table in (*TABLES, CYCLE_TABLE):
                result.write_csv(table, folder.path(f"{table}.csv"))
            summary = result.summary()
            summary.to_csv(folder.path(SUMMARY), index=False, float_format="%.4f")
            drawn = 0
            devices = [int(d) for (d,) in result.conn.execute("SELECT DISTINCT DeviceId FROM raw_data ORDER BY 1").fetchall()]
            for device in devices:
                title = f"device {device}" + (f" ({names[device]})" if device in names else "")
                drawn += coordination_diagram(result, device, title, folder.path(f"pcd_{device}.png")) is not None
                drawn += split_failure_chart(result, device, title, folder.path(f"split_failures_{device}.png")) is not None
        finally:
            result.close()
        folder.commit()
    print_summary(summary, names)
    console.print(f"measures written to {out}/ ({len(TABLES) + 2} CSV files, {drawn} diagrams)")


def _device_names(path: Path) -> dict[int, str]:
    """DeviceId -> the network's id, from ``devices.csv`` when the folder has one."""
    if not path.is_file():
        return {}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return {int(row["DeviceId"]): row["TlsId"] for row in csv.DictReader(f)}
    except (KeyError, ValueError, UnicodeDecodeError, csv.Error):
        console.print(f"phasewise: warning: {path}: not DeviceId,TlsId rows; devices shown by number")
        return {}


def print_summary(summary, names: dict[int, str]) -> None:  # type: ignore[no-untyped-def]
    """The whole-log measures per device and phase, as a table on stdout."""
    table = Table(title="ATSPM measures over the whole log (atspm package)")
    for col in ("device", "phase", "arrivals", "on green", "cycles", "split failures", "gap/max/force-off", "wait s"):
        table.add_column(col, justify="left" if col == "device" else "right")

    import pandas as pd

    def num(value: object, fmt: str) -> str:
        return "-" if pd.isna(value) else format(value, fmt)  # type: ignore[arg-type]

    for row in summary.itertuples(index=False):
        device = f"{row.DeviceId}" + (f" {names[row.DeviceId]}" if row.DeviceId in names else "")
        table.add_row(device, str(row.Phase), num(row.Arrivals, ".0f"), num(row.Arrivals_On_Green, ".0%"),
                      num(row.Cycles, ".0f"), num(row.Split_Failures, ".0f"),
                      "/".join(num(v, ".0f") for v in (row.Gap_Outs, row.Max_Outs, row.Force_Offs)),
                      num(row.Phase_Wait_s, ".1f"))
    Console(width=max(Console().width, 110)).print(table)
