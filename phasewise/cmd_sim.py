"""``phasewise sim`` and ``phasewise demo``: run controllers in SUMO and compare them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from phasewise import scenarios
from phasewise.app import app
from phasewise.input_files import input_file, read_input_text
from phasewise.options import simulation_time
from phasewise.outputs import OutputFolder, output_file, write_text_atomic
from phasewise_errors import ConfigError, SimulationError

if TYPE_CHECKING:  # SUMO and the controllers are imported when a simulation runs: a fast CLI start
    from sumo_scenarios.executor import Executor
    from sumo_scenarios.runner import ControllerFactory, RunJob, RunResult
    from sumo_scenarios.scenario import Scenario

console = Console(stderr=True)

# For the help text only: importing controllers.registry loads every controller (SciPy,
# OR-Tools; about 1 s), which no other command and no usage error needs. The registry stays
# the one list; tests/phasewise/test_cli_sim.py checks these names against it.
CONTROLLER_NAMES = ("static", "actuated", "maxpressure", "adaptive", "adaptive-coordinated", "adaptive-ntcip")


def simulate(
    sumocfg: Path | None,
    scenario: str | None,
    controller: str,
    seeds: int,
    end_s: float | None,
    workers: int | None = None,
    factory: ControllerFactory | None = None,
    first_seed: int = 1,
    executor: Executor | None = None,
    signal_measures: bool = False,
) -> dict:
    """Run one controller on one scenario over ``seeds`` seeds; the summary dict (see metrics).

    ``factory`` overrides the named controller's default construction (benchmarks use it to
    vary options); ``controller`` is then only the label. Seeds are ``first_seed`` ...
    ``first_seed + seeds - 1``. ``executor`` runs the simulations (default: a local pool of
    ``workers`` processes). ``signal_measures``: log each run's hi-res events (a passive
    observer) and add, per seed and as means, ``arrivals_on_green``, ``split_failures`` and
    ``phase_cycles`` by the ``atspm`` package (local runs only: the logs are files here).
    """
    import tempfile

    from controllers.registry import controller_factory
    from sumo_scenarios.metrics import summarize
    from sumo_scenarios.runner import RunJob

    if signal_measures and executor is not None:
        raise ConfigError("signal measures read each run's event log from files on this machine: "
                          "run the simulations locally (no executor)")
    seed_list = list(range(first_seed, first_seed + seeds))
    factory = factory or controller_factory(controller)
    per_seed = scenarios.resolve(sumocfg, scenario, seed_list, end_s)
    with tempfile.TemporaryDirectory(prefix="phasewise-event-logs-") as logs:
        factories = [factory] * len(seed_list)
        if signal_measures:
            from functools import partial

            from controllers.hires.sumo_truth import EventLogObserver

            factories = [partial(EventLogObserver, factory, Path(logs) / f"seed{seed}") for seed in seed_list]
        jobs = [RunJob(sc, seed, f, label=f"{sc.name}/{controller}/seed{seed}")
                for sc, seed, f in zip(per_seed, seed_list, factories)]
        results = _run_with_progress(jobs, workers, executor)
        signals = [_log_totals(Path(logs) / f"seed{seed}") for seed in seed_list] if signal_measures else []
    summary = summarize([r.metrics for r in results], seed_list)
    for entry, result in zip(summary["per_seed"], results):
        if result.extra:
            entry["controller_report"] = result.extra
    if signals:
        for entry, totals in zip(summary["per_seed"], signals):
            entry.update(totals)
        for key in ("arrivals_on_green", "split_failures", "phase_cycles"):
            summary[key] = round(sum(t[key] for t in signals) / len(signals), 4)
    summary = {
        "scenario": per_seed[0].name,
        "controller": controller,
        "begin_s": per_seed[0].begin_s,
        "end_s": per_seed[0].end_s,
        **summary,
        "wall_s_per_run": round(sum(r.wall_s for r in results) / len(results), 2),
    }
    return summary


def _log_totals(folder: Path) -> dict:
    from dataclasses import asdict

    from controllers.hires.files import check_event_log
    from controllers.hires.measures import log_totals

    return asdict(log_totals(*check_event_log(folder)))


def _run_with_progress(jobs: list[RunJob], workers: int | None, executor: Executor | None = None) -> list[RunResult]:
    from sumo_scenarios.runner import run_many

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"simulating {jobs[0].label.rsplit('/', 1)[0]}", total=len(jobs))
        return run_many(jobs, workers, on_done=lambda _r: progress.advance(task), executor=executor)


@app.command()
def sim(
    controller: Annotated[str, typer.Option(help=f"one of: {', '.join(CONTROLLER_NAMES)}")] = "static",
    sumocfg: Annotated[Optional[Path], typer.Option(help="a SUMO .sumocfg to simulate")] = None,
    scenario: Annotated[
        Optional[str], typer.Option(help="corridor[:demand=high,intersections=4,...] or a shared scenario name")
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, max=1000, help="number of seeds, run in parallel")] = 1,
    first_seed: Annotated[int, typer.Option("--first-seed", min=0, max=2**31 - 1000,
                                            help="the first seed: seeds N .. N + --seeds - 1")] = 1,
    end: Annotated[
        Optional[float], typer.Option(callback=simulation_time,
                                      help="simulation end time in s, up to 864000 (default: the scenario's)")
    ] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="write the metrics JSON here")] = None,
    workers: Annotated[
        Optional[int], typer.Option(min=1, max=256, help="parallel SUMO processes (default: CPU count)")
    ] = None,
    plan: Annotated[
        Optional[Path], typer.Option(help="run this fixed plan instead of --controller: plan.json or plan.add.xml")
    ] = None,
    executor: Annotated[
        str, typer.Option(help="where the simulations run: local (processes here) or ray (a Ray cluster)")
    ] = "local",
    ray_address: Annotated[
        Optional[str], typer.Option(envvar="PHASEWISE_RAY_ADDRESS", show_envvar=True,
                                    help="with --executor ray: auto (the cluster this machine joined) or HOST:PORT")
    ] = None,
    events: Annotated[
        Optional[Path], typer.Option(help="write the run's hi-res event log (Indiana enumerations) to this folder: "
                                          "events.csv, detectors.csv, devices.csv, phases.csv")
    ] = None,
) -> None:
    """Simulate a scenario with one controller and report delay, throughput and stops."""
    from sumo_scenarios.executor import make_executor

    if json_out is not None:
        output_file(json_out, "--json")
    if events is not None and (seeds > 1 or executor != "local"):
        raise ConfigError(f"--events {events}: logs one local run; use --seeds 1 (pick it with --first-seed) "
                          "and --executor local")
    factory = None
    if plan is not None:
        input_file(plan, "--plan", "a plan.json or plan.add.xml from phasewise optimize")
        factory = _plan_factory(plan, scenarios.resolve(sumocfg, scenario, [first_seed], end)[0])
    runner = None if executor == "local" else make_executor(executor, ray_address)
    label = f"plan:{plan.name}" if plan is not None else controller
    with EventFolder(events) as log_folder:
        if log_folder is not None:
            factory = log_folder.observe(factory or _named_factory(controller))
        try:
            summary = simulate(sumocfg, scenario, label, seeds, end, workers, factory=factory, executor=runner,
                               first_seed=first_seed)
        finally:
            if runner is not None:
                runner.close()
        if log_folder is not None:
            log_folder.commit()
    print_table([summary])
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(summary, indent=2), "--json")
        console.print(f"metrics written to {json_out}")
    if events is not None:
        console.print(f"event log written to {events}/ (phasewise measures {events} --out OUT)")


def _named_factory(controller: str) -> ControllerFactory:
    from controllers.registry import controller_factory

    return controller_factory(controller)


class EventFolder:
    """``--events DIR``: the run's event log, staged and moved into ``DIR`` when the run succeeds."""

    def __init__(self, out: Path | None) -> None:
        from controllers.hires.files import DETECTORS, DEVICES, EVENTS, PHASES

        self.folder = OutputFolder(out, "--events", managed=[EVENTS, DETECTORS, DEVICES, PHASES]) if out else None

    def observe(self, factory: ControllerFactory) -> ControllerFactory:
        from functools import partial

        from controllers.hires.sumo_truth import EventLogObserver

        assert self.folder is not None
        return partial(EventLogObserver, factory, self.folder.staging)

    def commit(self) -> None:
        assert self.folder is not None
        if not (self.folder.staging / "events.csv").is_file():
            raise SimulationError("the simulation ended without writing its event log")
        self.folder.commit()

    def __enter__(self) -> EventFolder | None:
        return self if self.folder is not None else None

    def __exit__(self, *exc: object) -> None:
        if self.folder is not None:
            self.folder.__exit__(None, None, None)


def _plan_factory(path: Path, scenario: Scenario) -> ControllerFactory:
    """A fixed plan as a controller: a ``TimingPlan`` JSON or a SUMO additional file of programs,
    checked against the scenario's network before any simulation starts."""
    from functools import partial

    from phasewise_errors import PlanError, ScenarioError

    what = "a plan.json or plan.add.xml from phasewise optimize"
    if path.suffix == ".json":
        from controllers.fixed_plan import FixedPlanController
        from optimizer.plan import TimingPlan, validate
        from sumo_scenarios.network import load_intersections

        text = read_input_text(path, "--plan", what)
        models = load_intersections(scenario.net_file, program_files=scenario.additional_files)
        try:
            timing = TimingPlan.from_json(text)
            validate(timing, models)
        except PlanError as exc:
            raise PlanError(f"--plan {path}: {exc}") from None
        return partial(FixedPlanController, timing)
    from optimizer.program_file import ProgramFileController, check_program_file

    read_input_text(path, "--plan", what)  # there, a file, text
    try:
        check_program_file(path, scenario.net_file, scenario.additional_files)
    except (PlanError, ScenarioError) as exc:
        message = str(exc)
        raise type(exc)(message if message.startswith(str(path)) else f"--plan {path}: {message}") from None
    return partial(ProgramFileController, path)


def print_table(summaries: list[dict], title: str = "") -> None:
    table = Table(title=title or None)
    for col in ("scenario", "controller", "delay s/veh", "throughput veh", "stops/veh", "CO2 g/veh", "fuel ml/veh",
                "unfinished", "never inserted", "seeds"):
        table.add_column(col, justify="left" if col in ("scenario", "controller") else "right")
    for s in summaries:
        table.add_row(
            s["scenario"],
            s["controller"],
            f"{s['delay_s_per_vehicle']:.1f} ± {s['delay_s_per_vehicle_std']:.1f}",
            f"{s['throughput_veh']:.0f}",
            f"{s['stops_per_vehicle']:.2f}",
            "-" if s.get("co2_g_per_vehicle") is None else f"{s['co2_g_per_vehicle']:.0f}",
            "-" if s.get("fuel_ml_per_vehicle") is None else f"{s['fuel_ml_per_vehicle']:.0f}",
            f"{s['unfinished']:.0f}",
            f"{s['never_inserted']:.0f}",
            str(len(s["seeds"])),
        )
    console_ = Console(width=max(Console().width, 150))
    console_.print(table)
    if any(set(s.get("by_vclass", {})) - {"passenger"} for s in summaries):
        by_class = Table(title="by vehicle class (pedestrians: per person)")
        waits = any("longest_wait_s" in m for s in summaries for m in s.get("by_vclass", {}).values())
        for col in ("scenario", "controller", "class", "delay s/veh", "count", "stops/veh",
                    *(("longest wait s",) if waits else ())):
            by_class.add_column(col, justify="left" if col in ("scenario", "controller", "class") else "right")
        for s in summaries:
            for name, m in s.get("by_vclass", {}).items():
                wait = (f"{m['longest_wait_s']:.0f}" if "longest_wait_s" in m else "",) if waits else ()
                by_class.add_row(s["scenario"], s["controller"], name, f"{m['delay_s_per_vehicle']:.1f}",
                                 f"{m['vehicles']:.0f}", f"{m['stops_per_vehicle']:.2f}", *wait)
        console_.print(by_class)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for the JSON results and the plot")] = Path("out/demo"),
    demand: Annotated[str, typer.Option(help="corridor demand: low, medium, high or peak")] = "peak",
    seeds: Annotated[int, typer.Option(min=1, max=1000)] = 2,
) -> None:
    """Run every controller on the built-in corridor; print a comparison table and plot it."""
    from controllers.registry import CONTROLLERS

    managed = [f"{name}.json" for name in CONTROLLERS] + ["comparison.png"]
    with OutputFolder(out, "--out", managed=managed) as folder:
        summaries = []
        for name in CONTROLLERS:
            summary = simulate(None, f"corridor:demand={demand}", name, seeds, None)
            folder.path(f"{name}.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
            summaries.append(summary)
        print_table(summaries, title=f"Built-in 4-intersection corridor, {demand} demand, "
                           f"{seeds} seed{'s' if seeds > 1 else ''}")
        plot_comparison(summaries, folder.path("comparison.png"))
        folder.commit()
    console.print(f"results in {out}/, plot {out / 'comparison.png'}")


def plot_comparison(summaries: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s["controller"] for s in summaries]
    # Horizontal bars: controller names as long as "adaptive-coordinated" stay readable.
    fig, axes = plt.subplots(1, 3, figsize=(12, 1.4 + 0.45 * len(names)), sharey=True)
    for ax, key, label in zip(
        axes,
        ("delay_s_per_vehicle", "throughput_veh", "stops_per_vehicle"),
        ("average delay (s/veh)", "throughput (veh)", "stops per vehicle"),
    ):
        values = [s[key] for s in summaries]
        errors = [s["delay_s_per_vehicle_std"] for s in summaries] if key == "delay_s_per_vehicle" else None
        colors = ["#888", "#4a90d9", "#e8a33d", "#3bb273", "#c94c4c"]
        ax.barh(names, values, xerr=errors, color=[colors[i % len(colors)] for i in range(len(names))])
        ax.set_title(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].invert_yaxis()  # first controller on top, in table order
    seeds = len(summaries[0]["seeds"])
    fig.suptitle(f"{summaries[0]['scenario']}: controllers compared "
                 f"({f'mean of {seeds} seeds' if seeds > 1 else 'one seed'})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
