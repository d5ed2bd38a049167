"""The one SUMO runner: a scenario, a seed and a controller in; metrics out.

SUMO runs in-process through ``libsumo`` (fast, one simulation per process) or, if
``libsumo`` cannot be imported or ``PHASEWISE_SUMO_BACKEND=traci`` is set, through TraCI.
The simulation advances in 1 s steps; each step the controller observes and acts::

    controller.start(sim)            # once, after SUMO has loaded
    while time < end:
        controller.step(sim)         # observe -> act
        sim.advance()                # one simulation second

Several seeds run in parallel worker processes (``run_many``), on this machine or on a Ray
cluster (:mod:`sumo_scenarios.executor`). Controllers are passed as picklable zero-argument
factories so each worker builds its own.

Reproducibility: ``libsumo`` keeps some state from one simulation to the next in the same
process, so a second run of the same scenario and seed can give (slightly) different results
depending on what ran before it (measured: cologne1, max-pressure, seed 6 gives 21.78 s/veh
alone or after seed 5, and 21.54 after seeds 2 and 4). ``run_many`` therefore runs every
simulation in a fresh worker process; the result of a job depends only on the job.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Protocol

from optimizer.intersection import IntersectionModel
from phasewise_errors import ScenarioError, SimulationError
from sumo_scenarios.metrics import IntersectionProbe, RunMetrics, read_run_metrics
from sumo_scenarios.executor import Executor, LocalExecutor
from sumo_scenarios.network import load_intersections
from sumo_scenarios.scenario import Scenario

log = logging.getLogger(__name__)

_libsumo_runs = 0  # simulations this process has run through libsumo (see the module docstring)


def sumo_binary(name: str = "sumo") -> str:
    """Path of a SUMO executable (``sumo``, ``netconvert``...) from the eclipse-sumo wheel."""
    try:
        from sumo import SUMO_HOME

        candidate = Path(SUMO_HOME) / "bin" / name
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise SimulationError(f"SUMO executable '{name}' not found: install eclipse-sumo")
    return found


def sumo_errors(conn: ModuleType) -> tuple[type[BaseException], ...]:
    """The exception types by which ``conn`` (``libsumo`` or ``traci``) reports a SUMO failure.

    Only these become a :class:`SimulationError`; anything else raised while a simulation runs
    is a bug in the caller (a controller) and propagates as itself.
    """
    errors: list[type[BaseException]] = []
    for holder in (conn, getattr(conn, "exceptions", None)):
        for name in ("TraCIException", "FatalTraCIError"):
            kind = getattr(holder, name, None)
            if isinstance(kind, type) and issubclass(kind, BaseException):
                errors.append(kind)
    return tuple(dict.fromkeys(errors))


def sumo_module() -> ModuleType:
    """``libsumo`` unless unavailable or ``PHASEWISE_SUMO_BACKEND=traci``."""
    if os.environ.get("PHASEWISE_SUMO_BACKEND", "libsumo") != "traci":
        try:
            import libsumo

            return libsumo
        except ImportError:
            log.warning("libsumo unavailable, falling back to TraCI")
    import traci

    return traci


@dataclass
class Simulation:
    """A running SUMO simulation as controllers see it.

    ``conn`` is the ``libsumo``/``traci`` module (``conn.lane.getLastStepHaltingNumber`` ...);
    ``intersections`` the model of every traffic light, keyed by tls id.
    """

    conn: ModuleType
    scenario: Scenario
    seed: int
    intersections: dict[str, IntersectionModel]
    end_s: float

    @property
    def time_s(self) -> float:
        return float(self.conn.simulation.getTime())

    def advance(self) -> None:
        self.conn.simulationStep()


class Controller(Protocol):
    """A signal controller plug-in. ``step`` is called once per simulated second."""

    name: str

    def additional_files(self, scenario: Scenario, workdir: Path) -> list[Path]:
        """Extra SUMO ``additional`` files to load (e.g. actuated programs); may be empty."""
        ...

    def start(self, sim: Simulation) -> None: ...

    def step(self, sim: Simulation) -> None: ...

    # optional: ``report() -> dict`` (stored with the run's results), then ``close()``


ControllerFactory = Callable[[], Controller]


@dataclass(frozen=True)
class RunJob:
    """One simulation to run: scenario, seed, controller factory, optional extra SUMO args.

    ``emissions``: equip every vehicle with SUMO's emission device (CO2 and fuel in the
    metrics); it does not change the traffic, and the gate's twins, which only compare
    delays, leave it off to save its cost."""

    scenario: Scenario
    seed: int
    controller: ControllerFactory
    sumo_args: tuple[str, ...] = ()
    label: str = ""
    emissions: bool = True


@dataclass
class RunResult:
    job_label: str
    seed: int
    metrics: RunMetrics
    wall_s: float
    extra: dict = field(default_factory=dict)


def run(job: RunJob, progress: Callable[[float], None] | None = None) -> RunResult:
    """Run one simulation to its end and return its metrics.

    ``progress`` (optional) receives the fraction of the period simulated so far.
    Raises ``ScenarioError`` when SUMO refuses the scenario's files and ``SimulationError``
    when SUMO fails while running (both chained to SUMO's own exception); any
    other exception raised by the controller propagates unchanged.
    """
    import time

    scenario = job.scenario
    controller = job.controller()
    intersections = load_intersections(scenario.net_file, program_files=scenario.additional_files)
    conn = sumo_module()
    if conn.__name__ == "libsumo":
        global _libsumo_runs
        _libsumo_runs += 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="phasewise-run-") as tmp:
        workdir = Path(tmp)
        tripinfo = workdir / "tripinfo.xml"
        additional = [*scenario.additional_files, *controller.additional_files(scenario, workdir)]
        cmd = [
            sumo_binary("sumo"),
            "-n", str(scenario.net_file),
            "-r", ",".join(str(p) for p in scenario.route_files),
            "--begin", f"{scenario.begin_s:g}",
            "--end", f"{scenario.end_s:g}",
            "--step-length", "1",
            "--seed", str(job.seed),
            "--tripinfo-output", str(tripinfo),
            "--tripinfo-output.write-unfinished", "true",
            "--no-step-log", "true",
            "--no-warnings", "true",
            "--duration-log.disable", "true",
            *scenario.sumo_options,
            *job.sumo_args,
        ]
        if job.emissions:
            cmd += ["--device.emissions.probability", "1", "--emissions.volumetric-fuel", "true"]
        if additional:
            cmd += ["-a", ",".join(str(p) for p in additional)]
        sumo_failed = sumo_errors(conn)
        refused: BaseException | None = None
        with _console_of(conn) as console:
            try:
                conn.start(cmd)
            except sumo_failed as exc:
                refused = exc
        if refused is not None:
            # SUMO checks the files only now (unknown edges in routes, bad options): that is
            # bad input, not a failure of the simulation
            files = [*additional, *scenario.route_files, scenario.net_file]
            raise ScenarioError(load_error(scenario.name, console, files, str(refused))) from refused
        phase = "start of the controller"
        try:
            sim = Simulation(conn, scenario, job.seed, intersections, scenario.end_s)
            probe = IntersectionProbe(conn, intersections)
            controller.start(sim)
            phase = "the simulation"
            period = scenario.end_s - scenario.begin_s
            next_report = 0.0
            while sim.time_s < scenario.end_s:
                controller.step(sim)
                conn.simulationStep()
                probe.sample()
                if progress is not None:
                    done = (sim.time_s - scenario.begin_s) / period
                    if done >= next_report:
                        progress(min(done, 1.0))
                        next_report = done + 0.02
            extra = getattr(controller, "report", lambda: {})()
        except sumo_failed as exc:
            # SUMO (or TraCI) refused or failed; a controller's own bug is not caught here and
            # propagates as itself with its traceback, for the CLI to report as an internal error
            where = f"{phase}, t={_time_or_unknown(conn)}"
            raise SimulationError(
                f"SUMO failed during {scenario.name} (seed {job.seed}, controller "
                f"{getattr(controller, 'name', type(controller).__name__)}, {where}): {exc}"
            ) from exc
        finally:
            try:
                conn.close()
            except Exception:  # already closed by a failure; the original error matters
                pass
            getattr(controller, "close", lambda: None)()  # optional: release the controller's resources
        metrics = read_run_metrics(tripinfo, scenario, probe.summary(), probe.longest_person_wait_s)
    return RunResult(job.label, job.seed, metrics, time.perf_counter() - started, extra)


@contextmanager
def _console_of(conn: ModuleType) -> Iterator[list[str]]:
    """The lines SUMO prints on the console (file descriptor 2) while the block runs, for
    libsumo, which prints its load errors there: captured (in the list, filled when the block
    ends) so that the one-line error can name them; given back to the console when they hold
    no error. TraCI's SUMO is a process of its own and is left alone."""
    lines: list[str] = []
    if conn.__name__ != "libsumo":
        yield lines
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read()
            lines.extend(text.decode("utf-8", "replace").splitlines())
            if text and not any(line.startswith("Error") for line in lines):
                os.write(2, text)  # not a refusal: what SUMO said belongs on the console


def load_error(name: str, console: Sequence[str], files: Sequence[Path], fallback: str) -> str:
    """SUMO's first console error while loading ``name``, with the file it is about.

    SUMO names the element (``tls 'J0', program 'phasewise'``, ``route 'r1'``) but not the
    file: the file blamed is the first of ``files`` that holds every quoted name; without a
    name every file loaded is listed.
    """
    errors = [line.removeprefix("Error: ").strip() for line in console if line.startswith("Error")]
    message = " ".join((errors[0] if errors else fallback).split())
    names = re.findall(r"'([^']+)'", message)
    blamed = None
    for file in files if names else ():
        try:
            text = Path(file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if all(n in text for n in names):
            blamed = file
            break
    if blamed is None:  # say what was loaded, so the file is among few
        return (f"SUMO could not load {name} ({', '.join(str(f) for f in files)}): {message}"
                + (" (and more)" if len(errors) > 1 else ""))
    return f"SUMO could not load {name}: {blamed}: {message}" + (" (and more)" if len(errors) > 1 else "")


def _time_or_unknown(conn: ModuleType) -> str:
    try:
        return f"{float(conn.simulation.getTime()):g} s"
    except Exception:  # the connection may be gone after a fatal error
        return "unknown"


def run_many(
    jobs: Sequence[RunJob],
    workers: int | None = None,
    on_done: Callable[[RunResult], None] | None = None,
    executor: Executor | None = None,
) -> list[RunResult]:
    """Run jobs in parallel, one fresh SUMO process each; results in job order.

    ``executor`` says where (see :mod:`sumo_scenarios.executor`): by default a local pool of
    ``workers`` fresh processes, closed on return, in which case a single job in a process
    that has not run libsumo yet runs in-process. A given executor is used and left open.
    """
    own = executor is None
    if own:
        if len(jobs) == 1 and _libsumo_runs == 0:
            result = run(jobs[0])
            if on_done:
                on_done(result)
            return [result]
        executor = LocalExecutor(max(1, min(workers or os.cpu_count() or 1, len(jobs))))
    assert executor is not None
    results_by_index: dict[int, RunResult] = {}
    # Ctrl-C is the parent's to handle: local workers ignore SIGINT and leave the terminal's
    # process group (so do the processes they start); an interrupted parent stops them.
    futures = {executor.submit(run, job): i for i, job in enumerate(jobs)}
    try:
        for future in as_completed(futures):
            try:
                result = future.result()
            except BrokenProcessPool:
                raise SimulationError("a SUMO worker process died (out of memory or a SUMO crash)") from None
            results_by_index[futures[future]] = result
            if on_done:
                on_done(result)
    except BaseException:
        executor.stop()
        raise
    finally:
        if own:
            executor.close()
    return [results_by_index[i] for i in range(len(jobs))]
