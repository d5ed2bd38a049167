"""Corridor coordination: a common cycle, the splits and the offsets of every intersection.

The model (all delays in veh·s/h, so the two parts add up):

* **local delay** of each intersection under its splits at the common cycle, from the
  Webster/HCM model of :mod:`optimizer.webster` (random arrivals);
* a **progression correction** per directed link ``u -> v`` (travel time ``t``): the platoon
  released by ``u``'s coordinated green (its through flow, lasting ``flow·C / saturation``
  seconds, at most the green) arrives at ``v`` at ``a = (o_u + t - o_v) mod C`` after ``v``'s
  coordinated green starts; vehicles arriving in red wait for the next green. The correction
  is the platoon's delay minus the random-arrival delay ``(C - g_v)² / 2C`` Webster already
  charged, times its flow: negative with good progression, positive with bad.

Decisions, for each candidate common cycle (the critical intersection's optimum and one
step longer): per intersection one of a few split options (Webster's optimum at that cycle,
and the coordinated phase ``split_shift_s`` seconds longer or shorter), and an integer
offset ``o_i`` (start of the coordinated green, s). Splits and offsets are chosen jointly by
OR-Tools CP-SAT (one ``AddElement`` table per link over ``(option_u, option_v, a)``), within
``time_limit_s``, started from a greedy solution (offsets placed link by link along a
spanning tree) that is also the fallback when CP-SAT finds nothing better in time. On a
chain this greedy start is already optimal for fixed splits; CP-SAT adds the joint choice
of splits and handles networks with loops (grids), where offsets around a loop interact.
:func:`solve_exhaustive` enumerates tiny instances as the reference.

Example::

    links = find_links(net_file, models)            # optimizer.corridor_network
    plan = optimize_corridor(models, demand, links, time_limit_s=2.0)
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from optimizer.demand import DemandEstimate
from optimizer.intersection import IntersectionModel
from optimizer.plan import IntersectionPlan, TimingPlan
from optimizer.webster import (
    STORAGE_TOLERANCE_VEH,
    IntersectionBounds,
    _report,
    build_plan,
    cycle_range_s,
    green_bounds_s,
    intersection_storage,
    main_phase,
    movement_flows_veh_h,
    optimal_greens_s,
    saturation_flows_veh_h,
    service_matrix,
    storage_cycle_cap_s,
)
from phasewise_errors import PlanError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CorridorLink:
    """A directed road link between two traffic lights: leave by ``exit_edge``, arrive on ``approach``."""

    upstream: str
    downstream: str
    travel_time_s: float
    distance_m: float = 0.0
    exit_edge: str = ""
    approach: str = ""


@dataclass(frozen=True)
class CorridorOptions:
    """Search settings: candidate cycles (empty: derived), split variants, CP-SAT workers.

    ``deterministic``: the time limit is CP-SAT's deterministic time (its count of work, about
    seconds of one core), shared evenly by the candidate cycles, with one worker, so the plan
    is the same however busy the machine is (simulations); ``wall_cap_s`` then still bounds
    the wall time (the daemon, where a plan must come while it matters). Otherwise the limit
    is wall time.
    """

    cycle_candidates_s: tuple[int, ...] = ()
    cycle_step_s: int = 10
    split_shift_s: tuple[int, ...] = (-6, 0, 6)
    workers: int = 2
    deterministic: bool = False
    wall_cap_s: float | None = None


@dataclass(frozen=True)
class OffsetProblem:
    """The discrete problem at one common cycle (integer seconds).

    ``options[i][k]`` are the greens (``model.phases`` order) of split option ``k`` of
    intersection ``i``; ``local_cost[i, k]`` its delay; ``links`` hold ``(u, v, travel_s)``
    and ``tables`` the matching ``(K, K, C)`` progression corrections; ``spilling`` the lights
    whose storage constraints cannot hold at this cycle.
    """

    cycle_s: int
    tls_ids: tuple[str, ...]
    coordinated: tuple[int, ...]
    options: tuple[tuple[FloatArray, ...], ...]
    local_cost: FloatArray
    links: tuple[tuple[int, int, int], ...]
    tables: tuple[FloatArray, ...]
    spilling: tuple[str, ...] = ()  # lights whose queues no split at this cycle fits in their lanes

    @property
    def n_options(self) -> int:
        return self.local_cost.shape[1]

    def cost(self, choice: Sequence[int], offsets: Sequence[int]) -> float:
        total = float(sum(self.local_cost[i, k] for i, k in enumerate(choice)))
        for (u, v, t), table in zip(self.links, self.tables):
            total += float(table[choice[u], choice[v], (offsets[u] + t - offsets[v]) % self.cycle_s])
        return total


@dataclass(frozen=True)
class OffsetSolution:
    choice: tuple[int, ...]
    offsets: tuple[int, ...]
    cost: float
    status: str
    solve_s: float = 0.0


@dataclass(frozen=True)
class _LinkDemand:
    flow_veh_h: float
    saturation_veh_h: float


# --- building the problem -----------------------------------------------------------------


def platoon_delay_table(cycle_s: int, platoon_s: float, green_s: float) -> FloatArray:
    """Mean delay (s/veh) of a platoon lasting ``platoon_s`` arriving ``a`` s after green start,
    minus the random-arrival delay ``(C - g)^2 / 2C``; one value per ``a`` in ``0..C-1``."""
    step = 0.5
    n = max(1, int(math.ceil(platoon_s / step)))
    arrivals = np.arange(cycle_s)[:, None] + (np.arange(n)[None, :] + 0.5) * step
    position = np.mod(arrivals, cycle_s)
    wait = np.where(position < green_s, 0.0, cycle_s - position)
    return wait.mean(axis=1) - (cycle_s - green_s) ** 2 / (2.0 * cycle_s)


def coordinated_phases(models: dict[str, IntersectionModel], demand: DemandEstimate, links: Sequence[CorridorLink]) -> dict[str, int]:
    """Per light, the phase giving protected green to the most flow on the corridor's links."""
    arrivals = {(l.downstream, l.approach) for l in links}
    exits = {(l.upstream, l.exit_edge) for l in links}
    out = {}
    for tls_id, model in models.items():
        flows = movement_flows_veh_h(model, demand)
        on_corridor = np.array([
            (tls_id, m.approach) in arrivals or any((tls_id, e) in exits for e in m.to_edges) for m in model.movements
        ])
        protected = service_matrix(model)
        score = (flows * on_corridor) @ protected
        out[tls_id] = int(np.argmax(score)) if score.max(initial=0.0) > 0 else main_phase(model, demand)
    return out


def _link_demand(link: CorridorLink, models: dict[str, IntersectionModel], demand: DemandEstimate,
                 coordinated: dict[str, int], bounds: IntersectionBounds) -> _LinkDemand:
    """Platoon flow of a link: movements of ``u`` onto ``exit_edge`` protected in ``u``'s
    coordinated phase; zero when ``v``'s coordinated phase does not serve the approach."""
    up, down = models[link.upstream], models[link.downstream]
    protected_down = service_matrix(down)[:, coordinated[link.downstream]]
    if not any(m.approach == link.approach and protected_down[k] > 0 for k, m in enumerate(down.movements)):
        return _LinkDemand(0.0, 1.0)
    flows = movement_flows_veh_h(up, demand)
    sat = saturation_flows_veh_h(up, flows, bounds)
    share = service_matrix(up)[:, coordinated[link.upstream]]
    feeds = np.array([link.exit_edge in m.to_edges for m in up.movements]) * share
    return _LinkDemand(float(flows @ feeds), max(float(sat @ feeds), 1.0))


def _split_options(model: IntersectionModel, base: FloatArray, coordinated: int, shifts: Sequence[int],
                   bounds: IntersectionBounds) -> list[FloatArray]:
    """Base greens and variants with the coordinated green ``shift`` s longer, the others
    giving (or taking) the difference in proportion to their room; same cycle, within bounds."""
    low, high = green_bounds_s(model, bounds)
    out: list[FloatArray] = []
    for shift in shifts:
        g = base.copy()
        new = float(np.clip(g[coordinated] + shift, low[coordinated], high[coordinated]))
        delta = new - g[coordinated]
        others = np.arange(len(g)) != coordinated
        room = (g - low) if delta > 0 else (high - g)
        room = np.where(others, room, 0.0)
        if room.sum() < abs(delta) - 1e-9:
            delta = math.copysign(room.sum(), delta)
        g[coordinated] += delta
        if room.sum() > 0:
            taken = np.floor(room / room.sum() * abs(delta))
            rest = abs(delta) - taken.sum()
            for k in np.argsort(-(room - taken)):
                if rest < 1e-9:
                    break
                extra = min(rest, room[k] - taken[k])
                taken[k] += extra
                rest -= extra
            g = g - math.copysign(1.0, delta) * taken
        out.append(g)
    return out


def build_problem(
    models: dict[str, IntersectionModel], demand: DemandEstimate, links: Sequence[CorridorLink], cycle_s: int,
    coordinated: dict[str, int], bounds: IntersectionBounds, options: CorridorOptions,
) -> OffsetProblem:
    """The discrete problem at ``cycle_s`` (see the module docstring)."""
    tls_ids = tuple(models)
    index = {t: i for i, t in enumerate(tls_ids)}
    split_opts: list[tuple[FloatArray, ...]] = []
    spilling: list[str] = []
    local = np.zeros((len(tls_ids), len(options.split_shift_s)))
    for i, tls_id in enumerate(tls_ids):
        model = models[tls_id]
        base, _ = optimal_greens_s(model, demand, bounds, cycle_s=cycle_s)
        variants = _split_options(model, base, coordinated[tls_id], options.split_shift_s, bounds)
        storage = intersection_storage(model, demand, bounds)
        if len(storage) and storage.holds(base, STORAGE_TOLERANCE_VEH):  # a shift may not spill what the base holds
            variants = [g if storage.holds(g, STORAGE_TOLERANCE_VEH) else base for g in variants]
        elif len(storage):
            spilling.append(tls_id)
        split_opts.append(tuple(variants))
        flows = movement_flows_veh_h(model, demand)
        sat = saturation_flows_veh_h(model, flows, bounds)
        service = service_matrix(model, flows, bounds)
        for k, g in enumerate(variants):
            local[i, k] = 3600.0 * _report(float(cycle_s), g, flows, sat, service, bounds).total_veh_h_per_h
    ends, tables = [], []
    for link in links:
        if link.upstream not in index or link.downstream not in index:
            continue
        ld = _link_demand(link, models, demand, coordinated, bounds)
        if ld.flow_veh_h <= 0:
            continue
        u, v = index[link.upstream], index[link.downstream]
        cu, cv = coordinated[link.upstream], coordinated[link.downstream]
        table = np.zeros((local.shape[1], local.shape[1], cycle_s))
        for ku, gu in enumerate(split_opts[u]):
            platoon_s = min(float(gu[cu]), ld.flow_veh_h * cycle_s / ld.saturation_veh_h)
            for kv, gv in enumerate(split_opts[v]):
                table[ku, kv] = ld.flow_veh_h * platoon_delay_table(cycle_s, platoon_s, float(gv[cv]))
        ends.append((u, v, int(round(link.travel_time_s))))
        tables.append(table)
    return OffsetProblem(cycle_s, tls_ids, tuple(coordinated[t] for t in tls_ids), tuple(split_opts), local, tuple(ends),
                         tuple(tables), tuple(spilling))


# --- solving ------------------------------------------------------------------------------


def _components(problem: OffsetProblem) -> list[list[int]]:
    """Connected groups of lights (BFS order); each group's first light has offset 0."""
    adjacent: dict[int, set[int]] = {i: set() for i in range(len(problem.tls_ids))}
    for u, v, _ in problem.links:
        adjacent[u].add(v)
        adjacent[v].add(u)
    seen: set[int] = set()
    groups = []
    for root in range(len(problem.tls_ids)):
        if root in seen:
            continue
        order, frontier = [root], [root]
        seen.add(root)
        while frontier:
            nxt = []
            for a in frontier:
                for b in sorted(adjacent[a] - seen):
                    seen.add(b)
                    order.append(b)
                    nxt.append(b)
            frontier = nxt
        groups.append(order)
    return groups


def solve_greedy(problem: OffsetProblem) -> OffsetSolution:
    """Best local split everywhere; offsets placed in BFS order, each minimising its links to
    lights already placed. Optimal for a chain or tree at fixed splits."""
    started = time.perf_counter()
    choice = tuple(int(k) for k in np.argmin(problem.local_cost, axis=1))
    offsets = [0] * len(problem.tls_ids)
    placed: set[int] = set()
    c = problem.cycle_s
    candidates = np.arange(c)
    for group in _components(problem):
        placed.add(group[0])
        for v in group[1:]:
            cost = np.zeros(c)
            for (a, b, t), table in zip(problem.links, problem.tables):
                if b == v and a in placed:
                    cost += table[choice[a], choice[v], (offsets[a] + t - candidates) % c]
                elif a == v and b in placed:
                    cost += table[choice[v], choice[b], (candidates + t - offsets[b]) % c]
            offsets[v] = int(np.argmin(cost))
            placed.add(v)
    offs = tuple(offsets)
    return OffsetSolution(choice, offs, problem.cost(choice, offs), "GREEDY", time.perf_counter() - started)


def pair_tables(problem: OffsetProblem) -> dict[tuple[int, int], FloatArray]:
    """Both directions of each road between lights ``a < b`` as one ``(K, K, C)`` table over
    ``(option_a, option_b, d)`` with ``d = (o_b - o_a) mod C``."""
    c = problem.cycle_s
    d = np.arange(c)
    out: dict[tuple[int, int], FloatArray] = {}
    for (u, v, t), table in zip(problem.links, problem.tables):
        a, b = min(u, v), max(u, v)
        acc = out.setdefault((a, b), np.zeros((problem.n_options, problem.n_options, c)))
        if u == a:  # arrival at b: o_a + t - o_b = t - d
            acc += table[:, :, (t - d) % c]
        else:  # arrival at a: o_b + t - o_a = t + d
            acc += np.transpose(table, (1, 0, 2))[:, :, (t + d) % c]
    return out


def _bridges(n: int, edges: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
    """Edges on no loop (removing one disconnects its ends): their offsets are free."""
    out = set()
    for e in edges:
        rest = [f for f in edges if f != e]
        reach, frontier = {e[0]}, [e[0]]
        while frontier:
            x = frontier.pop()
            for a, b in rest:
                for y, z in ((a, b), (b, a)):
                    if y == x and z not in reach:
                        reach.add(z)
                        frontier.append(z)
        if e[1] not in reach:
            out.add(e)
    return out


def solve_cpsat(problem: OffsetProblem, time_limit_s: float, hint: OffsetSolution | None = None, workers: int = 2,
                deterministic: bool = False, wall_cap_s: float | None = None) -> OffsetSolution:
    """Joint splits and offsets by CP-SAT within ``time_limit_s``; the hint if nothing better is found.

    ``deterministic``: ``time_limit_s`` is CP-SAT's deterministic time and one worker searches,
    so the answer does not depend on the machine's load; ``wall_cap_s`` bounds the wall time
    as well (None: no wall-clock limit).

    A road on no loop of the link graph (every road of a chain or tree) leaves its offset
    difference free, so its table is reduced to the best difference per split pair before
    the solve. Roads on loops keep their offset difference ``d`` as a variable, tied to the
    offsets by ``d = o_b - o_a + C w`` (integer ``w``): the MAXBAND loop condition.
    """
    started = time.perf_counter()
    hint = hint or solve_greedy(problem)
    c, k_n, n = problem.cycle_s, problem.n_options, len(problem.tls_ids)
    tables = pair_tables(problem)
    bridges = _bridges(n, list(tables))
    model = cp_model.CpModel()
    choice = [model.NewIntVar(0, k_n - 1, f"k{i}") for i in range(n)]
    terms = []
    for i, var in enumerate(choice):
        row = [int(round(x)) for x in problem.local_cost[i]]
        cost = model.NewIntVar(min(row), max(row), f"local{i}")
        model.AddElement(var, row, cost)
        terms.append(cost)
        model.AddHint(var, hint.choice[i])
    offsets: dict[int, cp_model.IntVar] = {}

    def offset(i: int) -> cp_model.IntVar:
        if i not in offsets:
            offsets[i] = model.NewIntVar(0, c - 1, f"o{i}")
            model.AddHint(offsets[i], hint.offsets[i])
        return offsets[i]

    for (a, b), table in tables.items():
        flat = np.rint(table).astype(np.int64)
        if (a, b) in bridges:
            best = flat.min(axis=2)
            cost = model.NewIntVar(int(best.min()), int(best.max()), f"road{a}_{b}")
            model.AddAllowedAssignments([choice[a], choice[b], cost],
                                        [(ka, kb, int(best[ka, kb])) for ka in range(k_n) for kb in range(k_n)])
        else:
            diff = model.NewIntVar(0, c - 1, f"d{a}_{b}")
            wraps = model.NewIntVar(-1, 1, f"w{a}_{b}")
            model.Add(diff == offset(b) - offset(a) + c * wraps)
            cost = model.NewIntVar(int(flat.min()), int(flat.max()), f"road{a}_{b}")
            model.AddAllowedAssignments([choice[a], choice[b], diff, cost],
                                        [(ka, kb, d, int(flat[ka, kb, d])) for ka in range(k_n) for kb in range(k_n) for d in range(c)])
        terms.append(cost)
    if offsets:
        model.Add(offsets[min(offsets)] == 0)  # only differences matter (per loop block, one anchor suffices)
    model.Minimize(sum(terms))
    solver = cp_model.CpSolver()
    if deterministic:
        solver.parameters.max_deterministic_time = max(0.05, time_limit_s)
        solver.parameters.num_workers = 1
        if wall_cap_s is not None:
            solver.parameters.max_time_in_seconds = max(0.05, wall_cap_s)
    else:
        solver.parameters.max_time_in_seconds = max(0.05, time_limit_s)
        solver.parameters.num_workers = workers
    status = solver.Solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return OffsetSolution(hint.choice, hint.offsets, hint.cost, f"FALLBACK_{hint.status}", time.perf_counter() - started)
    ch = tuple(int(solver.Value(v)) for v in choice)
    offs = _place_offsets(problem, tables, bridges, ch, {i: int(solver.Value(v)) for i, v in offsets.items()})
    found = OffsetSolution(ch, offs, problem.cost(ch, offs), solver.StatusName(status), time.perf_counter() - started)
    if found.cost > hint.cost + 0.5 * len(terms):  # integer rounding aside, never worse than the start
        return OffsetSolution(hint.choice, hint.offsets, hint.cost, f"FALLBACK_{hint.status}", found.solve_s)
    return found


def _place_offsets(problem: OffsetProblem, tables: dict[tuple[int, int], FloatArray], bridges: set[tuple[int, int]],
                   choice: tuple[int, ...], solved: dict[int, int]) -> tuple[int, ...]:
    """Offsets from the solved differences: along bridges the best ``d``, inside loop blocks the solved offsets."""
    c = problem.cycle_s
    result = [0] * len(problem.tls_ids)
    for group in _components(problem):
        placed = {group[0]}
        frontier = [group[0]]
        while frontier:
            x = frontier.pop(0)
            for (a, b), table in tables.items():
                if x not in (a, b):
                    continue
                y = b if x == a else a
                if y in placed:
                    continue
                if (a, b) in bridges:
                    d = int(np.argmin(table[choice[a], choice[b]]))
                else:
                    d = (solved[b] - solved[a]) % c
                result[y] = (result[x] + d) % c if x == a else (result[x] - d) % c
                placed.add(y)
                frontier.append(y)
    return tuple(result)


def solve_exhaustive(problem: OffsetProblem) -> OffsetSolution:
    """Every split choice and every offset (each group's first light at 0): the reference."""
    started = time.perf_counter()
    n, c = len(problem.tls_ids), problem.cycle_s
    roots = {g[0] for g in _components(problem)}
    free = [i for i in range(n) if i not in roots]
    grids = np.meshgrid(*[np.arange(c)] * len(free), indexing="ij") if free else []
    offsets = np.zeros((c ** len(free), n), dtype=np.int64)
    for col, grid in zip(free, grids):
        offsets[:, col] = grid.reshape(-1)
    best = (math.inf, (), ())
    for choice in itertools.product(range(problem.n_options), repeat=n):
        total = np.full(len(offsets), sum(problem.local_cost[i, k] for i, k in enumerate(choice)))
        for (u, v, t), table in zip(problem.links, problem.tables):
            total += table[choice[u], choice[v]][(offsets[:, u] + t - offsets[:, v]) % c]
        j = int(np.argmin(total))
        if total[j] < best[0] - 1e-9:
            best = (float(total[j]), choice, tuple(int(x) for x in offsets[j]))
    return OffsetSolution(best[1], best[2], best[0], "EXHAUSTIVE", time.perf_counter() - started)


# --- the stage ----------------------------------------------------------------------------


def candidate_cycles_s(models: dict[str, IntersectionModel], demand: DemandEstimate, bounds: IntersectionBounds,
                       options: CorridorOptions) -> list[int]:
    """Common cycles to try: the critical light's optimum and one step longer, all feasible.

    Derived cycles stay at or below every light's storage cap (the longest cycle whose
    red-time queues fit, :func:`optimizer.webster.storage_cycle_cap_s`), except a light whose
    links are too short for any cycle (it has no cap to give). Cycles asked for in
    ``options.cycle_candidates_s`` are taken as given; their splits still respect storage.
    """
    ranges = [cycle_range_s(m, bounds) for m in models.values()]
    lo, hi = math.ceil(max(r[0] for r in ranges) - 1e-9), math.floor(min(r[1] for r in ranges) + 1e-9)
    if lo > hi:
        tightest = max(models, key=lambda t: cycle_range_s(models[t], bounds)[0])
        raise PlanError(f"{tightest}: no common cycle fits every intersection (needs {lo}..{hi} s)")
    if options.cycle_candidates_s:
        chosen = [c for c in options.cycle_candidates_s if lo <= c <= hi]
        if not chosen:
            raise PlanError(f"corridor: none of the cycles {list(options.cycle_candidates_s)} s fits every intersection ({lo}..{hi} s)")
        return chosen
    if bounds.storage_veh:
        caps = [storage_cycle_cap_s(m, demand, bounds) for m in models.values()]
        hi = min([hi, *(math.floor(c + 1e-9) for c in caps if c is not None and math.isfinite(c) and c >= lo)])
    critical = max(optimal_greens_s(m, demand, bounds)[1] for m in models.values())
    base = int(min(max(math.ceil(critical - 1e-9), lo), hi))
    return sorted({base, min(base + options.cycle_step_s, hi)})


def optimize_corridor(
    models: dict[str, IntersectionModel],
    demand: DemandEstimate,
    links: Sequence[CorridorLink] = (),
    time_limit_s: float = 5.0,
    bounds: IntersectionBounds = IntersectionBounds(),
    options: CorridorOptions = CorridorOptions(),
) -> TimingPlan:
    """A coordinated plan for ``models`` (see the module docstring); always returns in about
    ``time_limit_s`` (plus the splits' set-up), falling back to the greedy solution."""
    started = time.perf_counter()
    demand.check(models)
    coordinated = coordinated_phases(models, demand, links)
    cycles = candidate_cycles_s(models, demand, bounds, options)
    best: tuple[OffsetProblem, OffsetSolution] | None = None
    for n, cycle in enumerate(cycles):
        problem = build_problem(models, demand, links, cycle, coordinated, bounds, options)
        if options.deterministic:
            budget = time_limit_s / len(cycles)
            cap = None if options.wall_cap_s is None else max(0.05, (options.wall_cap_s - (time.perf_counter() - started)) / (len(cycles) - n))
        else:
            budget, cap = max(0.05, (time_limit_s - (time.perf_counter() - started)) / (len(cycles) - n)), None
        solution = (solve_cpsat(problem, budget, workers=options.workers, deterministic=options.deterministic, wall_cap_s=cap)
                    if problem.links else solve_greedy(problem))
        # a cycle at which more lights spill back loses whatever the delay model says (it cannot see spill-back)
        if best is None or (len(problem.spilling), solution.cost) < (len(best[0].spilling), best[1].cost):
            best = (problem, solution)
    assert best is not None
    problem, solution = best
    plans: dict[str, IntersectionPlan] = {}
    for i, tls_id in enumerate(problem.tls_ids):
        greens = problem.options[i][solution.choice[i]]
        plans[tls_id] = build_plan(models[tls_id], greens, float(solution.offsets[i]), problem.coordinated[i], bounds)
    local = float(sum(problem.local_cost[i, k] for i, k in enumerate(solution.choice)))
    return TimingPlan(
        plans,
        created_by="phasewise.optimizer.corridor",
        note=f"common cycle {problem.cycle_s} s, {len(problem.links)} coordinated links, solver {solution.status}",
        objective={
            "cycle_s": float(problem.cycle_s),
            "delay_veh_h_per_h": round(solution.cost / 3600.0, 3),
            "local_delay_veh_h_per_h": round(local / 3600.0, 3),
            "progression_veh_h_per_h": round((solution.cost - local) / 3600.0, 3),
            "solve_s": round(time.perf_counter() - started, 3),
        },
    )
