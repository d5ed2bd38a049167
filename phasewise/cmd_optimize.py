"""``phasewise optimize``: demand in, a coordinated timing plan out (JSON, SUMO, sheet, diagram).

Demand comes from exactly one of: a demand CSV (``tls,movement,flow_veh_h[,std_veh_h]``),
the vision counts CSV with its lane map, turning-movement counts, a Synchro UTDF file, what
the cameras measured (``--measured``: the daemon's state or a replay folder,
:mod:`optimizer.demand_measured`) or a SUMO route file (defaults to the scenario's routes).
``--measured`` also gives the saturation flow per lane where it was measured. The network
is a SUMO net, a ``.sumocfg`` or the built-in corridor.

With a scenario to simulate (``--sumocfg`` or ``--scenario``) the new plan is checked in SUMO
against the program the network runs today, on the same seeds (``--no-check`` skips it):
``plan.add.xml`` is always the *recommended* program, the new plan only when the check finds
it better (:mod:`optimizer.check`), the existing program otherwise. ``candidate.add.xml`` and
``program.add.xml`` hold both, ``check.json`` and ``check.png`` the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from phasewise import scenarios
from phasewise.app import app
from phasewise.input_files import input_file, read_input_text
from phasewise.options import finite, positive, simulation_time
from phasewise.outputs import OutputFolder
from phasewise_errors import ConfigError

if TYPE_CHECKING:  # the optimizer (SciPy, OR-Tools) is imported when the command runs: a fast CLI start
    from optimizer.demand import DemandEstimate
    from optimizer.plan import TimingPlan
    from optimizer.webster import IntersectionBounds
    from sumo_scenarios.scenario import Scenario

console = Console(stderr=True)

PLAN_FILES = ("plan.json", "plan.add.xml", "timing.txt", "time_space.png", "plan.utdf.csv", "volumes.utdf.csv")
CHECK_FILES = ("candidate.add.xml", "program.add.xml", "check.json", "check.png")


def _scenario(net: Path | None, sumocfg: Path | None, scenario: str | None, seed: int) -> tuple[Path, Scenario | None]:
    given = [x is not None for x in (net, sumocfg, scenario)]
    if sum(given) != 1:
        raise ConfigError("give exactly one of --net NET.net.xml, --sumocfg PATH or --scenario NAME")
    if net is not None:
        return net, None
    resolved = scenarios.resolve(sumocfg, scenario, [seed])[0]
    return resolved.net_file, resolved


def _demand(
    models: dict, net_file: Path, scenario: Scenario | None, demand: Path | None, counts: Path | None, lane_map: Path | None,
    routes: Path | None, begin: float | None, end: float | None, tmc: Path | None = None,
) -> DemandEstimate:
    from optimizer.demand import read_demand_csv
    from optimizer.demand_counts import demand_from_counts
    from optimizer.demand_routes import demand_from_routes
    from sumo_scenarios.routing import route_trips

    if sum(x is not None for x in (demand, counts, routes, tmc)) > 1:
        raise ConfigError("give only one demand source: --demand, --tmc, --counts (with --lane-map) or --routes")
    if tmc is not None:
        from optimizer.demand_tmc import read_tmc_csv

        start_s, estimate = read_tmc_csv(tmc).peak_hour()
        console.print(f"demand: the peak hour of {tmc} (from {start_s:g} s)")
        return estimate
    if demand is not None:
        return read_demand_csv(demand)
    if counts is not None:
        if lane_map is None:
            raise ConfigError("--counts needs --lane-map LANE_MAP.csv (columns lane,tls,movement[,share])")
        return demand_from_counts(counts, lane_map)
    route_files = (routes,) if routes is not None else (scenario.route_files if scenario else ())
    if not route_files:
        raise ConfigError("no demand: give --demand FLOWS.csv, --counts with --lane-map, or --routes ROUTES.rou.xml")
    b = begin if begin is not None else (scenario.begin_s if scenario else 0.0)
    e = end if end is not None else (scenario.end_s if scenario else b + 3600.0)
    routed = route_trips(net_file, [Path(r) for r in route_files], scenarios.cache_dir() / "routes")  # trips get paths
    return demand_from_routes(models, routed, b, e)


@app.command()
def optimize(
    out: Annotated[Path, typer.Option(
        help="folder for plan.add.xml (the recommended program), plan.json, timing.txt, time_space.png, "
             "plan.utdf.csv, volumes.utdf.csv and, with the check, check.json, check.png, candidate.add.xml, "
             "program.add.xml")] = Path("out/plan"),
    net: Annotated[Optional[Path], typer.Option(help="a SUMO .net.xml")] = None,
    sumocfg: Annotated[Optional[Path], typer.Option(help="a SUMO .sumocfg (net and routes)")] = None,
    scenario: Annotated[Optional[str], typer.Option(help="corridor[:demand=high,...] or a shared scenario name")] = None,
    demand: Annotated[Optional[Path], typer.Option(help="demand CSV: tls,movement,flow_veh_h[,std_veh_h]")] = None,
    tmc: Annotated[
        Optional[Path], typer.Option(help="turning-movement counts CSV: tls,movement,bin_start,count[,bin_s] (peak hour)")
    ] = None,
    utdf: Annotated[
        Optional[Path], typer.Option(help="Synchro UTDF file: its [Lanes] volumes as demand")
    ] = None,
    existing: Annotated[
        Optional[Path], typer.Option(help="the plan in the street, to check against instead of the network's "
                                          "program: a Synchro UTDF file or a plan.json")
    ] = None,
    nema_mapping: Annotated[
        Optional[list[Path]], typer.Option(help="a traffic light's NEMA mapping file (YAML/JSON: tls_id, rings, barriers, "
                                                "phases; as controller.ntcip's mapping), repeatable: the NEMA phase "
                                                "numbers of plan.utdf.csv and of an --existing UTDF file; default: "
                                                "NEMA's standard numbering (main street 2/6, lefts 1/5, side 4/8, 3/7)")
    ] = None,
    measured: Annotated[
        Optional[Path], typer.Option(help="what the cameras measured: the daemon's state.sqlite (or its folder) or a "
                                          "replay --intersection folder (demand.csv, discharge.csv): saturation flow "
                                          "per lane where measured (--saturation-flow elsewhere) and, unless another "
                                          "demand source is given, the demand per movement")
    ] = None,
    counts: Annotated[Optional[Path], typer.Option(help="vision counts CSV: bin_start,lane,class,count")] = None,
    lane_map: Annotated[Optional[Path], typer.Option(help="lane map CSV: lane,tls,movement[,share]")] = None,
    routes: Annotated[Optional[Path], typer.Option(help="SUMO route file to count demand from")] = None,
    begin: Annotated[
        Optional[float], typer.Option(min=0.0, max=864000.0, callback=finite,
                                      help="demand period start (s) for route files")
    ] = None,
    end: Annotated[
        Optional[float], typer.Option(callback=simulation_time, help="demand period end (s) for route files")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="corridor demand seed")] = 1,
    cycle_min: Annotated[float, typer.Option(min=10.0, max=600.0, callback=finite, help="shortest cycle (s)")] = 40.0,
    cycle_max: Annotated[float, typer.Option(min=10.0, max=600.0, callback=finite, help="longest cycle (s)")] = 120.0,
    max_saturation: Annotated[
        float, typer.Option(min=0.05, max=1.0, callback=finite, help="degree-of-saturation cap (0.05-1)")
    ] = 0.9,
    saturation_flow: Annotated[
        float, typer.Option(min=600.0, max=2600.0, callback=finite,
                            help="saturation flow, veh/h per lane (600-2600); a measured value (the vision "
                                 "estimator's discharge rate, a site survey) beats the 1800 default")
    ] = 1800.0,
    time_limit: Annotated[
        float, typer.Option(max=3600.0, callback=positive,
                            help="solver time limit (s, above 0); the best plan found is returned")
    ] = 5.0,
    check: Annotated[
        Optional[bool], typer.Option("--check/--no-check",
                                     help="simulate program and plan in SUMO and recommend the better "
                                          "(default: on with --sumocfg or --scenario)")
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, max=100, help="seeds of the SUMO check (paired)")] = 3,
    search: Annotated[
        bool, typer.Option("--search/--no-search",
                           help="with the check: choose among candidate plans in SUMO (program cycle, longer cycle...)")
    ] = True,
    workers: Annotated[
        Optional[int], typer.Option(min=1, max=256, help="parallel SUMO processes of the check (default: CPU count)")
    ] = None,
) -> None:
    """Optimize cycle, splits and offsets from demand; check the plan in SUMO; write the recommended program."""
    if check and net is not None and routes is None:
        raise ConfigError("--check needs a scenario to simulate: give --routes with --net, or --sumocfg or --scenario")
    if cycle_min > cycle_max:
        raise ConfigError(f"--cycle-min {cycle_min:g} must not exceed --cycle-max {cycle_max:g}")
    if begin is not None and end is not None and end <= begin:
        raise ConfigError(f"--end {end:g} must be after --begin {begin:g}")
    checking = check if check is not None else (net is None or routes is not None)
    if existing is not None and not checking:
        raise ConfigError("--existing is what the SUMO check compares against: give --sumocfg or --scenario, not --no-check")
    with OutputFolder(out, "--out", managed=PLAN_FILES + CHECK_FILES) as folder:
        from optimizer.webster import IntersectionBounds

        bounds = IntersectionBounds(cycle_min_s=cycle_min, cycle_max_s=cycle_max, max_saturation=max_saturation,
                                    saturation_flow_veh_h_lane=saturation_flow)
        _optimize(folder, net, sumocfg, scenario, demand, counts, lane_map, routes, begin, end, seed, bounds, time_limit,
                  CheckRequest(seeds, workers, existing, search) if checking else None, tmc, utdf, measured,
                  nema_mapping or [])
    console.print(f"written to {out}/")


@dataclass(frozen=True)
class CheckRequest:
    seeds: int
    workers: int | None
    existing: Path | None = None
    search: bool = True
    nema: dict = field(default_factory=dict)  # tls id -> RingStructure of the site's NEMA mapping


def _optimize(
    folder: OutputFolder, net: Path | None, sumocfg: Path | None, scenario: str | None, demand: Path | None,
    counts: Path | None, lane_map: Path | None, routes: Path | None, begin: float | None, end: float | None,
    seed: int, bounds: IntersectionBounds, time_limit: float,
    check: CheckRequest | None, tmc: Path | None = None, utdf: Path | None = None, measured: Path | None = None,
    nema_mapping: list[Path] | None = None,
) -> None:
    import dataclasses

    from optimizer.candidates import candidate_plans
    from optimizer.corridor import optimize_corridor
    from optimizer.corridor_network import find_links
    from optimizer.plan import validate
    from optimizer.spillback import spill_backs
    from optimizer.storage import lane_storage_veh
    from optimizer.sumo_export import write_additional
    from optimizer.time_space import plot_time_space
    from optimizer.timing_sheet import timing_sheet
    from sumo_scenarios.network import load_intersections

    net_file, resolved = _scenario(net, sumocfg, scenario, seed)
    if resolved is None and routes is not None:  # --net with --routes: enough to simulate
        from sumo_scenarios.scenario import Scenario

        b = begin if begin is not None else 0.0
        resolved = Scenario(net_file.stem.removesuffix(".net"), net_file, (routes,), b, end if end is not None else b + 3600.0)
    models = load_intersections(net_file)
    nema = _nema_site(nema_mapping or [], models)
    if check is not None:
        check = dataclasses.replace(check, nema=nema)
    if routes is not None:  # checked as a sumocfg's routes are: every edge in the net, before any work
        from sumo_scenarios.scenario_check import check_route_edges, net_edges

        check_route_edges(input_file(routes, "--routes", "a SUMO route file (.rou.xml)"), net_edges(net_file), net_file)
    # a bad file fails before the solver runs
    existing = (_existing_plan(check.existing, models, net_file, nema)
                if check is not None and check.existing is not None else None)
    explicit = any(x is not None for x in (demand, counts, routes, tmc, utdf))
    measured_demand = None
    if measured is not None:
        bounds, measured_demand = _measured(measured, models, bounds)
    if utdf is not None:
        if any(x is not None for x in (demand, counts, routes, tmc)):
            raise ConfigError("give only one demand source: --demand, --tmc, --utdf, --counts (with --lane-map) or --routes")
        estimate = _utdf_demand(utdf, models, net_file)
    elif measured_demand is not None and not explicit:
        estimate = measured_demand
        console.print(f"demand: the estimator's arrival rates per movement in {measured_demand.source}")
    else:
        estimate = _demand(models, net_file, resolved, demand, counts, lane_map, routes, begin, end, tmc)
    estimate.check(models)
    if demand is not None or counts is not None or tmc is not None or utdf is not None or estimate is measured_demand:
        models = {t: m for t, m in models.items() if t in estimate.flows_veh_h} or models
    links = find_links(net_file, models)
    bounds = dataclasses.replace(bounds, storage_veh=lane_storage_veh(net_file, models))  # queues must fit their lanes
    simulated = None
    if check is not None and resolved is not None:
        simulated = _check_scenario(resolved, routes, begin, end)
        plans = (candidate_plans(models, estimate, links, bounds, time_limit) if check.search
                 else {"analytical": optimize_corridor(models, estimate, links, time_limit_s=time_limit, bounds=bounds)})
        plan = _select(folder, plans, models, simulated, check) if len(plans) > 1 else plans["analytical"]
    else:
        plan = optimize_corridor(models, estimate, links, time_limit_s=time_limit, bounds=bounds)
    validate(plan, models, complete=True)  # the whole corridor: the plan a daemon or a controller gets
    folder.path("plan.json").write_text(plan.to_json(), encoding="utf-8")
    sheet = timing_sheet(plan)
    folder.path("timing.txt").write_text(sheet, encoding="utf-8")
    plot_time_space(plan, links, folder.path("time_space.png"))
    _write_utdf(folder, plan, models, net_file, estimate, nema, bounds.saturation_flow_veh_h_lane)
    print(sheet, end="")
    console.print(f"{plan.note}; model delay {plan.objective.get('delay_veh_h_per_h', 0):g} veh·h/h")
    for spill in spill_backs(plan, models, estimate, bounds):
        console.print(f"spill-back: {spill.describe()}")
    if check is None or simulated is None:
        write_additional(plan, models, folder.path("plan.add.xml"))
        console.print("not checked in SUMO (--no-check or no scenario): plan.add.xml is the unchecked plan")
    else:
        candidate = write_additional(plan, models, folder.path("candidate.add.xml"))
        _check(folder, candidate, list(plan.intersections), simulated, check, models, existing)
    folder.commit()


def _measured(path: Path, models: dict, bounds: IntersectionBounds) -> tuple[IntersectionBounds, DemandEstimate | None]:
    """``--measured``: the bounds with the measured saturation flows, and the measured demand (if any)."""
    import dataclasses
    import statistics

    from optimizer.demand_measured import read_measured

    if not path.exists():
        raise ConfigError(f"--measured {path}: not found")
    measured = read_measured(path, models)
    lanes = measured.lane_saturation_veh_h
    if lanes:
        console.print(f"saturation flow measured on {len(lanes)} lane(s) in {measured.source} (median "
                      f"{statistics.median(lanes.values()):.0f} veh/h/lane); {bounds.saturation_flow_veh_h_lane:g} "
                      "elsewhere")
    else:
        console.print(f"no saturation flow measured in {measured.source}: {bounds.saturation_flow_veh_h_lane:g} "
                      "veh/h/lane everywhere")
    return dataclasses.replace(bounds, lane_saturation_veh_h=dict(lanes)), measured.demand


def _utdf_demand(path: Path, models: dict, net_file: Path) -> DemandEstimate:
    """``--utdf``: the ``Volume`` records of a Synchro UTDF file's ``[Lanes]`` as demand."""
    from optimizer.utdf import demand_from_utdf, read_utdf_file
    from optimizer.utdf_export import approach_directions

    input_file(path, "--utdf", "a Synchro UTDF file")
    utdf = read_utdf_file(path, "--utdf")
    volumes, notes = demand_from_utdf(utdf, models, approach_directions(net_file, models))
    for note in notes:
        console.print(f"--utdf {path}: {note}")
    if volumes is None:
        raise ConfigError(f"--utdf {path}: no Volume records in its [Lanes] section; give the volumes another way")
    console.print(f"demand: the volumes of {len(volumes.flows_veh_h)} signalised node(s) in {path}")
    return volumes


def _nema_site(paths: list[Path], models: dict) -> dict:
    """``--nema-mapping``: the site's NEMA mapping files as ring structures, by traffic light."""
    from controllers.ntcip.nema import load_mapping
    from optimizer.nema_numbering import RingStructure

    out = {}
    for path in paths:
        mapping = load_mapping(path, models)
        out[mapping.tls_id] = RingStructure(mapping.stages, mapping.rings, mapping.barriers)
    return out


def _existing_plan(path: Path, models: dict, net_file: Path, nema: dict, quiet: bool = False) -> TimingPlan:
    """The plan in the street from a UTDF file or a plan.json, validated against the network
    (every light of it: ``models`` before the demand narrowed them)."""
    from optimizer.plan import TimingPlan, validate
    from optimizer.utdf import plan_from_utdf, read_utdf_file
    from optimizer.utdf_export import numberings, utdf_network
    from phasewise_errors import PlanError

    input_file(path, "--existing", "a plan.json or a Synchro UTDF file")
    try:
        if path.suffix == ".json":
            plan = TimingPlan.from_json(read_input_text(path, "--existing", "a plan.json or a Synchro UTDF file"))
        else:
            utdf = read_utdf_file(path, "--existing")
            network = utdf_network(net_file, models, list(models))
            plan, notes = plan_from_utdf(utdf, models, numberings(models, network, site=nema))
            for note in notes if not quiet else ():
                console.print(f"--existing {path}: {note}")
        validate(plan, models)
    except PlanError as exc:
        raise PlanError(f"--existing {path}: {exc}") from None
    return plan


def _write_utdf(folder: OutputFolder, plan: TimingPlan, models: dict, net_file: Path, demand: DemandEstimate,
                nema: dict, saturation_flow: float) -> None:
    """``plan.utdf.csv`` (Synchro's combined UTDF: plan, lanes and volumes) and ``volumes.utdf.csv``."""
    from optimizer.utdf_export import numberings, utdf_network, write_tmc_volumes, write_utdf

    network = utdf_network(net_file, models, list(plan.intersections))
    rings = numberings(models, network, plan, nema)  # a --nema-mapping that does not fit is the user's error
    try:
        text = write_utdf(plan, models, network, demand, rings, saturation_flow)
    except ConfigError as exc:  # a program UTDF cannot describe (e.g. a phase order its rings cannot run)
        console.print(f"plan.utdf.csv not written: {exc}")
    else:
        folder.path("plan.utdf.csv").write_text(text, encoding="utf-8", newline="")
    folder.path("volumes.utdf.csv").write_text(write_tmc_volumes(demand, models, network), encoding="utf-8", newline="")


def _check_scenario(resolved: Scenario, routes: Path | None, begin: float | None, end: float | None) -> Scenario:
    """What the check simulates: the scenario the demand came from (its routes, the period asked for)."""
    import dataclasses

    simulated = resolved.with_period(begin, end)
    return dataclasses.replace(simulated, route_files=(routes,)) if routes is not None else simulated


SELECTION_FIRST_SEED = 1001  # candidates are compared on seeds of their own, so the check's seeds stay unbiased


def _select(folder: OutputFolder, plans: dict[str, TimingPlan], models: dict, simulated: Scenario,
            request: CheckRequest) -> TimingPlan:
    """The candidate with the lowest mean delay in SUMO on the selection seeds."""
    from functools import partial

    import numpy as np

    from optimizer.plan import TimingPlan
    from optimizer.program_file import ProgramFileController
    from optimizer.sumo_export import write_additional
    from sumo_scenarios.runner import RunJob, run_many

    seeds = range(SELECTION_FIRST_SEED, SELECTION_FIRST_SEED + request.seeds)
    jobs = []
    for k, (label, plan) in enumerate(plans.items()):
        path = write_additional(plan, models, folder.path(f".candidate{k}.add.xml"))
        jobs += [RunJob(simulated, seed, partial(ProgramFileController, path), label=label) for seed in seeds]
    console.print(f"choosing among {len(plans)} candidate plans in SUMO ({request.seeds} seed(s) each)")
    results = run_many(jobs, request.workers)
    mean_delay = {label: float(np.mean([r.metrics.delay_s_per_vehicle for r in results if r.job_label == label]))
                  for label in plans}
    for k, label in enumerate(plans):
        folder.path(f".candidate{k}.add.xml").unlink()
        console.print(f"  {label:<14} cycle {plans[label].objective.get('cycle_s', 0):g} s: "
                      f"{mean_delay[label]:.1f} s/veh")
    best = min(mean_delay, key=mean_delay.__getitem__)
    plan = plans[best]
    return TimingPlan(plan.intersections, plan.created_by, f"{plan.note}; chosen in SUMO among {len(plans)}",
                      {**plan.objective, "selection_delay_s_per_vehicle": round(mean_delay[best], 2)})


def _check(folder: OutputFolder, candidate: Path, tls_ids: list[str], simulated: Scenario,
           request: CheckRequest, models: dict, existing: TimingPlan | None = None) -> None:
    """Simulate the existing program (or ``existing``, the plan in the street, on the lights
    optimized) and the candidate on the same seeds; write the recommended one."""
    import shutil
    import tempfile
    from functools import partial

    from controllers.hires.files import check_event_log
    from controllers.hires.measures import log_totals
    from controllers.hires.sumo_truth import EventLogObserver
    from optimizer.check import CheckMetrics, judge, plot_check
    from optimizer.program_file import ProgramFileController, existing_program_xml
    from sumo_scenarios.runner import RunJob, run_many

    seed_list = list(range(1, request.seeds + 1))
    program = folder.path("program.add.xml")
    if existing is not None:
        from optimizer.plan import TimingPlan
        from optimizer.sumo_export import write_additional

        optimized = TimingPlan({t: p for t, p in existing.intersections.items() if t in tls_ids}, existing.created_by)
        if not optimized.intersections:
            raise ConfigError(f"--existing {request.existing}: no timing for the lights optimized "
                              f"({', '.join(tls_ids)}); give the plan in the street for them")
        write_additional(optimized, models, program)
    else:
        program.write_text(existing_program_xml(simulated.net_file, simulated.additional_files, tls_ids), encoding="utf-8")
    logs = Path(tempfile.mkdtemp(prefix=".event-logs-", dir=folder.staging))
    runs = [(seed, label, path) for seed in seed_list for label, path in (("program", program), ("plan", candidate))]
    # each run logs its hi-res events (a passive observer: the runs are the same with or without)
    jobs = [RunJob(simulated, seed, partial(EventLogObserver, partial(ProgramFileController, path), logs / f"{label}{seed}"),
                   label=f"{label}/seed{seed}") for seed, label, path in runs]
    console.print(f"checking in SUMO: existing program and new plan, {len(seed_list)} seed(s), "
                  f"{simulated.end_s - simulated.begin_s:g} s each")
    results = run_many(jobs, request.workers)
    totals = [log_totals(*check_event_log(logs / f"{label}{seed}")) for seed, label, _ in runs]
    signal = [(t.arrivals_on_green, t.split_failures, t.phase_cycles) for t in totals]
    shutil.rmtree(logs)
    check = judge(simulated.name, seed_list, CheckMetrics.from_runs([r.metrics for r in results[0::2]], signal[0::2]),
                  CheckMetrics.from_runs([r.metrics for r in results[1::2]], signal[1::2]))
    folder.path("check.json").write_text(check.to_json(), encoding="utf-8")
    plot_check(check, folder.path("check.png"))
    shutil.copyfile(candidate if check.recommend_plan else program, folder.path("plan.add.xml"))
    print(check.report(), end="")
