"""Single intersection: the cycle and splits that minimise total delay.

Delay model, per movement (HCM 2000 eq. 16-9..16-12, Webster's uniform term)::

    lambda = effective green ratio   = sum_p A[m, p] * g_p / C
    c      = capacity (veh/h)        = s_m * lambda
    x      = degree of saturation    = v_m / c
    d1     = C (1 - lambda)^2 / (2 (1 - min(x, 1) lambda))                  uniform delay
    d2     = 900 T [(x - 1) + sqrt((x - 1)^2 + 8 k I x / (c T))]           incremental delay

with ``T`` the analysis period (h), ``k = 0.5`` (pretimed), ``I = 1``. ``d2`` stays finite
for x > 1 and grows with the overflow queue, so minimising total delay sum(v (d1 + d2)) in
oversaturation maximises throughput and balances the degrees of saturation: no NaNs, and
the cycle never exceeds its bound.

Saturation flow: ``saturation_flow_veh_h_lane`` (1800) per lane of the movement, or the lane's
measured value (``lane_saturation_veh_h``: the estimator's discharge headways); a lane
shared by several movements is split between them by their demand per lane. ``A[m, p]``
is how much of phase ``p``'s green serves movement ``m``: 1 for protected links (``G``);
for permissive links (``g``: a left turn or U-turn filtering through opposing traffic) the
gap-acceptance rate of HCM 2010 (Eq. 31-59) over the base rate::

    s_perm = v_o exp(-v_o t_c / 3600) / (1 - exp(-v_o t_f / 3600)),  t_c = 4.5 s, t_f = 2.5 s

with ``v_o`` the opposing flow while it is green: the flows of the through and right-turn
movements that phase ``p`` gives protected green on other approaches, divided by
``opposing_green_ratio`` (0.35: calibrated against SUMO on the built-in corridor, where
0.5 and above overrate filtering and 0.25 and below underrate it; it also stands for the
opposing queue's discharge, during which no gap comes). A lane where such a left turn has
no protected phase at all also slows the movements sharing it (the first car waiting for a
gap blocks everyone behind): HCM's shared-lane factor ``1 / (1 + P_L (E_L - 1))`` with ``P_L`` the left
turns' share of the lane and ``E_L = s_base / s_perm``.

The search (SciPy SLSQP over the greens; the cycle is their sum plus the lost time) starts
from Webster's cycle ``C0 = (1.5 L + 5) / (1 - Y)`` with greens proportional to the
critical flow ratios, subject to min/max green, cycle bounds and ``x <= max_saturation``
for every movement; when that cap cannot be met (oversaturation) it is dropped. Zero demand
gives the minimum cycle. Greens are rounded to whole seconds.

Queue storage (``IntersectionBounds.storage_veh``, vehicles per lane from the network,
:mod:`optimizer.storage`) is a constraint too: each movement's red-time queue must fit its
shortest lane, which bounds the cycle and shifts split to movements with little room, as long
as every movement stays within the saturation cap: the search tries storage with the cap,
then the cap alone, then nothing; :mod:`optimizer.spillback` reports what a plan leaves unfit.

Example::

    plan = optimize_intersection(model, demand, IntersectionBounds(cycle_max_s=120))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import linprog, minimize

from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel, Movement, Phase
from optimizer.plan import IntersectionPlan, PhaseTiming, clearance_parts, lost_time_s
from optimizer.storage import StorageRows, longest_cycle_s, storage_rows
from phasewise_errors import PlanError

FloatArray = npt.NDArray[np.float64]

INCREMENTAL_K = 0.5  # HCM: pretimed control
UPSTREAM_I = 1.0  # HCM: isolated intersection
CRITICAL_HEADWAY_S = 4.5  # HCM 2010: permitted left turn, gap acceptance
FOLLOW_UP_HEADWAY_S = 2.5
FILTERING_TURNS = ("left", "uturn")
STORAGE_TOLERANCE_VEH = 0.1  # SLSQP's constraint slack: a tenth of a vehicle is not a spill-back


@dataclass(frozen=True)
class IntersectionBounds:
    """Limits and parameters of the single-intersection optimisation (seconds, veh/h)."""

    cycle_min_s: float = 40.0
    cycle_max_s: float = 120.0
    max_saturation: float = 0.9
    saturation_flow_veh_h_lane: float = 1800.0
    opposing_green_ratio: float = 0.35
    analysis_period_h: float = 0.25
    ped_min_s: dict[int, float] = field(default_factory=dict)
    storage_veh: Mapping[str, float] = field(default_factory=dict)  # lane id -> vehicles it holds (optimizer.storage)
    lane_saturation_veh_h: Mapping[str, float] = field(default_factory=dict)  # lane id -> measured, veh/h

    def lane_saturation(self, lane_id: str) -> float:
        """Saturation flow of one lane (veh/h): measured where known, ``saturation_flow_veh_h_lane`` elsewhere."""
        return self.lane_saturation_veh_h.get(lane_id, self.saturation_flow_veh_h_lane)


@dataclass(frozen=True)
class DelayReport:
    """Delay of a timing under a demand: totals and per-movement detail (model order)."""

    total_veh_h_per_h: float
    mean_s_per_veh: float
    degree_of_saturation: tuple[float, ...]

    @property
    def max_degree_of_saturation(self) -> float:
        return max(self.degree_of_saturation, default=0.0)


# --- model quantities ---------------------------------------------------------------------


def movement_flows_veh_h(model: IntersectionModel, demand: DemandEstimate) -> FloatArray:
    """Demand per movement, in ``model.movements`` order."""
    flows = demand.of(model.tls_id)
    return np.array([flows.get(m.id, 0.0) for m in model.movements], dtype=float)


def permitted_saturation_veh_h(opposing_veh_h: float) -> float:
    """HCM 2010 gap-acceptance saturation flow of a permitted left turn (veh/h) facing an
    opposing flow ``opposing_veh_h`` (veh/h of its green); 3600 / t_f with no opposition."""
    v = max(float(opposing_veh_h), 0.0)
    if v < 1e-6:
        return 3600.0 / FOLLOW_UP_HEADWAY_S
    return v * math.exp(-v * CRITICAL_HEADWAY_S / 3600.0) / (1.0 - math.exp(-v * FOLLOW_UP_HEADWAY_S / 3600.0))


def permissive_ratios(model: IntersectionModel, flows_veh_h: FloatArray, bounds: IntersectionBounds) -> FloatArray:
    """``r[m, p]``: permitted over base saturation flow of movement ``m``'s ``g`` links in
    phase ``p`` (1 where the movement does not filter: protected, right turns, red)."""
    ratios = np.ones((len(model.movements), len(model.phases)))
    for p, phase in enumerate(model.phases):
        protected_by_approach: dict[str, float] = {}
        for k, m in enumerate(model.movements):
            if m.turn in ("through", "right") and _protected_in(phase, m):
                protected_by_approach[m.approach] = protected_by_approach.get(m.approach, 0.0) + flows_veh_h[k]
        total = sum(protected_by_approach.values())
        for k, m in enumerate(model.movements):
            if m.turn in FILTERING_TURNS and any(phase.state[i] == "g" for i in m.link_indices):
                opposing = total - protected_by_approach.get(m.approach, 0.0)
                s_perm = permitted_saturation_veh_h(opposing / bounds.opposing_green_ratio)
                ratios[k, p] = min(1.0, s_perm / bounds.saturation_flow_veh_h_lane)
    return ratios


def _protected_in(phase: Phase, m: Movement) -> bool:
    return all(phase.state[i] == "G" for i in m.link_indices)


def _protected_somewhere(model: IntersectionModel, m: Movement) -> bool:
    return any(_protected_in(phase, m) for phase in model.phases)


def saturation_flows_veh_h(
    model: IntersectionModel, flows_veh_h: FloatArray, bounds: IntersectionBounds = IntersectionBounds()
) -> FloatArray:
    """Saturation flow per movement: each lane's (``bounds.lane_saturation``: measured, or
    ``saturation_flow_veh_h_lane``), shared lanes split by demand, and slowed by HCM's shared-lane factor where a left turn (or
    U-turn) with no protected phase filters (see the module docstring)."""
    ratios = permissive_ratios(model, flows_veh_h, bounds)
    per_lane_demand = {m.id: flows_veh_h[k] / len(m.from_lanes) for k, m in enumerate(model.movements)}
    users: dict[str, list[int]] = {}
    for k, m in enumerate(model.movements):
        for lane in m.from_lanes:
            users.setdefault(lane, []).append(k)
    lane_total = {lane: sum(per_lane_demand[model.movements[k].id] for k in ks) for lane, ks in users.items()}
    lane_factor: dict[str, float] = {}
    for lane, ks in users.items():
        penalty = sum(
            per_lane_demand[model.movements[k].id] / lane_total[lane] * (1.0 / max(float(ratios[k].min()), 1e-3) - 1.0)
            for k in ks
            if lane_total[lane] > 0 and model.movements[k].turn in FILTERING_TURNS
            and not _protected_somewhere(model, model.movements[k])
        )
        lane_factor[lane] = 1.0 / (1.0 + penalty)
    sat = np.zeros(len(model.movements))
    for k, m in enumerate(model.movements):
        for lane in m.from_lanes:
            total = lane_total[lane]
            share = per_lane_demand[m.id] / total if total > 0 else 1.0 / len(users[lane])
            sat[k] += bounds.lane_saturation(lane) * share * lane_factor[lane]
    return sat


def service_matrix(
    model: IntersectionModel, flows_veh_h: FloatArray | None = None, bounds: IntersectionBounds = IntersectionBounds()
) -> FloatArray:
    """``A[m, p]``: share of phase ``p``'s green usable by movement ``m``: 1 for ``G``; for
    ``g`` the permitted-left ratio of :func:`permissive_ratios` (0 when ``flows_veh_h`` is
    ``None``: protected green only). A filtering movement's lane already carries its
    shared-lane factor, so its permissive green counts in full here."""
    ratios = permissive_ratios(model, flows_veh_h, bounds) if flows_veh_h is not None else None
    a = np.zeros((len(model.movements), len(model.phases)))
    for k, m in enumerate(model.movements):
        filters_unprotected = not _protected_somewhere(model, m)
        for p, phase in enumerate(model.phases):
            weights = []
            for i in m.link_indices:
                if phase.state[i] == "G":
                    weights.append(1.0)
                elif phase.state[i] == "g" and ratios is not None:
                    weights.append(1.0 if filters_unprotected else float(ratios[k, p]))
                else:
                    weights.append(0.0)
            a[k, p] = float(np.mean(weights)) if weights else 0.0
    return a


def critical_flow_ratios(flows: FloatArray, sat: FloatArray, service: FloatArray) -> FloatArray:
    """Webster's critical ``y`` per phase: each movement is charged to the phase(s) serving it best."""
    y = np.zeros(service.shape[1])
    for k in range(len(flows)):
        best = service[k].max()
        if flows[k] <= 0 or best <= 0 or sat[k] <= 0:
            continue
        ratio = flows[k] / (sat[k] * best)
        for p in np.flatnonzero(service[k] == best):
            y[p] = max(y[p], ratio)
    return y


def webster_cycle_s(lost_s: float, flow_ratio_sum: float) -> float:
    """Webster's optimum cycle ``(1.5 L + 5) / (1 - Y)``; infinite when ``Y >= 1``."""
    return math.inf if flow_ratio_sum >= 1.0 else (1.5 * lost_s + 5.0) / (1.0 - flow_ratio_sum)


def movement_delays_s(
    cycle_s: float, greens_s: FloatArray, flows: FloatArray, sat: FloatArray, service: FloatArray, period_h: float,
) -> tuple[FloatArray, FloatArray]:
    """``(delay s/veh, degree of saturation)`` per movement (see the module docstring)."""
    green_ratio = np.clip(service @ greens_s / cycle_s, 1e-3, 1.0)
    capacity = np.maximum(sat * green_ratio, 1e-6)
    x = flows / capacity
    uniform = 0.5 * cycle_s * (1.0 - green_ratio) ** 2 / (1.0 - np.minimum(x, 1.0) * green_ratio)
    incremental = 900.0 * period_h * (
        (x - 1.0) + np.sqrt((x - 1.0) ** 2 + 8.0 * INCREMENTAL_K * UPSTREAM_I * x / (capacity * period_h))
    )
    return uniform + incremental, x


def intersection_delay(
    model: IntersectionModel, demand: DemandEstimate, cycle_s: float, greens_s: FloatArray,
    bounds: IntersectionBounds = IntersectionBounds(),
) -> DelayReport:
    """Delay of given greens (``model.phases`` order) and cycle under ``demand``."""
    flows = movement_flows_veh_h(model, demand)
    sat = saturation_flows_veh_h(model, flows, bounds)
    service = service_matrix(model, flows, bounds)
    return _report(cycle_s, np.asarray(greens_s, float), flows, sat, service, bounds)


def _report(cycle_s: float, greens: FloatArray, flows: FloatArray, sat: FloatArray, service: FloatArray,
            bounds: IntersectionBounds) -> DelayReport:
    served = (flows > 0) & (sat > 0) & (service.max(axis=1) > 0)
    delay, x = movement_delays_s(cycle_s, greens, flows, sat, service, bounds.analysis_period_h)
    total = float(np.sum(flows[served] * delay[served]) / 3600.0)
    volume = float(flows[served].sum())
    return DelayReport(total, 3600.0 * total / volume if volume > 0 else 0.0, tuple(float(v) if served[k] else 0.0 for k, v in enumerate(x)))


# --- optimisation -------------------------------------------------------------------------


def ped_min_s(model: IntersectionModel, bounds: IntersectionBounds, phase: int) -> float:
    """The shortest green a plan gives ``phase`` for its pedestrians: walk + pedestrian
    clearance of the crossings it shows walk on (the model's), or the bound given for it,
    whichever is longer. The plan's green reserves it, so a walk fits whenever it is shown;
    only a bound given here is also a minimum green for every green of the phase
    (``PhaseTiming.ped_min_s``): the signal keeps a walk's time itself once it shows one."""
    return max(bounds.ped_min_s.get(phase, 0.0), model.pedestrian_time_s(phase))


def green_bounds_s(model: IntersectionModel, bounds: IntersectionBounds) -> tuple[FloatArray, FloatArray]:
    """Per-phase ``(lowest, highest)`` green: min green raised to the pedestrian minimum. A
    phase's walk and clearance (from its crossings) fit even past its max green, which bounds
    what vehicles extend; a pedestrian minimum given in ``bounds`` above the max green is an error."""
    low = np.array([max(p.min_green_s, ped_min_s(model, bounds, p.index)) for p in model.phases])
    high = np.array([max(p.max_green_s, model.pedestrian_time_s(p.index)) for p in model.phases])
    for p in model.phases:
        if low[p.index] > high[p.index]:
            raise PlanError(
                f"{model.tls_id} phase {p.index}: minimum green {low[p.index]:g} s (pedestrian minimum included) "
                f"exceeds its maximum green {high[p.index]:g} s"
            )
    return low, high


def cycle_range_s(model: IntersectionModel, bounds: IntersectionBounds) -> tuple[float, float]:
    """Feasible cycle range; ``PlanError`` naming the phases when the minimums cannot fit."""
    low, high = green_bounds_s(model, bounds)
    lost = lost_time_s(model, tuple(range(len(model.phases))))
    shortest = float(low.sum()) + lost
    if shortest > bounds.cycle_max_s + 1e-9:
        mins = ", ".join(f"phase {p.index} {low[p.index]:g} s" for p in model.phases)
        raise PlanError(
            f"{model.tls_id}: minimum greens ({mins}) plus {lost:g} s clearance need a {shortest:g} s cycle, "
            f"above the maximum cycle {bounds.cycle_max_s:g} s"
        )
    longest = float(high.sum()) + lost
    lo = max(bounds.cycle_min_s, shortest)
    return min(lo, longest), min(bounds.cycle_max_s, longest)


def intersection_storage(model: IntersectionModel, demand: DemandEstimate, bounds: IntersectionBounds) -> StorageRows:
    """The storage constraints of ``model`` under ``demand`` (:mod:`optimizer.storage`)."""
    flows = movement_flows_veh_h(model, demand)
    service = service_matrix(model, flows, bounds)
    return storage_rows(model, flows, service, lost_time_s(model, tuple(range(len(model.phases)))), bounds.storage_veh)


def storage_cycle_cap_s(model: IntersectionModel, demand: DemandEstimate, bounds: IntersectionBounds) -> float | None:
    """The longest cycle at which every red-time queue fits (inf with no storage known; None if no cycle does)."""
    rows = intersection_storage(model, demand, bounds)
    if not len(rows):
        return math.inf
    low, high = green_bounds_s(model, bounds)
    return longest_cycle_s(rows, low, high)


def optimize_intersection(
    model: IntersectionModel,
    demand: DemandEstimate,
    bounds: IntersectionBounds = IntersectionBounds(),
    cycle_s: float | None = None,
    offset_s: float = 0.0,
    coordinated_phase: int | None = None,
) -> IntersectionPlan:
    """The minimum-delay plan of one intersection (see the module docstring).

    ``cycle_s`` fixes the cycle (a corridor's common cycle); otherwise it is chosen within
    the bounds. ``coordinated_phase`` defaults to the phase serving the most protected flow.
    Raises ``PlanError`` naming intersection and phase when the bounds are infeasible.
    """
    greens, cycle = optimal_greens_s(model, demand, bounds, cycle_s)
    if coordinated_phase is None:
        coordinated_phase = main_phase(model, demand)
    return build_plan(model, greens, offset_s % cycle, coordinated_phase, bounds)


def optimal_greens_s(
    model: IntersectionModel, demand: DemandEstimate, bounds: IntersectionBounds, cycle_s: float | None = None
) -> tuple[FloatArray, float]:
    """Rounded optimal greens (``model.phases`` order) and the resulting cycle."""
    low, high = green_bounds_s(model, bounds)
    lost = lost_time_s(model, tuple(range(len(model.phases))))
    c_lo, c_hi = cycle_range_s(model, bounds)
    if cycle_s is not None:
        if not low.sum() + lost - 1e-9 <= cycle_s <= high.sum() + lost + 1e-9:
            raise PlanError(
                f"{model.tls_id}: a {cycle_s:g} s cycle cannot hold its phases "
                f"(needs {low.sum() + lost:g}..{high.sum() + lost:g} s)"
            )
        c_lo = c_hi = float(cycle_s)
    flows = movement_flows_veh_h(model, demand)
    sat = saturation_flows_veh_h(model, flows, bounds)
    service = service_matrix(model, flows, bounds)
    if flows.sum() <= 0:
        return _round_greens(_spread(low, high, c_lo - lost), c_lo - lost, low, high), c_lo
    y = critical_flow_ratios(flows, sat, service)
    storage = storage_rows(model, flows, service, lost, bounds.storage_veh)
    starts = [_proportional(y, low, high, c - lost) for c in {_clip(webster_cycle_s(lost, min(y.sum(), 0.95)), c_lo, c_hi), c_hi}]
    best, best_delay = starts[0], math.inf
    # storage holds only within the saturation cap: a shorter red that overloads a movement swaps a queue that
    # spills for one that grows (cologne3: a 10 m lane held at x <= 1 cost 64 s/veh in SUMO)
    attempts = [(bounds.max_saturation, storage), (bounds.max_saturation, None), (None, None)]
    for x_cap, held in attempts if len(storage) else attempts[1:]:
        for start in starts:
            g = _slsqp(start, low, high, lost, c_lo, c_hi, flows, sat, service, bounds, x_cap, held)
            if g is None:
                continue
            delay = _report(g.sum() + lost, g, flows, sat, service, bounds).total_veh_h_per_h
            if delay < best_delay:
                best, best_delay = g, delay
        if best_delay < math.inf:
            break
    target = round(best.sum() + lost) - lost if cycle_s is None else cycle_s - lost
    target = _clip(target, max(low.sum(), c_lo - lost), min(high.sum(), c_hi - lost))
    greens = _round_greens(best, target, low, high)
    return greens, float(greens.sum() + lost)


def _slsqp(
    start: FloatArray, low: FloatArray, high: FloatArray, lost: float, c_lo: float, c_hi: float,
    flows: FloatArray, sat: FloatArray, service: FloatArray, bounds: IntersectionBounds,
    x_cap: float | None, storage: StorageRows | None = None,
) -> FloatArray | None:
    """Local minimum of total delay over the greens; ``None`` if the constraints cannot hold.

    Constraints besides green and cycle bounds, both linear in ``g``: ``x <= x_cap`` for
    every loaded movement (``v (sum g + L) <= x_cap s (A g)``) and the storage rows.
    """
    ones = np.ones_like(start)
    constraints = [
        {"type": "ineq", "fun": lambda g: g.sum() + lost - c_lo, "jac": lambda g: ones},
        {"type": "ineq", "fun": lambda g: c_hi - g.sum() - lost, "jac": lambda g: -ones},
    ]
    loaded = (flows > 0) & (sat > 0) & (service.max(axis=1) > 0)
    rows, rhs = np.zeros((0, len(start))), np.zeros(0)
    if x_cap is not None and loaded.any():
        rows = flows[loaded, None] * ones[None, :] - x_cap * sat[loaded, None] * service[loaded]
        rhs = -flows[loaded] * lost
    if storage is not None and len(storage):
        rows, rhs = np.vstack([rows, storage.rows]), np.concatenate([rhs, storage.rhs])
    if len(rhs):  # check feasibility first with an LP, and start from a feasible point
        lp = linprog(np.zeros_like(start), A_ub=np.vstack([rows, ones, -ones]),
                     b_ub=np.concatenate([rhs, [c_hi - lost, lost - c_lo]]), bounds=list(zip(low, high)))
        if lp.status != 0:
            return None
        start = np.asarray(lp.x) if not np.all(rows @ start <= rhs) else start
        constraints.append({"type": "ineq", "fun": lambda g: rhs - rows @ g, "jac": lambda g: -rows})
    scale = 3600.0

    def objective(g: FloatArray) -> float:
        delay, _ = movement_delays_s(g.sum() + lost, g, flows, sat, service, bounds.analysis_period_h)
        return float(np.sum(flows[loaded] * delay[loaded]) / scale)

    result = minimize(objective, start, method="SLSQP", bounds=list(zip(low, high)), constraints=constraints,
                      options={"maxiter": 200, "ftol": 1e-6})
    g = np.clip(np.asarray(result.x, float), low, high)
    if not np.all(np.isfinite(g)):
        return None
    cycle = g.sum() + lost
    if not c_lo - 0.5 <= cycle <= c_hi + 0.5:
        return None
    if x_cap is not None and loaded.any():
        _, x = movement_delays_s(cycle, g, flows, sat, service, bounds.analysis_period_h)
        if np.max(x[loaded]) > x_cap + 0.01:
            return None
    if storage is not None and not storage.holds(g, tolerance_veh=STORAGE_TOLERANCE_VEH):
        return None
    return g


def _clip(value: float, lo: float, hi: float) -> float:
    return float(min(max(value, lo), hi))


def _spread(low: FloatArray, high: FloatArray, total: float) -> FloatArray:
    """Greens from their minimum, the remainder shared equally (respecting maximums)."""
    g = low.astype(float).copy()
    for _ in range(len(g) + 1):
        room = high - g
        open_ = room > 1e-9
        extra = total - g.sum()
        if extra <= 1e-9 or not open_.any():
            break
        g[open_] += np.minimum(room[open_], extra / open_.sum())
    return g


def _proportional(y: FloatArray, low: FloatArray, high: FloatArray, total: float) -> FloatArray:
    """Webster's split: green beyond the minimums in proportion to the critical ratios."""
    weights = y if y.sum() > 0 else np.ones_like(y)
    g = low + weights / weights.sum() * max(total - low.sum(), 0.0)
    g = np.clip(g, low, high)
    return _spread(g, high, total)


def _round_greens(g: FloatArray, total: float, low: FloatArray, high: FloatArray) -> FloatArray:
    """Whole-second greens within bounds adding up to ``total`` (a fraction goes to the largest slack)."""
    g = np.clip(g * (total / g.sum()) if g.sum() > 0 else g, low, high)
    rounded = np.clip(np.floor(g + 1e-9), np.ceil(low - 1e-9), np.floor(high + 1e-9))
    order = np.argsort(-(g - rounded))
    for _ in range(4 * len(g)):
        gap = total - rounded.sum()
        if abs(gap) < 1.0 - 1e-9:
            break
        step = 1.0 if gap > 0 else -1.0
        for k in order:
            if (step > 0 and rounded[k] + 1 <= high[k] + 1e-9) or (step < 0 and rounded[k] - 1 >= low[k] - 1e-9):
                rounded[k] += step
                break
        else:
            break
    gap = total - rounded.sum()
    if abs(gap) > 1e-9:
        room = (high - rounded) if gap > 0 else (rounded - low)
        rounded[int(np.argmax(room))] += gap
    return rounded


def main_phase(model: IntersectionModel, demand: DemandEstimate) -> int:
    """The phase giving protected green to the most demand (phase 0 on ties or no demand)."""
    flows = movement_flows_veh_h(model, demand)
    protected = service_matrix(model)
    served = flows @ (protected >= 1.0 - 1e-9)
    return int(np.argmax(served)) if served.max(initial=0.0) > 0 else 0


def build_plan(
    model: IntersectionModel, greens_s: FloatArray, offset_s: float, coordinated_phase: int,
    bounds: IntersectionBounds = IntersectionBounds(),
) -> IntersectionPlan:
    """An ``IntersectionPlan`` over all phases in model order with the model's clearances."""
    n = len(model.phases)
    phases = []
    for k, phase in enumerate(model.phases):
        yellow, all_red = clearance_parts(model, k, (k + 1) % n)
        phases.append(PhaseTiming(
            phase=k,
            green_s=float(greens_s[k]),
            yellow_s=yellow,
            all_red_s=all_red,
            min_green_s=phase.min_green_s,
            max_green_s=phase.max_green_s,
            ped_min_s=float(bounds.ped_min_s.get(k, 0.0)),
        ))
    cycle = float(sum(p.split_s for p in phases))
    return IntersectionPlan(model.tls_id, cycle, float(offset_s) % cycle, tuple(phases), coordinated_phase)
