"""Time-space diagram of a corridor plan: coordinated greens per intersection and the bands.

Distance runs up the page in corridor order (cumulative link travel distance), time across.
Each intersection shows its coordinated phase's green (green bar) and the rest of its cycle
(red bar); lines at free-flow speed follow the first and last vehicle of each platoon
released at the start of a coordinated green, eastbound (up) and westbound (down), so the
bands of progression are visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from optimizer.corridor import CorridorLink
from optimizer.plan import TimingPlan


def corridor_order(links: Sequence[CorridorLink], tls_ids: Sequence[str]) -> list[tuple[str, float, float]]:
    """``(tls, position m, travel time from the previous light s)`` along the longest simple
    chain of links, walked from an end (a light with one neighbour)."""
    step = {(l.upstream, l.downstream): l for l in links if l.upstream in tls_ids and l.downstream in tls_ids}
    neighbours: dict[str, list[str]] = {t: [] for t in tls_ids}
    for a, b in step:
        if b not in neighbours[a]:
            neighbours[a].append(b)
    best: list[tuple[str, float, float]] = []
    for start in (t for t in tls_ids if len(neighbours[t]) == 1):
        chain, seen, node, position = [(start, 0.0, 0.0)], {start}, start, 0.0
        while True:
            nxt = [n for n in neighbours[node] if n not in seen]
            if not nxt:
                break
            link = step[(node, nxt[0])]
            position += link.distance_m
            chain.append((nxt[0], position, link.travel_time_s))
            seen.add(nxt[0])
            node = nxt[0]
        if len(chain) > len(best):
            best = chain
    return best


def plot_time_space(plan: TimingPlan, links: Sequence[CorridorLink], path: Path, cycles: int = 3) -> Path:
    """Write the diagram as a PNG and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = corridor_order(links, list(plan.intersections))
    if not order:
        order = [(t, 300.0 * k, 0.0) for k, t in enumerate(plan.intersections)]
    cycle = max(ip.cycle_s for ip in plan.intersections.values())
    horizon = cycles * cycle
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.9 * len(order)))
    bar = 12.0
    for tls_id, y, _ in order:
        ip = plan.intersections[tls_id]
        green = ip.timing(ip.coordinated_phase).green_s
        ax.broken_barh([(0, horizon)], (y - bar / 2, bar), color="#d9534f")
        start = ip.offset_s - ip.cycle_s
        while start < horizon:
            ax.broken_barh([(start, green)], (y - bar / 2, bar), color="#3bb273")
            start += ip.cycle_s
        ax.text(-0.01 * horizon, y, tls_id, ha="right", va="center", fontsize=8)
    for k in range(len(order) - 1):
        (a, ya, _), (b, yb, travel) = order[k], order[k + 1]
        back = next((l.travel_time_s for l in links if l.upstream == b and l.downstream == a), travel)
        for up, y0, y1, t_link, colour in ((a, ya, yb, travel, "#1f5fa8"), (b, yb, ya, back, "#8e44ad")):
            ip = plan.intersections[up]
            green = ip.timing(ip.coordinated_phase).green_s
            start = ip.offset_s - ip.cycle_s
            while start < horizon:
                for t0 in (start, start + green):
                    ax.plot([t0, t0 + t_link], [y0, y1], color=colour, lw=0.8, alpha=0.8)
                start += ip.cycle_s
    ax.set_xlim(0, horizon)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("distance along the corridor (m)")
    ax.set_yticks([])
    ax.set_title(f"Time-space diagram: coordinated greens, eastbound (blue) and westbound (purple) bands — {plan.note}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
