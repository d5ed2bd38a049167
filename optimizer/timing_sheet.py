"""A timing plan as the table a signal engineer checks: one row per intersection and phase."""

from __future__ import annotations

from optimizer.plan import TimingPlan

COLUMNS = ("tls", "cycle s", "offset s", "phase", "start s", "green s", "yellow s", "all-red s", "min s", "max s", "ped s", "coord")


def timing_sheet(plan: TimingPlan) -> str:
    """Fixed-width text table; ``start s`` is the green start within the cycle, from the offset reference."""
    rows = [COLUMNS]
    for tls_id, ip in plan.intersections.items():
        first = ip.sequence_start_s()
        for j, pt in enumerate(ip.phases):
            start = (first + ip.green_start_s(pt.phase)) % ip.cycle_s
            rows.append((
                tls_id if j == 0 else "",
                f"{ip.cycle_s:g}" if j == 0 else "",
                f"{ip.offset_s:g}" if j == 0 else "",
                str(pt.phase),
                f"{start:g}",
                f"{pt.green_s:g}",
                f"{pt.yellow_s:g}",
                f"{pt.all_red_s:g}",
                f"{pt.required_green_s:g}",
                f"{pt.max_green_s:g}",
                f"{pt.ped_min_s:g}",
                "*" if pt.phase == ip.coordinated_phase else "",
            ))
    widths = [max(len(r[c]) for r in rows) for c in range(len(COLUMNS))]
    lines = ["  ".join(cell.rjust(w) if c else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"
