"""Purdue coordination diagrams and split-failure charts, one PNG per intersection.

* **Purdue coordination diagram** (Day et al., "Performance measures for traffic signal
  systems", Purdue 2014): per through phase with advance detection, every cycle is a column
  at its start (the phase's begin of red, event 10); upward the seconds into the cycle; a dot
  per vehicle at the advance detector (event 82), the green line where the phase turned green
  (1) and the red line where it turned yellow (8). Dots under the green-to-yellow band
  arrived on green: a good progression puts the platoons there. The title gives the share
  of arrivals on green over the log from the ``atspm`` table.
* **Split-failure chart**: per phase, each cycle's green occupancy and red occupancy in the
  first seconds of red (the ``atspm`` per-cycle table), the failed cycles (both above the
  threshold) marked, and the count per 15-minute bin.

Both read the DuckDB tables of :class:`~controllers.hires.measures.Measures`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from controllers.hires.measures import OCCUPANCY_THRESHOLD, Measures


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def coordination_diagram(measures: Measures, device_id: int, title: str, path: Path) -> Path | None:
    """Draw the device's Purdue coordination diagram to ``path``; None when it has no advance detection."""
    phases = [int(p) for (p,) in measures.conn.execute(
        "SELECT DISTINCT Phase FROM detector_config WHERE DeviceId = ? AND Function = 'Advance' ORDER BY Phase",
        [device_id]).fetchall()]
    if not phases:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(len(phases), 1, figsize=(11, 2.8 * len(phases) + 0.6), squeeze=False, sharex=True)
    for ax, phase in zip(axes[:, 0], phases):
        signal = measures.conn.execute(
            "SELECT epoch(TimeStamp), EventId FROM raw_data WHERE DeviceId = ? AND Parameter = ? "
            "AND EventId IN (1, 8, 10) ORDER BY TimeStamp", [device_id, phase]).fetchall()
        arrivals = np.array([t for (t,) in measures.conn.execute(
            "SELECT epoch(r.TimeStamp) FROM raw_data r JOIN detector_config c ON r.DeviceId = c.DeviceId "
            "AND r.Parameter = c.Parameter WHERE r.DeviceId = ? AND c.Phase = ? AND c.Function = 'Advance' "
            "AND r.EventId = 82 ORDER BY r.TimeStamp", [device_id, phase]).fetchall()], dtype=float)
        red = np.array([t for t, e in signal if e == 10], dtype=float)
        if len(red) < 2:
            ax.set_title(f"phase {phase}: fewer than two cycles in the log")
            continue
        for event, colour, label in ((1, "#2ca02c", "begin green"), (8, "#d62728", "begin yellow")):
            times = np.array([t for t, e in signal if e == event], dtype=float)
            k = np.searchsorted(red, times, side="right") - 1
            ok = k >= 0
            ax.plot(_hours(red[k[ok]]), times[ok] - red[k[ok]], color=colour, lw=1.2, label=label)
        k = np.searchsorted(red, arrivals, side="right") - 1
        ok = (k >= 0) & (k < len(red) - 1)  # arrivals after the last begin of red have no closed cycle
        ax.scatter(_hours(red[k[ok]]), arrivals[ok] - red[k[ok]], s=4, color="k", label="arrival (advance detector)")
        aog = measures.conn.execute(
            "SELECT SUM(Percent_AOG * Total_Actuations) / SUM(Total_Actuations) FROM arrival_on_green "
            "WHERE DeviceId = ? AND Phase = ?", [device_id, phase]).fetchone()
        share = f", arrivals on green {aog[0]:.0%}" if aog and aog[0] is not None else ""
        ax.set_title(f"phase {phase}{share}", fontsize=10)
        ax.set_ylabel("time in cycle (s)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8, markerscale=3)
    return _save(plt, fig, axes, "time of day (cycle start: begin of red)", f"Purdue coordination diagram: {title}", path)


def split_failure_chart(measures: Measures, device_id: int, title: str, path: Path) -> Path | None:
    """Draw the device's per-cycle occupancies and split failures to ``path``; None without cycles."""
    frame = measures.conn.execute(
        "SELECT epoch(TimeStamp) AS t, Phase, Green_Occupancy, Red_Occupancy, Split_Failure "
        "FROM split_failures_by_cycle WHERE DeviceId = ? ORDER BY Phase, TimeStamp", [device_id]).df()
    if frame.empty:
        return None
    phases = sorted(frame["Phase"].unique())
    plt = _pyplot()
    fig, axes = plt.subplots(len(phases), 1, figsize=(11, 2.2 * len(phases) + 0.6), squeeze=False, sharex=True)
    for ax, phase in zip(axes[:, 0], phases):
        rows = frame[frame["Phase"] == phase]
        hours = _hours(rows["t"].to_numpy(dtype=float))
        ax.scatter(hours, rows["Green_Occupancy"], s=8, color="#2ca02c", label="green occupancy")
        ax.scatter(hours, rows["Red_Occupancy"], s=8, color="#d62728", marker="x", label="red occupancy (first 5 s)")
        failed = rows["Split_Failure"].to_numpy() > 0
        for h in hours[failed]:
            ax.axvline(h, color="#ff7f0e", alpha=0.35, lw=2)
        ax.axhline(OCCUPANCY_THRESHOLD, color="grey", ls="--", lw=0.8)
        ax.set_ylim(-0.02, 1.05)
        ax.set_ylabel("occupancy")
        ax.set_title(f"phase {phase}: {int(failed.sum())} split failures in {len(rows)} cycles", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    return _save(plt, fig, axes, "time of day (orange: a split failure)", f"Split failures: {title}", path)


def _save(plt, fig, axes, xlabel: str, title: str, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A chart's clock axis, labels and file: written to ``path`` and closed."""
    _clock_axis(axes[-1, 0])
    axes[-1, 0].set_xlabel(xlabel)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _clock_axis(ax) -> None:  # type: ignore[no-untyped-def]
    """Hours of the day shown as HH:MM."""
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda h, _pos: f"{int(h) % 24:02d}:{int(round(h % 1 * 60)) % 60:02d}"))


def _hours(epoch_s: np.ndarray) -> np.ndarray:
    """Seconds since 1970 as hours of the day (the log's local time)."""
    return (np.asarray(epoch_s, dtype=float) % 86400.0) / 3600.0


def split_failure_heat_map(measures: Measures, names: dict[int, str], path: Path) -> Path:
    """Split failures per intersection, day (rows) × hour of day (columns), all phases summed."""
    frame = measures.conn.execute(
        "SELECT DeviceId, CAST(TimeStamp AS DATE) AS day, hour(TimeStamp) AS hour, SUM(Split_Failure) AS failures "
        "FROM split_failures GROUP BY ALL ORDER BY ALL").df()
    devices = [int(d) for (d,) in measures.conn.execute("SELECT DISTINCT DeviceId FROM raw_data ORDER BY 1").fetchall()]
    days = sorted(frame["day"].unique()) if not frame.empty else []
    plt = _pyplot()
    fig, axes = plt.subplots(len(devices), 1, figsize=(11, 1.2 + (0.35 * max(len(days), 1) + 0.7) * len(devices)),
                             squeeze=False, sharex=True, layout="constrained")
    top = max(1.0, float(frame["failures"].max())) if not frame.empty else 1.0
    image = None
    for ax, device in zip(axes[:, 0], devices):
        grid = np.zeros((max(len(days), 1), 24))
        for row in frame[frame["DeviceId"] == device].itertuples(index=False):
            grid[days.index(row.day), int(row.hour)] = row.failures
        image = ax.imshow(grid, aspect="auto", cmap="Reds", vmin=0, vmax=top, extent=(0, 24, len(grid), 0))
        ax.set_yticks(np.arange(len(days)) + 0.5, [str(d)[:10] for d in days] or [""])
        ax.set_title(f"device {device}" + (f" ({names[device]})" if device in names else ""), fontsize=9, loc="left")
    axes[-1, 0].set_xticks(range(0, 25, 3))
    axes[-1, 0].set_xlabel("hour of day")
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), label="split failures per hour")
    fig.suptitle("Split failures by day and hour")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
