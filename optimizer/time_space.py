"""Time-space diagram of a corridor plan: coordinated greens per intersection and the bands.

Distance runs up the page in corridor order (cumulative link travel distance), time across.
Each intersection shows its coordinated phase's green (green bar) and the rest of its cycle
(red bar). The dark shaded bands are the through bands of progression (Little's bandwidth, as
in PASSER/Synchro diagrams): the times at which a vehicle leaving the first light at free-flow
speed (the links' travel times) meets green at every light of the chain, up the page and
down it; the light ones the same from each light to the next (what a plan that coordinates
pairs, not the whole arterial, gives). Their widths (bandwidth, s and % of the cycle) are in
the legend and returned by :func:`through_band_s`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any
from pathlib import Path

from optimizer.corridor import CorridorLink
from optimizer.plan import TimingPlan

BAND_STEP_S = 0.5  # resolution of the band search; bands are reported to this precision
LABEL_CHARS = 18  # longer signal ids (SUMO cluster ids run to 60 characters) are shortened in the middle


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


def is_coordinated_green(plan: TimingPlan, tls_id: str, t_s: float) -> bool:
    """Whether ``tls_id``'s coordinated phase shows green at absolute time ``t_s``."""
    ip = plan.intersections[tls_id]
    return (t_s - ip.offset_s) % ip.cycle_s < ip.timing(ip.coordinated_phase).green_s


def through_band_s(plan: TimingPlan, chain: Sequence[tuple[str, float]]) -> tuple[float, float]:
    """``(start_s, width_s)`` of the widest through band along ``chain``.

    ``chain`` lists ``(tls, arrival time after leaving the first light, s)``; a departure time
    ``t`` (mod the first light's cycle) is in the band when every light shows its coordinated
    green at ``t + arrival``. Width 0 when no departure passes every light on green.
    """
    cycle = plan.intersections[chain[0][0]].cycle_s
    times = [k * BAND_STEP_S for k in range(int(cycle / BAND_STEP_S))]
    ok = [all(is_coordinated_green(plan, tls, t + dt) for tls, dt in chain) for t in times]
    if all(ok):
        return 0.0, cycle
    best_start, best_len, run = 0, 0, 0
    for k in range(2 * len(ok)):  # twice round: a band may wrap over the cycle's end
        run = run + 1 if ok[k % len(ok)] else 0
        if run > best_len:
            best_start, best_len = k - run + 1, min(run, len(ok))
    return (best_start * BAND_STEP_S) % cycle, best_len * BAND_STEP_S


def short_label(tls_id: str, chars: int = LABEL_CHARS) -> str:
    """``tls_id`` if short, else its start and end around an ellipsis (both ends identify a cluster)."""
    if len(tls_id) <= chars:
        return tls_id
    keep = (chars - 1) // 2
    return f"{tls_id[:keep]}…{tls_id[-keep:]}"


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
    height = max((y for _, y, _ in order), default=0.0) or 1.0
    bar = 0.025 * height + 4.0
    fig, ax = plt.subplots(figsize=(11, 2.2 + 0.8 * len(order)))
    for tls_id, y, _ in order:
        ip = plan.intersections[tls_id]
        green = ip.timing(ip.coordinated_phase).green_s
        ax.broken_barh([(0, horizon)], (y - bar / 2, bar), color="#d9534f", zorder=3)
        start = ip.offset_s - ip.cycle_s
        while start < horizon:
            ax.broken_barh([(start, green)], (y - bar / 2, bar), color="#3bb273", zorder=3)
            start += ip.cycle_s
    if len(order) > 1:
        up = [(t, y) for t, y, _ in order]
        arrive_up = _arrivals([travel for _, _, travel in order])
        back = [_travel(links, order[k + 1][0], order[k][0], order[k + 1][2]) for k in range(len(order) - 1)]
        arrive_down = _arrivals([0.0, *reversed(back)])
        for chain, arrivals, colour, name in (
            (up, arrive_up, "#1f5fa8", "up the page"),
            (list(reversed(up)), arrive_down, "#8e44ad", "down the page"),
        ):
            ys = [y for _, y in chain]
            start_s, width_s = through_band_s(plan, [(t, a) for (t, _), a in zip(chain, arrivals)])
            first_cycle = plan.intersections[chain[0][0]].cycle_s
            label = (f"{name} ({short_label(chain[0][0])} → {short_label(chain[-1][0])}): through band {width_s:g} s "
                     f"({width_s / first_cycle:.0%} of the cycle)" if width_s > 0 else f"{name}: no through band")
            if not _draw_band(ax, ys, arrivals, start_s, width_s, first_cycle, horizon, colour, 0.35, label):
                ax.plot([], [], color=colour, label=label)
            # link by link: what each pair of neighbours passes on green, where no band runs through
            widths = []
            for k in range(len(chain) - 1):
                hop = arrivals[k + 1] - arrivals[k]
                link_start, link_width = through_band_s(plan, [(chain[k][0], 0.0), (chain[k + 1][0], hop)])
                widths.append(link_width)
                _draw_band(ax, ys[k:k + 2], [0.0, hop], link_start, link_width,
                           plan.intersections[chain[k][0]].cycle_s, horizon, colour, 0.12, None)
            ax.fill([], [], color=colour, alpha=0.12,
                    label=f"{name}, light to light: bands {', '.join(f'{w:g}' for w in widths)} s")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8, frameon=False)
    ax.set_xlim(0, horizon)
    ax.set_ylim(-2 * bar, height + 2 * bar)
    ax.set_xlabel("time (s)")
    ax.set_yticks([y for _, y, _ in order], [f"{short_label(t)}  {y:.0f} m" for t, y, _ in order], fontsize=8)
    ax.set_ylabel("distance along the corridor")
    cycles_s = sorted({ip.cycle_s for ip in plan.intersections.values()})
    ax.set_title("Time-space diagram: coordinated greens and through bands\n"
                 + textwrap.fill(f"cycle {', '.join(f'{c:g}' for c in cycles_s)} s — {plan.note}", 110), fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _draw_band(ax: Any, ys: Sequence[float], arrivals: Sequence[float], start_s: float, width_s: float,
               cycle_s: float, horizon_s: float, colour: str, alpha: float, label: str | None) -> bool:
    """Shade a band (departures ``start_s + [0, width_s)`` each cycle) along ``ys``; False when empty."""
    if width_s <= 0:
        return False
    t0 = start_s - cycle_s * (1 + (max(arrivals) // cycle_s))
    while t0 < horizon_s:
        xs = [t0 + a for a in arrivals] + [t0 + width_s + a for a in reversed(arrivals)]
        ax.fill(xs, [*ys, *reversed(ys)], color=colour, alpha=alpha, lw=0, zorder=2, label=label)
        label = None
        t0 += cycle_s
    return True


def _arrivals(travel_s: Sequence[float]) -> list[float]:
    """Cumulative arrival times from per-link travel times (the first entry is the first light's 0)."""
    out, total = [], 0.0
    for t in travel_s:
        total += t
        out.append(total)
    return out


def _travel(links: Sequence[CorridorLink], upstream: str, downstream: str, default_s: float) -> float:
    return next((l.travel_time_s for l in links if l.upstream == upstream and l.downstream == downstream), default_s)
